// The DSDT's AML: \_S5 (so an OS knows how to power off through the FADT's sleep control register) and, under
// \_SB, the devices the machine has that the OS cannot discover: the 8250 UART, the i8042 keyboard controller and
// one LNRO0005 (virtio-mmio, as Linux's driver matches it) per attached virtio device. Nothing is evaluated at run
// time: every object is a Name, so the guest's interpreter never calls back into the VMM.
import { S5_SLEEP_TYPE } from '../../devices/acpi-pm';
import type { VirtioMmioSlot } from '../boot/layout';
import { concat, device, eisaId, integer, name, pkg, scope, string, type Aml } from './aml';
import { edgeInterrupt, ioPorts, irqNoFlags, memory32Fixed, resourceTemplate } from './resources';

/** What the ACPI tables describe: the CPUs, the fixed legacy devices and the virtio-mmio windows in use. */
export interface AcpiPlatform {
  vcpus: number;
  /** 8250 UART (COM1). */
  serial: { port: number; irq: number };
  /** i8042: its data port; the command port is data + 4. */
  i8042: { port: number; irq: number };
  /** First port of the sleep control, sleep status and reset registers (src/devices/acpi-pm.ts). */
  pmPort: number;
  /** The virtio-mmio slots in use, in slot order. */
  virtio: VirtioMmioSlot[];
}

export const VIRTIO_MMIO_HID = 'LNRO0005';
const I8042_COMMAND_DELTA = 4;

/** Two letters and two hex digits: a NameSeg for each of up to 256 virtio devices. */
export function virtioDeviceName(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 0xff) throw new RangeError(`virtio device ${index}`);
  return `VR${index.toString(16).toUpperCase().padStart(2, '0')}`;
}

function serial(s: AcpiPlatform['serial']): Aml {
  return device('COM1',
    name('_HID', eisaId('PNP0501')),
    name('_UID', integer(1)),
    name('_CRS', resourceTemplate(ioPorts(s.port, 8), irqNoFlags(s.irq))));
}

function keyboard(k: AcpiPlatform['i8042']): Aml {
  return device('PS2K',
    name('_HID', eisaId('PNP0303')),
    name('_CRS', resourceTemplate(ioPorts(k.port, 1), ioPorts(k.port + I8042_COMMAND_DELTA, 1), irqNoFlags(k.irq))));
}

function virtioMmio(slot: VirtioMmioSlot, index: number): Aml {
  return device(virtioDeviceName(index),
    name('_HID', string(VIRTIO_MMIO_HID)),
    name('_UID', integer(index)),
    name('_CRS', resourceTemplate(memory32Fixed(slot.base, slot.size), edgeInterrupt(slot.irq))));
}

/** The DSDT's body (what follows its 36-byte header). */
export function dsdtBody(p: AcpiPlatform): Aml {
  // \_S5: SLP_TYP for the A and B registers, then two reserved values. Hardware-reduced ACPI has only the A one.
  const s5 = name('_S5', pkg(integer(S5_SLEEP_TYPE), integer(0), integer(0), integer(0)));
  return concat([
    s5,
    scope('\\_SB', serial(p.serial), keyboard(p.i8042), ...p.virtio.map(virtioMmio)),
  ]);
}
