// bzImage kernels through the Linux x86 boot protocol (Documentation/arch/x86/boot.rst): the setup header is
// checked and kept for the zero page, the protected-mode part is loaded and entered at its 64-bit entry point.
// The real-mode setup code is never run.
import type { GuestMemory } from '../../base/guest-memory';
import { BootError, hex } from './errors';
import { alignUp, HIMEM_START } from './layout';

/** Offsets into the file, which are also offsets into boot_params: the header sits at 0x1F1 in both. */
export const HDR = {
  SETUP_SECTS: 0x1f1,
  BOOT_FLAG: 0x1fe,
  JUMP: 0x200,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  CODE32_START: 0x214,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  HEAP_END_PTR: 0x224,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  XLOADFLAGS: 0x236,
  CMDLINE_SIZE: 0x238,
  HARDWARE_SUBARCH: 0x23c,
  PREF_ADDRESS: 0x258,
  INIT_SIZE: 0x260,
  /** Where boot_params' setup header area ends. */
  AREA_END: 0x290,
} as const;

export const BOOT_FLAG_MAGIC = 0xaa55;
/** "HdrS" read as a little-endian u32. */
export const HDRS_MAGIC = 0x53726448;
export const LOADED_HIGH = 0x01;
export const CAN_USE_HEAP = 0x80;
export const XLF_KERNEL_64 = 0x01;
/** The 64-bit entry point is this far into the protected-mode kernel. */
export const ENTRY64_OFFSET = 0x200;
/** xloadflags (and so the 64-bit entry) came with protocol 2.12. */
const MIN_VERSION = 0x020c;
/** Older kernels leave initrd_addr_max unset; the protocol says to assume this. */
const DEFAULT_INITRD_ADDR_MAX = 0x37ffffff;
const SECTOR = 512;

export interface BzImage {
  /** boot_params bytes 0x1F1..end of the header, to copy into the zero page as they are. */
  setupHeader: Uint8Array;
  version: number;
  loadflags: number;
  xloadflags: number;
  /** File offset of the protected-mode kernel. */
  kernelOffset: number;
  kernelSize: number;
  relocatable: boolean;
  kernelAlignment: number;
  /** Where the kernel runs (and so is best loaded). */
  prefAddress: number;
  /** Contiguous bytes the kernel needs from its run address before it reads the memory map. */
  initSize: number;
  /** Highest address the initrd may occupy (inclusive). */
  initrdAddrMax: number;
  /** Longest command line without its NUL. */
  cmdlineMax: number;
}

export function isBzImage(file: Uint8Array): boolean {
  if (file.length < HDR.HEADER + 4) return false;
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  return v.getUint32(HDR.HEADER, true) === HDRS_MAGIC;
}

function fail(why: string): never {
  throw new BootError(`kernel: ${why}`);
}

export function parseBzImage(file: Uint8Array): BzImage {
  if (!isBzImage(file)) fail('not an ELF64 x86_64 file or a bzImage');
  if (file.length < HDR.INIT_SIZE + 4) fail(`bzImage of ${file.length} bytes is too short to hold a setup header`);
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const bootFlag = v.getUint16(HDR.BOOT_FLAG, true);
  if (bootFlag !== BOOT_FLAG_MAGIC) fail(`bzImage boot flag ${hex(bootFlag)} is not 0xaa55`);
  const version = v.getUint16(HDR.VERSION, true);
  if (version < MIN_VERSION) {
    fail(`bzImage boot protocol ${versionText(version)} is older than 2.12 (no 64-bit entry point)`);
  }
  const loadflags = v.getUint8(HDR.LOADFLAGS);
  if ((loadflags & LOADED_HIGH) === 0) fail('bzImage does not load high (a zImage): not supported');
  const xloadflags = v.getUint16(HDR.XLOADFLAGS, true);
  if ((xloadflags & XLF_KERNEL_64) === 0) fail('bzImage has no 64-bit entry point (xloadflags lacks XLF_KERNEL_64)');
  const setupSects = v.getUint8(HDR.SETUP_SECTS) || 4;
  const kernelOffset = (setupSects + 1) * SECTOR;
  if (kernelOffset >= file.length) {
    fail(`bzImage setup (${setupSects} sectors) leaves no protected-mode kernel in the ${file.length}-byte file`);
  }
  // The header's own length is in the second byte of its jump instruction.
  const headerEnd = Math.min(HDR.HEADER + v.getUint8(HDR.JUMP + 1), HDR.AREA_END, kernelOffset);
  const kernelAlignment = v.getUint32(HDR.KERNEL_ALIGNMENT, true);
  const relocatable = v.getUint8(HDR.RELOCATABLE_KERNEL) !== 0;
  if (relocatable && (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0)) {
    fail(`bzImage kernel_alignment ${hex(kernelAlignment)} is not a power of two`);
  }
  const pref = v.getBigUint64(HDR.PREF_ADDRESS, true);
  if (pref >= 0x1_0000_0000n) fail(`bzImage pref_address ${hex(pref)} is above 4 GiB`);
  return {
    setupHeader: file.slice(HDR.SETUP_SECTS, Math.max(headerEnd, HDR.SETUP_SECTS)),
    version,
    loadflags,
    xloadflags,
    kernelOffset,
    kernelSize: file.length - kernelOffset,
    relocatable,
    kernelAlignment,
    prefAddress: Number(pref),
    initSize: v.getUint32(HDR.INIT_SIZE, true),
    initrdAddrMax: v.getUint32(HDR.INITRD_ADDR_MAX, true) || DEFAULT_INITRD_ADDR_MAX,
    cmdlineMax: v.getUint32(HDR.CMDLINE_SIZE, true),
  };
}

export function versionText(version: number): string {
  return `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
}

export interface BzImagePlacement {
  loadAddr: number;
  entry64: number;
  /** End (exclusive) of everything the kernel uses before it reads the memory map. */
  end: number;
}

/**
 * Where to load the kernel. The 64-bit entry decompresses to max(load address, pref_address) whatever the load
 * address, so loading at pref_address spares the guest one copy of itself (slow where kernel code is emulated).
 */
export function placeBzImage(img: BzImage, lowRamEnd: number): BzImagePlacement {
  let loadAddr = img.prefAddress >= HIMEM_START ? img.prefAddress : HIMEM_START;
  if (img.relocatable) loadAddr = alignUp(loadAddr, img.kernelAlignment);
  const runAddr = Math.max(loadAddr, img.prefAddress);
  const end = Math.max(loadAddr + img.kernelSize, runAddr + img.initSize);
  if (end > lowRamEnd) {
    fail(`bzImage needs guest RAM up to ${hex(end)} (loaded at ${hex(loadAddr)}, init_size ${hex(img.initSize)}) ` +
      `but RAM below the MMIO gap ends at ${hex(lowRamEnd)}`);
  }
  return { loadAddr, entry64: loadAddr + ENTRY64_OFFSET, end };
}

export function loadBzImage(mem: GuestMemory, file: Uint8Array, img: BzImage, place: BzImagePlacement): void {
  mem.write(place.loadAddr, file.subarray(img.kernelOffset));
}
