// The virtio-iommu in a snapshot: every domain with the endpoints attached to it and its mappings, and the faults
// waiting for an event buffer. Read back, each domain is built again through the same attach and map the requests
// use (so mappings that overlap, or pass the caps, are refused as a MAP would be), and each endpoint must be one of
// this machine's behind the IOMMU and attached once.
import type { IommuDomains } from './domains';
import { MAP_FLAGS, S, type Fault } from './wire';
import { savedInt, savedObject } from '../saved-state';

export interface SavedIommu {
  domains: { id: number; endpoints: number[]; mappings: [start: number, end: number, phys: number, flags: number][] }[];
  faults: [reason: number, flags: number, endpoint: number, address: string][];
}

export function saveIommu(domains: IommuDomains, backlog: readonly Fault[]): SavedIommu {
  return {
    domains: [...domains.all()].map((d) => ({ id: d.id, endpoints: [...d.endpoints],
      mappings: d.mappings.map((m) => [m.start, m.end, m.phys, m.flags]) })),
    faults: backlog.map((f) => [f.reason, f.flags, f.endpoint, f.address.toString()]),
  };
}

const list = (name: string, v: unknown): unknown[] => {
  if (!Array.isArray(v)) throw new RangeError(`${name} is not a list`);
  return v;
};

const int = (name: string, v: unknown, max: number): number => savedInt(name, v, 0, max);

/**
 * Builds the saved domains into `domains` (cleared first) and returns the saved faults, at most `maxFaults`;
 * RangeError names a bad field.
 */
export function loadIommu(v: unknown, domains: IommuDomains, maxFaults: number): Fault[] {
  const s = savedObject(v);
  domains.clear();
  const seen = new Set<number>();
  list('domains', s.domains).forEach((raw, i) => {
    const d = savedObject(raw);
    const id = int(`domains[${i}].id`, d.id, 0xffff_ffff);
    if (domains.domain(id) !== undefined) throw new RangeError(`domains[${i}].id ${id} is there twice`);
    const endpoints = list(`domains[${i}].endpoints`, d.endpoints);
    if (endpoints.length === 0) throw new RangeError(`domains[${i}] has no endpoint (a domain goes with its last)`);
    for (const [j, e] of endpoints.entries()) {
      const ep = int(`domains[${i}].endpoints[${j}]`, e, 0xffff_ffff);
      if (!domains.endpoints.has(ep) || seen.has(ep)) {
        throw new RangeError(`domains[${i}].endpoints[${j}] ${ep} is not a device behind this IOMMU, or is attached twice`);
      }
      seen.add(ep);
      domains.attach(id, ep);
    }
    const domain = domains.domain(id)!;
    list(`domains[${i}].mappings`, d.mappings).forEach((m, j) => {
      const [start, end, phys, flags] = Array.isArray(m) ? m as unknown[] : [];
      const at = `domains[${i}].mappings[${j}]`;
      const mapping = { start: int(`${at}[0]`, start, Number.MAX_SAFE_INTEGER), end: int(`${at}[1]`, end, Number.MAX_SAFE_INTEGER),
        phys: int(`${at}[2]`, phys, Number.MAX_SAFE_INTEGER), flags: int(`${at}[3]`, flags, MAP_FLAGS) };
      if (mapping.end < mapping.start || domains.map(domain, mapping) !== S.OK) {
        throw new RangeError(`${at} is not a mapping a MAP would make here (empty, overlapping, or past the caps)`);
      }
    });
  });
  const faults = list('faults', s.faults);
  if (faults.length > maxFaults) throw new RangeError(`faults holds more than ${maxFaults}`);
  return faults.map((raw, i) => {
    const [reason, flags, endpoint, address] = Array.isArray(raw) ? raw as unknown[] : [];
    if (typeof address !== 'string' || !/^\d{1,20}$/.test(address) || BigInt(address) >= 2n ** 64n) {
      throw new RangeError(`faults[${i}] address is ${JSON.stringify(address)}`);
    }
    return { reason: int(`faults[${i}] reason`, reason, 0xff), flags: int(`faults[${i}] flags`, flags, 0xffff_ffff),
      endpoint: int(`faults[${i}] endpoint`, endpoint, 0xffff_ffff), address: BigInt(address) };
  });
}
