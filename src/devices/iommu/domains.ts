// The virtio-iommu's translation state: domains (address spaces), the endpoints attached to each, and each
// domain's mappings, kept sorted by I/O virtual address so a lookup is a binary search (after a one-entry cache,
// since a queue's buffers tend to sit in the same mapping). Addresses are numbers: I/O virtual addresses have
// 48 bits and guest-physical ones are RAM offsets, both well inside 2^53; requests are checked before they get here.
import { DMA_READ, DMA_WRITE } from '../../base/guest-memory';
import { FAULT_FLAG, FAULT_REASON, MAP, MAX_MAPPINGS, MAX_MAPPINGS_PER_DOMAIN, S, type Fault, type Status } from './wire';

export interface Mapping {
  /** First and last I/O virtual address (inclusive, as the requests say them). */
  start: number;
  end: number;
  /** Guest-physical address of `start`. */
  phys: number;
  /** MAP flags. */
  flags: number;
}

export class Domain {
  readonly endpoints = new Set<number>();
  /** Sorted by start, never overlapping. */
  readonly mappings: Mapping[] = [];
  private lastHit = -1;

  constructor(readonly id: number) {}

  /** Index of the mapping holding `addr`, or -1. */
  find(addr: number): number {
    const hit = this.mappings[this.lastHit];
    if (hit !== undefined && hit.start <= addr && addr <= hit.end) return this.lastHit;
    let lo = 0;
    let hi = this.mappings.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.mappings[mid]!;
      if (addr < m.start) hi = mid - 1;
      else if (addr > m.end) lo = mid + 1;
      else return (this.lastHit = mid);
    }
    return -1;
  }

  /** Where a mapping starting at `start` goes in the sorted list. */
  insertionPoint(start: number): number {
    let lo = 0;
    let hi = this.mappings.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.mappings[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The fault record for an access (DMA_READ / DMA_WRITE bits) that could not be translated at `address`. */
export function accessFault(endpoint: number, access: number, reason: number, address: bigint): Fault {
  const flags = (access & DMA_READ ? FAULT_FLAG.READ : 0) | (access & DMA_WRITE ? FAULT_FLAG.WRITE : 0) | FAULT_FLAG.ADDRESS;
  return { reason, flags, endpoint, address };
}

/** A translated range as guest-physical runs (address, bytes), in I/O virtual order, or why it faulted. */
export type SegmentTranslation = { runs: { gpa: number; bytes: number }[] } | { fault: Fault };

export class IommuDomains {
  private readonly domains = new Map<number, Domain>();
  private readonly attached = new Map<number, Domain>();
  private mappingCount = 0;
  /** Bumped whenever a translation may have gone away (an unmap, a detach, a reset): views taken before are stale. */
  epoch = 0;

  constructor(readonly endpoints: ReadonlySet<number>) {}

  get domainCount(): number { return this.domains.size; }
  get mappings(): number { return this.mappingCount; }

  domain(id: number): Domain | undefined { return this.domains.get(id); }

  /** Every domain, in the order they were made. */
  all(): IterableIterator<Domain> { return this.domains.values(); }

  /** The domain `endpoint` is attached to, if any. */
  domainOf(endpoint: number): Domain | undefined { return this.attached.get(endpoint); }

  /** Attaches `endpoint` to domain `id`, creating it, and moving the endpoint off its old domain. */
  attach(id: number, endpoint: number): Status {
    const old = this.attached.get(endpoint);
    if (old?.id === id) return S.OK;
    let d = this.domains.get(id);
    if (d === undefined) {
      d = new Domain(id);
      this.domains.set(id, d);
    }
    if (old !== undefined) this.detach(old, endpoint);
    d.endpoints.add(endpoint);
    this.attached.set(endpoint, d);
    return S.OK;
  }

  /** Detaches `endpoint` from `d`; a domain left without endpoints is freed with its mappings. */
  detach(d: Domain, endpoint: number): void {
    d.endpoints.delete(endpoint);
    this.attached.delete(endpoint);
    this.epoch++;
    if (d.endpoints.size === 0) {
      this.mappingCount -= d.mappings.length;
      this.domains.delete(d.id);
    }
  }

  map(d: Domain, m: Mapping): Status {
    const at = d.insertionPoint(m.start);
    const before = d.mappings[at - 1];
    const after = d.mappings[at];
    if ((before !== undefined && before.end >= m.start) || (after !== undefined && after.start <= m.end)) return S.INVAL;
    if (d.mappings.length >= MAX_MAPPINGS_PER_DOMAIN || this.mappingCount >= MAX_MAPPINGS) return S.NOMEM;
    d.mappings.splice(at, 0, m);
    this.mappingCount++;
    return S.OK;
  }

  /**
   * Removes the mappings wholly inside [start, end]; one that the range would cut in two is RANGE, and then
   * nothing is removed. Returns the status and how many mappings went.
   */
  unmap(d: Domain, start: number, end: number): { status: Status; removed: number } {
    const first = d.insertionPoint(start);
    const cutFirst = d.mappings[first - 1];
    if (cutFirst !== undefined && cutFirst.end >= start) return { status: S.RANGE, removed: 0 };
    let last = first;
    while (last < d.mappings.length && d.mappings[last]!.start <= end) last++;
    const cutLast = d.mappings[last - 1];
    if (last > first && cutLast !== undefined && cutLast.end > end) return { status: S.RANGE, removed: 0 };
    const removed = last - first;
    if (removed > 0) {
      d.mappings.splice(first, removed);
      this.mappingCount -= removed;
      this.epoch++;
    }
    return { status: S.OK, removed };
  }

  /** Everything goes: a device reset leaves no endpoint attached (and, without bypass, no DMA allowed). */
  clear(): void {
    this.domains.clear();
    this.attached.clear();
    this.mappingCount = 0;
    this.epoch++;
  }

  /**
   * Where [addr, addr + length) of `endpoint`'s I/O virtual space lies in guest-physical memory, as runs: the range
   * may cross any number of mappings (each with the rights `access` asks for, with no gap between them), and runs
   * whose guest-physical addresses follow on are joined. A range over more than `maxRuns` runs is a fault at the
   * first byte past them: that many views is more than any real buffer needs, and the work stays bounded.
   */
  translateRuns(endpoint: number, addr: number, length: number, access: number, maxRuns: number): SegmentTranslation {
    const fault = (reason: number, at: number): SegmentTranslation => ({ fault: accessFault(endpoint, access, reason, BigInt(at)) });
    const d = this.attached.get(endpoint);
    if (d === undefined) return fault(FAULT_REASON.DOMAIN, addr);
    const need = (access & DMA_READ ? MAP.READ : 0) | (access & DMA_WRITE ? MAP.WRITE : 0);
    const last = addr + length - 1;
    let i = d.find(addr);
    const runs: { gpa: number; bytes: number }[] = [];
    for (let at = addr; ;) {
      const m = d.mappings[i];
      if (m === undefined || m.start > at) return fault(FAULT_REASON.MAPPING, at);
      if ((m.flags & need) !== need || (m.flags & MAP.MMIO) !== 0) return fault(FAULT_REASON.MAPPING, at);
      const gpa = m.phys + (at - m.start);
      const bytes = Math.min(last, m.end) - at + 1;
      const prev = runs[runs.length - 1];
      if (prev !== undefined && prev.gpa + prev.bytes === gpa) prev.bytes += bytes;
      else if (runs.length === maxRuns) return fault(FAULT_REASON.MAPPING, at);
      else runs.push({ gpa, bytes });
      if (last <= m.end) return { runs };
      at = m.end + 1;
      i++;
    }
  }
}
