// A 16550A-compatible UART (COM1 for the guest's console). Its whole state lives in one SharedArrayBuffer: vCPU
// worker threads answer the guest's register accesses with Serial8250, and the main thread feeds terminal input
// and drains console output with SerialHost, both over the same memory. A small futex-style lock guards the
// registers and the input FIFO; the output ring has one reader (the main thread) and lock-serialized writers.
//
// Output is "transmitted" the moment THR is written, so LSR always shows THRE|TEMT. The interrupt line is modelled
// as a level (any enabled condition pending) and `interrupt()` is called on each rising edge, which is what the
// PC's edge-triggered ISA IRQ sees from a real 16550. The edge is raised with the lock held: it is a pulse of two
// KVM_IRQ_LINE calls (1, then 0), and a vCPU thread's pulse and the main thread's interleaved (1, 1, 0, 0) make one
// edge out of two, so the guest, having serviced the first, never hears of the input behind the second. MCR.OUT2, which gates that line on PC boards, is not
// modelled: Linux sets it whenever it wants interrupts anyway.
import type { BusDevice } from '../base/bus';
import { lockShared, unlockShared } from '../base/shared-lock';

// Register offsets and bits (16550A data sheet).
const RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;
export const UART_REGISTER_COUNT = 8;
const IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04;
const IIR_NO_INT = 0x01, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_RLSI = 0x06, IIR_FIFO_BITS = 0xc0;
const FCR_ENABLE = 0x01, FCR_CLEAR_RX = 0x02;
const LCR_DLAB = 0x80;
const MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
const LSR_DR = 0x01, LSR_OE = 0x02, LSR_THRE = 0x20, LSR_TEMT = 0x40;
const MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;

// Int32 slots of the shared header.
const S = {
  lock: 0, ier: 1, lcr: 2, mcr: 3, scr: 4, dll: 5, dlm: 6, fifo: 7, threPending: 8, irqLevel: 9, overrun: 10,
  inRead: 11, inWrite: 12, outRead: 13, outWrite: 14, outMode: 15, outSleeping: 16, outDropped: 17,
} as const;
const HEADER_BYTES = 128;
export const SERIAL_INPUT_BYTES = 64 * 1024;
export const SERIAL_OUTPUT_BYTES = 64 * 1024;
const IN_OFFSET = HEADER_BYTES;
const OUT_OFFSET = HEADER_BYTES + SERIAL_INPUT_BYTES;

/** What a THR write does when the output ring is full. */
const OUT_MODE = { buffer: 0, drain: 1, discard: 2 } as const;
/**
 * A writer facing a full ring while a consumer drains drops the byte once the consumer has taken nothing for this
 * long. It is counted in wait slices that ran out, not in wall time: when the whole host stalls (an emulated one
 * can stop for seconds), the writer may run before the reader on waking, and a wall-clock deadline would then
 * drop bytes the reader was about to take.
 */
export const OUTPUT_STALL_LIMIT_MS = 5000;
const OUTPUT_WAIT_SLICE_MS = 50;
/** The longest the drain loop sleeps without looking at the ring, whatever the writers' wake-ups do. */
const DRAIN_BACKSTOP_MS = 200;
const OUTPUT_STALL_SLICES = OUTPUT_STALL_LIMIT_MS / OUTPUT_WAIT_SLICE_MS;

/** A fresh UART in its reset state: 9600 8N1 divisor, no interrupts enabled, both rings empty. */
export function createSerialState(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(HEADER_BYTES + SERIAL_INPUT_BYTES + SERIAL_OUTPUT_BYTES);
  const i32 = new Int32Array(sab, 0, HEADER_BYTES / 4);
  i32[S.dll] = 12; // 115200 / 12 = 9600 baud, the BIOS default
  i32[S.lcr] = 0x03;
  i32[S.threPending] = 1;
  return sab;
}

/**
 * The UART's registers and unread input as bytes, for a snapshot of a paused machine (no vCPU touches the UART
 * then); the output ring is left out, the caller having drained it. importSerialState takes them back into a fresh
 * state, the lock free and the host side's drain bookkeeping its own.
 */
