// virtio-input (device type 18, virtio 1.2 section 5.8): a keyboard or a tablet whose events the host injects.
// The event queue takes the driver's empty 8-byte buffers and fills each with one event (le16 type, le16 code,
// le32 value); the status queue brings the driver's own events back (LEDs), which are read, counted and returned.
// The config space answers by selector: the driver writes select and subsel, then reads size and the union behind
// them. That needs the write applied before the read, which the transport guarantees (config writes wait).
import { serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../virtio-mmio/device';
import { TurnBudget } from './turn-budget';
import { savedInt, savedObject } from './saved-state';

export const INPUT_DEVICE_TYPE = 18;
/** One event on either queue: le16 type, le16 code, le32 value. */
export const EVENT_BYTES = 8;
/** Events waiting for buffers beyond this are dropped (and counted): a guest that reads none must not grow us. */
export const MAX_PENDING_EVENTS = 4096;

export const CFG = { UNSET: 0x00, ID_NAME: 0x01, ID_SERIAL: 0x02, ID_DEVIDS: 0x03, PROP_BITS: 0x10, EV_BITS: 0x11, ABS_INFO: 0x12 } as const;
/** select, subsel, size, 5 reserved bytes, then a 128-byte union. */
const CONFIG_BYTES = 8 + 128;
const UNION_BYTES = 128;

/** Linux's event types and the codes the two models use (include/uapi/linux/input-event-codes.h). */
export const EV = { SYN: 0x00, KEY: 0x01, REL: 0x02, ABS: 0x03, MSC: 0x04, LED: 0x11, REP: 0x14 } as const;
export const SYN_REPORT = 0;
export const ABS_X = 0;
export const ABS_Y = 1;
export const BTN_LEFT = 0x110;
export const BTN_RIGHT = 0x111;
export const BTN_MIDDLE = 0x112;
/** The keyboard offers every key Linux numbers from KEY_ESC (1) to KEY_MICMUTE (248). */
export const KEY_FIRST = 1;
export const KEY_LAST = 248;
/** The tablet's axes run 0..TABLET_MAX whatever the guest's screen, as QEMU's tablet does. */
export const TABLET_MAX = 0x7fff;
/** The LEDs a keyboard driver may set: num, caps and scroll lock. */
const LEDS = [0, 1, 2];
/** BUS_VIRTUAL in Linux's input.h. */
const BUS_VIRTUAL = 0x06;

export type InputKind = 'keyboard' | 'tablet';
export interface InputEvent { type: number; code: number; value: number }

interface Model {
  name: string;
  product: number;
  /** Per event type, the codes the device reports. */
  bits: Map<number, number[]>;
  abs: Map<number, { min: number; max: number }>;
}

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}

const MODELS: Record<InputKind, Model> = {
  keyboard: {
    name: 'tsvmm virtio keyboard',
    product: 1,
    bits: new Map([[EV.KEY, range(KEY_FIRST, KEY_LAST)], [EV.LED, LEDS], [EV.REP, []]]),
    abs: new Map(),
  },
  tablet: {
    name: 'tsvmm virtio tablet',
    product: 2,
    bits: new Map([[EV.KEY, [BTN_LEFT, BTN_RIGHT, BTN_MIDDLE]], [EV.ABS, [ABS_X, ABS_Y]]]),
    abs: new Map([[ABS_X, { min: 0, max: TABLET_MAX }], [ABS_Y, { min: 0, max: TABLET_MAX }]]),
  },
};

function bitmap(codes: readonly number[]): Uint8Array {
  const out = new Uint8Array(UNION_BYTES);
  for (const c of codes) out[c >> 3]! |= 1 << (c & 7);
  // The size is the bitmap's length up to its last byte with a bit set.
  let size = UNION_BYTES;
  while (size > 0 && out[size - 1] === 0) size--;
  return out.subarray(0, size);
}

