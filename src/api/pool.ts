// createPool(): sandboxes booted ahead of need. A pool keeps `size` sandboxes booted and idle; acquire() hands one
// out at once when one is ready (else waits for the next to boot) and the pool boots a replacement behind it. What
// acquire() returns is the caller's: closing it is theirs. Boots run at most `maxBooting` at a time, so a pool
// does not flood a small host; boots that keep failing stop the refilling until the next acquire(), and the failure
// reaches the callers that wait, never an unhandled rejection. A pool made with `snapshot` restores its sandboxes
// from that snapshot of one (restoreSandbox) instead of booting them: a start without a boot, and its machines share
// the snapshot's guest RAM pages they have not written.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { argTypeError, checkInteger, checkNonEmptyString, checkOptions, VmError } from './errors';
import { checkSandboxOptions, createSandbox, type Sandbox, type SandboxOptions } from './sandbox';
import { checkRestoreSandboxOptions, restoreSandbox, type RestoreSandboxOptions } from './sandbox-restore';
import { MANIFEST_FILE } from '../vmm/snapshot/format';

export interface PoolOptions extends SandboxOptions {
  /** Sandboxes kept booted and idle, 1..64. */
  size: number;
  /** Boots at the same time; default min(size, 2). */
  maxBooting?: number;
  /**
   * A folder a sandbox's vm.snapshot() wrote: each sandbox is restored from it (restoreSandbox) instead of booted.
   * The machine is the snapshot's, so only restoreSandbox's options may go with it.
   */
  snapshot?: string;
}

export interface PoolStats {
  /** Booted, idle, waiting in the pool. */
  ready: number;
  booting: number;
  /** acquire() calls waiting for a sandbox. */
  waiting: number;
  /** Sandboxes handed out since the pool was made. */
  acquired: number;
  /** Boots that failed since the pool was made. */
  bootFailures: number;
}

export interface AcquireOptions {
  /** How long to wait when no sandbox is ready; default 120000, 0 for no limit. */
  timeoutMs?: number;
}

const MAX_SIZE = 64;
/** Boots that fail in a row before the pool stops refilling (until the next acquire asks again). */
const FAILURES_BEFORE_PAUSE = 3;
const DEFAULT_ACQUIRE_MS = 120_000;

interface Waiter {
  resolve: (s: Sandbox) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | undefined;
}

/** Boots a pool of sandboxes; resolves at once (the first boots are under way). Options as createSandbox's. */
export function createPool(options: PoolOptions): SandboxPool {
  if (typeof options !== 'object' || (options as unknown) === null || Array.isArray(options)) {
    throw argTypeError('options', 'an object with a size', options);
  }
  const { size: rawSize, maxBooting: rawMax, snapshot, ...sandbox } = options;
  const size = checkInteger('size', rawSize, 1, MAX_SIZE);
  const maxBooting = rawMax === undefined ? Math.min(size, 2) : checkInteger('maxBooting', rawMax, 1, MAX_SIZE);
  if (snapshot !== undefined) {
    const dir = path.resolve(checkNonEmptyString('snapshot', snapshot));
    if (!fs.existsSync(path.join(dir, MANIFEST_FILE))) {
      throw Object.assign(new Error(`The "snapshot" argument must be a folder vm.snapshot() wrote: ${dir} has no ${MANIFEST_FILE}`),
        { code: 'ERR_INVALID_ARG_VALUE', argument: 'snapshot' });
    }
    const restore: RestoreSandboxOptions = checkRestoreSandboxOptions(sandbox);
    return new SandboxPool(size, maxBooting, () => restoreSandbox(dir, restore));
  }
  // The sandbox's own options are checked now, not at the first boot, where only a waiting acquire() would hear.
  checkSandboxOptions(sandbox);
  return new SandboxPool(size, maxBooting, () => createSandbox(sandbox));
}

export class SandboxPool {
  private readonly idle: Sandbox[] = [];
  private readonly waiters: Waiter[] = [];
  private booting = 0;
  private failuresInARow = 0;
  private closed = false;
  private readonly counts = { acquired: 0, bootFailures: 0 };
  /** Boots under way, for close() to wait out (each one is closed as it lands). */
  private readonly inFlight = new Set<Promise<void>>();

