// virtio-gpu's wire format (virtio 1.2 section 5.7): command and response types, the formats a 2D resource may
// have, and the sizes of the structures the device reads and writes. Every structure starts with the 24-byte
// control header: le32 type, le32 flags, le64 fence_id, le32 ctx_id, u8 ring_idx, u8 padding[3].

export const GPU_DEVICE_TYPE = 16;
export const CONTROLQ = 0;
export const CURSORQ = 1;

/** Feature bits: only EDID is offered (no VIRGL, RESOURCE_UUID, RESOURCE_BLOB or CONTEXT_INIT). */
export const F_VIRGL = 0n;
export const F_EDID = 1n;

/** events_read / events_clear: the display configuration changed (GET_DISPLAY_INFO again). */
export const EVENT_DISPLAY = 1;

export const FLAG_FENCE = 1;

export const CMD = {
  GET_DISPLAY_INFO: 0x0100,
  RESOURCE_CREATE_2D: 0x0101,
  RESOURCE_UNREF: 0x0102,
  SET_SCANOUT: 0x0103,
  RESOURCE_FLUSH: 0x0104,
  TRANSFER_TO_HOST_2D: 0x0105,
  RESOURCE_ATTACH_BACKING: 0x0106,
  RESOURCE_DETACH_BACKING: 0x0107,
  GET_CAPSET_INFO: 0x0108,
  GET_CAPSET: 0x0109,
  GET_EDID: 0x010a,
  CTX_CREATE: 0x0200,
  UPDATE_CURSOR: 0x0300,
  MOVE_CURSOR: 0x0301,
} as const;

/** The 3D commands that act inside a context (the header's ctx_id); without VIRGL no context can exist. */
export const CONTEXT_COMMANDS: ReadonlySet<number> = new Set([0x0201, 0x0202, 0x0203, 0x0205, 0x0206, 0x0207]);

export const RESP = {
  OK_NODATA: 0x1100,
  OK_DISPLAY_INFO: 0x1101,
  OK_EDID: 0x1104,
  ERR_UNSPEC: 0x1200,
  ERR_OUT_OF_MEMORY: 0x1201,
  ERR_INVALID_SCANOUT_ID: 0x1202,
  ERR_INVALID_RESOURCE_ID: 0x1203,
  ERR_INVALID_CONTEXT_ID: 0x1204,
  ERR_INVALID_PARAMETER: 0x1205,
} as const;

export const MAX_SCANOUTS = 16;
export const HDR_BYTES = 24;
/** A rectangle: le32 x, y, width, height. */
export const RECT_BYTES = 16;
/** One backing entry: le64 addr, le32 length, le32 padding. */
export const MEM_ENTRY_BYTES = 16;
/** GET_DISPLAY_INFO's answer: the header, then per scanout a rect, le32 enabled, le32 flags. */
export const DISPLAY_INFO_BYTES = HDR_BYTES + MAX_SCANOUTS * (RECT_BYTES + 8);
/** GET_EDID's answer: the header, le32 size, le32 padding, 1024 bytes of EDID. */
export const EDID_RESPONSE_BYTES = HDR_BYTES + 8 + 1024;
/** Both cursor commands: the header, a cursor_pos (scanout_id, x, y, padding), resource_id, hot_x, hot_y, padding. */
export const CURSOR_BYTES = HDR_BYTES + 16 + 16;

