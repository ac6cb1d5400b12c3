// The real guest agent (guest/agent/) run on this host as an ordinary process on a unix socket: the same serving
// code as in a guest, minus vsock. Built with buildAgent into a cache of this test run's own.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildAgent } from '../../src/guest/agent';
import { compilerIdentity } from '../../src/guest/test-kernel';
import { AgentClient, type AgentClientOptions } from '../../src/sandbox';
import { OutputWatch } from '../helpers/wait';

/** Why the real agent cannot be tested here (said loudly), or undefined. */
export function agentUnbuildable(): string | undefined {
  if (compilerIdentity('gcc') !== undefined) return undefined;
  const why = 'gcc is not installed: the real sandbox agent cannot be compiled, so its tests are SKIPPED';
  process.stderr.write(`# ${why}\n`);
  return why;
}

export interface RealAgent {
  dir: string;
  socket: string;
  child: ChildProcess;
  stderr: OutputWatch;
  client(opts?: AgentClientOptions): AgentClient;
  /** Resolves once the agent process has ended. */
  exited: Promise<void>;
  stop(): Promise<void>;
}

let binary: Promise<string> | undefined;
let cacheRoot: string | undefined;

/** The agent binary, compiled once per test process into a cache removed when the process ends. */
export function agentBinary(): Promise<string> {
  if (cacheRoot === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-agent-cache-'));
    cacheRoot = dir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  binary ??= buildAgent({ cacheRoot, log: () => {} }).then((r) => r.path);
  return binary;
}

export interface StartOptions {
  /** A command the agent runs under (its argv is appended), e.g. unshare into new namespaces. */
  wrap?: string[];
  /** Where the socket's folder is made; default the system's temporary folder. */
  parent?: string;
}

export async function startAgent(opts: StartOptions = {}): Promise<RealAgent> {
  const bin = await agentBinary();
  const dir = fs.mkdtempSync(path.join(opts.parent ?? os.tmpdir(), 'tsvmm-agent-'));
  const socket = path.join(dir, 'agent.sock');
  const argv = [...(opts.wrap ?? []), bin, '--listen-unix', socket];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = new OutputWatch();
  child.stderr.on('data', (d: Buffer) => stderr.append(d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', (code, sig) => {
    stderr.end(`the agent ended (${sig ?? `status ${code}`})`);
    resolve();
  }));
  await stderr.waitFor('listening on', 10_000);
  const clients: AgentClient[] = [];
  return {
    dir, socket, child, stderr, exited,
    client: (opts) => {
      const c = new AgentClient(socket, 'direct', opts);
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients) c.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a host process is gone or a zombie (the agent, a subreaper, may not have reaped it yet). */
export function processGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