export function exportSerialState(state: SharedArrayBuffer): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + SERIAL_INPUT_BYTES);
  out.set(new Uint8Array(state, 0, HEADER_BYTES + SERIAL_INPUT_BYTES));
  return out;
}

export function importSerialState(state: SharedArrayBuffer, bytes: Uint8Array): void {
  if (bytes.length !== HEADER_BYTES + SERIAL_INPUT_BYTES) {
    throw new RangeError(`serial state is ${bytes.length} bytes, expected ${HEADER_BYTES + SERIAL_INPUT_BYTES}`);
  }
  const saved = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + HEADER_BYTES));
  const i32 = new Int32Array(state, 0, HEADER_BYTES / 4);
  for (const slot of [S.ier, S.lcr, S.mcr, S.scr, S.dll, S.dlm, S.fifo, S.threPending, S.irqLevel, S.overrun,
    S.inRead, S.inWrite]) {
    i32[slot] = saved[slot]!;
  }
  new Uint8Array(state, IN_OFFSET, SERIAL_INPUT_BYTES).set(bytes.subarray(HEADER_BYTES));
}

/** The shared state and the operations both sides need. */
class SerialCore {
  readonly i32: Int32Array;
  readonly input: Uint8Array;
  readonly output: Uint8Array;

  constructor(readonly state: SharedArrayBuffer) {
    if (!(state instanceof SharedArrayBuffer) || state.byteLength !== HEADER_BYTES + SERIAL_INPUT_BYTES +
      SERIAL_OUTPUT_BYTES) {
      throw new TypeError('serial state must be a SharedArrayBuffer from createSerialState()');
    }
    this.i32 = new Int32Array(state, 0, HEADER_BYTES / 4);
    this.input = new Uint8Array(state, IN_OFFSET, SERIAL_INPUT_BYTES);
    this.output = new Uint8Array(state, OUT_OFFSET, SERIAL_OUTPUT_BYTES);
  }

  lock(): void {
    lockShared(this.i32, S.lock);
  }

  unlock(): void {
    unlockShared(this.i32, S.lock);
  }

  inputCount(): number {
    return (this.i32[S.inWrite]! - this.i32[S.inRead]!) >>> 0;
  }

  /** Appends to the input FIFO (lock held); returns how many bytes fitted. */
  pushInput(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, SERIAL_INPUT_BYTES - this.inputCount());
    let w = this.i32[S.inWrite]!;
    for (let i = 0; i < n; i++, w = (w + 1) | 0) this.input[w & (SERIAL_INPUT_BYTES - 1)] = bytes[i]!;
    this.i32[S.inWrite] = w;
    return n;
  }

  /** The IIR interrupt identification: the highest-priority enabled pending condition. */
  interruptId(): number {
    const ier = this.i32[S.ier]!;
    if (ier & IER_RLSI && this.i32[S.overrun]) return IIR_RLSI;
    if (ier & IER_RDI && this.inputCount() > 0) return IIR_RDI;
    if (ier & IER_THRI && this.i32[S.threPending]) return IIR_THRI;
    return IIR_NO_INT;
  }

  /** Recomputes the interrupt line (lock held); true on a rising edge, which the caller signals after unlocking. */
  updateLevel(): boolean {
    const level = this.interruptId() === IIR_NO_INT ? 0 : 1;
    const was = this.i32[S.irqLevel]!;
    this.i32[S.irqLevel] = level;
    return level === 1 && was === 0;
  }
}

export interface SerialOptions {
  /** Raises the UART's interrupt as an edge (a KVM_IRQ_LINE pulse). Called with the UART's lock held. */
  interrupt: () => void;
}

/**
 * The guest-facing register window (8 ports), for vCPU threads. (On the main thread, a THR write facing a full
 * ring while that same thread drains it would wait out OUTPUT_STALL_LIMIT_MS per byte.)
 */
export class Serial8250 implements BusDevice {
  private readonly core: SerialCore;

  constructor(state: SharedArrayBuffer, private readonly opts: SerialOptions) {
    this.core = new SerialCore(state);
  }

