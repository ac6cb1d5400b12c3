import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BootError, prepareBoot } from '../../../src/vmm/boot';
import { PT_NOTE } from '../../../src/vmm/boot/elf';
import { GuestMemory } from '../../../src/base/guest-memory';
import type { Segment, Sregs } from '../../../src/base/kvm-types';
import { buildBzImage, buildElf, pattern, pvhNote, type SegmentSpec } from './fixtures';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const text = pattern(0x2000, 5);

function guest(memBytes = 64 * MiB): GuestMemory {
  return memBytes <= 3 * GiB
    ? GuestMemory.forTest([{ gpa: 0, size: memBytes }])
    : GuestMemory.forTest([{ gpa: 0, size: 3 * GiB }, { gpa: 4 * GiB, size: memBytes - 3 * GiB }]);
}

function elfKernel(withPvh: boolean): Uint8Array {
  const segments: SegmentSpec[] = [{ paddr: 0x1000000, vaddr: 0xffffffff81000000n, data: text, memSize: 0x4000 }];
  if (withPvh) segments.push({ type: PT_NOTE, paddr: 0, vaddr: 0n, data: pvhNote(0x1000100), memSize: 0 });
  return buildElf({ entry: 0x1000000n, segments });
}

function cstring(mem: GuestMemory, addr: number): string {
  const bytes = mem.read(addr, 4096);
  return Buffer.from(bytes.subarray(0, bytes.indexOf(0))).toString('utf8');
}

function dummySregs(): Sregs {
  const seg: Segment = { base: 0n, limit: 0xffff, selector: 0, type: 3, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0,
    avl: 0, unusable: 0 };
  return {
    cs: seg, ds: seg, es: seg, fs: seg, gs: seg, ss: seg, tr: seg, ldt: seg,
    gdt: { base: 0n, limit: 0 }, idt: { base: 0n, limit: 0 },
    cr0: 0n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apicBase: 0xfee00900n,
  };
}

test('an ELF with a PVH note boots through PVH by default', () => {
  const mem = guest();
  const initrd = pattern(10000, 9);
  const boot = prepareBoot(mem, {
    kernel: elfKernel(true), initrd, cmdline: 'console=ttyS0', vcpus: 2, memBytes: 64 * MiB,
  });
  assert.equal(boot.protocol, 'pvh');
  assert.equal(boot.kernelFormat, 'elf');
  assert.equal(boot.entry, 0x1000100);
  assert.equal(boot.regs.rip, 0x1000100n);
  assert.equal(boot.regs.rbx, 0x6000n);
  assert.equal(boot.bootInfoAddr, 0x6000);
  assert.equal(mem.readU32(0x6000), 0x336ec578);
  assert.equal(mem.readU64(0x6018), 0x20000n, 'cmdline_paddr');
  assert.equal(cstring(mem, 0x20000), 'console=ttyS0');
  assert.deepEqual(boot.kernelRange, { start: 0x1000000, end: 0x1004000 });
  assert.deepEqual(mem.read(0x1000000, text.length), text);
  // The initrd: page aligned, as high as RAM allows.
  const start = 64 * MiB - 3 * 4096;
  assert.deepEqual(boot.initrdRange, { start, end: start + 10000 });
  assert.deepEqual(mem.read(start, 10000), initrd);
  assert.equal(mem.readU64(0x6000 + 0x40), BigInt(start), 'module 0 is the initrd');
  const sregs = boot.sregs(dummySregs());
  assert.equal(sregs.cr0, 0x11n);
  assert.equal(sregs.cs.selector, 0x08);
  assert.equal(sregs.apicBase, 0xfee00900n);
  assert.equal(mem.readU32(0x9fc00), 0x5f504d5f, 'MP floating pointer "_MP_"');
  assert.deepEqual(boot.mpTable.addr, 0x9fc00);
  assert.equal(mem.readU64(0x9000), 0n, 'no page tables for PVH');
  assert.equal(boot.msrs.length, 10);
});

test('protocol linux64 on that ELF uses e_entry, the zero page and the identity map', () => {
  const mem = guest();
  const boot = prepareBoot(mem, { kernel: elfKernel(true), cmdline: 'quiet', vcpus: 1, memBytes: 64 * MiB,
    protocol: 'linux64' });
  assert.equal(boot.protocol, 'linux64');
  assert.equal(boot.regs.rip, 0x1000000n);
  assert.equal(boot.regs.rsi, 0x7000n);
  assert.equal(boot.initrdRange, undefined);
  assert.equal(mem.readU16(0x7000 + 0x1fe), 0xaa55);
  assert.equal(mem.readU32(0x7000 + 0x228), 0x20000);
  assert.equal(mem.readU32(0x7000 + 0x218), 0, 'no ramdisk');
  assert.equal(mem.readU8(0x7000 + 0x1e8), 3, 'e820 entries');
  assert.equal(mem.readU64(0x9000), 0xa003n, 'PML4[0] -> PDPT');
  const sregs = boot.sregs(dummySregs());
  assert.equal(sregs.cr3, 0x9000n);
  assert.equal(sregs.efer, 0x500n);
  assert.equal(sregs.cs.l, 1);
});

