// JSON over HTTP for the control socket: reading a bounded request body, answering, and turning the errors the API
// throws into statuses (400 a bad request naming the field, 404, 405, 409 the machine's state, 500 our fault; the
// guest agent's errors by their code, see AGENT_STATUS).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { VmError } from './errors';
import { AgentError, type AgentErrorCode } from '../sandbox';
import { ConfigError } from '../vmm/config';

export const MAX_BODY_BYTES = 1024 * 1024;

/** An error only the socket has (a bad body, no such route), or one whose in-process twin's `code` it carries. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string, readonly code?: string) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The client went away before its request was complete: nobody is left to answer. */
export class ClientGone extends Error {}

/**
 * Reads the whole body; undefined when there is none. Throws HttpError 400 / 413, 408 when it has not all come
 * within `deadlineMs`, or ClientGone.
 */
export function readJsonBody(req: IncomingMessage, deadlineMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => settle(() => reject(new HttpError(408,
      `body: did not arrive within ${deadlineMs} ms`))), deadlineMs);
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

export interface ErrorBody {
  error: string;
  /** The `code` the same error has in the process (VmError's ERR_VM_STATE, ConfigError's ERR_CONFIG, ...). */
  code?: string;
  field?: string;
  /** An AgentError's errno name from the guest (EACCES, EISDIR, ...). */
  guestErrno?: string;
}

/**
 * An AgentError's status: what the guest lacks 404, what it refused 422, a cap 413, the agent's silence 504, an
 * agent gone or broken 502.
 */
const AGENT_STATUS: Record<AgentErrorCode, number> = {
  NOT_FOUND: 404, FAILED: 422, LIMIT: 413, TIMEOUT: 504, AGENT_GONE: 502, PROTOCOL: 502, REFUSED: 502, ABORTED: 500,
};

/**
 * A VmError's status: the machine's state, a missing device, a scanout showing nothing, a full input queue or a
 * device a snapshot cannot hold 409, a kernel it cannot boot or a broken snapshot 400, no KVM (or a host that
 * cannot take a snapshot's CPU state) 500.
 */
function vmErrorStatus(e: VmError): number {
  switch (e.code) {
    case 'ERR_VM_STATE':
    case 'ERR_VM_NO_DEVICE':
    case 'ERR_VM_NO_AGENT':
    case 'ERR_VM_NO_DISPLAY':
    case 'ERR_VM_INPUT_FULL':
    case 'ERR_VM_SNAPSHOT_UNSUPPORTED':
      return 409;
    case 'ERR_VM_SNAPSHOT': {
      // A snapshot the client named that is not one, or is broken, is its mistake; failing to write one is ours.
      const code = (e.cause as { code?: unknown } | undefined)?.code;
      return typeof code === 'string' && code.startsWith('ERR_SNAPSHOT_') && code !== 'ERR_SNAPSHOT_HOST' ? 400 : 500;
    }
    case 'ERR_VM_BOOT':
      return 400;
    case 'ERR_VM_KVM':
      return 500;
    case 'ERR_VM_DISK': {
      // The file the client named: missing or unreadable is its mistake, taken by another disk a conflict.
      const errno = (e.cause as { code?: unknown } | undefined)?.code;
      return errno === 'ENODEV' ? 404 : errno === 'EBUSY' ? 409 : 400;
    }
  }
}

/** The status an error becomes (see httpErrorOf). */
function statusOf(e: unknown, code: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (e instanceof ConfigError) return 400;
  if (e instanceof VmError) return vmErrorStatus(e);
  if (e instanceof AgentError) return AGENT_STATUS[e.code];
  if ((e instanceof TypeError || e instanceof RangeError) && typeof code === 'string' && code.startsWith('ERR_')) return 400;
  return 500;
}

/** An answer that is not JSON: text (GET /metrics) or bytes (GET /display/screenshot). */
export function sendText(res: ServerResponse, status: number, contentType: string, text: string | Uint8Array): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/**
 * The status and body an error becomes. A file the caller named that cannot be used arrives as a ConfigError or a
 * VmError naming the field; any other error with an errno (KVM, mmap, ...) is the VMM's failure, a 500. The body
 * carries the error's `code`, so a client can tell errors apart as a program in the process would.
 */
export function httpErrorOf(e: unknown): { status: number; body: ErrorBody } {
  const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
  const code = (e as { code?: unknown } | undefined)?.code;
  const field = e instanceof HttpError || e instanceof ConfigError ? e.field : undefined;
  const guestErrno = e instanceof AgentError ? e.guestErrno : undefined;
  return {
    status: statusOf(e, code),
    body: {
      error: message, ...(typeof code === 'string' ? { code } : {}), ...(field ? { field } : {}),
      ...(guestErrno ? { guestErrno } : {}),
    },
  };
}
