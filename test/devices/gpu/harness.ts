// A virtio-gpu driven through the mock driver, the way Linux's virtio-gpu driver writes its requests: the request
// structure in one device-readable buffer, room for the answer in one device-writable buffer. Both queues, the
// requests and the guest's backing pages live in one test guest memory.
import { GuestMemory } from '../../../src/base/guest-memory';
import { GpuDevice, type GpuOptions } from '../../../src/devices/gpu/device';
import { CMD, F_EDID, FLAG_FENCE, HDR_BYTES } from '../../../src/devices/gpu/protocol';
import { until } from '../../helpers/wait';
import { F_WRITE, MockDriver, mockContext } from '../../virtio-mmio/mock-driver';

export const MEM_BYTES = 16 << 20;
/** Requests and answers (the rings sit at 0x1000..0x3fff and 0x11000..0x13fff). */
export const REQ = 0x20000;
export const ANSWER = 0x80000;
/** The guest's pages for backings: from 1 MiB to the end of RAM. */
export const PAGES = 0x100000;

export interface Reply { type: number; flags: number; fenceId: bigint; ctxId: number; len: number; body: Buffer }

export interface SendOptions {
  /** Room for the answer (default: what the command answers on success). */
  room?: number;
  /** Device-readable bytes (default: the whole request). */
  readable?: number;
  fence?: bigint;
  ctxId?: number;
}

const ROOM: Record<number, number> = { [CMD.GET_DISPLAY_INFO]: 408, [CMD.GET_EDID]: HDR_BYTES + 8 + 1024 };

/** A control request: the header (type, fence, ctx_id), then the little-endian u32 fields, then `extra`. */
export function request(type: number, fields: (number | bigint)[] = [], extra?: Buffer, fence?: bigint, ctxId = 0): Buffer {
  const size = HDR_BYTES + fields.reduce<number>((n, f) => n + (typeof f === 'bigint' ? 8 : 4), 0);
  const b = Buffer.alloc(size);
  b.writeUInt32LE(type, 0);
  if (fence !== undefined) {
    b.writeUInt32LE(FLAG_FENCE, 4);
    b.writeBigUInt64LE(fence, 8);
  }
  b.writeUInt32LE(ctxId, 16);
  let at = HDR_BYTES;
  for (const f of fields) {
    if (typeof f === 'bigint') { b.writeBigUInt64LE(f, at); at += 8; } else { b.writeUInt32LE(f >>> 0, at); at += 4; }
  }
  return extra === undefined ? b : Buffer.concat([b, extra]);
}

export function setup(opts: Partial<GpuOptions> = {}, features = 1n << F_EDID) {
  const mem = GuestMemory.forTest([{ gpa: 0, size: MEM_BYTES }]);
  const ctrl = new MockDriver(64, MEM_BYTES, { mem });
  const cursorq = new MockDriver(16, MEM_BYTES, { mem, base: 0x10000 });
  const dev = new GpuDevice({ width: 1024, height: 768, scanouts: 1, ...opts });
  const ctx = mockContext(dev, { memory: mem, queues: [ctrl.queue(), cursorq.queue()], features });
  dev.activate(ctx);
  let used = 0;
  let cursorUsed = 0;

  const post = (req: Buffer, o: SendOptions): number => {
    const room = o.room ?? ROOM[req.readUInt32LE(0)] ?? HDR_BYTES;
    mem.write(REQ, req);
    mem.fill(ANSWER, Math.max(room, 1), 0xee);
    const descs = [{ addr: REQ, len: o.readable ?? req.length, flags: 0 }];
    if (room > 0) descs.push({ addr: ANSWER, len: room, flags: F_WRITE });
    ctrl.addChain(descs);
    dev.onQueueNotify(0);
    return room;
  };
  const reply = (): Reply => {
    const u = ctrl.used(used++);
    const h = Buffer.from(mem.read(ANSWER, Math.max(u.len, HDR_BYTES)));
    return {
      type: h.readUInt32LE(0), flags: h.readUInt32LE(4), fenceId: h.readBigUInt64LE(8), ctxId: h.readUInt32LE(16),
      len: u.len, body: h.subarray(HDR_BYTES, u.len),
    };
  };
  /** Sends one request that is answered at once. */
  const send = (req: Buffer, o: SendOptions = {}): Reply => {
    post(req, o);
    if (ctrl.usedIdx() === used) throw new Error(`request 0x${req.readUInt32LE(0).toString(16)} was not answered at once`);
    return reply();
  };
  /** Sends one request and waits for its answer (a transfer runs over several turns). */
  const sendAndWait = async (req: Buffer, o: SendOptions = {}): Promise<Reply> => {
    post(req, o);
    await until(() => ctrl.usedIdx() !== used || ctx.failures.length > 0, 'the answer');
    if (ctx.failures.length > 0) throw new Error(`the device failed: ${ctx.failures.join('; ')}`);
    return reply();
  };
  /** Sends a cursor command (56 bytes, or `len`); returns the used length it came back with. */
  const cursor = (req: Buffer, len = req.length): number | undefined => {
    mem.write(REQ, req);
    cursorq.addChain([{ addr: REQ, len, flags: 0 }]);
    dev.onQueueNotify(1);
    return cursorq.usedIdx() === cursorUsed ? undefined : cursorq.used(cursorUsed++).len;
  };
  const type = (req: Buffer, o?: SendOptions): number => send(req, o).type;

  return { mem, ctrl, cursorq, dev, ctx, send, sendAndWait, type, cursor };
}

