// The programmatic API: one Vm per microVM, made from a config object in the YAML file's schema. A Vm owns a
// Machine (src/vmm/machine.ts) and adds what a program supervising sandboxes needs: a lifecycle with states,
// pause / resume that resolve once every vCPU has stopped or restarted, a stop that asks the guest first, the
// console as a stream, counters, disk swaps and the balloon. The control socket (src/api/server.ts) serves the
// same object, so both ways behave alike.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { VmConsole } from './console';
import { argRangeError, checkInteger, checkNonEmptyString, VmError } from './errors';
import { checkEvent, keyPress, type InputEvent } from '../devices/input';
import { rateLimiterArgs } from './rate-limiter-args';
import { agentEndpoint, VmAgent, type VmExecOptions, type VmFiles } from './vm-agent';
import { VmDisplay } from './vm-display';
import { VmInput } from './vm-input';
import { PAGES_PER_MIB, type BalloonDevice, type BalloonInfo } from '../devices/balloon';
import { writeAllSync } from '../devices/file-io';
import { SERIAL_INPUT_BYTES } from '../devices/serial-8250';
import type { RateLimiterConfig } from '../devices/rate-limiter';
import { ConfigError, type MachineConfig } from '../vmm/config';
import { Machine, NO_BALLOON_DEVICE, type DeviceErrorEvent } from '../vmm/machine';
import { checkSnapshotable } from '../vmm/snapshot/machine-state';
import { MiB } from '../vmm/units';
import type {
  AgentInfo, AgentProcess, ExecOptions, ExecResult, SpawnOptions, WaitReadyOptions,
} from '../sandbox';

export {
  checkDeviceIndex, checkStopOptions, DEFAULT_STOP_TIMEOUT_MS, MAX_STOP_TIMEOUT_MS, vmErrorOf, vmExit,
  type StopOptions, type VmCounters, type VmEvents, type VmExit, type VmOptions, type VmState,
} from './vm-types';
import {
  checkDeviceIndex, checkStopOptions, vmErrorOf, vmExit,
  type StopOptions, type VmCounters, type VmEvents, type VmExit, type VmOptions, type VmState,
} from './vm-types';

export class Vm extends EventEmitter<VmEvents> {
  /**
   * The machine underneath, for the command line and the tests: not part of the package's API (left out of its
   * type declarations).
   * @internal
   */
  readonly machine: Machine;
  /** The guest's serial console (COM1) when serial.mode is stdio (the default); see VmConsole. */
  readonly console = new VmConsole();
  /** The guest's files, through its agent (see exec()). */
  readonly files: VmFiles;
  /**
   * What the guest shows on its gpu's scanouts: `display.screenshot(scanout)`, a PNG; `display.serveWeb()`, the
   * screen, keyboard, pointer and serial console in a browser.
   */
  readonly display = new VmDisplay({
    gpu: () => this.machine.gpu,
    check: (op) => this.require(op, ['running', 'paused']),
    checkServe: (op) => this.require(op, ['created', 'running', 'paused']),
    webInput: () => ({
      key: (code, action) => { this.input.key(code, { action }); },
      pointer: (x, y, buttons, screen) => { this.input.pointer(x, y, buttons, screen); },
      serial: (bytes) => { this.serialInput(bytes); },
    }),
    onSerialOutput: (listener) => {
      this.serialListeners.add(listener);
      return () => { this.serialListeners.delete(listener); };
    },
  });
  /** The keyboard and the tablet by keys, text and pointer position: `input.key()`, `type()`, `pointer()`. */
  readonly input = new VmInput({
    config: () => this.config,
    send: (device, events) => this.sendInput(device, events),
    room: (device) => this.machine.inputRoom(device) ?? 0,
    gpu: () => this.machine.gpu,
    check: (op) => this.require(op, ['running']),
  });
  private readonly agent: VmAgent;
  /** Who else hears the serial console's output (the browser consoles), whatever serial.mode sends it to. */
  private readonly serialListeners = new Set<(chunk: Buffer) => void>();
  /** Where start, pause and resume left it; 'stopping' and 'exited' come from the machine (see state). */
  private phase: 'created' | 'running' | 'paused' = 'created';
  /** Pause and resume run one after the other, so a resume never overtakes the pause before it. */
  private transition: Promise<void> = Promise.resolve();
  private exitResult: Promise<VmExit>;
  /** A graceful stop in progress (the power button pressed or Ctrl-Alt-Del sent, waiting for the guest). */
  private stopping: Promise<VmExit> | undefined;
  private readonly log: Logger;
  private readonly baseDir: string;

