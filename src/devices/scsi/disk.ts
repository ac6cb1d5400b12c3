// One logical unit's raw image: its fd, its size in blocks, and the file operations the commands use. Data moves
// between the file and the guest's own buffers on libuv's thread pool (readFull / writeFull, as virtio-blk does),
// and a transfer that stops short is an error, never a GOOD: the guest must not take stale buffer contents or a
// partial write for the disk's data. Holes are punched with fallocate on the main thread, one bounded range each.
import * as fs from 'node:fs';
import { native } from '../../base/native';
import { totalBytes } from '../../virtio-mmio/segments';
import { fdatasync, openImage, readFull, writeFull } from '../file-io';
import { BLOCK } from './constants';
import { ioFailure } from './sense';

export interface ScsiDiskOptions {
  /** A raw image; must exist unless `create`. */
  path: string;
  readonly: boolean;
  /** The unit serial number the guest reads (VPD page 0x80), printable ASCII. */
  serial?: string;
  /** Create the image (sparse, `size` bytes) when it does not exist. */
  create?: boolean;
  size?: number;
}

/** A disk that cannot be opened or used; `disk` is its index in the device's list. */
export class ScsiDiskError extends Error {
  constructor(readonly disk: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ScsiDiskError';
  }
}

/** A command on the thread pool, for the task management functions that must wait for it. */
export interface Task {
  readonly tag: bigint;
  readonly done: Promise<void>;
}

/** Blocks a pattern buffer holds for WRITE SAME (64 KiB): larger counts repeat it in the iovec. */
const PATTERN_BLOCKS = 128;

export class ScsiDisk {
  /** Commands of this logical unit on the thread pool. */
  readonly tasks = new Set<Task>();
  private closed = false;

  private constructor(readonly path: string, readonly fd: number, readonly readonly: boolean,
    readonly serial: string, readonly blocks: number, readonly canUnmap: boolean) {}

  /** Opens disk `index`; throws ScsiDiskError naming it. */
  static open(index: number, o: ScsiDiskOptions): ScsiDisk {
    let image: { fd: number; bytes: number };
    try {
      image = openImage(o.path, o);
    } catch (e) {
      const message = (e as Error).message;
      throw new ScsiDiskError(index, message.startsWith(o.path) ? message : `${o.path}: ${message}`, { cause: e });
    }
    const { fd, bytes } = image;
    const blocks = Math.floor(bytes / BLOCK);
    if (blocks === 0) {
      fs.closeSync(fd);
      throw new ScsiDiskError(index, `${o.path} is smaller than one ${BLOCK}-byte block`);
    }
    try {
      return new ScsiDisk(o.path, fd, o.readonly, o.serial ?? '', blocks, !o.readonly && punchWorks(fd, bytes));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Reads blocks from `lba` into `bufs` (a whole number of blocks); rejects with a ScsiCheck. */
  async read(bufs: Uint8Array[], lba: number): Promise<void> {
    const want = totalBytes(bufs);
    let n: number;
    try {
      n = await readFull(this.fd, bufs, lba * BLOCK);
    } catch (e) {
      throw ioFailure(e, true);
    }
    // Short only where the image ends early (it shrank since it was opened).
    if (n !== want) throw ioFailure(undefined, true);
  }

  /** Writes `bufs` at `lba`, every byte or a ScsiCheck; `fua` syncs before it resolves. */
  async write(bufs: Uint8Array[], lba: number, fua = false): Promise<void> {
    try {
      await writeFull(this.fd, bufs, lba * BLOCK);
      if (fua) await fdatasync(this.fd);
    } catch (e) {
      throw ioFailure(e, false);
    }
  }

  async sync(): Promise<void> {
    try {
      await fdatasync(this.fd);
    } catch (e) {
      throw ioFailure(e, false);
    }
  }

  /** Deallocates blocks (they read back as zeros); throws a ScsiCheck when the file system will not. */
  punch(lba: number, blocks: number): void {
    const c = native().constants;
    try {
      native().fallocate(this.fd, c.FALLOC_FL_PUNCH_HOLE | c.FALLOC_FL_KEEP_SIZE, lba * BLOCK, blocks * BLOCK);
    } catch (e) {
      throw ioFailure(e, false);
    }
  }

  /**
   * Zeros blocks: punched when `unmap` and the file system can, else fallocate's ZERO_RANGE, else written (tmpfs
   * has no ZERO_RANGE).
   */
  async zero(lba: number, blocks: number, unmap: boolean): Promise<void> {
    const c = native().constants;
    const mode = unmap && this.canUnmap ? c.FALLOC_FL_PUNCH_HOLE | c.FALLOC_FL_KEEP_SIZE : c.FALLOC_FL_ZERO_RANGE;
    try {
      native().fallocate(this.fd, mode, lba * BLOCK, blocks * BLOCK);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && code !== 'EINVAL') throw ioFailure(e, false);
    }
    await this.writePattern(Buffer.alloc(BLOCK), lba, blocks);
  }

  /** Writes `block` (one block) into each of `blocks` blocks from `lba`. */
  writePattern(block: Uint8Array, lba: number, blocks: number): Promise<void> {
    const chunk = Buffer.alloc(Math.min(blocks, PATTERN_BLOCKS) * BLOCK);
    for (let at = 0; at < chunk.length; at += BLOCK) chunk.set(block, at);
    const bufs: Uint8Array[] = [];
    for (let left = blocks; left > 0; left -= PATTERN_BLOCKS) {
      bufs.push(left >= PATTERN_BLOCKS ? chunk : chunk.subarray(0, left * BLOCK));
    }
    return this.write(bufs, lba);
  }

  /** Closes the fd once: a second close could hit a number the process has reused since. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { fs.closeSync(this.fd); } catch { /* nothing to do */ }
  }
}

/**
 * Whether the file system punches holes in this file: a punch past its end changes nothing where it does, and
 * fails (EOPNOTSUPP) where it does not. What the guest is told (LBPU, LBPWS, LBPME) follows from this.
 */
function punchWorks(fd: number, size: number): boolean {
  const c = native().constants;
  const end = Math.ceil(size / 4096) * 4096;
  try {
    native().fallocate(fd, c.FALLOC_FL_PUNCH_HOLE | c.FALLOC_FL_KEEP_SIZE, end, 4096);
    return true;
  } catch {
    return false;
  }
}
