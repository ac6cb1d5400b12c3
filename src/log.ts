// The VMM's log: pino, written synchronously to stderr (fd 2) so stdout stays the guest's console and nothing is
// lost when the process exits right after a fatal line. On a terminal the JSON lines are shown as short text
// lines; piped or redirected, they stay JSON for tools.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './vmm/config';

export type { Logger } from 'pino';

export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** Default: 'pretty' when stderr is a terminal, else 'json'. */
  format?: LogFormat;
  /** Where lines go instead of fd 2 (tests). */
  destination?: DestinationStream;
}

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL',
};

// pino's own fields, not shown again as key=value in the text form.
const RECORD_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'name']);

/** A logged error (pino serializes `err` and any Error value as { type, message, stack }): its stack. */
function stackOf(v: unknown): string | undefined {
  if (v === null || typeof v !== 'object' || !('stack' in v) || typeof v.stack !== 'string') return undefined;
  return v.stack;
}

/**
 * One pino JSON line as `HH:MM:SS.mmm LEVEL [component] message key=value ...`. An error's stack follows on lines
 * of its own, indented, as a reader at a terminal expects it (in JSON it stays one string, for tools).
 */
export function formatLogLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : json + '\n';
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const level = LEVEL_NAMES[rec.level as number] ?? String(rec.level);
  const component = typeof rec.component === 'string' ? ` [${rec.component}]` : '';
  const fields = Object.entries(rec).filter(([k]) => !RECORD_FIELDS.has(k));
  const stacks = fields.map(([, v]) => stackOf(v)).filter((s): s is string => s !== undefined);
  const extras = fields.filter(([, v]) => stackOf(v) === undefined).map(([k, v]) => `${k}=${formatValue(v)}`);
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  const indented = stacks.flatMap((stack) => stack.split('\n')).map((l) => `  ${l}\n`);
  return `${time} ${level.padEnd(5)}${component} ${[msg, ...extras].filter(Boolean).join(' ')}\n${indented.join('')}`;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

function prettyStream(inner: DestinationStream): DestinationStream {
  return { write: (line: string) => inner.write(formatLogLine(line)) };
}

/** The process logger. `silent` turns it off entirely. */
export function createLogger(level: LogLevel = 'info', opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? (process.stderr.isTTY ? 'pretty' : 'json');
  const raw = opts.destination ?? pino.destination({ dest: 2, sync: true });
  const dest = format === 'pretty' ? prettyStream(raw) : raw;
  return pino({ level, base: { pid: process.pid }, name: 'tsvmm' }, dest);
}

/** A logger whose lines carry `component` (e.g. 'serial', 'vcpu0', 'virtio-blk'). */
export function componentLogger(parent: Logger, component: string, bindings: Record<string, unknown> = {}): Logger {
  return parent.child({ component, ...bindings });
}
