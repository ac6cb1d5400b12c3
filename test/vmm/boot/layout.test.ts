import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootError } from '../../../src/vmm/boot/errors';
import {
  BOOT_STACK_TOP, CMDLINE_ADDR, CMDLINE_MAX_BYTES, e820Table, E820_RAM, E820_RESERVED, GDT_ADDR, GDT_MAX_BYTES, GiB,
  HIMEM_START, IDT_ADDR, IDT_BYTES, lowRamEnd, MiB, MPTABLE_ADDR, PD_ADDR, PDPT_ADDR, PML4_ADDR, PVH_INFO_END,
  PVH_START_INFO_ADDR, ramRegions, TSS_ADDR, TSS_BYTES, virtioMmioSlot, VIRTIO_MMIO_SLOTS, ZERO_PAGE_ADDR,
  IOAPIC_ADDR, MMIO_GAP_START, MMIO_GAP_END,
} from '../../../src/vmm/boot/layout';

test('ramRegions keeps small guests in one region below the MMIO gap', () => {
  assert.deepEqual(ramRegions(64 * MiB), [{ gpa: 0, size: 64 * MiB }]);
  assert.deepEqual(ramRegions(3 * GiB), [{ gpa: 0, size: 3 * GiB }]);
});

test('ramRegions puts what does not fit below 3 GiB at 4 GiB', () => {
  assert.deepEqual(ramRegions(3 * GiB + 4096), [{ gpa: 0, size: 3 * GiB }, { gpa: 4 * GiB, size: 4096 }]);
  assert.deepEqual(ramRegions(8 * GiB), [{ gpa: 0, size: 3 * GiB }, { gpa: 4 * GiB, size: 5 * GiB }]);
  assert.equal(lowRamEnd(8 * GiB), MMIO_GAP_START);
  assert.equal(lowRamEnd(256 * MiB), 256 * MiB);
});

test('ramRegions refuses sizes that are not whole pages or too small, naming the value', () => {
  assert.throws(() => ramRegions(64 * MiB + 1), { name: 'BootError', message: /^memory: 67108865 bytes/ });
  assert.throws(() => ramRegions(4 * MiB), BootError);
  assert.throws(() => ramRegions(Number.NaN), BootError);
});

test('e820 for a small guest: low RAM, the reserved legacy hole, RAM from 1 MiB', () => {
  assert.deepEqual(e820Table(128 * MiB), [
    { addr: 0, size: 0x9fc00, type: E820_RAM },
    { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: E820_RESERVED },
    { addr: 0x100000, size: 128 * MiB - 0x100000, type: E820_RAM },
  ]);
});

test('e820 above 3 GiB has the gap and a high region that add up to the memory size', () => {
  for (const mem of [3 * GiB, 3 * GiB + 2 * MiB, 6 * GiB]) {
    const table = e820Table(mem);
    const ram = table.filter((e) => e.type === E820_RAM).reduce((n, e) => n + e.size, 0);
    const reserved = table.filter((e) => e.type === E820_RESERVED).reduce((n, e) => n + e.size, 0);
    assert.equal(ram + reserved, mem, `memory ${mem}`);
    for (const e of table) {
      assert.ok(e.addr + e.size <= MMIO_GAP_START || e.addr >= MMIO_GAP_END, 'nothing inside the MMIO gap');
    }
  }
  const high = e820Table(6 * GiB);
  assert.deepEqual(high[3], { addr: 4 * GiB, size: 3 * GiB, type: E820_RAM });
  assert.equal(high.length, 4);
});

test('virtio-mmio slots: 4 KiB windows from 0xD0000000, IRQs from 5 to the last IOAPIC pin', () => {
  assert.deepEqual(virtioMmioSlot(0), { base: 0xd0000000, size: 0x1000, irq: 5 });
  assert.deepEqual(virtioMmioSlot(2), { base: 0xd0002000, size: 0x1000, irq: 7 });
  assert.equal(VIRTIO_MMIO_SLOTS, 19);
  assert.equal(virtioMmioSlot(VIRTIO_MMIO_SLOTS - 1).irq, 23);
  assert.throws(() => virtioMmioSlot(VIRTIO_MMIO_SLOTS), RangeError);
  assert.throws(() => virtioMmioSlot(-1), RangeError);
  const last = virtioMmioSlot(VIRTIO_MMIO_SLOTS - 1);
  assert.ok(last.base >= MMIO_GAP_START && last.base + last.size <= IOAPIC_ADDR);
});

test('the fixed boot areas are disjoint, below 1 MiB, and within usable low RAM or the EBDA', () => {
  const areas: [string, number, number][] = [
    ['gdt', GDT_ADDR, GDT_MAX_BYTES],
    ['idt', IDT_ADDR, IDT_BYTES],
    ['tss', TSS_ADDR, TSS_BYTES],
    ['pvh', PVH_START_INFO_ADDR, PVH_INFO_END - PVH_START_INFO_ADDR],
    ['zero page', ZERO_PAGE_ADDR, 0x1000],
    ['stack', 0x8000, BOOT_STACK_TOP + 0x10 - 0x8000],
    ['pml4', PML4_ADDR, 0x1000],
    ['pdpt', PDPT_ADDR, 0x1000],
    ['pd', PD_ADDR, 4 * 0x1000],
    ['cmdline', CMDLINE_ADDR, CMDLINE_MAX_BYTES],
    ['mptable', MPTABLE_ADDR, HIMEM_START - MPTABLE_ADDR],
  ];
  for (const [name, start, size] of areas) {
    assert.ok(start >= 0x500 && start + size <= HIMEM_START, name);
  }
  for (let i = 0; i < areas.length; i++) {
    for (let j = i + 1; j < areas.length; j++) {
      const [a, as, an] = areas[i]!;
      const [b, bs, bn] = areas[j]!;
      assert.ok(as + an <= bs || bs + bn <= as, `${a} overlaps ${b}`);
    }
  }
});
