// What every control-socket route is made of: its shape, what its handler gets and answers, and the checks of
// body fields that several routes share (errors name the field, with the code the same argument has in the process).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiController } from './controller';
import { HttpError } from './http-json';
import { checkMapping, isMapping, show } from '../vmm/config-check';

export type Method = 'GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';

export interface Reply {
  status: number;
  /** Sent as JSON... */
  body?: unknown;
  /** ...or as this text (GET /metrics) or these bytes (GET /display/screenshot)... */
  text?: { contentType: string; body: string | Uint8Array };
  /** ...or the handler has answered already (a `raw` route's stream). */
  streamed?: true;
}

/** What the sandbox routes may hold or move (SocketLimits has them, with the rest of the socket's limits). */
export interface TransferLimits {
  /** The largest file PUT /files takes and GET /files sends. */
  maxFileBytes: number;
  /** POST /exec's cap per output (stdout, stderr), and its default. */
  maxExecOutputBytes: number;
  /** A request body (or, for a streamed one, each wait for more of it while it is needed) must come within this. */
  requestMs: number;
}

export interface RouteContext {
  controller: ApiController;
  params: Record<string, string>;
  /** The request target's query (`?path=...`). */
  query: URLSearchParams;
  /** The parsed JSON body (undefined when there is none); only routes that take one get it. */
  body: unknown;
  limits: TransferLimits;
  /** The request and its answer, for `raw` routes (which read the body and may write the answer themselves). */
  req: IncomingMessage;
  res: ServerResponse;
}

export interface Route {
  method: Method;
  /** OpenAPI path template, e.g. /devices/{index}. */
  path: string;
  /** Whether the route takes a request body (JSON, unless the route is raw). */
  body: boolean;
  /** The handler reads the body itself (a stream) and may answer itself; errors before it answers are JSON. */
  raw?: boolean;
  handle(ctx: RouteContext): Promise<Reply> | Reply;
}

export const NO_CONTENT: Reply = { status: 204 };
export const STREAMED: Reply = { status: 200, streamed: true };

/**
 * A body field that must be an integer; its range is the API's to check (see asField). The code is the one the same
 * argument gets in the process (src/api/errors.ts).
 */
export function integer(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new HttpError(400, `${field}: ${show(value)} is not an integer`, field, 'ERR_INVALID_ARG_TYPE');
  }
  return value;
}

/** Runs an API call whose RangeError (src/api/errors.ts) is about body field `field`: a 400 naming it, same code. */
export function asField<T>(field: string, call: () => T): T {
  try {
    return call();
  } catch (e) {
    const range = e instanceof RangeError ? (e as RangeError & { range?: string; value?: unknown; code?: string }) : undefined;
    if (range?.range === undefined) throw e;
    throw new HttpError(400, `${field}: ${show(range.value)} is out of range: it must be ${range.range}`, field, range.code);
  }
}

export function requireBody(body: unknown, keys: readonly string[]): Record<string, unknown> {
  if (body === undefined) throw new HttpError(400, 'body: required (a JSON object)');
  if (!isMapping(body)) throw new HttpError(400, 'body: must be a JSON object');
  return checkMapping('', body, keys);
}
