// virtio-net's transmit path: each chain's readable buffers are one frame, header first, handed to the backend
// with one writev. When the backend would block, the chain waits (the device polls for writable) and nothing
// behind it is taken from the queue. The frame's offload header is the host kernel's to check (a tap validates it
// as it does for any process writing to one); what the VMM checks is the chain's shape. With a rate limiter, the
// limiter is asked before a frame is taken from the queue and charged once it went out.
import { constants } from 'node:os';
import { native } from '../../base/native';
import type { DeviceContext } from '../../virtio-mmio/device';
import type { DescriptorChain, Virtqueue } from '../../virtio-mmio/queue';
import type { Throttle } from '../throttle';
import type { NetStats } from './stats';
import { HDR_BYTES, IOV_MAX, MAX_GSO_FRAME } from './virtio-net';

const EAGAIN = constants.errno.EAGAIN;
/** Frames per turn of the event loop, so a guest that keeps sending cannot starve the rest of the VMM. */
const BUDGET = 256;

/** `throttled`: the rate limiter holds the next frame back (its timer resumes the device). */
export type TxOutcome = 'idle' | 'blocked' | 'budget' | 'throttled';

export class NetTx {
  private blocked: DescriptorChain | undefined;
  /** The last errno (negative) a frame was dropped for. */
  lastError = 0;

  constructor(private readonly fd: number, private readonly q: Virtqueue, private readonly stats: NetStats,
    private readonly throttle: Throttle) {}

  /** The head of the frame waiting for room in the backend, for a snapshot. */
  blockedHead(): number | undefined { return this.blocked?.head; }

  /** Takes a frame a snapshot's device was holding (walked again by head): it goes first. */
  adopt(chain: DescriptorChain): void { this.blocked = chain; }

  /**
   * Sends frames until the queue is empty, the backend would block, the rate limiter says wait or the budget is
   * spent. Throws QueueError.
   */
  pump(ctx: DeviceContext): TxOutcome {
    let returned = false;
    try {
      for (let i = 0; i < BUDGET; i++) {
        // A frame that waited for room was admitted when it was taken.
        const chain = this.blocked ?? this.next();
        this.blocked = undefined;
        if (typeof chain === 'string') return chain;
        if (!this.send(chain)) {
          this.blocked = chain;
          return 'blocked';
        }
        this.q.pushUsed(chain.head, 0);
        returned = true;
      }
      return 'budget';
    } finally {
      if (returned) ctx.notifyUsed(this.q);
    }
  }

  /** The next frame's chain, when there is one and the rate limiter lets it go. */
  private next(): DescriptorChain | 'idle' | 'throttled' {
    if (this.throttle.limited) {
      if (!this.q.hasAvailable()) return 'idle';
      if (!this.throttle.admit()) return 'throttled';
    }
    return this.q.pop() ?? 'idle';
  }

  /** False when the backend would block; a frame that cannot be sent is counted and its chain returned. */
  private send(chain: DescriptorChain): boolean {
    const bytes = chain.readableBytes;
    if (chain.writable.length > 0 || bytes < HDR_BYTES || bytes > HDR_BYTES + MAX_GSO_FRAME
      || chain.readable.length > IOV_MAX) {
      this.stats.errors++;
      this.throttle.charge(0);
      return true;
    }
    const n = native().tryWritev(this.fd, chain.readable);
    if (n === -EAGAIN) return false;
    // A tap takes a frame whole or not at all; a count short of the frame means the backend cut it (an fd without
    // frame boundaries), so the guest's frame did not go out and must not be counted as sent.
    if (n !== bytes) {
      this.stats.txDropped++;
      if (n < 0) this.lastError = n;
    } else {
      this.stats.txFrames++;
      this.stats.txBytes += bytes - HDR_BYTES;
    }
    // The frame as it goes on the wire, without the virtio-net header; one the backend refused costs an op only.
    this.throttle.charge(n === bytes ? bytes - HDR_BYTES : 0);
    return true;
  }
}
