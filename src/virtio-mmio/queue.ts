// The split virtqueue (virtio 1.2, section 2.7), read from guest memory with nothing taken on trust: every index is
// bounded by the queue size, every descriptor's buffer is translated and bounds-checked, a chain can visit no more
// descriptors than its table holds (so loops end), indirect tables do not nest, and lengths cannot overflow.
// Guest-written values are read once into locals: the guest may change them while we look.
// Addresses are the device's (DmaMemory): guest-physical, or I/O virtual behind the virtio-iommu, where each view
// is checked for the right the device needs (read for what it reads, write for what it writes).
import { DMA_READ, DMA_WRITE, type DmaMemory } from '../base/guest-memory';
import { fullFence } from './fence';

export type QueueErrorCode = 'E_RANGE' | 'E_LOOP' | 'E_INDIRECT' | 'E_ORDER' | 'E_LEN' | 'E_AVAIL_IDX' | 'E_LAYOUT';

export class QueueError extends Error {
  constructor(readonly code: QueueErrorCode, message: string, readonly head?: number) {
    super(message);
    this.name = 'QueueError';
  }
}

export interface QueueLayout { size: number; desc: bigint; avail: bigint; used: bigint }

/** Where the device is in a queue, for a snapshot: the next avail entry, its used idx, the last one signalled. */
export interface QueueIndices { nextAvail: number; usedIdx: number; lastSignalled: number }

export interface DescriptorChain {
  head: number;
  /** Device-readable buffers, in order, as views into guest memory. */
  readable: Uint8Array[];
  /** Device-writable buffers, in order. */
  writable: Uint8Array[];
  readableBytes: number;
  writableBytes: number;
}

const DESC_F_NEXT = 1;
const DESC_F_WRITE = 2;
const DESC_F_INDIRECT = 4;
const AVAIL_F_NO_INTERRUPT = 1;
const MAX_INDIRECT = 1024;
const MAX_CHAIN_BYTES = 0xffff_ffff;

export interface QueueOptions {
  eventIdx: boolean;
  indirect: boolean;
  /** A full memory fence; tests pass their own to see where it comes. */
  fence?: () => void;
}

export class Virtqueue {
  readonly size: number;
  // The three rings, checked to lie in guest RAM once, when the queue is made, and then read through these views:
  // no translation and no new view per ring access on the per-request path. Behind an IOMMU they are taken again
  // whenever its mappings change (the memory's generation), so an unmapped ring faults instead of being used.
  private desc!: DataView;
  private avail!: DataView;
  private used!: DataView;
  private usedIdxView!: Uint16Array;
  private generation = 0;
  private nextAvail = 0;
  private usedIdx = 0;
  private lastSignalled = 0;
  private readonly fence: () => void;
  /** Where avail_event sits, at the end of the used ring. */
  private readonly availEventAt: number;

  constructor(private readonly mem: DmaMemory, private readonly layout: QueueLayout, private readonly opts: QueueOptions) {
    const { size } = layout;
    if (!Number.isInteger(size) || size < 1 || size > 32768 || (size & (size - 1)) !== 0) {
      throw new QueueError('E_LAYOUT', `queue size ${size} is not a power of two up to 32768`);
    }
    this.size = size;
    this.mapRings();
    this.usedIdx = this.usedIdxView[0]!;
    this.lastSignalled = this.usedIdx;
    this.nextAvail = this.usedIdx;
    this.fence = opts.fence ?? fullFence;
    this.availEventAt = 4 + 8 * size;
  }

  private mapRings(): void {
    const { layout, size } = this;
    this.generation = this.mem.generation;
    this.desc = this.ring('descriptor table', layout.desc, 16, 16 * size, DMA_READ);
    this.avail = this.ring('driver area', layout.avail, 2, 6 + 2 * size, DMA_READ);
    this.used = this.ring('device area', layout.used, 4, 6 + 8 * size, DMA_WRITE);
    this.usedIdxView = new Uint16Array(this.used.buffer, this.used.byteOffset + 2, 1);
  }

  /** Takes the ring views again when the memory says earlier views may be stale; throws QueueError if one faults. */
  private current(): void {
    if (this.mem.generation !== this.generation) this.mapRings();
  }

