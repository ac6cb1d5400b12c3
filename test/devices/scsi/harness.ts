// A virtio-scsi adapter over scratch images, driven through the mock driver: commands, task management and
// notification requests are written as a guest would write them (virtio_scsi_req_cmd and the rest) and awaited on
// the device's used-ring notification for that chain, never on a timer.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '../../../src/base/guest-memory';
import { ScsiDevice } from '../../../src/devices/scsi/device';
import type { ScsiDiskOptions } from '../../../src/devices/scsi/disk';
import { F_WRITE, MockDriver, mockContext, type Desc } from '../../virtio-mmio/mock-driver';

export const MEM_BYTES = 16 << 20;
/** Where request buffers are handed out from (past the three queues' rings). */
const BUFFERS = 0x100000;
const RING = 64;

export interface DiskSetup extends Partial<ScsiDiskOptions> {
  /** Image size in bytes (default 1 MiB); ignored with `path`. */
  bytes?: number;
  /** Fill byte of a made image (default 0xab); undefined with `sparse`. */
  fill?: number;
  sparse?: boolean;
}

export interface CmdOptions {
  target?: number;
  /** The 8 LUN bytes as sent (default: target `target`, LUN 0 in flat addressing). */
  lun?: number[];
  tag?: bigint;
  /** Data-in room in bytes. */
  inLen?: number;
  /** Data-out bytes. */
  out?: Uint8Array;
  /** The response's sense room; default the device's (96). */
  senseSize?: number;
  /** The CDB field's size; default the device's (32). */
  cdbSize?: number;
}

export interface CmdResult {
  senseLen: number;
  resid: number;
  statusQualifier: number;
  status: number;
  response: number;
  sense: Buffer;
  data: Buffer;
  usedLen: number;
}

export const lun = (target: number, unit = 0): number[] => [1, target, 0x40 | (unit >> 8), unit & 0xff, 0, 0, 0, 0];

/** A pattern that differs from block to block, so data landing in the wrong place shows. */
export function pattern(bytes: number, seed = 0): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) b[i] = (i + seed + (i >> 9) * 7) & 0xff;
  return b;
}

class QueueRig {
  private seen = 0;
  private readonly waiting = new Map<number, (len: number) => void>();

  constructor(readonly d: MockDriver) {}

  /** Makes `descs` available; resolves with the used length once the device gives that chain back. */
  post(descs: Desc[]): Promise<number> {
    return new Promise((resolve) => { this.waiting.set(this.d.addChain(descs), resolve); });
  }

  drain(): void {
    while (this.seen !== this.d.usedIdx()) {
      const { id, len } = this.d.used(this.seen);
      this.seen = (this.seen + 1) & 0xffff;
      this.waiting.get(id)?.(len);
      this.waiting.delete(id);
    }
  }
}

