// Just enough ELF reading to check build outputs: that an init binary is a static 64-bit executable (no program
// interpreter) and that a kernel carries the PVH entry note the direct-boot loaders look for.

const PT_INTERP = 3;
const PT_NOTE = 4;
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit PVH entry point, in a note named "Xen". */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export interface ElfSummary {
  /** ET_EXEC (2) or ET_DYN (3), ... */
  type: number;
  machine: number;
  hasInterpreter: boolean;
  /** The PVH entry address, when a "Xen" PHYS32_ENTRY note is present. */
  pvhEntry: number | undefined;
}

/** Summarizes a little-endian ELF64 image; undefined when the bytes are not one (or are truncated). */
export function summarizeElf64(image: Uint8Array): ElfSummary | undefined {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 64 || view.getUint32(0) !== 0x7f454c46) return undefined; // "\x7fELF"
  if (image[4] !== 2 || image[5] !== 1) return undefined; // ELFCLASS64, little-endian
  const phoff = Number(view.getBigUint64(0x20, true));
  const phentsize = view.getUint16(0x36, true);
  const phnum = view.getUint16(0x38, true);
  if (phentsize < 56 || phoff + phnum * phentsize > image.length) return undefined;
  let hasInterpreter = false;
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const type = view.getUint32(ph, true);
    if (type === PT_INTERP) hasInterpreter = true;
    if (type !== PT_NOTE) continue;
    const offset = Number(view.getBigUint64(ph + 8, true));
    const size = Number(view.getBigUint64(ph + 32, true));
    if (offset + size > image.length) return undefined;
    pvhEntry ??= findXenPvhEntry(view, offset, offset + size);
  }
  return { type: view.getUint16(0x10, true), machine: view.getUint16(0x12, true), hasInterpreter, pvhEntry };
}

function findXenPvhEntry(view: DataView, start: number, end: number): number | undefined {
  const align4 = (n: number): number => (n + 3) & ~3;
  let at = start;
  while (at + 12 <= end) {
    const nameSize = view.getUint32(at, true);
    const descSize = view.getUint32(at + 4, true);
    const type = view.getUint32(at + 8, true);
    const nameAt = at + 12;
    const descAt = nameAt + align4(nameSize);
    if (descAt + descSize > end) return undefined;
    const name = new TextDecoder().decode(new Uint8Array(view.buffer, view.byteOffset + nameAt, nameSize));
    if (name === 'Xen\0' && type === XEN_ELFNOTE_PHYS32_ENTRY && descSize >= 4) {
      return view.getUint32(descAt, true);
    }
    at = descAt + align4(descSize);
  }
  return undefined;
}
