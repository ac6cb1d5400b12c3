// createSandbox(): a machine made to run commands in, in one call. It boots the project's kernel with the sandbox
// initramfs (busybox and tsvmm-agent, src/guest/agent.ts) or a root image (sandbox-image.ts), a vsock device whose
// unix socket lives in a private temporary folder, and no network unless asked; it resolves once the agent answers. The Sandbox it returns runs
// commands and moves files with the sandbox's defaults (cwd, env, a timeout and an output cap per command) and,
// closed, stops the machine and removes the folder.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { createVm } from './create';
import { detectSandboxImage, EXT4_ROOT_CMDLINE, type SandboxImage } from './sandbox-image';
import { argRangeError, argTypeError, checkInteger, checkOptions } from './errors';
import type { Vm, VmExit } from './vm';
import type { VmExecOptions, VmFiles } from './vm-agent';
import { createLogger } from '../log';
import { AgentError, type AgentInfo, type AgentProcess, type ExecResult, type SpawnOptions, type ExecOptions } from '../sandbox';
import {
  ConfigError, validateConfig, type DeviceConfigInput, type MachineConfig, type MachineConfigInput,
} from '../vmm/config';
import { preflight } from '../vmm/preflight';
import { parseSize } from '../vmm/units';

export interface SandboxOptions {
  /** Guest RAM, e.g. '512M' (a bare number is MiB); default '256M'. */
  memory?: string | number;
  /** Default 1. */
  vcpus?: number;
  /** A virtio-net device on a tap (the guest gets an unconfigured eth0); default none: no network at all. */
  net?: boolean | { tap?: string; mac?: string };
  /** The kernel; default the project's (`@guest/vmlinux`, built on first use). */
  kernel?: string;
  /**
   * An initramfs whose init runs tsvmm-agent, or an ext4 root image from `tsvmm image build` (attached read-only,
   * so many sandboxes can share it); default the sandbox initramfs (built on first use).
   */
  image?: string;
  /**
   * The sandbox's writable space: /tmp (and, on a read-only image root, /run and /var/tmp) are tmpfs file systems
   * of at most this size each, e.g. '64M' (a bare number is MiB); default the kernel's (half the guest's RAM). A
   * command that writes past it fails with ENOSPC ("No space left on device").
   */
  diskSize?: string | number;
  /** Added to the kernel command line. */
  append?: string;
  /** The working directory of every command, unless a call says otherwise; default the agent's (/). */
  cwd?: string;
  /** Set for every command, under what a call sets. */
  env?: Record<string, string>;
  /** exec()'s timeout unless a call gives one; default 300000 (5 minutes); 0 for none. */
  execTimeoutMs?: number;
  /** exec()'s cap per output unless a call gives one; default 64 MiB. */
  maxOutputBytes?: number;
  /** How long the agent has to answer after boot; default 120000. */
  readyTimeoutMs?: number;
  /** The VMM's log (pino); default silent. */
  logger?: Logger;
}

export const SANDBOX_DEFAULTS = {
  memory: '256M', vcpus: 1, execTimeoutMs: 300_000, maxOutputBytes: 64 * 1024 * 1024, readyTimeoutMs: 120_000,
} as const;
export const SANDBOX_CMDLINE = 'console=ttyS0 reboot=k panic=-1 quiet';
const KNOWN = ['memory', 'vcpus', 'net', 'kernel', 'image', 'diskSize', 'append', 'cwd', 'env', 'execTimeoutMs',
  'maxOutputBytes', 'readyTimeoutMs', 'logger'];
/** The kernel parameter the sandbox's init reads for the size of its tmpfs mounts, in bytes. */
export const TMP_SIZE_PARAM = 'tsvmm.tmp_size';
/** The smallest writable space a sandbox can work in. */
const MIN_DISK_BYTES = 1024 * 1024;
/** Console bytes kept for an error's message. */
export const CONSOLE_TAIL = 8192;

/**
 * The machine config of a sandbox that boots `image` (a path is an initramfs) and whose vsock socket is `socket`.
 * An ext4 image is the root disk, read-only, with the agent as init; the sandbox has no initrd then.
 */
