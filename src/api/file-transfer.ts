// GET and PUT /files: a guest file's contents as the raw body of the answer or of the request, streamed in both
// directions (the agent's credit follows the socket's), never held whole here. Both are bounded by maxFileBytes;
// a request body must keep coming (no gap longer than requestMs), and a client that goes away cancels the transfer.
import { Transform, type TransformCallback } from 'node:stream';
import { ClientGone, HttpError } from './http-json';
import { STREAMED, type Reply, type RouteContext } from './route-kit';
import { AgentError } from '../sandbox';
import { ConfigError } from '../vmm/config-check';

/** `?name=` holding a guest path. */
export function queryPath(ctx: RouteContext, name = 'path'): string {
  const p = ctx.query.get(name);
  if (p === null || p === '') throw new ConfigError(name, 'required (a guest path, as ?path=...)');
  if (p.includes('\0')) throw new ConfigError(name, 'holds a NUL character');
  return p;
}

/** `?name=true|false|1|0`; absent is false. */
export function queryFlag(ctx: RouteContext, name: string): boolean {
  const v = ctx.query.get(name);
  if (v === null || v === 'false' || v === '0') return false;
  if (v === '' || v === 'true' || v === '1') return true;
  throw new ConfigError(name, `${JSON.stringify(v)} is not true or false`);
}

/** `?mode=` as octal permission bits (644, 0755). */
function queryMode(ctx: RouteContext): number | undefined {
  const v = ctx.query.get('mode');
  if (v === null) return undefined;
  if (!/^0?[0-7]{1,4}$/.test(v)) throw new ConfigError('mode', `${JSON.stringify(v)} is not octal permission bits (e.g. 644)`);
  return parseInt(v, 8);
}

export async function getFile(ctx: RouteContext): Promise<Reply> {
  const path = queryPath(ctx);
  const vm = ctx.controller.requireVm('read a file');
  const { res } = ctx;
  const opened = await vm.files.readStream(path, { maxBytes: ctx.limits.maxFileBytes });
  if (res.destroyed) {
    opened.stream.destroy();
    throw new ClientGone('the client went away');
  }
  res.writeHead(200, {
    'content-type': 'application/octet-stream', 'content-length': String(opened.size),
    'x-file-mode': opened.mode.toString(8).padStart(4, '0'),
  });
  // Ended short (the agent went away, the file shrank): the connection is cut, so the client sees a body shorter
  // than its content-length rather than a file that looks whole.
  opened.stream.on('error', () => res.destroy());
  res.on('close', () => opened.stream.destroy());
  opened.stream.pipe(res);
  return STREAMED;
}

/** Counts a request body through, failing it past the cap or when it stalls. */
class BodyGuard extends Transform {
  size = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly cap: number, private readonly idleMs: number) {
    super();
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.destroy(new HttpError(408, `body: nothing came for ${this.idleMs} ms`)), this.idleMs);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.cap) { done(new HttpError(413, `body: larger than ${this.cap} bytes (maxFileBytes)`)); return; }
    this.arm();
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    clearTimeout(this.timer);
    done();
  }

  override _destroy(err: Error | null, done: (e: Error | null) => void): void {
    clearTimeout(this.timer);
    done(err);
  }
}

export async function putFile(ctx: RouteContext): Promise<Reply> {
  const path = queryPath(ctx);
  const mode = queryMode(ctx);
  const opts = { parents: queryFlag(ctx, 'parents'), append: queryFlag(ctx, 'append'), ...(mode === undefined ? {} : { mode }) };
  const { req, limits } = ctx;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.maxFileBytes) throw new HttpError(413, `body: ${declared} bytes, over ${limits.maxFileBytes} (maxFileBytes)`);
  const vm = ctx.controller.requireVm('write a file');
  const guard = new BodyGuard(limits.maxFileBytes, limits.requestMs);
  let problem: Error | undefined;
  guard.on('error', (e) => { problem = e; });
  req.on('close', () => { if (!req.complete) guard.destroy(new ClientGone('the client went away')); });
  req.pipe(guard);
  try {
    const size = await vm.files.write(path, guard, opts);
    return { status: 200, body: { size } };
  } catch (e) {
    // The body's own failure says more than the agent's "reading the source" around it.
    if (problem !== undefined && e instanceof AgentError && e.code === 'FAILED') throw problem;
    throw e;
  } finally {
    guard.destroy();
  }
}
