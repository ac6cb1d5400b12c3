// virtio-net's receive path: frames go from the backend straight into the guest's receive buffers with one readv
// per frame. Chains popped from the queue wait in a stash until a frame fills them. With MRG_RXBUF the stash
// gathers enough chains for the largest frame the guest accepts and a frame takes as many as it needs (num_buffers
// in its header says how many); without it each chain holds one whole frame. With a rate limiter, the limiter is
// asked before a frame is read from the backend (a frame not read waits in the host's queue, not here) and charged
// for what the guest got.
import { constants } from 'node:os';
import { native } from '../../base/native';
import type { DeviceContext } from '../../virtio-mmio/device';
import type { DescriptorChain, Virtqueue } from '../../virtio-mmio/queue';
import type { Throttle } from '../throttle';
import type { NetStats } from './stats';
import {
  GSO, has, HDR, HDR_BYTES, HDR_F, headerByte, IOV_MAX, MAX_GSO_FRAME, MAX_PLAIN_FRAME, NET_F, setHeaderByte,
} from './virtio-net';

const EAGAIN = constants.errno.EAGAIN;
/** Frames per turn of the event loop, so a flood from the host cannot starve the rest of the VMM. */
const BUDGET = 128;
/** Guest buffers per readv: IOV_MAX less the guard byte. */
const MAX_SEGMENTS = IOV_MAX - 1;

/** `throttled`: the rate limiter would hold the next frame back, were there one. */
export type RxOutcome = 'no-buffers' | 'no-frames' | 'budget' | 'backend-failed' | 'throttled';

export class NetRx {
  private readonly stash: DescriptorChain[] = [];
  private stashBytes = 0;
  /**
   * One host byte after the guest's buffers: a frame that reaches it did not fit (a tap returns only the bytes it
   * copied, so without it a cut-off frame looks like one that fitted exactly).
   */
  private readonly guard = new Uint8Array(1);
  private readonly mergeable: boolean;
  /** With MRG_RXBUF: gather chains until they hold this much. */
  private readonly wanted: number;
  private readonly csum: boolean;
  private readonly ecn: boolean;
  private readonly gsoTypes: ReadonlySet<number>;
  private returned = false;
  /** The errno (negative) or 0 (end of file) that made the backend unusable. */
  lastError = 0;

  constructor(private readonly fd: number, private readonly q: Virtqueue, features: bigint,
    private readonly stats: NetStats, private readonly throttle: Throttle) {
    this.mergeable = has(features, NET_F.MRG_RXBUF);
    this.csum = has(features, NET_F.GUEST_CSUM);
    this.ecn = has(features, NET_F.GUEST_ECN);
    const gso = new Set<number>([GSO.NONE]);
    if (has(features, NET_F.GUEST_TSO4)) gso.add(GSO.TCPV4);
    if (has(features, NET_F.GUEST_TSO6)) gso.add(GSO.TCPV6);
    if (has(features, NET_F.GUEST_UFO)) gso.add(GSO.UDP);
    this.gsoTypes = gso;
    this.wanted = HDR_BYTES + (gso.size > 1 ? MAX_GSO_FRAME : MAX_PLAIN_FRAME);
  }

  /**
   * Moves frames until the guest or the backend runs dry, the rate limiter says wait or the budget is spent.
   * Throws QueueError.
   */
  pump(ctx: DeviceContext): RxOutcome {
    this.returned = false;
    try {
      for (let i = 0; i < BUDGET; i++) {
        if (!this.fill()) return 'no-buffers';
        // Whether a frame is waiting is not known here: the device decides whether to wait (see NetDevice.pumpRx).
        if (!this.throttle.ready()) return 'throttled';
        const { iov, bytes } = this.segments();
        const n = native().tryReadv(this.fd, iov);
        if (n === -EAGAIN) return 'no-frames';
        if (n <= 0) {
          this.stats.backendErrors++;
          this.lastError = n;
          return 'backend-failed';
        }
        // The chains stay in the stash for the next frame when this one is dropped.
        if (n > bytes || n < HDR_BYTES || !this.acceptHeader(iov)) {
          this.stats.rxDropped++;
          this.throttle.charge(0);
        } else {
          this.deliver(n);
          this.throttle.charge(n - HDR_BYTES);
        }
      }
      return 'budget';
    } finally {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- deliver() sets it, unseen by narrowing
      if (this.returned) ctx.notifyUsed(this.q);
    }
  }

  /** The heads of the chains in the stash, in order: a snapshot keeps them, and a restored device adopts them. */
  stashHeads(): number[] { return this.stash.map((c) => c.head); }

  /** Takes chains a snapshot's device held (walked again by head) into the stash, in their order. */
  adopt(chains: readonly DescriptorChain[]): void {
    for (const c of chains) {
      this.stash.push(c);
      this.stashBytes += c.writableBytes;
    }
  }

  /** Pops chains into the stash; false when there is none to read into. */
  private fill(): boolean {
    while (this.mergeable ? this.stashBytes < this.wanted : this.stash.length === 0) {
      const chain = this.q.pop();
      if (chain === null) break;
      if (chain.readable.length > 0 || chain.writableBytes < HDR_BYTES || chain.writable.length > MAX_SEGMENTS) {
        // A receive buffer must be writable and hold at least the header (and fit one readv): the guest loses it.
        this.stats.errors++;
        this.q.pushUsed(chain.head, 0);
        this.returned = true;
        continue;
      }
      this.stash.push(chain);
      this.stashBytes += chain.writableBytes;
    }
    return this.stash.length > 0;
  }

  /** The stash's buffers as one iovec (bounded by IOV_MAX), then the guard byte. */
  private segments(): { iov: Uint8Array[]; bytes: number } {
    const iov: Uint8Array[] = [];
    let bytes = 0;
    for (const chain of this.stash) {
      if (iov.length + chain.writable.length > MAX_SEGMENTS) break;
      for (const b of chain.writable) iov.push(b);
      bytes += chain.writableBytes;
    }
    iov.push(this.guard);
    return { iov, bytes };
  }

  /** Whether the guest can take the frame the backend described: offloads it did not accept are dropped. */
  private acceptHeader(iov: Uint8Array[]): boolean {
    const flags = headerByte(iov, HDR.FLAGS);
    const gso = headerByte(iov, HDR.GSO_TYPE);
    if (!this.gsoTypes.has(gso & ~GSO.ECN) || ((gso & GSO.ECN) !== 0 && !this.ecn)) return false;
    if (!this.csum && flags !== 0) {
      if (flags & HDR_F.NEEDS_CSUM) return false;
      setHeaderByte(iov, HDR.FLAGS, 0); // DATA_VALID alone: the spec wants 0 without GUEST_CSUM
    }
    return true;
  }

  /** Returns the chains holding an `n`-byte frame (header included) to the guest. */
  private deliver(n: number): void {
    let count = 1;
    if (this.mergeable) {
      for (let left = n - this.stash[0]!.writableBytes; left > 0; left -= this.stash[count - 1]!.writableBytes) count++;
    }
    const first = this.stash[0]!.writable;
    setHeaderByte(first, HDR.NUM_BUFFERS, count & 0xff);
    setHeaderByte(first, HDR.NUM_BUFFERS + 1, count >> 8);
    let left = n;
    for (const chain of this.stash.splice(0, count)) {
      const len = Math.min(chain.writableBytes, left);
      this.q.pushUsed(chain.head, len);
      this.stashBytes -= chain.writableBytes;
      left -= len;
    }
    this.returned = true;
    this.stats.rxFrames++;
    this.stats.rxBytes += n - HDR_BYTES;
  }
}
