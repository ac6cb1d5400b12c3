// The control queue's commands, once a request's structure has been read whole: each checks what the guest sent
// (IDs, rectangles, formats, sizes, addresses) and answers a response type, with data for the two that return any;
// TRANSFER_TO_HOST_2D and RESOURCE_ATTACH_BACKING give a Job the device runs in steps. Nothing here trusts a guest
// value.
import type { DmaMemory } from '../../base/guest-memory';
import type { CursorState } from './cursor';
import { buildEdid } from './edid';
import { Backing, ENTRIES_PER_STEP, MAX_BACKING_ENTRIES } from './backing';
import {
  CMD, CONTEXT_COMMANDS, DISPLAY_INFO_BYTES, FORMATS, HDR_BYTES, MAX_SCANOUTS, MEM_ENTRY_BYTES, RECT_BYTES, RESP,
  readRect, rectInside, type Answer, type Job, type Rect,
} from './protocol';
import { MAX_RESOURCE_SIDE, type Resource, type ResourceTable } from './resources';
import { Transfer } from './transfer';

export interface Scanout {
  /** What the guest set on it, and which part of it is shown; none when it is disabled. */
  resource: Resource | undefined;
  rect: Rect;
  /** RESOURCE_FLUSHes of a resource it shows. */
  flushes: number;
}

/** What the commands act on: the device's resources, scanouts and display modes. */
export interface GpuState {
  readonly resources: ResourceTable;
  readonly scanouts: Scanout[];
  /** Each scanout's mode (all scanouts share it). */
  readonly mode: { width: number; height: number };
  readonly edid: boolean;
  readonly memory: DmaMemory;
  readonly cursor: CursorState;
  /**
   * Scanout `scanout` shows something new: `rect` (in the scanout's own pixels, clipped to it) was flushed, or,
   * without one, the whole scanout changed (a resource set on it or taken off it).
   */
  readonly damage: (scanout: number, rect?: Rect) => void;
}

const answer = (type: number): Answer => ({ type });
const OK = answer(RESP.OK_NODATA);

/**
 * Runs command `type` on request `req` (its structure as SIZES gives it, header included). `readRequest(n)` is the
 * request's first n bytes, for the part whose length the structure gives (the backing entries); it throws the
 * device's chain error when the request holds fewer.
 */
export function runCommand(s: GpuState, type: number, req: Buffer, readRequest: (bytes: number) => Buffer): Answer | Job {
  switch (type) {
    case CMD.GET_DISPLAY_INFO: return displayInfo(s);
    case CMD.GET_EDID: return edid(s, req);
    case CMD.RESOURCE_CREATE_2D: return create2d(s, req);
    case CMD.RESOURCE_UNREF: return unref(s, req.readUInt32LE(HDR_BYTES));
    case CMD.SET_SCANOUT: return setScanout(s, req);
    case CMD.RESOURCE_FLUSH: return flush(s, req);
    case CMD.TRANSFER_TO_HOST_2D: return transfer(s, req);
    case CMD.RESOURCE_ATTACH_BACKING: return attach(s, req, readRequest);
    case CMD.RESOURCE_DETACH_BACKING: return detach(s, req.readUInt32LE(HDR_BYTES));
    // There are no capsets (num_capsets is 0), so no index or ID names one.
    case CMD.GET_CAPSET_INFO:
    case CMD.GET_CAPSET:
      return answer(RESP.ERR_INVALID_PARAMETER);
    default:
      // Without VIRGL no 3D context exists, so a command inside one names a context that does not.
      return answer(CONTEXT_COMMANDS.has(type) ? RESP.ERR_INVALID_CONTEXT_ID : RESP.ERR_UNSPEC);
  }
}

