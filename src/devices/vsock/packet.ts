// The virtio-vsock packet (virtio 1.2, 5.10.6): a 44-byte little-endian header, then `len` payload bytes, spread
// over however many buffers the driver's chain has. Headers are read from and written to the chain's own views;
// only when a header straddles two buffers does it go through a 44-byte scratch.
import { gather, scatterAll, sliceSegments } from '../../virtio-mmio/segments';

export const HDR_SIZE = 44;
export const HOST_CID = 2n;
export const TYPE_STREAM = 1;
export const OP = {
  REQUEST: 1, RESPONSE: 2, RST: 3, SHUTDOWN: 4, RW: 5, CREDIT_UPDATE: 6, CREDIT_REQUEST: 7,
} as const;
/** SHUTDOWN flags: the sender will receive no more (RCV), will send no more (SEND). */
export const SHUTDOWN_RCV = 1;
export const SHUTDOWN_SEND = 2;
export const SHUTDOWN_BOTH = SHUTDOWN_RCV | SHUTDOWN_SEND;
/** Linux never puts more than 64 KiB in one packet; a longer one from the guest is refused. */
export const MAX_PAYLOAD = 64 * 1024;

export interface VsockHeader {
  srcCid: bigint;
  dstCid: bigint;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

export interface ParsedPacket {
  hdr: VsockHeader;
  /** Views of what follows the header in the chain (at least hdr.len bytes when the packet is well formed). */
  rest: Uint8Array[];
  restBytes: number;
}

function decode(v: DataView): VsockHeader {
  return {
    srcCid: v.getBigUint64(0, true),
    dstCid: v.getBigUint64(8, true),
    srcPort: v.getUint32(16, true),
    dstPort: v.getUint32(20, true),
    len: v.getUint32(24, true),
    type: v.getUint16(28, true),
    op: v.getUint16(30, true),
    flags: v.getUint32(32, true),
    bufAlloc: v.getUint32(36, true),
    fwdCnt: v.getUint32(40, true),
  };
}

function encode(v: DataView, h: VsockHeader): void {
  v.setBigUint64(0, h.srcCid, true);
  v.setBigUint64(8, h.dstCid, true);
  v.setUint32(16, h.srcPort, true);
  v.setUint32(20, h.dstPort, true);
  v.setUint32(24, h.len, true);
  v.setUint16(28, h.type, true);
  v.setUint16(30, h.op, true);
  v.setUint32(32, h.flags, true);
  v.setUint32(36, h.bufAlloc, true);
  v.setUint32(40, h.fwdCnt, true);
}

function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The header and what follows it, or null when the buffers hold fewer than 44 bytes. */
export function readPacket(readable: Uint8Array[], readableBytes: number): ParsedPacket | null {
  if (readableBytes < HDR_SIZE) return null;
  const first = readable[0];
  const bytes = first !== undefined && first.length >= HDR_SIZE ? first : gather(readable, HDR_SIZE);
  if (bytes === undefined) return null;
  // Read once: the guest may rewrite its buffers while we look, so every field comes from this one decode.
  const hdr = decode(dataView(bytes));
  return { hdr, rest: sliceSegments(readable, HDR_SIZE), restBytes: readableBytes - HDR_SIZE };
}

/** Writes the header and payload into the chain's writable buffers; returns the bytes written. */
export function writePacket(writable: Uint8Array[], hdr: VsockHeader, payload: readonly Uint8Array[]): number {
  const first = writable[0];
  if (first !== undefined && first.length >= HDR_SIZE) {
    encode(dataView(first), hdr);
  } else {
    const scratch = new Uint8Array(HDR_SIZE);
    encode(dataView(scratch), hdr);
    scatterAll(writable, 0, [scratch]);
  }
  return HDR_SIZE + (payload.length > 0 ? scatterAll(writable, HDR_SIZE, payload) : 0);
}

/** u32 counters (tx_cnt, fwd_cnt) wrap; differences are taken modulo 2^32. */
export function u32diff(a: number, b: number): number {
  return (a - b) >>> 0;
}

export const OP_NAMES: Record<number, string> = Object.fromEntries(Object.entries(OP).map(([k, v]) => [v, k]));
