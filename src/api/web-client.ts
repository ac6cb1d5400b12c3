// One browser connected to the console: the screen it is sent (dirty rectangles, at most FRAMES_PER_SECOND
// updates a second, never more than HIGH_WATER bytes waiting in its socket), and what it sends (keys, pointer,
// serial text) handed to the machine. A browser that reads slowly does not make the host queue without end: while
// its socket holds more than HIGH_WATER bytes nothing more is sent, the rectangles changed meanwhile collapse into
// one full refresh, and that is sent once the socket has drained.
import type { Rect } from '../devices/gpu/protocol';
import type { Frame } from '../devices/gpu/screenshot';
import type { ScreenSize } from './input-pointer';
import { clipRect, pixelsMessage, PIXELS_HEADER_BYTES } from './web-frame';
import { domKeyCode } from './web-keys';
import { BadMessage, parseClientMessage, type ClientMessage } from './web-messages';

export const FRAMES_PER_SECOND = 30;
/** Bytes waiting in a client's socket above which no more pixels (or serial output) are sent to it. */
export const HIGH_WATER = 4 << 20;
/** Pixels of one message at most: a large rectangle goes as bands of rows, the socket checked between bands. */
export const BAND_BYTES = 1 << 20;
/** Rectangles waiting at most; one more and they collapse into a full refresh. */
export const MAX_RECTS = 32;
/** Errors from the machine (input refused) are told a client at most this often. */
const ERROR_INTERVAL_MS = 1000;

/** What the client shows: a scanout of the machine's gpu. */
export interface WebScreen {
  /** What the scanout shows now, or undefined when nothing is set on it. */
  frame(): Frame | undefined;
}

/** Where a client's keys, pointer and serial text go. Each may throw (the machine refuses); the client counts it. */
export interface WebInput {
  key(code: number, action: 'press' | 'release'): void;
  pointer(x: number, y: number, buttons: number, screen: ScreenSize): void;
  /** Bytes for the serial console; absent when the machine's serial console takes no input from here. */
  serial?: (bytes: Buffer) => void;
}

/** The client's end of its WebSocket (ws's WebSocket has these). */
export interface WebSocketLike {
  readonly bufferedAmount: number;
  send(data: Buffer | string): void;
  close(code: number, reason: string): void;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => { clearTimeout(t as NodeJS.Timeout); },
};

export interface ClientCounters {
  /** Pixel messages sent. */
  frames: number;
  /** Times the rectangles waiting were collapsed into a full refresh (slow socket, or too many). */
  coalesced: number;
  /** Messages of a type the console does not know, and keys it does not map. */
  ignored: number;
  /** Input the machine refused (not running, its queue full, no such device). */
  refused: number;
  /** Serial output bytes not sent because the socket was full. */
  serialDropped: number;
}

export class WebClient {
  readonly counters: ClientCounters = { frames: 0, coalesced: 0, ignored: 0, refused: 0, serialDropped: 0 };
  private rects: Rect[] = [];
  private full = true;
  /** The screen size last sent, or 'blank' after saying nothing is shown; undefined before anything. */
  private shown: ScreenSize | 'blank' | undefined;
  private timer: unknown;
  private lastSent = -Infinity;
  private lastError = -Infinity;
  private closed = false;
  private readonly keysDown = new Set<number>();
  private pointerAt: { x: number; y: number; buttons: number } | undefined;

  constructor(private readonly socket: WebSocketLike, private readonly screen: WebScreen,
    private readonly input: WebInput, private readonly clock: Clock = realClock) {
    this.schedule();
  }

  /** The scanout changed: `rect` (scanout pixels), or the whole of it. */
  damage(rect?: Rect): void {
    if (this.closed) return;
    if (rect === undefined) this.refresh();
    else if (!this.full) {
      this.rects.push(rect);
      if (this.rects.length > MAX_RECTS) this.refresh();
    }
    this.schedule();
  }

  /** Serial output, unless the socket is full: then it is dropped and counted, as a terminal that is not read. */
  serialOutput(message: Buffer): void {
    if (this.closed) return;
    if (this.socket.bufferedAmount > HIGH_WATER) this.counters.serialDropped += message.length - 1;
    else this.socket.send(message);
  }

