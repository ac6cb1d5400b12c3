// Requests a device runs off the main thread (file I/O on libuv's thread pool) write guest memory when they finish.
// A reset is only complete once none is left (virtio 1.2, 2.4.1: after a reset the device must not touch the
// rings or buffers), so the transport asks the device for `idle()` before the driver sees Status 0.
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  get size(): number { return this.count; }

  begin(): void { this.count++; }

  end(): void {
    if (this.count > 0 && --this.count === 0) for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves once nothing started before is still running. */
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}
