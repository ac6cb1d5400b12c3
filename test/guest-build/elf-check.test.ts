import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeElf64, XEN_ELFNOTE_PHYS32_ENTRY } from '../../src/guest/elf-check';
import { checkStaticInit } from '../../src/guest/initramfs';

const PT_LOAD = 1;
const PT_INTERP = 3;
const PT_NOTE = 4;

function note(name: string, type: number, desc: Buffer): Buffer {
  const nameBytes = Buffer.from(name + '\0');
  const head = Buffer.alloc(12);
  head.writeUInt32LE(nameBytes.length, 0);
  head.writeUInt32LE(desc.length, 4);
  head.writeUInt32LE(type, 8);
  const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  return Buffer.concat([head, pad(nameBytes), pad(desc)]);
}

/** An ELF64 header, one program header per segment, then the segments' bytes. */
function elf(segments: { type: number; data: Buffer }[], opts: { machine?: number; etype?: number } = {}): Buffer {
  const phoff = 64;
  let dataAt = phoff + 56 * segments.length;
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2; header[5] = 1; header[6] = 1;
  header.writeUInt16LE(opts.etype ?? 2, 0x10);
  header.writeUInt16LE(opts.machine ?? 62, 0x12);
  header.writeBigUInt64LE(BigInt(phoff), 0x20);
  header.writeUInt16LE(56, 0x36);
  header.writeUInt16LE(segments.length, 0x38);
  const phdrs = segments.map((s) => {
    const ph = Buffer.alloc(56);
    ph.writeUInt32LE(s.type, 0);
    ph.writeBigUInt64LE(BigInt(dataAt), 8);
    ph.writeBigUInt64LE(BigInt(s.data.length), 32);
    dataAt += s.data.length;
    return ph;
  });
  return Buffer.concat([header, ...phdrs, ...segments.map((s) => s.data)]);
}

test('the PVH entry is read from a Xen PHYS32_ENTRY note after other notes', () => {
  const entry = Buffer.alloc(8);
  entry.writeUInt32LE(0x1000_1234, 0);
  const notes = Buffer.concat([
    note('GNU', 3, Buffer.from('abcdefgh')),
    note('Xen', 5, Buffer.from('xen-3.0\0')),
    note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, entry),
  ]);
  const s = summarizeElf64(elf([{ type: PT_LOAD, data: Buffer.alloc(16) }, { type: PT_NOTE, data: notes }]))!;
  assert.equal(s.pvhEntry, 0x1000_1234);
  assert.equal(s.hasInterpreter, false);
  assert.equal(s.machine, 62);
});

test('no Xen note means no PVH entry; an interpreter segment is reported', () => {
  const s = summarizeElf64(elf([{ type: PT_INTERP, data: Buffer.from('/lib/ld.so\0') },
    { type: PT_NOTE, data: note('GNU', XEN_ELFNOTE_PHYS32_ENTRY, Buffer.alloc(4)) }]))!;
  assert.equal(s.pvhEntry, undefined);
  assert.equal(s.hasInterpreter, true);
});

test('non-ELF, 32-bit and truncated images are not summarized', () => {
  assert.equal(summarizeElf64(Buffer.from('#!/bin/sh\necho hi\n'.padEnd(80))), undefined);
  const elf32 = elf([]);
  elf32[4] = 1;
  assert.equal(summarizeElf64(elf32), undefined);
  const full = elf([{ type: PT_NOTE, data: note('Xen', 18, Buffer.alloc(4)) }]);
  assert.equal(summarizeElf64(full.subarray(0, 100)), undefined);
  assert.equal(summarizeElf64(full.subarray(0, full.length - 4)), undefined);
});

test('an /init must be a static x86-64 executable', () => {
  assert.doesNotThrow(() => checkStaticInit(elf([{ type: PT_LOAD, data: Buffer.alloc(4) }]), 'init'));
  assert.throws(() => checkStaticInit(elf([{ type: PT_INTERP, data: Buffer.from('/lib/ld\0') }]), 'bb'),
    /bb is dynamically linked/);
  assert.throws(() => checkStaticInit(elf([], { machine: 183 }), 'arm'), /arm is not an x86-64 ELF/);
  assert.throws(() => checkStaticInit(Buffer.from('not an elf'.padEnd(64)), 'text'), /text is not an x86-64 ELF/);
});
