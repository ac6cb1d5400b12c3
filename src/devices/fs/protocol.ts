// The FUSE wire protocol as virtio-fs carries it (include/uapi/linux/fuse.h, protocol 7.31): opcodes, the sizes of
// the fixed structures, and the flag bits this device understands. Everything is little-endian on x86-64.
import { constants } from 'node:os';

export const FUSE_MAJOR = 7;
export const FUSE_MINOR = 31;
export const ROOT_ID = 1;

export const OP = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9, UNLINK: 10,
  RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17, RELEASE: 18, FSYNC: 20,
  FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28, RELEASEDIR: 29, FSYNCDIR: 30, CREATE: 35, INTERRUPT: 36,
  DESTROY: 38, BATCH_FORGET: 42, READDIRPLUS: 44, RENAME2: 45,
} as const;

/** Bytes of the fixed structures. */
export const SIZE = {
  IN_HEADER: 40,
  OUT_HEADER: 16,
  ENTRY_OUT: 128,
  ATTR_OUT: 104,
  OPEN_OUT: 16,
  WRITE_IN: 40,
  WRITE_OUT: 8,
  STATFS_OUT: 80,
  DIRENT: 24,
  /** fuse_init_out for protocol minors >= 23; older ones take the first 24 bytes. */
  INIT_OUT: 64,
  INIT_OUT_COMPAT: 24,
} as const;

/** FUSE_INIT flags this device offers; the reply carries those the guest offered too. No DAX, no locks. */
export const INIT_FLAG = {
  ASYNC_READ: 1 << 0,
  ATOMIC_O_TRUNC: 1 << 3,
  BIG_WRITES: 1 << 5,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
} as const;

/** fuse_setattr_in.valid */
export const FATTR = {
  MODE: 1, UID: 2, GID: 4, SIZE: 8, ATIME: 16, MTIME: 32, FH: 64, ATIME_NOW: 128, MTIME_NOW: 256,
} as const;

export const FSYNC_FDATASYNC = 1;
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

/** Largest WRITE (and READ) the device tells the guest about: 256 pages. */
export const MAX_PAGES = 256;
export const MAX_WRITE = MAX_PAGES * 4096;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

/** Longest name and symlink target a request may carry (NAME_MAX, PATH_MAX - 1). */
export const NAME_MAX = 255;
export const TARGET_MAX = 4095;

export const E = constants.errno;
