// Booting the tiny test kernel (test/guest) in-process on tsvmm, and under QEMU microvm, for integration tests.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildTestKernel } from '../../src/guest/test-kernel';
import { parseTestKernelOutput, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import { validateConfig } from '../../src/vmm/config';
import type { MachineExit } from '../../src/vmm/exit-status';
import { Machine } from '../../src/vmm/machine';
import type { CounterName } from '../../src/vmm/vcpu-protocol';

let built: Promise<string> | undefined;

/** The test kernel's ELF, built (or found in the cache) once per process. */
export function testKernel(): Promise<string> {
  built ??= buildTestKernel({ log: (line) => process.stderr.write(`${line}\n`) }).then((r) => r.path);
  return built;
}

export interface TinyRun extends TestKernelOutput {
  text: string;
  exit: MachineExit;
  devices: Record<string, number>[];
  vcpu: Record<CounterName, number>;
}

export interface TinyOptions {
  cmdline: string;
  devices?: unknown[];
  memory?: string;
  timeoutMs?: number;
  /** MachineOptions.prefaultMemory: all of guest RAM resident before the guest runs. */
  prefaultMemory?: boolean;
  /** Called once the machine runs, with a view of the console output so far. */
  during?: (m: Machine, output: () => string) => Promise<void> | void;
}

/** Boots the test kernel on tsvmm with `test=...` in opts.cmdline and waits for the machine to end. */
export async function runTiny(opts: TinyOptions): Promise<TinyRun> {
  const config = validateConfig({ kernel: await testKernel(), memory: opts.memory ?? '64M', cmdline: opts.cmdline,
    devices: opts.devices ?? [], serial: { mode: 'none' } });
  let text = '';
  const m = Machine.create(config, { prefaultMemory: opts.prefaultMemory,
    consoleOutput: (c) => { text += c.toString('latin1'); } });
  const timer = setTimeout(() => void m.stop('test timed out'), opts.timeoutMs ?? 60_000);
  m.start();
  try {
    await opts.during?.(m, () => text);
  } catch (e) {
    clearTimeout(timer);
    await m.stop('test failed');
    throw e;
  }
  const exit = await m.wait();
  clearTimeout(timer);
  return { ...parseTestKernelOutput(text), text, exit, devices: m.deviceCounters(), vcpu: m.vcpus[0]!.counters() };
}

/** Why QEMU cannot run the test kernel here, or undefined. */
export function qemuUnavailable(): string | undefined {
  const r = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'qemu-system-x86_64 is not installed (the CI installs qemu-system-x86)';
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return '/dev/kvm is not usable here: QEMU runs the test kernel with -enable-kvm';
  }
  return undefined;
}

export interface QemuRun extends TestKernelOutput {
  text: string;
  code: number | null;
}

/**
 * The test kernel under QEMU microvm, version-2 virtio-mmio, ending by isa-debug-exit (status 1 pass, 3 fail).
 * `during` runs while QEMU does, with the console output so far; should it throw, QEMU is killed and the error
 * passed on.
 */
export async function runQemuTiny(append: string, deviceArgs: string[], timeoutMs = 60_000,
  during?: (output: () => string) => Promise<void>): Promise<QemuRun> {
  const args = ['-M', 'microvm,acpi=off', '-enable-kvm', '-cpu', 'qemu64,vendor=GenuineIntel', '-m', '64',
    '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-global', 'virtio-mmio.force-legacy=false', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
    '-kernel', await testKernel(), '-append', `${append} exit=debug`, ...deviceArgs];
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  child.stderr.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  const closed = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    await during?.(() => text);
  } catch (e) {
    clearTimeout(timer);
    child.kill('SIGKILL');
    await closed;
    throw e;
  }
  const code = await closed;
  clearTimeout(timer);
  return { ...parseTestKernelOutput(text), text, code };
}

/** A sparse raw disk image of `bytes` in `dir`. */
export function sparseImage(dir: string, name: string, bytes: number): string {
  const file = path.join(dir, name);
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, bytes);
  return file;
}
