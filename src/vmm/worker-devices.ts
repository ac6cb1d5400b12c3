// The register side of each device kind, built on a vCPU worker from the spec the main thread sent. One table of
// constructors: adding a device kind that answers registers on the vCPU thread means adding a row here.
import { parentPort } from 'node:worker_threads';
import { Bus, type BusDevice } from '../base/bus';
import { native } from '../base/native';
import type { WorkerDeviceSpec, WorkerMessage } from './vcpu-protocol';
import { Serial8250 } from '../devices/serial-8250';
import { I8042 } from '../devices/i8042';
import { AcpiPm } from '../devices/acpi-pm';
import { MmioRegisters } from '../virtio-mmio/mmio-registers';

export interface WorkerDeviceContext {
  vcpu: number;
  vmFd: number;
  post(msg: WorkerMessage): void;
  /** Makes this vCPU leave its run loop after the current exit (the main thread stops the others). */
  stopVcpu(): void;
}

/** An ISA interrupt as an edge: raise then lower the line through the in-kernel PIC / IOAPIC. */
export function pulseIrq(vmFd: number, irq: number): void {
  const n = native();
  n.irqLine(vmFd, irq, 1);
  n.irqLine(vmFd, irq, 0);
}

class FixedValue implements BusDevice {
  constructor(private readonly value: number) {}
  read(_offset: number, data: Uint8Array): void { data.fill(this.value); }
  write(): void {}
}

/** Ignored ACPI register writes logged per vCPU: a guest writing them in a loop must not flood the main thread. */
const ACPI_IGNORED_LOGS = 8;

function acpiPm(ctx: WorkerDeviceContext): AcpiPm {
  const end = (reason: 'poweroff' | 'reset', detail: string): void => {
    ctx.post({ type: 'exit', vcpu: ctx.vcpu, reason, detail });
    ctx.stopVcpu();
  };
  let logged = 0;
  return new AcpiPm({
    powerOff: () => end('poweroff', 'the guest entered ACPI S5 (soft off)'),
    reset: () => end('reset', 'the guest wrote the ACPI reset register'),
    ignored: (what) => {
      if (logged++ < ACPI_IGNORED_LOGS) ctx.post({ type: 'log', vcpu: ctx.vcpu, level: 'debug', msg: `ACPI: ignored ${what}` });
    },
  });
}

type Factory<K extends WorkerDeviceSpec['kind']> =
  (spec: Extract<WorkerDeviceSpec, { kind: K }>, ctx: WorkerDeviceContext) => BusDevice;

const factories: { [K in WorkerDeviceSpec['kind']]: Factory<K> } = {
  serial: (spec, ctx) => new Serial8250(spec.state, { interrupt: () => pulseIrq(ctx.vmFd, spec.irq) }),
  i8042: (spec, ctx) =>
    new I8042({
      state: spec.state,
      interrupt: () => pulseIrq(ctx.vmFd, spec.irq),
      onReset: () => {
        ctx.post({ type: 'exit', vcpu: ctx.vcpu, reason: 'reset', detail: 'the guest pulsed the i8042 reset line' });
        ctx.stopVcpu();
      },
    }),
  ignore: (spec) => new FixedValue(spec.readValue),
  'acpi-pm': (_spec, ctx) => acpiPm(ctx),
  'virtio-mmio': (spec, ctx) =>
    new MmioRegisters(spec.state, {
      post: (event) => ctx.post({ type: 'device-event', vcpu: ctx.vcpu, device: spec.device, event }),
    }),
};

export function buildBuses(specs: WorkerDeviceSpec[], ctx: WorkerDeviceContext): { pio: Bus; mmio: Bus } {
  const pio = new Bus();
  const mmio = new Bus();
  for (const spec of specs) {
    const make = factories[spec.kind] as Factory<typeof spec.kind>;
    const device = make(spec, ctx);
    (spec.space === 'pio' ? pio : mmio).insert(spec.base, spec.length, device);
  }
  return { pio, mmio };
}

export function postToMain(msg: WorkerMessage): void {
  parentPort?.postMessage(msg);
}
