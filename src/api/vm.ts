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
import { checkInteger, checkNonEmptyString, checkOptions, VmError } from './errors';
import type { BalloonInfo } from '../devices/balloon';
import type { MachineConfig } from '../vmm/config';
import type { MachineExit } from '../vmm/exit-status';
import { Machine, type DeviceErrorEvent } from '../vmm/machine';
import type { CounterName } from '../vmm/vcpu-protocol';
import { MiB } from '../vmm/units';

export type VmState = 'created' | 'running' | 'paused' | 'stopping' | 'exited';

/** How a machine ended, with the exit status `tsvmm run` would have (0 poweroff / reset / stop, 3 panic, ...). */
export interface VmExit extends MachineExit {
  status: number;
}

export interface VmCounters {
  vcpus: { index: number; state: string; exits: Record<CounterName, number> }[];
  /** In config.devices order: the device's own counters (requests, bytes, errors, ...) and its transport's. */
  devices: { index: number; type: string; counters: Record<string, number> }[];
  /** Console bytes the UART dropped because nobody read them fast enough. */
  console: { droppedOutput: number };
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
const MAX_TIMEOUT_MS = 3_600_000;

export class Vm extends EventEmitter<VmEvents> {
  /** The machine underneath, for what this API does not cover. */
  readonly machine: Machine;
  /** The guest's serial console (COM1) when serial.mode is stdio (the default); see VmConsole. */
  readonly console = new VmConsole();
  private current: VmState = 'created';
  /** Pause and resume run one after the other, so a resume never overtakes the pause before it. */
  private transition: Promise<void> = Promise.resolve();
  private exitResult: Promise<VmExit>;
  private stopping: Promise<VmExit> | undefined;

  /** Use createVm(); this takes a config validateConfig already produced, with artifacts resolved. */
  constructor(readonly config: MachineConfig, private readonly log: Logger, private readonly baseDir: string) {
    super();
    const sink = this.consoleSink(config);
    try {
      this.machine = Machine.create(config, { logger: log, consoleOutput: sink.write });
    } catch (e) {
      sink.close();
      throw e;
    }
    this.console.attach({
      hold: () => this.machine.holdConsole(),
      release: () => this.machine.releaseConsole(),
      input: (bytes) => this.machine.serial.pushInput(bytes),
    });
    this.machine.on('panic', (line: string) => this.emit('panic', line));
    this.machine.on('device-error', (ev: DeviceErrorEvent) => this.emit('device-error', ev));
    this.exitResult = this.machine.wait().then((exit) => {
      this.current = 'exited';
      sink.close();
      this.console.close();
      const result = { ...exit, status: Machine.exitStatus(exit) };
      try {
        this.emit('exit', result);
      } catch (e) {
        // A listener's own error is thrown as any EventEmitter listener's is, not turned into wait() failing.
        process.nextTick(() => { throw e; });
      }
      return result;
    });
  }

  private consoleSink(config: MachineConfig): { write: (chunk: Buffer) => void; close: () => void } {
    if (config.serial.mode === 'file') {
      const fd = fs.openSync(config.serial.path!, 'a');
      return { write: (chunk) => { fs.writeSync(fd, chunk); }, close: () => fs.closeSync(fd) };
    }
    if (config.serial.mode === 'none') return { write: () => {}, close: () => {} };
    return { write: (chunk) => this.console.deliver(chunk), close: () => {} };
  }

  get state(): VmState {
    return this.current;
  }

  private require(operation: string, states: VmState[]): void {
    if (!states.includes(this.current)) {
      throw new VmError('ERR_VM_STATE', `cannot ${operation}: the machine is ${this.current}`);
    }
  }