  private ring(what: string, addr: bigint, align: number, bytes: number, access: number): DataView {
    if (addr % BigInt(align) !== 0n) throw new QueueError('E_LAYOUT', `${what} at 0x${addr.toString(16)} is not ${align}-byte aligned`);
    const b = this.mem.tryBytes(addr, bytes, access);
    if (b === null) throw new QueueError('E_LAYOUT', `${what} at 0x${addr.toString(16)}+${bytes} is not guest RAM`);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /**
   * Whether pop() would find a chain, without taking it (a device that must not take one yet, a rate-limited one,
   * asks first). An empty queue arms the avail event as pop() does.
   */
  hasAvailable(): boolean {
    this.current();
    return this.availIdx() !== this.nextAvail;
  }

  /** The next available chain, null when the driver has made none available. Throws QueueError for a bad one. */
  pop(): DescriptorChain | null {
    this.current();
    const availIdx = this.availIdx();
    const pending = (availIdx - this.nextAvail) & 0xffff;
    if (pending === 0) return null;
    if (pending > this.size) {
      throw new QueueError('E_AVAIL_IDX', `avail idx ${availIdx} is ${pending} ahead of ${this.nextAvail}, more than the queue size`);
    }
    const head = this.avail.getUint16(4 + 2 * (this.nextAvail % this.size), true);
    this.nextAvail = (this.nextAvail + 1) & 0xffff;
    if (this.opts.eventIdx) this.used.setUint16(this.availEventAt, this.nextAvail, true);
    return this.walk(head);
  }

  /**
   * The chain at `head` again, walked and checked as pop() walks it, for a device restored from a snapshot that held
   * it: the driver made it available before the snapshot and has not had it back, so its descriptors are still the
   * device's. The avail ring is not touched. Throws QueueError as pop() does (a head outside the queue too).
   */
  reclaim(head: number): DescriptorChain {
    this.current();
    return this.walk(head);
  }

  /** The driver's avail idx; when it shows nothing new, read again after arming the avail event. */
  private availIdx(): number {
    const availIdx = this.avail.getUint16(2, true);
    return availIdx === this.nextAvail && this.opts.eventIdx ? this.armAvailEvent() : availIdx;
  }

  /**
   * The queue looks empty and the device is about to wait for a notify: "enable notification, then check again".
   * The driver does the mirror image (store avail idx, full fence, load avail_event, notify if it was crossed).
   * With a full fence on both sides at least one of them sees the other's store: we see its new entry, or it sees
   * our avail_event and notifies. Returns the avail idx read after the fence.
   */
  private armAvailEvent(): number {
    // Store: ask for a notify as soon as entry nextAvail is made available. The last pop() wrote the same value, but
    // a queue that never had a chain has not, and the ring may hold anything the driver left there.
    this.used.setUint16(this.availEventAt, this.nextAvail, true);
    // Full fence (store-load): avail_event must reach the driver before the load below reads avail idx. x86 lets a
    // load pass an earlier store to another address (the store buffer), and then both sides can read the other's
    // old value and each wait for the other forever.
    this.fence();
    // Load again: an entry the driver published before it could see our avail_event is served now, unnotified.
    return this.avail.getUint16(2, true);
  }

  private walk(head: number): DescriptorChain {
    const chain: DescriptorChain = { head, readable: [], writable: [], readableBytes: 0, writableBytes: 0 };
    if (head >= this.size) throw new QueueError('E_RANGE', `head ${head} outside a queue of ${this.size}`, head);
    let table = this.desc;
    let tableSize = this.size;
    let inIndirect = false;
    let index = head;
    for (let visited = 0; ; visited++) {
      if (visited >= tableSize) throw new QueueError('E_LOOP', `chain from ${head} visits more than ${tableSize} descriptors`, head);
      const at = 16 * index;
      const addr = table.getBigUint64(at, true);
      const len = table.getUint32(at + 8, true);
      const flags = table.getUint16(at + 12, true);
      const next = table.getUint16(at + 14, true);
      if (flags & DESC_F_INDIRECT) {
        if (inIndirect || !this.opts.indirect || (flags & DESC_F_NEXT) || len === 0 || len % 16 !== 0 || len / 16 > MAX_INDIRECT) {
          throw new QueueError('E_INDIRECT', `bad indirect descriptor (len ${len}, flags 0x${flags.toString(16)})`, head);
        }
        const t = this.mem.tryBytes(addr, len, DMA_READ);
        if (t === null) throw new QueueError('E_RANGE', `indirect table at 0x${addr.toString(16)} is not guest RAM`, head);
        table = new DataView(t.buffer, t.byteOffset, t.byteLength);
        tableSize = len / 16;
        inIndirect = true;
        index = 0;
        visited = -1;
        continue;
      }
      const writable = (flags & DESC_F_WRITE) !== 0;
      if (!writable && chain.writable.length > 0) throw new QueueError('E_ORDER', 'a device-readable buffer follows a writable one', head);
      // Usually one view; behind an IOMMU, one per physically contiguous run of the buffer.
      if (!this.mem.pushSegments(addr, len, writable ? DMA_WRITE : DMA_READ, writable ? chain.writable : chain.readable)) {
        throw new QueueError('E_RANGE', `buffer 0x${addr.toString(16)}+${len} is not guest RAM`, head);
      }
      if (writable) chain.writableBytes += len;
      else chain.readableBytes += len;
      if (chain.readableBytes + chain.writableBytes > MAX_CHAIN_BYTES) throw new QueueError('E_LEN', 'chain longer than 4 GiB', head);
      if (!(flags & DESC_F_NEXT)) return chain;
      if (next >= tableSize) throw new QueueError('E_RANGE', `next ${next} outside a table of ${tableSize}`, head);
      index = next;
    }
  }

  /** Returns a chain to the driver with `written` bytes written into its writable buffers. */
  pushUsed(head: number, written: number): void {
    this.current();
    const slot = 4 + 8 * (this.usedIdx % this.size);
    this.used.setUint32(slot, head, true);
    this.used.setUint32(slot + 4, written >>> 0, true);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    // Atomics.store orders the element writes before the index the driver polls.
    Atomics.store(this.usedIdxView, 0, this.usedIdx);
  }

  /** The device's side of the queue, for a snapshot taken while no chain is held (popped and not yet used). */
  exportIndices(): QueueIndices {
    return { nextAvail: this.nextAvail, usedIdx: this.usedIdx, lastSignalled: this.lastSignalled };
  }

  /**
   * Takes the device's side back from a snapshot, after guest RAM (and so the rings) came back. Each index is a
   * 16-bit ring counter, and nextAvail no more than the queue's size past usedIdx (else QueueError E_LAYOUT). The
   * used idx the ring shows is the guest's to scribble on: the device's own count is the one that goes on.
   */
  importIndices(i: QueueIndices): void {
    for (const k of ['nextAvail', 'usedIdx', 'lastSignalled'] as const) {
      const v = i[k];
      if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new QueueError('E_LAYOUT', `${k} ${String(v)} is not a 16-bit index`);
    }
    if (((i.nextAvail - i.usedIdx) & 0xffff) > this.size) {
      throw new QueueError('E_LAYOUT', `nextAvail ${i.nextAvail} is more than the queue size past usedIdx ${i.usedIdx}`);
    }
    this.nextAvail = i.nextAvail;
    this.usedIdx = i.usedIdx;
    this.lastSignalled = i.lastSignalled;
  }

  /**
   * Puts the chain pop() returned last back on the ring: the next pop() returns it again. For a device that holds
   * one chain it could not use yet (vsock's rx), so a snapshot holds none. The driver cannot have reused its ring
   * slot: the chain's descriptors are still the device's.
   */
  unpop(): void {
    this.nextAvail = (this.nextAvail - 1) & 0xffff;
  }

  /** Whether the driver wants an interrupt for what was pushed since the last call (EVENT_IDX or NO_INTERRUPT). */
  needsInterrupt(): boolean {
    this.current();
    const old = this.lastSignalled;
    const now = this.usedIdx;
    this.lastSignalled = now;
    if (old === now) return false;
    // Full fence (store-load): the used idx pushUsed() stored must reach the driver before we load used_event or
    // flags below. The driver re-enabling interrupts stores used_event (or clears NO_INTERRUPT), fences, and then
    // re-reads used idx; without our fence both sides may read the other's old value, and the driver sleeps on an
    // interrupt we decided it did not want.
    this.fence();
    if (this.opts.eventIdx) {
      const usedEvent = this.avail.getUint16(4 + 2 * this.size, true);
      return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (this.avail.getUint16(0, true) & AVAIL_F_NO_INTERRUPT) === 0;
  }
}