export function sandboxConfig(opts: SandboxOptions, image: string | SandboxImage, socket: string): MachineConfigInput {
  const boot = typeof image === 'string' ? { kind: 'initramfs', path: image } : image;
  const devices: DeviceConfigInput[] = boot.kind === 'ext4' ? [{ type: 'blk', path: boot.path, readonly: true }] : [];
  devices.push({ type: 'vsock', cid: 3, socket });
  if (opts.net) devices.push({ type: 'net', ...(opts.net === true ? {} : opts.net) });
  let cmdline = boot.kind === 'ext4' ? `${SANDBOX_CMDLINE} ${EXT4_ROOT_CMDLINE}` : SANDBOX_CMDLINE;
  if (opts.diskSize !== undefined) cmdline += ` ${TMP_SIZE_PARAM}=${diskBytes(opts.diskSize)}`;
  return {
    kernel: opts.kernel ?? '@guest/vmlinux', ...(boot.kind === 'initramfs' ? { initrd: boot.path } : {}),
    memory: opts.memory ?? SANDBOX_DEFAULTS.memory, vcpus: opts.vcpus ?? SANDBOX_DEFAULTS.vcpus,
    cmdline: opts.append ? `${cmdline} ${opts.append}` : cmdline,
    devices,
  };
}

/** diskSize in bytes; RangeError naming `diskSize` when it is not a size of at least 1 MiB. */
export function diskBytes(value: string | number): number {
  let bytes = -1;
  try {
    bytes = parseSize(value, { numberUnit: 'M' });
  } catch { /* said below, with the option's name */ }
  if (bytes < MIN_DISK_BYTES) throw argRangeError('diskSize', 'a size of at least 1M, such as 64M or 1G (a bare number is MiB)', value);
  return bytes;
}

