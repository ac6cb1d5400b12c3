// Operations on nodes by id: lookup and forget, attributes, symlink targets, file system statistics.
import * as fs from 'node:fs';
import { native } from '../../base/native';
import { attrOut, safeNumber } from './codec';
import { fail } from './errors';
import { closeQuietly } from './host';
import { E, FATTR, S_IFLNK, SIZE } from './protocol';
import type { Op, Request, Session } from './session';

const NO_ID = 0xffffffff;

const lookup = (s: Session, r: Request): Buffer => s.lookup(s.inodes.dir(r.nodeid), r.args.name());

function forget(s: Session, r: Request): 'none' {
  s.inodes.forget(r.nodeid, r.args.u64());
  return 'none';
}

function batchForget(s: Session, r: Request): 'none' {
  const a = r.args;
  const count = a.u32();
  a.skip(4);
  // A count larger than the entries that follow is the guest's problem: forget those that are there.
  for (let i = 0; i < count && a.remaining >= 16; i++) s.inodes.forget(a.u64(), a.u64());
  return 'none';
}

// fuse_getattr_in may name a file handle (fstat); the node answers either way, since a handle's fd and its
// node's O_PATH fd pin the same inode.
const getattr = (s: Session, r: Request): Buffer => attrOut(s.host.stat(s.inodes.get(r.nodeid).fd));

interface SetattrIn {
  valid: number; fh: bigint; size: bigint; atime: bigint; mtime: bigint;
  atimeNs: number; mtimeNs: number; mode: number; uid: number; gid: number;
}

function readSetattr(r: Request): SetattrIn {
  const a = r.args;
  const valid = a.u32();
  a.skip(4);
  const fh = a.u64();
  const size = a.u64();
  a.skip(8); // lock_owner
  const atime = a.u64();
  const mtime = a.u64();
  a.skip(8); // ctime: the host sets it
  const atimeNs = a.u32();
  const mtimeNs = a.u32();
  a.skip(4);
  const mode = a.u32();
  a.skip(4);
  return { valid, fh, size, atime, mtime, atimeNs, mtimeNs, mode, uid: a.u32(), gid: a.u32() };
}

function setattr(s: Session, r: Request): Buffer {
  const inode = s.inodes.get(r.nodeid);
  const a = readSetattr(r);
  // A handle opened through another node is ignored: the size change goes to this node's inode, never to another.
  const fh = a.valid & FATTR.FH ? s.handles.get(a.fh, false) : undefined;
  const h = fh?.node === inode.id ? fh : undefined;
  if (a.valid & FATTR.MODE) s.host.chmod(inode.fd, a.mode);
  if (a.valid & (FATTR.UID | FATTR.GID)) {
    s.host.chown(inode.fd, a.valid & FATTR.UID ? a.uid : NO_ID, a.valid & FATTR.GID ? a.gid : NO_ID);
  }
  if (a.valid & FATTR.SIZE) {
    const size = safeNumber(a.size) ?? fail(E.EFBIG, 'size past 2^53');
    if (h?.writable) {
      fs.ftruncateSync(h.fd, size);
    } else {
      const fd = s.host.reopen(inode.fd, s.host.stat(inode.fd), native().fsConstants.O_WRONLY);
      try { fs.ftruncateSync(fd, size); } finally { closeQuietly(fd); }
    }
  }
  if (a.valid & (FATTR.ATIME | FATTR.MTIME)) {
    const c = native().fsConstants;
    const time = (set: number, now: number, sec: bigint, ns: number): [bigint, number] => {
      if (!(a.valid & set)) return [0n, c.UTIME_OMIT];
      if (a.valid & now) return [0n, c.UTIME_NOW];
      if (ns >= 1e9) fail(E.EINVAL, 'nanoseconds past a second');
      return [BigInt.asIntN(64, sec), ns];
    };
    const [as, an] = time(FATTR.ATIME, FATTR.ATIME_NOW, a.atime, a.atimeNs);
    const [ms, mn] = time(FATTR.MTIME, FATTR.MTIME_NOW, a.mtime, a.mtimeNs);
    s.host.utimens(inode.fd, as, an, ms, mn);
  }
  return attrOut(s.host.stat(inode.fd));
}

function readlink(s: Session, r: Request): Buffer {
  const inode = s.inodes.get(r.nodeid);
  if (inode.type !== S_IFLNK) fail(E.EINVAL, 'not a symlink');
  return s.host.readlink(inode.fd);
}

function statfs(s: Session, r: Request): Buffer {
  const v = new BigInt64Array(8);
  native().fstatfs(s.inodes.get(r.nodeid).fd, v);
  const b = Buffer.alloc(SIZE.STATFS_OUT);
  for (let i = 0; i < 5; i++) b.writeBigInt64LE(v[i]!, 8 * i); // blocks bfree bavail files ffree
  b.writeUInt32LE(Number(v[5]), 40); // bsize
  b.writeUInt32LE(Number(v[6]), 44); // namelen
  b.writeUInt32LE(Number(v[7]), 48); // frsize
  return b;
}

export const entryOps: Record<string, Op> = {
  LOOKUP: { name: 'lookup', run: lookup, reply: SIZE.ENTRY_OUT },
  FORGET: { name: 'forget', run: forget, reply: 0, noReply: true },
  BATCH_FORGET: { name: 'batchForget', run: batchForget, reply: 0, noReply: true },
  GETATTR: { name: 'getattr', run: getattr, reply: SIZE.ATTR_OUT },
  SETATTR: { name: 'setattr', run: setattr, reply: SIZE.ATTR_OUT, mutates: true },
  READLINK: { name: 'readlink', run: readlink, reply: 0 },
  STATFS: { name: 'statfs', run: statfs, reply: SIZE.STATFS_OUT },
};
