// A guest process on this terminal, for `tsvmm exec` and `tsvmm sandbox run`: its outputs go to stdout and stderr
// as they come, stdin goes to it with -i, and with -t the terminal is put in raw mode (every key, Ctrl-C included,
// reaches the guest's terminal) and its size follows the window. Without -t, SIGINT, SIGTERM and SIGHUP sent to
// tsvmm are passed on to the process, as `docker run` does. The status is the command's, or 128 + N for a death by
// signal N.
import type { EventEmitter } from 'node:events';
import * as os from 'node:os';
import type { Readable, Writable } from 'node:stream';

/** What AgentProcess (in-process) and RemoteProcess (through a control socket) both are. */
export interface GuestProcess extends EventEmitter {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  exitCode: number | null;
  signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals | number): boolean;
  killGroup(signal?: NodeJS.Signals | number): boolean;
  resize(rows: number, cols: number): void;
}

/** The terminal's side: process.stdin / stdout / stderr, or stand-ins in tests. */
export interface AttachIo {
  stdin: Readable & { isTTY?: boolean; isRaw?: boolean; setRawMode?(mode: boolean): unknown };
  stdout: Writable & { isTTY?: boolean; rows?: number; columns?: number };
  stderr: Writable;
  /** Pass SIGINT, SIGTERM and SIGHUP on to the process (only for the real process streams). */
  forwardSignals: boolean;
}

export interface AttachOptions {
  interactive: boolean;
  tty: boolean;
  /** Kill the process group after this long; the wait rejects with a TIMEOUT error naming `timeoutWhat`. */
  timeoutMs?: number;
  timeoutWhat?: string;
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The exit status a shell gives for this end: the code, or 128 + the signal's number. */
export function statusOf(exitCode: number | null, signal: NodeJS.Signals | null): number {
  if (exitCode !== null) return exitCode;
  const n = signal === null ? undefined : (os.constants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
}

/** The terminal's size now, for a pseudo-terminal in the guest. */
export function windowSize(io: AttachIo): { rows: number; cols: number } {
  return { rows: io.stdout.rows ?? 24, cols: io.stdout.columns ?? 80 };
}

/** Resolves with the exit status once the process has ended and its output is written; rejects with its error. */
export function attach(proc: GuestProcess, io: AttachIo, opts: AttachOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const raw = opts.tty && opts.interactive && io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function';
    const wasRaw = io.stdin.isRaw === true;
    let failure: Error | undefined;
    const forward = (signal: NodeJS.Signals): void => { proc.kill(signal); };
    const onResize = (): void => { const s = windowSize(io); proc.resize(s.rows, s.cols); };
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => {
      failure = Object.assign(new Error(`the command did not finish within ${opts.timeoutMs} ms (${opts.timeoutWhat ?? 'timeout'}); ` +
        'its process group was killed'), { code: 'TIMEOUT' });
      proc.killGroup('SIGKILL');
    }, opts.timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      if (opts.interactive) {
        io.stdin.unpipe(proc.stdin);
        io.stdin.pause();
      }
      if (raw) io.stdin.setRawMode?.(wasRaw);
      if (opts.tty) io.stdout.off('resize', onResize);
      for (const s of FORWARDED) process.off(s, forward);
    };
    proc.stdout.pipe(io.stdout, { end: false });
    proc.stderr.pipe(io.stderr, { end: false });
    proc.on('error', (e: Error) => { failure ??= e; });
    proc.on('close', () => {
      cleanup();
      if (failure) reject(failure);
      else resolve(statusOf(proc.exitCode, proc.signalCode));
    });
    if (opts.interactive) {
      if (raw) io.stdin.setRawMode?.(true);
      io.stdin.pipe(proc.stdin);
    } else {
      proc.stdin.end();
    }
    if (opts.tty) io.stdout.on('resize', onResize);
    if (io.forwardSignals && !raw) for (const s of FORWARDED) process.on(s, forward);
  });
}
