// The virtio-iommu's wire format (virtio 1.2, section 5.13): feature bits, config space, requests, statuses, probe
// properties and fault records, all little-endian.

export const F = { INPUT_RANGE: 0n, DOMAIN_RANGE: 1n, MAP_UNMAP: 2n, BYPASS: 3n, PROBE: 4n } as const;

export const T = { ATTACH: 1, DETACH: 2, MAP: 3, UNMAP: 4, PROBE: 5 } as const;

export const S = { OK: 0, IOERR: 1, UNSUPP: 2, DEVERR: 3, INVAL: 4, RANGE: 5, NOENT: 6, FAULT: 7, NOMEM: 8 } as const;
export type Status = (typeof S)[keyof typeof S];

/** MAP flags; MMIO marks a mapping of device memory (an MSI doorbell), never RAM. */
export const MAP = { READ: 1, WRITE: 2, MMIO: 4 } as const;
export const MAP_FLAGS = MAP.READ | MAP.WRITE | MAP.MMIO;

/** Bytes of the request head (type, 3 reserved) and tail (status, 3 reserved). */
export const HEAD_BYTES = 4;
export const TAIL_BYTES = 4;
/** The device-readable part of each request, head included (the structs of 5.13.6 less their tail). */
export const READABLE_BYTES: Record<number, number> = {
  [T.ATTACH]: 20, [T.DETACH]: 20, [T.MAP]: 36, [T.UNMAP]: 28, [T.PROBE]: 72,
};

/** 4 KiB pages, and any multiple: bits 12 and up. */
export const PAGE_SIZE_MASK = 0xffff_ffff_ffff_f000n;
export const PAGE_BYTES = 4096;
/** I/O virtual addresses the device translates: 48 bits, as a 4-level page table would give. */
export const INPUT_START = 0;
export const INPUT_END = 0xffff_ffff_ffff;
/** Domain IDs 1..MAX_DOMAINS: the range is the limit on live domains, so the driver's allocator sees it. */
export const DOMAIN_START = 1;
export const MAX_DOMAINS = 64;
/** Mappings one domain may hold, and all domains together: each costs host memory the guest does not pay for. */
export const MAX_MAPPINGS_PER_DOMAIN = 65536;
export const MAX_MAPPINGS = 4 * 65536;
export const PROBE_SIZE = 512;
export const CONFIG_BYTES = 40;

/** Probe properties: a 4-byte head (type, length of what follows), then the body. */
export const PROBE_T = { NONE: 0, RESV_MEM: 1 } as const;
export const RESV_MEM = { RESERVED: 0, MSI: 1 } as const;
/** The x86 MSI doorbell window: writes there are interrupts, not memory. */
export const MSI_START = 0xfee0_0000n;
export const MSI_END = 0xfeef_ffffn;
const RESV_MEM_BODY_BYTES = 20;

/** Fault records on the event queue. */
export const FAULT_BYTES = 24;
export const FAULT_REASON = { UNKNOWN: 0, DOMAIN: 1, MAPPING: 2 } as const;
export const FAULT_FLAG = { READ: 1, WRITE: 2, EXEC: 4, ADDRESS: 0x100 } as const;

export function configSpace(): Uint8Array {
  const c = Buffer.alloc(CONFIG_BYTES);
  c.writeBigUInt64LE(PAGE_SIZE_MASK, 0);
  c.writeBigUInt64LE(BigInt(INPUT_START), 8);
  c.writeBigUInt64LE(BigInt(INPUT_END), 16);
  c.writeUInt32LE(DOMAIN_START, 24);
  c.writeUInt32LE(DOMAIN_START + MAX_DOMAINS - 1, 28);
  c.writeUInt32LE(PROBE_SIZE, 32);
  return c;
}

/** The answer to every PROBE: the MSI window as reserved memory, then the NONE terminator, zeros after. */
export function probeProperties(): Buffer {
  const p = Buffer.alloc(PROBE_SIZE);
  p.writeUInt16LE(PROBE_T.RESV_MEM, 0);
  p.writeUInt16LE(RESV_MEM_BODY_BYTES, 2);
  p.writeUInt8(RESV_MEM.MSI, 4);
  p.writeBigUInt64LE(MSI_START, 8);
  p.writeBigUInt64LE(MSI_END, 16);
  // What follows is zero: a NONE property (type 0, length 0) ends the list.
  return p;
}

export interface Fault {
  reason: number;
  /** FAULT_FLAG bits. */
  flags: number;
  endpoint: number;
  address: bigint;
}

export function faultRecord(f: Fault): Buffer {
  const b = Buffer.alloc(FAULT_BYTES);
  b.writeUInt8(f.reason, 0);
  b.writeUInt32LE(f.flags, 4);
  b.writeUInt32LE(f.endpoint, 8);
  b.writeBigUInt64LE(f.address, 16);
  return b;
}
