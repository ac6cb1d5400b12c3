// Child processes for the guest build: output read line by line (progress, a log file) with the last lines kept
// for the error message when the command fails.
import { spawn } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Every output line (stdout and stderr interleaved as they arrive), without the newline. */
  onLine?: (line: string) => void;
  /** How many trailing lines the error carries. */
  tailLines?: number;
}

export class CommandError extends Error {
  constructor(readonly command: string, readonly exitCode: number | null, readonly signal: string | null,
    readonly tail: string[]) {
    const how = signal ? `was killed by ${signal}` : `exited with status ${exitCode}`;
    const tailText = tail.length > 0 ? `\n--- last ${tail.length} lines ---\n${tail.join('\n')}` : '';
    super(`\`${command}\` ${how}${tailText}`);
    this.name = 'CommandError';
  }
}

/** Runs a command to completion; rejects with CommandError (carrying the output's tail) on failure. */
export function runCommand(file: string, args: readonly string[], opts: RunOptions = {}): Promise<void> {
  const shown = [file, ...args].join(' ');
  const keep = opts.tailLines ?? 40;
  const tail: string[] = [];
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > keep) tail.shift();
    opts.onLine?.(line);
  };
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const flushers = [splitLines(child.stdout, onLine), splitLines(child.stderr, onLine)];
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(Object.assign(new Error(`cannot run \`${shown}\`: ${err.message}`), { code: err.code }));
    });
    child.on('close', (code, signal) => {
      for (const flush of flushers) flush();
      if (code === 0) resolve();
      else reject(new CommandError(shown, code, signal, tail));
    });
  });
}

function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): () => void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      onLine(pending.slice(0, newline).replace(/\r$/, ''));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
  });
  return () => {
    if (pending !== '') onLine(pending);
    pending = '';
  };
}