/** The bytes behind (select, subsel), or none: size 0 tells the driver there is nothing there. */
function answer(m: Model, select: number, subsel: number): Uint8Array {
  switch (select) {
    case CFG.ID_NAME: return subsel === 0 ? Buffer.from(m.name, 'ascii') : new Uint8Array(0);
    case CFG.ID_SERIAL: return subsel === 0 ? Buffer.from(`tsvmm-${m.product}`, 'ascii') : new Uint8Array(0);
    case CFG.ID_DEVIDS: {
      if (subsel !== 0) return new Uint8Array(0);
      const b = Buffer.alloc(8);
      b.writeUInt16LE(BUS_VIRTUAL, 0);
      b.writeUInt16LE(0x0627, 2); // the vendor id QEMU's virtio-input uses; Linux only shows it
      b.writeUInt16LE(m.product, 4);
      b.writeUInt16LE(1, 6);
      return b;
    }
    case CFG.PROP_BITS: return new Uint8Array(0);
    case CFG.EV_BITS: {
      const codes = m.bits.get(subsel);
      // EV_REP has no codes but its presence asks the input core to autorepeat: one byte, no bits.
      if (codes === undefined) return new Uint8Array(0);
      return codes.length === 0 ? new Uint8Array(1) : bitmap(codes);
    }
    case CFG.ABS_INFO: {
      const a = m.abs.get(subsel);
      if (a === undefined) return new Uint8Array(0);
      const b = Buffer.alloc(20); // min, max, fuzz, flat, res
      b.writeUInt32LE(a.min, 0);
      b.writeUInt32LE(a.max, 4);
      return b;
    }
    default: return new Uint8Array(0);
  }
}

export class InputDevice implements VirtioDevice {
  readonly deviceType = INPUT_DEVICE_TYPE;
  readonly queueMaxSizes = [64, 64];
  readonly features = 0n;
  private readonly model: Model;
  private select = 0;
  private subsel = 0;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  /** Events not yet given to the driver: pending[head..]. A head index, not shift(), keeps each take O(1). */
  private pending: InputEvent[] = [];
  private head = 0;
  private readonly stats = { events: 0, dropped: 0, statusEvents: 0, errors: 0 };
  private readonly turns = new TurnBudget(() => this.host, () => this.serve());

  constructor(readonly kind: InputKind) {
    this.model = MODELS[kind];
  }

  configSpace(): Uint8Array {
    const out = new Uint8Array(CONFIG_BYTES);
    const body = answer(this.model, this.select, this.subsel);
    out[0] = this.select;
    out[1] = this.subsel;
    out[2] = body.length;
    out.set(body, 8);
    return out;
  }