function displayInfo(s: GpuState): Answer {
  const body = Buffer.alloc(DISPLAY_INFO_BYTES - HDR_BYTES);
  s.scanouts.forEach((_, i) => {
    const at = i * (RECT_BYTES + 8);
    body.writeUInt32LE(s.mode.width, at + 8);
    body.writeUInt32LE(s.mode.height, at + 12);
    body.writeUInt32LE(1, at + 16); // enabled
  });
  return { type: RESP.OK_DISPLAY_INFO, body };
}

function edid(s: GpuState, req: Buffer): Answer {
  if (!s.edid) return answer(RESP.ERR_UNSPEC); // the driver did not take VIRTIO_GPU_F_EDID
  const scanout = req.readUInt32LE(HDR_BYTES);
  if (scanout >= s.scanouts.length) return answer(RESP.ERR_INVALID_SCANOUT_ID);
  const data = buildEdid(s.mode.width, s.mode.height, scanout);
  const body = Buffer.alloc(8 + 1024);
  body.writeUInt32LE(data.length, 0);
  data.copy(body, 8);
  return { type: RESP.OK_EDID, body };
}

function create2d(s: GpuState, req: Buffer): Answer {
  const id = req.readUInt32LE(HDR_BYTES);
  const format = req.readUInt32LE(HDR_BYTES + 4);
  const width = req.readUInt32LE(HDR_BYTES + 8);
  const height = req.readUInt32LE(HDR_BYTES + 12);
  if (id === 0) return answer(RESP.ERR_INVALID_RESOURCE_ID);
  if (!FORMATS.has(format)) return answer(RESP.ERR_INVALID_PARAMETER);
  if (width === 0 || height === 0 || width > MAX_RESOURCE_SIDE || height > MAX_RESOURCE_SIDE) {
    return answer(RESP.ERR_INVALID_PARAMETER);
  }
  const made = s.resources.create(id, format, width, height);
  if (made === 'exists') return answer(RESP.ERR_INVALID_RESOURCE_ID);
  if (made === 'out-of-memory') return answer(RESP.ERR_OUT_OF_MEMORY);
  return OK;
}

function unref(s: GpuState, id: number): Answer {
  const r = s.resources.get(id);
  if (r === undefined || !s.resources.delete(id)) return answer(RESP.ERR_INVALID_RESOURCE_ID);
  // A scanout never shows a resource that is gone.
  s.scanouts.forEach((sc, i) => {
    if (sc.resource !== r) return;
    sc.resource = undefined;
    s.damage(i);
  });
  if (s.cursor.resourceId === id) s.cursor.resourceId = 0;
  return OK;
}

function setScanout(s: GpuState, req: Buffer): Answer {
  const rect = readRect(req, HDR_BYTES);
  const scanoutId = req.readUInt32LE(HDR_BYTES + RECT_BYTES);
  const id = req.readUInt32LE(HDR_BYTES + RECT_BYTES + 4);
  const sc = s.scanouts[scanoutId];
  if (sc === undefined) return answer(RESP.ERR_INVALID_SCANOUT_ID);
  if (id === 0) {
    sc.resource = undefined;
    s.damage(scanoutId);
    return OK;
  }
  const r = s.resources.get(id);
  if (r === undefined) return answer(RESP.ERR_INVALID_RESOURCE_ID);
  if (rect.width === 0 || rect.height === 0 || !rectInside(rect, r.width, r.height)) {
    return answer(RESP.ERR_INVALID_PARAMETER);
  }
  sc.resource = r;
  sc.rect = rect;
  s.damage(scanoutId);
  return OK;
}

function flush(s: GpuState, req: Buffer): Answer {
  const rect = readRect(req, HDR_BYTES);
  const r = s.resources.get(req.readUInt32LE(HDR_BYTES + RECT_BYTES));
  if (r === undefined) return answer(RESP.ERR_INVALID_RESOURCE_ID);
  if (!rectInside(rect, r.width, r.height)) return answer(RESP.ERR_INVALID_PARAMETER);
  s.scanouts.forEach((sc, i) => {
    if (sc.resource !== r) return;
    sc.flushes++;
    const shown = clipToScanout(rect, sc.rect);
    if (shown !== undefined) s.damage(i, shown);
  });
  return OK;
}

