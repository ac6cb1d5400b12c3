// Open files: open, read, write, flush, fsync, release. READ and WRITE move data between the host file and the
// chain's own guest buffers with preadv / pwritev on libuv's thread pool: no copy through JavaScript. A READ
// answers fewer bytes than asked only at the end of the file (FUSE's meaning of a short read); a WRITE answers the
// whole size or the error that stopped it, never a smaller count the guest would take as the data's fate.
import { native } from '../../base/native';
import { EMPTY, openOut, safeNumber } from './codec';
import { fail } from './errors';
import { closeQuietly } from './host';
import { E, FSYNC_FDATASYNC, S_IFDIR, SIZE } from './protocol';
import type { Op, Reply, Request, Session } from './session';
import { sliceSegments, totalBytes } from '../../virtio-mmio/segments';
import * as io from '../file-io';

/** The host open flags for the guest's: access mode and the bits that mean the same on the host; nothing that
 * would create, follow or change what is opened. */
export function openFlags(s: Session, guest: number, create: boolean): { flags: number; writable: boolean } {
  const c = native().fsConstants;
  const access = guest & c.O_ACCMODE;
  if (access === c.O_ACCMODE) fail(E.EINVAL, 'bad access mode');
  const writable = access !== c.O_RDONLY;
  if (s.readonly && (writable || (guest & c.O_TRUNC))) fail(E.EROFS, 'read-only share');
  const keep = c.O_APPEND | c.O_TRUNC | c.O_SYNC | c.O_DSYNC | c.O_NOATIME | (create ? c.O_EXCL : 0);
  return { flags: access | (guest & keep) | c.O_LARGEFILE, writable };
}

function open(dir: boolean) {
  return (s: Session, r: Request): Buffer => {
    const inode = s.inodes.get(r.nodeid);
    const st = s.host.stat(inode.fd);
    if (dir !== (st.type === S_IFDIR)) fail(dir ? E.ENOTDIR : E.EISDIR, 'open of the wrong kind');
    const { flags, writable } = dir ? { flags: 0, writable: false } : openFlags(s, r.args.u32(), false);
    const fd = s.host.reopen(inode.fd, st, flags);
    try {
      return openOut(s.handles.add(fd, inode.id, dir, writable, flags));
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
  };
}

async function read(s: Session, r: Request): Promise<Reply> {
  const fh = r.args.u64();
  const offset = r.args.u64();
  const size = r.args.u32();
  const h = s.handles.get(fh, false);
  const room = Math.min(size, r.out.capacity - SIZE.OUT_HEADER);
  const pos = safeNumber(offset);
  if (room <= 0 || pos === undefined) return { written: 0 };
  const views = r.out.views(SIZE.OUT_HEADER, room);
  const n = await s.handles.using(h, (fd) => io.readFull(fd, views, pos));
  s.bytes.read += n;
  return { written: n };
}

async function write(s: Session, r: Request): Promise<Reply> {
  const fh = r.args.u64();
  const offset = r.args.u64();
  const size = r.args.u32();
  const h = s.handles.get(fh, false);
  if (!h.writable) fail(E.EBADF, 'handle not open for writing');
  const data = sliceSegments(r.data, 0, size);
  if (totalBytes(data) < size) fail(E.EINVAL, 'write shorter than its size');
  if (safeNumber(offset + BigInt(size)) === undefined) fail(E.EFBIG, 'write past 2^53');
  const n = size === 0 ? 0 : await s.handles.using(h, (fd) => io.writeFull(fd, data, Number(offset)));
  s.bytes.written += n;
  const out = Buffer.alloc(SIZE.WRITE_OUT);
  out.writeUInt32LE(n, 0);
  return out;
}

function fsync(dir: boolean) {
  return async (s: Session, r: Request): Promise<Reply> => {
    const h = s.handles.get(r.args.u64(), dir);
    const data = (r.args.u32() & FSYNC_FDATASYNC) !== 0;
    await s.handles.using(h, (fd) => (data ? io.fdatasync : io.fsync)(fd));
    return EMPTY;
  };
}

function release(dir: boolean) {
  return (s: Session, r: Request): Buffer => {
    s.handles.release(r.args.u64(), dir);
    return EMPTY;
  };
}

function flush(s: Session, r: Request): Buffer {
  s.handles.get(r.args.u64(), false);
  return EMPTY;
}

export const fileOps: Record<string, Op> = {
  OPEN: { name: 'open', run: open(false), reply: SIZE.OPEN_OUT },
  OPENDIR: { name: 'opendir', run: open(true), reply: SIZE.OPEN_OUT },
  READ: { name: 'read', run: read, reply: 0 },
  WRITE: { name: 'write', run: write, reply: SIZE.WRITE_OUT, mutates: true },
  FLUSH: { name: 'flush', run: flush, reply: 0 },
  FSYNC: { name: 'fsync', run: fsync(false), reply: 0 },
  FSYNCDIR: { name: 'fsyncdir', run: fsync(true), reply: 0 },
  RELEASE: { name: 'release', run: release(false), reply: 0 },
  RELEASEDIR: { name: 'releasedir', run: release(true), reply: 0 },
};
