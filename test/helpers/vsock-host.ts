// A host program's end of a connection through a vsock device's unix socket (Firecracker's hybrid protocol): it
// asks for a guest port with `CONNECT <port>\n` and is answered `OK <host port>\n`, or the device ends the stream.
// The same class wraps the connections the device makes to host listeners for the guest (no handshake there).
import * as net from 'node:net';

export class HostEnd {
  /** Everything read, the OK line included. */
  readonly data: Buffer[] = [];
  ended = false;
  closed = false;
  /** The port from the OK line, once it came. */
  hostPort: number | undefined;
  /** After connectTo(): the port from `OK <port>`, or null when the stream ends or closes without that line. */
  readonly handshake: Promise<number | null>;
  /** Resolves at the end of the stream; rejects when the socket fails or closes without one. */
  readonly finished: Promise<void>;
  /** Resolves once the socket has closed. */
  readonly gone: Promise<void>;
  readonly started = Date.now();

  constructor(readonly sock: net.Socket) {
    let answered: (port: number | null) => void = () => {};
    let wrongAnswer: (e: Error) => void = () => {};
    this.handshake = new Promise((resolve, reject) => { answered = resolve; wrongAnswer = reject; });
    let firstLine = true;
    sock.on('data', (c: Buffer) => {
      this.data.push(c);
      if (!firstLine) return;
      const head = this.bytes;
      const nl = head.indexOf(0x0a);
      if (nl < 0) return;
      firstLine = false;
      const m = /^OK (\d+)$/.exec(head.subarray(0, nl).toString('latin1'));
      if (m) {
        this.hostPort = Number(m[1]);
        answered(this.hostPort);
      } else {
        wrongAnswer(new Error(`the handshake was answered ${JSON.stringify(head.toString('latin1'))}`));
      }
    });
    this.finished = new Promise((resolve, reject) => {
      sock.on('end', () => { this.ended = true; answered(null); resolve(); });
      sock.on('error', reject);
      sock.on('close', () => reject(new Error(`connection ${this.hostPort ?? '(no port)'} closed with no end of stream`)));
    });
    this.gone = new Promise((resolve) => sock.on('close', () => { this.closed = true; answered(null); resolve(); }));
    // Only those who wait on these hear their failures; a wrapped socket with no handshake has no OK line to read.
    this.handshake.catch(() => {});
    this.finished.catch(() => {});
  }

  /** Connects to the device's socket and writes `line` (a CONNECT line, or anything a test wants to try). */
  static connect(socketPath: string, line?: string | Buffer): HostEnd {
    const h = new HostEnd(net.createConnection({ path: socketPath, allowHalfOpen: true }));
    if (line !== undefined) h.sock.write(line);
    return h;
  }

  /** Asks for guest port `port`; `early` bytes go in the same write, and reach the guest as soon as it accepts. */
  static connectTo(socketPath: string, port: number, early: Uint8Array = new Uint8Array(0)): HostEnd {
    const h = HostEnd.connect(socketPath, Buffer.concat([Buffer.from(`CONNECT ${port}\n`), early]));
    // A refusal is the end of the stream with no OK line: the device half-closes, and so does this end.
    h.sock.on('end', () => { if (h.hostPort === undefined) h.sock.end(); });
    return h;
  }

  get bytes(): Buffer { return Buffer.concat(this.data); }
  get text(): string { return this.bytes.toString('latin1'); }
  /** What came after the `OK <port>` line. */
  get afterOk(): Buffer { const b = this.bytes; return b.subarray(b.indexOf(0x0a) + 1); }

  /** Everything after the OK line, once the stream has ended. */
  async received(): Promise<Buffer> {
    await this.finished;
    return this.afterOk;
  }

  /** Writes `data` in uneven pieces as fast as the socket takes them, then half-closes. */
  async send(data: Uint8Array): Promise<void> {
    for (let at = 0, n = 1; at < data.length; at += n, n = (n * 7 + 4093) % 65_521 + 1) {
      if (!this.sock.write(data.subarray(at, at + n))) await this.drained();
    }
    this.sock.end();
  }

  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.sock.destroyed) { reject(new Error(`connection ${this.hostPort} closed while sending`)); return; }
      const done = (e?: Error): void => {
        this.sock.off('drain', done);
        this.sock.off('close', closed);
        if (e) reject(e); else resolve();
      };
      const closed = (): void => done(new Error(`connection ${this.hostPort} closed while sending`));
      this.sock.on('drain', done);
      this.sock.on('close', closed);
    });
  }
}
