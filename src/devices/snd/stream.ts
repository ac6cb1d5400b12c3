// One PCM stream: its lifecycle state, its parameters, the transfers it holds, and when the first of them is due.
// A started stream plays (or captures) its transfers back to back from an anchor time at its rate, so the n-th
// frame since the anchor is due n / rate seconds after it; a stream that ran dry re-anchors when the next transfer
// comes, and that is an underrun (playback) or overrun (capture) when it had moved frames since the last anchor.
import type { DescriptorChain } from '../../virtio-mmio/queue';
import { frameBytes, rateHz, type PcmParams, type StreamCaps } from './formats';
import type { Direction } from './protocol';
import type { StreamState } from './states';

export interface Transfer {
  chain: DescriptorChain;
  /** The frames: the guest's readable buffers for playback, its writable ones for capture. */
  frames: Uint8Array[];
  bytes: number;
}

export class PcmStream {
  state: StreamState = 'initial';
  params: PcmParams | undefined;
  readonly pending: Transfer[] = [];
  private anchorMs = 0;
  private framesSinceAnchor = 0;

  constructor(readonly id: number, readonly direction: Direction, readonly caps: StreamCaps) {}

  /** The bytes held after the first `skip` transfers: the latency a completion reports. */
  heldBytes(skip = 0): number {
    let n = 0;
    for (let i = skip; i < this.pending.length; i++) n += this.pending[i]!.bytes;
    return n;
  }

  /** The stream starts (again): its frames are timed from `now`. */
  start(now: number): void {
    this.anchorMs = now;
    this.framesSinceAnchor = 0;
  }

  /**
   * A transfer was added to a started stream that held none: if its time has passed, frames are timed from `now`
   * again. True when that is an underrun or overrun (frames had moved since the last anchor).
   */
  catchUp(now: number): boolean {
    const expected = this.anchorMs + (this.framesSinceAnchor * 1000) / rateHz(this.params!);
    if (now <= expected) return false;
    const ranDry = this.framesSinceAnchor > 0;
    this.start(now);
    return ranDry;
  }

  /** When the first held transfer's frames have all played (or been captured); undefined unless started. */
  headDue(): number | undefined {
    const head = this.pending[0];
    if (this.state !== 'started' || head === undefined) return undefined;
    const frames = this.framesSinceAnchor + head.bytes / frameBytes(this.params!);
    return this.anchorMs + (frames * 1000) / rateHz(this.params!);
  }

  /** Takes the first held transfer as done on time. */
  takeHead(): Transfer {
    const t = this.pending.shift()!;
    this.framesSinceAnchor += t.bytes / frameBytes(this.params!);
    return t;
  }

  /** Back to no parameters and nothing held (a device reset); the caller has dropped the transfers. */
  clear(): void {
    this.state = 'initial';
    this.params = undefined;
    this.pending.length = 0;
    this.start(0);
  }
}
