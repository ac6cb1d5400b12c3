// Identity page tables for the 64-bit boot protocol: the kernel is entered with paging on and expects the first
// GiBs it touches (itself, the zero page, the command line, the initrd) mapped virtual == physical.
// 2 MiB pages over the first 4 GiB: one PML4 entry, four PDPT entries, four full page directories.
import type { GuestMemory } from '../../base/guest-memory';
import { GiB, IDENTITY_MAP_BYTES, MiB, PAGE_SIZE, PD_ADDR, PDPT_ADDR, PML4_ADDR } from './layout';

export const PTE_PRESENT = 1n << 0n;
export const PTE_WRITABLE = 1n << 1n;
/** In a page directory entry: the entry maps a 2 MiB page rather than pointing at a page table. */
export const PTE_LARGE = 1n << 7n;
const ENTRIES = 512;
const PAGE_DIRECTORIES = IDENTITY_MAP_BYTES / GiB;

/** Writes PML4, PDPT and page directories; returns the value for CR3. */
export function writeIdentityMap(mem: GuestMemory): bigint {
  mem.fill(PML4_ADDR, PAGE_SIZE, 0);
  mem.fill(PDPT_ADDR, PAGE_SIZE, 0);
  mem.writeU64(PML4_ADDR, BigInt(PDPT_ADDR) | PTE_PRESENT | PTE_WRITABLE);
  for (let d = 0; d < PAGE_DIRECTORIES; d++) {
    const pd = PD_ADDR + d * PAGE_SIZE;
    mem.writeU64(PDPT_ADDR + d * 8, BigInt(pd) | PTE_PRESENT | PTE_WRITABLE);
    const table = mem.view(pd, PAGE_SIZE);
    for (let i = 0; i < ENTRIES; i++) {
      const phys = BigInt(d) * BigInt(GiB) + BigInt(i) * BigInt(2 * MiB);
      table.setBigUint64(i * 8, phys | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE, true);
    }
  }
  return BigInt(PML4_ADDR);
}

/** End (exclusive) of the page-table pages. */
export const PAGE_TABLES_END = PD_ADDR + PAGE_DIRECTORIES * PAGE_SIZE;