  // A wide access is split into byte accesses, as an ISA bus does for an 8-bit device.
  read(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const reg = offset + i;
      data[i] = reg >= 0 && reg < UART_REGISTER_COUNT ? this.readRegister(reg) : 0xff;
    }
  }

  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      const reg = offset + i;
      if (reg >= 0 && reg < UART_REGISTER_COUNT) this.writeRegister(reg, data[i]!);
    }
  }

  private readRegister(reg: number): number {
    const core = this.core;
    const r = core.i32;
    core.lock();
    let value: number;
    const dlab = (r[S.lcr]! & LCR_DLAB) !== 0;
    switch (reg) {
      case RBR_THR: value = dlab ? r[S.dll]! : this.popInput(); break;
      case IER: value = dlab ? r[S.dlm]! : r[S.ier]!; break;
      case IIR_FCR: value = this.readIir(); break;
      case LCR: value = r[S.lcr]!; break;
      case MCR: value = r[S.mcr]!; break;
      case LSR: value = this.readLsr(); break;
      case MSR: value = this.modemStatus(); break;
      default: value = r[S.scr]!; break;
    }
    if (core.updateLevel()) this.opts.interrupt();
    core.unlock();
    return value;
  }

  private popInput(): number {
    const core = this.core;
    if (core.inputCount() === 0) return 0;
    const rd = core.i32[S.inRead]!;
    core.i32[S.inRead] = (rd + 1) | 0;
    return core.input[rd & (SERIAL_INPUT_BYTES - 1)]!;
  }

  // Reading IIR while it reports THR-empty acknowledges that condition (16550A behaviour).
  private readIir(): number {
    const id = this.core.interruptId();
    if (id === IIR_THRI) this.core.i32[S.threPending] = 0;
    return id | (this.core.i32[S.fifo] ? IIR_FIFO_BITS : 0);
  }

  private readLsr(): number {
    const r = this.core.i32;
    const lsr = LSR_THRE | LSR_TEMT | (this.core.inputCount() > 0 ? LSR_DR : 0) | (r[S.overrun] ? LSR_OE : 0);
    r[S.overrun] = 0;
    return lsr;
  }

  // No modem is attached: report one that is connected and ready, or the MCR outputs when looped back.
  private modemStatus(): number {
    const mcr = this.core.i32[S.mcr]!;
    if (!(mcr & MCR_LOOP)) return MSR_DCD | MSR_DSR | MSR_CTS;
    return (mcr & MCR_RTS ? MSR_CTS : 0) | (mcr & MCR_DTR ? MSR_DSR : 0) | (mcr & MCR_OUT1 ? MSR_RI : 0) |
      (mcr & MCR_OUT2 ? MSR_DCD : 0);
  }

  private writeRegister(reg: number, value: number): void {
    const core = this.core;
    const r = core.i32;
    if (reg === RBR_THR && !(r[S.lcr]! & LCR_DLAB)) {
      this.transmit(value);
      return;
    }
    core.lock();
    switch (reg) {
      case RBR_THR: r[S.dll] = value; break;
      case IER: this.writeIer(value); break;
      case IIR_FCR: this.writeFcr(value); break;
      case LCR: r[S.lcr] = value; break;
      case MCR: r[S.mcr] = value & 0x1f; break;
      case SCR: r[S.scr] = value; break;
      default: break; // LSR and MSR are read-only
    }
    if (core.updateLevel()) this.opts.interrupt();
    core.unlock();
  }

  private writeIer(value: number): void {
    const r = this.core.i32;
    if (r[S.lcr]! & LCR_DLAB) {
      r[S.dlm] = value;
      return;
    }
    const before = r[S.ier]!;
    r[S.ier] = value & 0x0f;
    // Enabling THRI while the transmitter is empty makes the THR-empty interrupt pending at once.
    if (value & IER_THRI && !(before & IER_THRI)) r[S.threPending] = 1;
  }

  private writeFcr(value: number): void {
    this.core.i32[S.fifo] = value & FCR_ENABLE;
    if (value & FCR_CLEAR_RX) this.core.i32[S.inRead] = this.core.i32[S.inWrite]!;
  }

  // THR write: the byte leaves at once (or loops back to RBR), so THR-empty drops and comes back, which is an
  // interrupt edge when THRI is enabled and nothing else holds the line up.
  private transmit(byte: number): void {
    const core = this.core;
    const r = core.i32;
    if (!(Atomics.load(r, S.mcr) & MCR_LOOP)) writeOutput(core, byte);
    core.lock();
    if (r[S.mcr]! & MCR_LOOP && core.pushInput(Uint8Array.of(byte)) === 0) r[S.overrun] = 1;
    r[S.threPending] = 0;
    core.updateLevel();
    r[S.threPending] = 1;
    if (core.updateLevel()) this.opts.interrupt();
    core.unlock();
  }
}

