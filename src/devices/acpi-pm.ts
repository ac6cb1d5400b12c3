// The registers a hardware-reduced ACPI machine needs to power off and reset (ACPI 6.5, sections 4.8.3.7 and
// 4.8.3.6): the FADT's sleep control and sleep status registers and its reset register, three one-byte I/O ports.
// Nothing else of a PM1 block exists, so a guest can only ask for S5 or a reset here, and asks for anything
// else are dropped: the DSDT declares no other sleep state, and no guest write can do more than end its own machine.
//
// Offsets from the block's base port: 0 sleep control, 1 sleep status, 2 reset. Stateless, so each vCPU thread
// answers its own accesses.
import type { BusDevice } from '../base/bus';

export const ACPI_PM_OFFSET = { SLEEP_CONTROL: 0, SLEEP_STATUS: 1, RESET: 2 } as const;
export const ACPI_PM_LENGTH = 3;
/** The value the FADT tells the guest to write to the reset register (any byte would do; this is 0xCF9's). */
export const ACPI_RESET_VALUE = 0x06;
/** The SLP_TYP the DSDT's \_S5 package declares. */
export const S5_SLEEP_TYPE = 5;

const SLP_TYP_SHIFT = 2;
const SLP_TYP_MASK = 0x7 << SLP_TYP_SHIFT;
const SLP_EN = 1 << 5;

export interface AcpiPmEvents {
  /** The guest entered S5 (soft off). */
  powerOff(): void;
  /** The guest wrote the reset value to the reset register. */
  reset(): void;
  /** A write that does nothing (another sleep type, another value, a wide access): for a debug log at most. */
  ignored?(what: string): void;
}

/** What a write of `value` to the sleep control register asks for: the sleep type, or undefined without SLP_EN. */
export function sleepRequest(value: number): number | undefined {
  if ((value & SLP_EN) === 0) return undefined;
  return (value & SLP_TYP_MASK) >> SLP_TYP_SHIFT;
}

export class AcpiPm implements BusDevice {
  constructor(private readonly events: AcpiPmEvents) {}

  /** No register reads back anything: WAK_STS never sets, since the machine never wakes from S5. */
  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  write(offset: number, data: Uint8Array): void {
    // The FADT declares byte registers; a wider access straddles two of them and means nothing.
    if (data.length !== 1) {
      this.events.ignored?.(`a ${data.length}-byte write at offset ${offset}`);
      return;
    }
    const value = data[0]!;
    if (offset === ACPI_PM_OFFSET.SLEEP_CONTROL) this.sleepControl(value);
    else if (offset === ACPI_PM_OFFSET.RESET) this.resetRegister(value);
    // Sleep status: the guest clears WAK_STS before it sleeps; there is nothing to clear.
  }

  private sleepControl(value: number): void {
    const type = sleepRequest(value);
    if (type === S5_SLEEP_TYPE) this.events.powerOff();
    else if (type !== undefined) this.events.ignored?.(`sleep type ${type} (only S5 exists)`);
  }

  private resetRegister(value: number): void {
    if (value === ACPI_RESET_VALUE) this.events.reset();
    else this.events.ignored?.(`reset register value 0x${value.toString(16)}`);
  }
}
