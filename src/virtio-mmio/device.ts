// The interface every virtio device model implements. Devices live on the main thread; the transport owns the
// register state and never asks what kind of device it carries.
import type { DmaMemory } from '../base/guest-memory';
import { QueueError, type Virtqueue } from './queue';

export interface DeviceContext {
  /** Where the device's addresses point: guest RAM, or its I/O virtual address space behind the virtio-iommu. */
  memory: DmaMemory;
  /** One per queue the driver made ready (undefined where it did not). */
  queues: (Virtqueue | undefined)[];
  /** The features both sides agreed on. */
  features: bigint;
  /** Raise the used-buffer interrupt if the queue's driver wants one now. */
  notifyUsed(queue: Virtqueue): void;
  /** The guest broke the protocol: mark the device DEVICE_NEEDS_RESET and stop serving it. */
  fail(reason: string): void;
}

/** What a device may ask of its transport at any time, whether or not a driver is using it. */
export interface DeviceHost {
  /**
   * The device changed its config space on its own (a new balloon target, a resized disk): the transport
   * republishes it and, while the driver is running the device, raises a configuration change interrupt.
   */
  configChanged(): void;
  /**
   * The device's own code threw in a callback the event loop made (a socket, a timer, an fd watcher): a VMM bug,
   * which ends the device's machine, and only that machine.
   */
  threw(error: unknown): void;
}

/**
 * Wraps a callback the event loop will make into a device: what it throws goes to the device's host (threw), never
 * up to the event loop, where it would end the process and every machine in it. Without a host (a device driven by
 * a test), it is thrown as it is.
 */
export function fromEventLoop<A extends unknown[]>(host: () => DeviceHost | undefined,
  fn: (...args: A) => void): (...args: A) => void {
  return (...args) => {
    try {
      fn(...args);
    } catch (e) {
      const h = host();
      if (h === undefined) throw e;
      h.threw(e);
    }
  };
}

export interface VirtioDevice {
  readonly deviceType: number;
  /** Maximum size of each queue; the array's length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Device-specific feature bits (the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX). */
  readonly features: bigint;
  configSpace(): Uint8Array;
  configWrite?(offset: number, data: Uint8Array): void;
  /** Called once by the transport that carries the device. */
  attach?(host: DeviceHost): void;
  activate(ctx: DeviceContext): void;
  onQueueNotify(queue: number): void;
  reset(): void;
  /**
   * For devices with requests still running after reset() (file I/O on the thread pool): resolves once none of them
   * can write guest memory any more. The driver sees its reset complete only then.
   */
  quiesce?(): Promise<void>;
  /**
   * The device's own state for a snapshot, as a JSON value (devices with none beyond their config leave it out).
   * Asked while the machine is paused and nothing is in flight (quiesce() resolved). Chains a device holds without
   * a request (buffers waiting for data) go in by head, and the restored device takes them again with
   * Virtqueue.reclaim once it is activated, so the driver's buffers are all accounted for and the machine the
   * snapshot was taken from goes on unchanged. (vsock instead hands its one held chain back with Virtqueue.unpop,
   * which is right only for the chain popped last.)
   */
  snapshotState?(): unknown;
  /**
   * Takes snapshotState()'s value back into a new device, before the transport activates it on the restored
   * queues. The value comes from a file: throws RangeError naming the field that is wrong (devices/saved-state.ts
   * reads the usual fields so).
   */
  restoreState?(state: unknown): void;
  /** Releases host resources (files, sockets) when the machine ends. */
  close?(): void;
  /** Per-device counters (requests, bytes, errors) for the API. */
  counters(): Record<string, number>;
}

/**
 * Runs one pass of a device over one of its queues: `work` pops and pushes chains and says whether it used any, in
 * which case the driver is interrupted if it wants to be. A QueueError is the guest breaking the ring: it costs the
 * guest the device (DEVICE_NEEDS_RESET), after `onError` counted it; any other error is the VMM's and propagates.
 */
export function serveQueue(ctx: DeviceContext | undefined, q: Virtqueue | undefined, onError: () => void,
  work: (q: Virtqueue) => boolean): void {
  if (ctx === undefined || q === undefined) return;
  try {
    if (work(q)) ctx.notifyUsed(q);
  } catch (e) {
    if (!(e instanceof QueueError)) throw e;
    onError();
    ctx.fail(e.message);
  }
}
