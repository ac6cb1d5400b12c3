// Fakes for the browser console's tests: a scanout (a BGRX frame the test paints and damages), a machine around it
// (a real vm.input over fake devices, and a serial console), a clock the test moves by hand, and a socket whose
// bufferedAmount the test sets.
import type { Rect } from '../../src/devices/gpu/protocol';
import type { Frame } from '../../src/devices/gpu/screenshot';
import type { InputEvent } from '../../src/devices/input';
import type { MachineConfig } from '../../src/vmm/config';
import type { Clock, WebSocketLike } from '../../src/api/web-client';
import type { WebConsoleSources } from '../../src/api/web-console';
import { VmInput } from '../../src/api/vm-input';

export const BGRX = 2;

/** A width x height BGRX frame: pixel (x, y) is blue x, green y, red 7, and the X byte 0. */
export function bgrxFrame(width: number, height: number): Frame {
  const pixels = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) pixels.set([x & 0xff, y & 0xff, 7, 0], (y * width + x) * 4);
  }
  return { format: BGRX, pixels, stride: width * 4, x: 0, y: 0, width, height };
}

/** The RGBA bytes bgrxFrame's pixels of `rect` become. */
export function expectedRgba(rect: Rect): Buffer {
  const out: number[] = [];
  for (let y = rect.y; y < rect.y + rect.height; y++) {
    for (let x = rect.x; x < rect.x + rect.width; x++) out.push(7, y & 0xff, x & 0xff, 255);
  }
  return Buffer.from(out);
}

export class FakeScreen {
  frameNow: Frame | undefined;
  readonly listeners = new Set<(rect?: Rect) => void>();

  constructor(frame: Frame | undefined) { this.frameNow = frame; }

  frame(): Frame | undefined { return this.frameNow; }

  onChange(listener: (rect?: Rect) => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  damage(rect?: Rect): void { for (const l of this.listeners) l(rect); }
}

/**
 * What the console serves without a machine: `screen`, a real vm.input over a fake keyboard (device 0) and tablet
 * (device 1), and a serial console whose output the test writes and whose input it reads.
 */
export class FakeMachine {
  /** Events vm.input queued, by device index (0: the keyboard, 1: the tablet). */
  readonly sent: InputEvent[][] = [[], []];
  /** What the console's browsers sent the serial console, in order. */
  readonly serialIn: Buffer[] = [];
  readonly sources: WebConsoleSources;
  private readonly serialListeners = new Set<(chunk: Buffer) => void>();

  constructor(readonly screen: FakeScreen) {
    const input = new VmInput({
      config: () => ({ devices: [{ type: 'input', kind: 'keyboard' }, { type: 'input', kind: 'tablet' }] }) as unknown as MachineConfig,
      send: (device, events) => this.sent[device]!.push(...events),
      room: () => 1000,
      gpu: () => undefined,
      check: () => {},
    });
    this.sources = {
      screen,
      input: {
        key: (code, action) => { input.key(code, { action }); },
        pointer: (x, y, buttons, s) => { input.pointer(x, y, buttons, s); },
        serial: (bytes) => { this.serialIn.push(bytes); },
      },
      onSerialOutput: (l) => {
        this.serialListeners.add(l);
        return () => { this.serialListeners.delete(l); };
      },
    };
  }

  /** The guest writes `chunk` on its serial console. */
  serialOutput(chunk: Buffer): void { for (const l of this.serialListeners) l(chunk); }
}

export class ManualClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;

  now(): number { return this.t; }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }

  clearTimeout(timer: unknown): void { this.timers = this.timers.filter((x) => x.id !== timer); }

  get pending(): number { return this.timers.length; }

  /** Moves time on by `ms`, running the timers that fall due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
}

export class FakeSocket implements WebSocketLike {
  bufferedAmount = 0;
  readonly sent: (Buffer | string)[] = [];
  closed: { code: number; reason: string } | undefined;

  send(data: Buffer | string): void { this.sent.push(data); }

  close(code: number, reason: string): void { this.closed = { code, reason }; }

  /** The pixel messages sent, as their rectangles and screen sizes. */
  rects(): { x: number; y: number; width: number; height: number; screen: [number, number] }[] {
    return this.sent.filter((m): m is Buffer => typeof m !== 'string' && m[0] === 1).map((m) => ({
      x: m.readUInt16LE(4), y: m.readUInt16LE(6), width: m.readUInt16LE(8), height: m.readUInt16LE(10),
      screen: [m.readUInt16LE(12), m.readUInt16LE(14)],
    }));
  }
}