  /** A text message from the browser; a bad one closes the connection with the reason. */
  receive(text: string): void {
    if (this.closed) return;
    let m: ClientMessage | undefined;
    try {
      m = parseClientMessage(text);
    } catch (e) {
      if (!(e instanceof BadMessage)) throw e;
      this.socket.close(e.closeCode, e.message);
      this.stop();
      return;
    }
    if (m === undefined) this.counters.ignored++;
    else this.act(m);
  }

  /** The connection ended: keys and buttons it still holds are let go, so the guest does not see them stuck. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const code of this.keysDown) this.machine(() => { this.input.key(code, 'release'); });
    this.keysDown.clear();
    const p = this.pointerAt;
    const frame = this.screen.frame();
    if (p !== undefined && p.buttons !== 0 && frame !== undefined) {
      const screen = { width: frame.width, height: frame.height };
      this.machine(() => { this.input.pointer(Math.min(p.x, screen.width - 1), Math.min(p.y, screen.height - 1), 0, screen); });
    }
  }

  private act(m: ClientMessage): void {
    switch (m.t) {
      case 'key': {
        const code = domKeyCode(m.code);
        if (code === undefined) { this.counters.ignored++; return; }
        if (m.down) this.keysDown.add(code); else this.keysDown.delete(code);
        this.machine(() => { this.input.key(code, m.down ? 'press' : 'release'); });
        return;
      }
      case 'pointer': {
        const frame = this.screen.frame();
        if (frame === undefined) { this.counters.ignored++; return; }
        // The page's idea of the screen may be a frame behind a mode change: a position past it goes to the edge.
        const x = Math.min(m.x, frame.width - 1);
        const y = Math.min(m.y, frame.height - 1);
        this.pointerAt = { x, y, buttons: m.buttons };
        this.machine(() => { this.input.pointer(x, y, m.buttons, { width: frame.width, height: frame.height }); });
        return;
      }
      case 'serial': {
        const serial = this.input.serial;
        if (serial === undefined) { this.counters.ignored++; return; }
        this.machine(() => { serial(Buffer.from(m.text, 'utf8')); });
      }
    }
  }

  /** Runs what the machine may refuse; a refusal is counted and told the page now and then. */
  private machine(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.counters.refused++;
      const now = this.clock.now();
      if (this.closed || now - this.lastError < ERROR_INTERVAL_MS) return;
      this.lastError = now;
      this.socket.send(JSON.stringify({ t: 'error', message: e instanceof Error ? e.message : String(e) }));
    }
  }

  private refresh(): void {
    if (!this.full && this.rects.length > 0) this.counters.coalesced++;
    this.full = true;
    this.rects = [];
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined || (!this.full && this.rects.length === 0)) return;
    const wait = Math.max(0, this.lastSent + 1000 / FRAMES_PER_SECOND - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.send();
    }, wait);
  }

  /** One update: what is waiting, as far as the socket takes it; the rest waits for the next. */
  private send(): void {
    if (this.closed) return;
    if (this.socket.bufferedAmount > HIGH_WATER) {
      this.refresh();
      this.lastSent = this.clock.now();
      this.schedule();
      return;
    }
    const frame = this.screen.frame();
    if (frame === undefined || frame.width < 1 || frame.height < 1) {
      if (this.shown !== 'blank') this.socket.send(JSON.stringify({ t: 'blank' }));
      this.shown = 'blank';
      this.full = false;
      this.rects = [];
      return;
    }
    const shown = this.shown;
    if (this.full || shown === undefined || shown === 'blank' || shown.width !== frame.width || shown.height !== frame.height) {
      this.full = false;
      this.rects = [{ x: 0, y: 0, width: frame.width, height: frame.height }];
      this.shown = { width: frame.width, height: frame.height };
    }
    this.lastSent = this.clock.now();
    while (this.rects.length > 0 && this.socket.bufferedAmount <= HIGH_WATER) {
      const r = clipRect(this.rects.shift()!, frame.width, frame.height);
      if (r === undefined) continue;
      const rows = Math.max(1, Math.floor((BAND_BYTES - PIXELS_HEADER_BYTES) / (r.width * 4)));
      if (r.height > rows) this.rects.unshift({ ...r, y: r.y + rows, height: r.height - rows });
      this.socket.send(pixelsMessage(frame, { ...r, height: Math.min(rows, r.height) }));
      this.counters.frames++;
    }
    this.schedule();
  }
}
