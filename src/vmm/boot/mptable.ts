// An Intel MultiProcessor Specification 1.4 table. Without ACPI, this is how Linux learns the CPUs (and so brings
// up the application processors), the IOAPIC and how the ISA/virtio IRQ lines reach its pins.
import type { GuestMemory } from '../../base/guest-memory';
import { BootError } from './errors';
import { HIMEM_START, IOAPIC_ADDR, IOAPIC_PINS, LAPIC_ADDR, MPTABLE_ADDR } from './layout';

export const MP_MAX_VCPUS = 254;
const SPEC_REV_1_4 = 4;
const FLOATING_BYTES = 16;
const HEADER_BYTES = 44;
export const MP_ENTRY = { PROCESSOR: 0, BUS: 1, IOAPIC: 2, IOINTR: 3, LINTR: 4 } as const;
export const MP_ENTRY_BYTES = { PROCESSOR: 20, OTHER: 8 } as const;
export const MP_INT = { INT: 0, NMI: 1, SMI: 2, EXTINT: 3 } as const;
const CPU_ENABLED = 1;
const CPU_BOOTSTRAP = 2;
/** What KVM's in-kernel local APIC reports as its version. */
const LAPIC_VERSION = 0x14;
export const IOAPIC_VERSION = 0x11;
/** Family 6 in the processor entry, FPU and APIC in its feature flags: informational only. */
const CPU_SIGNATURE = 0x600;
const CPU_FEATURES = (1 << 0) | (1 << 9);
const BUS_ID_ISA = 0;
/** Polarity and trigger "conform to the bus": active high, edge for ISA. */
const IRQ_FLAGS_DEFAULT = 0;
const ALL_LAPICS = 0xff;

class Writer {
  private readonly view: DataView;
  at = 0;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u8(v: number): this { this.view.setUint8(this.at, v); this.at += 1; return this; }
  u16(v: number): this { this.view.setUint16(this.at, v, true); this.at += 2; return this; }
  u32(v: number): this { this.view.setUint32(this.at, v >>> 0, true); this.at += 4; return this; }
  text(s: string, width: number): this {
    for (let i = 0; i < width; i++) this.u8(i < s.length ? s.charCodeAt(i) : 0x20);
    return this;
  }
  zeros(n: number): this { this.at += n; return this; }
}

/** The byte that makes `bytes` sum to 0 modulo 256 when placed in a zero checksum field. */
export function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

export function mpTableSize(vcpus: number): number {
  const entries = 2 + IOAPIC_PINS + 2;
  return FLOATING_BYTES + HEADER_BYTES + vcpus * MP_ENTRY_BYTES.PROCESSOR + entries * MP_ENTRY_BYTES.OTHER;
}

function writeEntries(w: Writer, vcpus: number): number {
  for (let id = 0; id < vcpus; id++) {
    w.u8(MP_ENTRY.PROCESSOR).u8(id).u8(LAPIC_VERSION).u8(CPU_ENABLED | (id === 0 ? CPU_BOOTSTRAP : 0));
    w.u32(CPU_SIGNATURE).u32(CPU_FEATURES).zeros(8);
  }
  w.u8(MP_ENTRY.BUS).u8(BUS_ID_ISA).text('ISA', 6);
  const ioapicId = vcpus;
  w.u8(MP_ENTRY.IOAPIC).u8(ioapicId).u8(IOAPIC_VERSION).u8(1).u32(IOAPIC_ADDR);
  // KVM's default routing sends GSI n to IOAPIC pin n, so IRQ n is pin n, for the ISA lines and the virtio ones.
  for (let irq = 0; irq < IOAPIC_PINS; irq++) {
    w.u8(MP_ENTRY.IOINTR).u8(MP_INT.INT).u16(IRQ_FLAGS_DEFAULT).u8(BUS_ID_ISA).u8(irq).u8(ioapicId).u8(irq);
  }
  w.u8(MP_ENTRY.LINTR).u8(MP_INT.EXTINT).u16(IRQ_FLAGS_DEFAULT).u8(BUS_ID_ISA).u8(0).u8(0).u8(0);
  w.u8(MP_ENTRY.LINTR).u8(MP_INT.NMI).u16(IRQ_FLAGS_DEFAULT).u8(BUS_ID_ISA).u8(0).u8(ALL_LAPICS).u8(1);
  return vcpus + 2 + IOAPIC_PINS + 2;
}

/** The floating pointer and configuration table for `vcpus` CPUs, as they sit at `base`. */
export function buildMpTable(vcpus: number, base = MPTABLE_ADDR): Uint8Array {
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MP_MAX_VCPUS) {
    throw new BootError(`vcpus: ${vcpus} is not between 1 and ${MP_MAX_VCPUS}`);
  }
  const bytes = new Uint8Array(mpTableSize(vcpus));
  const configAddr = base + FLOATING_BYTES;
  const floating = new Writer(bytes.subarray(0, FLOATING_BYTES));
  floating.text('_MP_', 4).u32(configAddr).u8(1).u8(SPEC_REV_1_4).u8(0).u8(0).u8(0).zeros(3);
  bytes[10] = checksum(bytes.subarray(0, FLOATING_BYTES));

  const config = bytes.subarray(FLOATING_BYTES);
  const w = new Writer(config);
  w.text('PCMP', 4).u16(config.length).u8(SPEC_REV_1_4).u8(0).text('TSVMM', 8).text('MICROVM', 12);
  w.u32(0).u16(0);
  const countAt = w.at;
  w.u16(0).u32(LAPIC_ADDR).u16(0).u8(0).u8(0);
  const count = writeEntries(w, vcpus);
  new DataView(config.buffer, config.byteOffset).setUint16(countAt, count, true);
  config[7] = checksum(config);
  return bytes;
}

/** Writes the table at its fixed address in the EBDA; it must end before 1 MiB, where the kernel may sit. */
export function writeMpTable(mem: GuestMemory, vcpus: number): { addr: number; size: number } {
  const bytes = buildMpTable(vcpus);
  if (MPTABLE_ADDR + bytes.length > HIMEM_START) throw new BootError(`vcpus: ${vcpus} CPUs overflow the MP table area`);
  mem.write(MPTABLE_ADDR, bytes);
  return { addr: MPTABLE_ADDR, size: bytes.length };
}