test('an ELF without a PVH note boots linux64 on auto and cannot be forced to PVH', () => {
  const boot = prepareBoot(guest(), { kernel: elfKernel(false), cmdline: '', vcpus: 1, memBytes: 64 * MiB });
  assert.equal(boot.protocol, 'linux64');
  assert.throws(() => prepareBoot(guest(), { kernel: elfKernel(false), cmdline: '', vcpus: 1, memBytes: 64 * MiB,
    protocol: 'pvh' }), { name: 'BootError', message: /needs a PVH entry note/ });
});

test('a bzImage boots linux64 with its header in the zero page', () => {
  const mem = guest();
  const kernel = buildBzImage({ initSize: 0x800000, initrdAddrMax: 0x2fffffff });
  const initrd = pattern(5000, 3);
  const boot = prepareBoot(mem, { kernel, initrd, cmdline: 'root=/dev/vda', vcpus: 4, memBytes: 64 * MiB });
  assert.equal(boot.protocol, 'linux64');
  assert.equal(boot.kernelFormat, 'bzimage');
  assert.equal(boot.regs.rip, 0x1000200n);
  assert.deepEqual(boot.kernelRange, { start: 0x1000000, end: 0x1800000 });
  assert.equal(mem.readU32(0x7000 + 0x268), 0x12345, 'setup header copied');
  assert.equal(mem.readU32(0x7000 + 0x218), boot.initrdRange!.start);
  assert.equal(mem.readU32(0x7000 + 0x21c), 5000);
  assert.deepEqual(mem.read(0x1000000, 16), kernel.subarray(5 * 512, 5 * 512 + 16));
  assert.throws(() => prepareBoot(guest(), { kernel, cmdline: '', vcpus: 1, memBytes: 64 * MiB, protocol: 'pvh' }),
    /not a bzImage/);
});

test('the initrd stays at or below initrd_addr_max', () => {
  const kernel = buildBzImage({ initSize: 0x800000, initrdAddrMax: 0x1ffffff });
  const boot = prepareBoot(guest(), { kernel, initrd: pattern(8192), cmdline: '', vcpus: 1, memBytes: 64 * MiB });
  assert.deepEqual(boot.initrdRange, { start: 0x1ffe000, end: 0x2000000 });
});

test('with more than 3 GiB the initrd goes just below the MMIO gap', () => {
  const memBytes = 3 * GiB + 64 * MiB;
  const boot = prepareBoot(guest(memBytes), { kernel: elfKernel(true), initrd: pattern(4096), cmdline: '', vcpus: 1,
    memBytes });
  assert.deepEqual(boot.initrdRange, { start: 3 * GiB - 4096, end: 3 * GiB });
});

test('errors name the input at fault', () => {
  const base = { cmdline: '', vcpus: 1, memBytes: 64 * MiB };
  const cases: [string, () => unknown, RegExp][] = [
    ['garbage kernel', () => prepareBoot(guest(), { ...base, kernel: pattern(4096) }),
      /^kernel: not an ELF64 x86_64 file or a bzImage$/],
    ['initrd too big',
      () => prepareBoot(guest(), { ...base, kernel: elfKernel(true), initrd: new Uint8Array(48 * MiB) }),
      /^initrd: 50331648 bytes do not fit between the kernel's end 0x1004000 and 0x4000000$/],
    ['cmdline too long for the kernel', () => prepareBoot(guest(), {
      ...base, kernel: buildBzImage({ cmdlineSize: 255 }), cmdline: 'x'.repeat(256) }),
    /^cmdline: 256 bytes is too long \(at most 255 the kernel accepts\)$/],
    ['kernel too big', () => prepareBoot(guest(16 * MiB), { ...base, memBytes: 16 * MiB, kernel: elfKernel(true) }),
      /^kernel: segment at 0x1000000/],
    ['vcpus', () => prepareBoot(guest(), { ...base, vcpus: 0, kernel: elfKernel(true) }), /^vcpus: 0/],
    ['memory mismatch', () => prepareBoot(guest(), { ...base, memBytes: 128 * MiB, kernel: elfKernel(true) }),
      /^memory: 134217728 bytes does not match/],
    ['protocol', () => prepareBoot(guest(), { ...base, kernel: elfKernel(true), protocol: 'bios' as 'auto' }),
      /^boot: "bios" is not one of/],
  ];
  for (const [what, run, message] of cases) {
    assert.throws(run, (e: Error) => e instanceof BootError && message.test(e.message), what);
  }
});
