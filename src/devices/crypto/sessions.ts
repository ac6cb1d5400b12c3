// The sessions a driver made: each holds its key on the host, so their number is capped per device. IDs count up
// from 1 and are not reused while the driver runs, so a stale ID names no session rather than someone else's.
import type { CipherSession } from './ciphers';

export const DEFAULT_MAX_SESSIONS = 256;
/** The config's limit on maxSessions. */
export const MAX_SESSIONS_LIMIT = 65536;

export class SessionTable {
  private readonly sessions = new Map<bigint, CipherSession>();
  private nextId = 1n;

  constructor(readonly max = DEFAULT_MAX_SESSIONS) {
    if (!Number.isInteger(max) || max < 1 || max > MAX_SESSIONS_LIMIT) {
      throw new RangeError(`a crypto device holds 1..${MAX_SESSIONS_LIMIT} sessions, not ${max}`);
    }
  }

  get count(): number { return this.sessions.size; }

  /** The new session's ID, or undefined when the table is full. */
  add(s: CipherSession): bigint | undefined {
    if (this.sessions.size >= this.max) return undefined;
    const id = this.nextId++;
    this.sessions.set(id, s);
    return id;
  }

  get(id: bigint): CipherSession | undefined { return this.sessions.get(id); }

  delete(id: bigint): boolean { return this.sessions.delete(id); }

  /** A new driver starts with no sessions and IDs from 1. */
  clear(): void {
    this.sessions.clear();
    this.nextId = 1n;
  }
}
