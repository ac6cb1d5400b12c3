// Puts the configured virtio devices on the machine: a virtio-mmio window and IRQ each, an irqfd for the
// interrupt, one ioeventfd per queue so a guest notify never leaves the kernel until the main loop reads it, and
// the `virtio_mmio.device=` entries the guest needs to find them. Device code runs from event-loop callbacks that
// no caller can catch, so every entry into a device is guarded: notifies and register events here, the device's
// own sockets and timers through DeviceHost.threw. A device that throws is reported to the machine, which ends
// that machine alone.
import * as path from 'node:path';
import type { Logger } from 'pino';
import { virtioMmioDeviceParam } from './boot/cmdline';
import { virtioMmioSlot } from './boot/layout';
import { ConfigError, type ConsoleDeviceConfig, type DeviceConfig, type SndDeviceConfig } from './config';
import type { KvmVm } from './kvm-vm';
import type { DmaMemory } from '../base/guest-memory';
import { native, type FdWatcher } from '../base/native';
import type { WorkerDeviceSpec } from './vcpu-protocol';
import * as fs from 'node:fs';
import { BalloonDevice } from '../devices/balloon';
import { BlkDevice, type BackingSwap } from '../devices/blk';
import { ConsoleDevice } from '../devices/console';
import { ConsoleSocket } from '../devices/console-socket';
import { writeAllSync } from '../devices/file-io';
import { openTap, TapError } from '../devices/net/backend';
import { NetDevice, type NetDirection } from '../devices/net/device';
import type { RateLimiterConfig } from '../devices/rate-limiter';
import { CryptoDevice } from '../devices/crypto/device';
import { FsDevice } from '../devices/fs/device';
import { GpuDevice } from '../devices/gpu/device';
import { RngDevice } from '../devices/rng';
import { ScsiDevice } from '../devices/scsi/device';
import { SndBackendError, WavSink, WavSource, type CaptureSource } from '../devices/snd/backends';
import { SndDevice } from '../devices/snd/device';
import { ScsiDiskError } from '../devices/scsi/disk';
import { InputDevice } from '../devices/input';
import { IommuDevice } from '../devices/iommu/device';
import { VsockDevice } from '../devices/vsock/device';
import { VsockError } from '../devices/vsock/errors';
import type { VirtioDevice } from '../virtio-mmio/device';
import { REG } from '../virtio-mmio/registers';
import { createTransportState, type TransportEvent } from '../virtio-mmio/state';
import { MmioTransport } from '../virtio-mmio/transport';

export interface AttachedVirtio {
  type: DeviceConfig['type'];
  transport: MmioTransport;
  spec: WorkerDeviceSpec;
  cmdline: string;
  /** The queue-notify ioeventfds, one per queue. */
  notifyFds: number[];
}

export interface VirtioHooks {
  /** The transport failed the device (DEVICE_NEEDS_RESET): the guest broke the protocol; the machine goes on. */
  failed(device: number, reason: string): void;
  /** Device code threw: a VMM bug, which ends the machine. */
  threw(device: number, error: unknown): void;
}

/** A device with a file behind it that can be replaced at run time (a disk). */
interface SwappableBacking {
  readonly backingPath: string;
  swapBacking(file: string): BackingSwap;
}

function swappable(device: unknown): SwappableBacking | undefined {
  const d = device as Partial<SwappableBacking>;
  return typeof d.swapBacking === 'function' && typeof d.backingPath === 'string' ? d as SwappableBacking : undefined;
}

/** Why a device operation the host asked for cannot be done (no such device, wrong kind, a file it cannot use). */
export class DeviceOpError extends Error {
  constructor(message: string, readonly code: 'ENODEV' | 'EINVAL' | 'EBUSY' | (string & {})) {
    super(message);
    this.name = 'DeviceOpError';
  }
}

/** Wraps a callback the event loop makes into device `index` (see fromEventLoop). */
type Guard = <A extends unknown[]>(fn: (...args: A) => void) => (...args: A) => void;

function createConsole(c: ConsoleDeviceConfig, index: number, log: Logger, guard: Guard): ConsoleDevice {
  if (c.backend === 'stdio') return new ConsoleDevice((chunk) => process.stdout.write(chunk));
  if (c.backend === 'file') {
    const fd = fs.openSync(c.path!, 'a');
    return new ConsoleDevice((chunk) => writeAllSync(fd, chunk), () => fs.closeSync(fd));
  }
  let device: ConsoleDevice | undefined;
  const socket = new ConsoleSocket(c.path!, {
    onInput: guard((bytes: Buffer) => device?.input(bytes)),
    onError: (e) => log.error({ device: index }, `devices[${index}].path: console socket: ${e.message}`),
  });
  device = new ConsoleDevice((chunk) => socket.write(chunk), () => socket.close());
  return device;
}

