// The control socket: JSON over HTTP on a unix socket (node:http), the routes in routes.ts, the document in
// docs/api.yaml. One server per socket path: a path a live server answers on is refused, a stale socket file
// (its server died) is replaced, anything else at the path is left alone. The socket is private to its owner
// (mode 0600) and removed when the server closes.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { isMainThread } from 'node:worker_threads';
import pino, { type Logger } from 'pino';
import { ApiController } from './controller';
import { ClientGone, httpErrorOf, readJsonBody, sendJson, sendText } from './http-json';
import type { TransferLimits } from './route-kit';
import { matchRoute } from './routes';
import type { Vm } from './vm';
import { createLogger } from '../log';
import { ConfigError } from '../vmm/config';

/** How long close() lets requests in progress (a stop, a wait for the end) write their answers. */
const CLOSE_GRACE_MS = 1000;

/**
 * What one client may hold. A connection that sends no complete request head within idleMs, or sits idle that
 * long between requests, is closed (a request head gets 408 first); a JSON body must arrive within requestMs, and a
 * streamed one (a file, a command's input) may not pause longer than that while it is needed. An answer may take as
 * long as it takes (GET /exit waits for the end). Connections past maxConnections are closed as they arrive. A file
 * moved through PUT or GET /files may be maxFileBytes long; POST /exec holds at most maxExecOutputBytes per output.
 */
export interface SocketLimits extends TransferLimits {
  maxConnections: number;
  idleMs: number;
}

export const SOCKET_LIMITS: Readonly<SocketLimits> = {
  maxConnections: 32, idleMs: 5000, requestMs: 30_000, maxFileBytes: 1024 * 1024 * 1024, maxExecOutputBytes: 16 * 1024 * 1024,
};

export interface ServeOptions {
  logger?: Logger;
  /** Where relative paths in configs and disk swaps start; default the current directory. */
  baseDir?: string;
  /** The field name errors about the path carry (the CLI says --api-sock); default apiSocket. */
  field?: string;
  /** Default SOCKET_LIMITS. */
  limits?: Partial<SocketLimits>;
}

