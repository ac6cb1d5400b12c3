// virtio-mmio register offsets (virtio 1.2, section 4.2.2), status bits and the feature bits the transport knows.

export const REG = {
  MAGIC: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

export const MAGIC_VALUE = 0x74726976; // "virt"
export const MMIO_VERSION = 2;
export const VENDOR_ID = 0x4d565354; // "TSVM"

export const STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

export const INT = { USED_BUFFER: 1, CONFIG_CHANGE: 2 } as const;

export const FEATURE = {
  RING_INDIRECT_DESC: 28n,
  RING_EVENT_IDX: 29n,
  VERSION_1: 32n,
  /** The device's addresses go through the platform's IOMMU (virtio 1.2, 6): the driver must map what it shares. */
  ACCESS_PLATFORM: 33n,
} as const;

export const bit = (n: bigint): bigint => 1n << n;

/** The size of each device's register window. */
export const MMIO_WINDOW = 0x1000;
/** Config space a device may expose (the rest of the window). */
export const CONFIG_MAX = MMIO_WINDOW - REG.CONFIG;