/** A sound card with its files open: the capture file is read first, so a bad one leaves no recording behind. */
function createSnd(c: SndDeviceConfig, index: number, log: Logger): SndDevice {
  const capture: CaptureSource | undefined = c.capture.backend === 'wav' ? new WavSource(c.capture.path) : undefined;
  try {
    const playback = c.playback.backend === 'wav' ? new WavSink(c.playback.path) : undefined;
    return new SndDevice({ playback, capture, warn: (m) => log.warn({ device: index }, m) });
  } catch (e) {
    capture?.close();
    throw e;
  }
}

/**
 * A device's own error about what its config entry asked for (a tap it may not open, a socket path taken), as a
 * ConfigError naming that entry's field; anything else unchanged. Devices know nothing of the config's fields.
 */
export function deviceConfigError(index: number, e: unknown): unknown {
  if (e instanceof TapError) return new ConfigError(`devices[${index}].tap`, e.message);
  if (e instanceof VsockError) return new ConfigError(`devices[${index}].socket`, e.message);
  if (e instanceof ScsiDiskError) return new ConfigError(`devices[${index}].disks[${e.disk}].path`, e.message);
  if (e instanceof SndBackendError) return new ConfigError(`devices[${index}].${e.stream}.path`, e.message);
  return e;
}

function createDevice(c: DeviceConfig, index: number, vm: KvmVm, log: Logger, guard: Guard,
  iommu: IommuDevice | undefined): VirtioDevice {
  switch (c.type) {
    case 'balloon':
      return new BalloonDevice({ ...c, discard: (gpa, length) => vm.ram.discard(gpa, length), log });
    case 'rng': return new RngDevice(c.rateLimit);
    case 'blk': return new BlkDevice(c);
    case 'console': return createConsole(c, index, log, guard);
    case 'net': {
      const tap = openTap(c.tap);
      const dev = new NetDevice(tap, {
        mac: c.mac, warn: (m) => log.warn({ device: index }, m), rxRateLimiter: c.rxRateLimiter,
        txRateLimiter: c.txRateLimiter,
      });
      const mac = Array.from(dev.mac, (b) => b.toString(16).padStart(2, '0')).join(':');
      log.info({ device: index, tap: tap.name, mac }, `virtio-net on tap ${tap.name}, guest MAC ${mac}`);
      return dev;
    }
    case 'vsock': return new VsockDevice({ cid: c.cid, socket: c.socket, log });
    case 'fs': return new FsDevice(c);
    case 'input': return new InputDevice(c.kind);
    case 'iommu': return iommu!;
    case 'gpu': return new GpuDevice({ width: c.width, height: c.height, scanouts: c.scanouts });
    case 'scsi': return new ScsiDevice(c);
    case 'crypto': return new CryptoDevice({ maxSessions: c.maxSessions });
    case 'snd': return createSnd(c, index, log);
    default: {
      const unknown: never = c;
      throw new ConfigError(`devices[${index}].type`, `${(unknown as DeviceConfig).type} is not a device type`);
    }
  }
}

export class VirtioDevices {
  readonly attached: AttachedVirtio[] = [];
  private readonly watchers: FdWatcher[] = [];

