// The command a POST /exec or POST /exec/stream body describes, checked field by field: every error names the
// field and is a 400, before anything runs in the guest.
import { HttpError } from './http-json';
import { integer, requireBody } from './route-kit';
import { checkEnum, ConfigError, isMapping, show } from '../vmm/config-check';

export interface ExecSpec {
  argv: [string, ...string[]];
  env?: Record<string, string>;
  cwd?: string;
  /** Written to stdin, which is then closed (POST /exec). */
  stdin?: Buffer;
  timeoutMs?: number;
  maxOutputBytes?: number;
  /** How stdout and stderr are put in POST /exec's JSON answer. */
  encoding: 'utf8' | 'base64';
  /** A pseudo-terminal of this size (POST /exec/stream). */
  pty?: { rows: number; cols: number };
  /** Whether stdin lines follow (POST /exec/stream); without, the command's stdin is closed at once. */
  interactive: boolean;
}

/** The longest a command may be given to run: a day. */
export const MAX_EXEC_TIMEOUT_MS = 86_400_000;
const BUFFERED_KEYS = ['argv', 'env', 'cwd', 'stdin', 'stdinBase64', 'timeoutMs', 'maxOutputBytes', 'encoding'];
const STREAM_KEYS = ['argv', 'env', 'cwd', 'timeoutMs', 'maxOutputBytes', 'pty', 'stdin'];

function text(field: string, value: unknown): string {
  if (typeof value !== 'string') throw new ConfigError(field, `${show(value)} is not a string`);
  if (value.includes('\0')) throw new ConfigError(field, 'holds a NUL character');
  return value;
}

function bounded(field: string, value: unknown, min: number, max: number): number {
  const n = integer(field, value);
  if (n < min || n > max) {
    throw new HttpError(400, `${field}: ${n} is out of range: it must be an integer >= ${min} and <= ${max}`, field,
      'ERR_OUT_OF_RANGE');
  }
  return n;
}

/** `argv`: a list of strings (no shell), or one string run by `/bin/sh -c`. */
function argvOf(value: unknown): [string, ...string[]] {
  if (value === undefined) throw new ConfigError('argv', 'required (a list of strings, or a string for /bin/sh -c)');
  if (typeof value === 'string') return ['/bin/sh', '-c', text('argv', value)];
  const list: unknown[] = Array.isArray(value) ? value : [];
  const [first, ...rest] = list;
  if (first === undefined) {
    throw new ConfigError('argv', `${show(value)} is not a non-empty list of strings (or a string for /bin/sh -c)`);
  }
  if (list.length > 4096) throw new ConfigError('argv', `${list.length} arguments (at most 4096)`);
  return [text('argv[0]', first), ...rest.map((a, i) => text(`argv[${i + 1}]`, a))];
}

function envOf(value: unknown): Record<string, string> {
  if (!isMapping(value)) throw new ConfigError('env', `${show(value)} is not a mapping of names to strings`);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '' || k.includes('=') || k.includes('\0')) throw new ConfigError('env', `${show(k)} is not a variable name`);
    env[k] = text(`env.${k}`, v);
  }
  return env;
}

function stdinOf(b: Record<string, unknown>): Buffer | undefined {
  if (b.stdin !== undefined && b.stdinBase64 !== undefined) {
    throw new ConfigError('stdinBase64', 'give stdin (text) or stdinBase64 (bytes), not both');
  }
  if (b.stdin !== undefined) {
    if (typeof b.stdin !== 'string') throw new ConfigError('stdin', `${show(b.stdin)} is not a string`);
    return Buffer.from(b.stdin, 'utf8');
  }
  if (b.stdinBase64 === undefined) return undefined;
  if (typeof b.stdinBase64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b.stdinBase64)) {
    throw new ConfigError('stdinBase64', 'is not base64');
  }
  return Buffer.from(b.stdinBase64, 'base64');
}

function ptyOf(value: unknown): { rows: number; cols: number } {
  if (value === true) return { rows: 24, cols: 80 };
  if (!isMapping(value)) throw new ConfigError('pty', `${show(value)} is not true or { rows, cols }`);
  return {
    rows: value.rows === undefined ? 24 : bounded('pty.rows', value.rows, 1, 65535),
    cols: value.cols === undefined ? 80 : bounded('pty.cols', value.cols, 1, 65535),
  };
}

/** A POST /exec body (`stream` false) or the first line of POST /exec/stream's (`stream` true). */
export function checkExecBody(body: unknown, opts: { stream: boolean; maxOutputBytes: number }): ExecSpec {
  const b = requireBody(body, opts.stream ? STREAM_KEYS : BUFFERED_KEYS);
  const spec: ExecSpec = {
    argv: argvOf(b.argv),
    encoding: b.encoding === undefined ? 'utf8' : checkEnum('encoding', b.encoding, ['utf8', 'base64'] as const),
    interactive: false,
  };
  if (b.env !== undefined) spec.env = envOf(b.env);
  if (b.cwd !== undefined) spec.cwd = text('cwd', b.cwd);
  if (b.timeoutMs !== undefined) spec.timeoutMs = bounded('timeoutMs', b.timeoutMs, 1, MAX_EXEC_TIMEOUT_MS);
  if (b.maxOutputBytes !== undefined) spec.maxOutputBytes = bounded('maxOutputBytes', b.maxOutputBytes, 0, opts.maxOutputBytes);
  else if (!opts.stream) spec.maxOutputBytes = opts.maxOutputBytes;
  if (opts.stream) {
    if (b.pty !== undefined && b.pty !== false) spec.pty = ptyOf(b.pty);
    if (b.stdin !== undefined && typeof b.stdin !== 'boolean') {
      throw new ConfigError('stdin', `${show(b.stdin)} is not a boolean (whether stdin lines follow)`);
    }
    spec.interactive = b.stdin === true;
  } else {
    const stdin = stdinOf(b);
    if (stdin !== undefined) spec.stdin = stdin;
  }
  return spec;
}
