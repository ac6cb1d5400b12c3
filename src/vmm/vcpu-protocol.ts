// What the main thread and a vCPU worker tell each other. The control word and the counters are
// SharedArrayBuffers so pause / stop and statistics never need a message round trip.

export const VCPU_CMD = { RUN: 0, PAUSE: 1, STOP: 2 } as const;
export const VCPU_STATE = { STARTING: 0, RUNNING: 1, PAUSED: 2, STOPPED: 3 } as const;

/** Int32Array slots of the control buffer. */
export const CTL_CMD = 0;
export const CTL_STATE = 1;
/** The halt probe: the main thread stores ASKED and kicks; the worker answers with one of the other values. */
export const CTL_PROBE = 2;
export const CONTROL_BYTES = 16;

export const PROBE = {
  NONE: 0,
  ASKED: 1,
  /** Running, or halted with interrupts enabled (an idle guest waiting for its next interrupt). */
  RUNNING: 2,
  /** Halted with interrupts disabled: only an NMI or INIT could wake it, and nothing here sends one. */
  HALTED: 3,
  /** An application processor the guest never started (waiting for INIT/SIPI). */
  WAITING: 4,
} as const;

/** Float64Array slots of the per-vCPU counters buffer (one writer: the worker). */
export const COUNTER = {
  io: 0,
  mmio: 1,
  hlt: 2,
  interrupted: 3,
  unhandledIo: 4,
  unhandledMmio: 5,
  emulationQuirks: 6,
  other: 7,
  /** MMIO exits answered natively inside run() (virtio InterruptStatus / InterruptACK), never seen by JavaScript. */
  fastMmio: 8,
} as const;
export type CounterName = keyof typeof COUNTER;
export const COUNTER_BYTES = 16 * 8;

export type ExitReason =
  | 'poweroff'
  | 'reset'
  | 'triple-fault'
  | 'panic'
  | 'emulation-failure'
  | 'internal-error'
  | 'fail-entry'
  | 'stopped'
  | 'halted'
  | 'signal'
  | 'error';

/** A device's register window as handed to a worker (state is shared, so the worker's model sees the main's). */
export type WorkerDeviceSpec =
  | { kind: 'serial'; space: 'pio'; base: number; length: number; state: SharedArrayBuffer; irq: number }
  | { kind: 'i8042'; space: 'pio'; base: number; length: number; state: SharedArrayBuffer; irq: number }
  | { kind: 'ignore'; space: 'pio' | 'mmio'; base: number; length: number; readValue: number }
  | { kind: 'acpi-pm'; space: 'pio'; base: number; length: number }
  | { kind: 'virtio-mmio'; space: 'mmio'; base: number; length: number; state: SharedArrayBuffer; device: number };

export interface VcpuWorkerData {
  index: number;
  vcpuFd: number;
  vmFd: number;
  runSize: number;
  control: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  devices: WorkerDeviceSpec[];
  /** Guest RAM's regions and the ids of their mappings, for the rare read the worker must do itself (readMapping). */
  memory: { regions: { gpa: number; size: number; mapping: number }[] };
  /** Inject #BP when the host's emulator fails on an INT3 (ENVIRONMENT: PVM hosts). */
  int3Quirk: boolean;
}

export type WorkerMessage =
  | { type: 'exit'; vcpu: number; reason: ExitReason; detail: string }
  | { type: 'state'; vcpu: number; state: 'running' | 'paused' | 'stopped' }
  | { type: 'device-event'; vcpu: number; device: number; event: unknown }
  | { type: 'log'; vcpu: number; level: 'debug' | 'info' | 'warn' | 'error'; msg: string };
