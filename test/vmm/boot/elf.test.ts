import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isElf, loadElf, parseElf, PT_NOTE } from '../../../src/vmm/boot/elf';
import { GuestMemory } from '../../../src/base/guest-memory';
import { buildElf, concat, elfNote, pattern, pvhNote, type SegmentSpec } from './fixtures';

const MiB = 1024 * 1024;
const text = pattern(0x1800, 3);
const data = pattern(0x300, 9);

function kernelElf(extra: { note?: Uint8Array; entry?: bigint } = {}): Uint8Array {
  const segments: SegmentSpec[] = [
    { paddr: 0x100000, vaddr: 0xffffffff81000000n, data: text },
    { paddr: 0x200000, vaddr: 0xffffffff81100000n, data, memSize: 0x2000 },
  ];
  if (extra.note) segments.push({ type: PT_NOTE, paddr: 0, vaddr: 0n, data: extra.note });
  return buildElf({ entry: extra.entry ?? 0x100040n, segments });
}

test('parseElf reads the loadable segments, the entry and the extent', () => {
  const img = parseElf(kernelElf());
  assert.equal(img.entry64, 0x100040);
  assert.equal(img.pvhEntry, undefined);
  assert.equal(img.lowest, 0x100000);
  assert.equal(img.highest, 0x202000);
  assert.deepEqual(img.segments.map((s) => [s.paddr, s.fileSize, s.memSize]), [
    [0x100000, text.length, text.length],
    [0x200000, data.length, 0x2000],
  ]);
});

test('parseElf finds the PVH entry after other notes, as a 32-bit or a 64-bit value', () => {
  const buildId = elfNote('GNU', 3, pattern(20));
  assert.equal(parseElf(kernelElf({ note: concat(buildId, pvhNote(0x100010)) })).pvhEntry, 0x100010);
  assert.equal(parseElf(kernelElf({ note: concat(buildId, pvhNote(0x100020, 8)) })).pvhEntry, 0x100020);
  // A note of the same type from another owner is not the PVH entry.
  const notXen = elfNote('Lin', 18, new Uint8Array([0x10, 0, 0x10, 0]));
  assert.equal(parseElf(kernelElf({ note: notXen })).pvhEntry, undefined);
});

test('parseElf translates a virtual e_entry through its segment', () => {
  assert.equal(parseElf(kernelElf({ entry: 0xffffffff81000100n })).entry64, 0x100100);
});

test('loadElf copies file bytes and zeroes the bss over whatever was there', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 4 * MiB }]);
  mem.fill(0, 4 * MiB, 0xaa);
  const file = kernelElf();
  loadElf(mem, file, parseElf(file), 4 * MiB);
  assert.deepEqual(mem.read(0x100000, text.length), text);
  assert.deepEqual(mem.read(0x200000, data.length), data);
  assert.ok(mem.read(0x200000 + data.length, 0x2000 - data.length).every((b) => b === 0), 'bss zeroed');
  assert.equal(mem.readU8(0x202000), 0xaa, 'nothing written past the segment');
  assert.equal(mem.readU8(0x100000 + text.length), 0xaa);
});

test('loadElf refuses segments outside RAM or below 1 MiB', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 2 * MiB }]);
  const file = kernelElf();
  assert.throws(() => loadElf(mem, file, parseElf(file), 2 * MiB),
    { name: 'BootError', message: /^kernel: segment at 0x200000 \(8192 bytes\) does not fit/ });
  const low = buildElf({ entry: 0x80000n, segments: [{ paddr: 0x80000, data: text }] });
  assert.throws(() => loadElf(GuestMemory.forTest([{ gpa: 0, size: 4 * MiB }]), low, parseElf(low), 4 * MiB),
    /segment at 0x80000/);
  assert.equal(mem.readU8(0x100000), 0, 'nothing loaded when a segment is refused');
});

function corrupt(file: Uint8Array, edit: (v: DataView) => void): Uint8Array {
  const copy = file.slice();
  edit(new DataView(copy.buffer));
  return copy;
}

test('parseElf rejects malformed files, naming the field', () => {
  const good = kernelElf({ note: pvhNote(0x100010) });
  const cases: [string, Uint8Array, RegExp][] = [
    ['magic', corrupt(good, (v) => v.setUint8(1, 0)), /not an ELF64 x86_64 file or a bzImage/],
    ['truncated', good.subarray(0, 40), /not an ELF64/],
    ['class', buildElf({ entry: 0n, segments: [{ paddr: MiB, data }], elfClass: 1 }), /class 1 is not ELFCLASS64/],
    ['machine', buildElf({ entry: 0n, segments: [{ paddr: MiB, data }], machine: 3 }), /machine 3 is not x86_64/],
    ['type', buildElf({ entry: 0n, segments: [{ paddr: MiB, data }], type: 1 }), /type 1 is not an executable/],
    ['phoff', corrupt(good, (v) => v.setBigUint64(32, BigInt(good.length - 10), true)), /program headers .* run past/],
    ['phnum', corrupt(good, (v) => v.setUint16(56, 0, true)), /program header count 0/],
    ['phentsize', corrupt(good, (v) => v.setUint16(54, 32, true)), /program header size 32/],
    ['filesz', corrupt(good, (v) => v.setBigUint64(64 + 32, BigInt(good.length), true)), /segment 0 .* runs past/],
    ['memsz', corrupt(good, (v) => v.setBigUint64(64 + 40, 16n, true)), /file size 6144 is larger than its memory/],
    ['huge', corrupt(good, (v) => v.setBigUint64(64 + 8, 1n << 60n, true)), /segment 0 offset 0x1000000000000000/],
    ['entry', corrupt(good, (v) => v.setBigUint64(24, 0x5000n, true)), /entry point 0x5000 is not inside/],
    ['note', kernelElf({ note: pvhNote(0x100010).fill(0xff, 4, 5) }), /note at offset 0x[0-9a-f]+ runs past/],
  ];
  for (const [what, file, message] of cases) {
    assert.throws(() => parseElf(file), (e: Error) => e.name === 'BootError' && message.test(e.message), what);
  }
});

test('parseElf rejects overlapping segments, no PT_LOAD, and a PVH entry outside the image', () => {
  assert.throws(() => parseElf(buildElf({
    entry: 0x100000n, segments: [{ paddr: 0x100000, data: text }, { paddr: 0x101000, data }],
  })), /overlap/);
  assert.throws(() => parseElf(buildElf({ entry: 0n, segments: [{ type: PT_NOTE, paddr: 0, data: pvhNote(1) }] })),
    /no loadable/);
  assert.throws(() => parseElf(kernelElf({ note: pvhNote(0x5000) })), /PVH entry 0x5000 is not inside/);
  assert.throws(() => parseElf(kernelElf({ note: elfNote('Xen', 18, new Uint8Array(6)) })), /6-byte value/);
});

test('isElf looks at the magic only', () => {
  assert.equal(isElf(new Uint8Array([0x7f, 0x45, 0x4c, 0x46])), true);
  assert.equal(isElf(new Uint8Array([0x7f, 0x45, 0x4c])), false);
});
