// The DSDT's AML: \_S5 (so an OS knows how to power off through the FADT's sleep control register) and, under
// \_SB, the devices the machine has that the OS cannot discover: the 8250 UART, the i8042 keyboard controller and
// one LNRO0005 (virtio-mmio, as Linux's driver matches it) per attached virtio device, and a power button behind a
// Generic Event Device. Every object is a Name but the GED's _EVT, whose only statement notifies the button: the
// guest's interpreter never reads a register of the VMM's, so the VMM has no AML-visible state to keep.
import { S5_SLEEP_TYPE } from '../../devices/acpi-pm';
import type { VirtioMmioSlot } from '../boot/layout';
import { concat, device, eisaId, integer, method, name, notify, pkg, scope, string, type Aml } from './aml';
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
  /** The GSI on which the VMM signals a power-button press (an edge, like every other line here). */
  powerButtonGsi: number;
  /** The virtio-iommu and the devices behind it, for the VIOT table; absent: the machine has none. */
  iommu?: ViotPlatform;
}

/** The virtio-iommu and the devices behind it, as the VIOT table says them. */
export interface ViotPlatform {
  /** The virtio-iommu's virtio-mmio window. */
  base: number;
  /** The devices behind it: endpoint ID and virtio-mmio window. */
  endpoints: { id: number; base: number }[];
}

export const VIRTIO_MMIO_HID = 'LNRO0005';
/** Hardware-reduced ACPI has no fixed power button: a Generic Event Device turns an interrupt into a Notify. */
export const GED_HID = 'ACPI0013';
/** Notify value for a pressed button (ACPI 6.5, section 5.6.6). */
const BUTTON_PRESSED = 0x80;
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

/**
 * GED0 turns its interrupt into `Notify (PWRB, 0x80)`; Linux's GED driver calls _EVT with the GSI, and there is
 * only one event, so the method need not look. PWRB is a plain power button (PNP0C0C): Linux's button driver
 * reports KEY_POWER on an input device, for user space (acpid, logind) to act on.
 */
function powerButton(gsi: number): Aml[] {
  return [
    device('GED0',
      name('_HID', string(GED_HID)),
      name('_UID', integer(0)),
      name('_CRS', resourceTemplate(edgeInterrupt(gsi))),
      method('_EVT', 1, notify('\\_SB.PWRB', BUTTON_PRESSED))),
    device('PWRB',
      name('_HID', eisaId('PNP0C0C')),
      name('_UID', integer(0))),
  ];
}

/** The DSDT's body (what follows its 36-byte header). */
export function dsdtBody(p: AcpiPlatform): Aml {
  // \_S5: SLP_TYP for the A and B registers, then two reserved values. Hardware-reduced ACPI has only the A one.
  const s5 = name('_S5', pkg(integer(S5_SLEEP_TYPE), integer(0), integer(0), integer(0)));
  return concat([
    s5,
    scope('\\_SB', serial(p.serial), keyboard(p.i8042), ...p.virtio.map(virtioMmio), ...powerButton(p.powerButtonGsi)),
  ]);
}
