// The browser console: an HTTP server on 127.0.0.1 that serves one page (web-page.ts) and a WebSocket (/ws) over
// which the page gets the screen and the serial output and sends keys, the pointer and serial text (web-client.ts).
// Anyone on the host can reach a port on 127.0.0.1, so every request must carry the console's token (128 random
// bits, in the address it prints): one without it, or with another, is answered 403, compared in constant time.
// A WebSocket from a page of another origin is refused too. At most MAX_CLIENTS browsers at once, each message at
// most MAX_PAYLOAD bytes.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Rect } from '../devices/gpu/protocol';
import { realClock, WebClient, type Clock, type WebInput, type WebScreen } from './web-client';
import { serialMessage } from './web-frame';
import { PAGE_HTML, pageHeaders } from './web-page';

export const MAX_CLIENTS = 4;
export const MAX_PAYLOAD = 64 * 1024;
/** The serial output a browser that connects is first sent: the last this many bytes. */
export const SERIAL_BACKLOG = 64 * 1024;
export const TOKEN_BYTES = 16;

export interface WebConsoleSources {
  screen: WebScreen & {
    /** Calls `listener` when the scanout changes (`rect` in its pixels, or all of it); returns what stops it. */
    onChange(listener: (rect?: Rect) => void): () => void;
  };
  input: WebInput;
  /** The serial console's output, when the machine has one here; returns what stops it. */
  onSerialOutput?: (listener: (chunk: Buffer) => void) => () => void;
}

export interface WebConsoleOptions {
  /** 0 (the default): a free port. */
  port?: number;
  /** For the tests: the token (default 16 random bytes) and the clock the clients' frame pacing uses. */
  token?: string;
  clock?: Clock;
}

export interface WebConsole {
  /** http://127.0.0.1:PORT/?token=...: the page, with the token every request needs. */
  readonly url: string;
  readonly port: number;
  /** The browsers connected now. */
  readonly clients: number;
  /** Closes every connection (1001) and stops listening; resolves once the server is closed. */
  close(): Promise<void>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A request's address; undefined for one URL cannot parse (an absolute form like `http://[x`), which would throw. */
function requestUrl(raw: string | undefined): URL | undefined {
  try {
    return new URL(raw ?? '/', 'http://127.0.0.1');
  } catch {
    return undefined;
  }
}

/** The token a request's address carries, compared with `expected` in time that does not depend on where they differ. */
function tokenOk(url: URL | undefined, expected: Buffer): boolean {
  const given = url?.searchParams.get('token') ?? '';
  return timingSafeEqual(digest(given), expected);
}

function refuse(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

class Console implements WebConsole {
  readonly url: string;
  readonly port: number;
  private readonly expected: Buffer;
  private readonly sockets = new Map<WebSocket, WebClient>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
  private readonly stops: (() => void)[] = [];
  private backlog: Buffer[] = [];
  private backlogBytes = 0;
  private closing: Promise<void> | undefined;

  constructor(private readonly server: http.Server, token: string, private readonly sources: WebConsoleSources,
    private readonly clock: Clock) {
    this.port = (server.address() as { port: number }).port;
    this.url = `http://127.0.0.1:${this.port}/?token=${token}`;
    this.expected = digest(token);
    server.on('request', (req, res) => { this.request(req, res); });
    server.on('upgrade', (req, socket, head) => { this.upgrade(req, socket, head); });
    this.stops.push(sources.screen.onChange((rect) => { for (const c of this.sockets.values()) c.damage(rect); }));
    if (sources.onSerialOutput) this.stops.push(sources.onSerialOutput((chunk) => { this.serial(chunk); }));
  }

  get clients(): number { return this.sockets.size; }

  private request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = (status: number, text: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(`${text}\n`);
    };
    const url = requestUrl(req.url);
    if (!tokenOk(url, this.expected)) return answer(403, 'forbidden: this address needs the console\'s token');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405, 'only GET');
    if (url?.pathname !== '/') return answer(404, 'not found');
    res.writeHead(200, pageHeaders(this.port)).end(req.method === 'HEAD' ? undefined : PAGE_HTML);
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const origin = req.headers.origin;
    const origins = [`http://127.0.0.1:${this.port}`, `http://localhost:${this.port}`];
    const url = requestUrl(req.url);
    if (!tokenOk(url, this.expected) || (origin !== undefined && !origins.includes(origin))) {
      return refuse(socket, 403, 'Forbidden');
    }
    if (url?.pathname !== '/ws') return refuse(socket, 404, 'Not Found');
    if (this.closing) return refuse(socket, 503, 'Service Unavailable');
    if (this.sockets.size >= MAX_CLIENTS) return refuse(socket, 503, 'Service Unavailable');
    this.wss.handleUpgrade(req, socket, head, (ws) => { this.connected(ws); });
  }

  private connected(ws: WebSocket): void {
    // Counted from the upgrade on: two upgrades racing past the cap check still make at most one too many wait here.
    if (this.closing || this.sockets.size >= MAX_CLIENTS) {
      ws.close(1013, 'too many browsers connected');
      return;
    }
    const client = new WebClient(ws, this.sources.screen, this.sources.input, this.clock);
    this.sockets.set(ws, client);
    if (this.backlogBytes > 0) client.serialOutput(serialMessage(Buffer.concat(this.backlog)));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.close(1003, 'the console takes text messages only');
        client.stop();
        return;
      }
      client.receive((data as Buffer).toString('utf8'));
    });
    ws.on('close', () => {
      client.stop();
      this.sockets.delete(ws);
    });
    // A socket error closes the socket; 'close' follows.
    ws.on('error', () => {});
  }

  private serial(chunk: Buffer): void {
    // The last SERIAL_BACKLOG bytes, for the browsers that connect later.
    this.backlog.push(Buffer.from(chunk));
    this.backlogBytes += chunk.length;
    while (this.backlogBytes - this.backlog[0]!.length >= SERIAL_BACKLOG) this.backlogBytes -= this.backlog.shift()!.length;
    const over = this.backlogBytes - SERIAL_BACKLOG;
    if (over > 0) {
      this.backlog[0] = this.backlog[0]!.subarray(over);
      this.backlogBytes -= over;
    }
    if (this.sockets.size === 0) return;
    const message = serialMessage(chunk);
    for (const c of this.sockets.values()) c.serialOutput(message);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const stop of this.stops) stop();
      for (const [ws, client] of this.sockets) {
        client.stop();
        ws.close(1001, 'the console is closed');
      }
      this.server.close(() => { resolve(); });
      // Keep-alive HTTP connections would hold close() open; WebSockets get a moment to say goodbye, then go.
      this.server.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const ws of this.sockets.keys()) ws.terminate();
        this.server.closeAllConnections();
      }, 1000);
      timer.unref();
    });
    return this.closing;
  }
}

/**
 * Serves the console for `sources` on 127.0.0.1 (never another address): resolves once it listens. Rejects with the
 * listen error (EADDRINUSE, EACCES) naming the port.
 */
export async function serveWebConsole(sources: WebConsoleSources, options: WebConsoleOptions = {}): Promise<WebConsole> {
  const token = options.token ?? randomBytes(TOKEN_BYTES).toString('base64url');
  const server = http.createServer();
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: options.port ?? 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return new Console(server, token, sources, options.clock ?? realClock);
}
