// createVm(): a Vm from a config object in the YAML file's schema, validated the same way, with its control
// socket when the config names one. The config is typed (MachineConfigInput), so a misspelt key or a wrong type
// fails to compile; a config of unknown shape (parsed YAML, JSON) goes through checkConfigInput first.
import * as path from 'node:path';
import type { Logger } from 'pino';
import { argTypeError, checkInteger, checkNonEmptyString, checkOptions } from './errors';
import { makeVm } from './make-vm';
import { serveVm } from './server';
import type { Vm } from './vm';
import { createLogger } from '../log';
import { validateConfig, type MachineConfigInput } from '../vmm/config';
import { MAX_VCPU_THREAD_RESERVE, setVcpuThreadReserve } from '../vmm/vcpu-prestart';

export interface CreateVmOptions {
  /** The VMM's log for this machine (pino), at the config's log.level (default info); default: silent. */
  logger?: Logger;
  /** Where relative paths in the config and in swapDisk() start; default: the current directory. */
  baseDir?: string;
}

/**
 * Validates `config` (the YAML schema as an object: `memory: '512M'`, a bare number of MiB), resolves
 * `@guest/...` artifacts (building them on first use) and creates the machine; nothing runs until start(). When
 * the config has `apiSocket`, the machine is also served there until shortly after it ends. The config is checked
 * at run time too (a caller without types, or a cast): `createVm(checkConfigInput(parsedYaml))` for untyped input.
 * Throws ConfigError naming the field, TypeError / RangeError for bad options, HostError when the host lacks what
 * the machine needs (usable /dev/kvm, the native addon, /dev/net/tun for a net device), before building anything,
 * and VmError ERR_VM_KVM / ERR_VM_BOOT when KVM or the kernel fail later.
 */
export async function createVm(config: MachineConfigInput, options?: CreateVmOptions): Promise<Vm> {
  // As unknown: a caller without types, or with a cast, may pass anything.
  const untyped: unknown = config;
  if (typeof untyped !== 'object' || untyped === null || Array.isArray(untyped)) {
    throw argTypeError('config', 'an object in the config file\'s schema', untyped);
  }
  const o = checkOptions('options', options, ['logger', 'baseDir']);
  if (o.logger !== undefined && (typeof o.logger !== 'object' || o.logger === null)) {
    throw argTypeError('logger', 'a pino logger', o.logger);
  }
  const baseDir = path.resolve(o.baseDir === undefined ? process.cwd() : checkNonEmptyString('baseDir', o.baseDir));
  const given = o.logger as Logger | undefined;
  // Silent, but on stderr: PUT /logger may turn it up, and stdout is the program's.
  const logger = given ?? createLogger('silent');
  const validated = validateConfig(config, { baseDir });
  const vm = await makeVm(validated, { logger, baseDir, ...(given ? {} : { logLevel: 'silent' }) });
  if (validated.apiSocket !== undefined) {
    try {
      const server = await serveVm(vm, validated.apiSocket, { logger, baseDir });
      void vm.wait().then(() => server.close());
    } catch (e) {
      await vm.kill();
      throw e;
    }
  }
  return vm;
}

/**
 * Keeps `count` vCPU threads (0..64) started ahead of the machines that will run them, for a process that starts
 * machines often: each new vCPU (createVm, restoreVm, a sandbox) takes one that is up, and a replacement starts
 * behind it. Each idle thread holds its V8 isolate, about 7 MiB. 0 (the default) ends the idle ones; a vCPU then
 * starts its thread when it starts.
 */
export function reserveVcpuThreads(count: number): void {
  setVcpuThreadReserve(checkInteger('count', count, 0, MAX_VCPU_THREAD_RESERVE));
}
