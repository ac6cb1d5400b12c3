// The machine config: a YAML file (configs/example.yaml documents every field) or a plain object from the
// programmatic API. Its shape is the schema in config-schema.ts: unknown keys are errors, and every error is one line
// that names the field and the value. This builds the MachineConfig from a config of that shape: defaults filled in,
// sizes in bytes, relative paths resolved against the config file's folder and checked on this host, and the rules
// between fields that a schema does not say.
import * as os from 'node:os';
import * as path from 'node:path';
import { checkPath, checkSocketPath, checkString, ConfigError, isMapping, show } from './config-check';
import { buildDevices, type DeviceConfig } from './config-devices';
import { readConfigFile } from './config-file';
import { checkPathClashes } from './config-paths';
import {
  MachineConfigSchema, type ACPI_MODES, type BOOT_PROTOCOLS, type LOG_LEVELS, type MachineConfigInput,
  type ON_HALT_MODES, type QUIRKS_MODES, type SERIAL_MODES,
} from './config-schema';
import { checkShape } from './config-shape';
import { exactSize, sizeField } from './config-size';
import { CMDLINE_MAX_BYTES } from './boot/layout';
import { formatBytes, GiB, MiB } from './units';

export { ConfigError } from './config-check';
export { CONFIG_FILE_MAX_BYTES, readConfigFile } from './config-file';
export type {
  BalloonDeviceConfig, BlkDeviceConfig, ConsoleDeviceConfig, DeviceConfig, DeviceType, FsDeviceConfig,
  NetDeviceConfig, RngDeviceConfig, SndDeviceConfig, VsockDeviceConfig,
} from './config-devices';
export {
  ACPI_MODES, BOOT_PROTOCOLS, DISPLAY_MODES, LOG_LEVELS, MachineConfigSchema, ON_HALT_MODES, QUIRKS_MODES, SERIAL_MODES, VCPUS_MAX,
} from './config-schema';
export type { DeviceConfigInput, MachineConfigInput } from './config-schema';

