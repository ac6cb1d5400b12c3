// Runs `tsvmm` as a child process, the way a user does, and watches its console output.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..', '..');
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
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout!.on('data', (d: Buffer) => { out += d.toString('latin1'); waiters.forEach((w) => w()); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString('latin1'); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve({ code, signal, ms: Date.now() - started });
      waiters.forEach((w) => w());
    });
  });
  let done = false;
  void exited.then(() => { done = true; });
  const waitFor = (text: string | RegExp, timeoutMs: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const found = (): boolean => (typeof text === 'string' ? out.includes(text) : text.test(out));
      const timer = setTimeout(() => reject(new Error(`no ${String(text)} within ${timeoutMs} ms; stderr:\n${err}`)),
        timeoutMs);
      const check = (): void => {
        if (found()) { clearTimeout(timer); resolve(Date.now() - started); return; }
        if (done) { clearTimeout(timer); reject(new Error(`tsvmm ended before ${String(text)}; stderr:\n${err}`)); }
      };
      waiters.push(check);
      check();
    });
  return { child, stdout: () => out, stderr: () => err, waitFor, exited };
}
