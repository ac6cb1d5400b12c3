// The main-thread side of one virtio-mmio device: publishes what the device offers into the shared register
// state, turns the events vCPU threads post (status changes, resets, config writes) into device calls, and raises
// interrupts. Queue notifies arrive through notify(): from an ioeventfd at run time, or posted as a fallback.
import type { Logger } from 'pino';
import type { DmaMemory, GuestMemory } from '../base/guest-memory';
import type { DeviceContext, VirtioDevice } from './device';
import { QueueError, Virtqueue, type QueueIndices } from './queue';
import { bit, FEATURE, INT, STATUS } from './registers';
import { statusRuns } from './status';
import { CONFIG_BYTES, CONFIG_OFFSET_BYTES, MAX_QUEUES, Q, queueWord, W, type TransportEvent } from './state';
import { QUEUE_FIELDS, TRANSPORT_WORDS, type TransportState } from './transport-state';

const TRANSPORT_FEATURES = bit(FEATURE.VERSION_1) | bit(FEATURE.RING_INDIRECT_DESC) | bit(FEATURE.RING_EVENT_IDX);

export interface TransportOptions {
  memory: GuestMemory;
  /**
   * The device sits behind an IOMMU and reaches memory only through this (its I/O virtual address space): it
   * offers ACCESS_PLATFORM, and refuses FEATURES_OK to a driver that does not take it.
   */
  platformMemory?: DmaMemory;
  /** Signals the device's interrupt line (an irqfd write at run time). */
  raiseIrq: () => void;
  log?: Logger;
  /** Told when the device is failed (DEVICE_NEEDS_RESET), after the guest sees it. */
  onFail?: (reason: string) => void;
  /** Told when the device's code threw in a callback of its own (DeviceHost.threw); without it, the error is thrown. */
  onThrow?: (error: unknown) => void;
}

export class MmioTransport {
  private readonly w: Int32Array;
  private readonly config: Uint8Array;
  /** What the device offers, transport bits included: the driver's acks are masked by it. */
  private readonly offered: bigint;
  private active = false;
  private failed = false;
  /** The queues of the running device (empty while it is not running), for a snapshot. */
  private queues: (Virtqueue | undefined)[] = [];
  readonly stats = { notifies: 0, interrupts: 0, failures: 0 };

  constructor(readonly device: VirtioDevice, readonly state: SharedArrayBuffer, private readonly opts: TransportOptions) {
    if (device.queueMaxSizes.length > MAX_QUEUES) throw new RangeError(`a device may have at most ${MAX_QUEUES} queues`);
    this.w = new Int32Array(state, 0, CONFIG_OFFSET_BYTES / 4);
    this.config = new Uint8Array(state, CONFIG_OFFSET_BYTES, CONFIG_BYTES);
    const platform = opts.platformMemory === undefined ? 0n : bit(FEATURE.ACCESS_PLATFORM);
    const features = device.features | TRANSPORT_FEATURES | platform;
    this.offered = features;
    Atomics.store(this.w, W.REQUIRED_FEATURES_HI, Number(platform >> 32n));
    Atomics.store(this.w, W.DEVICE_ID, device.deviceType);
    Atomics.store(this.w, W.DEVICE_FEATURES_LO, Number(features & 0xffffffffn) | 0);
    Atomics.store(this.w, W.DEVICE_FEATURES_HI, Number(features >> 32n) | 0);
    Atomics.store(this.w, W.QUEUE_COUNT, device.queueMaxSizes.length);
    device.queueMaxSizes.forEach((max, q) => Atomics.store(this.w, queueWord(q, Q.NUM_MAX), max));
    this.publishConfig();
    device.attach?.({
      configChanged: () => this.configChanged(),
      threw: (e) => { if (opts.onThrow) opts.onThrow(e); else throw e; },
    });
  }

  /** Before DRIVER_OK the driver reads the config when it gets there; after a failure it must reset first. */
  private configChanged(): void {
    this.publishConfig();
    if (this.active) this.interrupt(INT.CONFIG_CHANGE);
  }

