// `tsvmm run [config]`: load the config, apply the command-line overrides, validate, and hand the machine to the
// runner (src/cli/run-machine.ts), which is loaded only when a machine really runs.
import * as path from 'node:path';
import type { Argv, Options } from 'yargs';
import { createLogger, type Logger } from '../log';
import {
  configWarnings, LOG_LEVELS, readConfigFile, validateConfig, type LogLevel, type MachineConfig,
} from '../vmm/config';
import { checkEnum, checkSocketPath, ConfigError } from '../vmm/config-check';
import { hostProbe, type HostProbe } from '../vmm/host-probe';
import { preflight } from '../vmm/preflight';
import { addDeviceArgs, DEVICE_OPTIONS, deviceArgs, type DeviceArg } from './device-flags';
import { allValues, applyOverrides, lastValue, type RunOverrides } from './overrides';

/** Runs `config`, or the snapshot in opts.restore, or, with neither, waits for a config on opts.apiSocket. */
export type RunMachine = (config: MachineConfig | undefined,
  opts: { logger: Logger; apiSocket?: string; cwd?: string; logLevel?: LogLevel; restore?: string }) => Promise<number>;

export interface RunDeps {
  cwd: string;
  /** Default: runMachine from src/cli/run-machine.ts. */
  runMachine?: RunMachine;
  /** Default: createLogger from src/log.ts. */
  createLogger?: (level: MachineConfig['log']['level']) => Logger;
  /** The host the preflight checks look at; default this one, but only for the default runMachine. */
  hostProbe?: HostProbe;
  /** The command line as given: device options are added in its order (default: disks, nets, ... in turn). */
  argv?: readonly string[];
}

export const RUN_DESCRIBE = 'Boot a microVM from a YAML config and attach its serial console to this terminal';

// yargs wraps the epilog to the terminal; paragraphs are single lines so the wrapping reads well.
export const RUN_EPILOG = [
  'The config file is documented in configs/example.yaml. Options override its fields; paths given as options ' +
    'start at the current directory, paths in the file at the file\'s folder. Without a config file --kernel is ' +
    'enough, e.g. tsvmm run --kernel @guest/vmlinux --initrd @guest/initramfs.cpio',
  '',
  'Console keys, when stdin is a terminal (it is put in raw mode, so Ctrl-C goes to the guest):',
  '  Ctrl-A x       stop the VM',
  '  Ctrl-A Ctrl-A  send Ctrl-A to the guest',
  '  Ctrl-A h       list these keys',
  '',
  'The guest console goes to stdout; logs go to stderr (JSON lines when stderr is not a terminal).',
  '',
  'Before it builds or opens anything, run checks the host: no usable /dev/kvm, no native addon, or no ' +
    '/dev/net/tun (or no right to make a tap) for a net device is one line saying what to do, and status 1. ' +
    'tsvmm doctor checks everything at once.',
  '',
  'With --display web (or display: {mode: web} in the config) the guest\'s screen, keyboard, pointer and serial ' +
    'console are served to a browser on 127.0.0.1 only; the address, with a random token every request needs, is ' +
    'printed on stderr. web:PORT picks the port (default: a free one).',
  '',
  'With --api-sock the machine is also controlled through a JSON-over-HTTP API on that unix socket (docs/api.yaml), ' +
    'GET /metrics (Prometheus) and PUT /logger (the log level, at run time) among its routes. ' +
    'With --api-sock and neither a config file nor --kernel, tsvmm waits for the machine config on the socket ' +
    '(PUT /config, then PUT /actions {"action":"start"}).',
].join('\n');

