// A virtio-iommu driven through the mock driver: requests are written as Linux's driver writes them (the
// device-readable struct, then the tail, or the probe buffer and the tail), and event buffers are posted on the
// event queue. Both queues and every buffer live in one test guest memory.
import { GuestMemory } from '../../../src/base/guest-memory';
import { IommuDevice, type IommuOptions } from '../../../src/devices/iommu/device';
import { PROBE_SIZE, T } from '../../../src/devices/iommu/wire';
import { F_WRITE, MockDriver, mockContext } from '../../virtio-mmio/mock-driver';

export const MEM_BYTES = 8 << 20;
/** Where requests, their replies and event buffers go (the rings sit at 0x1000..0x3fff and 0x11000..0x13fff). */
export const REQ = 0x20000;
export const RESP = 0x21000;
export const EVENTS = 0x22000;

export function setup(opts: Partial<IommuOptions> = {}) {
  const mem = GuestMemory.forTest([{ gpa: 0, size: MEM_BYTES }]);
  const reqq = new MockDriver(16, MEM_BYTES, { mem });
  const evq = new MockDriver(16, MEM_BYTES, { mem, base: 0x10000 });
  const dev = new IommuDevice({ endpoints: [1, 2], ...opts });
  const ctx = mockContext(dev, { memory: mem, queues: [reqq.queue(), evq.queue()], features: dev.features });
  dev.activate(ctx);
  let used = 0;
  /** Sends one request; resolves nothing, returns the status and the used length when it was answered. */
  const send = (body: Buffer, writable = 4, readable = body.length): { status: number; len: number } | undefined => {
    mem.write(REQ, body);
    mem.fill(RESP, writable, 0xee);
    reqq.addChain([{ addr: REQ, len: readable, flags: 0 }, ...(writable ? [{ addr: RESP, len: writable, flags: F_WRITE }] : [])]);
    dev.onQueueNotify(0);
    if (reqq.usedIdx() === used) return undefined;
    const u = reqq.used(used++);
    return { status: mem.readU8(RESP + writable - 4), len: u.len };
  };
  /** The status of a request answered at once. */
  const status = (body: Buffer, writable = 4): number => {
    const r = send(body, writable);
    if (r === undefined) throw new Error('the request was not answered');
    return r.status;
  };
  let events = 0;
  /** Posts an event buffer of `len` bytes; returns its address. */
  const postEvent = (len = 24): number => {
    const at = EVENTS + 0x100 * (events++ % 16);
    evq.addChain([{ addr: at, len, flags: F_WRITE }]);
    dev.onQueueNotify(1);
    return at;
  };
  return { mem, reqq, evq, dev, ctx, send, status, postEvent };
}

function head(type: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  b[0] = type;
  return b;
}

export function attach(domain: number, endpoint: number, flags = 0): Buffer {
  const b = head(T.ATTACH, 20);
  b.writeUInt32LE(domain, 4);
  b.writeUInt32LE(endpoint, 8);
  b.writeUInt32LE(flags, 12);
  return b;
}

export function detach(domain: number, endpoint: number): Buffer {
  const b = head(T.DETACH, 20);
  b.writeUInt32LE(domain, 4);
  b.writeUInt32LE(endpoint, 8);
  return b;
}

export function map(domain: number, start: number | bigint, end: number | bigint, phys: number | bigint, flags = 3): Buffer {
  const b = head(T.MAP, 36);
  b.writeUInt32LE(domain, 4);
  b.writeBigUInt64LE(BigInt(start), 8);
  b.writeBigUInt64LE(BigInt(end), 16);
  b.writeBigUInt64LE(BigInt(phys), 24);
  b.writeUInt32LE(flags, 32);
  return b;
}

export function unmap(domain: number, start: number | bigint, end: number | bigint): Buffer {
  const b = head(T.UNMAP, 28);
  b.writeUInt32LE(domain, 4);
  b.writeBigUInt64LE(BigInt(start), 8);
  b.writeBigUInt64LE(BigInt(end), 16);
  return b;
}

export function probe(endpoint: number): Buffer {
  const b = head(T.PROBE, 72);
  b.writeUInt32LE(endpoint, 4);
  return b;
}

export const PROBE_WRITABLE = PROBE_SIZE + 4;
