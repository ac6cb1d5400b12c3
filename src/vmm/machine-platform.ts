// The fixed parts of a machine's layout, as data: where the legacy devices sit, what the ACPI tables describe, and
// which regions each vCPU thread answers itself. Pure functions of the config (and of the states the threads
// share), so the Machine class keeps only what changes at run time.
import { ACPI_PM_PORT, POWER_BUTTON_GSI, type AcpiPlatform } from './acpi';
import { virtioMmioSlot } from './boot/layout';
import { ConfigError, type MachineConfig } from './config';
import type { WorkerDeviceSpec } from './vcpu-protocol';
import { ACPI_PM_LENGTH } from '../devices/acpi-pm';

export const COM1 = { port: 0x3f8, irq: 4 };
export const I8042_PORTS = { port: 0x60, irq: 1 };

/** An fs error about a file the config names, as a ConfigError naming that field; anything else unchanged. */
export function configFileError(config: MachineConfig, e: unknown): unknown {
  const file = (e as NodeJS.ErrnoException | undefined)?.path;
  if (!(e instanceof Error) || typeof file !== 'string') return e;
  const message = e.message.split('\n')[0]!;
  if (file === config.kernel) return new ConfigError('kernel', message);
  if (file === config.initrd) return new ConfigError('initrd', message);
  for (const [i, device] of config.devices.entries()) {
    for (const [key, value] of Object.entries(device)) {
      if (value === file) return new ConfigError(`devices[${i}].${key}`, message);
    }
  }
  return e;
}

/** What the DSDT, MADT and VIOT describe for `config` with `virtioCount` virtio-mmio windows. */
export function acpiPlatform(config: MachineConfig, virtioCount: number): AcpiPlatform {
  return {
    vcpus: config.vcpus,
    serial: { port: COM1.port, irq: COM1.irq },
    i8042: { port: I8042_PORTS.port, irq: I8042_PORTS.irq },
    pmPort: ACPI_PM_PORT,
    virtio: Array.from({ length: virtioCount }, (_, i) => virtioMmioSlot(i)),
    powerButtonGsi: POWER_BUTTON_GSI,
    iommu: iommuPlatform(config),
  };
}

/** The virtio-iommu's window and the devices behind it (endpoint ID = index in `devices`), for the VIOT. */
function iommuPlatform(config: MachineConfig): AcpiPlatform['iommu'] {
  const devices = config.devices;
  const at = devices.findIndex((d) => d.type === 'iommu');
  if (at < 0) return undefined;
  const endpoints = devices.flatMap((d, i) => (d.iommu === true ? [{ id: i, base: virtioMmioSlot(i).base }] : []));
  return { base: virtioMmioSlot(at).base, endpoints };
}

/** The regions every vCPU thread answers: ACPI's registers, the UART, the i8042, port 0x80, then the virtio windows. */
export function workerDeviceSpecs(config: MachineConfig, serial: SharedArrayBuffer, keyboard: SharedArrayBuffer,
  virtio: readonly WorkerDeviceSpec[]): WorkerDeviceSpec[] {
  const acpi: WorkerDeviceSpec[] = config.acpi === 'on'
    ? [{ kind: 'acpi-pm', space: 'pio', base: ACPI_PM_PORT, length: ACPI_PM_LENGTH }]
    : [];
  return [
    ...acpi,
    { kind: 'serial', space: 'pio', base: COM1.port, length: 8, state: serial, irq: COM1.irq },
    { kind: 'i8042', space: 'pio', base: I8042_PORTS.port, length: 5, state: keyboard, irq: I8042_PORTS.irq },
    // Port 0x80 is Linux's I/O delay port: a write there only needs to be accepted.
    { kind: 'ignore', space: 'pio', base: 0x80, length: 1, readValue: 0 },
    ...virtio,
  ];
}
