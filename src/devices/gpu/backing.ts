// A resource's backing: the guest's list of { addr, length } entries, and views of that memory in order, one per
// contiguous run. The views are taken through the device's memory (guest RAM, or I/O virtual addresses behind the
// IOMMU, where each entry must be mapped readable), a bounded number of entries per step, and taken again
// whenever the memory says older views may be stale (an IOMMU mapping went away).
import { DMA_READ, type DmaMemory } from '../../base/guest-memory';
import { MEM_ENTRY_BYTES } from './protocol';

/** The most entries one RESOURCE_ATTACH_BACKING may list. */
export const MAX_BACKING_ENTRIES = 16384;
/** Entries translated per step of an attach. */
export const ENTRIES_PER_STEP = 256;
/** Runs of entries that follow each other in memory are translated as one, up to this many bytes. */
const MAX_RUN = 2 ** 30;

export type Resolve = 'more' | 'done' | 'fault';

export class Backing {
  private views: Uint8Array[] = [];
  /** Where each view starts in the backing's bytes, for a binary search. */
  private starts: number[] = [];
  /** The memory's generation the views were taken in; -1 before they are. */
  private generation = -1;
  /** An attach under way: the entries translated so far, the views they gave, and the generation it began in. */
  private next = 0;
  private partial: Uint8Array[] = [];
  private partialGeneration = 0;
  readonly length: number;

  private constructor(private readonly memory: DmaMemory, private readonly addrs: Float64Array,
    private readonly lengths: Uint32Array) {
    this.length = lengths.reduce((n, l) => n + l, 0);
  }

  /**
   * The `count` entries at the start of `list` (le64 addr, le32 length, le32 padding each), not yet translated
   * (resolve() does that), or undefined when an address lies past 2^53, where no memory is.
   */
  static parse(memory: DmaMemory, list: Buffer, count: number): Backing | undefined {
    const addrs = new Float64Array(count);
    const lengths = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      const at = i * MEM_ENTRY_BYTES;
      const high = list.readUInt32LE(at + 4);
      if (high >= 0x20_0000) return undefined;
      addrs[i] = high * 2 ** 32 + list.readUInt32LE(at);
      lengths[i] = list.readUInt32LE(at + 8);
    }
    return new Backing(memory, addrs, lengths);
  }

  /** Entries as a snapshot keeps them, [addr, length]; fromEntries() makes the backing again. */
  entries(): [number, number][] {
    return Array.from(this.addrs, (a, i) => [a, this.lengths[i]!]);
  }

  /** A backing from entries a snapshot kept (each checked: an address below 2^53, a 32-bit length). */
  static fromEntries(memory: DmaMemory, entries: readonly (readonly [number, number])[]): Backing {
    return new Backing(memory, Float64Array.from(entries, (e) => e[0]), Uint32Array.from(entries, (e) => e[1]));
  }

  /**
   * Translates up to `most` more entries: 'done' once every entry is (the views are then in use), 'fault' when
   * one is not wholly memory the device may read. Entries that continue one another (a driver's pages often do)
   * are one run: one translation, one view.
   */
  resolve(most: number): Resolve {
    const { addrs, lengths } = this;
    if (this.next === 0) {
      this.partial = [];
      this.partialGeneration = this.memory.generation;
    }
    const stop = Math.min(addrs.length, this.next + most);
    let i = this.next;
    while (i < stop) {
      const start = addrs[i]!;
      let run = lengths[i++]!;
      while (i < addrs.length && addrs[i] === start + run && run + lengths[i]! <= MAX_RUN) run += lengths[i++]!;
      const ok = run > 0 ? this.memory.pushSegments(start, run, DMA_READ, this.partial)
        : this.memory.tryBytes(start, 0, DMA_READ) !== null;
      if (!ok) {
        this.next = 0;
        return 'fault';
      }
    }
    this.next = i;
    if (i < addrs.length) return 'more';
    this.next = 0;
    // Views taken before a mapping went away may be stale: all of them are taken again.
    if (this.memory.generation !== this.partialGeneration) return 'more';
    this.views = this.partial;
    this.partial = [];
    let at = 0;
    this.starts = this.views.map((v) => { const s = at; at += v.length; return s; });
    this.generation = this.partialGeneration;
    return 'done';
  }

  /**
   * Whether the views are current, taking them again (all entries at once, bounded by MAX_BACKING_ENTRIES) when the
   * memory changed since; false when an entry no longer maps.
   */
  current(): boolean {
    if (this.generation === this.memory.generation) return true;
    this.next = 0;
    return this.resolve(this.addrs.length) === 'done';
  }

  /** Copies bytes [offset, offset + n) of the backing (which must hold them) into `dst` at `dstOffset`. */
  copyOut(offset: number, dst: Uint8Array, dstOffset: number, n: number): void {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    let i = lo;
    let skip = offset - this.starts[i]!;
    let left = n;
    let to = dstOffset;
    while (left > 0) {
      const v = this.views[i++]!;
      const k = Math.min(v.length - skip, left);
      dst.set(v.subarray(skip, skip + k), to);
      to += k;
      left -= k;
      skip = 0;
    }
  }
}