  /** Use createVm(); this takes a config validateConfig already produced, with artifacts resolved. */
  constructor(readonly config: MachineConfig, options: VmOptions) {
    super();
    this.log = options.logger;
    this.baseDir = options.baseDir;
    const sink = this.consoleSink(config, options.consoleOutput);
    const consoleOutput = (chunk: Buffer): void => {
      sink.write(chunk);
      for (const listener of this.serialListeners) listener(chunk);
    };
    try {
      this.machine = Machine.create(config, {
        logger: this.log, consoleOutput, ...(options.restore ? { restore: options.restore } : {}),
      });
    } catch (e) {
      sink.close();
      throw vmErrorOf(e);
    }
    this.console.attach({
      hold: () => this.machine.holdConsole(),
      release: () => this.machine.releaseConsole(),
      input: (bytes) => this.machine.serial.pushInput(bytes),
    });
    this.machine.on('panic', (line: string) => this.emit('panic', line));
    this.machine.on('device-error', (ev: DeviceErrorEvent) => this.emit('device-error', ev));
    this.exitResult = this.machine.wait().then(async (exit) => {
      sink.close();
      this.console.close();
      await this.display.closeAll();
      const result = vmExit(exit);
      try {
        this.emit('exit', result);
      } catch (e) {
        // A listener's own error is thrown as any EventEmitter listener's is, not turned into wait() failing.
        process.nextTick(() => { throw e; });
      }
      return result;
    });
    this.agent = new VmAgent({
      endpoint: agentEndpoint(config),
      check: (operation) => this.require(operation, ['running']),
      ended: this.exitResult.then((e) => `${e.reason}: ${e.detail}`),
    });
    this.files = this.agent.files;
  }

  /** Bytes for the serial console's input, all or none: VmError ERR_VM_INPUT_FULL when its FIFO lacks the room. */
  private serialInput(bytes: Uint8Array): void {
    this.require('write to the serial console', ['running', 'paused']);
    const { pending } = this.machine.consoleInputState();
    const room = SERIAL_INPUT_BYTES - pending;
    if (bytes.length > room) {
      throw new VmError('ERR_VM_INPUT_FULL', `cannot write to the serial console: its input holds ${pending} bytes the ` +
        `guest has not read, and ${bytes.length} more do not fit`);
    }
    this.machine.serial.pushInput(bytes);
  }

  private consoleSink(config: MachineConfig, output: ((chunk: Buffer) => void) | undefined):
    { write: (chunk: Buffer) => void; close: () => void } {
    if (config.serial.mode === 'file') {
      let fd: number;
      try {
        fd = fs.openSync(config.serial.path!, 'a');
      } catch (e) {
        throw new ConfigError('serial.path', (e as Error).message);
      }
      return { write: (chunk) => writeAllSync(fd, chunk), close: () => fs.closeSync(fd) };
    }
    if (config.serial.mode === 'none') return { write: () => {}, close: () => {} };
    return { write: output ?? ((chunk) => this.console.deliver(chunk)), close: () => {} };
  }

  /** The machine's own phase decides 'stopping' and 'exited', so this never lags it while its threads wind down. */
  get state(): VmState {
    const m = this.machine.phase;
    if (m === 'ended') return 'exited';
    if (m === 'finishing' || this.stopping) return 'stopping';
    return this.phase;
  }

  private require(operation: string, states: VmState[]): void {
    const now = this.state;
    if (!states.includes(now)) throw new VmError('ERR_VM_STATE', `cannot ${operation}: the machine is ${now}`);
  }

