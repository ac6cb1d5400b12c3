// The register side of virtio-mmio, answered on the vCPU thread that took the exit. It validates what the driver
// writes (queue sizes, status transitions, feature acceptance) and posts to the main thread only what needs device
// logic. Registers are 32-bit; config space takes 1, 2, 4 or 8 bytes. Anything else is ignored and counted.
import type { BusDevice } from '../base/bus';
import { native, type FastMmioEntry } from '../base/native';
import { FEATURE, MAGIC_VALUE, MMIO_VERSION, REG, STATUS, VENDOR_ID } from './registers';
import { statusTransition } from './status';
import { CONFIG_OFFSET_BYTES, Q, queueWord, W, type TransportEvent } from './state';

/**
 * How long a Status write of 0 waits for the main thread to stop the device, and a config write for it to apply
 * the write, before the vCPU goes on.
 */
const MAIN_THREAD_WAIT_MS = 1000;

const QUEUE_ADDR_REGS: Record<number, number> = {
  [REG.QUEUE_DESC_LOW]: Q.DESC_LO, [REG.QUEUE_DESC_HIGH]: Q.DESC_HI,
  [REG.QUEUE_DRIVER_LOW]: Q.DRIVER_LO, [REG.QUEUE_DRIVER_HIGH]: Q.DRIVER_HI,
  [REG.QUEUE_DEVICE_LOW]: Q.DEVICE_LO, [REG.QUEUE_DEVICE_HIGH]: Q.DEVICE_HI,
};

/** The registers a driver touches on every interrupt, for the vCPU's native run loop to answer itself. */
export function fastRegisters(base: number, state: SharedArrayBuffer): FastMmioEntry[] {
  const { READ_WORD, AND_NOT_WORD } = native().FAST_MMIO;
  const words = new Int32Array(state, 0, CONFIG_OFFSET_BYTES / 4);
  return [
    { gpa: base + REG.INTERRUPT_STATUS, kind: READ_WORD, words, index: W.INTERRUPT_STATUS },
    { gpa: base + REG.INTERRUPT_ACK, kind: AND_NOT_WORD, words, index: W.INTERRUPT_STATUS },
  ];
}

export class MmioRegisters implements BusDevice {
  private readonly w: Int32Array;
  private readonly config: Uint8Array;

  constructor(state: SharedArrayBuffer, private readonly opts: { post: (event: TransportEvent) => void }) {
    this.w = new Int32Array(state, 0, CONFIG_OFFSET_BYTES / 4);
    this.config = new Uint8Array(state, CONFIG_OFFSET_BYTES);
  }

  private get(i: number): number { return Atomics.load(this.w, i) >>> 0; }
  private set(i: number, v: number): void { Atomics.store(this.w, i, v | 0); }
  private bad(): void { Atomics.add(this.w, W.BAD_ACCESSES, 1); }