/** `tsvmm run`'s options (also what shell completion and "did you mean" know of). */
export const RUN_OPTIONS: Readonly<Record<string, Options>> = {
  vcpus: { type: 'string', describe: 'number of vCPUs (1..254)' },
  memory: { type: 'string', describe: 'guest RAM, e.g. 512M, 2G (a bare number is MiB)' },
  kernel: { type: 'string', describe: 'kernel image (vmlinux ELF, bzImage, PVH ELF) or @guest/NAME' },
  initrd: { type: 'string', describe: 'initramfs (uncompressed cpio is fastest) or @guest/NAME' },
  cmdline: { type: 'string', describe: 'kernel command line (replaces the config\'s)' },
  append: { type: 'string', array: true, describe: 'text appended to the kernel command line' },
  'log-level': { type: 'string', choices: [...LOG_LEVELS], describe: 'log level' },
  serial: { type: 'string', describe: 'serial console: stdio, none or file:PATH' },
  'api-sock': { type: 'string', describe: 'unix socket for the control API' },
  display: {
    type: 'string', describe: 'web[:PORT]: serve the screen, keyboard, pointer and serial console to a browser on ' +
      '127.0.0.1 (needs a gpu device); none',
  },
  restore: {
    type: 'string', describe: 'a snapshot folder (vm.snapshot(), PUT /snapshot/create): run the machine it holds ' +
      'from where it was paused, instead of a config (only --api-sock and --log-level go with it)',
  },
  'on-halt': {
    type: 'string', choices: ['end', 'wait'], describe: 'a guest that halts for good: end the VM (status 6) or keep it',
  },
  ...DEVICE_OPTIONS,
};

export function runOptions(y: Argv): Argv {
  return y
    .positional('config', { type: 'string', describe: 'machine config (YAML)' })
    .options(RUN_OPTIONS);
}

/** Reads the options yargs parsed into the override set (repeated scalar options keep their last value). */
export function overridesFromArgs(args: Record<string, unknown>): RunOverrides {
  const o: RunOverrides = {};
  const scalar = (key: string): string | undefined => lastValue(args[key]);
  const set = <K extends keyof RunOverrides>(k: K, v: RunOverrides[K] | undefined): void => {
    if (v !== undefined) o[k] = v;
  };
  set('vcpus', scalar('vcpus'));
  set('memory', scalar('memory'));
  set('kernel', scalar('kernel'));
  set('initrd', scalar('initrd'));
  set('cmdline', scalar('cmdline'));
  const append = allValues(args.append);
  if (append.length > 0) o.append = append;
  set('logLevel', scalar('log-level'));
  set('serial', scalar('serial'));
  set('apiSock', scalar('api-sock'));
  set('onHalt', scalar('on-halt'));
  set('display', scalar('display'));
  return o;
}

/** Builds the MachineConfig `tsvmm run` would use, devices given as options last. Throws ConfigError. */
export function loadRunConfig(configFile: string | undefined, overrides: RunOverrides, cwd: string,
  devices: readonly DeviceArg[] = []): MachineConfig {
  const raw = configFile === undefined ? {} : readConfigFile(path.resolve(cwd, configFile));
  const baseDir = configFile === undefined ? cwd : path.dirname(path.resolve(cwd, configFile));
  const merged = addDeviceArgs(applyOverrides(raw, overrides, cwd), devices, cwd);
  try {
    return validateConfig(merged.raw, { baseDir });
  } catch (e) {
    throw merged.rename(e);
  }
}

function loadRunMachine(): RunMachine {
  // Loaded at call time: the runner pulls in the native addon, which `--help` and config checks do not need.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('./run-machine') as { runMachine?: RunMachine };
  if (typeof mod.runMachine !== 'function') throw new Error('src/cli/run-machine.ts does not export runMachine');
  return mod.runMachine;
}

/**
 * `--api-sock` with neither a config file nor `--kernel`: the machine comes through the socket, so options that
 * would shape it have nothing to apply to.
 */
