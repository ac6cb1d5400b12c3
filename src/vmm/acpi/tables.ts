// The static ACPI tables of a hardware-reduced machine (ACPI 6.5, chapter 5): RSDP -> XSDT -> FADT (-> DSDT) and
// MADT. Hardware-reduced means no PM1 blocks, no SCI and no GPEs: power-off and reset go through the FADT's sleep
// control and reset registers, which the VMM answers on the vCPU thread (src/devices/acpi-pm.ts).
import { ACPI_PM_OFFSET, ACPI_RESET_VALUE } from '../../devices/acpi-pm';
import { IOAPIC_ADDR, LAPIC_ADDR } from '../boot/layout';
import { MP_MAX_VCPUS } from '../boot/mptable';
import { dsdtBody, type AcpiPlatform } from './dsdt';

export const SDT_HEADER_BYTES = 36;
export const RSDP_BYTES = 36;
/** The RSDP's first 20 bytes (the ACPI 1.0 structure) have their own checksum. */
export const RSDP_V1_BYTES = 20;
export const FADT_BYTES = 276;
const FADT_REVISION = 6;
const FADT_MINOR_REVISION = 5;
const MADT_REVISION = 5;
const DSDT_REVISION = 2; // 2 and up: AML integers are 64-bit
const OEM = { id: 'TSVMM', tableId: 'MICROVM', revision: 1, creatorId: 'TSVM', creatorRevision: 1 } as const;

export const FADT = {
  DSDT: 40, IAPC_BOOT_ARCH: 109, FLAGS: 112, RESET_REG: 116, RESET_VALUE: 128, MINOR_REVISION: 131, X_DSDT: 140,
  SLEEP_CONTROL_REG: 244, SLEEP_STATUS_REG: 256,
} as const;
export const FADT_FLAG = { RESET_REG_SUP: 1 << 10, HW_REDUCED_ACPI: 1 << 20 } as const;
/** An i8042 exists (Linux leaves the controller alone without this bit); there is no VGA, MSI or CMOS RTC. */
export const BOOT_ARCH = { I8042: 1 << 1, NO_VGA: 1 << 2, NO_MSI: 1 << 3, NO_CMOS_RTC: 1 << 5 } as const;
const GAS_SYSTEM_IO = 1;
const GAS_ACCESS_BYTE = 1;

export const MADT_ENTRY = { LOCAL_APIC: 0, IO_APIC: 1, INTERRUPT_OVERRIDE: 2, LOCAL_APIC_NMI: 4 } as const;
/** The machine has the two 8259s (KVM's in-kernel PIC) beside the IOAPIC. */
const MADT_PCAT_COMPAT = 1;
const LAPIC_ENABLED = 1;
const ALL_PROCESSORS = 0xff;
const NMI_LINT = 1;
/** Polarity and trigger "conform to the bus": for ISA, active high and edge, as the MP table says. */
const MPS_INTI_CONFORMS = 0;

class Table {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(length: number) {
    this.bytes = new Uint8Array(length);
    this.view = new DataView(this.bytes.buffer);
  }
  text(at: number, s: string, width: number): void {
    for (let i = 0; i < width; i++) this.bytes[at + i] = i < s.length ? s.charCodeAt(i) : 0x20;
  }
  u64(at: number, v: number): void { this.view.setBigUint64(at, BigInt(v), true); }
  /** A Generic Address Structure for a one-byte I/O port register. */
  ioRegister(at: number, port: number): void {
    this.bytes.set([GAS_SYSTEM_IO, 8, 0, GAS_ACCESS_BYTE], at);
    this.u64(at + 4, port);
  }
}

/** The byte that makes `bytes` sum to 0 modulo 256 when placed in a zero checksum field. */
export function acpiChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** A system description table: the 36-byte header, then `body`, checksummed. */
export function sdt(signature: string, revision: number, body: Uint8Array): Uint8Array {
  const t = new Table(SDT_HEADER_BYTES + body.length);
  t.text(0, signature, 4);
  t.view.setUint32(4, t.bytes.length, true);
  t.bytes[8] = revision;
  t.text(10, OEM.id, 6);
  t.text(16, OEM.tableId, 8);
  t.view.setUint32(24, OEM.revision, true);
  t.text(28, OEM.creatorId, 4);
  t.view.setUint32(32, OEM.creatorRevision, true);
  t.bytes.set(body, SDT_HEADER_BYTES);
  t.bytes[9] = acpiChecksum(t.bytes);
  return t.bytes;
}

