// A virtio-mmio transport's state for a snapshot: the register words the driver wrote (status, features, selects,
// each queue's size, ready bit and ring addresses), what the device raised (interrupt status, the config
// generation) and, for each queue a running device holds, where the device is in it. Everything the device
// offers (its id, features, queue maxima, config space) comes from the device model again and is not saved.
// A snapshot's state is read back through parseTransportState, which names the first field that is wrong.
import type { QueueIndices } from './queue';
import { Q, W } from './state';

export interface QueueState {
  num: number;
  ready: number;
  descLo: number; descHi: number;
  driverLo: number; driverHi: number;
  deviceLo: number; deviceHi: number;
  /** Where the device was in this queue; null when the device was not running it. */
  indices: QueueIndices | null;
}

export interface TransportState {
  deviceType: number;
  status: number;
  interruptStatus: number;
  deviceFeaturesSel: number;
  driverFeaturesSel: number;
  driverFeaturesLo: number;
  driverFeaturesHi: number;
  queueSel: number;
  configGeneration: number;
  queues: QueueState[];
}

/** The TransportState fields that are register words, and the word each one is. */
export const TRANSPORT_WORDS = {
  status: W.STATUS, interruptStatus: W.INTERRUPT_STATUS, deviceFeaturesSel: W.DEVICE_FEATURES_SEL,
  driverFeaturesSel: W.DRIVER_FEATURES_SEL, driverFeaturesLo: W.DRIVER_FEATURES_LO,
  driverFeaturesHi: W.DRIVER_FEATURES_HI, queueSel: W.QUEUE_SEL, configGeneration: W.CONFIG_GENERATION,
} as const;

/** The QueueState fields that are per-queue words. */
export const QUEUE_FIELDS = {
  num: Q.NUM, ready: Q.READY, descLo: Q.DESC_LO, descHi: Q.DESC_HI, driverLo: Q.DRIVER_LO, driverHi: Q.DRIVER_HI,
  deviceLo: Q.DEVICE_LO, deviceHi: Q.DEVICE_HI,
} as const;

type Fields = Record<string, unknown>;

const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);

function u32(field: string, v: unknown): number {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffff_ffff) {
    throw new RangeError(`${field} is ${JSON.stringify(v)}, not a 32-bit register value`);
  }
  return v as number;
}

function parseIndices(field: string, v: unknown, size: number): QueueIndices | null {
  if (v === null) return null;
  if (!isObject(v)) throw new RangeError(`${field} must be { nextAvail, usedIdx, lastSignalled } or null`);
  const out = {} as QueueIndices;
  for (const k of ['nextAvail', 'usedIdx', 'lastSignalled'] as const) {
    const n = v[k];
    if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 0xffff) {
      throw new RangeError(`${field}.${k} is ${JSON.stringify(n)}, not a 16-bit ring index`);
    }
    out[k] = n as number;
  }
  if (((out.nextAvail - out.usedIdx) & 0xffff) > size) {
    throw new RangeError(`${field}.nextAvail is more than the queue's size (${size}) past its usedIdx`);
  }
  return out;
}

/**
 * Checks a saved transport state against the device it is for (its type and queue maxima): every word a 32-bit
 * value, a queue size a power of two no larger than the queue's maximum (or 0: never set), a ready bit 0 or 1.
 * Throws RangeError naming the field (`at` is where the state sits, for the message).
 */
export function parseTransportState(at: string, v: unknown, deviceType: number,
  queueMaxSizes: readonly number[]): TransportState {
  if (!isObject(v)) throw new RangeError(`${at} is not an object`);
  if (v.deviceType !== deviceType) {
    throw new RangeError(`${at}.deviceType is ${JSON.stringify(v.deviceType)}, but the device is type ${deviceType}`);
  }
  const out = { deviceType } as TransportState;
  for (const k of Object.keys(TRANSPORT_WORDS) as (keyof typeof TRANSPORT_WORDS)[]) out[k] = u32(`${at}.${k}`, v[k]);
  if (!Array.isArray(v.queues) || v.queues.length !== queueMaxSizes.length) {
    throw new RangeError(`${at}.queues must list the device's ${queueMaxSizes.length} queues`);
  }
  out.queues = (v.queues as unknown[]).map((q, i) => {
    const f = `${at}.queues[${i}]`;
    if (!isObject(q)) throw new RangeError(`${f} is not an object`);
    const state = {} as QueueState;
    for (const k of Object.keys(QUEUE_FIELDS) as (keyof typeof QUEUE_FIELDS)[]) state[k] = u32(`${f}.${k}`, q[k]);
    const max = queueMaxSizes[i]!;
    if (state.num > max || (state.num & (state.num - 1)) !== 0) {
      throw new RangeError(`${f}.num is ${state.num}, not a power of two up to the queue's ${max}`);
    }
    if (state.ready > 1) throw new RangeError(`${f}.ready is ${state.ready}, not 0 or 1`);
    state.indices = parseIndices(`${f}.indices`, q.indices, state.num || max);
    return state;
  });
  return out;
}
