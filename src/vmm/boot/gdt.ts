// The boot GDT and the KVM segment registers that match it. Selectors follow the Linux boot protocol: __BOOT_CS is
// 0x10 and __BOOT_DS 0x18; 0x08 holds the flat 32-bit code segment the PVH entry runs in.
import type { GuestMemory } from '../../base/guest-memory';
import type { DescriptorTable, Segment } from '../../base/kvm-types';
import { GDT_ADDR, GDT_MAX_BYTES, IDT_ADDR, IDT_BYTES, TSS_ADDR, TSS_BYTES } from './layout';

export const SEL_CODE32 = 0x08;
export const SEL_CODE64 = 0x10;
export const SEL_DATA = 0x18;
export const SEL_TSS = 0x20;

// Access bytes: present, DPL 0; code is execute/read, data read/write, both already "accessed" because VMX
// refuses usable segments without the accessed bit; the TSS is a busy 32/64-bit TSS (type 11) as TR must be.
const ACCESS_CODE = 0x9b;
const ACCESS_DATA = 0x93;
const ACCESS_TSS = 0x8b;
// Flags nibble: G (4 KiB granularity) | D/B (32-bit) or L (64-bit code).
const FLAGS_32 = 0xc;
const FLAGS_64_CODE = 0xa;
const FLAGS_BYTE_GRANULAR = 0x0;

/** One 8-byte segment descriptor. `limit` is the raw 20-bit field. */
export function gdtEntry(access: number, flags: number, base: number, limit: number): bigint {
  const b = BigInt(base >>> 0);
  const l = BigInt(limit & 0xfffff);
  return (
    (l & 0xffffn) |
    ((b & 0xffffffn) << 16n) |
    (BigInt(access & 0xff) << 40n) |
    (((l >> 16n) & 0xfn) << 48n) |
    (BigInt(flags & 0xf) << 52n) |
    (((b >> 24n) & 0xffn) << 56n)
  );
}

/** Decodes a descriptor into the kvm_segment KVM expects (limit expanded to bytes, selector attached). */
export function segmentFromEntry(entry: bigint, selector: number): Segment {
  const access = Number((entry >> 40n) & 0xffn);
  const flags = Number((entry >> 52n) & 0xfn);
  const rawLimit = Number((entry & 0xffffn) | (((entry >> 48n) & 0xfn) << 16n));
  const base = (entry >> 16n) & 0xffffffn | (((entry >> 56n) & 0xffn) << 24n);
  const g = (flags >> 3) & 1;
  return {
    base,
    limit: g ? ((rawLimit * 0x1000) + 0xfff) >>> 0 : rawLimit,
    selector,
    type: access & 0xf,
    s: (access >> 4) & 1,
    dpl: (access >> 5) & 3,
    present: (access >> 7) & 1,
    avl: flags & 1,
    l: (flags >> 1) & 1,
    db: (flags >> 2) & 1,
    g,
    unusable: (access >> 7) & 1 ? 0 : 1,
  };
}

export interface BootGdt {
  /** Descriptors by slot; the TSS takes two slots (its upper half holds base bits 63:32, here 0). */
  entries: bigint[];
  gdt: DescriptorTable;
  idt: DescriptorTable;
  code32: Segment;
  code64: Segment;
  data: Segment;
  tss: Segment;
}

export function bootGdtEntries(): bigint[] {
  return [
    0n,
    gdtEntry(ACCESS_CODE, FLAGS_32, 0, 0xfffff),
    gdtEntry(ACCESS_CODE, FLAGS_64_CODE, 0, 0xfffff),
    gdtEntry(ACCESS_DATA, FLAGS_32, 0, 0xfffff),
    gdtEntry(ACCESS_TSS, FLAGS_BYTE_GRANULAR, TSS_ADDR, TSS_BYTES - 1),
    0n,
  ];
}

/** The descriptors and segment registers, without writing anything. */
export function bootGdt(): BootGdt {
  const entries = bootGdtEntries();
  return {
    entries,
    gdt: { base: BigInt(GDT_ADDR), limit: entries.length * 8 - 1 },
    idt: { base: BigInt(IDT_ADDR), limit: IDT_BYTES - 1 },
    code32: segmentFromEntry(entries[SEL_CODE32 >> 3]!, SEL_CODE32),
    code64: segmentFromEntry(entries[SEL_CODE64 >> 3]!, SEL_CODE64),
    data: segmentFromEntry(entries[SEL_DATA >> 3]!, SEL_DATA),
    tss: segmentFromEntry(entries[SEL_TSS >> 3]!, SEL_TSS),
  };
}

/** Writes the GDT, an empty IDT and a zeroed TSS; returns what the segment registers must hold. */
export function writeBootGdt(mem: GuestMemory): BootGdt {
  const g = bootGdt();
  if (g.entries.length * 8 > GDT_MAX_BYTES) throw new Error('boot GDT outgrew its slot');
  mem.fill(GDT_ADDR, GDT_MAX_BYTES, 0);
  g.entries.forEach((e, i) => mem.writeU64(GDT_ADDR + i * 8, e));
  mem.fill(IDT_ADDR, IDT_BYTES, 0);
  mem.fill(TSS_ADDR, TSS_BYTES, 0);
  return g;
}
