// The PC keyboard controller, as far as a guest needs it to reboot and to hear Ctrl-Alt-Del. Linux's `reboot=k`
// writes 0xFE (pulse the CPU reset line) to the command port; the controller answers the commands Linux's i8042
// driver probes with (read/write the command byte, self tests) so the probe ends quickly and cleanly. No mouse is
// attached and the keyboard never answers commands; the host can only put scancodes in its output buffer
// (I8042Host.sendCtrlAltDel), which a guest driver that does not probe the keyboard (Linux: i8042.dumbkbd) reads.
//
// The state is one SharedArrayBuffer: every vCPU thread answers the guest's port accesses from it and the main
// thread queues scancodes into it, under the same lock.
//
// Map it at port 0x60 with length 5 (offset 0 = data port 0x60, offset 4 = command/status port 0x64), or map the
// two views from splitPorts() at 0x60 and 0x64 with length 1 each. Offsets 1..3 (0x61 is the system control
// port, which KVM's in-kernel PIT answers when there is one) read 0xff and ignore writes.
import type { BusDevice } from '../base/bus';
import { lockShared, unlockShared } from '../base/shared-lock';

export const I8042_DATA_OFFSET = 0;
export const I8042_COMMAND_OFFSET = 4;

const STATUS_OBF = 0x01; // a byte waits in the output buffer (port 0x60)

const CMD = {
  readCommandByte: 0x20,
  writeCommandByte: 0x60,
  auxInterfaceTest: 0xa9,
  selfTest: 0xaa,
  kbdInterfaceTest: 0xab,
  disableKbd: 0xad,
  enableKbd: 0xae,
  readInputPort: 0xc0,
  readOutputPort: 0xd0,
  writeOutputPort: 0xd1,
  pulseOutputPortFirst: 0xf0,
} as const;

/** Command byte bits: keyboard interrupt enabled, keyboard clock disabled, set 2 -> set 1 translation. */
const CTR_KBD_INT = 0x01;
const CTR_KBD_DISABLED = 0x10;
const CTR_XLATE = 0x40;
/**
 * Command byte after firmware setup: keyboard interrupt on, system flag set, mouse clock off, translation on.
 */
const DEFAULT_COMMAND_BYTE = 0x65;
const SELF_TEST_PASSED = 0x55;
const INTERFACE_TEST_PASSED = 0x00;
// "Clock line stuck high": there is no mouse port, and Linux's i8042 driver gives up on AUX at once.
const AUX_NOT_CONNECTED = 0x02;
// Output port: bit 0 = CPU reset line (active low, so 1 = running), bit 1 = A20 gate enabled.
const OUTPUT_PORT_RUNNING = 0x03;
const NONE = -1;

// Int32 slots of the shared state; the keyboard's scancode queue follows the header.
const K = { lock: 0, commandByte: 1, outputPort: 2, pendingWrite: 3, reply: 4, kbdRead: 5, kbdWrite: 6 } as const;
const HEADER_SLOTS = 8;
const KBD_QUEUE = 32;

/** Ctrl, Alt and Delete pressed, then released: scancode set 1 (what a translating controller delivers)... */
const CTRL_ALT_DEL_SET1 = [0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d];
/** ...and set 2, for a guest that turned translation off. */
const CTRL_ALT_DEL_SET2 = [0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14];

/** A controller in its after-firmware state with an empty keyboard buffer. */
export function createI8042State(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer((HEADER_SLOTS + KBD_QUEUE) * 4);
  const i32 = new Int32Array(sab);
  i32[K.commandByte] = DEFAULT_COMMAND_BYTE;
  i32[K.outputPort] = OUTPUT_PORT_RUNNING;
  i32[K.pendingWrite] = NONE;
  i32[K.reply] = NONE;
  return sab;
}

/** The controller's state as bytes, for a snapshot of a paused machine; importI8042State takes it back, lock free. */
export function exportI8042State(state: SharedArrayBuffer): Uint8Array {
  return new Uint8Array(state.slice(0));
}

export function importI8042State(state: SharedArrayBuffer, bytes: Uint8Array): void {
  if (bytes.length !== state.byteLength) {
    throw new RangeError(`i8042 state is ${bytes.length} bytes, expected ${state.byteLength}`);
  }
  new Uint8Array(state).set(bytes);
  new Int32Array(state)[K.lock] = 0;
}

/** The shared state and what both sides do to it (the caller holds the lock). */
class I8042Core {
  readonly i32: Int32Array;

  constructor(state: SharedArrayBuffer) {
    if (!(state instanceof SharedArrayBuffer) || state.byteLength !== (HEADER_SLOTS + KBD_QUEUE) * 4) {
      throw new TypeError('i8042 state must be a SharedArrayBuffer from createI8042State()');
    }
    this.i32 = new Int32Array(state);
  }

  lock(): void { lockShared(this.i32, K.lock); }
  unlock(): void { unlockShared(this.i32, K.lock); }

  kbdCount(): number { return this.i32[K.kbdWrite]! - this.i32[K.kbdRead]!; }

  /** A keyboard byte is visible when the keyboard clock is on. */
  kbdPending(): boolean {
    return this.kbdCount() > 0 && (this.i32[K.commandByte]! & CTR_KBD_DISABLED) === 0;
  }

  outputFull(): boolean { return this.i32[K.reply] !== NONE || this.kbdPending(); }

  /** True when a keyboard byte waits and the guest wants an interrupt for it. */
  wantsInterrupt(): boolean {
    return this.i32[K.reply] === NONE && this.kbdPending() && (this.i32[K.commandByte]! & CTR_KBD_INT) !== 0;
  }