  private selectedQueue(): number | undefined {
    const q = this.get(W.QUEUE_SEL);
    return q < this.get(W.QUEUE_COUNT) ? q : undefined;
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset >= REG.CONFIG) return this.readConfig(offset - REG.CONFIG, data);
    if (data.length !== 4 || offset % 4 !== 0) return this.bad();
    new DataView(data.buffer, data.byteOffset, 4).setUint32(0, this.register(offset), true);
  }

  private register(offset: number): number {
    const q = this.selectedQueue();
    switch (offset) {
      case REG.MAGIC: return MAGIC_VALUE;
      case REG.VERSION: return MMIO_VERSION;
      case REG.DEVICE_ID: return this.get(W.DEVICE_ID);
      case REG.VENDOR_ID: return VENDOR_ID;
      case REG.DEVICE_FEATURES: {
        const sel = this.get(W.DEVICE_FEATURES_SEL);
        return sel === 0 ? this.get(W.DEVICE_FEATURES_LO) : sel === 1 ? this.get(W.DEVICE_FEATURES_HI) : 0;
      }
      case REG.QUEUE_NUM_MAX: return q === undefined ? 0 : this.get(queueWord(q, Q.NUM_MAX));
      case REG.QUEUE_READY: return q === undefined ? 0 : this.get(queueWord(q, Q.READY));
      case REG.INTERRUPT_STATUS: return this.get(W.INTERRUPT_STATUS);
      case REG.STATUS: return this.get(W.STATUS);
      case REG.CONFIG_GENERATION: return this.get(W.CONFIG_GENERATION);
      // No device has shared memory regions: every region's length and base read as -1, "no such region" (4.2.2).
      // A 0 would describe a region at address 0, which a driver then tries to claim (Linux's virtio-gpu fails
      // its probe with EBUSY on that).
      case REG.SHM_LEN_LOW: case REG.SHM_LEN_HIGH: case REG.SHM_BASE_LOW: case REG.SHM_BASE_HIGH: return 0xffff_ffff;
      default: {
        const field = QUEUE_ADDR_REGS[offset];
        return field !== undefined && q !== undefined ? this.get(queueWord(q, field)) : 0;
      }
    }
  }

  private readConfig(offset: number, data: Uint8Array): void {
    const len = this.get(W.CONFIG_LENGTH);
    if (![1, 2, 4, 8].includes(data.length) || offset + data.length > len) return this.bad();
    data.set(this.config.subarray(offset, offset + data.length));
  }

  write(offset: number, data: Uint8Array): void {
    if (offset >= REG.CONFIG) return this.writeConfig(offset - REG.CONFIG, data);
    if (data.length !== 4 || offset % 4 !== 0) return this.bad();
    const v = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
    switch (offset) {
      case REG.DEVICE_FEATURES_SEL: return this.set(W.DEVICE_FEATURES_SEL, v);
      case REG.DRIVER_FEATURES_SEL: return this.set(W.DRIVER_FEATURES_SEL, v);
      case REG.DRIVER_FEATURES: return this.writeDriverFeatures(v);
      case REG.QUEUE_SEL: return this.set(W.QUEUE_SEL, v);
      case REG.QUEUE_NUM: return this.writeQueueNum(v);
      case REG.QUEUE_READY: return this.writeQueueField(Q.READY, v === 1 ? 1 : 0, true);
      case REG.QUEUE_NOTIFY: return this.opts.post({ kind: 'notify', queue: v & 0xffff });
      case REG.INTERRUPT_ACK: Atomics.and(this.w, W.INTERRUPT_STATUS, ~v); return;
      case REG.STATUS: return this.writeStatus(v);
      case REG.SHM_SEL: return; // any region ID is fine to select; each reads as absent
      default: {
        const field = QUEUE_ADDR_REGS[offset];
        if (field === undefined) return this.bad();
        return this.writeQueueField(field, v, false);
      }
    }
  }

  private writeDriverFeatures(v: number): void {
    if (this.get(W.STATUS) & STATUS.FEATURES_OK) return this.bad();
    const sel = this.get(W.DRIVER_FEATURES_SEL);
    if (sel === 0) this.set(W.DRIVER_FEATURES_LO, v);
    else if (sel === 1) this.set(W.DRIVER_FEATURES_HI, v);
  }

  private writeQueueNum(v: number): void {
    const q = this.selectedQueue();
    if (q === undefined) return this.bad();
    const max = this.get(queueWord(q, Q.NUM_MAX));
    if (v === 0 || v > max || (v & (v - 1)) !== 0) return this.bad();
    this.writeQueueField(Q.NUM, v, false);
  }

  /** Queue registers only change while the queue is not ready (READY itself excepted) and before DRIVER_OK. */
  private writeQueueField(field: number, v: number, isReady: boolean): void {
    const q = this.selectedQueue();
    if (q === undefined || (this.get(W.STATUS) & STATUS.DRIVER_OK)) return this.bad();
    if (!isReady && this.get(queueWord(q, Q.READY))) return this.bad();
    this.set(queueWord(q, field), v);
  }

  private writeStatus(v: number): void {
    if (v === 0) return this.reset();
    for (;;) {
      const old = this.get(W.STATUS);
      const t = statusTransition(old, v, () => this.featuresAcceptable());
      if (t.outcome === 'ignore') return this.bad();
      if (t.outcome === 'same') return;
      // The main thread may set DEVICE_NEEDS_RESET meanwhile (a bad chain): store only over the value decided on,
      // so that bit is never lost.
      if (Atomics.compareExchange(this.w, W.STATUS, old | 0, t.next | 0) === (old | 0)) {
        return this.opts.post({ kind: 'status', value: t.next });
      }
    }
  }

  private featuresAcceptable(): boolean {
    const offered = (BigInt(this.get(W.DEVICE_FEATURES_HI)) << 32n) | BigInt(this.get(W.DEVICE_FEATURES_LO));
    const taken = (BigInt(this.get(W.DRIVER_FEATURES_HI)) << 32n) | BigInt(this.get(W.DRIVER_FEATURES_LO));
    // A device behind an IOMMU cannot serve a driver that hands it physical addresses: it refuses FEATURES_OK
    // (virtio 1.2, 6.1) unless ACCESS_PLATFORM was taken too.
    const required = (BigInt(this.get(W.REQUIRED_FEATURES_HI)) << 32n) | (1n << FEATURE.VERSION_1);
    return (taken & ~offered) === 0n && (taken & required) === required;
  }

  /**
   * A reset is complete, and Status reads 0, only once the device on the main thread has stopped: a driver may then
   * rely on its queues being left alone (virtio 1.2, 2.4.1), and Linux's virtio-mmio driver frees them right after
   * its write without reading Status back. So the write waits for the main thread (the transport zeroes Status and
   * bumps RESETS_DONE), for at most MAIN_THREAD_WAIT_MS; past that Status keeps its old value until the reset is done.
   */
  private reset(): void {
    const seq = (Atomics.add(this.w, W.RESETS_ASKED, 1) + 1) | 0;
    this.resetRegisters();
    this.opts.post({ kind: 'reset', seq });
    this.waitFor(W.RESETS_DONE, seq);
  }

  /** Waits, at most MAIN_THREAD_WAIT_MS, until the main thread has stored `seq` (or later) in word `done`. */
  private waitFor(done: number, seq: number): void {
    const until = Date.now() + MAIN_THREAD_WAIT_MS;
    for (let v = Atomics.load(this.w, done); ((v - seq) | 0) < 0; v = Atomics.load(this.w, done)) {
      const left = until - Date.now();
      if (left <= 0) return;
      Atomics.wait(this.w, done, v, left);
    }
  }

  /** Everything but Status, which the transport zeroes once the device has stopped. */
  private resetRegisters(): void {
    for (const i of [W.INTERRUPT_STATUS, W.DEVICE_FEATURES_SEL, W.DRIVER_FEATURES_SEL, W.QUEUE_SEL,
      W.DRIVER_FEATURES_LO, W.DRIVER_FEATURES_HI]) this.set(i, 0);
    const count = this.get(W.QUEUE_COUNT);
    for (let q = 0; q < count; q++) {
      for (const f of [Q.NUM, Q.READY, Q.DESC_LO, Q.DESC_HI, Q.DRIVER_LO, Q.DRIVER_HI, Q.DEVICE_LO, Q.DEVICE_HI]) {
        this.set(queueWord(q, f), 0);
      }
    }
  }

  private writeConfig(offset: number, data: Uint8Array): void {
    const len = this.get(W.CONFIG_LENGTH);
    if (![1, 2, 4, 8].includes(data.length) || offset + data.length > len) return this.bad();
    // A write can change what the next read answers (virtio-input's select and subsel pick the bytes behind them),
    // so it waits for the main thread to apply it and republish the config, as a reset does.
    const seq = (Atomics.add(this.w, W.CONFIG_WRITES_ASKED, 1) + 1) | 0;
    this.opts.post({ kind: 'config-write', offset, bytes: Array.from(data), seq });
    this.waitFor(W.CONFIG_WRITES_DONE, seq);
  }
}