/** The options as a caller without types may pass them: the machine's settings are checked by its config. */
export function checkSandboxOptions(options: unknown): SandboxOptions {
  const o = checkOptions('options', options, KNOWN);
  for (const k of ['execTimeoutMs', 'maxOutputBytes', 'readyTimeoutMs'] as const) {
    if (o[k] !== undefined) checkInteger(k, o[k], 0, Number.MAX_SAFE_INTEGER);
  }
  const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (o.env !== undefined && !isObject(o.env)) throw argTypeError('env', 'an object', o.env);
  if (o.net !== undefined && typeof o.net !== 'boolean' && !isObject(o.net)) {
    throw argTypeError('net', 'a boolean or { tap, mac }', o.net);
  }
  if (o.diskSize !== undefined) {
    if (typeof o.diskSize !== 'string' && typeof o.diskSize !== 'number') throw argTypeError('diskSize', 'a size', o.diskSize);
    diskBytes(o.diskSize);
  }
  for (const k of ['kernel', 'image', 'append', 'cwd'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw argTypeError(k, 'a string', o[k]);
  }
  return o;
}

let defaultImage: Promise<string> | undefined;

/** The sandbox initramfs, built once per process (and cached across processes). */
async function sandboxImage(log: (line: string) => void): Promise<string> {
  defaultImage ??= import('../guest/agent').then((m) => m.buildSandboxInitramfs({ log })).then((r) => r.path);
  try {
    return await defaultImage;
  } catch (e) {
    defaultImage = undefined; // a failed build is tried again next time
    throw e;
  }
}

/**
 * Boots a sandbox and resolves once its agent answers. Throws TypeError / RangeError for bad options, ConfigError
 * for a bad machine setting (memory, vcpus, net; the field is the option's name), HostError when the host lacks
 * what it needs (before anything is built), and, when the guest does not come up, AgentError TIMEOUT
 * (readyTimeoutMs) or VmError ERR_VM_STATE (the machine ended), with the console's last lines.
 */
export async function createSandbox(options?: SandboxOptions): Promise<Sandbox> {
  const o = checkSandboxOptions(options);
  const logger = o.logger ?? createLogger('silent');
  const given = o.image === undefined ? undefined : detectSandboxImage(path.resolve(o.image));
  checkEarly(o, given);
  const image = given ?? path.resolve(await sandboxImage((line) => { logger.info(line); }));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-sandbox-'));
  let vm: Vm | undefined;
  let tail = '';
  try {
    vm = await createVm(sandboxConfig(o, image, path.join(dir, 'agent.sock')), { logger });
    vm.console.on('data', (chunk: Buffer) => { tail = (tail + chunk.toString('latin1')).slice(-CONSOLE_TAIL); });
    vm.start();
    const readyMs = o.readyTimeoutMs ?? SANDBOX_DEFAULTS.readyTimeoutMs;
    const info = await vm.waitForAgent({ timeoutMs: readyMs, intervalMs: 200 }).catch((e: unknown) => {
      throw bootFailure(e, readyMs, tail);
    });
    return new Sandbox(vm, dir, info, o, () => tail);
  } catch (e) {
    await vm?.kill();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** The settings, then the host, before minutes of building; errors name the option (image, not initrd or a disk). */
function checkEarly(o: SandboxOptions, image: SandboxImage | undefined): void {
  const config = sandboxConfig(o, image ?? '@guest/initramfs.cpio', '');
  config.devices = config.devices?.filter((d) => d.type !== 'vsock'); // its folder is made later
  let validated: MachineConfig;
  try {
    validated = validateConfig(config);
  } catch (e) {
    const imageField = e instanceof ConfigError && (e.field === 'initrd' || (image?.kind === 'ext4' && /^devices\[0\]/.test(e.field)));
    if (imageField) throw new ConfigError('image', e.message.slice(e.field.length + 2));
    throw e;
  }
  preflight(validated);
}

export function bootFailure(e: unknown, readyMs: number, tail: string): unknown {
  const shown = tail.trim() === '' ? ' (the console was silent)' : `; the console's last lines:\n${tail.trimEnd()}`;
  if (e instanceof AgentError && e.code === 'TIMEOUT') {
    return new AgentError('TIMEOUT', `the sandbox's agent did not answer within ${readyMs} ms of boot ` +
      `(readyTimeoutMs)${shown}`, undefined, { cause: e });
  }
  if (e instanceof Error) e.message += shown;
  return e;
}

export class Sandbox {
  /** The guest's files (write, read, readStream, stat, list, mkdir, remove). */
  readonly files: VmFiles;
  private closing: Promise<VmExit> | undefined;

  constructor(readonly vm: Vm, private readonly dir: string, readonly agent: AgentInfo, private readonly opts: SandboxOptions,
    private readonly consoleText: () => string) {
    this.files = vm.files;
  }

  /** The console's last few KiB (the guest's kernel and init messages). */
  consoleTail(): string {
    return this.consoleText();
  }

  /**
   * Runs a command to its end, like Vm.exec, with the sandbox's defaults. A limit that ends it says which: TIMEOUT
   * names timeoutMs or the sandbox's execTimeoutMs, LIMIT maxOutputBytes.
   */
  exec(command: string | readonly string[], opts?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult>;
  exec(command: string | readonly string[], opts: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
  async exec(command: string | readonly string[], opts: VmExecOptions = {}): Promise<ExecResult | ExecResult<Buffer>> {
    const timeout = opts.timeoutMs ?? this.opts.execTimeoutMs ?? SANDBOX_DEFAULTS.execTimeoutMs;
    const full: VmExecOptions = {
      ...this.spawnDefaults(opts), maxOutputBytes: opts.maxOutputBytes ?? this.opts.maxOutputBytes ?? SANDBOX_DEFAULTS.maxOutputBytes,
      ...(timeout > 0 ? { timeoutMs: timeout } : {}),
    };
    try {
      return opts.encoding === 'buffer' ? await this.vm.exec(command, { ...full, encoding: 'buffer' })
        : await this.vm.exec(command, { ...full, encoding: 'utf8' });
    } catch (e) {
      if (e instanceof AgentError && e.code === 'TIMEOUT' && opts.timeoutMs === undefined) {
        e.message = e.message.replace('(timeoutMs)', '(the sandbox\'s execTimeoutMs)');
      }
      if (e instanceof AgentError && e.code === 'LIMIT' && opts.maxOutputBytes === undefined) {
        e.message = e.message.replace('(maxOutputBytes)', '(the sandbox\'s maxOutputBytes)');
      }
      throw e;
    }
  }

  /** Starts a process, like Vm.spawn, with the sandbox's cwd and env. */
  spawn(command: string, args: readonly string[] = [], opts: SpawnOptions = {}): AgentProcess {
    return this.vm.spawn(command, args, this.spawnDefaults(opts));
  }

  private spawnDefaults<T extends SpawnOptions>(opts: T): T {
    const cwd = opts.cwd ?? this.opts.cwd;
    const env = this.opts.env ? { ...this.opts.env, ...opts.env } : opts.env;
    return { ...opts, ...(cwd === undefined ? {} : { cwd }), ...(env === undefined ? {} : { env }) };
  }

  /** Stops the machine at once (nothing in a sandbox needs a graceful end) and removes its folder. */
  close(): Promise<VmExit> {
    this.closing ??= this.vm.kill().finally(() => { fs.rmSync(this.dir, { recursive: true, force: true }); });
    return this.closing;
  }
}