  /** Controller replies go first; then the keyboard's queue. */
  takeOutput(): number {
    const reply = this.i32[K.reply]!;
    if (reply !== NONE) {
      this.i32[K.reply] = NONE;
      return reply;
    }
    if (!this.kbdPending()) return 0;
    const r = this.i32[K.kbdRead]!;
    this.i32[K.kbdRead] = r + 1;
    return this.i32[HEADER_SLOTS + (r % KBD_QUEUE)]!;
  }

  pushScancodes(codes: readonly number[]): boolean {
    if (this.kbdCount() + codes.length > KBD_QUEUE) return false;
    let w = this.i32[K.kbdWrite]!;
    for (const c of codes) this.i32[HEADER_SLOTS + (w++ % KBD_QUEUE)] = c;
    this.i32[K.kbdWrite] = w;
    return true;
  }
}

export interface I8042Options {
  /** The guest asked for a CPU reset (command 0xFE, or clearing bit 0 of the output port). */
  onReset: () => void;
  /** Shared with the other vCPUs and the host; default: a private state. */
  state?: SharedArrayBuffer;
  /**
   * Raises IRQ 1: another keyboard byte waits after the guest read one, or a byte already waiting became visible
   * with its interrupt on (the keyboard enabled, the interrupt bit set in the command byte).
   */
  interrupt?: () => void;
}

/** The guest's side: port reads and writes, on a vCPU thread. */
export class I8042 implements BusDevice {
  private readonly core: I8042Core;

  constructor(private readonly opts: I8042Options) {
    this.core = new I8042Core(opts.state ?? createI8042State());
  }

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
    const core = this.core;
    core.lock();
    let again = false;
    if (offset === I8042_DATA_OFFSET) {
      data[0] = core.takeOutput();
      again = core.wantsInterrupt();
    } else if (offset === I8042_COMMAND_OFFSET) {
      data[0] = core.outputFull() ? STATUS_OBF : 0;
    }
    // Raised under the lock: pulses from two threads must not interleave (see serial-8250.ts).
    if (again) this.opts.interrupt?.();
    core.unlock();
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const core = this.core;
    core.lock();
    let reset = false;
    try {
      const wanted = core.wantsInterrupt();
      if (offset === I8042_DATA_OFFSET) reset = this.writeData(data[0]!);
      else if (offset === I8042_COMMAND_OFFSET) reset = this.writeCommand(data[0]!);
      if (!wanted && core.wantsInterrupt()) this.opts.interrupt?.();
    } finally {
      core.unlock();
    }
    if (reset) this.opts.onReset();
  }

  /** Returns true when the write pulls the reset line. */
  private writeData(value: number): boolean {
    const i32 = this.core.i32;
    const command = i32[K.pendingWrite]!;
    i32[K.pendingWrite] = NONE;
    if (command === CMD.writeCommandByte) {
      i32[K.commandByte] = value;
    } else if (command === CMD.writeOutputPort) {
      i32[K.outputPort] = value;
      if (!(value & 0x01)) return this.pulseReset();
    }
    // Bytes for the keyboard itself go nowhere: the keyboard never answers commands.
    return false;
  }

  private writeCommand(command: number): boolean {
    const i32 = this.core.i32;
    const reply = (v: number): void => { i32[K.reply] = v; };
    i32[K.pendingWrite] = NONE;
    switch (command) {
      case CMD.readCommandByte: reply(i32[K.commandByte]!); break;
      case CMD.writeCommandByte:
      case CMD.writeOutputPort: i32[K.pendingWrite] = command; break;
      case CMD.selfTest: reply(SELF_TEST_PASSED); break;
      case CMD.kbdInterfaceTest: reply(INTERFACE_TEST_PASSED); break;
      case CMD.auxInterfaceTest: reply(AUX_NOT_CONNECTED); break;
      case CMD.disableKbd: i32[K.commandByte] = i32[K.commandByte]! | CTR_KBD_DISABLED; break;
      case CMD.enableKbd: i32[K.commandByte] = i32[K.commandByte]! & ~CTR_KBD_DISABLED; break;
      case CMD.readInputPort: reply(0x00); break;
      case CMD.readOutputPort: reply(i32[K.outputPort]!); break;
      default:
        // 0xF0..0xFF pulse output-port bits whose mask bit is 0; bit 0 is the reset line (0xFE is the usual one).
        if (command >= CMD.pulseOutputPortFirst && !(command & 0x01)) return this.pulseReset();
        break; // every other command (mouse port on/off, ...) is accepted and has no effect here
    }
    return false;
  }

  private pulseReset(): boolean {
    this.core.i32[K.outputPort] = OUTPUT_PORT_RUNNING;
    return true;
  }
}

/** The host's side, on the main thread: key presses into the keyboard's output buffer. */
export class I8042Host {
  private readonly core: I8042Core;

  constructor(readonly state: SharedArrayBuffer, private readonly opts: { interrupt: () => void }) {
    this.core = new I8042Core(state);
  }

  /**
   * Queues Ctrl-Alt-Del in the scancode set the guest reads (set 1 while the controller translates) and raises
   * IRQ 1 when the guest enabled it. False when the keyboard buffer has no room (the guest is not reading it).
   */
  sendCtrlAltDel(): boolean {
    const core = this.core;
    core.lock();
    const wasFull = core.outputFull();
    const xlate = (core.i32[K.commandByte]! & CTR_XLATE) !== 0;
    const queued = core.pushScancodes(xlate ? CTRL_ALT_DEL_SET1 : CTRL_ALT_DEL_SET2);
    if (queued && !wasFull && core.wantsInterrupt()) this.opts.interrupt();
    core.unlock();
    return queued;
  }
}