  /** Only select and subsel are the driver's to write; writes elsewhere are ignored. */
  configWrite(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) {
      if (offset + i === 0) this.select = data[i]!;
      else if (offset + i === 1) this.subsel = data[i]!;
    }
  }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    this.serve();
  }

  onQueueNotify(queue: number): void {
    if (queue === 1) this.drainStatus();
    else this.serve();
  }

  /**
   * Queues events for the guest (a key's press is EV_KEY value 1, its release 0; each group ends with EV_SYN
   * SYN_REPORT, or Linux holds it back). Events past MAX_PENDING_EVENTS are dropped; returns how many were queued.
   */
  inject(events: readonly InputEvent[]): number {
    let queued = 0;
    for (const e of events) {
      checkEvent(e);
      if (this.waiting() >= MAX_PENDING_EVENTS) {
        this.stats.dropped++;
        continue;
      }
      this.pending.push({ type: e.type, code: e.code, value: e.value });
      queued++;
    }
    this.serve();
    return queued;
  }

  /** Fills the driver's event buffers with pending events, one per buffer. */
  private serve(): void {
    if (this.ctx === undefined || this.waiting() === 0) return;
    this.turns.start();
    serveQueue(this.ctx, this.ctx.queues[0], () => this.stats.errors++, (q) => {
      let served = false;
      while (this.waiting() > 0 && !(served && this.turns.spent())) {
        const chain = q.pop();
        if (chain === null) break;
        const buf = chain.writable[0];
        // A buffer shorter than one event is the driver's error: this one is returned empty and the event kept.
        if (buf === undefined || buf.length < EVENT_BYTES) {
          this.stats.errors++;
          q.pushUsed(chain.head, 0);
          served = true;
          continue;
        }
        const e = this.pending[this.head++]!;
        const v = new DataView(buf.buffer, buf.byteOffset, EVENT_BYTES);
        v.setUint16(0, e.type, true);
        v.setUint16(2, e.code, true);
        v.setInt32(4, e.value, true);
        q.pushUsed(chain.head, EVENT_BYTES);
        this.stats.events++;
        served = true;
      }
      return served;
    });
  }

  /** The driver's status events (LEDs): counted and returned; a buffer that is not one whole event is counted too. */
  private drainStatus(): void {
    serveQueue(this.ctx, this.ctx?.queues[1], () => this.stats.errors++, (q) => {
      let served = false;
      for (let n = 0; n < q.size; n++) {
        const chain = q.pop();
        if (chain === null) break;
        if (chain.readableBytes === EVENT_BYTES) this.stats.statusEvents++;
        else this.stats.errors++;
        q.pushUsed(chain.head, 0);
        served = true;
      }
      return served;
    });
  }

  /**
   * The driver's selector and the events it has not taken: no chain is held between turns (each buffer popped is
   * filled or returned at once, and status buffers likewise), so the rings hold the rest.
   */
  snapshotState(): { select: number; subsel: number; pending: [number, number, number][] } {
    return { select: this.select, subsel: this.subsel,
      pending: this.pending.slice(this.head).map((e) => [e.type, e.code, e.value]) };
  }

  restoreState(state: unknown): void {
    const s = savedObject(state);
    const byte = (name: 'select' | 'subsel'): number => savedInt(name, s[name], 0, 0xff);
    const select = byte('select');
    const subsel = byte('subsel');
    if (!Array.isArray(s.pending) || s.pending.length > MAX_PENDING_EVENTS) {
      throw new RangeError(`pending is not a list of at most ${MAX_PENDING_EVENTS} events`);
    }
    const pending = s.pending.map((raw: unknown, i) => {
      const [type, code, value] = Array.isArray(raw) && raw.length === 3 ? raw as unknown[] : [];
      const e = { type, code, value };
      try {
        checkEvent(e);
      } catch (err) {
        throw new RangeError(`pending[${i}]: ${(err as Error).message}`, { cause: err });
      }
      return e;
    });
    this.select = select;
    this.subsel = subsel;
    this.pending = pending;
    this.head = 0;
  }

  reset(): void {
    this.turns.cancel();
    this.ctx = undefined;
    this.select = 0;
    this.subsel = 0;
    // Events meant for the old driver mean nothing to the next one.
    this.pending = [];
    this.head = 0;
  }

  counters(): Record<string, number> { return { ...this.stats, pending: this.waiting() }; }

  /** How many more events inject() would queue now: a caller that must not lose half a key press checks first. */
  room(): number { return MAX_PENDING_EVENTS - this.waiting(); }

  private waiting(): number {
    // Taken events are dropped from the front once they are half the array, so it never grows past twice the cap.
    if (this.head > 0 && this.head * 2 >= this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    return this.pending.length - this.head;
  }
}

/** An event's fields as the wire carries them: type and code 16 bits, value a signed 32-bit integer. */
export function checkEvent(event: unknown): asserts event is InputEvent {
  const u16 = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff;
  const e = (typeof event === 'object' && event !== null ? event : {}) as Partial<InputEvent>;
  if (event !== e || !u16(e.type) || !u16(e.code)
    || !Number.isInteger(e.value) || e.value! < -0x8000_0000 || e.value! > 0x7fff_ffff) {
    throw new RangeError(`an input event is { type, code } of 0..65535 and a 32-bit signed value, not ${JSON.stringify(event)}`);
  }
}

/** A key pressed and released: the four events (two reports) a keyboard sends for it. */
export function keyPress(code: number): InputEvent[] {
  return [
    { type: EV.KEY, code, value: 1 }, { type: EV.SYN, code: SYN_REPORT, value: 0 },
    { type: EV.KEY, code, value: 0 }, { type: EV.SYN, code: SYN_REPORT, value: 0 },
  ];
}