export type Gpu = ReturnType<typeof setup>;

/** RESOURCE_CREATE_2D. */
export const create2d = (id: number, format: number, width: number, height: number, fence?: bigint): Buffer =>
  request(CMD.RESOURCE_CREATE_2D, [id, format, width, height], undefined, fence);

/** RESOURCE_ATTACH_BACKING with entries { addr, length }. */
export function attachBacking(id: number, entries: { addr: number | bigint; length: number }[], count = entries.length): Buffer {
  const list = Buffer.alloc(16 * entries.length);
  entries.forEach((e, i) => {
    list.writeBigUInt64LE(BigInt(e.addr), 16 * i);
    list.writeUInt32LE(e.length, 16 * i + 8);
  });
  return request(CMD.RESOURCE_ATTACH_BACKING, [id, count], list);
}

/** TRANSFER_TO_HOST_2D of rect (x, y, w, h) from backing offset `offset`. */
export const transfer = (id: number, rect: [number, number, number, number], offset = 0n, fence?: bigint): Buffer =>
  request(CMD.TRANSFER_TO_HOST_2D, [...rect, offset, id, 0], undefined, fence);

export const setScanout = (scanout: number, id: number, rect: [number, number, number, number]): Buffer =>
  request(CMD.SET_SCANOUT, [...rect, scanout, id]);

export const flush = (id: number, rect: [number, number, number, number]): Buffer =>
  request(CMD.RESOURCE_FLUSH, [...rect, id, 0]);

/** An UPDATE_CURSOR or MOVE_CURSOR: scanout, x, y, then the resource and hot spot. */
export const cursorCommand = (type: number, scanout: number, x: number, y: number, id = 0, hotX = 0, hotY = 0): Buffer =>
  request(type, [scanout, x, y, 0, id, hotX, hotY, 0]);

/**
 * A resource `id` of width x height in `format`, backed by one run of guest pages at PAGES (+ `at`) holding
 * `pixels`, copied to the host whole and set on scanout 0.
 */
export async function showImage(g: Gpu, id: number, format: number, width: number, height: number, pixels: Buffer,
  at = 0): Promise<void> {
  const ok = 0x1100;
  const check = (what: string, t: number): void => { if (t !== ok) throw new Error(`${what} answered 0x${t.toString(16)}`); };
  g.mem.write(PAGES + at, pixels);
  check('create', g.type(create2d(id, format, width, height)));
  check('attach', g.type(attachBacking(id, [{ addr: PAGES + at, length: pixels.length }])));
  check('transfer', (await g.sendAndWait(transfer(id, [0, 0, width, height]))).type);
  check('set scanout', g.type(setScanout(0, id, [0, 0, width, height])));
}
