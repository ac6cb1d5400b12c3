// A virtio-snd driven through the mock driver, the way Linux's virtio_snd lays out its messages: a control request
// in one readable buffer and its answer in one writable buffer; a transfer as the xfer header and the frames
// readable and the status writable (playback), or the header readable and the frames and the status writable
// (capture). Time is a clock the test moves by hand.
import { GuestMemory } from '../../../src/base/guest-memory';
import type { SndClock } from '../../../src/devices/snd/clock';
import { SndDevice, type SndOptions } from '../../../src/devices/snd/device';
import { FORMAT, RATE } from '../../../src/devices/snd/formats';
import {
  CONTROLQ, EVENTQ, PCM_STATUS_BYTES, QUERY_INFO_BYTES, REQ, RXQ, SET_PARAMS_BYTES, TXQ, XFER_BYTES,
} from '../../../src/devices/snd/protocol';
import { F_WRITE, MockDriver, mockContext, type Desc } from '../../virtio-mmio/mock-driver';

export const MEM_BYTES = 32 << 20;
const REQUEST = 0x80000;
const ANSWER = 0x90000;
/** Transfers' buffers are handed out from here on, each at its own address (the device holds them). */
const DATA = 0x100000;

/** A clock that moves only when the test says, running the wake-ups that fall due on the way. */
export class FakeClock implements SndClock {
  private t = 0;
  private readonly wakes = new Map<number, { at: number; fn: () => void }>();
  private nextId = 0;

  now(): number { return this.t; }

  wakeIn(ms: number, fn: () => void): () => void {
    const id = this.nextId++;
    this.wakes.set(id, { at: this.t + ms, fn });
    return () => this.wakes.delete(id);
  }

  /** Moves time on by `ms`, running each wake-up at its own time, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.wakes) if (e[1].at <= end && (first === undefined || e[1].at < first[1].at)) first = e;
      if (first === undefined) break;
      this.wakes.delete(first[0]);
      this.t = Math.max(this.t, first[1].at);
      first[1].fn();
    }
    this.t = end;
  }

  get pending(): number { return this.wakes.size; }
}

export interface ParamsRequest {
  stream?: number;
  bufferBytes?: number;
  periodBytes?: number;
  features?: number;
  channels?: number;
  format?: number;
  rate?: number;
}

export interface Completion { head: number; len: number; status: number; latency: number }

export function setup(opts: Omit<SndOptions, 'clock'> = {}) {
  const mem = GuestMemory.forTest([{ gpa: 0, size: MEM_BYTES }]);
  const drivers = [0, 0x10000, 0x20000, 0x30000].map((base, i) => new MockDriver(i < 2 ? 64 : 256, MEM_BYTES, { mem, base }));
  const clock = new FakeClock();
  const dev = new SndDevice({ ...opts, clock });
  const ctx = mockContext(dev, { memory: mem, queues: drivers.map((d) => d.queue()), features: 1n << 32n });
  dev.activate(ctx);
  const [ctrlq, , txq, rxq] = drivers as [MockDriver, MockDriver, MockDriver, MockDriver];
  let ctrlUsed = 0;
  let next = DATA;
  const alloc = (bytes: number): number => {
    const at = next;
    next += Math.max(16, (bytes + 15) & ~15);
    return at;
  };
  /** Where each held transfer's status lies, by head. */
  const statusAt = [new Map<number, number>(), new Map<number, number>()];
  const seen = [0, 0];

  /** Posts a control chain; the answer's first `room` bytes and used length, or undefined when not answered. */
  const control = (descs: Desc[], room: number): { reply: Buffer; len: number } | undefined => {
    mem.fill(ANSWER, Math.max(room, 64), 0xee);
    ctrlq.addChain(descs);
    dev.onQueueNotify(CONTROLQ);
    if (ctrlq.usedIdx() === ctrlUsed) return undefined;
    return { reply: Buffer.from(mem.read(ANSWER, Math.max(room, 4))), len: ctrlq.used(ctrlUsed++).len };
  };

  /** A request in one buffer with `room` bytes for its answer; the answer's status. */
  const request = (req: Buffer, room = 4) => {
    mem.write(REQUEST, req);
    const a = control([{ addr: REQUEST, len: req.length, flags: 0 }, { addr: ANSWER, len: room, flags: F_WRITE }], room);
    return a === undefined ? undefined : { ...a, status: a.reply.readUInt32LE(0) };
  };

