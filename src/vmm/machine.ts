// One microVM: KVM objects, boot, the legacy devices, its vCPU threads and how it ends. Several can live in one
// process; each owns its fds and threads and releases them when it ends, whatever ended it. Whatever goes wrong
// inside one machine (a device that throws, a vCPU thread that dies) ends that machine with reason 'error' and
// is reported through 'exit' and wait(); it never reaches the process or the other machines.
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import { ramRegions } from './boot/layout';
import { POWER_BUTTON_GSI } from './acpi';
import type { MachineConfig } from './config';
import { loadGuest } from './machine-load';
import { COM1, configFileError, I8042_PORTS, workerDeviceSpecs } from './machine-platform';
import type { MachineExit } from './exit-status';
import { hostQuirks, type HostQuirks } from './host-quirks';
import { KvmVm } from './kvm-vm';
import { HaltWatch } from './halt-watch';
import { PanicWatch } from './panic-watch';
import type { Vcpu } from './vcpu';
import type { ExitReason, WorkerMessage } from './vcpu-protocol';
import { DeviceOpError, VirtioDevices } from './virtio-devices';
import { pulseIrq } from './worker-devices';
import type { InputEvent } from '../devices/input';
import type { NetDirection } from '../devices/net/device';
import type { RateLimiterConfig } from '../devices/rate-limiter';
import { BalloonError, balloonTargetPages, type BalloonDevice, type BalloonInfo } from '../devices/balloon';
import type { ConsoleDevice } from '../devices/console';
import type { GpuDevice } from '../devices/gpu/device';
import { createI8042State, I8042Host } from '../devices/i8042';
import { createSerialState, SerialHost } from '../devices/serial-8250';
import type { SnapshotImage } from './snapshot/format';
import { checkSnapshotable, restoreSections, snapshotMachine, type MachineParts } from './snapshot/machine-state';
import { snapshotRam } from './snapshot/memory';
import type { VirtioDevice } from '../virtio-mmio/device';

/** How long a panicking guest gets to reboot itself (panic=N) before the VMM ends it. */
const PANIC_GRACE_MS = 3000;

export const NO_BALLOON_DEVICE = 'this machine has no balloon device (add {type: balloon} to devices)';

/** Where a machine is in its life: finishing from the first finish() until its threads are gone and fds closed. */
export type MachinePhase = 'created' | 'running' | 'finishing' | 'ended';


export interface MachineOptions {
  /** Default: silent. */
  logger?: Logger;
  /** Where the serial console's output goes; default: nowhere. */
  consoleOutput?: (chunk: Buffer) => void;
  /**
   * Make all of guest RAM resident before the guest runs (MADV_POPULATE_WRITE): no host page faults later, and the
   * whole of it counts in the VMM's RSS from the start. Default: pages become resident as the guest touches them.
   */
  prefaultMemory?: boolean;
  /** Build the machine from this snapshot (its config must be the one given) instead of loading a guest. */
  restore?: SnapshotImage;
}

/** What the 'device-error' event carries. */
export interface DeviceErrorEvent {
  /** Index in config.devices. */
  device: number;
  type: string;
  message: string;
  /**
   * false: the guest broke the device's protocol and the device now needs a reset (the machine goes on);
   * true: the device's code failed and the machine ends with reason 'error'.
   */
  fatal: boolean;
}

export class Machine extends EventEmitter {
  readonly vcpus: Vcpu[] = [];
  readonly serial: SerialHost;
  private readonly keyboard: I8042Host;
  private readonly quirks: HostQuirks;
  private readonly panicWatch: PanicWatch;
  private exitInfo: MachineExit | undefined;
  private finishing: Promise<MachineExit> | undefined;
  private resolveExit!: (e: MachineExit) => void;
  private readonly exited = new Promise<MachineExit>((r) => (this.resolveExit = r));
  private panicTimer: NodeJS.Timeout | undefined;
  private haltWatch: HaltWatch | undefined;
  private started = false;
  private ended = false;
  private virtio: VirtioDevices | undefined;
  /** While held, console output is dropped (and counted) instead of forwarded; the panic watch still sees it. */
  private consoleHeld = false;
  private heldDropped = 0;

