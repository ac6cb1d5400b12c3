import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e820Table, PVH_MEMMAP_ADDR, PVH_MODLIST_ADDR } from '../../../src/vmm/boot/layout';
import { writeStartInfo } from '../../../src/vmm/boot/pvh';
import { GuestMemory } from '../../../src/base/guest-memory';

const GiB = 1024 ** 3;

test('hvm_start_info version 1 with the initrd as module 0 and the memory map', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 16 * 1024 * 1024 }]);
  const e820 = e820Table(6 * GiB);
  const initrd = { addr: 0xbff00000, size: 0x12345 };
  const addr = writeStartInfo(mem, { cmdlineAddr: 0x20000, initrd, memmap: e820 });
  assert.equal(addr, 0x6000);
  const si = mem.view(addr, 0x38);
  assert.equal(si.getUint32(0x00, true), 0x336ec578, 'magic');
  assert.equal(si.getUint32(0x04, true), 1, 'version');
  assert.equal(si.getUint32(0x08, true), 0, 'flags');
  assert.equal(si.getUint32(0x0c, true), 1, 'nr_modules');
  assert.equal(si.getBigUint64(0x10, true), BigInt(PVH_MODLIST_ADDR), 'modlist_paddr');
  assert.equal(si.getBigUint64(0x18, true), 0x20000n, 'cmdline_paddr');
  assert.equal(si.getBigUint64(0x20, true), 0n, 'rsdp_paddr');
  assert.equal(si.getBigUint64(0x28, true), BigInt(PVH_MEMMAP_ADDR), 'memmap_paddr');
  assert.equal(si.getUint32(0x30, true), 4, 'memmap_entries');

  const mod = mem.view(PVH_MODLIST_ADDR, 32);
  assert.equal(mod.getBigUint64(0, true), 0xbff00000n);
  assert.equal(mod.getBigUint64(8, true), 0x12345n);
  assert.equal(mod.getBigUint64(16, true), 0n, 'no module cmdline');

  const entries = e820.map((_, i) => {
    const v = mem.view(PVH_MEMMAP_ADDR + i * 24, 24);
    const addr = Number(v.getBigUint64(0, true));
    return { addr, size: Number(v.getBigUint64(8, true)), type: v.getUint32(16, true) };
  });
  assert.deepEqual(entries, e820);
  assert.equal(entries[1]!.type, 2, 'the legacy hole is reserved');
  assert.equal(entries[3]!.addr, 4 * GiB);
});

test('without an initrd there are no modules, and stale data is cleared', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 16 * 1024 * 1024 }]);
  mem.fill(0x6000, 0x1000, 0x55);
  writeStartInfo(mem, { cmdlineAddr: 0x20000, memmap: e820Table(64 * 1024 * 1024) });
  assert.equal(mem.readU32(0x600c), 0);
  assert.equal(mem.readU64(0x6010), 0n);
  assert.equal(mem.readU64(PVH_MODLIST_ADDR), 0n);
});