/** The path of a request target as sent, without its query: `//config` is not read as a URL with host `config`. */
export function requestPath(target: string | undefined): string {
  const t = target ?? '/';
  const end = t.search(/[?#]/);
  return end < 0 ? t : t.slice(0, end);
}

/** The query of a request target (`?path=/etc/hosts`), without its fragment. */
export function requestQuery(target: string | undefined): URLSearchParams {
  const whole = target ?? '';
  const hash = whole.indexOf('#');
  const t = hash < 0 ? whole : whole.slice(0, hash);
  const q = t.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : t.slice(q + 1));
}

function createHttpServer(limits: SocketLimits, handler: http.RequestListener): http.Server {
  const server = http.createServer({
    headersTimeout: limits.idleMs,
    // Off: a streamed body (a command's stdin) lasts as long as its command. Bodies keep their own deadlines
    // (readJsonBody, the raw routes), and a request head still has headersTimeout.
    requestTimeout: 0,
    keepAliveTimeout: limits.idleMs,
    // Node looks for expired connections this often; its default (30 s) would stretch a short idle limit.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.idleMs / 4))),
  }, handler);
  server.maxConnections = limits.maxConnections;
  server.on('clientError', answerClientError);
  return server;
}

/**
 * A request Node's parser refused (a target without a leading slash, a malformed head, one too large, one too slow)
 * is answered in JSON like every other error; Node's own answer has no body a client could read a reason from.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: net.Socket): void {
  // After an answer on this connection (a body the route did not read, parsed as the next request) a second one
  // would be garbage to the client: the connection just ends, as Node's own handler does.
  if (!socket.writable || socket.bytesWritten > 0 || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'ERR_HTTP_HEADERS_TIMEOUT' ? 408 : 400;
  const text = JSON.stringify({ error: `${http.STATUS_CODES[status]}: the request could not be parsed as HTTP/1.1` }) + '\n';
  // The answer to a HEAD has no body, even when the rest of its request could not be parsed.
  const raw = (err as { rawPacket?: Buffer }).rawPacket;
  const head = raw !== undefined && raw.toString('latin1', 0, 5) === 'HEAD ';
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\n`
    + `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${head ? '' : text}`);
}

/** Whether something accepts connections on the unix socket at `p`. */
function answers(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Makes `p` free to listen on, or says why it is not. */
async function claimPath(p: string, field: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ConfigError(field, `${p} exists and is not a socket; not replacing it`);
  if (await answers(p)) throw new ConfigError(field, `${p} is in use by a running server`);
  fs.unlinkSync(p); // a stale socket left by a server that died
}

/**
 * Listens with the socket file made mode 0600 by bind() itself, so no other user can connect between its creation
 * and a chmod. bind() runs synchronously inside listen(), so the umask is changed only for that call. A worker
 * thread cannot change the umask; there the file is chmod'ed right after.
 */
function listenPrivately(server: http.Server, socketPath: string, listening: () => void): void {
  if (!isMainThread) {
    server.listen(socketPath, () => {
      fs.chmodSync(socketPath, 0o600);
      listening();
    });
    return;
  }
  const old = process.umask(0o177);
  try {
    server.listen(socketPath, listening);
  } finally {
    process.umask(old);
  }
}

export class ApiServer {
  private readonly http: http.Server;
  private inode: number | undefined;
  private closing: Promise<void> | undefined;

  private constructor(readonly path: string, readonly controller: ApiController, private readonly log: Logger,
    private readonly limits: SocketLimits) {
    this.http = createHttpServer(limits, (req, res) => void this.dispatch(req, res));
    this.http.on('drop', () => this.log.debug('control socket connection refused: too many open'));
  }

  /** Serves `controller` (a machine, or a config waiting for one) on the unix socket at `socketPath`. */
  static async listen(socketPath: string, controller: ApiController, opts: ServeOptions = {}): Promise<ApiServer> {
    const field = opts.field ?? 'apiSocket';
    await claimPath(socketPath, field);
    const server = new ApiServer(socketPath, controller, opts.logger ?? pino({ level: 'silent' }),
      { ...SOCKET_LIMITS, ...opts.limits });
    controller.servedAt(socketPath);
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
        ? new ConfigError(field, `${socketPath} is in use by a running server`) : e));
      listenPrivately(server.http, socketPath, () => resolve());
    });
    server.inode = fs.statSync(socketPath).ino;
    server.log.info({ socket: socketPath }, 'control socket listening');
    return server;
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.on('error', () => {}); // a client gone mid-answer is not the server's problem
    const pathname = requestPath(req.url);
    const m = matchRoute(req.method ?? 'GET', pathname);
    if (m.kind === 'none') {
      req.resume();
      sendJson(res, 404, { error: `no route ${pathname}` });
      return;
    }
    if (m.kind === 'wrong-method') {
      req.resume();
      sendJson(res, 405, { error: `${req.method} is not allowed on ${pathname} (allowed: ${m.allow.join(', ')})` },
        { allow: m.allow.join(', ') });
      return;
    }
    // A raw route's body may be left unread (an error before it was needed): the connection cannot be reused.
    if (m.route.raw) res.setHeader('connection', 'close');
    try {
      const body = m.route.raw ? undefined
        : m.route.body ? await readJsonBody(req, this.limits.requestMs) : (req.resume(), undefined);
      const query = requestQuery(req.url);
      const reply = await m.route.handle({
        controller: this.controller, params: m.params, query, body, limits: this.limits, req, res,
      });
      if (reply.streamed) return;
      if (reply.text) sendText(res, reply.status, reply.text.contentType, reply.text.body);
      else sendJson(res, reply.status, reply.body);
    } catch (e) {
      if (e instanceof ClientGone) return;
      if (res.headersSent) {
        res.destroy(); // mid-stream: a cut connection is the only way left to say it failed
        return;
      }
      const { status, body } = httpErrorOf(e);
      if (status >= 500) this.log.error({ err: e, route: `${req.method} ${pathname}` }, 'control request failed');
      sendJson(res, status, body, status === 408 ? { connection: 'close' } : {});
    }
  }

  /** Stops listening, gives requests in progress a moment to answer, and removes the socket file. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeIdleConnections();
      const grace = setTimeout(() => this.http.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
      this.removeSocketFile();
    })();
    return this.closing;
  }

  /** Only our own socket: another server may have taken the path since. */
  private removeSocketFile(): void {
    try {
      if (fs.statSync(this.path).ino === this.inode) fs.unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

/**
 * Serves an existing Vm on a control socket (what `tsvmm run --api-sock` does for its machine). The server stays
 * up after the machine ends, so clients can still read how it ended; close it when done.
 */
export function serveVm(vm: Vm, socketPath: string, opts: ServeOptions = {}): Promise<ApiServer> {
  // Silent, but on stderr: PUT /logger may turn it up, and stdout is the program's.
  const logger = opts.logger ?? createLogger('silent');
  const controller = new ApiController({ logger, baseDir: opts.baseDir ?? process.cwd(), vm });
  return ApiServer.listen(socketPath, controller, { ...opts, logger });
}
