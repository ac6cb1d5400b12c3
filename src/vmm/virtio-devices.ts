// Puts the configured virtio devices on the machine: a virtio-mmio window and IRQ each, an irqfd for the
// interrupt, one ioeventfd per queue so a guest notify never leaves the kernel until the main loop reads it, and
// the `virtio_mmio.device=` entries the guest needs to find them.
import type { Logger } from 'pino';
import { virtioMmioDeviceParam } from './boot/cmdline';
import { virtioMmioSlot } from './boot/layout';
import { ConfigError, type DeviceConfig } from './config';
import type { KvmVm } from './kvm-vm';
import { native, type FdWatcher } from './native';
import type { WorkerDeviceSpec } from './vcpu-protocol';
import * as fs from 'node:fs';
import { BlkDevice } from '../devices/blk';
import { ConsoleDevice } from '../devices/console';
import { FsDevice } from '../devices/fs/device';
import { RngDevice } from '../devices/rng';
import type { VirtioDevice } from '../virtio-mmio/device';
import { REG } from '../virtio-mmio/registers';
import { createTransportState, type TransportEvent } from '../virtio-mmio/state';
import { MmioTransport } from '../virtio-mmio/transport';

export interface AttachedVirtio {
  transport: MmioTransport;
  spec: WorkerDeviceSpec;
  cmdline: string;
}

function createDevice(c: DeviceConfig, index: number): VirtioDevice {
  switch (c.type) {
    case 'rng': return new RngDevice(c.rateLimit);
    case 'blk': return new BlkDevice(c);
    case 'fs': return new FsDevice(c);
    case 'console':
      if (c.backend === 'stdio') return new ConsoleDevice((chunk) => process.stdout.write(chunk));
      if (c.backend === 'file') {
        const fd = fs.openSync(c.path!, 'a');
        return new ConsoleDevice((chunk) => fs.writeSync(fd, chunk), () => fs.closeSync(fd));
      }
      throw new ConfigError(`devices[${index}].backend`, 'socket consoles are not implemented yet (use stdio or file)');
    default:
      throw new ConfigError(`devices[${index}].type`, `${c.type} devices are not implemented yet (available: rng, blk, console, fs)`);
  }
}

export class VirtioDevices {
  readonly attached: AttachedVirtio[] = [];
  private readonly watchers: FdWatcher[] = [];

  constructor(vm: KvmVm, configs: DeviceConfig[], log: Logger) {
    try {
      this.attach(vm, configs, log);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private attach(vm: KvmVm, configs: DeviceConfig[], log: Logger): void {
    const n = native();
    configs.forEach((c, i) => {
      const device = createDevice(c, i);
      const slot = virtioMmioSlot(i);
      const irqFd = vm.own(n.eventfdCreate());
      n.irqfd(vm.vmFd, irqFd, slot.irq);
      const transport = new MmioTransport(device, createTransportState(), {
        memory: vm.memory,
        raiseIrq: () => n.eventfdWrite(irqFd),
        log,
      });
      device.queueMaxSizes.forEach((_, q) => {
        const efd = vm.own(n.eventfdCreate());
        n.ioeventfd(vm.vmFd, efd, slot.base + REG.QUEUE_NOTIFY, 4, q, false);
        this.watchers.push(new n.FdWatcher(efd, () => transport.notify(q), true));
      });
      this.attached.push({
        transport,
        spec: { kind: 'virtio-mmio', space: 'mmio', base: slot.base, length: slot.size, state: transport.state, device: i },
        cmdline: `virtio_mmio.device=${virtioMmioDeviceParam(slot)}`,
      });
    });
  }

  handleEvent(device: number, event: unknown): void {
    this.attached[device]?.transport.handleEvent(event as TransportEvent);
  }

  counters(): Record<string, number>[] {
    return this.attached.map((a) => ({ ...a.transport.device.counters(), ...a.transport.stats,
      badAccesses: a.transport.badAccesses }));
  }

  close(): void {
    for (const w of this.watchers.splice(0)) w.close();
    for (const a of this.attached) {
      a.transport.device.reset();
      a.transport.device.close?.();
    }
  }
}