  start(): void {
    this.require('start', ['created']);
    this.machine.start();
    this.phase = 'running';
    this.log.info('machine started');
    this.emit('started');
  }

  /**
   * Starts a machine with every vCPU paused before it first runs guest code (restoreVm's `paused`).
   * @internal
   */
  async startPaused(): Promise<void> {
    this.require('start', ['created']);
    this.machine.start(true);
    this.phase = 'paused';
    this.log.info('machine started paused');
    this.emit('started');
    await this.vcpusReach('paused', 'start');
  }

  /**
   * Writes a snapshot of the paused machine into folder `dir` (made when missing; it must not hold a snapshot):
   * snapshot.json, state.bin and a sparse memory.bin (docs/snapshot.md). Resolves once written; a resume() waits
   * for it. restoreVm(dir) builds the machine again, in this process or another. VmError ERR_VM_STATE unless
   * paused, ERR_VM_SNAPSHOT_UNSUPPORTED for a device whose state snapshots do not hold (none today),
   * ERR_VM_SNAPSHOT when writing fails.
   */
  snapshot(dir: string): Promise<void> {
    const target = path.resolve(this.baseDir, checkNonEmptyString('dir', dir));
    try {
      checkSnapshotable(this.config);
    } catch (e) {
      throw vmErrorOf(e);
    }
    this.require('snapshot', ['paused']);
    return this.serialize(async () => {
      this.require('snapshot', ['paused']);
      try {
        await this.machine.snapshot(target);
      } catch (e) {
        const err = vmErrorOf(e);
        throw err instanceof VmError ? err : new VmError('ERR_VM_SNAPSHOT', (e as Error).message, { cause: e });
      }
      this.log.info({ dir: target }, 'snapshot written');
    });
  }

  /** Stops every vCPU; resolves once none runs guest code. Pausing a paused machine does nothing. */
  pause(): Promise<void> {
    return this.runState('paused');
  }

  /** Lets every vCPU run again; resolves once all do. Resuming a running machine does nothing. */
  resume(): Promise<void> {
    return this.runState('running');
  }

  private runState(target: 'paused' | 'running'): Promise<void> {
    const operation = target === 'paused' ? 'pause' : 'resume';
    this.require(operation, ['running', 'paused']);
    return this.serialize(async () => {
      if (this.state !== (target === 'paused' ? 'running' : 'paused')) return;
      for (const v of this.machine.vcpus) {
        if (target === 'paused') v.pause(); else v.resume();
      }
      await this.vcpusReach(target, operation);
      this.phase = target;
      this.emit(target === 'paused' ? 'paused' : 'resumed');
    });
  }

  private serialize(step: () => Promise<void>): Promise<void> {
    const next = this.transition.then(step);
    this.transition = next.catch(() => {});
    return next;
  }

