// The machine's guest-physical memory map. RAM starts at 0 and runs up to the 32-bit MMIO gap; what does not fit
// below the gap continues at 4 GiB. Everything the VMM writes for booting lives below 1 MiB, the kernel and initrd
// above it, so the two can never overlap.
import { BootError } from './errors';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const PAGE_SIZE = 4096;

/** The 32-bit MMIO gap: virtio-mmio windows, IOAPIC, LAPIC. No RAM here. */
export const MMIO_GAP_START = 0xc000_0000;
export const MMIO_GAP_END = 0x1_0000_0000;
export const HIGH_RAM_START = MMIO_GAP_END;

/** Smallest guest the boot path can lay out: room for a kernel above 1 MiB. */
export const MIN_MEMORY = 8 * MiB;

// Fixed addresses below 1 MiB (the layout used by small microVM monitors, adjusted to hold a 6-slot GDT).
export const GDT_ADDR = 0x500;
/** Room for 8 descriptors. */
export const GDT_MAX_BYTES = 0x40;
/** An IDT whose single 16-byte gate is not present: any early exception ends in a triple fault (a clean stop). */
export const IDT_ADDR = 0x540;
export const IDT_BYTES = 16;
/** The TSS that TR points at; the guest replaces it before it needs one. */
export const TSS_ADDR = 0x580;
export const TSS_BYTES = 0x68;
export const PVH_START_INFO_ADDR = 0x6000;
export const PVH_MODLIST_ADDR = 0x6040;
export const PVH_MEMMAP_ADDR = 0x6080;
export const PVH_INFO_END = 0x7000;
export const ZERO_PAGE_ADDR = 0x7000;
export const BOOT_STACK_TOP = 0x8ff0;
export const PML4_ADDR = 0x9000;
export const PDPT_ADDR = 0xa000;
/** Four page directories (0xB000..0xEFFF) map the first 4 GiB with 2 MiB pages. */
export const PD_ADDR = 0xb000;
export const IDENTITY_MAP_BYTES = 4 * GiB;
export const CMDLINE_ADDR = 0x20000;
/** Including the terminating NUL. */
export const CMDLINE_MAX_BYTES = 64 * KiB;
/** Linux scans the last KiB of base memory (639 KiB) for the MP floating pointer. */
export const EBDA_START = 0x9fc00;
export const MPTABLE_ADDR = EBDA_START;
/** Where the legacy area (EBDA, VGA, option ROMs, BIOS) ends and high memory begins. */
export const HIMEM_START = 1 * MiB;
export const KERNEL_DEFAULT_ADDR = HIMEM_START;

export const IOAPIC_ADDR = 0xfec0_0000;
export const LAPIC_ADDR = 0xfee0_0000;
/** The IOAPIC has 24 input pins: GSI 0..23. */
export const IOAPIC_PINS = 24;

export const VIRTIO_MMIO_BASE = 0xd000_0000;
export const VIRTIO_MMIO_SIZE = 0x1000;
/** IRQ 4 is COM1 (and 0..3 are the PIT, keyboard, cascade, COM2), so virtio devices take 5 and up. */
export const VIRTIO_IRQ_FIRST = 5;
/** One slot per remaining IOAPIC pin. */
export const VIRTIO_MMIO_SLOTS = IOAPIC_PINS - VIRTIO_IRQ_FIRST;

export interface RamRegion { gpa: number; size: number }

export const E820_RAM = 1;
export const E820_RESERVED = 2;

export interface E820Entry { addr: number; size: number; type: number }

function checkMemory(memBytes: number): void {
  if (!Number.isSafeInteger(memBytes) || memBytes < MIN_MEMORY || memBytes % PAGE_SIZE !== 0) {
    throw new BootError(
      `memory: ${memBytes} bytes is not a whole number of 4 KiB pages of at least ${MIN_MEMORY / MiB} MiB`);
  }
}

/** Guest RAM regions for `memBytes` of RAM: one below the MMIO gap, and one at 4 GiB for the rest. */
export function ramRegions(memBytes: number): RamRegion[] {
  checkMemory(memBytes);
  if (memBytes <= MMIO_GAP_START) return [{ gpa: 0, size: memBytes }];
  return [
    { gpa: 0, size: MMIO_GAP_START },
    { gpa: HIGH_RAM_START, size: memBytes - MMIO_GAP_START },
  ];
}

/** End (exclusive) of the RAM below the MMIO gap. */
export function lowRamEnd(memBytes: number): number {
  return ramRegions(memBytes)[0]!.size;
}

/** The BIOS-style memory map handed to the guest (e820 in the zero page, the PVH memmap). */
export function e820Table(memBytes: number): E820Entry[] {
  const regions = ramRegions(memBytes);
  const low = regions[0]!;
  const table: E820Entry[] = [
    { addr: 0, size: EBDA_START, type: E820_RAM },
    { addr: EBDA_START, size: HIMEM_START - EBDA_START, type: E820_RESERVED },
    { addr: HIMEM_START, size: low.size - HIMEM_START, type: E820_RAM },
  ];
  for (const r of regions.slice(1)) table.push({ addr: r.gpa, size: r.size, type: E820_RAM });
  return table;
}

export interface VirtioMmioSlot { base: number; size: number; irq: number }

/** The MMIO window and IRQ of the n-th virtio-mmio device (n from 0). */
export function virtioMmioSlot(n: number): VirtioMmioSlot {
  if (!Number.isInteger(n) || n < 0 || n >= VIRTIO_MMIO_SLOTS) {
    throw new RangeError(`virtio-mmio slot ${n} does not exist (the machine has slots 0..${VIRTIO_MMIO_SLOTS - 1})`);
  }
  return { base: VIRTIO_MMIO_BASE + n * VIRTIO_MMIO_SIZE, size: VIRTIO_MMIO_SIZE, irq: VIRTIO_IRQ_FIRST + n };
}

export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

export function alignDown(n: number, align: number): number {
  return Math.floor(n / align) * align;
}