function socketOnly(configFile: string | undefined, o: RunOverrides, devices: readonly DeviceArg[], cwd: string):
  { apiSocket: string; level?: LogLevel } | undefined {
  if (o.apiSock === undefined || configFile !== undefined || o.kernel !== undefined) return undefined;
  const stray = (Object.keys(o) as (keyof RunOverrides)[]).find((k) => k !== 'apiSock' && k !== 'logLevel');
  const option = stray ? `--${stray.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`
    : devices[0] ? `--${devices[0].flag}` : undefined;
  if (option) {
    throw new ConfigError(option,
      'needs a config file or --kernel (with --api-sock alone the machine config comes through the socket)');
  }
  return {
    apiSocket: checkSocketPath('--api-sock', o.apiSock, cwd),
    ...(o.logLevel === undefined ? {} : { level: checkEnum('--log-level', o.logLevel, LOG_LEVELS) }),
  };
}

/**
 * `--restore DIR`: the machine is the snapshot's, so a config file and the options that shape a machine are refused
 * by name; the control socket and the log level may go with it.
 */
function restoreOnly(dir: string | undefined, configFile: string | undefined, o: RunOverrides,
  devices: readonly DeviceArg[], cwd: string): { dir: string; apiSocket?: string; level?: LogLevel } | undefined {
  if (dir === undefined) return undefined;
  if (dir === '') throw new ConfigError('--restore', 'needs the snapshot folder');
  if (configFile !== undefined) {
    throw new ConfigError('--restore', `takes no config file (${configFile}): the machine is the snapshot's`);
  }
  const stray = (Object.keys(o) as (keyof RunOverrides)[]).find((k) => k !== 'apiSock' && k !== 'logLevel');
  const option = stray ? `--${stray.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`
    : devices[0] ? `--${devices[0].flag}` : undefined;
  if (option) throw new ConfigError(option, 'does not go with --restore: the machine is the snapshot\'s');
  return {
    dir: path.resolve(cwd, dir),
    ...(o.apiSock === undefined ? {} : { apiSocket: checkSocketPath('--api-sock', o.apiSock, cwd) }),
    ...(o.logLevel === undefined ? {} : { level: checkEnum('--log-level', o.logLevel, LOG_LEVELS) }),
  };
}

/** Throws HostError when the host lacks what the machine needs: before anything is built, listened on or opened. */
function checkHost(config: MachineConfig | undefined, deps: RunDeps): void {
  const probe = deps.hostProbe ?? (deps.runMachine ? undefined : hostProbe());
  if (probe) preflight(config, probe);
}

/** Runs the machine; resolves with the process exit status. */
export async function runCommand(args: Record<string, unknown>, deps: RunDeps): Promise<number> {
  const configFile = lastValue(args.config);
  const overrides = overridesFromArgs(args);
  const devices = deviceArgs(args, deps.argv);
  const runMachine = (): RunMachine => deps.runMachine ?? loadRunMachine();
  const restore = restoreOnly(lastValue(args.restore), configFile, overrides, devices, deps.cwd);
  if (restore) {
    checkHost(undefined, deps);
    const logger = (deps.createLogger ?? createLogger)(restore.level ?? 'info');
    return runMachine()(undefined, { logger, restore: restore.dir, cwd: deps.cwd,
      ...(restore.apiSocket ? { apiSocket: restore.apiSocket } : {}), ...(restore.level ? { logLevel: restore.level } : {}) });
  }
  const waiting = socketOnly(configFile, overrides, devices, deps.cwd);
  if (waiting) {
    checkHost(undefined, deps);
    const logger = (deps.createLogger ?? createLogger)(waiting.level ?? 'info');
    return runMachine()(undefined,
      { logger, apiSocket: waiting.apiSocket, cwd: deps.cwd, ...(waiting.level ? { logLevel: waiting.level } : {}) });
  }
  const config = loadRunConfig(configFile, overrides, deps.cwd, devices);
  checkHost(config, deps);
  const logger = (deps.createLogger ?? createLogger)(config.log.level);
  for (const warning of configWarnings(config)) logger.warn(warning);
  logger.debug({ config }, 'machine config');
  return runMachine()(config, { logger, cwd: deps.cwd });
}
