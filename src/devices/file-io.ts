// Positioned vectored I/O and syncs on libuv's thread pool, as promises. The buffers are views the caller took of
// guest memory: data moves between the file and the guest's own pages with no copy through JavaScript.
//
// One preadv / pwritev may move fewer bytes than asked, and libuv hides why: a read takes at most IOV_MAX buffers
// and drops the rest, and a write that fails after some bytes landed (ENOSPC, EFBIG) reports the bytes and drops
// the error. Devices therefore use readFull / writeFull, which carry on from where the last call stopped until
// every byte has moved, the file ends, or the kernel names an error.
import * as fs from 'node:fs';
import { sliceSegments, totalBytes } from '../virtio-mmio/segments';

/** Most buffers one readv / writev takes (Linux's IOV_MAX). */
export const IOV_MAX = 1024;

export const readv = (fd: number, bufs: Uint8Array[], pos: number): Promise<number> =>
  new Promise((resolve, reject) => fs.readv(fd, bufs, pos, (err, n) => (err ? reject(err) : resolve(n))));

export const writev = (fd: number, bufs: Uint8Array[], pos: number): Promise<number> =>
  new Promise((resolve, reject) => fs.writev(fd, bufs, pos, (err, n) => (err ? reject(err) : resolve(n))));

export const fdatasync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));

export const fsync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));

/**
 * Reads until `bufs` are full or the file ends; resolves to the bytes read, fewer than asked only at end of file.
 * Rejects with the kernel's error, even after some bytes were read: what came before it cannot be trusted as an
 * answer to the request.
 */
export async function readFull(fd: number, bufs: Uint8Array[], pos: number): Promise<number> {
  const want = totalBytes(bufs);
  let done = 0;
  while (done < want) {
    const n = await readv(fd, sliceSegments(bufs, done).slice(0, IOV_MAX), pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Writes every byte of `bufs` or rejects: a write that stops short is carried on, so the error that stopped it
 * (ENOSPC, EFBIG, EIO) comes back instead of a count the caller might take for success.
 */
export async function writeFull(fd: number, bufs: Uint8Array[], pos: number): Promise<number> {
  const want = totalBytes(bufs);
  let done = 0;
  while (done < want) {
    const n = await writev(fd, sliceSegments(bufs, done).slice(0, IOV_MAX), pos + done);
    if (n === 0) throw Object.assign(new Error('pwritev wrote nothing'), { code: 'EIO', errno: -5, syscall: 'write' });
    done += n;
  }
  return done;
}

/** writeFull for a file written from the main thread (a console log): every byte lands, or this throws. */
export function writeAllSync(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) {
    const n = fs.writeSync(fd, bytes, done, bytes.length - done);
    if (n === 0) throw Object.assign(new Error('write wrote nothing'), { code: 'EIO', errno: -5, syscall: 'write' });
    done += n;
  }
}

/** How a disk device asks for its raw image. */
export interface ImageRequest {
  readonly: boolean;
  /** Create the image (sparse, `size` bytes) when it does not exist; an empty one gets `size` too. */
  create?: boolean;
  size?: number;
}

/**
 * Opens a disk's raw image (made first when `create` asks), read-only or read-write; returns its fd and size in
 * bytes. Throws an fs error whose code and path name the file, also when it is not a regular file.
 */
export function openImage(file: string, req: ImageRequest): { fd: number; bytes: number } {
  if (req.create && !fs.existsSync(file)) fs.writeFileSync(file, '', { flag: 'wx' });
  if (req.create && req.size !== undefined && fs.statSync(file).size === 0) fs.truncateSync(file, req.size);
  const fd = fs.openSync(file, req.readonly ? 'r' : 'r+');
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      throw Object.assign(new Error(`${file} is not a regular file`), { code: 'EINVAL', syscall: 'open', path: file });
    }
    return { fd, bytes: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}
