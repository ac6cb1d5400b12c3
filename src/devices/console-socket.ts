// The `socket` backend of virtio-console: tsvmm listens on a unix socket and one client at a time is the console's
// other end (what it writes is guest input, the guest's output is written to it). Output that arrives while no
// client is attached is kept, up to a bound, and handed to the next client, so a client that attaches late still
// sees the boot messages. A second client while one is attached is told so and closed.
import * as fs from 'node:fs';
import * as net from 'node:net';

/** Guest output kept for the next client while none is attached. */
export const BACKLOG_BYTES = 64 * 1024;

export interface ConsoleSocketOptions {
  /** Host input from the client, for the device's receive queue. */
  onInput(bytes: Buffer): void;
  onError?(err: Error): void;
}

export class ConsoleSocket {
  private readonly server: net.Server;
  private client: net.Socket | undefined;
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private closed = false;
  private retried = false;
  readonly stats = { clients: 0, refused: 0, droppedOutput: 0 };
  /** Resolves once the socket accepts clients (never, when listening failed: see onError). */
  readonly ready: Promise<void>;

  constructor(readonly path: string, private readonly opts: ConsoleSocketOptions) {
    this.server = net.createServer((s) => this.attach(s));
    this.server.unref();
    this.server.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE' && !this.retried) this.replaceIfStale();
      else this.opts.onError?.(e);
    });
    this.ready = new Promise((resolve) => this.server.once('listening', () => resolve()));
    this.server.listen(path);
  }

  /** The path exists: a live server there keeps it (an error is reported); a socket nobody serves is replaced. */
  private replaceIfStale(): void {
    this.retried = true;
    const probe = net.connect(this.path);
    probe.on('connect', () => {
      probe.destroy();
      this.opts.onError?.(Object.assign(new Error(`${this.path} is served by another process`), { code: 'EADDRINUSE' }));
    });
    probe.on('error', () => {
      try {
        if (!fs.lstatSync(this.path).isSocket()) throw new Error(`${this.path} exists and is not a socket`);
        fs.unlinkSync(this.path);
      } catch (e) {
        this.opts.onError?.(e as Error);
        return;
      }
      if (!this.closed) this.server.listen(this.path);
    });
  }

  private attach(socket: net.Socket): void {
    if (this.client !== undefined || this.closed) {
      this.stats.refused++;
      socket.end('tsvmm: this console already has a client\n');
      return;
    }
    this.stats.clients++;
    this.client = socket;
    socket.on('data', (d: Buffer) => this.opts.onInput(d));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => { if (this.client === socket) this.client = undefined; });
    for (const chunk of this.backlog.splice(0)) socket.write(chunk);
    this.backlogBytes = 0;
  }

  /** Guest output: to the client, or into the bounded backlog (oldest bytes go first) when none is attached. */
  write(chunk: Buffer): void {
    if (this.client !== undefined) {
      // A client that does not read must not make the VMM hold the guest's output without limit.
      if (this.client.writableLength > BACKLOG_BYTES) this.stats.droppedOutput += chunk.length;
      else this.client.write(chunk);
      return;
    }
    this.backlog.push(chunk);
    this.backlogBytes += chunk.length;
    while (this.backlogBytes > BACKLOG_BYTES) {
      const over = this.backlogBytes - BACKLOG_BYTES;
      const head = this.backlog[0]!;
      const cut = Math.min(over, head.length);
      if (cut === head.length) this.backlog.shift(); else this.backlog[0] = head.subarray(cut);
      this.backlogBytes -= cut;
      this.stats.droppedOutput += cut;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client?.end();
    this.client = undefined;
    // Closing a listening unix socket removes its file (libuv does); unlinking here as well could remove a socket
    // someone else has made at the path since.
    if (this.server.listening) this.server.close();
  }
}
