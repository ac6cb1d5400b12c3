// The driver half of the EVENT_IDX stress test, run in a worker_thread: it maps the same memfd as the device and
// keeps the queue full as fast as it can, notifying only when avail_event asks and sleeping on an interrupt only
// when it has nothing else to do. Both waits use the standard "enable, fence, check again" sequence.
import { parentPort, workerData } from 'node:worker_threads';
import { fullFence } from '../../src/virtio-mmio/fence';
import { native } from '../../src/base/native';

/** Words of the control SharedArrayBuffer the two halves share. */
export const CTL = { DOORBELL: 0, IRQ: 1, DONE: 2, COMPLETED: 3, ASLEEP: 4, NOTIFIES: 5, SLEEPS: 6 } as const;
export const CTL_WORDS = 8;
export const RING = { DESC: 0x1000, AVAIL: 0x2000, USED: 0x3000, BUFFERS: 0x10000, BUFFER_BYTES: 16 } as const;

export interface StressDriverData { fd: number; memBytes: number; size: number; total: number; ctl: SharedArrayBuffer; waitMs: number }

class Driver {
  private readonly mem: DataView;
  private readonly ctl: Int32Array;
  private readonly free: number[] = [];
  private readonly inFlight: Uint8Array;
  private availIdx = 0;
  private lastUsed = 0;
  private submitted = 0;
  private seed = 1;
  private window = 1;
  completed = 0;

  constructor(private readonly d: StressDriverData) {
    this.mem = new DataView(new (native().SharedMapping)(d.fd, d.memBytes).buffer!);
    this.ctl = new Int32Array(d.ctl);
    this.inFlight = new Uint8Array(d.size);
    for (let i = 0; i < d.size; i++) {
      const at = RING.DESC + 16 * i;
      this.mem.setBigUint64(at, BigInt(RING.BUFFERS + RING.BUFFER_BYTES * i), true);
      this.mem.setUint32(at + 8, RING.BUFFER_BYTES, true);
      this.mem.setUint16(at + 12, 2, true); // device-writable, no next
      this.free.push(i);
    }
  }

  run(): void {
    const { size, total } = this.d;
    while (this.completed < total) {
      this.submit();
      // Poll a while before sleeping, as a busy guest does: the next batch then lands just as the device goes idle,
      // which is where a lost wakeup happens.
      let n = 0;
      for (let spin = 0; spin < 64 && n === 0; spin++) n = this.reap();
      if (n === 0 && (size - this.free.length >= this.window || this.submitted === total)) this.sleepUntilUsed();
    }
  }

  private submit(): void {
    const { size, total } = this.d;
    const old = this.availIdx;
    // A few requests in flight at a time (1 to 16, varying): the queue runs empty on both sides all the time, rather
    // than a full ring at a time.
    this.seed = (this.seed * 1103515245 + 12345) >>> 0;
    this.window = 1 + (this.seed >>> 28);
    while (size - this.free.length < this.window && this.submitted < total) {
      const head = this.free.pop()!;
      this.inFlight[head] = 1;
      this.mem.setUint16(RING.AVAIL + 4 + 2 * (this.availIdx % size), head, true);
      this.availIdx = (this.availIdx + 1) & 0xffff;
      this.submitted++;
    }
    if (this.availIdx === old) return;
    fullFence(); // the ring entries before the index that publishes them
    this.mem.setUint16(RING.AVAIL + 2, this.availIdx, true);
    fullFence(); // store-load: the new index must be visible before we read avail_event
    const event = this.mem.getUint16(RING.USED + 4 + 8 * size, true);
    if (((this.availIdx - event - 1) & 0xffff) < ((this.availIdx - old) & 0xffff)) {
      Atomics.add(this.ctl, CTL.NOTIFIES, 1);
      Atomics.add(this.ctl, CTL.DOORBELL, 1);
      Atomics.notify(this.ctl, CTL.DOORBELL);
    }
  }

  private reap(): number {
    const { size } = this.d;
    const usedIdx = this.mem.getUint16(RING.USED + 2, true);
    fullFence(); // the index before the entries it covers
    let n = 0;
    for (; this.lastUsed !== usedIdx; this.lastUsed = (this.lastUsed + 1) & 0xffff, n++) {
      const at = RING.USED + 4 + 8 * (this.lastUsed % size);
      const id = this.mem.getUint32(at, true);
      const len = this.mem.getUint32(at + 4, true);
      if (id >= size || this.inFlight[id] !== 1 || len !== RING.BUFFER_BYTES) {
        throw new Error(`used entry ${this.lastUsed}: id ${id} len ${len} was not a request in flight`);
      }
      this.inFlight[id] = 0;
      this.free.push(id);
    }
    this.completed += n;
    Atomics.store(this.ctl, CTL.COMPLETED, this.completed);
    return n;
  }

  /** Nothing to submit and nothing used: ask for an interrupt at the next used entry, fence, check, then sleep. */
  private sleepUntilUsed(): void {
    const { size, waitMs } = this.d;
    const irqs = Atomics.load(this.ctl, CTL.IRQ);
    this.mem.setUint16(RING.AVAIL + 4 + 2 * size, this.lastUsed, true); // used_event
    fullFence(); // store-load: used_event must be visible before we re-read used idx
    if (this.mem.getUint16(RING.USED + 2, true) !== this.lastUsed) return;
    Atomics.add(this.ctl, CTL.SLEEPS, 1);
    Atomics.store(this.ctl, CTL.ASLEEP, 1);
    const r = Atomics.wait(this.ctl, CTL.IRQ, irqs, waitMs);
    Atomics.store(this.ctl, CTL.ASLEEP, 0);
    if (r === 'timed-out') {
      throw new Error(`driver waited ${waitMs} ms for a used-buffer interrupt: used idx ${this.mem.getUint16(RING.USED + 2, true)}, `
        + `used_event ${this.lastUsed}, avail idx ${this.availIdx}, avail_event ${this.mem.getUint16(RING.USED + 4 + 8 * size, true)}`);
    }
  }
}

if (parentPort !== null) {
  const data = workerData as StressDriverData;
  const ctl = new Int32Array(data.ctl);
  let error: string | undefined;
  try {
    new Driver(data).run();
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  Atomics.store(ctl, CTL.DONE, error === undefined ? 1 : 2);
  Atomics.add(ctl, CTL.DOORBELL, 1);
  Atomics.notify(ctl, CTL.DOORBELL);
  parentPort.postMessage({ error });
}
