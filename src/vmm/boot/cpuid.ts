// Per-vCPU CPUID from what KVM supports: this vCPU's APIC id and a topology of one socket with one thread per
// core, the hypervisor bit and KVM signature, and on request the vendor string and features changed for hosts
// whose KVM emulates guest kernel code (ENVIRONMENT.md: it cannot run XRSTOR, CLAC/STAC, POPCNT).
import type { CpuidEntry } from '../../base/kvm-types';

// pv-hypercalls: KVM paravirt features that work through VMCALL (PV spinlock kicks, PV IPIs, PV TLB flush, ...).
// On the PVM host an application processor came up and then hung in a hypercall while the boot CPU spun on a lock;
// with only the hypercall-free features (kvm-clock, PV EOI, steal time, async PF) both CPUs come up.
// x2apic: on the PVM host, with x2APIC offered Linux's INIT reaches an application processor but its SIPI never
// does (the AP stays at the reset vector); without it both CPUs come up.
export type HiddenFeature = 'xsave' | 'smap' | 'smep' | 'popcnt' | 'x2apic' | 'pv-hypercalls';
/** What the emulator on a PVM host cannot execute. */
export const EMULATOR_HIDDEN_FEATURES: readonly HiddenFeature[] = ['xsave', 'smap', 'smep', 'popcnt', 'x2apic', 'pv-hypercalls'];

export interface CpuidOptions {
  /** This vCPU's index, which is also its APIC id. */
  vcpuId: number;
  vcpuCount: number;
  /** Report "GenuineIntel" whatever the host is. */
  intelVendor?: boolean;
  /** Shorthand for hiding EMULATOR_HIDDEN_FEATURES. */
  maskForEmulator?: boolean;
  hideFeatures?: readonly HiddenFeature[];
}

export const KVM_CPUID_FLAG_SIGNIFICANT_INDEX = 1;
const MAX_APIC_ID = 254;

// Leaf 1
export const L1_ECX_FMA = 1 << 12;
export const L1_ECX_X2APIC = 1 << 21;
export const L1_ECX_POPCNT = 1 << 23;
export const L1_ECX_XSAVE = 1 << 26;
export const L1_ECX_OSXSAVE = 1 << 27;
export const L1_ECX_AVX = 1 << 28;
export const L1_ECX_F16C = 1 << 29;
export const L1_ECX_HYPERVISOR = 1 << 31;
export const L1_EDX_HTT = 1 << 28;
/** CLFLUSH line size in 8-byte units: 64 bytes. */
const CLFLUSH_LINE_QWORDS = 8;
// Leaf 7 subleaf 0
export const L7_EBX_AVX2 = 1 << 5;
export const L7_EBX_SMEP = 1 << 7;
export const L7_EBX_SMAP = 1 << 20;
/** AVX-512 F, DQ, IFMA, PF, ER, CD, BW, VL. */
export const L7_EBX_AVX512 =
  (1 << 16) | (1 << 17) | (1 << 21) | (1 << 26) | (1 << 27) | (1 << 28) | (1 << 30) | (1 << 31);
/** AVX state lives in the XSAVE area: without XSAVE, a CPU claiming these would be inconsistent. */
const L1_ECX_NEEDS_XSAVE = L1_ECX_AVX | L1_ECX_FMA | L1_ECX_F16C;
const L7_EBX_NEEDS_XSAVE = L7_EBX_AVX2 | L7_EBX_AVX512;

const LEAF_XSAVE_STATE = 0xd;
const TOPOLOGY_LEAVES = [0xb, 0x1f];
const TOPO_LEVEL_SMT = 1;
const TOPO_LEVEL_CORE = 2;
const HYPERVISOR_LEAF = 0x4000_0000;
const KVM_FEATURES_LEAF = 0x4000_0001;
/** KVM_FEATURE_* bits that need no hypercall: CLOCKSOURCE, NOP_IO_DELAY, CLOCKSOURCE2, ASYNC_PF, STEAL_TIME,
 *  PV_EOI, CLOCKSOURCE_STABLE_BIT. */
export const KVM_FEATURES_WITHOUT_HYPERCALLS = ((1 << 0) | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 24)) >>> 0;
const AMD_SIZE_LEAF = 0x8000_0008;
const AMD_TOPOLOGY_LEAF = 0x8000_001e;

/** A 12-byte vendor/signature string as the three registers hold it, in (ebx, edx, ecx) or (ebx, ecx, edx) order. */
export function signatureWords(text: string): [number, number, number] {
  const bytes = Buffer.alloc(12);
  bytes.write(text, 'latin1');
  return [bytes.readUInt32LE(0), bytes.readUInt32LE(4), bytes.readUInt32LE(8)];
}

export function vendorString(leaf0: CpuidEntry): string {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(leaf0.ebx >>> 0, 0);
  b.writeUInt32LE(leaf0.edx >>> 0, 4);
  b.writeUInt32LE(leaf0.ecx >>> 0, 8);
  return b.toString('latin1');
}

/** Bits needed to number `count` cores: ceil(log2(count)). */
export function coreIdBits(count: number): number {
  let bits = 0;
  while ((1 << bits) < count) bits++;
  return bits;
}

function checkOptions(o: CpuidOptions): void {
  if (!Number.isInteger(o.vcpuCount) || o.vcpuCount < 1 || o.vcpuCount > MAX_APIC_ID) {
    throw new RangeError(`vcpus: ${o.vcpuCount} is not between 1 and ${MAX_APIC_ID}`);
  }
  if (!Number.isInteger(o.vcpuId) || o.vcpuId < 0 || o.vcpuId >= o.vcpuCount) {
    throw new RangeError(`vCPU id ${o.vcpuId} is not below the vCPU count ${o.vcpuCount}`);
  }
}

