// One virtio-iommu request, decoded and checked (virtio 1.2, 5.13.6): the sizes of both parts for its type, every
// reserved field zero, IDs that exist, ranges page aligned and inside what the config space promises. It answers a
// status, and which endpoints had translations taken away (their in-flight I/O must end before the reply).
import type { GuestMemory } from '../../base/guest-memory';
import type { IommuDomains } from './domains';
import {
  DOMAIN_START, HEAD_BYTES, INPUT_END, MAP, MAP_FLAGS, MAX_DOMAINS, PAGE_BYTES, PROBE_SIZE, READABLE_BYTES, S, T,
  TAIL_BYTES, type Status,
} from './wire';

export interface Outcome {
  status: Status;
  /** Endpoints that lost translations: the reply waits until none of them has I/O in flight. */
  revoked?: number[];
  /** A MAP that added a mapping, an UNMAP that removed some (for the counters). */
  mapped?: boolean;
  unmapped?: number;
}

const inval: Outcome = { status: S.INVAL };

/** Bytes of the device-writable part a request of `type` has: its tail, after the probe buffer for PROBE. */
export function writableBytes(type: number): number {
  return type === T.PROBE ? PROBE_SIZE + TAIL_BYTES : TAIL_BYTES;
}

function zero(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

const aligned = (v: bigint): boolean => (v & BigInt(PAGE_BYTES - 1)) === 0n;

export class RequestHandler {
  constructor(private readonly domains: IommuDomains, private readonly ram: GuestMemory) {}

  private domainInRange(id: number): boolean {
    return id >= DOMAIN_START && id < DOMAIN_START + MAX_DOMAINS;
  }

  /** `req` is the whole device-readable part, `writable` the size of the device-writable part. */
  handle(req: Buffer, writable: number): Outcome {
    if (req.length < HEAD_BYTES || !zero(req, 1, HEAD_BYTES)) return inval;
    const type = req[0]!;
    const want = READABLE_BYTES[type];
    if (want === undefined) return { status: S.UNSUPP };
    if (req.length !== want || writable !== writableBytes(type)) return inval;
    switch (type) {
      case T.ATTACH: return this.attach(req);
      case T.DETACH: return this.detach(req);
      case T.MAP: return this.map(req);
      case T.UNMAP: return this.unmap(req);
      default: return this.probe(req);
    }
  }

  private attach(req: Buffer): Outcome {
    const domain = req.readUInt32LE(4);
    const endpoint = req.readUInt32LE(8);
    // No flag is defined without BYPASS_CONFIG, which is not offered.
    if (req.readUInt32LE(12) !== 0 || !zero(req, 16, 20)) return inval;
    if (!this.domains.endpoints.has(endpoint)) return { status: S.NOENT };
    if (!this.domainInRange(domain)) return { status: S.RANGE };
    const old = this.domains.domainOf(endpoint);
    const status = this.domains.attach(domain, endpoint);
    return { status, revoked: old !== undefined && old.id !== domain ? [endpoint] : undefined };
  }

  private detach(req: Buffer): Outcome {
    const domain = req.readUInt32LE(4);
    const endpoint = req.readUInt32LE(8);
    if (!zero(req, 12, 20)) return inval;
    if (!this.domains.endpoints.has(endpoint)) return { status: S.NOENT };
    if (!this.domainInRange(domain)) return { status: S.RANGE };
    const d = this.domains.domainOf(endpoint);
    // Spec: a domain that does not exist, or that the endpoint is not attached to, is INVAL here.
    if (d?.id !== domain) return inval;
    this.domains.detach(d, endpoint);
    return { status: S.OK, revoked: [endpoint] };
  }

  private map(req: Buffer): Outcome {
    const id = req.readUInt32LE(4);
    const start = req.readBigUInt64LE(8);
    const end = req.readBigUInt64LE(16);
    const phys = req.readBigUInt64LE(24);
    const flags = req.readUInt32LE(32);
    if ((flags & ~MAP_FLAGS) !== 0) return inval;
    if (!this.domainInRange(id)) return { status: S.RANGE };
    const d = this.domains.domain(id);
    if (d === undefined) return { status: S.NOENT };
    if (start > end) return inval;
    // Spec 5.13.6.6: a start, end + 1 or physical address off the page granularity is RANGE.
    if (!aligned(start) || !aligned(end + 1n) || !aligned(phys) || end > BigInt(INPUT_END)) return { status: S.RANGE };
    const size = end - start + 1n;
    // RAM, or for an MMIO mapping anywhere in the 64-bit space; translation never hands out views of MMIO ones.
    const inRam = phys + size <= BigInt(Number.MAX_SAFE_INTEGER) && this.ram.contains(Number(phys), Number(size));
    if ((flags & MAP.MMIO) === 0 ? !inRam : phys + size - 1n > 0xffff_ffff_ffff_ffffn) return { status: S.RANGE };
    const status = this.domains.map(d, { start: Number(start), end: Number(end), phys: Number(phys), flags });
    return { status, mapped: status === S.OK };
  }

  private unmap(req: Buffer): Outcome {
    const id = req.readUInt32LE(4);
    const start = req.readBigUInt64LE(8);
    const end = req.readBigUInt64LE(16);
    if (!zero(req, 24, 28)) return inval;
    if (!this.domainInRange(id)) return { status: S.RANGE };
    const d = this.domains.domain(id);
    if (d === undefined) return { status: S.NOENT };
    if (start > end || !aligned(start) || !aligned(end + 1n)) return inval;
    // Nothing is mapped past the input range: the part of the range up there unmaps nothing.
    if (start > BigInt(INPUT_END)) return { status: S.OK, unmapped: 0 };
    const top = end > BigInt(INPUT_END) ? INPUT_END : Number(end);
    const { status, removed } = this.domains.unmap(d, Number(start), top);
    return { status, unmapped: removed, revoked: removed > 0 ? [...d.endpoints] : undefined };
  }

  private probe(req: Buffer): Outcome {
    const endpoint = req.readUInt32LE(4);
    if (!zero(req, 8, 72)) return inval;
    if (!this.domains.endpoints.has(endpoint)) return { status: S.NOENT };
    return { status: S.OK };
  }
}
