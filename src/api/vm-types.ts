// The Vm's types, the checks of its arguments, and how the machine's errors become the API's: kept apart from the
// class so that the socket's routes and the client can use them without the Vm's machinery.
import type { Logger } from 'pino';
import { argRangeError, checkInteger, checkOptions, VmError } from './errors';
import type { MachineConfig } from '../vmm/config';
import { BootError } from '../vmm/boot/errors';
import { exitStatus, type MachineExit } from '../vmm/exit-status';
import { KvmError } from '../vmm/kvm-vm';
import type { DeviceErrorEvent } from '../vmm/machine';
import { DeviceOpError } from '../vmm/virtio-devices';
import { SnapshotError, type SnapshotImage } from '../vmm/snapshot/format';
import type { CounterName } from '../vmm/vcpu-protocol';

export type VmState = 'created' | 'running' | 'paused' | 'stopping' | 'exited';

/** How a machine ended, with the exit status `tsvmm run` would have (0 poweroff / reset / stop, 3 panic, ...). */
export interface VmExit extends MachineExit {
  status: number;
}

/** The one place a machine's end gets its exit status. */
export function vmExit(exit: MachineExit): VmExit {
  return { ...exit, status: exitStatus(exit) };
}

export interface VmCounters {
  vcpus: { index: number; state: string; exits: Record<CounterName, number> }[];
  /** In config.devices order: the device's own counters (requests, bytes, errors, ...) and its transport's. */
  devices: { index: number; type: string; counters: Record<string, number> }[];
  /**
   * The serial console: output bytes dropped because nobody read them fast enough; input bytes the guest has not
   * read yet, with the UART's interrupt line (1 up) and interrupt enable register (bit 0: receive), so that input
   * stuck with the line up and receive enabled shows an interrupt the guest never serviced.
   */
  console: { droppedOutput: number; inputPending: number; interruptLine: number; interruptEnable: number };
}

export interface VmEvents {
  started: [];
  paused: [];
  resumed: [];
  /** A line of a Linux panic seen on the console (the machine ends shortly after). */
  panic: [line: string];
  'device-error': [event: DeviceErrorEvent];
  exit: [exit: VmExit];
}

export interface StopOptions {
  /** How long the guest gets to end after Ctrl-Alt-Del before it is stopped by force; 0 forces at once. */
  timeoutMs?: number;
}

export const DEFAULT_STOP_TIMEOUT_MS = 5000;
/** The longest stop timeout (docs/api.yaml says the same). */
export const MAX_STOP_TIMEOUT_MS = 3_600_000;

/** stop()'s options, checked: an absent timeoutMs is the default. Throws TypeError / RangeError naming the option. */
export function checkStopOptions(options: unknown): { timeoutMs: number; explicit: boolean } {
  const o = checkOptions('options', options, ['timeoutMs']);
  if (o.timeoutMs === undefined) return { timeoutMs: DEFAULT_STOP_TIMEOUT_MS, explicit: false };
  return { timeoutMs: checkInteger('timeoutMs', o.timeoutMs, 0, MAX_STOP_TIMEOUT_MS), explicit: true };
}

/** A disk index of `config`. Throws TypeError / RangeError naming `device`. */
export function checkDeviceIndex(config: MachineConfig, device: unknown): number {
  const count = config.devices.length;
  if (count === 0 && typeof device === 'number') throw argRangeError('device', 'a device index (the machine has none)', device);
  return checkInteger('device', device, 0, count - 1);
}

/**
 * What the machine underneath throws, as this API's error: a VmError whose code says what kind of failure it was
 * (the original as its cause); ConfigError and anything else unchanged.
 */
export function vmErrorOf(e: unknown): unknown {
  if (e instanceof KvmError) return new VmError('ERR_VM_KVM', e.message, { cause: e });
  if (e instanceof BootError) return new VmError('ERR_VM_BOOT', e.message, { cause: e });
  if (e instanceof DeviceOpError) return new VmError('ERR_VM_DISK', e.message, { cause: e });
  if (e instanceof SnapshotError) {
    const code = e.code === 'ERR_SNAPSHOT_UNSUPPORTED' ? 'ERR_VM_SNAPSHOT_UNSUPPORTED' : 'ERR_VM_SNAPSHOT';
    return new VmError(code, e.message, { cause: e });
  }
  return e;
}

export interface VmOptions {
  logger: Logger;
  /** Where relative paths in swapDisk() start. */
  baseDir: string;
  /**
   * Where the serial console's output goes when serial.mode is stdio, instead of `vm.console`'s readable side
   * (whose holding and dropping then do not apply): `tsvmm run` writes it to its own stdout.
   */
  consoleOutput?: (chunk: Buffer) => void;
  /** Build the machine from this snapshot (restoreVm) instead of loading its guest. */
  restore?: SnapshotImage;
}