  constructor(vm: KvmVm, private readonly configs: DeviceConfig[], log: Logger, private readonly hooks: VirtioHooks) {
    try {
      this.attach(vm, configs, log);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private attach(vm: KvmVm, configs: DeviceConfig[], log: Logger): void {
    // The IOMMU comes first, wherever it is in the list: the devices behind it are given their memory by it.
    const iommu = this.createIommu(configs);
    configs.forEach((c, i) => {
      let device: VirtioDevice;
      try {
        device = createDevice(c, i, vm, log, (fn) => (...args) => this.guarded(i, () => fn(...args)), iommu);
      } catch (e) {
        throw deviceConfigError(i, e);
      }
      try {
        this.attachOne(vm, device, i, log, c.iommu === true ? iommu?.endpointMemory(i, vm.memory) : undefined);
      } catch (e) {
        device.close?.();
        throw e;
      }
    });
  }

  /**
   * The machine's IOMMU, if it has one: endpoint IDs are the indexes of the devices behind it, and a reply that
   * takes translations away waits for the I/O those devices have in flight.
   */
  private createIommu(configs: DeviceConfig[]): IommuDevice | undefined {
    if (!configs.some((c) => c.type === 'iommu')) return undefined;
    const endpoints = configs.flatMap((c, i) => (c.iommu === true ? [i] : []));
    return new IommuDevice({ endpoints, drain: (id) => this.attached[id]?.transport.device.quiesce?.() });
  }

  private attachOne(vm: KvmVm, device: VirtioDevice, i: number, log: Logger, platformMemory?: DmaMemory): void {
    const n = native();
    const slot = virtioMmioSlot(i);
    const irqFd = vm.own(n.eventfdCreate());
    n.irqfd(vm.vmFd, irqFd, slot.irq);
    const transport = new MmioTransport(device, createTransportState(), {
      memory: vm.memory,
      platformMemory,
      raiseIrq: () => n.eventfdWrite(irqFd),
      log,
      onFail: (reason) => this.hooks.failed(i, reason),
      onThrow: (e) => this.hooks.threw(i, e),
    });
    const notifyFds: number[] = [];
    device.queueMaxSizes.forEach((_, q) => {
      const efd = vm.own(n.eventfdCreate());
      notifyFds.push(efd);
      n.ioeventfd(vm.vmFd, efd, slot.base + REG.QUEUE_NOTIFY, 4, q, false);
      this.watchers.push(new n.FdWatcher(efd, () => this.guarded(i, () => transport.notify(q)), true));
    });
    this.attached.push({
      type: this.configs[i]!.type,
      transport,
      spec: { kind: 'virtio-mmio', space: 'mmio', base: slot.base, length: slot.size, state: transport.state, device: i },
      cmdline: `virtio_mmio.device=${virtioMmioDeviceParam(slot)}`,
      notifyFds,
    });
  }

  /** The first virtio console whose backend is this process's stdio: the terminal's input goes there. */
  stdioConsole(): ConsoleDevice | undefined {
    const i = this.configs.findIndex((c) => c.type === 'console' && c.backend === 'stdio');
    return i < 0 ? undefined : this.attached[i]?.transport.device as ConsoleDevice | undefined;
  }

  /** The machine's balloon, if it has one. */
  get balloon(): BalloonDevice | undefined {
    for (const a of this.attached) if (a.transport.device instanceof BalloonDevice) return a.transport.device;
    return undefined;
  }

  /** The machine's gpu, if it has one (at most one). */
  get gpu(): GpuDevice | undefined {
    for (const a of this.attached) if (a.transport.device instanceof GpuDevice) return a.transport.device;
    return undefined;
  }

  /** Device `index` of the config when it is a keyboard or tablet. */
  input(index: number): InputDevice | undefined {
    const d = this.attached[index]?.transport.device;
    return d instanceof InputDevice ? d : undefined;
  }

  /**
   * Sets the rate limits of disk or network device `index` (undefined: none): a network device's `direction`, or
   * both directions when it is left out. False when that device has no rate limiter.
   */
  setRateLimiter(index: number, limiter: RateLimiterConfig | undefined, direction?: NetDirection): boolean {
    const d = this.attached[index]?.transport.device;
    if (d instanceof BlkDevice && direction === undefined) {
      d.setRateLimiter(limiter);
      return true;
    }
    if (!(d instanceof NetDevice)) return false;
    for (const dir of direction === undefined ? ['rx', 'tx'] as const : [direction]) d.setRateLimiter(dir, limiter);
    return true;
  }

  handleEvent(device: number, event: unknown): void {
    const a = this.attached[device];
    if (a) this.guarded(device, () => a.transport.handleEvent(event as TransportEvent));
  }

  private guarded(device: number, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.hooks.threw(device, e);
    }
  }

  counters(): Record<string, number>[] {
    return this.attached.map((a) => ({ ...a.transport.device.counters(), ...a.transport.stats,
      badAccesses: a.transport.badAccesses }));
  }

  /**
   * Replaces device `index`'s backing file with `file` (resolved against the current directory). Resolves when
   * the old file is closed. Throws DeviceOpError, or the fs error of a file that cannot be used.
   */
  async swapBacking(index: number, file: string): Promise<void> {
    const a = this.attached[index];
    if (!a) throw new DeviceOpError(`devices[${index}]: no such device (the machine has ${this.attached.length})`, 'ENODEV');
    const dev = swappable(a.transport.device);
    if (!dev) throw new DeviceOpError(`devices[${index}]: a ${a.type} device has no backing file to swap`, 'EINVAL');
    const resolved = path.resolve(file);
    const other = this.attached.findIndex((b, i) => i !== index && swappable(b.transport.device)?.backingPath === resolved);
    if (other >= 0) throw new DeviceOpError(`devices[${index}]: ${resolved} is already attached as devices[${other}]`, 'EBUSY');
    await dev.swapBacking(resolved).retired;
  }

  /** Resolves once no device has I/O into guest memory in flight (on libuv's thread pool). */
  async quiesce(): Promise<void> {
    await Promise.all(this.attached.map((a) => a.transport.device.quiesce?.() ?? Promise.resolve()));
  }

  close(): void {
    for (const w of this.watchers.splice(0)) w.close();
    for (const a of this.attached) {
      a.transport.device.reset();
      a.transport.device.close?.();
    }
  }
}
