// A writer for the "newc" cpio format (magic 070701), the one the Linux initramfs unpacker reads. Building the
// archive in memory needs no root: device nodes and owners are just header fields.
//
// Layout (Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header of the magic and
// 13 eight-digit hex fields, the NUL-terminated name padded so the data starts on a 4-byte boundary, the data
// padded to 4 bytes; the archive ends with an entry named TRAILER!!!.

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char' | 'block'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const MAX_FIELD = 0xffffffff;
const HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';

export class CpioError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`cpio entry ${JSON.stringify(path)}: ${reason}`);
    this.name = 'CpioError';
  }
}

interface Header {
  ino: number; mode: number; nlink: number; size: number;
  rdevMajor: number; rdevMinor: number;
}

/** The whole archive. Entries are written in the order given, so list a directory before what it holds. */
export function writeNewcArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    checkPath(entry.path, seen);
    const { header, data } = describe(entry, index + 1);
    parts.push(encodeEntry(entry.path, header, data));
  });
  parts.push(encodeEntry(TRAILER, { ino: 0, mode: 0, nlink: 1, size: 0, rdevMajor: 0, rdevMinor: 0 }, undefined));
  return Buffer.concat(parts);
}

// The kernel takes names relative to its root: 'init', 'dev/console'. A leading '/' or '..' would mean an
// archive whose meaning depends on the unpacker, so refuse them.
function checkPath(path: string, seen: Set<string>): void {
  if (path === '' || path.startsWith('/') || path.endsWith('/')) {
    throw new CpioError(path, 'must be a relative path without a leading or trailing /');
  }
  if (path.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new CpioError(path, 'must not contain empty, . or .. components');
  }
  if (path.includes('\0')) throw new CpioError(path, 'must not contain NUL');
  if (path === TRAILER) throw new CpioError(path, 'is the end-of-archive marker');
  if (seen.has(path)) throw new CpioError(path, 'appears twice');
  seen.add(path);
}

function describe(entry: CpioEntry, ino: number): { header: Header; data: Uint8Array | undefined } {
  const base = { ino, nlink: 1, rdevMajor: 0, rdevMinor: 0 };
  switch (entry.type) {
    case 'dir':
      return { header: { ...base, nlink: 2, mode: S_IFDIR | permissions(entry, 0o755), size: 0 }, data: undefined };
    case 'file':
      checkField(entry.path, 'size', entry.data.length);
      return { header: { ...base, mode: S_IFREG | permissions(entry, 0o644), size: entry.data.length }, data: entry.data };
    case 'symlink': {
      if (entry.target === '') throw new CpioError(entry.path, 'symlink target is empty');
      const target = Buffer.from(entry.target, 'utf8');
      return { header: { ...base, mode: S_IFLNK | 0o777, size: target.length }, data: target };
    }
    case 'char':
    case 'block': {
      checkField(entry.path, 'major', entry.major);
      checkField(entry.path, 'minor', entry.minor);
      const kind = entry.type === 'char' ? S_IFCHR : S_IFBLK;
      const header = { ...base, mode: kind | permissions(entry, 0o600), size: 0 };
      return { header: { ...header, rdevMajor: entry.major, rdevMinor: entry.minor }, data: undefined };
    }
  }
}

function permissions(entry: { path: string; mode?: number }, fallback: number): number {
  const mode = entry.mode ?? fallback;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new CpioError(entry.path, `mode ${mode} is not a permission value (0 to 0o7777)`);
  }
  return mode;
}

function checkField(path: string, field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_FIELD) {
    throw new CpioError(path, `${field} ${value} does not fit the 32-bit header field`);
  }
}

function encodeEntry(name: string, h: Header, data: Uint8Array | undefined): Buffer {
  const nameBytes = Buffer.from(name + '\0', 'utf8');
  // Fields in header order; uid, gid and mtime are 0 so the archive is the same on every build.
  const fields = [h.ino, h.mode, 0, 0, h.nlink, 0, h.size, 0, 0, h.rdevMajor, h.rdevMinor, nameBytes.length, 0];
  const header = Buffer.from('070701' + fields.map(hex8).join(''), 'ascii');
  const namePad = pad4(HEADER_SIZE + nameBytes.length);
  const parts: Buffer[] = [header, nameBytes, Buffer.alloc(namePad)];
  if (data !== undefined && data.length > 0) {
    parts.push(Buffer.from(data.buffer, data.byteOffset, data.length), Buffer.alloc(pad4(data.length)));
  }
  return Buffer.concat(parts);
}

function hex8(value: number): string {
  return value.toString(16).toUpperCase().padStart(8, '0');
}

function pad4(length: number): number {
  return (4 - (length % 4)) % 4;
}
