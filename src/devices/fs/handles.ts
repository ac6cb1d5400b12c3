// Open files and directories the guest holds (fuse_open_out.fh). A handle whose fd is in use by a request on the
// thread pool is closed only when that request is done, so a RELEASE racing a READ can never make the READ land on
// whatever file next gets the same fd number.
import { byGuestKey } from './codec';
import { FsError } from './errors';
import { closeQuietly } from './host';
import { E } from './protocol';

export interface Handle {
  readonly fd: number;
  /** The node it was opened through: a request naming another node must not act on this fd. */
  readonly node: number;
  readonly dir: boolean;
  readonly writable: boolean;
  /** The flags it was opened with (what a restore opens it with again, less O_TRUNC and O_EXCL). */
  readonly flags: number;
  /** Requests using fd right now. */
  busy: number;
  released: boolean;
}

/** Each handle is a host fd, like each node (inodes.ts). */
export const MAX_HANDLES = 4096;

export class HandleTable {
  private readonly byFh = new Map<number, Handle>();
  private nextFh = 1;

  constructor(private readonly max = MAX_HANDLES) {}

  get size(): number { return this.byFh.size; }

  /** ENFILE when one more handle would pass the limit: for callers with work to undo after add() (CREATE). */
  checkRoom(): void {
    if (this.byFh.size >= this.max) throw new FsError(E.ENFILE, `the guest holds ${this.max} open files already`);
  }

  /** Takes ownership of fd once it returns; when it throws (too many handles), fd is still the caller's. */
  add(fd: number, node: number, dir: boolean, writable: boolean, flags = 0): number {
    this.checkRoom();
    const fh = this.nextFh++;
    this.byFh.set(fh, { fd, node, dir, writable, flags, busy: 0, released: false });
    return fh;
  }

  /** The handle for a file handle from the guest (EBADF when unknown or of the wrong kind). */
  get(fh: bigint, dir: boolean): Handle {
    const h = byGuestKey(this.byFh, fh);
    if (h === undefined) throw new FsError(E.EBADF, `unknown file handle ${fh}`);
    if (h.dir !== dir) throw new FsError(dir ? E.ENOTDIR : E.EISDIR, 'handle of the other kind');
    return h;
  }

  /** Runs `work` with the handle's fd kept open until it settles. */
  async using<T>(h: Handle, work: (fd: number) => Promise<T>): Promise<T> {
    h.busy++;
    try {
      return await work(h.fd);
    } finally {
      if (--h.busy === 0 && h.released) closeQuietly(h.fd);
    }
  }

  release(fh: bigint, dir: boolean): void {
    const h = this.get(fh, dir);
    this.byFh.delete(Number(fh));
    this.drop(h);
  }

  /** Every handle not released, by fh, and the next fh, for a snapshot. */
  saved(): { handles: [number, Handle][]; nextFh: number } {
    return { handles: [...this.byFh], nextFh: this.nextFh };
  }

  /** Takes handles a snapshot held (their fds opened again) after clear(); takes ownership of every fd. */
  restore(handles: readonly [number, Handle][], nextFh: number): void {
    for (const [fh, h] of handles) this.byFh.set(fh, h);
    this.nextFh = nextFh;
  }

  clear(): void {
    for (const h of this.byFh.values()) this.drop(h);
    this.byFh.clear();
  }

  private drop(h: Handle): void {
    h.released = true;
    if (h.busy === 0) closeQuietly(h.fd);
  }
}
