// Guest RAM for a snapshot: which runs of the memfd hold data, and views of them. SEEK_DATA / SEEK_HOLE on the
// memfd skip what the guest never touched (and what the balloon gave back) without reading it; inside the data,
// pages of zeros are left out too, so memory.bin keeps holes wherever the guest's RAM reads as zero.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GuestRam, type RamLayout } from '../../base/guest-ram';
import { native } from '../../base/native';
import { checkMemoryFile, MEMORY_FILE, type Extent, type MemoryImage, type SnapshotImage } from './format';

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

/**
 * Guest RAM as a snapshot writes it; the guest must not run while the image is in use. RAM mapped copy-on-write
 * from a file is read whole: the file's holes say nothing of the pages the guest has written since.
 */
export function memoryImage(ram: GuestRam): MemoryImage {
  const view = ramView(ram);
  const extents: Extent[] = [];
  for (const slot of ram.slots) {
    const end = slot.offset + slot.size;
    for (const run of ram.copyOnWrite ? [[slot.offset, slot.size] as const] : dataRuns(ram.fd, slot.offset, end)) {
      // SEEK_DATA works in pages of the memfd, which are never smaller than 4 KiB.
      const start = Math.floor(run[0] / PAGE) * PAGE;
      const stop = Math.min(Math.ceil((run[0] + run[1]) / PAGE) * PAGE, end);
      extents.push(...nonZeroPages(view, [start, stop - start]));
    }
  }
  return { bytes: ram.slots.reduce((s, r) => s + r.size, 0), extents, view };
}

/**
 * memory.bin files this process has checked, by identity: a pool restoring the same snapshot again and again reads
 * and hashes it once. The change time is in the key because nothing can set it back: a file written since (in
 * place, or replaced) is checked again.
 */
const checkedFiles = new Set<string>();

function fileIdentity(st: fs.BigIntStats, sha256: string): string {
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs, sha256].join(':');
}

/**
 * Guest RAM for a restore, mapped copy-on-write from the snapshot's memory.bin (checked first against its hash,
 * once per file per process). The file must not change while the machine runs; removing it is fine.
 */
export function snapshotRam(image: SnapshotImage, layout: RamLayout[]): GuestRam {
  const fd = fs.openSync(path.join(image.dir, MEMORY_FILE), 'r');
  try {
    const key = fileIdentity(fs.fstatSync(fd, { bigint: true }), image.manifest.memory.sha256);
    if (!checkedFiles.has(key)) {
      checkMemoryFile(image, fd);
      checkedFiles.add(key);
    }
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return GuestRam.fromFile(layout, fd);
}
