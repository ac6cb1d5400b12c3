import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bootGdt, gdtEntry, SEL_CODE32, SEL_CODE64, SEL_DATA, SEL_TSS, segmentFromEntry, writeBootGdt,
} from '../../../src/vmm/boot/gdt';
import { GDT_ADDR, IDT_ADDR, TSS_ADDR } from '../../../src/vmm/boot/layout';
import { GuestMemory } from '../../../src/base/guest-memory';

test('descriptors encode to the well-known flat segment values', () => {
  const g = bootGdt();
  assert.equal(g.entries[0], 0n);
  assert.equal(g.entries[SEL_CODE32 >> 3], 0x00cf9b000000ffffn, '32-bit code');
  assert.equal(g.entries[SEL_CODE64 >> 3], 0x00af9b000000ffffn, '64-bit code');
  assert.equal(g.entries[SEL_DATA >> 3], 0x00cf93000000ffffn, 'data');
  assert.equal(g.entries[SEL_TSS >> 3], 0x00008b0005800067n, 'TSS at 0x580, limit 0x67');
  assert.equal(g.entries[(SEL_TSS >> 3) + 1], 0n, 'TSS base bits 63:32');
  assert.deepEqual(g.gdt, { base: 0x500n, limit: 47 });
});

test('segment registers match their descriptors', () => {
  const g = bootGdt();
  assert.deepEqual(g.code64, {
    base: 0n, limit: 0xffffffff, selector: 0x10, type: 0xb, s: 1, dpl: 0, present: 1, avl: 0, l: 1, db: 0, g: 1,
    unusable: 0,
  });
  assert.deepEqual(g.code32, { ...g.code64, selector: 0x08, l: 0, db: 1 });
  assert.deepEqual(g.data, { ...g.code64, selector: 0x18, type: 0x3, l: 0, db: 1 });
  assert.deepEqual(g.tss, {
    base: 0x580n, limit: 0x67, selector: 0x20, type: 0xb, s: 0, dpl: 0, present: 1, avl: 0, l: 0, db: 0, g: 0,
    unusable: 0,
  });
});

test('gdtEntry and segmentFromEntry agree on every field', () => {
  const e = gdtEntry(0xf3, 0x5, 0x12345678, 0xabcde);
  const s = segmentFromEntry(e, 0x2b);
  assert.equal(s.base, 0x12345678n);
  assert.equal(s.limit, 0xabcde, 'byte granular: raw limit');
  assert.equal(s.dpl, 3);
  assert.equal(s.type, 3);
  assert.equal(s.avl, 1);
  assert.equal(s.db, 1);
  assert.equal(s.g, 0);
  assert.equal(segmentFromEntry(gdtEntry(0x13, 0x8, 0, 1), 0).unusable, 1, 'not present is unusable');
  assert.equal(segmentFromEntry(gdtEntry(0x93, 0x8, 0, 1), 0).limit, 0x1fff, '4 KiB granular limit expands');
});

test('writeBootGdt puts the table, an empty IDT and a zeroed TSS in memory', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 0x10000 }]);
  mem.fill(0x500, 0x200, 0xcc);
  const g = writeBootGdt(mem);
  g.entries.forEach((e, i) => assert.equal(mem.readU64(GDT_ADDR + i * 8), e));
  assert.equal(mem.readU64(GDT_ADDR + g.entries.length * 8), 0n);
  assert.equal(mem.readU64(IDT_ADDR), 0n);
  assert.equal(mem.readU64(IDT_ADDR + 8), 0n);
  assert.ok(mem.read(TSS_ADDR, 0x68).every((b) => b === 0));
  assert.equal(g.idt.base, BigInt(IDT_ADDR));
});
