// Booting the tiny test kernel (test/guest) in-process on tsvmm, and under QEMU microvm, for integration tests.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildTestKernel } from '../../src/guest/test-kernel';
import { parseTestKernelOutput, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import { validateConfig } from '../../src/vmm/config';
import type { MachineExit } from '../../src/vmm/exit-status';
import { Machine } from '../../src/vmm/machine';
import type { CounterName } from '../../src/vmm/vcpu-protocol';
import { kvmUnavailable } from './kvm';
import { microvmArgs, qemuVersion } from './qemu';
import { OutputWatch } from './wait';

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
  /** The config's `acpi`; with 'on' tsvmm puts no `virtio_mmio.device=` on the cmdline, so the caller adds them. */
  acpi?: 'on' | 'off';
  timeoutMs?: number;
  /** MachineOptions.prefaultMemory: all of guest RAM resident before the guest runs. */
  prefaultMemory?: boolean;
  /**
   * Called once the machine runs, with its console output; should it throw, the machine is stopped and the error
   * passed on.
   */
  during?: (m: Machine, output: OutputWatch) => Promise<void> | void;
}

/** How long a `during` hook may still wait once the guest has ended before it is failed. */
const LATE_MS = 10_000;

/**
 * Runs a `during` hook while the guest does. Waits on the console output fail as soon as the guest ends; a hook that
 * waits on anything else (a socket, a device counter) fails LATE_MS after that, since nothing would wake it. A
 * failure carries what the guest printed.
 */
async function during(hook: () => Promise<void> | void, output: OutputWatch, ended: Promise<unknown>): Promise<void> {
  let late: NodeJS.Timeout | undefined;
  let settled = false;
  const gaveUp = ended.then(() => new Promise<never>((_, reject) => {
    if (!settled) late = setTimeout(() => reject(new Error('the guest ended while the host still waited')), LATE_MS);
  }));
  try {
    await Promise.race([hook(), gaveUp]);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nguest output so far:\n${output.text()}`, { cause: e });
  } finally {
    settled = true;
    clearTimeout(late);
  }
}

/** Boots the test kernel on tsvmm with `test=...` in opts.cmdline and waits for the machine to end. */
export async function runTiny(opts: TinyOptions): Promise<TinyRun> {
  const config = validateConfig({ kernel: await testKernel(), memory: opts.memory ?? '64M', cmdline: opts.cmdline,
    devices: opts.devices ?? [], serial: { mode: 'none' }, ...(opts.acpi === undefined ? {} : { acpi: opts.acpi }) });
  const output = new OutputWatch();
  const m = Machine.create(config, { prefaultMemory: opts.prefaultMemory,
    consoleOutput: (c) => { output.append(c.toString('latin1')); } });
  const timer = setTimeout(() => void m.stop('test timed out'), opts.timeoutMs ?? 60_000);
  m.start();
  const ended = m.wait().then((e) => { output.end(`the machine ended (${e.reason}: ${e.detail})`); });
  try {
    if (opts.during) await during(() => opts.during!(m, output), output, ended);
  } catch (e) {
    clearTimeout(timer);
    await m.stop('test failed');
    throw e;
  }
  const exit = await m.wait();
  clearTimeout(timer);
  const text = output.text();
  return { ...parseTestKernelOutput(text), text, exit, devices: m.deviceCounters(), vcpu: m.vcpus[0]!.counters() };
}

/** Why QEMU cannot run the test kernel here, or undefined. */
export function qemuUnavailable(): string | undefined {
  if (qemuVersion() === undefined) return 'qemu-system-x86_64 is not installed (the CI installs qemu-system-x86)';
  return kvmUnavailable();
}

export interface QemuRun extends TestKernelOutput {
  text: string;
  code: number | null;
}

/**
 * The test kernel under QEMU microvm, version-2 virtio-mmio, ending by isa-debug-exit (status 1 pass, 3 fail).
 * `during` runs while QEMU does, with its console output (stdout and stderr); should it throw, QEMU is killed and the
 * error passed on.
 */
export async function runQemuTiny(append: string, devices: string[], timeoutMs = 60_000,
  hook?: (output: OutputWatch) => Promise<void>): Promise<QemuRun> {
  const args = microvmArgs({ kernel: await testKernel(), append, memMiB: 64, testKernel: true, devices });
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = new OutputWatch();
  // QEMU's own messages (stderr) are kept apart and added after the guest's console: a device that logs a refusal
  // on stderr would otherwise land in the middle of the guest's line about it, which then no longer parses.
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { output.append(d.toString('latin1')); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString('latin1'); });
  const closed = new Promise<number | null>((resolve) => child.on('close', (c) => {
    if (stderr !== '') output.append(`\n[QEMU's stderr]\n${stderr.slice(-8192)}`);
    output.end(`QEMU ended (exit status ${c})`);
    resolve(c);
  }));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    if (hook) await during(() => hook(output), output, closed);
  } catch (e) {
    clearTimeout(timer);
    child.kill('SIGKILL');
    await closed;
    throw e;
  }
  const code = await closed;
  clearTimeout(timer);
  const text = output.text();
  return { ...parseTestKernelOutput(text), text, code };
}

/** A sparse raw disk image of `bytes` in `dir`. */
export function sparseImage(dir: string, name: string, bytes: number): string {
  const file = path.join(dir, name);
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, bytes);
  return file;
}
