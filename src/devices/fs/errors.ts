// The device's one error type: an errno the guest gets back, negated, in fuse_out_header.error.
export class FsError extends Error {
  constructor(readonly errno: number, message = `errno ${errno}`) {
    super(message);
    this.name = 'FsError';
  }
}

/** The positive errno to answer for an error thrown while serving a request; undefined for a bug (not an errno). */
export function errnoOf(e: unknown): number | undefined {
  if (e instanceof FsError) return e.errno;
  const n = (e as { errno?: unknown } | null)?.errno;
  // Native and Node errors carry negative errnos, as libuv does.
  if (typeof n === 'number' && Number.isInteger(n) && n < 0 && n > -4096) return -n;
  return undefined;
}

export const fail = (errno: number, why?: string): never => { throw new FsError(errno, why); };