export type BootProtocol = (typeof BOOT_PROTOCOLS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
export type QuirksMode = (typeof QUIRKS_MODES)[number];
export type AcpiMode = (typeof ACPI_MODES)[number];
export type OnHaltMode = (typeof ON_HALT_MODES)[number];
export type SerialMode = (typeof SERIAL_MODES)[number];

export interface SerialConfig {
  mode: SerialMode;
  /** Absolute; set exactly when mode is 'file' (output is appended). */
  path?: string;
}

/** The browser console `tsvmm run` serves; absent when none is asked for. */
export interface DisplayConfig {
  mode: 'web';
  /** On 127.0.0.1; 0: a free port. */
  port: number;
}

export interface MachineConfig {
  /** 1..254. */
  vcpus: number;
  /** Guest RAM in bytes, a multiple of 4 KiB, 32 MiB..64 GiB. */
  memory: number;
  /** Absolute path, or a built guest artifact name such as `@guest/vmlinux` (resolved by the runner). */
  kernel: string;
  /** Absolute path or `@guest/...` name; absent when the guest has no initrd. */
  initrd?: string;
  cmdline: string;
  boot: BootProtocol;
  serial: SerialConfig;
  /** The browser console, when asked for (display.mode web); it needs a gpu device. */
  display?: DisplayConfig;
  log: { level: LogLevel };
  /** The PVM-host workarounds (see host-quirks.ts): auto applies them only on a kvm_pvm host. */
  quirks: QuirksMode;
  /**
   * on: ACPI tables (power-off and reset through the FADT, virtio-mmio devices in the DSDT instead of the command
   * line; the guest kernel needs CONFIG_ACPI). off: the MP table alone, virtio-mmio devices on the command line.
   */
  acpi: AcpiMode;
  /**
   * What a guest that halts for good gets (every vCPU in HLT with interrupts off, as Linux's `halt` leaves it):
   * end (the default) ends the machine with reason `halted`; wait keeps it, as hardware would, until stopped.
   */
  onHalt: OnHaltMode;
  devices: DeviceConfig[];
  /** Absolute path of the control API's unix socket, when one is asked for. */
  apiSocket?: string;
}

export const DEFAULT_CMDLINE = 'console=ttyS0 reboot=k panic=-1';
export const MEMORY_MIN = 32 * MiB;
export const MEMORY_MAX = 64 * GiB;
export const DEFAULT_MEMORY = 256 * MiB;
/** The boot protocols' command-line area holds this many bytes and a NUL; a kernel may accept fewer. */
export const CMDLINE_MAX = CMDLINE_MAX_BYTES - 1;

/** The top-level keys a config may have. */
export const CONFIG_KEYS = Object.keys(MachineConfigSchema.properties) as readonly (keyof MachineConfigInput)[];

const GUEST_ARTIFACT = /^@guest\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ValidateOptions {
  /** Where relative paths start; default the current directory. parseConfigFile passes the file's folder. */
  baseDir?: string;
}

/** A kernel or initrd: an existing file, or a `@guest/<name>` artifact reference kept as written. */
export function checkBootFile(field: string, value: unknown, baseDir: string): string {
  const written = checkString(field, value);
  if (written.startsWith('@guest/')) {
    if (!GUEST_ARTIFACT.test(written)) throw new ConfigError(field, `${show(written)} is not a guest artifact name`);
    return written;
  }
  return checkPath(field, written, baseDir, 'file');
}

function checkCmdline(cmdline: string): string {
  const bytes = Buffer.byteLength(cmdline);
  if (bytes > CMDLINE_MAX) {
    throw new ConfigError('cmdline', `${bytes} bytes is too long (at most ${CMDLINE_MAX} bytes fit the boot ` +
      'protocol\'s command-line area)');
  }
  return cmdline;
}

function checkMemory(value: string | number): number {
  const bytes = sizeField('memory', value, 'M');
  if (bytes < MEMORY_MIN || bytes > MEMORY_MAX) {
    throw new ConfigError('memory', `${show(value)} is out of range 32M..64G`);
  }
  if (bytes % 4096 !== 0) throw new ConfigError('memory', `${show(value)} is not a multiple of 4 KiB`);
  return bytes;
}

function buildSerial(input: MachineConfigInput['serial'], baseDir: string): SerialConfig {
  const mode = input?.mode ?? 'stdio';
  if (mode !== 'file') {
    if (input?.path !== undefined) throw new ConfigError('serial.path', `only used with mode: file (mode is ${mode})`);
    return { mode };
  }
  if (input?.path === undefined) throw new ConfigError('serial.path', 'required with mode: file');
  return { mode, path: checkPath('serial.path', input.path, baseDir, 'new-file') };
}

function buildDisplay(input: MachineConfigInput['display'], devices: readonly DeviceConfig[]): DisplayConfig | undefined {
  const mode = input?.mode ?? 'none';
  if (mode === 'none') {
    if (input?.port !== undefined) throw new ConfigError('display.port', 'only used with mode: web (mode is none)');
    return undefined;
  }
  if (!devices.some((d) => d.type === 'gpu')) {
    throw new ConfigError('display.mode', 'web needs a gpu device to show (add {type: gpu} to devices)');
  }
  return { mode, port: input?.port ?? 0 };
}

/**
 * Checks that an untyped value (parsed YAML or JSON) has a config's shape (types, ranges, known keys) and returns
 * it typed, e.g. for createVm; files and sizes are checked when the config is validated. Throws ConfigError.
 */
export function checkConfigInput(value: unknown): MachineConfigInput {
  if (!isMapping(value)) {
    throw new ConfigError('', `a config must be a mapping of settings (vcpus: 2, kernel: ...), got ${show(value)}`);
  }
  checkShape(MachineConfigSchema, value);
  return value;
}

/**
 * Validates a parsed config (YAML or a plain object) and fills in defaults. `memory` as a number counts MiB, as
 * in the YAML. Throws ConfigError on the first bad field.
 */
export function validateConfig(obj: unknown, opts: ValidateOptions = {}): MachineConfig {
  const baseDir = path.resolve(opts.baseDir ?? process.cwd());
  const input = checkConfigInput(obj);
  const config: MachineConfig = {
    vcpus: input.vcpus ?? 1,
    memory: input.memory === undefined ? DEFAULT_MEMORY : checkMemory(input.memory),
    kernel: checkBootFile('kernel', input.kernel, baseDir),
    cmdline: checkCmdline(input.cmdline ?? DEFAULT_CMDLINE),
    boot: input.boot ?? 'auto',
    serial: buildSerial(input.serial, baseDir),
    log: { level: input.log?.level ?? 'info' },
    quirks: input.quirks ?? 'auto',
    acpi: input.acpi ?? 'off',
    onHalt: input.onHalt ?? 'end',
    devices: buildDevices('devices', input.devices, baseDir),
  };
  if (input.initrd !== undefined && input.initrd !== null) config.initrd = checkBootFile('initrd', input.initrd, baseDir);
  const display = buildDisplay(input.display, config.devices);
  if (display !== undefined) config.display = display;
  if (input.apiSocket !== undefined) config.apiSocket = checkSocketPath('apiSocket', input.apiSocket, baseDir);
  checkPathClashes(config.serial.path, config.devices, config.apiSocket);
  config.devices.forEach((d, i) => {
    // The guest finds the IOMMU and the devices behind it only in the VIOT table.
    if (d.type === 'iommu' && config.acpi !== 'on') {
      throw new ConfigError('acpi', `off, but devices[${i}] is an iommu, which needs acpi: on (the guest finds it in ` +
        'the VIOT table)');
    }
    if (d.type === 'balloon' && d.targetMiB * MiB > config.memory) {
      throw new ConfigError(`devices[${i}].targetMiB`,
        `${d.targetMiB} is more than the guest's ${config.memory / MiB} MiB of RAM`);
    }
  });
  return config;
}

/** A copy of a disk's fields, its size (when it has one) as a string with a unit. */
function withExactSize<T extends { size?: number }>(d: T): Omit<T, 'size'> & { size?: string } {
  const { size, ...rest } = d;
  return size === undefined ? rest : { ...rest, size: exactSize(size) };
}

/**
 * A validated config as a config to write or send (what GET /config answers): the same machine, with sizes as
 * strings with a unit (a bare number would count MiB), paths absolute and defaults filled in. Validating it again
 * gives `config` back.
 */
export function toConfigInput(config: MachineConfig): MachineConfigInput {
  const { memory, devices, serial, log, display, ...rest } = config;
  return {
    ...rest,
    ...(display === undefined ? {} : { display: { ...display } }),
    memory: exactSize(memory),
    serial: { ...serial },
    log: { ...log },
    devices: devices.map((d) => {
      if (d.type === 'scsi') return { ...d, disks: d.disks.map(withExactSize) };
      if (d.type === 'snd') return { ...d, playback: { ...d.playback }, capture: { ...d.capture } };
      return d.type === 'blk' ? withExactSize(d) : { ...d };
    }),
  };
}

/**
 * What a valid config asks that may still go wrong on this host, one line each (the caller logs them): guest RAM
 * beyond the host's is allowed, since it is only allocated as the guest touches it, but the guest may be killed.
 */
export function configWarnings(config: MachineConfig, hostMemory = os.totalmem()): string[] {
  const warnings: string[] = [];
  if (config.memory > hostMemory) {
    warnings.push(`memory: ${formatBytes(config.memory)} is more than this host's ${formatBytes(hostMemory)} of ` +
      'RAM; the guest may be killed for memory once it uses it');
  }
  return warnings;
}

/** Reads, parses and validates a YAML config file; relative paths in it start at the file's folder. */
export function parseConfigFile(file: string): MachineConfig {
  return validateConfig(readConfigFile(file), { baseDir: path.dirname(path.resolve(file)) });
}
