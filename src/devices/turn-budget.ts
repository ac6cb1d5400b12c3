// Every device of every machine in the process shares the main thread's event loop, so the work one notify can
// make there is bounded: a device serves chains while its slice of the turn lasts, then goes on from a later turn
// (setImmediate), and each chain's own cost is capped by the device. A guest that keeps the ring full (a vCPU
// refilling it as fast as the device empties it) gets the device's slices one after another, never the loop.
import { fromEventLoop, type DeviceHost } from '../virtio-mmio/device';

/** How long one pass of a device may run before it yields the loop (plus one chain's capped cost). */
export const SLICE_MS = 5;

export class TurnBudget {
  private later: NodeJS.Immediate | undefined;
  private deadline = 0;
  private readonly again: () => void;

  /** `resume` runs the next pass on a later turn; what it throws goes to the device's host. */
  constructor(host: () => DeviceHost | undefined, resume: () => void, private readonly sliceMs = SLICE_MS) {
    this.again = fromEventLoop(host, () => {
      this.later = undefined;
      resume();
    });
  }

  /** Starts a pass's slice. */
  start(): void { this.deadline = performance.now() + this.sliceMs; }

  /**
   * Whether the pass must stop taking chains now; when it must, the rest is served from a later turn. A pass
   * that stops this way leaves the rest on the ring, which the driver will not notify again for.
   */
  spent(): boolean {
    if (performance.now() < this.deadline) return false;
    this.later ??= setImmediate(this.again);
    return true;
  }

  /** The device reset: a pass scheduled for the old driver does not run. */
  cancel(): void {
    if (this.later !== undefined) clearImmediate(this.later);
    this.later = undefined;
  }
}