  private constructor(readonly config: MachineConfig, private readonly vm: KvmVm, private readonly log: Logger,
    private readonly opts: MachineOptions) {
    super();
    this.quirks = hostQuirks(config.quirks);
    this.serial = new SerialHost(createSerialState(), { interrupt: () => pulseIrq(vm.vmFd, COM1.irq) });
    this.keyboard = new I8042Host(createI8042State(), { interrupt: () => pulseIrq(vm.vmFd, I8042_PORTS.irq) });
    this.panicWatch = new PanicWatch((line) => this.onPanic(line));
  }

  /** Creates the VM and loads the guest; nothing runs until start(). */
  static create(config: MachineConfig, opts: MachineOptions = {}): Machine {
    const image = opts.restore;
    const vm = KvmVm.create(ramRegions(config.memory),
      image?.ram === 'copy-on-write' ? { ram: (layout) => snapshotRam(image, layout) } : {});
    let m: Machine | undefined;
    try {
      if (opts.prefaultMemory) vm.ram.populate();
      m = new Machine(config, vm, opts.logger ?? pino({ level: 'silent' }), opts);
      m.attachVirtio();
      if (opts.restore) restoreSections(opts.restore, m.parts());
      else m.vcpus.push(...loadGuest(vm, config, m.virtio!, m.quirks, m.log));
      return m;
    } catch (e) {
      m?.virtio?.close();
      vm.close();
      throw configFileError(config, e);
    }
  }