  const query = (code: number, start: number, count: number, size: number, room = 4 + count * size) => {
    const req = Buffer.alloc(QUERY_INFO_BYTES);
    req.writeUInt32LE(code, 0);
    req.writeUInt32LE(start, 4);
    req.writeUInt32LE(count, 8);
    req.writeUInt32LE(size, 12);
    return request(req, room);
  };

  /** PREPARE, START, STOP or RELEASE of `stream`; the status. */
  const pcm = (code: number, stream: number): number | undefined => {
    const req = Buffer.alloc(8);
    req.writeUInt32LE(code, 0);
    req.writeUInt32LE(stream, 4);
    return request(req)?.status;
  };

  const setParams = (p: ParamsRequest = {}): number | undefined => {
    const req = Buffer.alloc(SET_PARAMS_BYTES);
    req.writeUInt32LE(REQ.PCM_SET_PARAMS, 0);
    req.writeUInt32LE(p.stream ?? 0, 4);
    req.writeUInt32LE(p.bufferBytes ?? 4 * 1920, 8);
    req.writeUInt32LE(p.periodBytes ?? 1920, 12);
    req.writeUInt32LE(p.features ?? 0, 16);
    req[20] = p.channels ?? 2;
    req[21] = p.format ?? FORMAT.S16;
    req[22] = p.rate ?? RATE.R48000;
    return request(req)?.status;
  };

  /** Posts a playback transfer of `frames` for `stream`; its head. */
  const tx = (frames: Buffer, stream = 0, o: { statusRoom?: number; headerBytes?: number } = {}): number => {
    const hdr = alloc(XFER_BYTES);
    mem.writeU32(hdr, stream);
    const descs: Desc[] = [{ addr: hdr, len: o.headerBytes ?? XFER_BYTES, flags: 0 }];
    if (frames.length > 0) {
      const at = alloc(frames.length);
      mem.write(at, frames);
      descs.push({ addr: at, len: frames.length, flags: 0 });
    }
    const room = o.statusRoom ?? PCM_STATUS_BYTES;
    const st = alloc(room);
    mem.fill(st, room, 0xee);
    if (room > 0) descs.push({ addr: st, len: room, flags: F_WRITE });
    const head = txq.addChain(descs);
    statusAt[0]!.set(head, st + room - PCM_STATUS_BYTES);
    dev.onQueueNotify(TXQ);
    return head;
  };

  /** Posts a capture transfer with room for `bytes` of frames; its head and where the frames land. */
  const rx = (bytes: number, stream = 1): { head: number; at: number } => {
    const hdr = alloc(XFER_BYTES);
    mem.writeU32(hdr, stream);
    const at = alloc(bytes + PCM_STATUS_BYTES);
    mem.fill(at, bytes + PCM_STATUS_BYTES, 0xee);
    const head = rxq.addChain([{ addr: hdr, len: XFER_BYTES, flags: 0 },
      { addr: at, len: bytes + PCM_STATUS_BYTES, flags: F_WRITE }]);
    statusAt[1]!.set(head, at + bytes);
    dev.onQueueNotify(RXQ);
    return { head, at };
  };

  /** The transfers the device gave back since the last call, on tx (0) or rx (1). */
  const completions = (which: 0 | 1): Completion[] => {
    const q = which === 0 ? txq : rxq;
    const out: Completion[] = [];
    for (; seen[which] !== q.usedIdx(); seen[which] = (seen[which]! + 1) & 0xffff) {
      const u = q.used(seen[which]!);
      const st = statusAt[which]!.get(u.id)!;
      out.push({ head: u.id, len: u.len, status: mem.readU32(st), latency: mem.readU32(st + 4) });
    }
    return out;
  };

  return { mem, dev, ctx, clock, drivers, ctrlq, txq, rxq, eventq: drivers[EVENTQ]!, control, request, query, pcm,
    setParams, tx, rx, completions };
}

export type Snd = ReturnType<typeof setup>;

/** SET_PARAMS, PREPARE and START of `stream`, each of which must be OK. */
export function startStream(s: Snd, p: ParamsRequest = {}): void {
  const stream = p.stream ?? 0;
  for (const [what, status] of [['SET_PARAMS', s.setParams({ ...p, stream })], ['PREPARE', s.pcm(REQ.PCM_PREPARE, stream)],
    ['START', s.pcm(REQ.PCM_START, stream)]] as const) {
    if (status !== 0x8000) throw new Error(`${what} of stream ${stream} answered ${String(status)}`);
  }
}