/** The part of resource rectangle `r` that scanout rectangle `view` shows, in the scanout's pixels; none if none. */
export function clipToScanout(r: Rect, view: Rect): Rect | undefined {
  const x0 = Math.max(r.x, view.x);
  const y0 = Math.max(r.y, view.y);
  const x1 = Math.min(r.x + r.width, view.x + view.width);
  const y1 = Math.min(r.y + r.height, view.y + view.height);
  if (x1 <= x0 || y1 <= y0) return undefined;
  return { x: x0 - view.x, y: y0 - view.y, width: x1 - x0, height: y1 - y0 };
}

function transfer(s: GpuState, req: Buffer): Answer | Job {
  const rect = readRect(req, HDR_BYTES);
  const offset = req.readBigUInt64LE(HDR_BYTES + RECT_BYTES);
  const r = s.resources.get(req.readUInt32LE(HDR_BYTES + RECT_BYTES + 8));
  if (r === undefined) return answer(RESP.ERR_INVALID_RESOURCE_ID);
  if (!rectInside(rect, r.width, r.height)) return answer(RESP.ERR_INVALID_PARAMETER);
  if (r.backing === undefined) return answer(RESP.ERR_UNSPEC); // nothing to copy from
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) return answer(RESP.ERR_INVALID_PARAMETER);
  const at = Number(offset);
  if (Transfer.needs(r, rect, at) > r.backing.length) return answer(RESP.ERR_INVALID_PARAMETER);
  return new Transfer(r, r.backing, rect, at);
}

/** Translating the entries: a step at a time, the backing in place once all of them are. */
class Attach implements Job {
  readonly copied = 0;

  constructor(private readonly resource: Resource, private readonly backing: Backing) {}

  step(): Answer | undefined {
    const r = this.backing.resolve(ENTRIES_PER_STEP);
    if (r === 'more') return undefined;
    // An entry outside what the device may read (not RAM; behind the IOMMU, not mapped readable).
    if (r === 'fault') return answer(RESP.ERR_INVALID_PARAMETER);
    this.resource.backing = this.backing;
    return OK;
  }
}

function attach(s: GpuState, req: Buffer, readRequest: (bytes: number) => Buffer): Answer | Job {
  const r = s.resources.get(req.readUInt32LE(HDR_BYTES));
  const count = req.readUInt32LE(HDR_BYTES + 4);
  if (count === 0 || count > MAX_BACKING_ENTRIES) return answer(RESP.ERR_INVALID_PARAMETER);
  // The entries are part of the request: one that does not hold them all is a broken chain, never half a backing.
  const start = HDR_BYTES + 8;
  const list = readRequest(start + count * MEM_ENTRY_BYTES).subarray(start);
  if (r === undefined) return answer(RESP.ERR_INVALID_RESOURCE_ID);
  if (r.backing !== undefined) return answer(RESP.ERR_UNSPEC); // detach first
  const backing = Backing.parse(s.memory, list, count);
  if (backing === undefined) return answer(RESP.ERR_INVALID_PARAMETER); // an address past 2^53
  return new Attach(r, backing);
}

function detach(s: GpuState, id: number): Answer {
  const r = s.resources.get(id);
  if (r === undefined) return answer(RESP.ERR_INVALID_RESOURCE_ID);
  if (r.backing === undefined) return answer(RESP.ERR_UNSPEC);
  r.backing = undefined;
  return OK;
}

/** A scanout as a driver first finds it: nothing set. */
export function emptyScanouts(count: number): Scanout[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_SCANOUTS) {
    throw new RangeError(`a gpu has 1..${MAX_SCANOUTS} scanouts, not ${count}`);
  }
  return Array.from({ length: count }, () => ({ resource: undefined, rect: { x: 0, y: 0, width: 0, height: 0 }, flushes: 0 }));
}
