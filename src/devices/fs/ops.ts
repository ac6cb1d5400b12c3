// The operation table: opcode to handler, plus the connection-level operations (INIT, DESTROY, INTERRUPT).
// An opcode missing here is answered ENOSYS, which the guest kernel remembers and stops sending.
import { EMPTY } from './codec';
import { fail } from './errors';
import { E, FUSE_MAJOR, FUSE_MINOR, INIT_FLAG, MAX_PAGES, MAX_WRITE, OP, SIZE } from './protocol';
import type { Op, Reply, Request, Session } from './session';
import { dirOps } from './ops-dirs';
import { entryOps } from './ops-entries';
import { fileOps } from './ops-files';
import { nameOps } from './ops-names';

const OFFERED = Object.values(INIT_FLAG).reduce((a, b) => a | b, 0);
const MAX_BACKGROUND = 64;
const CONGESTION_THRESHOLD = 48;

function init(s: Session, r: Request): Reply {
  const major = r.args.u32();
  const minor = r.args.u32();
  const readahead = r.args.u32();
  const flags = r.args.u32();
  if (s.minor !== 0) fail(E.EPROTO, 'second INIT');
  if (major < FUSE_MAJOR) fail(E.EPROTO, `FUSE ${major}.${minor} is too old`);
  const size = major > FUSE_MAJOR ? 8 : minor >= 23 ? SIZE.INIT_OUT : SIZE.INIT_OUT_COMPAT;
  // The session changes only with a reply that will reach the guest: one refused for room leaves it uninitialised.
  if (r.out.capacity < SIZE.OUT_HEADER + size) fail(E.ERANGE, 'no room for the init reply');
  const b = Buffer.alloc(size);
  b.writeUInt32LE(FUSE_MAJOR, 0);
  b.writeUInt32LE(FUSE_MINOR, 4);
  // A newer major gets ours alone and is expected to send INIT again in our version.
  if (major > FUSE_MAJOR) return b;
  s.minor = Math.min(minor, FUSE_MINOR);
  const agreed = (flags & OFFERED) >>> 0;
  b.writeUInt32LE(s.minor, 4);
  b.writeUInt32LE(readahead, 8);
  b.writeUInt32LE(agreed, 12);
  b.writeUInt16LE(MAX_BACKGROUND, 16);
  b.writeUInt16LE(CONGESTION_THRESHOLD, 18);
  b.writeUInt32LE(MAX_WRITE, 20);
  if (b.length > SIZE.INIT_OUT_COMPAT) {
    b.writeUInt32LE(1, 24); // time_gran: nanoseconds
    if (agreed & INIT_FLAG.MAX_PAGES) b.writeUInt16LE(MAX_PAGES, 28);
  }
  return b;
}

function destroy(s: Session): Reply {
  s.reset();
  return EMPTY;
}

const connectionOps: Record<string, Op> = {
  INIT: { name: 'init', run: init, reply: SIZE.INIT_OUT_COMPAT },
  DESTROY: { name: 'destroy', run: destroy, reply: 0 },
  // Linux's virtio-fs driver does not send interrupts; one that arrives anyway is dropped, as FUSE allows.
  INTERRUPT: { name: 'interrupt', run: () => 'none', reply: 0, noReply: true },
};

export const OPS = new Map<number, Op>();
for (const table of [connectionOps, entryOps, nameOps, fileOps, dirOps]) {
  for (const [key, op] of Object.entries(table)) {
    const opcode = OP[key as keyof typeof OP] as number | undefined;
    if (opcode === undefined) throw new Error(`no FUSE opcode ${key}`);
    OPS.set(opcode, op);
  }
}