export function setup(disks: DiskSetup[] = [{}]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-scsi-'));
  const files = disks.map((d, i) => {
    if (d.path !== undefined) return d.path;
    const file = path.join(dir, `disk${i}.img`);
    const bytes = d.bytes ?? 1 << 20;
    if (d.sparse) {
      fs.writeFileSync(file, '');
      fs.truncateSync(file, bytes);
    } else {
      fs.writeFileSync(file, Buffer.alloc(bytes, d.fill ?? 0xab));
    }
    return file;
  });
  const dev = new ScsiDevice({
    disks: disks.map((d, i) => ({ path: files[i]!, readonly: d.readonly ?? false, ...(d.serial === undefined ? {} : { serial: d.serial }) })),
  });
  const mem = GuestMemory.forTest([{ gpa: 0, size: MEM_BYTES }]);
  const rigs = [0, 1, 2].map((q) => new QueueRig(new MockDriver(RING, 0, { mem, base: 0x10000 * q })));
  const queues = rigs.map((r) => r.d.queue());
  /** The queue of each notifyUsed, in order: which of two chains on different queues completed first. */
  const usedLog: number[] = [];
  const ctx = mockContext(dev, {
    memory: mem, queues, features: dev.features,
    onUsed: (q) => {
      usedLog.push(queues.indexOf(q));
      for (const r of rigs) r.drain();
    },
  });
  dev.activate(ctx);
  let next = BUFFERS;
  const alloc = (n: number): number => {
    if (next + n > MEM_BYTES) next = BUFFERS;
    const at = next;
    next += Math.ceil(Math.max(n, 1) / 64) * 64;
    return at;
  };
  const place = (bytes: Uint8Array): number => {
    const at = alloc(bytes.length);
    mem.write(at, bytes);
    return at;
  };

  /** Posts a command without waiting for it (and without notifying: `kick` does). */
  const post = (cdb: number[], o: CmdOptions = {}): Promise<CmdResult> => {
    const cdbSize = o.cdbSize ?? 32;
    const senseSize = o.senseSize ?? 96;
    const header = Buffer.alloc(19 + cdbSize);
    Buffer.from(o.lun ?? lun(o.target ?? 0)).copy(header, 0);
    header.writeBigUInt64LE(o.tag ?? 0n, 8);
    Buffer.from(cdb).copy(header, 19);
    const respAt = alloc(12 + senseSize);
    mem.fill(respAt, 12 + senseSize, 0xee);
    const inLen = o.inLen ?? 0;
    const inAt = alloc(inLen);
    if (inLen > 0) mem.fill(inAt, inLen, 0xcc);
    const descs: Desc[] = [{ addr: place(header), len: header.length, flags: 0 }];
    if (o.out !== undefined && o.out.length > 0) descs.push({ addr: place(o.out), len: o.out.length, flags: 0 });
    descs.push({ addr: respAt, len: 12 + senseSize, flags: F_WRITE });
    if (inLen > 0) descs.push({ addr: inAt, len: inLen, flags: F_WRITE });
    return rigs[2]!.post(descs).then((usedLen) => {
      const senseLen = mem.readU32(respAt);
      return {
        senseLen, resid: mem.readU32(respAt + 4), statusQualifier: mem.readU16(respAt + 8),
        status: mem.readU8(respAt + 10), response: mem.readU8(respAt + 11),
        sense: Buffer.from(mem.read(respAt + 12, Math.min(senseLen, senseSize))),
        data: Buffer.from(mem.read(inAt, inLen)), usedLen,
      };
    });
  };
  const kick = (q = 2): void => dev.onQueueNotify(q);
  const cmd = (cdb: number[], o: CmdOptions = {}): Promise<CmdResult> => {
    const done = post(cdb, o);
    kick();
    return done;
  };

  /** A task management function; resolves with the response byte. */
  const tmf = (subtype: number, lunBytes: number[], tag = 0n, kickNow = true): Promise<number> => {
    const req = Buffer.alloc(24);
    req.writeUInt32LE(0, 0);
    req.writeUInt32LE(subtype, 4);
    Buffer.from(lunBytes).copy(req, 8);
    req.writeBigUInt64LE(tag, 16);
    const respAt = alloc(1);
    mem.writeU8(respAt, 0xee);
    const done = rigs[0]!.post([{ addr: place(req), len: 24, flags: 0 }, { addr: respAt, len: 1, flags: F_WRITE }]);
    if (kickNow) kick(0);
    return done.then(() => mem.readU8(respAt));
  };

  /** An AN_QUERY (1) or AN_SUBSCRIBE (2). */
  const an = async (type: number, lunBytes: number[], events: number): Promise<{ eventActual: number; response: number }> => {
    const req = Buffer.alloc(16);
    req.writeUInt32LE(type, 0);
    Buffer.from(lunBytes).copy(req, 4);
    req.writeUInt32LE(events, 12);
    const respAt = alloc(5);
    mem.fill(respAt, 5, 0xee);
    const done = rigs[0]!.post([{ addr: place(req), len: 16, flags: 0 }, { addr: respAt, len: 5, flags: F_WRITE }]);
    kick(0);
    await done;
    return { eventActual: mem.readU32(respAt), response: mem.readU8(respAt + 4) };
  };

  const cleanup = async (): Promise<void> => {
    dev.reset();
    await dev.quiesce();
    dev.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { dev, mem, rigs, files, dir, ctx, usedLog, failures: ctx.failures, alloc, place, post, kick, cmd, tmf, an, cleanup };
}

export type Scsi = ReturnType<typeof setup>;

/** Runs `body` on a fresh adapter and cleans up after it, whatever happens. */
export async function withScsi(disks: DiskSetup[], body: (s: Scsi) => Promise<void>): Promise<void> {
  const s = setup(disks);
  try {
    await body(s);
  } finally {
    await s.cleanup();
  }
}

/** Fixed-format sense as [key, asc, ascq]. */
export const senseOf = (r: CmdResult): [number, number, number] => [r.sense[2]! & 0x0f, r.sense[12]!, r.sense[13]!];

export const be16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
export const be32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
export const be64 = (v: number): number[] => [...be32(Math.floor(v / 2 ** 32)), ...be32(v >>> 0)];
