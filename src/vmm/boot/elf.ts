// ELF64 x86_64 kernels (an uncompressed vmlinux, or a small freestanding guest): checked header by header, loaded
// segment by segment at their physical addresses, with the PVH entry point read from the Xen ELF note.
import type { GuestMemory } from '../../base/guest-memory';
import { BootError, hex } from './errors';
import { HIMEM_START } from './layout';

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
const ET_EXEC = 2;
const EM_X86_64 = 62;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
/** phnum 0xffff means the real count is in section 0: no kernel does that. */
const PN_XNUM = 0xffff;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical entry point of the PVH boot ABI. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;
const U32_LIMIT = 0x1_0000_0000;

export interface ElfSegment {
  paddr: number;
  vaddr: bigint;
  offset: number;
  fileSize: number;
  memSize: number;
}

export interface ElfImage {
  /** e_entry as a physical address (a virtual e_entry is translated through its segment). */
  entry64: number;
  /** From the PVH note, when the kernel has one. */
  pvhEntry?: number;
  segments: ElfSegment[];
  /** Lowest physical address loaded. */
  lowest: number;
  /** End (exclusive) of the highest segment, bss included. */
  highest: number;
}

export function isElf(file: Uint8Array): boolean {
  return file.length >= 4 && ELF_MAGIC.every((b, i) => file[i] === b);
}

function fail(why: string): never {
  throw new BootError(`kernel: ${why}`);
}