  /** Copies the device's config space into the shared state and bumps the generation. */
  publishConfig(): void {
    const bytes = this.device.configSpace().subarray(0, CONFIG_BYTES);
    this.config.set(bytes);
    Atomics.store(this.w, W.CONFIG_LENGTH, bytes.length);
    Atomics.add(this.w, W.CONFIG_GENERATION, 1);
  }

  handleEvent(ev: TransportEvent): void {
    switch (ev.kind) {
      case 'reset': {
        this.deactivate();
        // Once the device has stopped, and nothing it started can still write guest memory, the reset is complete
        // for the driver and the vCPU that asked goes on.
        const complete = (): void => {
          Atomics.store(this.w, W.STATUS, 0);
          Atomics.store(this.w, W.RESETS_DONE, ev.seq);
          Atomics.notify(this.w, W.RESETS_DONE);
        };
        const quiet = this.device.quiesce?.();
        if (quiet === undefined) complete(); else void quiet.then(complete, complete);
        break;
      }
      case 'status':
        if (statusRuns(ev.value)) {
          if (!this.active && !this.failed) this.activate();
        } else if (this.active && (ev.value & STATUS.FAILED)) {
          // The driver gave up on the device: it stops using the rings now, not at the reset that follows.
          this.device.reset();
          this.active = false;
          this.queues = [];
        }
        break;
      case 'notify':
        this.notify(ev.queue);
        break;
      case 'config-write':
        try {
          this.device.configWrite?.(ev.offset, Uint8Array.from(ev.bytes));
          this.publishConfig();
        } finally {
          // The writing vCPU waits for this: it goes on even if the device threw.
          Atomics.store(this.w, W.CONFIG_WRITES_DONE, ev.seq);
          Atomics.notify(this.w, W.CONFIG_WRITES_DONE);
        }
        break;
    }
  }

  notify(queue: number): void {
    this.stats.notifies++;
    if (queue >= this.device.queueMaxSizes.length) return;
    if (this.active) this.device.onQueueNotify(queue);
  }

  private u64(q: number, lo: number, hi: number): bigint {
    return (BigInt(Atomics.load(this.w, queueWord(q, hi)) >>> 0) << 32n) | BigInt(Atomics.load(this.w, queueWord(q, lo)) >>> 0);
  }

  /**
   * The transport's state for a snapshot, taken while the machine is paused and no device request is in flight
   * (docs/snapshot.md): every chain the device popped has gone back to the driver.
   */
  exportState(): TransportState {
    const word = (i: number): number => Atomics.load(this.w, i) >>> 0;
    const out = { deviceType: this.device.deviceType } as TransportState;
    for (const [k, i] of Object.entries(TRANSPORT_WORDS)) out[k as keyof typeof TRANSPORT_WORDS] = word(i);
    out.queues = this.device.queueMaxSizes.map((_, q) => {
      const state = { indices: this.active ? this.queues[q]?.exportIndices() ?? null : null } as TransportState['queues'][0];
      for (const [k, f] of Object.entries(QUEUE_FIELDS)) state[k as keyof typeof QUEUE_FIELDS] = word(queueWord(q, f));
      return state;
    });
    return out;
  }

  /**
   * Puts a snapshot's state (parseTransportState checked it) into a transport that no driver has touched, after
   * guest RAM came back. A device the driver was running is activated again on the restored queues, each where
   * the device had got to, without the driver negotiating anew; one that needed a reset still does.
   */
  importState(s: TransportState): void {
    if (this.active || Atomics.load(this.w, W.STATUS) !== 0) throw new Error('importState needs a fresh transport');
    for (const [k, i] of Object.entries(TRANSPORT_WORDS)) Atomics.store(this.w, i, s[k as keyof typeof TRANSPORT_WORDS] | 0);
    s.queues.forEach((q, n) => {
      for (const [k, f] of Object.entries(QUEUE_FIELDS)) Atomics.store(this.w, queueWord(n, f), q[k as keyof typeof QUEUE_FIELDS] | 0);
    });
    this.failed = (s.status & STATUS.DEVICE_NEEDS_RESET) !== 0;
    // A status the device had not acted on yet (its event was still on the way) is acted on now.
    if (statusRuns(s.status)) this.activate(s.queues.map((q) => q.indices));
  }