function hiddenSet(o: CpuidOptions): Set<HiddenFeature> {
  return new Set([...(o.maskForEmulator ? EMULATOR_HIDDEN_FEATURES : []), ...(o.hideFeatures ?? [])]);
}

function fixLeaf1(e: CpuidEntry, o: CpuidOptions, hidden: Set<HiddenFeature>): void {
  // EBX[23:16] counts addressable logical processor ids in the package: a power of two that fits 8 bits.
  const addressable = Math.min(1 << coreIdBits(o.vcpuCount), 128);
  e.ebx = ((o.vcpuId << 24) | (addressable << 16) | (CLFLUSH_LINE_QWORDS << 8)) >>> 0;
  e.ecx = (e.ecx | L1_ECX_HYPERVISOR) >>> 0;
  e.edx = (o.vcpuCount > 1 ? e.edx | L1_EDX_HTT : e.edx & ~L1_EDX_HTT) >>> 0;
  if (hidden.has('xsave')) e.ecx &= ~(L1_ECX_XSAVE | L1_ECX_OSXSAVE | L1_ECX_NEEDS_XSAVE);
  if (hidden.has('popcnt')) e.ecx &= ~L1_ECX_POPCNT;
  if (hidden.has('x2apic')) e.ecx &= ~L1_ECX_X2APIC;
  e.ecx >>>= 0;
}

function fixLeaf7(e: CpuidEntry, hidden: Set<HiddenFeature>): void {
  if (e.index !== 0) return;
  if (hidden.has('smep')) e.ebx &= ~L7_EBX_SMEP;
  if (hidden.has('smap')) e.ebx &= ~L7_EBX_SMAP;
  if (hidden.has('xsave')) e.ebx &= ~L7_EBX_NEEDS_XSAVE;
  e.ebx >>>= 0;
}

/** Deterministic cache parameters: L1/L2 private to a core, L3 shared by the package. */
function fixLeaf4(e: CpuidEntry, o: CpuidOptions): void {
  const cacheType = e.eax & 0x1f;
  if (cacheType === 0) return;
  const level = (e.eax >> 5) & 0x7;
  const sharing = level >= 3 ? Math.min(o.vcpuCount - 1, 0xfff) : 0;
  const cores = Math.min(o.vcpuCount - 1, 0x3f);
  e.eax = ((e.eax & 0x3fff) | (sharing << 14) | (cores << 26)) >>> 0;
}

/** x2APIC topology leaf (0xB or 0x1F): subleaf 0 the thread level, 1 the core level, 2 the terminator. */
export function topologyEntries(leaf: number, o: CpuidOptions): CpuidEntry[] {
  const base = { function: leaf, flags: KVM_CPUID_FLAG_SIGNIFICANT_INDEX, edx: o.vcpuId };
  return [
    { ...base, index: 0, eax: 0, ebx: 1, ecx: (TOPO_LEVEL_SMT << 8) | 0 },
    { ...base, index: 1, eax: coreIdBits(o.vcpuCount), ebx: o.vcpuCount, ecx: (TOPO_LEVEL_CORE << 8) | 1 },
    { ...base, index: 2, eax: 0, ebx: 0, ecx: 2 },
  ];
}

function fixAmdTopology(e: CpuidEntry, o: CpuidOptions): void {
  if (e.function === AMD_SIZE_LEAF) {
    // ECX: cores in the package minus one, and how many APIC id bits number them.
    e.ecx = ((e.ecx & ~0xf0ff) | (coreIdBits(o.vcpuCount) << 12) | (o.vcpuCount - 1)) >>> 0;
  } else if (e.function === AMD_TOPOLOGY_LEAF) {
    e.eax = o.vcpuId;
    e.ebx = o.vcpuId & 0xff;
    e.ecx = 0;
  }
}

/** The CPUID table for one vCPU. The input is not modified. */
export function normalizeCpuid(supported: readonly CpuidEntry[], o: CpuidOptions): CpuidEntry[] {
  checkOptions(o);
  const hidden = hiddenSet(o);
  const out: CpuidEntry[] = [];
  const topologyDone = new Set<number>();
  const leaf0 = supported.find((e) => e.function === 0);
  const amd = !o.intelVendor && leaf0 !== undefined && /^(AuthenticAMD|HygonGenuine)$/.test(vendorString(leaf0));
  for (const original of supported) {
    const e = { ...original };
    if (TOPOLOGY_LEAVES.includes(e.function)) {
      if (!topologyDone.has(e.function)) out.push(...topologyEntries(e.function, o));
      topologyDone.add(e.function);
      continue;
    }
    if (e.function === LEAF_XSAVE_STATE && hidden.has('xsave')) continue;
    switch (e.function) {
      case 0:
        if (o.intelVendor) [e.ebx, e.edx, e.ecx] = signatureWords('GenuineIntel');
        break;
      case 1: fixLeaf1(e, o, hidden); break;
      case 4: fixLeaf4(e, o); break;
      case 7: fixLeaf7(e, hidden); break;
      case HYPERVISOR_LEAF:
        [e.ebx, e.ecx, e.edx] = signatureWords('KVMKVMKVM');
        break;
      case KVM_FEATURES_LEAF:
        if (hidden.has('pv-hypercalls')) e.eax = (e.eax & KVM_FEATURES_WITHOUT_HYPERCALLS) >>> 0;
        break;
      default:
        if (amd) fixAmdTopology(e, o);
    }
    out.push(e);
  }
  return out;
}
