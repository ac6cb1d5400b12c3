// Runs `tsvmm` as a child process, the way a user does, and watches its console output.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { packageRoot } from '../../src/base/package-root';
import { OutputWatch } from './wait';

export const REPO = packageRoot();
export const BIN = path.join(REPO, 'bin', 'tsvmm.js');

export interface RunningVmm {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout contains `text`; rejects after timeoutMs or if the process ends first. */
  waitFor(text: string | RegExp, timeoutMs: number): Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

export function startVmm(args: string[], env: NodeJS.ProcessEnv = {}): RunningVmm {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let err = '';
  const out = new OutputWatch(() => `stderr:\n${err}`);
  child.stdout.on('data', (d: Buffer) => { out.append(d.toString('latin1')); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString('latin1'); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, ms: Date.now() - started }));
  });
  // Once stdout is closed too, nothing more can arrive.
  child.on('close', (code, signal) => out.end(`tsvmm ended (${signal ?? `exit status ${code}`})`));
  return { child, stdout: () => out.text(), stderr: () => err, waitFor: (text, ms) => out.waitFor(text, ms), exited };
}
