// A protocol peer made of bare frames, for tests that break the protocol on purpose: it sends what it is told
// and keeps every frame it gets, with waits on them.
import * as net from 'node:net';
import { encodeFrame, FieldWriter, FrameDecoder, type Frame } from '../../src/sandbox/codec';
import { FrameType, PROTOCOL_VERSION, Tag } from '../../src/sandbox/protocol';

export class RawPeer {
  readonly frames: Frame[] = [];
  closed = false;
  decodeError: Error | undefined;
  private readonly decoder = new FrameDecoder();
  private readonly waiters = new Set<() => void>();

  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      try {
        this.frames.push(...this.decoder.push(d));
      } catch (e) {
        this.decodeError = e as Error;
      }
      this.wake();
    });
    sock.on('close', () => { this.closed = true; this.wake(); });
    sock.on('error', () => {});
  }

  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  send(type: number, stream: number, payload?: Uint8Array): void {
    this.sock.write(encodeFrame(type, stream, payload));
  }

  hello(version = PROTOCOL_VERSION): void {
    this.send(FrameType.HELLO, 0, new FieldWriter().u32(Tag.VERSION, version).finish());
  }

  /** The first frame (from `from` on) that `match` accepts; rejects when the socket closes first or after `ms`. */
  waitFrame(match: (f: Frame) => boolean, ms = 5000, from = 0): Promise<Frame> {
    return this.wait(() => this.frames.slice(from).find(match), 'a matching frame', ms);
  }

  waitClosed(ms = 5000): Promise<true> {
    return this.wait(() => (this.closed ? true : undefined), 'the connection to close', ms, true);
  }

  private wait<T>(probe: () => T | undefined, what: string, ms: number, closingIsFine = false): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v !== undefined) return done(() => resolve(v));
        if (this.closed && !closingIsFine) done(() => reject(new Error(`the connection closed before ${what}`)));
      };
      const done = (fn: () => void): void => { clearTimeout(timer); this.waiters.delete(check); fn(); };
      const timer = setTimeout(() => done(() => reject(new Error(`no ${what} within ${ms} ms`))), ms);
      this.waiters.add(check);
      check();
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