  start(): void {
    this.require('start', ['created']);
    this.machine.start();
    this.current = 'running';
    this.log.info('machine started');
    this.emit('started');
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
      if (this.current === target || this.current !== (target === 'paused' ? 'running' : 'paused')) return;
      for (const v of this.machine.vcpus) {
        if (target === 'paused') v.pause(); else v.resume();
      }
      await this.vcpusReach(target, operation);
      this.current = target;
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
   * Presses Ctrl-Alt-Del on the machine's i8042 keyboard. Only a guest with an i8042 keyboard driver hears it
   * (see Machine.sendCtrlAltDel); false when the keyboard buffer was full.
   */
  sendCtrlAltDel(): boolean {
    this.require('send Ctrl-Alt-Del', ['running']);
    return this.machine.sendCtrlAltDel();
  }

  /**
   * Ends the machine. A running guest is asked first (Ctrl-Alt-Del) and given `timeoutMs` (default 5000) to end
   * by itself; then, or at once for a paused or never started machine or timeoutMs 0, it is stopped by force
   * (reason 'stopped'). Resolves with how it ended; on an ended machine, with how it ended then.
   */
  stop(options?: StopOptions): Promise<VmExit> {
    const o = checkOptions('options', options, ['timeoutMs']);
    const timeoutMs = o.timeoutMs === undefined ? DEFAULT_STOP_TIMEOUT_MS : checkInteger('timeoutMs', o.timeoutMs, 0, MAX_TIMEOUT_MS);
    if (this.current === 'exited') return this.exitResult;
    if (timeoutMs === 0 || this.current !== 'running') return this.kill();
    this.stopping ??= this.askThenForce(timeoutMs);
    return this.stopping;
  }

  private async askThenForce(timeoutMs: number): Promise<VmExit> {
    this.current = 'stopping';
    let queued: boolean;
    try {
      queued = this.machine.sendCtrlAltDel();
    } catch {
      return this.exitResult; // the guest ended on its own just now
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const first = await Promise.race([this.exitResult, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return first;
    const why = queued ? 'did not end' : 'had a full keyboard buffer and did not end';
    await this.machine.finish('stopped', `the guest ${why} within ${timeoutMs} ms of Ctrl-Alt-Del; stopped by force`);
    return this.exitResult;
  }

  /** Stops the machine by force now (reason 'stopped'). */
  async kill(): Promise<VmExit> {
    if (this.current !== 'exited') {
      await this.machine.finish('stopped', this.current === 'created' ? 'stopped before it started' : 'stopped by force');
    }
    return this.exitResult;
  }

  /** Resolves when the machine has ended, whatever ended it, with its fds closed and its threads gone. */
  wait(): Promise<VmExit> {
    return this.exitResult;
  }

  counters(): VmCounters {
    return {
      vcpus: this.machine.vcpus.map((v) => ({ index: v.index, state: v.state, exits: v.counters() })),
      devices: this.machine.deviceCounters().map((counters, index) =>
        ({ index, type: this.config.devices[index]?.type ?? 'unknown', counters })),
      console: { droppedOutput: this.machine.serial.droppedOutput },
    };
  }

  /**
   * Replaces the backing file of disk `device` (its index in config.devices). Requests in flight finish on the
   * old file; the promise resolves once it is closed. The new file must exist (read-write unless the disk is
   * readonly); a new size reaches the guest as a config change.
   */
  async swapDisk(device: number, file: string): Promise<void> {
    checkInteger('device', device, 0, Math.max(0, this.config.devices.length - 1));
    const p = path.resolve(this.baseDir, checkNonEmptyString('path', file));
    this.require('swap a disk', ['created', 'running', 'paused', 'stopping']);
    await this.machine.swapDisk(device, p);
    this.log.info({ device, path: p }, 'disk backing file swapped');
  }

  /**
   * Asks the guest's balloon driver to hold `mib` MiB of its memory (0 gives it all back); the driver moves toward
   * it at its own pace, balloonStats() shows how far it got.
   */
  setBalloonTarget(mib: number): void {
    checkInteger('mib', mib, 0, Math.floor(this.config.memory / MiB));
    this.require('set the balloon target', ['created', 'running', 'paused']);
    this.requireBalloon();
    this.machine.setBalloonTarget(mib);
  }

  /** The balloon's target and size in 4 KiB pages, the pages that passed its queues, the guest's last statistics. */
  balloonStats(): BalloonInfo {
    this.requireBalloon();
    return this.machine.balloonStats();
  }

  private requireBalloon(): void {
    if (!this.config.devices.some((d) => d.type === 'balloon')) {
      throw new VmError('ERR_VM_NO_DEVICE', 'this machine has no balloon device (add {type: balloon} to devices)');
    }
  }
}
