// The register file of one virtio-mmio device, in a SharedArrayBuffer so vCPU workers answer register accesses
// and the main thread's transport sees the same values. Word indices of the Int32Array view:
export const W = {
  STATUS: 0,
  INTERRUPT_STATUS: 1,
  DEVICE_FEATURES_SEL: 2,
  DRIVER_FEATURES_SEL: 3,
  QUEUE_SEL: 4,
  CONFIG_GENERATION: 5,
  DEVICE_FEATURES_LO: 6,
  DEVICE_FEATURES_HI: 7,
  DRIVER_FEATURES_LO: 8,
  DRIVER_FEATURES_HI: 9,
  DEVICE_ID: 10,
  QUEUE_COUNT: 11,
  CONFIG_LENGTH: 12,
  BAD_ACCESSES: 13,
  /** Resets the register side has asked the main thread for, and the last one the main thread completed. */
  RESETS_ASKED: 14,
  RESETS_DONE: 15,
  /** Config writes the register side has posted, and the last one the main thread applied and republished. */
  CONFIG_WRITES_ASKED: 16,
  CONFIG_WRITES_DONE: 17,
  /** Feature bits 32..63 the driver must accept for FEATURES_OK (ACCESS_PLATFORM behind an IOMMU). */
  REQUIRED_FEATURES_HI: 18,
  QUEUES: 19,
} as const;

/** Per queue: NUM_MAX, NUM, READY, then desc / driver / device addresses as lo, hi words. */
export const Q = { NUM_MAX: 0, NUM: 1, READY: 2, DESC_LO: 3, DESC_HI: 4, DRIVER_LO: 5, DRIVER_HI: 6, DEVICE_LO: 7, DEVICE_HI: 8 } as const;
export const QUEUE_WORDS = 10;
export const MAX_QUEUES = 64;
export const CONFIG_OFFSET_BYTES = (W.QUEUES + MAX_QUEUES * QUEUE_WORDS) * 4;
export const CONFIG_BYTES = 0xf00;

export function createTransportState(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONFIG_OFFSET_BYTES + CONFIG_BYTES);
}

export const queueWord = (q: number, field: number): number => W.QUEUES + q * QUEUE_WORDS + field;

/** Events the register side posts to the main thread; a reset and a config write wait for theirs to be handled. */
export type TransportEvent =
  | { kind: 'status'; value: number }
  /** The seq'th reset asked for (RESETS_ASKED); the transport stores it in RESETS_DONE once the device stopped. */
  | { kind: 'reset'; seq: number }
  | { kind: 'notify'; queue: number }
  /** The seq'th config write (CONFIG_WRITES_ASKED); the transport stores it in CONFIG_WRITES_DONE once applied. */
  | { kind: 'config-write'; offset: number; bytes: number[]; seq: number };
