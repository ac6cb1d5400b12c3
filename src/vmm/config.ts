// The machine config: a YAML file (configs/example.yaml documents every field) or a plain object from the
// programmatic API, validated strictly into a MachineConfig. Unknown keys are errors, every error is one line that
// names the field and the value, and relative paths resolve against the config file's folder.
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkEnum, checkInt, checkMapping, checkPath, checkSize, checkSocketPath, checkString, ConfigError, isMapping,
  show, type Raw,
} from './config-check';
import { validateDevices, type DeviceConfig } from './config-devices';
import { readConfigFile } from './config-file';
import { checkPathClashes } from './config-paths';
import { CMDLINE_MAX_BYTES } from './boot/layout';
import { formatBytes, GiB, MiB } from './units';

export { ConfigError } from './config-check';
export { CONFIG_FILE_MAX_BYTES, readConfigFile } from './config-file';
export type {
  BalloonDeviceConfig, BlkDeviceConfig, ConsoleDeviceConfig, DeviceConfig, DeviceType, FsDeviceConfig,
  NetDeviceConfig, RngDeviceConfig, VsockDeviceConfig,
} from './config-devices';

export const BOOT_PROTOCOLS = ['auto', 'linux64', 'pvh'] as const;
export type BootProtocol = (typeof BOOT_PROTOCOLS)[number];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const QUIRKS_MODES = ['auto', 'on', 'off'] as const;
export type QuirksMode = (typeof QUIRKS_MODES)[number];
export const ACPI_MODES = ['on', 'off'] as const;
export type AcpiMode = (typeof ACPI_MODES)[number];
export const ON_HALT_MODES = ['end', 'wait'] as const;
export type OnHaltMode = (typeof ON_HALT_MODES)[number];
export const SERIAL_MODES = ['stdio', 'file', 'none'] as const;
export type SerialMode = (typeof SERIAL_MODES)[number];

export interface SerialConfig {
  mode: SerialMode;
  /** Absolute; set exactly when mode is 'file' (output is appended). */
  path?: string;
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
export const VCPUS_MAX = 254;
export const MEMORY_MIN = 32 * MiB;
export const MEMORY_MAX = 64 * GiB;
export const DEFAULT_MEMORY = 256 * MiB;
/** The boot protocols' command-line area holds this many bytes and a NUL; a kernel may accept fewer. */
export const CMDLINE_MAX = CMDLINE_MAX_BYTES - 1;

/** The top-level keys a config may have. */
export const CONFIG_KEYS = [
  'vcpus', 'memory', 'kernel', 'initrd', 'cmdline', 'boot', 'serial', 'log', 'quirks', 'acpi', 'onHalt', 'devices',
  'apiSocket',
] as const;

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

function checkCmdline(value: unknown): string {
  const cmdline = checkString('cmdline', value);
  const bytes = Buffer.byteLength(cmdline);
  if (bytes > CMDLINE_MAX) {
    throw new ConfigError('cmdline', `${bytes} bytes is too long (at most ${CMDLINE_MAX} bytes fit the boot ` +
      'protocol\'s command-line area)');
  }
  return cmdline;
}

function checkMemory(value: unknown): number {
  const bytes = checkSize('memory', value, 'M');
  if (bytes < MEMORY_MIN || bytes > MEMORY_MAX) {
    throw new ConfigError('memory', `${show(value)} is out of range 32M..64G`);
  }
  if (bytes % 4096 !== 0) throw new ConfigError('memory', `${show(value)} is not a multiple of 4 KiB`);
  return bytes;
}

function checkSerial(value: unknown, baseDir: string): SerialConfig {
  if (value === undefined) return { mode: 'stdio' };
  const raw = checkMapping('serial', value, ['mode', 'path']);
  const mode = checkEnum('serial.mode', raw.mode ?? 'stdio', SERIAL_MODES);
  if (mode !== 'file') {
    if (raw.path !== undefined) throw new ConfigError('serial.path', `only used with mode: file (mode is ${mode})`);
    return { mode };
  }
  if (raw.path === undefined) throw new ConfigError('serial.path', 'required with mode: file');
  return { mode, path: checkPath('serial.path', raw.path, baseDir, 'new-file') };
}

function checkLog(value: unknown): { level: LogLevel } {
  if (value === undefined) return { level: 'info' };
  const raw = checkMapping('log', value, ['level']);
  return { level: checkEnum('log.level', raw.level ?? 'info', LOG_LEVELS) };
}

/**
 * Validates a parsed config (YAML or a plain object) and fills in defaults. `memory` as a number counts MiB, as
 * in the YAML. Throws ConfigError on the first bad field.
 */
export function validateConfig(obj: unknown, opts: ValidateOptions = {}): MachineConfig {
  const baseDir = path.resolve(opts.baseDir ?? process.cwd());
  if (!isMapping(obj)) {
    throw new ConfigError('', `a config must be a mapping of settings (vcpus: 2, kernel: ...), got ${show(obj)}`);
  }
  const raw: Raw = checkMapping('', obj, CONFIG_KEYS);
  if (raw.kernel === undefined) throw new ConfigError('kernel', 'required (a path or @guest/vmlinux)');
  const config: MachineConfig = {
    vcpus: raw.vcpus === undefined ? 1 : checkInt('vcpus', raw.vcpus, 1, VCPUS_MAX),
    memory: raw.memory === undefined ? DEFAULT_MEMORY : checkMemory(raw.memory),
    kernel: checkBootFile('kernel', raw.kernel, baseDir),
    cmdline: raw.cmdline === undefined ? DEFAULT_CMDLINE : checkCmdline(raw.cmdline),
    boot: checkEnum('boot', raw.boot ?? 'auto', BOOT_PROTOCOLS),
    serial: checkSerial(raw.serial, baseDir),
    log: checkLog(raw.log),
    quirks: checkEnum('quirks', raw.quirks ?? 'auto', QUIRKS_MODES),
    acpi: checkEnum('acpi', raw.acpi ?? 'off', ACPI_MODES),
    onHalt: checkEnum('onHalt', raw.onHalt ?? 'end', ON_HALT_MODES),
    devices: validateDevices('devices', raw.devices, baseDir),
  };
  if (raw.initrd !== undefined && raw.initrd !== null) config.initrd = checkBootFile('initrd', raw.initrd, baseDir);
  if (raw.apiSocket !== undefined) config.apiSocket = checkSocketPath('apiSocket', raw.apiSocket, baseDir);
  checkPathClashes(config.serial.path, config.devices, config.apiSocket);
  config.devices.forEach((d, i) => {
    if (d.type === 'balloon' && d.targetMiB * MiB > config.memory) {
      throw new ConfigError(`devices[${i}].targetMiB`, `${d.targetMiB} is more than the guest's ${config.memory / MiB} MiB of RAM`);
    }
  });
  return config;
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