  private attachVirtio(): void {
    this.virtio = new VirtioDevices(this.vm, this.config.devices, this.log, {
      failed: (device, message) => this.deviceError(device, message, false),
      threw: (device, e) => {
        this.deviceError(device, e instanceof Error ? e.message : String(e), true);
        void this.finish('error', `devices[${device}] failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      },
    });
  }

  private parts(): MachineParts {
    return { vm: this.vm, vcpus: this.vcpus, serial: this.serial.state, i8042: this.keyboard.state,
      virtio: this.virtio?.attached ?? [] };
  }

  /**
   * Writes a snapshot of this machine into `dir` (snapshotMachine). Every vCPU must be paused and stay paused
   * until this resolves; the console's pending output goes to its sink first, so none is lost or said twice.
   */
  async snapshot(dir: string): Promise<void> {
    checkSnapshotable(this.config);
    if (!this.started || this.finishing || !this.vcpus.every((v) => v.state === 'paused')) {
      throw new Error('a snapshot needs a started machine with every vCPU paused');
    }
    this.serial.flushOutput();
    await snapshotMachine(dir, this.config, this.parts(), () => this.virtio?.quiesce() ?? Promise.resolve());
  }

  get phase(): MachinePhase {
    if (this.ended) return 'ended';
    if (this.finishing) return 'finishing';
    return this.started ? 'running' : 'created';
  }

  /** Starts the vCPU threads; `paused` has each one pause before it first enters the guest. */
  start(paused = false): void {
    if (this.started) throw new Error('machine already started');
    this.started = true;
    this.serial.startOutput(this.consoleSink);
    const specs = workerDeviceSpecs(this.config, this.serial.state, this.keyboard.state,
      this.virtio?.attached.map((a) => a.spec) ?? []);
    for (const v of this.vcpus) {
      if (paused) v.pause();
      v.start(specs, this.quirks.int3, (m) => this.onWorkerMessage(m));
    }
    if (this.config.onHalt === 'end') {
      this.haltWatch = new HaltWatch(this.vcpus, () => this.guestExits(), () => this.onHalted());
      this.haltWatch.start();
    }
    this.emit('started');
  }

  private readonly consoleSink = (chunk: Buffer): void => {
    this.panicWatch.feed(chunk);
    if (this.consoleHeld) this.heldDropped += chunk.length;
    else this.opts.consoleOutput?.(chunk);
  };

  /**
   * Stops forwarding console output to consoleOutput, for a reader that cannot keep up: the UART goes on draining
   * (the guest is never slowed and a panic is still seen), and what arrives is dropped and counted in
   * droppedConsoleOutput until releaseConsole().
   */
  holdConsole(): void {
    this.consoleHeld = true;
  }

  releaseConsole(): void {
    this.consoleHeld = false;
  }

  /** The UART's input the guest has not read yet, its interrupt line and its interrupt enables. */
  consoleInputState(): { pending: number; line: number; ier: number } {
    return this.serial.inputState();
  }

  /** Console output bytes lost: the UART's (its ring was full too long) and those dropped while held. */
  get droppedConsoleOutput(): number {
    return this.serial.droppedOutput + this.heldDropped;
  }

  /**
   * Puts Ctrl-Alt-Del in the i8042 keyboard buffer (IRQ 1). Only a guest with an i8042 keyboard driver that does
   * not probe the keyboard hears it (Linux: CONFIG_SERIO_I8042, CONFIG_KEYBOARD_ATKBD, i8042.dumbkbd); it usually
   * reboots, which ends the machine. False when the keyboard buffer is full (the guest is not reading it).
   */
  sendCtrlAltDel(): boolean {
    if (!this.started || this.finishing) throw new Error('the machine is not running');
    return this.keyboard.sendCtrlAltDel();
  }

  /** Whether the guest has a power button: the DSDT's GED, so only with `acpi: on`. */
  get hasPowerButton(): boolean {
    return this.config.acpi === 'on';
  }

  /**
   * Presses the ACPI power button: an edge on the GED's line, which the guest's ACPI turns into KEY_POWER for its
   * user space (busybox acpid, systemd-logind), which usually powers off. False without ACPI (no button to press).
   */
  pressPowerButton(): boolean {
    if (!this.started || this.finishing) throw new Error('the machine is not running');
    if (!this.hasPowerButton) return false;
    // From the main thread only, so no other pulse on this line can interleave with this one.
    pulseIrq(this.vm.vmFd, POWER_BUTTON_GSI);
    return true;
  }

  /**
   * Replaces the backing file of disk `device` (an index in config.devices); resolves when the old one is closed.
   * A file that cannot be used is a DeviceOpError naming the device's path, with the fs error's code.
   */
  async swapDisk(device: number, file: string): Promise<void> {
    if (this.finishing || !this.virtio) throw new Error('the machine has ended');
    const resolved = path.resolve(file);
    try {
      await this.virtio.swapBacking(device, resolved);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (!(e instanceof Error) || err.path !== resolved || typeof err.code !== 'string') throw e;
      throw new DeviceOpError(`devices[${device}].path: ${err.message.split('\n')[0]!}`, err.code);
    }
  }

  private deviceError(device: number, message: string, fatal: boolean): void {
    const ev: DeviceErrorEvent = { device, type: this.config.devices[device]?.type ?? 'unknown', message, fatal };
    this.log[fatal ? 'error' : 'warn'](ev, 'device error');
    this.emit('device-error', ev);
  }

  private onWorkerMessage(m: WorkerMessage): void {
    try {
      this.handleWorkerMessage(m);
    } catch (e) {
      void this.finish('error', `handling a vCPU ${m.vcpu} ${m.type} message failed: ${(e as Error).stack ?? String(e)}`);
    }
  }

  private handleWorkerMessage(m: WorkerMessage): void {
    switch (m.type) {
      case 'exit':
        this.onVcpuExit(m.reason, m.detail);
        break;
      case 'log':
        this.log[m.level]({ vcpu: m.vcpu }, m.msg);
        break;
      case 'state':
        this.emit('vcpu-state', m.vcpu, m.state);
        break;
      case 'device-event':
        this.virtio?.handleEvent(m.device, m.event);
        break;
    }
  }

  private onPanic(line: string): void {
    this.log.error(`guest panic: ${line}`);
    this.emit('panic', line);
    this.panicTimer = setTimeout(() => void this.finish('panic', line), PANIC_GRACE_MS);
  }

  /** The guest's exits to user space so far, all vCPUs, leaving out the interrupted KVM_RUNs that kicks cause. */
  private guestExits(): number {
    let n = 0;
    for (const v of this.vcpus) {
      const c = v.counters();
      n += c.io + c.mmio + c.hlt + c.fastMmio + c.unhandledIo + c.unhandledMmio + c.emulationQuirks + c.other;
    }
    return n;
  }

  private onVcpuExit(reason: ExitReason, detail: string): void {
    const panic = this.panicSeen();
    void this.finish(panic !== undefined && reason === 'reset' ? 'panic' : reason, panic ?? detail);
  }

  /**
   * The guest's panic line, if it printed one. A guest that resets or halts right after its panic (panic=-1) may
   * leave that line in the UART's ring while the drain loop waits for its turn, so the ring is taken first.
   */
  private panicSeen(): string | undefined {
    this.serial.flushOutput();
    return this.panicWatch.panicLine;
  }

  private onHalted(): void {
    const panic = this.panicSeen();
    if (panic !== undefined) void this.finish('panic', panic);
    else void this.finish('halted', 'every vCPU halted with interrupts off: the guest stopped for good (onHalt: end)');
  }

  /** Ends the machine (first caller wins): stops every vCPU thread, drains the console, closes every fd. */
  finish(reason: ExitReason, detail: string, signal?: NodeJS.Signals): Promise<MachineExit> {
    if (this.finishing) return this.finishing;
    this.exitInfo = signal ? { reason, detail, signal } : { reason, detail };
    this.finishing = (async () => {
      if (this.panicTimer) clearTimeout(this.panicTimer);
      this.haltWatch?.stop();
      await Promise.all(this.vcpus.map((v) => v.stop()));
      // Closing the VM unmaps guest RAM at once: a thread-pool read still writing into it must be done first.
      await this.virtio?.quiesce().catch((e: unknown) => this.log.error({ err: e }, 'waiting for device I/O failed'));
      this.step('draining the console', () => {
        this.serial.stopOutput();
        const rest = this.serial.flushOutput(); // also what a held console kept in the ring
        if (rest.length > 0) this.consoleSink(rest);
      });
      this.step('closing the devices', () => this.virtio?.close());
      this.step('closing the VM', () => this.vm.close());
      const exit = this.exitInfo!;
      this.ended = true;
      this.resolveExit(exit);
      this.emit('exit', exit);
      return exit;
    })();
    return this.finishing;
  }

  /** One step of the teardown: a failure is logged and the next step still runs. */
  private step(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.log.error({ err: e }, `${what} failed`);
    }
  }

  stop(detail = 'stopped by the VMM'): Promise<MachineExit> {
    return this.finish('stopped', detail);
  }

  wait(): Promise<MachineExit> {
    return this.exited;
  }

  /** The virtio console whose backend is stdio, when the config has one: a terminal's input belongs there. */
  get stdioConsole(): ConsoleDevice | undefined {
    return this.virtio?.stdioConsole();
  }

  /** The model behind devices[index] (to feed a console's input, say), or undefined when there is none. */
  virtioDevice(index: number): VirtioDevice | undefined {
    return this.virtio?.attached[index]?.transport.device;
  }

  /** Per virtio device, in config order: the device's own counters (requests, bytes, errors, ...), then the
   *  transport's (notifies, interrupts, failures, badAccesses). */
  deviceCounters(): Record<string, number>[] {
    return this.virtio?.counters() ?? [];
  }

  /**
   * Asks the guest's balloon driver to hold `mib` MiB (0 deflates it completely): updates num_pages and raises a
   * configuration change interrupt. The driver moves toward it at its own pace; balloonStats() shows how far it got.
   */
  setBalloonTarget(mib: number): void {
    const balloon = this.requireBalloon();
    const pages = balloonTargetPages(mib, this.config.memory);
    // Once the machine ends its interrupt lines are closed fds.
    if (this.finishing) throw new BalloonError('the machine has ended');
    balloon.setTargetPages(pages);
  }

  /** The balloon's target and size in 4 KiB pages, the pages that passed its queues, and the guest's last statistics. */
  balloonStats(): BalloonInfo {
    return this.requireBalloon().info();
  }

  /**
   * Queues events on input device `device` (an index in config.devices) for the guest; how many were queued (the
   * rest were dropped: the guest is not reading them). Undefined when that device is not a keyboard or tablet.
   */
  sendInput(device: number, events: readonly InputEvent[]): number | undefined {
    if (!this.started || this.finishing) throw new Error('the machine is not running');
    return this.virtio?.input(device)?.inject(events);
  }

  /** How many more events input device `device` would queue now; undefined when it is not a keyboard or tablet. */
  inputRoom(device: number): number | undefined {
    return this.virtio?.input(device)?.room();
  }

  /**
   * Sets the rate limits of disk or network device `device` (an index in config.devices; undefined: none), of a
   * network device's `direction` or of both. False when that device has no rate limiter.
   */
  setRateLimiter(device: number, limiter: RateLimiterConfig | undefined, direction?: NetDirection): boolean {
    if (this.finishing) throw new Error('the machine has ended');
    return this.virtio?.setRateLimiter(device, limiter, direction) ?? false;
  }

  /** The machine's balloon device, when it has one. */
  get balloon(): BalloonDevice | undefined {
    return this.virtio?.balloon;
  }

  /** The machine's gpu device, when it has one. */
  get gpu(): GpuDevice | undefined {
    return this.virtio?.gpu;
  }

  private requireBalloon(): BalloonDevice {
    const b = this.balloon;
    if (b === undefined) throw new BalloonError(NO_BALLOON_DEVICE);
    return b;
  }
}