export function buildRsdp(xsdtAddr: number): Uint8Array {
  const t = new Table(RSDP_BYTES);
  t.text(0, 'RSD PTR ', 8);
  t.text(9, OEM.id, 6);
  t.bytes[15] = 2; // ACPI 2.0 and later: the XSDT address and the extended checksum follow
  t.view.setUint32(20, RSDP_BYTES, true);
  t.u64(24, xsdtAddr);
  t.bytes[8] = acpiChecksum(t.bytes.subarray(0, RSDP_V1_BYTES));
  t.bytes[32] = acpiChecksum(t.bytes);
  return t.bytes;
}

export function buildXsdt(entries: number[]): Uint8Array {
  const body = new Table(entries.length * 8);
  entries.forEach((addr, i) => body.u64(i * 8, addr));
  return sdt('XSDT', 1, body.bytes);
}

export function buildFadt(dsdtAddr: number, pmPort: number): Uint8Array {
  const t = new Table(FADT_BYTES - SDT_HEADER_BYTES);
  const at = (offset: number): number => offset - SDT_HEADER_BYTES;
  t.view.setUint16(at(FADT.IAPC_BOOT_ARCH), BOOT_ARCH.I8042 | BOOT_ARCH.NO_VGA | BOOT_ARCH.NO_MSI |
    BOOT_ARCH.NO_CMOS_RTC, true);
  t.view.setUint32(at(FADT.FLAGS), FADT_FLAG.HW_REDUCED_ACPI | FADT_FLAG.RESET_REG_SUP, true);
  t.ioRegister(at(FADT.RESET_REG), pmPort + ACPI_PM_OFFSET.RESET);
  t.bytes[at(FADT.RESET_VALUE)] = ACPI_RESET_VALUE;
  t.bytes[at(FADT.MINOR_REVISION)] = FADT_MINOR_REVISION;
  // Only the 64-bit pointer: an OS that finds both compares them, and one source of truth is simpler.
  t.u64(at(FADT.X_DSDT), dsdtAddr);
  t.ioRegister(at(FADT.SLEEP_CONTROL_REG), pmPort + ACPI_PM_OFFSET.SLEEP_CONTROL);
  t.ioRegister(at(FADT.SLEEP_STATUS_REG), pmPort + ACPI_PM_OFFSET.SLEEP_STATUS);
  return sdt('FACP', FADT_REVISION, t.bytes);
}

/**
 * The CPUs, the IOAPIC and the NMI line, as the MP table (src/vmm/boot/mptable.ts) says them: LAPIC ids 0..n-1,
 * the IOAPIC's id n with GSI n on pin n, and LINT1 as NMI on every CPU. The one override says that IRQ 0 (the PIT)
 * is GSI 0: PC firmware routes it to pin 2 and OSes may assume so, but KVM's default routing keeps it on pin 0.
 */
export function buildMadt(vcpus: number): Uint8Array {
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MP_MAX_VCPUS) {
    throw new RangeError(`vcpus: ${vcpus} is not between 1 and ${MP_MAX_VCPUS}`);
  }
  const t = new Table(8 + vcpus * 8 + 12 + 10 + 6);
  t.view.setUint32(0, LAPIC_ADDR, true);
  t.view.setUint32(4, MADT_PCAT_COMPAT, true);
  let at = 8;
  for (let id = 0; id < vcpus; id++, at += 8) {
    t.bytes.set([MADT_ENTRY.LOCAL_APIC, 8, id, id], at);
    t.view.setUint32(at + 4, LAPIC_ENABLED, true);
  }
  t.bytes.set([MADT_ENTRY.IO_APIC, 12, vcpus, 0], at);
  t.view.setUint32(at + 4, IOAPIC_ADDR, true);
  t.view.setUint32(at + 8, 0, true);
  at += 12;
  t.bytes.set([MADT_ENTRY.INTERRUPT_OVERRIDE, 10, 0, 0], at);
  t.view.setUint32(at + 4, 0, true);
  t.view.setUint16(at + 8, MPS_INTI_CONFORMS, true);
  at += 10;
  t.bytes.set([MADT_ENTRY.LOCAL_APIC_NMI, 6, ALL_PROCESSORS], at);
  t.view.setUint16(at + 3, MPS_INTI_CONFORMS, true);
  t.bytes[at + 5] = NMI_LINT;
  return sdt('APIC', MADT_REVISION, t.bytes);
}

export function buildDsdt(p: AcpiPlatform): Uint8Array {
  return sdt('DSDT', DSDT_REVISION, dsdtBody(p));
}
