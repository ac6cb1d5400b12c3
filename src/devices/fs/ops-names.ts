// Operations that make, link, remove and rename names in a directory. Every name is one component checked by
// Args.name(); every call takes the parent's fd, never a host path.
import { native } from '../../base/native';
import { EMPTY, openOut } from './codec';
import { fail } from './errors';
import { closeQuietly } from './host';
import { E, RENAME_EXCHANGE, RENAME_NOREPLACE, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK, SIZE, TARGET_MAX } from './protocol';
import type { Op, Request, Session } from './session';
import { openFlags } from './ops-files';

function mkdir(s: Session, r: Request): Buffer {
  const parent = s.inodes.dir(r.nodeid);
  const mode = r.args.u32();
  r.args.skip(4); // umask: the guest kernel applied it to mode already
  const name = r.args.name();
  native().mkdirat(parent.fd, name, mode & 0o7777);
  return s.adopt(parent, name, r, mode);
}

// Device nodes are refused: one made here would be a host device node in the host's directory.
const MKNOD_TYPES = new Set([S_IFREG, S_IFIFO, S_IFSOCK]);

function mknod(s: Session, r: Request): Buffer {
  const parent = s.inodes.dir(r.nodeid);
  const mode = r.args.u32();
  r.args.skip(12); // rdev, umask, padding
  const name = r.args.name();
  if (!MKNOD_TYPES.has(mode & S_IFMT)) fail(E.EPERM, 'device nodes are not made on the host');
  native().mknodat(parent.fd, name, (mode & S_IFMT) | (mode & 0o7777), 0);
  return s.adopt(parent, name, r, mode);
}

function symlink(s: Session, r: Request): Buffer {
  const parent = s.inodes.dir(r.nodeid);
  const name = r.args.name();
  const target = r.args.bytes();
  if (target.length === 0) fail(E.ENOENT, 'empty symlink target');
  if (target.length > TARGET_MAX) fail(E.ENAMETOOLONG, 'symlink target too long');
  native().symlinkat(target, parent.fd, name);
  return s.adopt(parent, name, r, 0);
}

function link(s: Session, r: Request): Buffer {
  const parent = s.inodes.dir(r.nodeid);
  const old = s.inodes.get(r.args.u64());
  const name = r.args.name();
  if (old.type === S_IFDIR) fail(E.EPERM, 'hard link to a directory');
  s.host.link(old.fd, parent.fd, name);
  return s.lookup(parent, name);
}

function remove(dir: boolean) {
  return (s: Session, r: Request): Buffer => {
    native().unlinkat(s.inodes.dir(r.nodeid).fd, r.args.name(), dir ? native().fsConstants.AT_REMOVEDIR : 0);
    return EMPTY;
  };
}

/** RENAME (fuse_rename_in: newdir) and RENAME2 (fuse_rename2_in: newdir, flags, padding). */
function rename(withFlags: boolean) {
  return (s: Session, r: Request): Buffer => {
    const from = s.inodes.dir(r.nodeid);
    const to = s.inodes.dir(r.args.u64());
    const flags = withFlags ? r.args.u32() : 0;
    if (withFlags) r.args.skip(4);
    return renameIn(r, from.fd, to.fd, flags);
  };
}

function renameIn(r: Request, fromFd: number, toFd: number, flags: number): Buffer {
  const oldName = r.args.name();
  const newName = r.args.name();
  // RENAME_WHITEOUT would make a device node on the host; other bits are unknown.
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) fail(E.EINVAL, 'rename flags');
  native().renameat2(fromFd, oldName, toFd, newName, flags);
  return EMPTY;
}

function create(s: Session, r: Request): Buffer {
  const parent = s.inodes.dir(r.nodeid);
  const a = r.args;
  const guestFlags = a.u32();
  const mode = a.u32();
  a.skip(8); // umask (applied by the guest), open_flags
  const name = a.name();
  const c = native().fsConstants;
  const { flags, writable } = openFlags(s, guestFlags, true);
  // Refused before anything is made or counted: after adopt() the guest holds a lookup it would never learn of.
  s.handles.checkRoom();
  const fd = s.host.openBeneath(parent.fd, name, flags | c.O_CREAT, mode & 0o7777);
  try {
    const entry = s.adopt(parent, name, r, mode, s.host.stat(fd).key);
    const fh = s.handles.add(fd, Number(entry.readBigUInt64LE(0)), false, writable, flags); // fuse_entry_out.nodeid
    return Buffer.concat([entry, openOut(fh)]);
  } catch (e) {
    closeQuietly(fd);
    throw e;
  }
}

const ENTRY = SIZE.ENTRY_OUT;

export const nameOps: Record<string, Op> = {
  MKDIR: { name: 'mkdir', run: mkdir, reply: ENTRY, mutates: true },
  MKNOD: { name: 'mknod', run: mknod, reply: ENTRY, mutates: true },
  SYMLINK: { name: 'symlink', run: symlink, reply: ENTRY, mutates: true },
  LINK: { name: 'link', run: link, reply: ENTRY, mutates: true },
  UNLINK: { name: 'unlink', run: remove(false), reply: 0, mutates: true },
  RMDIR: { name: 'rmdir', run: remove(true), reply: 0, mutates: true },
  RENAME: { name: 'rename', run: rename(false), reply: 0, mutates: true },
  RENAME2: { name: 'rename2', run: rename(true), reply: 0, mutates: true },
  CREATE: { name: 'create', run: create, reply: ENTRY + SIZE.OPEN_OUT, mutates: true },
};
