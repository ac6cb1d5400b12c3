// The PVH boot ABI's start info (xen/include/public/arch-x86/hvm/start_info.h, version 1): command line, initrd as
// module 0, the memory map, and the ACPI RSDP when the machine has ACPI (rsdp_paddr 0 otherwise: Linux then finds
// the CPUs in the MP table).
import type { GuestMemory } from '../../base/guest-memory';
import { BootError } from './errors';
import type { E820Entry } from './layout';
import { PVH_INFO_END, PVH_MEMMAP_ADDR, PVH_MODLIST_ADDR, PVH_START_INFO_ADDR } from './layout';

export const XEN_HVM_START_MAGIC = 0x336ec578;
export const HVM_START_INFO_VERSION = 1;
/** Field offsets of struct hvm_start_info. */
export const SI = {
  MAGIC: 0x00,
  VERSION: 0x04,
  FLAGS: 0x08,
  NR_MODULES: 0x0c,
  MODLIST_PADDR: 0x10,
  CMDLINE_PADDR: 0x18,
  RSDP_PADDR: 0x20,
  MEMMAP_PADDR: 0x28,
  MEMMAP_ENTRIES: 0x30,
  SIZE: 0x38,
} as const;
export const MODLIST_ENTRY_BYTES = 32;
export const MEMMAP_ENTRY_BYTES = 24;
/** The memory map types match e820's: 1 RAM, 2 reserved. */
export const MEMMAP_MAX_ENTRIES = Math.floor((PVH_INFO_END - PVH_MEMMAP_ADDR) / MEMMAP_ENTRY_BYTES);

export interface StartInfoOptions {
  cmdlineAddr: number;
  initrd?: { addr: number; size: number };
  memmap: E820Entry[];
  rsdpAddr?: number;
}

/** Writes start_info, the module list and the memory map; returns the start_info address (EBX at the entry). */
export function writeStartInfo(mem: GuestMemory, o: StartInfoOptions): number {
  if (o.memmap.length > MEMMAP_MAX_ENTRIES) {
    throw new BootError(`memory: ${o.memmap.length} memory map entries do not fit the PVH start info`);
  }
  mem.fill(PVH_START_INFO_ADDR, PVH_INFO_END - PVH_START_INFO_ADDR, 0);
  const si = mem.view(PVH_START_INFO_ADDR, SI.SIZE);
  si.setUint32(SI.MAGIC, XEN_HVM_START_MAGIC, true);
  si.setUint32(SI.VERSION, HVM_START_INFO_VERSION, true);
  si.setBigUint64(SI.CMDLINE_PADDR, BigInt(o.cmdlineAddr), true);
  si.setBigUint64(SI.RSDP_PADDR, BigInt(o.rsdpAddr ?? 0), true);
  if (o.initrd) {
    const mod = mem.view(PVH_MODLIST_ADDR, MODLIST_ENTRY_BYTES);
    mod.setBigUint64(0, BigInt(o.initrd.addr), true);
    mod.setBigUint64(8, BigInt(o.initrd.size), true);
    si.setUint32(SI.NR_MODULES, 1, true);
    si.setBigUint64(SI.MODLIST_PADDR, BigInt(PVH_MODLIST_ADDR), true);
  }
  o.memmap.forEach((e, i) => {
    const entry = mem.view(PVH_MEMMAP_ADDR + i * MEMMAP_ENTRY_BYTES, MEMMAP_ENTRY_BYTES);
    entry.setBigUint64(0, BigInt(e.addr), true);
    entry.setBigUint64(8, BigInt(e.size), true);
    entry.setUint32(16, e.type, true);
  });
  si.setBigUint64(SI.MEMMAP_PADDR, BigInt(PVH_MEMMAP_ADDR), true);
  si.setUint32(SI.MEMMAP_ENTRIES, o.memmap.length, true);
  return PVH_START_INFO_ADDR;
}
