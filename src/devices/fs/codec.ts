// Reading FUSE requests out of a chain's readable part and writing replies into its writable part. Requests are
// read through a bounds-checked cursor (a short or malformed request is EINVAL, never a read past the bytes the
// guest gave); replies are scattered into the writable buffers and never written past them.
import { E, NAME_MAX, SIZE } from './protocol';
import { FsError } from './errors';
import type { HostStat } from './host';
import { scatter, sliceSegments, totalBytes } from '../../virtio-mmio/segments';

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A u64 from the guest as a number; undefined past 2^53 - 1, which no id, size or offset of the device reaches. */
export const safeNumber = (v: bigint): number | undefined => (v <= MAX_SAFE ? Number(v) : undefined);

/** The entry of a table keyed by numbers that a guest's u64 names (a node id, a file handle). */
export function byGuestKey<T>(table: Map<number, T>, key: bigint): T | undefined {
  const k = safeNumber(key);
  return k === undefined ? undefined : table.get(k);
}

/** '.' or '..': names of other entries than the one they seem to name. */
export const isDots = (name: Uint8Array): boolean =>
  name[0] === 0x2e && (name.length === 1 || (name.length === 2 && name[1] === 0x2e));

/** A cursor over a request's argument bytes. */
export class Args {
  private at = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number { return this.buf.length - this.at; }

  private take(n: number): number {
    if (this.remaining < n) throw new FsError(E.EINVAL, 'request shorter than its arguments');
    const at = this.at;
    this.at += n;
    return at;
  }

  u32(): number { return this.buf.readUInt32LE(this.take(4)); }
  u64(): bigint { return this.buf.readBigUInt64LE(this.take(8)); }
  skip(n: number): void { this.take(n); }

  /** A NUL-terminated byte string (a name or a symlink target), as a view without its NUL. */
  bytes(): Buffer {
    const end = this.buf.indexOf(0, this.at);
    if (end < 0) throw new FsError(E.EINVAL, 'string without its NUL');
    const s = this.buf.subarray(this.at, end);
    this.at = end + 1;
    return s;
  }

  /** A name of one path component: no '/', not empty, not '.' or '..' (EPERM: they name other entries). */
  name(): Buffer {
    const s = this.bytes();
    if (s.length === 0 || s.includes(0x2f)) throw new FsError(E.EINVAL, 'bad name');
    if (s.length > NAME_MAX) throw new FsError(E.ENAMETOOLONG, 'name too long');
    if (isDots(s)) throw new FsError(E.EPERM, 'dot name');
    return s;
  }
}

/** The writable part of a chain, where the reply goes. */
export class ReplyWriter {
  readonly capacity: number;
  constructor(private readonly segs: Uint8Array[]) {
    this.capacity = totalBytes(segs);
  }

  write(offset: number, bytes: Uint8Array): void {
    if (offset + bytes.length > this.capacity) throw new RangeError('reply past the writable buffers');
    scatter(this.segs, offset, bytes);
  }

  views(offset: number, length: number): Uint8Array[] { return sliceSegments(this.segs, offset, length); }
}

/** The reply of ops that answer with fuse_out_header alone. Never written to: it has no bytes. */
export const EMPTY = Buffer.alloc(0);

/** Scratch for fuse_out_header: filled and copied into the chain at once, so one serves every reply. */
const header = Buffer.alloc(SIZE.OUT_HEADER);

export function writeOutHeader(out: ReplyWriter, len: number, errno: number, unique: bigint): void {
  header.writeUInt32LE(len, 0);
  header.writeInt32LE(-errno, 4);
  header.writeBigUInt64LE(unique, 8);
  out.write(0, header);
}

/** fuse_attr at `at`. */
export function writeAttr(b: Buffer, at: number, st: HostStat): void {
  const v = st.raw;
  b.writeBigInt64LE(v[1]!, at); // ino
  b.writeBigInt64LE(v[7]!, at + 8); // size
  b.writeBigInt64LE(v[8]!, at + 16); // blocks
  b.writeBigInt64LE(v[10]!, at + 24); // atime
  b.writeBigInt64LE(v[12]!, at + 32); // mtime
  b.writeBigInt64LE(v[14]!, at + 40); // ctime
  b.writeUInt32LE(Number(v[11]), at + 48);
  b.writeUInt32LE(Number(v[13]), at + 52);
  b.writeUInt32LE(Number(v[15]), at + 56);
  b.writeUInt32LE(st.mode, at + 60);
  b.writeUInt32LE(Number(v[3]) >>> 0, at + 64); // nlink
  b.writeUInt32LE(Number(v[4]) >>> 0, at + 68); // uid
  b.writeUInt32LE(Number(v[5]) >>> 0, at + 72); // gid
  // glibc's dev_t and the kernel's new_encode_dev agree in the low 32 bits for every real device number.
  b.writeUInt32LE(Number(BigInt.asUintN(32, v[6]!)), at + 76);
  b.writeUInt32LE(Number(v[9]) >>> 0, at + 80); // blksize
}

/** Seconds the guest may cache entries and attributes: changes made on the host show within this. */
const VALID_SECONDS = 1n;

/** fuse_entry_out: the node id, entry and attribute validity (the nsec parts 0), the attributes. */
export function entryOut(nodeid: number, st: HostStat): Buffer {
  const b = Buffer.alloc(SIZE.ENTRY_OUT);
  b.writeBigUInt64LE(BigInt(nodeid), 0);
  b.writeBigUInt64LE(VALID_SECONDS, 16);
  b.writeBigUInt64LE(VALID_SECONDS, 24);
  writeAttr(b, 40, st);
  return b;
}

export function attrOut(st: HostStat): Buffer {
  const b = Buffer.alloc(SIZE.ATTR_OUT);
  b.writeBigUInt64LE(VALID_SECONDS, 0);
  writeAttr(b, 16, st);
  return b;
}

export function openOut(fh: number): Buffer {
  const b = Buffer.alloc(SIZE.OPEN_OUT);
  b.writeBigUInt64LE(BigInt(fh), 0);
  return b;
}

const align8 = (n: number): number => (n + 7) & ~7;

/** Bytes a fuse_dirent (plus: fuse_direntplus) with this name takes, padded to 8. */
export const direntSize = (nameLen: number, plus: boolean): number =>
  (plus ? SIZE.ENTRY_OUT : 0) + align8(SIZE.DIRENT + nameLen);

/** fuse_dirent: ino, the offset of the next entry, name length, type (DT_*), name, zero padding. */
export function dirent(ino: bigint, next: bigint, type: number, name: Uint8Array, entry?: Buffer): Buffer {
  const pre = entry?.length ?? 0;
  const b = Buffer.alloc(pre + align8(SIZE.DIRENT + name.length));
  if (entry) entry.copy(b);
  b.writeBigInt64LE(ino, pre);
  b.writeBigInt64LE(next, pre + 8);
  b.writeUInt32LE(name.length, pre + 16);
  b.writeUInt32LE(type, pre + 20);
  b.set(name, pre + SIZE.DIRENT);
  return b;
}
