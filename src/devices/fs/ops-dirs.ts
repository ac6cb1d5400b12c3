// READDIR and READDIRPLUS: getdents64 on the directory handle from the offset the guest asks for, packed into the
// reply as fuse_dirent(plus) records until the next one would not fit. Offsets are the host's own d_off cookies.
import { native } from '../../base/native';
import { dirent, direntSize, isDots } from './codec';
import type { Handle } from './handles';
import { SIZE } from './protocol';
import type { Op, Reply, Request, Session } from './session';

const DENTS_BYTES = 32 * 1024;
/**
 * The most reply bytes one READDIR(PLUS) fills, what glibc's readdir asks for. A READDIRPLUS entry costs a lookup
 * (open and stat) on the main thread, and a chain's room may be 4 GiB; a short reply only makes the guest ask again.
 */
const REPLY_MAX = 32 * 1024;
const dents = Buffer.alloc(DENTS_BYTES);
const NO_ENTRY = Buffer.alloc(SIZE.ENTRY_OUT);

/** READDIRPLUS counts a lookup for every entry it returns; '.', '..' and names gone meanwhile get none. */
function plusEntry(s: Session, h: Handle, name: Uint8Array): Buffer {
  if (isDots(name)) return NO_ENTRY;
  try {
    return s.lookup(h.fd, name);
  } catch {
    return NO_ENTRY;
  }
}

function readdir(plus: boolean) {
  return (s: Session, r: Request): Reply => {
    const fh = r.args.u64();
    const offset = r.args.u64();
    const size = r.args.u32();
    const h = s.handles.get(fh, true);
    const n = native();
    const room = Math.min(size, r.out.capacity - SIZE.OUT_HEADER, REPLY_MAX);
    n.lseek(h.fd, BigInt.asIntN(64, offset), n.fsConstants.SEEK_SET);
    let used = 0;
    for (;;) {
      const got = n.getdents64(h.fd, dents);
      if (got === 0) break;
      for (let at = 0; at < got;) {
        // linux_dirent64: d_ino, d_off, d_reclen, d_type, d_name (NUL-terminated)
        const ino = dents.readBigInt64LE(at);
        const next = dents.readBigInt64LE(at + 8);
        const reclen = dents.readUInt16LE(at + 16);
        const type = dents.readUInt8(at + 18);
        const nameEnd = dents.indexOf(0, at + 19);
        const name = dents.subarray(at + 19, nameEnd < 0 || nameEnd > at + reclen ? at + reclen : nameEnd);
        at += reclen;
        const bytes = direntSize(name.length, plus);
        if (used + bytes > room) return { written: used };
        r.out.write(SIZE.OUT_HEADER + used, dirent(ino, next, type, name, plus ? plusEntry(s, h, name) : undefined));
        used += bytes;
      }
    }
    return { written: used };
  };
}

export const dirOps: Record<string, Op> = {
  READDIR: { name: 'readdir', run: readdir(false), reply: 0 },
  READDIRPLUS: { name: 'readdirplus', run: readdir(true), reply: 0 },
};
