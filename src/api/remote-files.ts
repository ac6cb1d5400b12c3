// VmClient's files: the guest's files through a control socket's /files routes, contents streamed as raw bodies
// both ways. Errors are ApiClientErrors with the codes the same failure has in the process (NOT_FOUND, FAILED with
// guestErrno, LIMIT, ERR_VM_NO_AGENT, ...).
import * as http from 'node:http';
import { Readable } from 'node:stream';
import { ApiClientError, answerError } from './client-error';
import type { DirEntry, FileStat } from '../sandbox';

/** One request whose body (if any) is raw bytes; resolves with the answer's head, its body still to read. */
export function rawRequest(socketPath: string, method: string, path: string,
  body?: string | Uint8Array | Readable, headers: http.OutgoingHttpHeaders = {}): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method, agent: false, headers }, resolve);
    req.on('error', reject);
    if (body instanceof Readable) {
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    } else {
      req.end(body);
    }
  });
}

/** The whole body of an answer. */
export function readAll(res: http.IncomingMessage, max = Infinity): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        res.destroy(new ApiClientError(0, `the answer is longer than ${max} bytes (maxBytes)`, undefined, 'LIMIT'));
        return;
      }
      parts.push(c);
    });
    res.on('error', reject);
    res.on('end', () => { resolve(Buffer.concat(parts, size)); });
  });
}

/** Rejects with the server's error unless the answer is a 2xx; returns it then. */
export async function expectOk(res: http.IncomingMessage, what: string): Promise<http.IncomingMessage> {
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return res;
  throw answerError(status, (await readAll(res, 1 << 20)).toString('utf8'), what);
}

async function json<T>(res: http.IncomingMessage, what: string): Promise<T> {
  const text = (await readAll(await expectOk(res, what), 64 << 20)).toString('utf8');
  try {
    return (text === '' ? undefined : JSON.parse(text)) as T;
  } catch {
    throw new ApiClientError(res.statusCode ?? 0, `${what}: the answer is not JSON: ${text.slice(0, 200)}`);
  }
}

export interface RemoteOpenedFile {
  size: number;
  mode: number;
  /** The body: it errors if the transfer is cut short. */
  stream: Readable;
}

export interface RemoteWriteOptions {
  /** Permission bits; default 0o644. */
  mode?: number;
  append?: boolean;
  /** Create missing parent directories. */
  parents?: boolean;
}

const query = (params: Record<string, string | boolean | undefined>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== false) q.set(k, v === true ? 'true' : v);
  return q.toString();
};

export class RemoteFiles {
  constructor(private readonly socketPath: string) {}

  private async call(method: string, path: string, body?: string | Uint8Array | Readable,
    headers?: http.OutgoingHttpHeaders): Promise<http.IncomingMessage> {
    return rawRequest(this.socketPath, method, path, body, headers);
  }

  /** The guest file's contents; over `maxBytes` (default 256 MiB) rejects with code LIMIT. */
  async read(path: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    const what = `GET /files ${path}`;
    const max = opts.maxBytes ?? 256 * 1024 * 1024;
    const res = await expectOk(await this.call('GET', `/files?${query({ path })}`), what);
    const size = Number(res.headers['content-length']);
    if (size > max) {
      res.destroy();
      throw new ApiClientError(0, `${what}: the file is ${size} bytes, over maxBytes (${max})`, undefined, 'LIMIT');
    }
    return readAll(res, max);
  }

  /** The guest file as a stream, once the server has it open. */
  async readStream(path: string): Promise<RemoteOpenedFile> {
    const res = await expectOk(await this.call('GET', `/files?${query({ path })}`), `GET /files ${path}`);
    return { size: Number(res.headers['content-length']), mode: parseInt(String(res.headers['x-file-mode'] ?? '0'), 8), stream: res };
  }

  /** Writes `data` (a Readable streams through) to the guest file; resolves with the bytes written. */
  async write(path: string, data: string | Uint8Array | Readable, opts: RemoteWriteOptions = {}): Promise<number> {
    const q = query({
      path, mode: opts.mode === undefined ? undefined : opts.mode.toString(8), parents: opts.parents, append: opts.append,
    });
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/octet-stream' };
    if (!(data instanceof Readable)) headers['content-length'] = Buffer.byteLength(data);
    const res = await this.call('PUT', `/files?${q}`, data, headers);
    return (await json<{ size: number }>(res, `PUT /files ${path}`)).size;
  }

  async stat(path: string): Promise<FileStat> {
    return json<FileStat>(await this.call('GET', `/files/stat?${query({ path })}`), `GET /files/stat ${path}`);
  }

  async list(path: string): Promise<DirEntry[]> {
    const what = `GET /files/list ${path}`;
    return (await json<{ entries: DirEntry[] }>(await this.call('GET', `/files/list?${query({ path })}`), what)).entries;
  }

  /** Removes a file, a link or an empty directory; `recursive` a tree; `force` ignores a missing path. */
  async remove(path: string, opts: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    const q = query({ path, recursive: opts.recursive, force: opts.force });
    await json<undefined>(await this.call('DELETE', `/files?${q}`), `DELETE /files ${path}`);
  }
}