/** A u64 field that must be an exact JS number. */
function u64(v: DataView, off: number, what: string): number {
  const n = v.getBigUint64(off, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${hex(n)} is out of range`);
  return Number(n);
}

interface ElfHeader { entry: bigint; phoff: number; phnum: number }

function parseHeader(file: Uint8Array, v: DataView): ElfHeader {
  if (file.length < EHDR_SIZE || !isElf(file)) fail('not an ELF64 x86_64 file or a bzImage');
  if (file[4] !== ELFCLASS64) fail(`ELF class ${file[4]} is not ELFCLASS64`);
  if (file[5] !== ELFDATA2LSB) fail(`ELF data encoding ${file[5]} is not little-endian`);
  if (file[6] !== EV_CURRENT) fail(`ELF version ${file[6]} is not 1`);
  const type = v.getUint16(16, true);
  if (type !== ET_EXEC) fail(`ELF type ${type} is not an executable (ET_EXEC)`);
  const machine = v.getUint16(18, true);
  if (machine !== EM_X86_64) fail(`ELF machine ${machine} is not x86_64 (62)`);
  const phentsize = v.getUint16(54, true);
  if (phentsize !== PHDR_SIZE) fail(`ELF program header size ${phentsize} is not ${PHDR_SIZE}`);
  const phoff = u64(v, 32, 'program header offset');
  const phnum = v.getUint16(56, true);
  if (phnum === 0 || phnum === PN_XNUM) fail(`ELF program header count ${phnum} is not usable`);
  if (phoff + phnum * PHDR_SIZE > file.length) {
    fail(`ELF program headers (${phnum} at offset ${hex(phoff)}) run past the end of the ${file.length}-byte file`);
  }
  return { entry: v.getBigUint64(24, true), phoff, phnum };
}

interface ProgramHeader extends ElfSegment { type: number; align: number }

function parseProgramHeader(file: Uint8Array, v: DataView, off: number, index: number): ProgramHeader {
  const ph: ProgramHeader = {
    type: v.getUint32(off, true),
    offset: u64(v, off + 8, `segment ${index} offset`),
    vaddr: v.getBigUint64(off + 16, true),
    paddr: u64(v, off + 24, `segment ${index} physical address`),
    fileSize: u64(v, off + 32, `segment ${index} file size`),
    memSize: u64(v, off + 40, `segment ${index} memory size`),
    align: u64(v, off + 48, `segment ${index} alignment`),
  };
  // Other segment types (GNU_STACK, PHDR, ...) are never read, so only these two are held to the file's bounds.
  if ((ph.type === PT_LOAD || ph.type === PT_NOTE) && ph.offset + ph.fileSize > file.length) {
    fail(`segment ${index} (${ph.fileSize} bytes at offset ${hex(ph.offset)}) runs past the end of the file`);
  }
  if (ph.type === PT_LOAD && ph.fileSize > ph.memSize) {
    fail(`segment ${index} file size ${ph.fileSize} is larger than its memory size ${ph.memSize}`);
  }
  return ph;
}

/** Finds XEN_ELFNOTE_PHYS32_ENTRY among the notes of one PT_NOTE segment. */
function findPvhEntry(file: Uint8Array, v: DataView, ph: ProgramHeader): number | undefined {
  // Notes are 4-byte aligned, or 8 when the segment says so (GNU property notes).
  const pad = ph.align === 8 ? 8 : 4;
  const align = (n: number): number => Math.ceil(n / pad) * pad;
  const end = ph.offset + ph.fileSize;
  let at = ph.offset;
  while (at + 12 <= end) {
    const nameSize = v.getUint32(at, true);
    const descSize = v.getUint32(at + 4, true);
    const type = v.getUint32(at + 8, true);
    const nameAt = at + 12;
    const descAt = nameAt + align(nameSize);
    const next = descAt + align(descSize);
    if (descAt + descSize > end) fail(`ELF note at offset ${hex(at)} runs past its segment`);
    const name = Buffer.from(file.subarray(nameAt, nameAt + nameSize)).toString('latin1');
    if (name === 'Xen\0' && type === XEN_ELFNOTE_PHYS32_ENTRY) return readPvhEntry(v, descAt, descSize);
    at = next;
  }
  return undefined;
}

function readPvhEntry(v: DataView, at: number, size: number): number {
  // Linux wrote the address as a pointer-sized value before 6.x and as 32 bits since: take either.
  if (size === 4) return v.getUint32(at, true);
  if (size === 8) {
    const entry = v.getBigUint64(at, true);
    if (entry >= BigInt(U32_LIMIT)) fail(`PVH entry ${hex(entry)} is not a 32-bit address`);
    return Number(entry);
  }
  return fail(`PVH entry note has a ${size}-byte value (expected 4 or 8)`);
}

/** The physical address of e_entry: inside a segment's physical range, or translated from its virtual range. */
function physicalEntry(entry: bigint, segments: ElfSegment[]): number {
  for (const s of segments) {
    if (entry >= BigInt(s.paddr) && entry < BigInt(s.paddr + s.memSize)) return Number(entry);
  }
  for (const s of segments) {
    if (entry >= s.vaddr && entry < s.vaddr + BigInt(s.memSize)) return s.paddr + Number(entry - s.vaddr);
  }
  return fail(`entry point ${hex(entry)} is not inside any loadable segment`);
}

/** Parses and checks an ELF64 x86_64 executable without touching guest memory. */
export function parseElf(file: Uint8Array): ElfImage {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const hdr = parseHeader(file, v);
  const segments: ElfSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < hdr.phnum; i++) {
    const ph = parseProgramHeader(file, v, hdr.phoff + i * PHDR_SIZE, i);
    if (ph.type === PT_LOAD && ph.memSize > 0) {
      const { paddr, vaddr, offset, fileSize, memSize } = ph;
      segments.push({ paddr, vaddr, offset, fileSize, memSize });
    } else if (ph.type === PT_NOTE && pvhEntry === undefined) {
      pvhEntry = findPvhEntry(file, v, ph);
    }
  }
  if (segments.length === 0) fail('ELF has no loadable (PT_LOAD) segment');
  checkOverlaps(segments);
  const image: ElfImage = {
    entry64: physicalEntry(hdr.entry, segments),
    segments,
    lowest: Math.min(...segments.map((s) => s.paddr)),
    highest: Math.max(...segments.map((s) => s.paddr + s.memSize)),
  };
  if (pvhEntry !== undefined) {
    if (!segments.some((s) => pvhEntry >= s.paddr && pvhEntry < s.paddr + s.memSize)) {
      fail(`PVH entry ${hex(pvhEntry)} is not inside any loadable segment`);
    }
    image.pvhEntry = pvhEntry;
  }
  return image;
}

function checkOverlaps(segments: ElfSegment[]): void {
  const sorted = [...segments].sort((a, b) => a.paddr - b.paddr);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    if (prev.paddr + prev.memSize > sorted[i]!.paddr) {
      fail(`segments at ${hex(prev.paddr)} and ${hex(sorted[i]!.paddr)} overlap`);
    }
  }
}

/**
 * Copies the segments into guest memory and zeroes their bss. Every segment must sit in RAM between 1 MiB (below
 * are the boot structures) and `ramEnd` (the end of RAM the entry code can reach).
 */
export function loadElf(mem: GuestMemory, file: Uint8Array, image: ElfImage, ramEnd: number): void {
  for (const s of image.segments) {
    if (s.paddr < HIMEM_START || s.paddr + s.memSize > ramEnd || !mem.contains(s.paddr, s.memSize)) {
      fail(`segment at ${hex(s.paddr)} (${s.memSize} bytes) does not fit in guest RAM between 1 MiB and ` +
        hex(ramEnd));
    }
  }
  for (const s of image.segments) {
    mem.write(s.paddr, file.subarray(s.offset, s.offset + s.fileSize));
    mem.fill(s.paddr + s.fileSize, s.memSize - s.fileSize, 0);
  }
}
