// JSON over HTTP for the control socket: reading a bounded request body, answering, and turning the errors the API
// throws into statuses (400 a bad request naming the field, 404, 405, 409 the machine's state, 500 our fault).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VmError } from './errors';
import { BalloonError } from '../devices/balloon';
import { BootError } from '../vmm/boot/errors';
import { ConfigError } from '../vmm/config';
import { DeviceOpError } from '../vmm/virtio-devices';

export const MAX_BODY_BYTES = 1024 * 1024;

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The client went away before its request was complete: nobody is left to answer. */
export class ClientGone extends Error {}

/** Reads the whole body; undefined when there is none. Throws HttpError 400 / 413, or ClientGone. */
export function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit the rest is read and dropped, so the client is not cut off (a reset) before the answer.
      if (size > MAX_BODY_BYTES) {
        settle(() => reject(new HttpError(413, `body: larger than ${MAX_BODY_BYTES} bytes`)));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => settle(() => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') { resolve(undefined); return; }
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new HttpError(400, `body: not JSON (${(e as Error).message})`));
      }
    }));
    req.on('aborted', () => settle(() => reject(new ClientGone('the client went away'))));
    req.on('error', () => settle(() => reject(new ClientGone('the client went away'))));
    req.on('close', () => settle(() => reject(new ClientGone('the client went away'))));
  });
}

/** Numbers that can pass 2^53 (the balloon's guest statistics) are bigints here and decimal strings in JSON. */
function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

export function sendJson(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return; // a client that left mid-request gets nothing, and nothing breaks
  const text = body === undefined ? '' : JSON.stringify(body, bigintAsString) + '\n';
  res.writeHead(status, {
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** An answer that is not JSON (GET /metrics). */
export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/**
 * The status and body an error becomes. A file the caller named that cannot be used arrives as a ConfigError or
 * DeviceOpError naming the field; any other error with an errno (KVM, mmap, ...) is the VMM's failure, a 500.
 */
export function httpErrorOf(e: unknown): { status: number; body: { error: string; field?: string } } {
  const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  const code = (e as { code?: unknown } | undefined)?.code;
  if (e instanceof HttpError) return { status: e.status, body: { error: message, ...(e.field ? { field: e.field } : {}) } };
  if (e instanceof ConfigError) return { status: 400, body: { error: message, ...(e.field ? { field: e.field } : {}) } };
  if (e instanceof VmError || e instanceof BalloonError) return { status: 409, body: { error: message } };
  if (e instanceof DeviceOpError) {
    return { status: code === 'ENODEV' ? 404 : code === 'EBUSY' ? 409 : 400, body: { error: message } };
  }
  if (e instanceof BootError) return { status: 400, body: { error: message } };
  if ((e instanceof TypeError || e instanceof RangeError) && typeof code === 'string' && code.startsWith('ERR_')) {
    return { status: 400, body: { error: message } };
  }
  return { status: 500, body: { error: message } };
}
