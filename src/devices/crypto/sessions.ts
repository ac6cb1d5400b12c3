// The sessions a driver made: each holds its key on the host, so their number is capped per device. IDs count up
// from 1 and are not reused while the driver runs, so a stale ID names no session rather than someone else's.
import { cipherSession, type CipherSession } from './ciphers';
import { savedObject } from '../saved-state';

/** A session as a snapshot holds it: its ID (decimal), algorithm, direction and key (base64). */
export type SavedSession = [id: string, algo: number, encrypt: boolean, key: string];

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

  /** The table for a snapshot: the next ID and every session with its key (the guest's RAM holds the keys too). */
  export(): { nextId: string; sessions: SavedSession[] } {
    return { nextId: this.nextId.toString(),
      sessions: [...this.sessions].map(([id, s]) => [id.toString(), s.algo, s.encrypt, s.key.export().toString('base64')]) };
  }

  /** Takes export()'s value back; throws RangeError naming what does not fit (this table's limit too). */
  import(state: unknown): void {
    const s = savedObject(state);
    const decimal = (v: unknown): v is string => typeof v === 'string' && /^[1-9]\d{0,19}$/.test(v);
    if (!decimal(s.nextId) || BigInt(s.nextId) > 0xffff_ffff_ffff_ffffn) {
      throw new RangeError(`nextId is ${JSON.stringify(s.nextId)}`);
    }
    const nextId = BigInt(s.nextId);
    if (!Array.isArray(s.sessions) || s.sessions.length > this.max) {
      throw new RangeError(`sessions is not a list of at most ${this.max} sessions`);
    }
    const sessions = new Map<bigint, CipherSession>();
    s.sessions.forEach((raw: unknown, i) => {
      const [id, algo, encrypt, key] = Array.isArray(raw) ? raw as unknown[] : [];
      if (!decimal(id) || BigInt(id) >= nextId || sessions.has(BigInt(id))) {
        throw new RangeError(`sessions[${i}]: id ${JSON.stringify(id)} is not a new one below nextId`);
      }
      const keyBytes = typeof key === 'string' ? Buffer.from(key, 'base64') : undefined;
      const made = typeof algo === 'number' && typeof encrypt === 'boolean' && keyBytes !== undefined
        && keyBytes.toString('base64') === key ? cipherSession(algo, keyBytes, encrypt) : undefined;
      keyBytes?.fill(0);
      if (made === undefined || typeof made === 'number') {
        throw new RangeError(`sessions[${i}] is not a cipher session this device makes`);
      }
      sessions.set(BigInt(id), made);
    });
    this.sessions.clear();
    for (const [id, session] of sessions) this.sessions.set(id, session);
    this.nextId = nextId;
  }

  /** A new driver starts with no sessions and IDs from 1. */
  clear(): void {
    this.sessions.clear();
    this.nextId = 1n;
  }
}
