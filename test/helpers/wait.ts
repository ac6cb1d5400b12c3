// Waiting in tests for something another party does: `until` polls a condition, and an OutputWatch wakes its
// waiters as text arrives (a guest's console, a child's stdout) and fails them at once when its source ends.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface UntilOptions {
  /** How often `cond` is asked; default 1 ms (some tests drive a device from `cond`). */
  everyMs?: number;
  /** Why waiting on is pointless (what would make `cond` hold has ended), or undefined. */
  gone?: () => string | undefined;
}

/** Polls `cond` until it holds; resolves with the ms that took, rejects naming `what` after `ms` or once gone. */
export async function until(cond: () => boolean, what: string, ms = 5000, opts: UntilOptions = {}): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    const why = opts.gone?.();
    if (why !== undefined) throw new Error(`${why} while waiting for ${what}`);
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(opts.everyMs ?? 1);
  }
  return Date.now() - t0;
}

/**
 * until() for a condition that must be asked asynchronously (a screenshot over a socket, a page in a browser):
 * `check` resolves to undefined once it holds, else to what it saw instead, which the failure after `ms` names.
 */
export async function untilAsync(check: () => Promise<string | undefined>, what: string, ms: number,
  everyMs = 100): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const saw = await check();
    if (saw === undefined) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`waited ${ms / 1000} s for ${what}: ${saw}`);
    await sleep(everyMs);
  }
}

/** Text that arrives in pieces, with waits for what it should come to hold. */
export class OutputWatch {
  private out = '';
  private endedBy: string | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly started = Date.now();
  private lastAppend = Date.now();

  /** `context()` is added to the message of a wait that fails (a child's stderr, say). */
  constructor(private readonly context: () => string = () => '') {}

  text(): string {
    return this.out;
  }

  append(chunk: string): void {
    this.out += chunk;
    this.lastAppend = Date.now();
    this.waiters.forEach((w) => w());
  }

  /** The source ended (`why` says how): waits the text does not satisfy by now fail. */
  end(why: string): void {
    this.endedBy ??= why;
    this.waiters.forEach((w) => w());
  }

  /** How the source ended, or undefined while it goes on. */
  get ended(): string | undefined {
    return this.endedBy;
  }

  /**
   * Resolves, with the ms since the watch began, once the text holds `pattern`; rejects after `ms`, or as soon as
   * the source has ended without it.
   */
  async waitFor(pattern: string | RegExp, ms: number): Promise<number> {
    await this.wait(pattern, ms);
    return Date.now() - this.started;
  }

  /**
   * waitFor(), except that it resolves 'quiet' as soon as no text has arrived for `quietMs` (a source that stalled
   * before saying it), and 'seen' once the text holds `pattern`.
   */
  waitForOrQuiet(pattern: string | RegExp, quietMs: number, ms: number): Promise<'seen' | 'quiet'> {
    return this.wait(pattern, ms, quietMs);
  }

  private wait(pattern: string | RegExp, ms: number, quietMs?: number): Promise<'seen' | 'quiet'> {
    const found = (): boolean => (typeof pattern === 'string' ? this.out.includes(pattern) : pattern.test(this.out));
    return new Promise((resolve, reject) => {
      const settle = (outcome: 'seen' | 'quiet' | { failure: string }): void => {
        clearTimeout(timer);
        clearInterval(quiet);
        this.waiters.delete(check);
        if (typeof outcome === 'string') resolve(outcome);
        else reject(new Error([outcome.failure, this.context()].filter(Boolean).join('\n')));
      };
      const check = (): void => {
        if (found()) settle('seen');
        else if (this.endedBy !== undefined) settle({ failure: `${this.endedBy} before ${String(pattern)}` });
      };
      const timer = setTimeout(() => settle({ failure: `no ${String(pattern)} within ${ms} ms` }), ms);
      const quiet = quietMs === undefined ? undefined : setInterval(() => {
        if (Date.now() - this.lastAppend > quietMs) settle('quiet');
      }, Math.min(1000, quietMs / 4));
      this.waiters.add(check);
      check();
    });
  }

  /** until(), giving up as soon as the source has ended. */
  until(cond: () => boolean, what: string, ms: number, everyMs = 20): Promise<number> {
    return until(cond, what, ms, { gone: () => this.endedBy, everyMs });
  }
}
