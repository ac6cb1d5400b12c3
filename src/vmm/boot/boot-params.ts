// The zero page (struct boot_params) for the 64-bit Linux boot protocol. A bzImage's own setup header is copied
// in; a vmlinux has none, so a minimal one is made. Offsets are those of Documentation/arch/x86/zero-page.rst.
import type { GuestMemory } from '../../base/guest-memory';
import { BOOT_FLAG_MAGIC, CAN_USE_HEAP, HDR, HDRS_MAGIC, LOADED_HIGH } from './bzimage';
import { BootError } from './errors';
import type { E820Entry } from './layout';
import { PAGE_SIZE, ZERO_PAGE_ADDR } from './layout';

export const ZP = {
  /** Boot protocol 2.14: where the RSDP is, so the kernel need not scan for it. */
  ACPI_RSDP_ADDR: 0x070,
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  E820_ENTRIES: 0x1e8,
  /** Must stay 0: a nonzero sentinel makes the kernel distrust (and clear) much of the page. */
  SENTINEL: 0x1ef,
  E820_TABLE: 0x2d0,
} as const;

export const E820_MAX_ENTRIES_ZEROPAGE = 128;
const E820_ENTRY_BYTES = 20;
/** Protocol 2.15: what a vmlinux's minimal header claims. */
export const MINIMAL_HEADER_VERSION = 0x020f;
export const LOADER_TYPE_UNDEFINED = 0xff;
/** End of the setup heap, relative to the real-mode code minus 0x200, as loaders conventionally set it. */
const HEAP_END_PTR = 0xfe00;
/** CONFIG_PHYSICAL_ALIGN's default; what a vmlinux's minimal header claims. */
const DEFAULT_KERNEL_ALIGNMENT = 0x20_0000;

export interface ZeroPageOptions {
  /** A bzImage's header bytes (file offset 0x1F1 on); absent for a vmlinux. */
  setupHeader?: Uint8Array;
  cmdlineAddr: number;
  cmdlineCapacity: number;
  initrd?: { addr: number; size: number };
  e820: E820Entry[];
  /** The ACPI RSDP, when the machine has ACPI tables. */
  rsdpAddr?: number;
}

function splitU64(v: DataView, lowOff: number, highOff: number, value: number): void {
  v.setUint32(lowOff, value % 0x1_0000_0000, true);
  v.setUint32(highOff, Math.floor(value / 0x1_0000_0000), true);
}

function writeMinimalHeader(v: DataView, o: ZeroPageOptions): void {
  v.setUint16(HDR.BOOT_FLAG, BOOT_FLAG_MAGIC, true);
  v.setUint32(HDR.HEADER, HDRS_MAGIC, true);
  v.setUint16(HDR.VERSION, MINIMAL_HEADER_VERSION, true);
  v.setUint32(HDR.KERNEL_ALIGNMENT, DEFAULT_KERNEL_ALIGNMENT, true);
  v.setUint32(HDR.CMDLINE_SIZE, o.cmdlineCapacity - 1, true);
}

function writeE820(v: DataView, table: E820Entry[]): void {
  if (table.length > E820_MAX_ENTRIES_ZEROPAGE) {
    throw new BootError(`memory: ${table.length} memory map entries do not fit in the zero page`);
  }
  v.setUint8(ZP.E820_ENTRIES, table.length);
  table.forEach((e, i) => {
    const at = ZP.E820_TABLE + i * E820_ENTRY_BYTES;
    v.setBigUint64(at, BigInt(e.addr), true);
    v.setBigUint64(at + 8, BigInt(e.size), true);
    v.setUint32(at + 16, e.type, true);
  });
}

/** Writes the zero page at its fixed address; returns that address (RSI at the 64-bit entry). */
export function writeZeroPage(mem: GuestMemory, o: ZeroPageOptions): number {
  mem.fill(ZERO_PAGE_ADDR, PAGE_SIZE, 0);
  const page = mem.bytes(ZERO_PAGE_ADDR, PAGE_SIZE);
  const v = new DataView(page.buffer, page.byteOffset, page.byteLength);
  if (o.setupHeader) {
    if (HDR.SETUP_SECTS + o.setupHeader.length > HDR.AREA_END) throw new RangeError('setup header too long');
    page.set(o.setupHeader, HDR.SETUP_SECTS);
  } else {
    writeMinimalHeader(v, o);
  }
  v.setUint8(HDR.TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED);
  v.setUint8(HDR.LOADFLAGS, v.getUint8(HDR.LOADFLAGS) | LOADED_HIGH | CAN_USE_HEAP);
  v.setUint16(HDR.HEAP_END_PTR, HEAP_END_PTR, true);
  splitU64(v, HDR.CMD_LINE_PTR, ZP.EXT_CMD_LINE_PTR, o.cmdlineAddr);
  if (o.initrd) {
    splitU64(v, HDR.RAMDISK_IMAGE, ZP.EXT_RAMDISK_IMAGE, o.initrd.addr);
    splitU64(v, HDR.RAMDISK_SIZE, ZP.EXT_RAMDISK_SIZE, o.initrd.size);
  }
  writeE820(v, o.e820);
  if (o.rsdpAddr !== undefined) v.setBigUint64(ZP.ACPI_RSDP_ADDR, BigInt(o.rsdpAddr), true);
  return ZERO_PAGE_ADDR;
}
