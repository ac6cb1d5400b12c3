// The time playback and capture are paced by. The device asks for one wake-up at a time; tests give a clock they
// move by hand, so a transfer's completion can be shown to wait for its frames' play time.

export interface SndClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Calls `fn` once after about `ms` milliseconds; the returned function cancels it. */
  wakeIn(ms: number, fn: () => void): () => void;
}

export const realClock: SndClock = {
  now: () => performance.now(),
  wakeIn: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};