/** What each 2D command reads (its whole structure) and writes (the answer when it succeeds). */
export const SIZES: ReadonlyMap<number, { request: number; response: number }> = new Map([
  [CMD.GET_DISPLAY_INFO, { request: HDR_BYTES, response: DISPLAY_INFO_BYTES }],
  [CMD.RESOURCE_CREATE_2D, { request: HDR_BYTES + 16, response: HDR_BYTES }],
  [CMD.RESOURCE_UNREF, { request: HDR_BYTES + 8, response: HDR_BYTES }],
  [CMD.SET_SCANOUT, { request: HDR_BYTES + RECT_BYTES + 8, response: HDR_BYTES }],
  [CMD.RESOURCE_FLUSH, { request: HDR_BYTES + RECT_BYTES + 8, response: HDR_BYTES }],
  [CMD.TRANSFER_TO_HOST_2D, { request: HDR_BYTES + RECT_BYTES + 16, response: HDR_BYTES }],
  // The entries follow; how many the request holds is checked once nr_entries is known.
  [CMD.RESOURCE_ATTACH_BACKING, { request: HDR_BYTES + 8, response: HDR_BYTES }],
  [CMD.RESOURCE_DETACH_BACKING, { request: HDR_BYTES + 8, response: HDR_BYTES }],
  // No capsets: these only ever answer an error header.
  [CMD.GET_CAPSET_INFO, { request: HDR_BYTES + 8, response: HDR_BYTES }],
  [CMD.GET_CAPSET, { request: HDR_BYTES + 8, response: HDR_BYTES }],
  [CMD.GET_EDID, { request: HDR_BYTES + 8, response: EDID_RESPONSE_BYTES }],
]);

/**
 * The 2D formats, each named by its bytes in memory order (B8G8R8A8: blue at the lowest address), as the byte
 * positions of red, green, blue and alpha in a pixel; alpha -1 is X, a byte the image ignores (opaque).
 */
export const FORMATS: ReadonlyMap<number, { name: string; r: number; g: number; b: number; a: number }> = new Map([
  [1, { name: 'B8G8R8A8_UNORM', r: 2, g: 1, b: 0, a: 3 }],
  [2, { name: 'B8G8R8X8_UNORM', r: 2, g: 1, b: 0, a: -1 }],
  [3, { name: 'A8R8G8B8_UNORM', r: 1, g: 2, b: 3, a: 0 }],
  [4, { name: 'X8R8G8B8_UNORM', r: 1, g: 2, b: 3, a: -1 }],
  [67, { name: 'R8G8B8A8_UNORM', r: 0, g: 1, b: 2, a: 3 }],
  [68, { name: 'X8B8G8R8_UNORM', r: 3, g: 2, b: 1, a: -1 }],
  [121, { name: 'A8B8G8R8_UNORM', r: 3, g: 2, b: 1, a: 0 }],
  [134, { name: 'R8G8B8X8_UNORM', r: 0, g: 1, b: 2, a: -1 }],
]);

export const BYTES_PER_PIXEL = 4;

export interface Rect { x: number; y: number; width: number; height: number }

/** What a command answers: a response type, and data after the header for the two that return any. */
export interface Answer {
  type: number;
  body?: Uint8Array;
}

/**
 * A command whose work may be too long for one turn (a transfer, a long backing list): the device runs it a step
 * at a time, the requests behind it waiting, and answers it when a step returns its answer.
 */
export interface Job {
  /** Does a bounded part of the work; the answer once all of it is done, else undefined. */
  step(): Answer | undefined;
  /** Bytes of pixels copied so far. */
  readonly copied: number;
}

export interface CtrlHeader { type: number; flags: number; fenceId: bigint; ctxId: number }

export function readHeader(b: Buffer): CtrlHeader {
  return { type: b.readUInt32LE(0), flags: b.readUInt32LE(4), fenceId: b.readBigUInt64LE(8), ctxId: b.readUInt32LE(16) };
}

/** The answer's header: its type, and the request's fence (flag and id) when it asked for one. */
export function responseHeader(type: number, request: CtrlHeader): Buffer {
  const b = Buffer.alloc(HDR_BYTES);
  b.writeUInt32LE(type, 0);
  if (request.flags & FLAG_FENCE) {
    b.writeUInt32LE(FLAG_FENCE, 4);
    b.writeBigUInt64LE(request.fenceId, 8);
  }
  b.writeUInt32LE(request.ctxId, 16);
  return b;
}

export function readRect(b: Buffer, at: number): Rect {
  return { x: b.readUInt32LE(at), y: b.readUInt32LE(at + 4), width: b.readUInt32LE(at + 8), height: b.readUInt32LE(at + 12) };
}

/** Whether `r` lies inside a width x height image (sums are exact: JS numbers hold 33-bit values). */
export function rectInside(r: Rect, width: number, height: number): boolean {
  return r.x + r.width <= width && r.y + r.height <= height;
}