  private activate(restored?: (QueueIndices | null)[]): void {
    // FEATURES_OK already refused unoffered bits; the mask keeps a bit the device never offered from reaching it
    // by any other path.
    const features = this.offered & ((BigInt(Atomics.load(this.w, W.DRIVER_FEATURES_HI) >>> 0) << 32n)
      | BigInt(Atomics.load(this.w, W.DRIVER_FEATURES_LO) >>> 0));
    const opts = { eventIdx: (features & bit(FEATURE.RING_EVENT_IDX)) !== 0n,
      indirect: (features & bit(FEATURE.RING_INDIRECT_DESC)) !== 0n };
    // FEATURES_OK was refused unless the driver took ACCESS_PLATFORM, so a platform device always translates.
    const memory = this.opts.platformMemory ?? this.opts.memory;
    try {
      const queues = this.device.queueMaxSizes.map((max, q) => {
        if (!Atomics.load(this.w, queueWord(q, Q.READY))) return undefined;
        const size = Atomics.load(this.w, queueWord(q, Q.NUM)) || max;
        const queue = new Virtqueue(memory, { size, desc: this.u64(q, Q.DESC_LO, Q.DESC_HI),
          avail: this.u64(q, Q.DRIVER_LO, Q.DRIVER_HI), used: this.u64(q, Q.DEVICE_LO, Q.DEVICE_HI) }, opts);
        const indices = restored?.[q];
        if (indices) queue.importIndices(indices);
        return queue;
      });
      this.queues = queues;
      const ctx: DeviceContext = {
        memory,
        queues,
        features,
        notifyUsed: (queue) => { if (queue.needsInterrupt()) this.interrupt(INT.USED_BUFFER); },
        fail: (reason) => this.fail(reason),
      };
      this.active = true;
      this.device.activate(ctx);
      // A notify (ioeventfd) can reach this thread before the DRIVER_OK event that activates the device: the two
      // travel by different paths, and notify() drops what comes first. Chains the driver made available in
      // between are served now rather than at its next notify, which a polling driver may never send.
      queues.forEach((q, i) => { if (q !== undefined && this.active) this.device.onQueueNotify(i); });
    } catch (e) {
      if (e instanceof QueueError) this.fail(e.message);
      else throw e;
    }
  }

  private deactivate(): void {
    if (this.active) this.device.reset();
    this.active = false;
    this.queues = [];
    this.failed = false;
    // A reset may change what the device shows (the balloon's `actual` goes back to 0): the next driver reads that.
    this.publishConfig();
  }

  /** The guest broke the protocol: DEVICE_NEEDS_RESET plus a config interrupt; the VMM carries on. */
  fail(reason: string): void {
    this.stats.failures++;
    this.opts.log?.warn({ device: this.device.deviceType }, `virtio device needs reset: ${reason}`);
    if (this.active) this.device.reset();
    this.active = false;
    this.queues = [];
    this.failed = true;
    Atomics.or(this.w, W.STATUS, STATUS.DEVICE_NEEDS_RESET);
    this.interrupt(INT.CONFIG_CHANGE);
    this.opts.onFail?.(reason);
  }

  interrupt(kind: number): void {
    this.stats.interrupts++;
    Atomics.or(this.w, W.INTERRUPT_STATUS, kind);
    this.opts.raiseIrq();
  }

  /** Whether a driver is running the device (DRIVER_OK, and not failed since). */
  get running(): boolean {
    return this.active;
  }

  get badAccesses(): number {
    return Atomics.load(this.w, W.BAD_ACCESSES);
  }
}
