// Places the ACPI tables in the BIOS area below 1 MiB (reserved in the e820 map), with the RSDP first at 0xE0000:
// the boot protocols pass its address (zero page, hvm_start_info), and a kernel that ignores them finds it by the
// scan of 0xE0000..0xFFFFF that the ACPI spec defines for legacy BIOS machines.
import type { GuestMemory } from '../../base/guest-memory';
import { BootError } from '../boot/errors';
import { alignUp, HIMEM_START } from '../boot/layout';
import { buildDsdt, buildFadt, buildMadt, buildRsdp, buildXsdt, FADT_BYTES, RSDP_BYTES, SDT_HEADER_BYTES } from './tables';
import type { AcpiPlatform } from './dsdt';
import { buildViot } from './viot';

export type { AcpiPlatform } from './dsdt';

export const ACPI_TABLES_ADDR = 0xe0000;
export const ACPI_TABLES_END = HIMEM_START;
/** The sleep control, sleep status and reset registers: I/O ports no PC device claims. */
export const ACPI_PM_PORT = 0x600;
/**
 * The power button's line: ISA IRQ 3 (COM2's, and this machine has no COM2) is free and stays free whatever the
 * virtio devices take (GSI 5 and up), and as an ISA line it is edge-triggered in the MP table and MADT alike.
 */
export const POWER_BUTTON_GSI = 3;
/** The RSDP scan looks at 16-byte boundaries; the other tables only need natural alignment, but keep them tidy. */
const TABLE_ALIGN = 16;

export interface AcpiTables {
  rsdpAddr: number;
  /** Every table, at its guest-physical address. */
  tables: { addr: number; bytes: Uint8Array }[];
}

/** Lays the tables out from `base`: RSDP, XSDT, FADT, MADT, VIOT (with an IOMMU), DSDT. Pure: nothing is written. */
export function buildAcpiTables(p: AcpiPlatform, base = ACPI_TABLES_ADDR): AcpiTables {
  const rsdpAddr = base;
  const xsdtAddr = alignUp(rsdpAddr + RSDP_BYTES, TABLE_ALIGN);
  const madt = buildMadt(p.vcpus);
  const viot = p.iommu === undefined ? undefined : buildViot(p.iommu);
  const dsdt = buildDsdt(p);
  const xsdtEntries = viot === undefined ? 2 : 3;
  // The FADT's size is fixed, so every address is known before the tables that point at each other are built.
  const fadtAddr = alignUp(xsdtAddr + SDT_HEADER_BYTES + xsdtEntries * 8, TABLE_ALIGN);
  const madtAddr = alignUp(fadtAddr + FADT_BYTES, TABLE_ALIGN);
  const viotAddr = alignUp(madtAddr + madt.length, TABLE_ALIGN);
  const dsdtAddr = alignUp(viotAddr + (viot?.length ?? 0), TABLE_ALIGN);
  const listed = viot === undefined ? [fadtAddr, madtAddr] : [fadtAddr, madtAddr, viotAddr];
  return {
    rsdpAddr,
    tables: [
      { addr: rsdpAddr, bytes: buildRsdp(xsdtAddr) },
      { addr: xsdtAddr, bytes: buildXsdt(listed) },
      { addr: fadtAddr, bytes: buildFadt(dsdtAddr, p.pmPort) },
      { addr: madtAddr, bytes: madt },
      ...(viot === undefined ? [] : [{ addr: viotAddr, bytes: viot }]),
      { addr: dsdtAddr, bytes: dsdt },
    ],
  };
}

/** Writes the tables into the BIOS area; returns the RSDP's address for the boot protocol. */
export function writeAcpiTables(mem: GuestMemory, p: AcpiPlatform): number {
  const t = buildAcpiTables(p);
  const last = t.tables[t.tables.length - 1]!;
  if (last.addr + last.bytes.length > ACPI_TABLES_END) {
    throw new BootError(`the ACPI tables (${p.vcpus} CPUs, ${p.virtio.length} virtio devices) overflow the BIOS area`);
  }
  mem.fill(ACPI_TABLES_ADDR, ACPI_TABLES_END - ACPI_TABLES_ADDR, 0);
  for (const { addr, bytes } of t.tables) mem.write(addr, bytes);
  return t.rsdpAddr;
}
