// Guest RAM for a snapshot: which runs of the memfd hold data, and views of them. SEEK_DATA / SEEK_HOLE on the
// memfd skip what the guest never touched (and what the balloon gave back) without reading it; inside the data,
// pages of zeros are left out too, so memory.bin keeps holes wherever the guest's RAM reads as zero.
import type { GuestRam } from '../../base/guest-ram';
import { native } from '../../base/native';
import type { Extent, MemoryImage } from './format';

const PAGE = 4096;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const ZERO_PAGE = new Uint8Array(PAGE);

/** The memfd's data runs inside [start, end); the whole range when the file system cannot say. */
function dataRuns(fd: number, start: number, end: number): Extent[] {
  const n = native();
  const runs: Extent[] = [];
  let at = start;
  try {
    while (at < end) {
      const data = Number(n.lseek(fd, BigInt(at), SEEK_DATA));
      if (data >= end) break;
      const hole = Math.min(Number(n.lseek(fd, BigInt(data), SEEK_HOLE)), end);
      runs.push([data, hole - data]);
      at = hole;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENXIO') return runs; // no data after `at`
    return [[start, end - start]];
  }
  return runs;
}

/** The runs of pages inside `run` that are not all zeros. */
function nonZeroPages(view: (offset: number, length: number) => Uint8Array, run: Extent): Extent[] {
  const [start, length] = run;
  const bytes = view(start, length);
  const out: Extent[] = [];
  let open = -1;
  for (let off = 0; off < length; off += PAGE) {
    const zero = Buffer.compare(bytes.subarray(off, off + PAGE), ZERO_PAGE) === 0;
    if (!zero && open < 0) open = off;
    if (zero && open >= 0) {
      out.push([start + open, off - open]);
      open = -1;
    }
  }
  if (open >= 0) out.push([start + open, length - open]);
  return out;
}

/** A view of memfd bytes [offset, offset + length), which must lie inside one RAM region. */
export function ramView(ram: GuestRam): (offset: number, length: number) => Uint8Array {
  return (offset, length) => {
    const i = ram.slots.findIndex((s) => offset >= s.offset && offset + length <= s.offset + s.size);
    if (i < 0) throw new RangeError(`memfd range ${offset}+${length} is not inside one RAM region`);
    const slot = ram.slots[i]!;
    return new Uint8Array(ram.memory.regions[i]!.buffer, offset - slot.offset, length);
  };
}

/** Guest RAM as a snapshot writes it; the guest must not run while the image is in use. */
export function memoryImage(ram: GuestRam): MemoryImage {
  const view = ramView(ram);
  const extents: Extent[] = [];
  for (const slot of ram.slots) {
    for (const run of dataRuns(ram.fd, slot.offset, slot.offset + slot.size)) {
      // SEEK_DATA works in pages of the memfd, which are never smaller than 4 KiB.
      const start = Math.floor(run[0] / PAGE) * PAGE;
      const end = Math.min(Math.ceil((run[0] + run[1]) / PAGE) * PAGE, slot.offset + slot.size);
      extents.push(...nonZeroPages(view, [start, end - start]));
    }
  }
  return { bytes: ram.slots.reduce((s, r) => s + r.size, 0), extents, view };
}