/**
 * Puts one byte in the output ring. When the ring is full and a consumer is draining, waits for room (the guest's
 * console slows to the host's pace rather than losing bytes) while the consumer makes progress; with no consumer the
 * byte is dropped and counted, and in discard mode nothing is kept at all.
 */
function writeOutput(core: SerialCore, byte: number): void {
  const r = core.i32;
  let stalled = 0;
  let lastRead: number | undefined;
  for (;;) {
    const mode = Atomics.load(r, S.outMode);
    if (mode === OUT_MODE.discard) return;
    core.lock();
    const rd = Atomics.load(r, S.outRead); // the reader moves it without the lock
    const w = r[S.outWrite]!;
    if (((w - rd) >>> 0) < SERIAL_OUTPUT_BYTES) {
      core.output[w & (SERIAL_OUTPUT_BYTES - 1)] = byte;
      Atomics.store(r, S.outWrite, (w + 1) | 0);
      core.unlock();
      // The reader sleeps on the flag word itself, not on outWrite: see SerialHost.drainLoop for why.
      if (Atomics.load(r, S.outSleeping) !== 0 && Atomics.exchange(r, S.outSleeping, 0) === 1) {
        Atomics.notify(r, S.outSleeping);
      }
      return;
    }
    core.unlock();
    if (rd !== lastRead) stalled = 0; // the reader took something since the last look: it is not stuck
    lastRead = rd;
    if (mode !== OUT_MODE.drain || stalled >= OUTPUT_STALL_SLICES) {
      Atomics.add(r, S.outDropped, 1);
      return;
    }
    // Woken early by the reader's notify once it has made room.
    if (Atomics.wait(r, S.outRead, rd, OUTPUT_WAIT_SLICE_MS) === 'timed-out') stalled++;
  }
}

type WaitAsync = (i32: Int32Array, index: number, value: number, timeoutMs?: number) =>
  { async: false; value: string } | { async: true; value: Promise<string> };
// Atomics.waitAsync is in Node 16+ but only in TypeScript's ES2024 lib; this project compiles against ES2022.
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/** The host side of the UART, on the main thread: terminal input in, console output out. */
export class SerialHost {
  private readonly core: SerialCore;
  private sink: ((chunk: Buffer) => void) | undefined;
  private draining = false;
  /** Bumped by each start, so a loop left over from an earlier start ends instead of running twice. */
  private generation = 0;

  constructor(readonly state: SharedArrayBuffer, private readonly opts: SerialOptions) {
    this.core = new SerialCore(state);
  }

  /** Queues bytes for the guest to read; returns how many fitted in the input FIFO (the rest are the caller's). */
  pushInput(bytes: Uint8Array): number {
    const core = this.core;
    core.lock();
    const accepted = core.pushInput(bytes);
    if (core.updateLevel()) this.opts.interrupt();
    core.unlock();
    return accepted;
  }

  /**
   * Starts delivering console output to `sink` as it is written, woken by the writers (Atomics.waitAsync), with
   * back-pressure: while this runs a vCPU facing a full ring waits for room instead of dropping bytes.
   */
  startOutput(sink: (chunk: Buffer) => void): void {
    if (this.draining) throw new Error('serial output is already being drained');
    this.sink = sink;
    this.draining = true;
    Atomics.store(this.core.i32, S.outMode, OUT_MODE.drain);
    void this.drainLoop(++this.generation);
  }