  /** `boot` makes one sandbox (createSandbox with the pool's options; a test's fake). */
  constructor(readonly size: number, private readonly maxBooting: number, private readonly boot: () => Promise<Sandbox>) {
    this.fill();
  }

  stats(): PoolStats {
    return { ready: this.idle.length, booting: this.booting, waiting: this.waiters.length, ...this.counts };
  }

  /**
   * A booted sandbox, at once when one is ready. Rejects with VmError ERR_VM_STATE once the pool is closed, with
   * the boot's own error when boots keep failing, and with VmError ERR_VM_STATE naming timeoutMs when none came.
   */
  acquire(options?: AcquireOptions): Promise<Sandbox> {
    const o = checkOptions('options', options, ['timeoutMs']);
    const timeoutMs = o.timeoutMs === undefined ? DEFAULT_ACQUIRE_MS : checkInteger('timeoutMs', o.timeoutMs, 0, 2 ** 31 - 1);
    if (this.closed) return Promise.reject(new VmError('ERR_VM_STATE', 'the pool is closed'));
    this.failuresInARow = Math.min(this.failuresInARow, FAILURES_BEFORE_PAUSE - 1); // asking again tries again
    const ready = this.takeIdle();
    if (ready) {
      this.fill();
      return Promise.resolve(ready);
    }
    return new Promise<Sandbox>((resolve, reject) => {
      const w: Waiter = { resolve, reject, timer: undefined };
      if (timeoutMs > 0) {
        w.timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new VmError('ERR_VM_STATE', `no sandbox was ready within ${timeoutMs} ms (timeoutMs); ` +
            `${this.booting} booting`));
        }, timeoutMs);
      }
      this.waiters.push(w);
      this.fill();
    });
  }

  /**
   * Stops refilling, rejects waiting acquire() calls, and resolves once the idle sandboxes and those still booting
   * are closed. Handed-out ones stay open: they are their callers'.
   */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const w of this.waiters.splice(0)) this.settle(w, undefined, new VmError('ERR_VM_STATE', 'the pool was closed'));
    }
    await Promise.all([...this.idle.splice(0).map((s) => s.close()), ...this.inFlight]);
  }

  /** An idle sandbox whose machine still runs; one that ended meanwhile is dropped. */
  private takeIdle(): Sandbox | undefined {
    for (let s = this.idle.shift(); s !== undefined; s = this.idle.shift()) {
      if (s.vm.state === 'running') {
        this.counts.acquired++;
        return s;
      }
      void s.close();
    }
    return undefined;
  }

  /** Starts boots until idle + booting covers the size and the waiters, within maxBooting. */
  private fill(): void {
    while (!this.closed && this.failuresInARow < FAILURES_BEFORE_PAUSE && this.booting < this.maxBooting
      && this.idle.length + this.booting < this.size + this.waiters.length) {
      this.booting++;
      const boot: Promise<void> = this.boot().then((s) => this.booted(s), (e: unknown) => { this.failed(e); })
        .finally(() => this.inFlight.delete(boot));
      this.inFlight.add(boot);
    }
  }

  /** A boot landed: to the oldest waiter, else idle; after close(), closed (close() waits for that). */
  private async booted(s: Sandbox): Promise<void> {
    this.booting--;
    this.failuresInARow = 0;
    if (this.closed) {
      await s.close();
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      this.counts.acquired++;
      this.settle(w, s);
    } else {
      this.idle.push(s);
    }
    this.fill();
  }

  private failed(e: unknown): void {
    this.booting--;
    this.counts.bootFailures++;
    this.failuresInARow++;
    // The oldest waiter learns why; once boots keep failing, every waiter does, and nothing boots until asked.
    const w = this.waiters.shift();
    if (w) this.settle(w, undefined, e);
    if (this.failuresInARow >= FAILURES_BEFORE_PAUSE) {
      for (const rest of this.waiters.splice(0)) this.settle(rest, undefined, e);
    }
    this.fill();
  }

  private settle(w: Waiter, s: Sandbox | undefined, e?: unknown): void {
    if (w.timer) clearTimeout(w.timer);
    if (s) w.resolve(s); else w.reject(e);
  }
}

