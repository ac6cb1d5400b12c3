// The host side of the share: every name is resolved beneath a directory fd the device holds, one component at a
// time, with openat2 refusing any walk out of it (RESOLVE_BENEATH) and through any symlink (RESOLVE_NO_SYMLINKS),
// so a symlink in the share is data the guest reads, never a door out. Calls that cannot take an O_PATH fd go
// through /proc/self/fd/N of that fd, which leads back only to the inode it pins, and only after a type check.
import * as fs from 'node:fs';
import { native, type FsConstants, type FsName } from '../../base/native';
import { FsError } from './errors';
import { E, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from './protocol';

/** fstat of a host file, as the addon fills it (see NativeAddon.fstatat). */
export class HostStat {
  constructor(readonly raw: BigInt64Array) {}
  get dev(): bigint { return this.raw[0]!; }
  get ino(): bigint { return this.raw[1]!; }
  get mode(): number { return Number(this.raw[2]); }
  get nlink(): number { return Number(this.raw[3]); }
  get type(): number { return this.mode & S_IFMT; }
  get uid(): number { return Number(this.raw[4]); }
  get gid(): number { return Number(this.raw[5]); }
  private k: string | undefined;
  /** Identifies the inode across names and fds. */
  get key(): string { return (this.k ??= `${this.dev}:${this.ino}`); }
}

export class Host {
  private readonly c: FsConstants = native().fsConstants;
  readonly rootFd: number;
  private readonly procFd: number;
  private readonly resolve: number;
  /** openat2 is Linux 5.6+; before it, single-component names with O_NOFOLLOW give the same guarantee. */
  private hasOpenat2 = true;

  constructor(root: string) {
    const c = this.c;
    this.resolve = c.RESOLVE_BENEATH | c.RESOLVE_NO_MAGICLINKS | c.RESOLVE_NO_SYMLINKS;
    this.rootFd = fs.openSync(root, c.O_PATH | c.O_DIRECTORY | c.O_NOFOLLOW);
    try {
      this.procFd = fs.openSync('/proc/self/fd', c.O_PATH | c.O_DIRECTORY);
    } catch (e) {
      fs.closeSync(this.rootFd);
      throw e;
    }
  }

  close(): void {
    for (const fd of [this.rootFd, this.procFd]) closeQuietly(fd);
  }

  /** Opens one name beneath `dirFd` without following a symlink anywhere: O_PATH for lookups, else for create. */
  openBeneath(dirFd: number, name: FsName, flags: number, mode = 0): number {
    const c = this.c;
    const f = flags | c.O_NOFOLLOW;
    if (this.hasOpenat2) {
      try {
        return native().openat2(dirFd, name, f, mode, this.resolve);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSYS') throw e;
        this.hasOpenat2 = false;
      }
    }
    if (typeof name !== 'string' && name.includes(0x2f)) throw new FsError(E.EINVAL, 'name with a slash');
    return native().openat(dirFd, name, f, mode);
  }

  /**
   * Where the inode an fd pins is, as a path beneath the share ('.' for the share itself), for a snapshot; undefined
   * when it has no name any more (deleted) or is not beneath the share.
   */
  pathOf(fd: number): string | undefined {
    if (this.stat(fd).nlink === 0) return undefined;
    const root = fs.readlinkSync(`/proc/self/fd/${this.rootFd}`);
    const at = fs.readlinkSync(`/proc/self/fd/${fd}`);
    if (at === root) return '.';
    return at.startsWith(`${root}/`) ? at.slice(root.length + 1) : undefined;
  }

  lookup(dirFd: number, name: FsName): number {
    return this.openBeneath(dirFd, name, this.c.O_PATH);
  }

  stat(fd: number): HostStat {
    const raw = new BigInt64Array(16);
    native().fstatat(fd, '', this.c.AT_EMPTY_PATH | this.c.AT_SYMLINK_NOFOLLOW, raw);
    return new HostStat(raw);
  }

  /** A real fd for the regular file or directory an O_PATH fd pins (the fd's type is checked first). */
  reopen(pathFd: number, st: HostStat, flags: number): number {
    if (st.type === S_IFDIR) return this.openBeneath(pathFd, '.', (flags & ~this.c.O_ACCMODE) | this.c.O_DIRECTORY);
    if (st.type !== S_IFREG) throw new FsError(st.type === S_IFLNK ? E.ELOOP : E.EPERM, 'not a regular file');
    const fd = native().openat(this.procFd, String(pathFd), flags & ~this.c.O_DIRECTORY, 0);
    const now = this.stat(fd);
    if (now.key !== st.key) {
      closeQuietly(fd);
      throw new FsError(E.ESTALE, 'reopened a different inode');
    }
    return fd;
  }

  /** chmod of the inode itself (symlinks: EOPNOTSUPP, as Linux answers lchmod). */
  chmod(pathFd: number, mode: number): void { native().fchmodat(this.procFd, String(pathFd), mode & 0o7777); }

  chown(pathFd: number, uid: number, gid: number): void {
    native().fchownat(pathFd, '', uid, gid, this.c.AT_EMPTY_PATH | this.c.AT_SYMLINK_NOFOLLOW);
  }

  /** Times of the inode itself, a symlink's own included; nsec may be UTIME_NOW or UTIME_OMIT. */
  utimens(pathFd: number, atime: bigint, atimeNs: number, mtime: bigint, mtimeNs: number): void {
    native().utimensat(this.procFd, String(pathFd), atime, atimeNs, mtime, mtimeNs, 0);
  }

  /** A new hard link `name` in `dirFd` to the inode `pathFd` pins. */
  link(pathFd: number, dirFd: number, name: FsName): void {
    native().linkat(this.procFd, String(pathFd), dirFd, name, this.c.AT_SYMLINK_FOLLOW);
  }

  readlink(pathFd: number): Buffer {
    const buf = Buffer.alloc(4096);
    return buf.subarray(0, native().readlinkat(pathFd, '', buf));
  }
}

export function closeQuietly(fd: number): void {
  try { fs.closeSync(fd); } catch { /* already closed */ }
}
