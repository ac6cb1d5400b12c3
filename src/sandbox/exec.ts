// exec(): one command to completion, its output collected. A timeout, an abort or an output over its cap kills
// the command's whole process group and then waits (killGraceMs) for the agent to report the end, so when the
// promise rejects the processes are gone; only an agent that never reports it leaves that unconfirmed.
import type { Readable } from 'node:stream';
import { AgentError } from './errors';
import type { AgentProcess, SpawnOptions } from './process';

export interface ExecOptions extends SpawnOptions {
  /** Written to the command's stdin, which is then closed; without it stdin is closed at once. */
  stdin?: string | Uint8Array | Readable;
  /** Kill the process group and reject with TIMEOUT after this long. */
  timeoutMs?: number;
  /** Kill the process group and reject with ABORTED when this fires. */
  signal?: AbortSignal;
  /** Per output (stdout, stderr): more than this kills the process group and rejects with LIMIT. Default 64 MiB. */
  maxOutputBytes?: number;
  /** After a kill, how long to wait for the agent to report the end. Default 5000 ms. */
  killGraceMs?: number;
}

export interface ExecResult<T extends string | Buffer = string> {
  /** The exit status, or null when a signal ended the command. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: T;
  stderr: T;
}

export const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;
const DEFAULT_KILL_GRACE_MS = 5000;

export function collect(proc: AgentProcess, opts: ExecOptions): Promise<ExecResult<Buffer>> {
  const cap = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const what = JSON.stringify(proc.argv.join(' ').slice(0, 200));
  return new Promise((resolve, reject) => {
    const parts: [Buffer[], Buffer[]] = [[], []];
    const sizes = [0, 0];
    let failure: AgentError | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (err?: AgentError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      const e = failure ?? err;
      if (e) return reject(e);
      resolve({ exitCode: proc.exitCode, signal: proc.signalCode, stdout: Buffer.concat(parts[0]), stderr: Buffer.concat(parts[1]) });
    };
    // Kills the group and rejects with `err` once the agent says the command ended (or the grace runs out).
    const stop = (err: AgentError): void => {
      if (failure || settled) return;
      failure = err;
      proc.killGroup('SIGKILL');
      graceTimer = setTimeout(() => finish(), opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
    };
    const onAbort = (): void => stop(new AgentError('ABORTED', `${what} was aborted; its process group was killed`,
      undefined, { cause: opts.signal?.reason }));
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => stop(new AgentError('TIMEOUT',
      `${what} did not finish within ${opts.timeoutMs} ms (timeoutMs); its process group was killed`)), opts.timeoutMs);
    (['stdout', 'stderr'] as const).forEach((name, i) => {
      proc[name].on('data', (chunk: Buffer) => {
        sizes[i]! += chunk.length;
        if (sizes[i]! > cap) {
          stop(new AgentError('LIMIT', `${what} wrote more than ${cap} bytes to ${name} (maxOutputBytes); its process group was killed`));
          return;
        }
        parts[i]!.push(chunk);
      });
    });
    proc.on('error', (e: AgentError) => finish(e));
    proc.on('close', () => finish());
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    feedStdin(proc, opts.stdin, (e) => stop(new AgentError('FAILED', `reading the stdin given for ${what}: ${e.message}`,
      undefined, { cause: e })));
  });
}

function feedStdin(proc: AgentProcess, input: ExecOptions['stdin'], onError: (e: Error) => void): void {
  if (input === undefined) {
    proc.stdin.end();
  } else if (typeof input === 'string' || input instanceof Uint8Array) {
    proc.stdin.end(input);
  } else {
    input.on('error', onError);
    input.pipe(proc.stdin);
  }
}
