// What a device behind the virtio-iommu sees as memory: its endpoint's I/O virtual address space. Every view it
// asks for is translated through the endpoint's domain and checked for the right it needs; a range that is not
// wholly mapped with that right is a fault, reported on the IOMMU's event queue, and the device gets null, exactly
// what an address outside guest RAM gives (its queue fails the device, DEVICE_NEEDS_RESET).
import type { DmaMemory, GuestMemory } from '../../base/guest-memory';
import { accessFault, type IommuDomains } from './domains';
import { FAULT_REASON, type Fault } from './wire';

const EMPTY = new Uint8Array(0);
/** Physically separate runs one buffer may have: a 64 KiB buffer mapped page by page is 16. */
const MAX_RUNS = 64;

export class EndpointMemory implements DmaMemory {
  constructor(private readonly domains: IommuDomains, readonly endpoint: number, readonly ram: GuestMemory,
    private readonly onFault: (fault: Fault) => void) {}

  get generation(): number { return this.domains.epoch; }

  /** A view only when the range is one physical run (the rings, an indirect table); a fault otherwise. */
  tryBytes(addr: number | bigint, length: number, access: number): Uint8Array | null {
    const out: Uint8Array[] = [];
    return this.pushSegments(addr, length, access, out, 1) ? out[0]! : null;
  }

  pushSegments(addr: number | bigint, length: number, access: number, out: Uint8Array[], maxRuns = MAX_RUNS): boolean {
    if (!Number.isInteger(length) || length < 0) return false;
    const a = typeof addr === 'bigint' ? (addr <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(addr) : -1) : addr;
    if (!Number.isSafeInteger(a) || a < 0) {
      // Past 2^53 is past the 48-bit input range: nothing can be mapped there.
      this.onFault(accessFault(this.endpoint, access, FAULT_REASON.MAPPING, BigInt(addr) & 0xffff_ffff_ffff_ffffn));
      return false;
    }
    // Nothing is read or written through an empty view, so it needs no mapping.
    if (length === 0) {
      out.push(EMPTY);
      return true;
    }
    const t = this.domains.translateRuns(this.endpoint, a, length, access, maxRuns);
    if ('fault' in t) {
      this.onFault(t.fault);
      return false;
    }
    const first = out.length;
    for (const r of t.runs) {
      // A run over the boundary of two RAM regions (the 32-bit MMIO gap) is not one view: the device cannot use it.
      const v = this.ram.tryBytes(r.gpa, r.bytes);
      if (v === null) {
        out.length = first;
        return false;
      }
      out.push(v);
    }
    return true;
  }
}
