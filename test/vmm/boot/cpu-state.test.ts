import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applySregs, linux64State, pvhState } from '../../../src/vmm/boot/cpu-state';
import { bootGdt } from '../../../src/vmm/boot/gdt';
import type { Segment, Sregs } from '../../../src/base/kvm-types';

function resetSegment(selector = 0): Segment {
  return {
    base: 0n, limit: 0xffff, selector, type: 3, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0,
  };
}

function resetSregs(): Sregs {
  const seg = resetSegment();
  return {
    cs: { ...seg, selector: 0xf000, base: 0xffff0000n, type: 0xb }, ds: { ...seg }, es: { ...seg }, fs: { ...seg },
    gs: { ...seg }, ss: { ...seg }, tr: { ...seg, type: 0xb, s: 0 }, ldt: { ...seg, type: 2, s: 0 },
    gdt: { base: 0n, limit: 0xffff }, idt: { base: 0n, limit: 0xffff },
    cr0: 0x60000010n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apicBase: 0xfee00900n,
  };
}

test('64-bit boot protocol: long mode, __BOOT_CS/__BOOT_DS, RSI = zero page', () => {
  const gdt = bootGdt();
  const s = linux64State({ entry: 0x1000200, zeroPage: 0x7000, cr3: 0x9000n, gdt });
  assert.equal(s.regs.rip, 0x1000200n);
  assert.equal(s.regs.rsi, 0x7000n);
  assert.equal(s.regs.rsp, 0x8ff0n);
  assert.equal(s.regs.rbp, 0x8ff0n);
  assert.equal(s.regs.rflags, 2n);
  assert.equal(s.regs.rbx, 0n);
  const sregs = applySregs(resetSregs(), s.sregs);
  assert.equal(sregs.cr0, 0x80000011n, 'PG | ET | PE');
  assert.equal(sregs.cr3, 0x9000n);
  assert.equal(sregs.cr4, 0x20n, 'PAE');
  assert.equal(sregs.efer, 0x500n, 'LME | LMA');
  assert.equal(sregs.cs.selector, 0x10);
  assert.equal(sregs.cs.l, 1);
  assert.equal(sregs.cs.db, 0);
  for (const r of ['ds', 'es', 'fs', 'gs', 'ss'] as const) assert.deepEqual(sregs[r], gdt.data, r);
  assert.equal(sregs.ds.selector, 0x18);
  assert.deepEqual(sregs.tr, gdt.tss);
  assert.deepEqual(sregs.gdt, gdt.gdt);
  assert.deepEqual(s.fpu, { fcw: 0x37f, mxcsr: 0x1f80 });
});

test('PVH: 32-bit protected mode without paging, EBX = start_info', () => {
  const gdt = bootGdt();
  const s = pvhState({ entry: 0x100010, startInfo: 0x6000, gdt });
  assert.equal(s.regs.rip, 0x100010n);
  assert.equal(s.regs.rbx, 0x6000n);
  assert.equal(s.regs.rflags, 2n);
  const sregs = applySregs(resetSregs(), s.sregs);
  assert.equal(sregs.cr0, 0x11n, 'PE | ET, no PG');
  assert.equal(sregs.cr4, 0n);
  assert.equal(sregs.efer, 0n);
  assert.equal(sregs.cs.selector, 0x08);
  assert.equal(sregs.cs.db, 1);
  assert.equal(sregs.cs.l, 0);
  assert.equal(sregs.cs.limit, 0xffffffff);
  assert.equal(sregs.ss.db, 1);
  assert.equal(sregs.tr.type, 0xb);
});

test('applySregs keeps what the boot does not set and shares no objects', () => {
  const current = resetSregs();
  const changes = linux64State({ entry: 1, zeroPage: 2, cr3: 3n, gdt: bootGdt() }).sregs;
  const out = applySregs(current, changes);
  assert.deepEqual(out.ldt, current.ldt);
  assert.equal(out.apicBase, 0xfee00900n);
  assert.equal(out.cr8, 0n);
  assert.notEqual(out.cs, changes.cs);
  out.ds.base = 5n;
  assert.equal(changes.ds!.base, 0n);
  assert.equal(out.es.base, 0n);
  assert.equal(current.cs.selector, 0xf000, 'input untouched');
});
