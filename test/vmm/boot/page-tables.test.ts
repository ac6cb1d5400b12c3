import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAGE_TABLES_END, writeIdentityMap } from '../../../src/vmm/boot/page-tables';
import { PML4_ADDR } from '../../../src/vmm/boot/layout';
import { GuestMemory } from '../../../src/base/guest-memory';

const PRESENT = 1n;
const WRITABLE = 2n;
const LARGE = 0x80n;
const ADDR_MASK = 0x000f_ffff_ffff_f000n;

/** A 4-level walk as the MMU does it; undefined when a level is not present. */
function translate(mem: GuestMemory, cr3: bigint, va: bigint): { pa: bigint; writable: boolean } | undefined {
  let table = cr3 & ADDR_MASK;
  let writable = true;
  const shifts = [39n, 30n, 21n, 12n];
  for (const [level, shift] of shifts.entries()) {
    const entry = mem.readU64(table + ((va >> shift) & 0x1ffn) * 8n);
    if ((entry & PRESENT) === 0n) return undefined;
    writable &&= (entry & WRITABLE) !== 0n;
    const large = (level === 1 || level === 2) && (entry & LARGE) !== 0n;
    if (large || level === 3) {
      const pageMask = (1n << shift) - 1n;
      return { pa: (entry & ADDR_MASK & ~pageMask) | (va & pageMask), writable };
    }
    table = entry & ADDR_MASK;
  }
  return undefined;
}

test('the first 4 GiB are identity mapped and writable', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 0x20000 }]);
  const cr3 = writeIdentityMap(mem);
  assert.equal(cr3, BigInt(PML4_ADDR));
  for (const va of [0n, 0x7000n, 0x1000000n, 0x1234567n, 0x3fffffffn, 0x40000000n, 0xbfffffffn, 0xfee00000n,
    0xffffffffn]) {
    assert.deepEqual(translate(mem, cr3, va), { pa: va, writable: true }, `0x${va.toString(16)}`);
  }
});

test('nothing at or above 4 GiB is mapped', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 0x20000 }]);
  const cr3 = writeIdentityMap(mem);
  assert.equal(translate(mem, cr3, 0x100000000n), undefined);
  assert.equal(translate(mem, cr3, 0x8000000000n), undefined);
  assert.equal(translate(mem, cr3, 0xffffffff81000000n), undefined);
});

test('the tables are written over stale memory and stay in their pages', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 0x20000 }]);
  mem.fill(0, 0x20000, 0xff);
  const cr3 = writeIdentityMap(mem);
  assert.deepEqual(translate(mem, cr3, 0x80001234n), { pa: 0x80001234n, writable: true });
  assert.equal(mem.readU64(PML4_ADDR + 8), 0n, 'PML4[1] cleared');
  assert.equal(mem.readU8(PAGE_TABLES_END), 0xff, 'nothing written past the last page directory');
  assert.equal(mem.readU8(PML4_ADDR - 1), 0xff);
});
