// Synthetic kernels for the boot tests: ELF64 files and bzImages assembled byte by byte, so each test can break
// exactly one field.
export interface SegmentSpec {
  type?: number;
  paddr: number;
  vaddr?: bigint;
  data: Uint8Array;
  /** Defaults to data.length. */
  memSize?: number;
  align?: number;
}

export interface ElfSpec {
  entry: bigint;
  segments: SegmentSpec[];
  elfClass?: number;
  machine?: number;
  type?: number;
}

const EHDR = 64;
const PHDR = 56;

export function buildElf(spec: ElfSpec): Uint8Array {
  let offset = EHDR + spec.segments.length * PHDR;
  const offsets = spec.segments.map((s) => {
    offset = Math.ceil(offset / 16) * 16;
    const at = offset;
    offset += s.data.length;
    return at;
  });
  const file = new Uint8Array(offset);
  const v = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, spec.elfClass ?? 2, 1, 1]);
  v.setUint16(16, spec.type ?? 2, true);
  v.setUint16(18, spec.machine ?? 62, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(24, spec.entry, true);
  v.setBigUint64(32, BigInt(EHDR), true);
  v.setUint16(52, EHDR, true);
  v.setUint16(54, PHDR, true);
  v.setUint16(56, spec.segments.length, true);
  spec.segments.forEach((s, i) => {
    const at = EHDR + i * PHDR;
    v.setUint32(at, s.type ?? 1, true);
    v.setUint32(at + 4, 5, true);
    v.setBigUint64(at + 8, BigInt(offsets[i]!), true);
    v.setBigUint64(at + 16, s.vaddr ?? BigInt(s.paddr), true);
    v.setBigUint64(at + 24, BigInt(s.paddr), true);
    v.setBigUint64(at + 32, BigInt(s.data.length), true);
    v.setBigUint64(at + 40, BigInt(s.memSize ?? s.data.length), true);
    v.setBigUint64(at + 48, BigInt(s.align ?? 4), true);
    file.set(s.data, offsets[i]);
  });
  return file;
}

/** One ELF note with 4-byte (or `pad`-byte) alignment of name and descriptor. */
export function elfNote(name: string, type: number, desc: Uint8Array, pad = 4): Uint8Array {
  const nameBytes = Buffer.from(name + '\0', 'latin1');
  const align = (n: number): number => Math.ceil(n / pad) * pad;
  const out = new Uint8Array(12 + align(nameBytes.length) + align(desc.length));
  const v = new DataView(out.buffer);
  v.setUint32(0, nameBytes.length, true);
  v.setUint32(4, desc.length, true);
  v.setUint32(8, type, true);
  out.set(nameBytes, 12);
  out.set(desc, 12 + align(nameBytes.length));
  return out;
}

export function pvhNote(entry: number, size: 4 | 8 = 4): Uint8Array {
  const desc = new Uint8Array(size);
  const v = new DataView(desc.buffer);
  if (size === 4) v.setUint32(0, entry, true);
  else v.setBigUint64(0, BigInt(entry), true);
  return elfNote('Xen', 18, desc);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff || 1;
  return out;
}

export interface BzImageSpec {
  setupSects?: number;
  version?: number;
  loadflags?: number;
  xloadflags?: number;
  relocatable?: boolean;
  kernelAlignment?: number;
  prefAddress?: bigint;
  initSize?: number;
  initrdAddrMax?: number;
  cmdlineSize?: number;
  bootFlag?: number;
  payload?: Uint8Array;
}

/** A bzImage: boot sector + setup sectors with a 2.15-style header, then the protected-mode payload. */
export function buildBzImage(spec: BzImageSpec = {}): Uint8Array {
  const setupSects = spec.setupSects ?? 4;
  const payload = spec.payload ?? pattern(0x3000, 7);
  const kernelOffset = ((setupSects || 4) + 1) * 512;
  const file = new Uint8Array(kernelOffset + payload.length);
  const v = new DataView(file.buffer);
  v.setUint8(0x1f1, setupSects);
  v.setUint16(0x1fe, spec.bootFlag ?? 0xaa55, true);
  v.setUint8(0x200, 0xeb);
  v.setUint8(0x201, 0x6a); // header ends at 0x26c
  file.set(Buffer.from('HdrS', 'latin1'), 0x202);
  v.setUint16(0x206, spec.version ?? 0x020f, true);
  v.setUint8(0x211, spec.loadflags ?? 0x01);
  v.setUint32(0x214, 0x100000, true);
  v.setUint32(0x22c, spec.initrdAddrMax ?? 0x7fffffff, true);
  v.setUint32(0x230, spec.kernelAlignment ?? 0x200000, true);
  v.setUint8(0x234, spec.relocatable === false ? 0 : 1);
  v.setUint16(0x236, spec.xloadflags ?? 0x0b, true);
  v.setUint32(0x238, spec.cmdlineSize ?? 2047, true);
  v.setBigUint64(0x258, spec.prefAddress ?? 0x1000000n, true);
  v.setUint32(0x260, spec.initSize ?? 0x800000, true);
  v.setUint32(0x268, 0x12345, true); // kernel_info_offset: a marker that must travel with the header
  file.set(payload, kernelOffset);
  return file;
}
