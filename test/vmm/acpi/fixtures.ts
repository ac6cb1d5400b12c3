import { ACPI_PM_PORT, POWER_BUTTON_GSI, type AcpiPlatform } from '../../../src/vmm/acpi';
import { virtioMmioSlot } from '../../../src/vmm/boot/layout';

/** The machine's fixed devices and `virtio` devices in the first slots. */
export function platform(vcpus: number, virtio: number): AcpiPlatform {
  return {
    vcpus,
    serial: { port: 0x3f8, irq: 4 },
    i8042: { port: 0x60, irq: 1 },
    pmPort: ACPI_PM_PORT,
    virtio: Array.from({ length: virtio }, (_, i) => virtioMmioSlot(i)),
    powerButtonGsi: POWER_BUTTON_GSI,
  };
}