  private vcpusReach(target: 'paused' | 'running', operation: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.machine.vcpus.every((v) => v.state === target)) done(resolve);
      };
      const ended = (): void => done(() => reject(new VmError('ERR_VM_STATE', `cannot ${operation}: the machine ended`)));
      const done = (settle: () => void): void => {
        this.machine.off('vcpu-state', check);
        this.machine.off('exit', ended);
        settle();
      };
      this.machine.on('vcpu-state', check);
      this.machine.on('exit', ended);
      check();
    });
  }

  /**
   * Presses Ctrl-Alt-Del on the machine's i8042 keyboard. Only a guest with an i8042 keyboard driver that does not
   * probe the keyboard hears it (docs/node-api.md, Graceful stop); false when the keyboard buffer was full.
   */
  sendCtrlAltDel(): boolean {
    this.require('send Ctrl-Alt-Del', ['running']);
    return this.machine.sendCtrlAltDel();
  }

  /**
   * Presses the ACPI power button (the DSDT's GED; `acpi: on` only): Linux reports KEY_POWER, and its user space
   * (busybox acpid, systemd-logind) usually powers off. False when the machine has no ACPI, so no button.
   */
  pressPowerButton(): boolean {
    this.require('press the power button', ['running']);
    return this.machine.pressPowerButton();
  }

  /**
   * Ends the machine. A running guest is asked first (the ACPI power button with `acpi: on`, else Ctrl-Alt-Del) and
   * given `timeoutMs` (default 5000) to end
   * by itself; then, or at once for a paused or never started machine or timeoutMs 0, it is stopped by force
   * (reason 'stopped'). Resolves with how it ended; on an ended machine, with how it ended then. While a graceful
   * stop is under way, another stop() joins it (timeoutMs 0 forces it, as kill() does).
   */
  stop(options?: StopOptions): Promise<VmExit> {
    const { timeoutMs, explicit } = checkStopOptions(options);
    if (this.state === 'exited') return this.exitResult;
    if (this.stopping && !(explicit && timeoutMs === 0)) return this.stopping;
    if (timeoutMs === 0 || this.state !== 'running') return this.kill();
    this.stopping = this.askThenForce(timeoutMs);
    return this.stopping;
  }

  private async askThenForce(timeoutMs: number): Promise<VmExit> {
    const button = this.machine.hasPowerButton;
    let queued: boolean;
    try {
      queued = button ? this.machine.pressPowerButton() : this.machine.sendCtrlAltDel();
    } catch {
      return this.exitResult; // the guest ended on its own just now
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const first = await Promise.race([this.exitResult, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return first;
    const why = queued ? 'did not end' : 'had a full keyboard buffer and did not end';
    const asked = button ? 'the power button' : 'Ctrl-Alt-Del';
    await this.machine.finish('stopped', `the guest ${why} within ${timeoutMs} ms of ${asked}; stopped by force`);
    return this.exitResult;
  }

  /** Stops the machine by force now (reason 'stopped'). */
  async kill(): Promise<VmExit> {
    if (this.state !== 'exited') {
      await this.machine.finish('stopped', this.phase === 'created' ? 'stopped before it started' : 'stopped by force');
    }
    return this.exitResult;
  }

  /**
   * Runs a command in the guest through its agent (a vsock device and a guest running tsvmm-agent, as
   * createSandbox() makes; VmError ERR_VM_NO_AGENT without the device). A string runs under `/bin/sh -c`, an array
   * is the argv. Resolves with `{ exitCode, signal, stdout, stderr }` (a non-zero exit is not an error); rejects
   * with the agent's AgentError: NOT_FOUND, TIMEOUT (`timeoutMs`), LIMIT (`maxOutputBytes`), ABORTED, AGENT_GONE.
   */
  exec(command: string | readonly string[], opts?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult>;
  exec(command: string | readonly string[], opts: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
  exec(command: string | readonly string[], opts: VmExecOptions = {}): Promise<ExecResult | ExecResult<Buffer>> {
    return this.agent.exec(command, opts);
  }

  /** Starts a process in the guest, shaped like child_process.spawn's (stdin, stdout, stderr, kill, events). */
  spawn(command: string, args: readonly string[] = [], opts: SpawnOptions = {}): AgentProcess {
    return this.agent.spawn(command, args, opts);
  }

  /** Resolves once the guest's agent answers; TIMEOUT after `timeoutMs`, VmError ERR_VM_STATE if the machine ends. */
  waitForAgent(opts?: WaitReadyOptions): Promise<AgentInfo> {
    return this.agent.waitReady(opts);
  }

  /** Resolves when the machine has ended, whatever ended it, with its fds closed and its threads gone. */
  wait(): Promise<VmExit> {
    return this.exitResult;
  }

  private consoleInput(): { inputPending: number; interruptLine: number; interruptEnable: number } {
    const { pending, line, ier } = this.machine.consoleInputState();
    return { inputPending: pending, interruptLine: line, interruptEnable: ier };
  }

  counters(): VmCounters {
    return {
      vcpus: this.machine.vcpus.map((v) => ({ index: v.index, state: v.state, exits: v.counters() })),
      devices: this.machine.deviceCounters().map((counters, index) =>
        ({ index, type: this.config.devices[index]?.type ?? 'unknown', counters })),
      console: { droppedOutput: this.machine.droppedConsoleOutput, ...this.consoleInput() },
    };
  }

  /**
   * Replaces the backing file of disk `device` (its index in config.devices). Requests in flight finish on the
   * old file; the promise resolves once it is closed. The new file must exist (read-write unless the disk is
   * readonly); a new size reaches the guest as a config change. A file it cannot use, or a device without one, is
   * a VmError ERR_VM_DISK naming the device, with the errno as cause.code.
   */
  async swapDisk(device: number, file: string): Promise<void> {
    const p = path.resolve(this.baseDir, checkNonEmptyString('path', file));
    checkDeviceIndex(this.config, device);
    this.require('swap a disk', ['created', 'running', 'paused']);
    try {
      await this.machine.swapDisk(device, p);
    } catch (e) {
      throw vmErrorOf(e);
    }
    this.log.info({ device, path: p }, 'disk backing file swapped');
  }

  /**
   * Sets the rate limits of disk or network device `device` (its index in config.devices), with full buckets:
   * `{ bandwidth?, ops? }`, each `{ size, oneTimeBurst?, refillTime }` (bytes or requests; refillTime in ms to refill
   * size from empty); null, or no bucket, removes them. `direction` is a network device's 'rx' (what the guest
   * receives) or 'tx' (what it sends), both when left out; a disk has none. VmError ERR_VM_NO_DEVICE for a device
   * of another type.
   */
  setRateLimiter(device: number, limiter: RateLimiterConfig | null, direction?: 'rx' | 'tx'): void {
    checkDeviceIndex(this.config, device);
    const args = rateLimiterArgs(this.config, device, limiter, direction);
    this.require('set a rate limiter', ['created', 'running', 'paused']);
    if (!this.machine.setRateLimiter(device, args.limiter, args.direction)) {
      throw new VmError('ERR_VM_NO_DEVICE', `devices[${device}] has no rate limiter`);
    }
    this.log.info({ device, direction: args.direction ?? 'all', limiter: args.limiter ?? null }, 'rate limiter set');
  }

  /**
   * Sends events to keyboard or tablet `device` (an index in the config's devices; VmError ERR_VM_NO_DEVICE for
   * another type): `{ type, code, value }` as Linux's input layer numbers them, each group ended by an EV_SYN
   * SYN_REPORT (pressKey() sends a whole key press). Resolves to how many were queued; past 4096 unread events
   * the rest are dropped and counted.
   */
  sendInput(device: number, events: readonly InputEvent[]): number {
    checkDeviceIndex(this.config, device);
    if (!Array.isArray(events)) throw argRangeError('events', 'an array of { type, code, value }', events);
    for (const e of events as unknown[]) checkEvent(e);
    this.require('send input', ['running']);
    const n = this.machine.sendInput(device, events);
    if (n === undefined) throw new VmError('ERR_VM_NO_DEVICE', `devices[${device}] is not an input device`);
    return n;
  }

  /** Presses and releases key `code` (Linux's KEY_* numbers: KEY_A is 30) on keyboard `device`. */
  pressKey(device: number, code: number): void {
    checkInteger('code', code, 0, 0xffff);
    this.sendInput(device, keyPress(code));
  }

  /**
   * Asks the guest's balloon driver to hold `mib` MiB of its memory (0 gives it all back); the driver moves toward
   * it at its own pace, balloonStats() shows how far it got.
   */
  setBalloonTarget(mib: number): void {
    checkInteger('mib', mib, 0, Math.floor(this.config.memory / MiB));
    this.require('set the balloon target', ['created', 'running', 'paused']);
    this.requireBalloon().setTargetPages(mib * PAGES_PER_MIB);
  }

  /** The balloon's target and size in 4 KiB pages, the pages that passed its queues, the guest's last statistics. */
  balloonStats(): BalloonInfo {
    return this.requireBalloon().info();
  }

  private requireBalloon(): BalloonDevice {
    const balloon = this.machine.balloon;
    if (!balloon) throw new VmError('ERR_VM_NO_DEVICE', NO_BALLOON_DEVICE);
    return balloon;
  }
}
