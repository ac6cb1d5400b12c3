// A driver that writes split-ring structures into test guest memory the way a guest would, including ones no
// correct guest would write, so the device side can be driven without KVM.
import type { DeviceContext, VirtioDevice } from '../../src/virtio-mmio/device';
import { GuestMemory, type DmaMemory } from '../../src/base/guest-memory';
import { Virtqueue, type QueueLayout, type QueueOptions } from '../../src/virtio-mmio/queue';

export const F_NEXT = 1;
export const F_WRITE = 2;
export const F_INDIRECT = 4;

export interface Desc { addr: number | bigint; len: number; flags: number; next?: number }

export interface MockDriverOptions {
  /** Guest memory to write into (several drivers, one per queue, can share one); default a fresh ArrayBuffer. */
  mem?: GuestMemory;
  /** Where this queue's rings start: descriptors at base+0x1000, driver area +0x2000, device area +0x3000. */
  base?: number;
}

export class MockDriver {
  readonly mem: GuestMemory;
  readonly layout: QueueLayout;
  /** The descriptor table's address, for writeDesc. */
  readonly descTable: number;
  private readonly avail: number;
  private readonly usedRing: number;
  private availIdx = 0;
  private nextDesc = 0;

  constructor(readonly size = 16, memBytes = 1 << 20, opts: MockDriverOptions = {}) {
    this.mem = opts.mem ?? GuestMemory.forTest([{ gpa: 0, size: memBytes }]);
    const base = opts.base ?? 0;
    this.descTable = base + 0x1000;
    this.avail = base + 0x2000;
    this.usedRing = base + 0x3000;
    this.layout = { size, desc: BigInt(this.descTable), avail: BigInt(this.avail), used: BigInt(this.usedRing) };
  }

  queue(opts: QueueOptions = { eventIdx: false, indirect: true }): Virtqueue {
    return new Virtqueue(this.mem, this.layout, opts);
  }

  writeDesc(table: number, index: number, d: Desc): void {
    const at = table + 16 * index;
    this.mem.writeU64(at, BigInt(d.addr));
    this.mem.writeU32(at + 8, d.len);
    this.mem.writeU16(at + 12, d.flags);
    this.mem.writeU16(at + 14, d.next ?? 0);
  }

  /** Writes descriptors as a linked chain (NEXT set on all but the last) and makes its head available. */
  addChain(descs: Desc[]): number {
    const head = this.nextDesc;
    descs.forEach((d, i) => {
      const index = (head + i) % this.size;
      const last = i === descs.length - 1;
      this.writeDesc(this.descTable, index, { ...d, flags: d.flags | (last ? 0 : F_NEXT), next: (index + 1) % this.size });
    });
    this.nextDesc = (head + descs.length) % this.size;
    this.makeAvailable(head);
    return head;
  }

  /**
   * A chain longer than the ring: the first size-1 descriptors go in the ring as addChain writes them, the rest in
   * an indirect table at `table` that the last ring descriptor points to (so up to size-1 + 1024 buffers).
   */
  addLongChain(descs: Desc[], table: number): number {
    const direct = descs.slice(0, this.size - 1);
    const rest = descs.slice(this.size - 1);
    if (rest.length === 0) return this.addChain(direct);
    rest.forEach((d, i) => {
      const last = i === rest.length - 1;
      this.writeDesc(table, i, { ...d, flags: d.flags | (last ? 0 : F_NEXT), next: last ? 0 : i + 1 });
    });
    return this.addChain([...direct, { addr: table, len: 16 * rest.length, flags: F_INDIRECT }]);
  }

  makeAvailable(head: number): void {
    this.mem.writeU16(this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.mem.writeU16(this.avail + 2, this.availIdx);
  }

  setAvailIdx(idx: number): void {
    this.availIdx = idx & 0xffff;
    this.mem.writeU16(this.avail + 2, this.availIdx);
  }

  /** used_event, read by the device when EVENT_IDX is negotiated. */
  setUsedEvent(v: number): void { this.mem.writeU16(this.avail + 4 + 2 * this.size, v); }
  setNoInterrupt(on: boolean): void { this.mem.writeU16(this.avail, on ? 1 : 0); }

  usedIdx(): number { return this.mem.readU16(this.usedRing + 2); }
  used(i: number): { id: number; len: number } {
    const at = this.usedRing + 4 + 8 * (i % this.size);
    return { id: this.mem.readU32(at), len: this.mem.readU32(at + 4) };
  }
  availEvent(): number { return this.mem.readU16(this.usedRing + 4 + 8 * this.size); }
}

/** A DeviceContext that records what the device asks of its transport. */
export interface MockContext extends DeviceContext {
  /** Every fail() reason, in order. */
  readonly failures: string[];
  /** notifyUsed() calls, per queue. */
  readonly notified: number[];
}

export interface MockContextOptions {
  memory: DmaMemory;
  queues: (Virtqueue | undefined)[];
  features: bigint;
  /** Also called on each notifyUsed() (a test guest that reads the used ring at once, say). */
  onUsed?: (queue: Virtqueue) => void;
}

/**
 * The context the transport would give `device`, and like the transport a fail() resets the device (the driver
 * would see DEVICE_NEEDS_RESET) after it is recorded.
 */
export function mockContext(device: Pick<VirtioDevice, 'reset'>, opts: MockContextOptions): MockContext {
  const failures: string[] = [];
  const notified = opts.queues.map(() => 0);
  return {
    memory: opts.memory, queues: opts.queues, features: opts.features, failures, notified,
    notifyUsed: (q) => {
      // A queue of another context (a copy with new queues, after a reset) is not counted here.
      const i = opts.queues.indexOf(q);
      if (i >= 0) notified[i]!++;
      opts.onUsed?.(q);
    },
    fail: (reason) => {
      failures.push(reason);
      device.reset();
    },
  };
}