  /** Stops the drain loop; later output is buffered (dropped when the ring is full) until startOutput again. */
  stopOutput(): void {
    if (!this.draining) return;
    this.draining = false;
    this.sink = undefined;
    const r = this.core.i32;
    Atomics.store(r, S.outMode, OUT_MODE.buffer);
    Atomics.store(r, S.outSleeping, 0);
    Atomics.notify(r, S.outSleeping); // ends the pending waitAsync so nothing keeps the event loop alive
    Atomics.notify(r, S.outRead); // writers waiting for room re-check the mode and drop instead
  }

  /** For a console nobody reads (serial: none): output is thrown away and never slows the guest. */
  discardOutput(): void {
    this.stopOutput();
    Atomics.store(this.core.i32, S.outMode, OUT_MODE.discard);
    this.takeOutput();
  }

  /** Synchronously drains what the ring holds now, hands it to the sink (when one is set) and returns it. */
  flushOutput(): Buffer {
    const chunk = this.takeOutput();
    if (chunk.length > 0) this.sink?.(chunk);
    return chunk;
  }

  /** Output bytes lost because the ring was full with nobody draining it (or draining stalled too long). */
  get droppedOutput(): number {
    return Atomics.load(this.core.i32, S.outDropped);
  }

  /**
   * Input the guest has not read yet, and whether the UART's interrupt line is up and which sources are enabled:
   * input waiting with the line up and receive interrupts on is an interrupt the guest has not serviced.
   */
  inputState(): { pending: number; line: number; ier: number } {
    const core = this.core;
    core.lock();
    const state = { pending: core.inputCount(), line: core.i32[S.irqLevel] ?? 0, ier: core.i32[S.ier] ?? 0 };
    core.unlock();
    return state;
  }

  /** Output bytes written by the guest and not yet taken by the host. */
  get pendingOutput(): number {
    const r = this.core.i32;
    return (Atomics.load(r, S.outWrite) - Atomics.load(r, S.outRead)) >>> 0;
  }

  private takeOutput(): Buffer {
    const core = this.core;
    const r = core.i32;
    const rd = Atomics.load(r, S.outRead);
    const w = Atomics.load(r, S.outWrite);
    const n = (w - rd) >>> 0;
    if (n === 0) return Buffer.alloc(0);
    const start = rd & (SERIAL_OUTPUT_BYTES - 1);
    const first = Math.min(n, SERIAL_OUTPUT_BYTES - start);
    const chunk = Buffer.allocUnsafe(n);
    chunk.set(core.output.subarray(start, start + first), 0);
    if (first < n) chunk.set(core.output.subarray(0, n - first), first);
    Atomics.store(r, S.outRead, (rd + n) | 0);
    Atomics.notify(r, S.outRead);
    return chunk;
  }

  private async drainLoop(generation: number): Promise<void> {
    const r = this.core.i32;
    while (this.draining && generation === this.generation) {
      this.flushOutput();
      // Announce the sleep before the last look at the write index, so a writer either sees the flag or we see
      // its byte. The wait is on the flag, not on outWrite: a writer can clear the flag and notify between our
      // look and our waitAsync, and its byte may be one we have already drained. Writer A stores byte n, is
      // preempted before its exchange; writer B's notify wakes us, we drain n, announce again and find the ring
      // empty; A's exchange now takes our fresh flag and its notify finds no waiter yet; we then waitAsync on
      // outWrite, which still holds the value we just saw, and sleep with the flag 0. Every later writer sees 0
      // and never notifies: the ring fills and the vCPUs stall OUTPUT_STALL_LIMIT_MS per byte. Waiting for the
      // flag to leave 1 closes that: whoever clears it has either already done so (waitAsync returns at once)
      // or notifies after we are queued.
      Atomics.store(r, S.outSleeping, 1);
      if (Atomics.load(r, S.outWrite) !== Atomics.load(r, S.outRead)) {
        Atomics.store(r, S.outSleeping, 0);
      } else {
        // The timeout is a backstop, not the wake-up: a notify from a vCPU thread reaches this thread as a task
        // Node must run, and should one ever be late or lost, the ring is still looked at five times a second.
        const res = waitAsync(r, S.outSleeping, 1, DRAIN_BACKSTOP_MS);
        if (res.async) await res.value;
      }
      // One turn of the event loop lets a burst of bytes gather into one chunk.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
