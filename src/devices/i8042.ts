// The PC keyboard controller, only as far as a guest needs it to reboot: Linux's `reboot=k` writes 0xFE (pulse the
// CPU reset line) to the command port. No keyboard or mouse is attached. The controller answers the commands
// Linux's i8042 driver probes with (read/write the command byte, self tests) so the probe ends quickly and cleanly.
//
// Map it at port 0x60 with length 5 (offset 0 = data port 0x60, offset 4 = command/status port 0x64), or map the
// two views from splitPorts() at 0x60 and 0x64 with length 1 each. Offsets 1..3 (0x61 is the system control
// port, which KVM's in-kernel PIT answers when there is one) read 0xff and ignore writes.
import type { BusDevice } from '../vmm/bus';

export const I8042_DATA_OFFSET = 0;
export const I8042_COMMAND_OFFSET = 4;

const STATUS_OBF = 0x01; // a byte waits in the output buffer (port 0x60)

const CMD = {
  readCommandByte: 0x20,
  writeCommandByte: 0x60,
  auxInterfaceTest: 0xa9,
  selfTest: 0xaa,
  kbdInterfaceTest: 0xab,
  readInputPort: 0xc0,
  readOutputPort: 0xd0,
  writeOutputPort: 0xd1,
  pulseOutputPortFirst: 0xf0,
} as const;

/**
 * Command byte after firmware setup: keyboard interrupt on, system flag set, mouse clock off, translation on.
 * Interrupts are never raised since no device sends data.
 */
const DEFAULT_COMMAND_BYTE = 0x65;
const SELF_TEST_PASSED = 0x55;
const INTERFACE_TEST_PASSED = 0x00;
// "Clock line stuck high": there is no mouse port, and Linux's i8042 driver gives up on AUX at once.
const AUX_NOT_CONNECTED = 0x02;
// Output port: bit 0 = CPU reset line (active low, so 1 = running), bit 1 = A20 gate enabled.
const OUTPUT_PORT_RUNNING = 0x03;

export interface I8042Options {
  /** The guest asked for a CPU reset (command 0xFE, or clearing bit 0 of the output port). */
  onReset: () => void;
}

export class I8042 implements BusDevice {
  private commandByte = DEFAULT_COMMAND_BYTE;
  private outputPort = OUTPUT_PORT_RUNNING;
  private outputBuffer: number | undefined;
  /** The command whose data byte the next write to port 0x60 carries. */
  private pendingWrite: number | undefined;

  constructor(private readonly opts: I8042Options) {}

  /** Single-port views for a machine that maps 0x60 and 0x64 as two one-port ranges. */
  splitPorts(): { data: BusDevice; command: BusDevice } {
    return {
      data: { read: (_o, d) => this.read(I8042_DATA_OFFSET, d), write: (_o, d) => this.write(I8042_DATA_OFFSET, d) },
      command: {
        read: (_o, d) => this.read(I8042_COMMAND_OFFSET, d),
        write: (_o, d) => this.write(I8042_COMMAND_OFFSET, d),
      },
    };
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0xff);
    if (data.length === 0) return;
    if (offset === I8042_DATA_OFFSET) data[0] = this.readData();
    else if (offset === I8042_COMMAND_OFFSET) data[0] = this.outputBuffer === undefined ? 0 : STATUS_OBF;
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    if (offset === I8042_DATA_OFFSET) this.writeData(data[0]!);
    else if (offset === I8042_COMMAND_OFFSET) this.writeCommand(data[0]!);
  }

  private readData(): number {
    const value = this.outputBuffer ?? 0;
    this.outputBuffer = undefined;
    return value;
  }

  private writeData(value: number): void {
    const command = this.pendingWrite;
    this.pendingWrite = undefined;
    if (command === CMD.writeCommandByte) {
      this.commandByte = value;
    } else if (command === CMD.writeOutputPort) {
      this.outputPort = value;
      if (!(value & 0x01)) this.reset();
    }
    // Bytes for the keyboard itself go nowhere: no keyboard is attached, so no reply ever comes.
  }

  private writeCommand(command: number): void {
    this.pendingWrite = undefined;
    switch (command) {
      case CMD.readCommandByte: this.outputBuffer = this.commandByte; break;
      case CMD.writeCommandByte:
      case CMD.writeOutputPort: this.pendingWrite = command; break;
      case CMD.selfTest: this.outputBuffer = SELF_TEST_PASSED; break;
      case CMD.kbdInterfaceTest: this.outputBuffer = INTERFACE_TEST_PASSED; break;
      case CMD.auxInterfaceTest: this.outputBuffer = AUX_NOT_CONNECTED; break;
      case CMD.readInputPort: this.outputBuffer = 0x00; break;
      case CMD.readOutputPort: this.outputBuffer = this.outputPort; break;
      default:
        // 0xF0..0xFF pulse output-port bits whose mask bit is 0; bit 0 is the reset line (0xFE is the usual one).
        if (command >= CMD.pulseOutputPortFirst && !(command & 0x01)) this.reset();
        break; // every other command (enable/disable ports, ...) is accepted and has no effect here
    }
  }

  private reset(): void {
    this.outputPort = OUTPUT_PORT_RUNNING;
    this.opts.onReset();
  }
}
