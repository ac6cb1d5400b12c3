// A machine's guest agent (guest/agent/, docs/agent-protocol.md), as the Vm offers it: exec, spawn and files. The
// agent is reached through the machine's vsock device, whose unix socket is the host's end; one AgentClient per
// machine, made on first use and closed when the machine ends. The agent's own errors (AgentError: NOT_FOUND,
// TIMEOUT, LIMIT, AGENT_GONE, ...) reach the caller as they are; what the machine cannot do is a VmError.
import type { Readable } from 'node:stream';
import { VmError } from './errors';
import {
  AgentClient, DEFAULT_AGENT_PORT, type AgentClientOptions, type AgentInfo, type AgentProcess, type DirEntry,
  type ExecOptions, type ExecResult, type FileStat, type OpenedFile, type SpawnOptions, type WaitReadyOptions,
  type WriteOptions,
} from '../sandbox';
import type { MachineConfig } from '../vmm/config';

export interface AgentEndpoint {
  /** The vsock device's unix socket, or the agent's own listening socket with port 'direct'. */
  socketPath: string;
  port: number | 'direct';
}

const PORT_KEY = 'tsvmm.agent_port=';

/** The port the agent listens on for this command line: its first valid `tsvmm.agent_port=N`, as the agent reads it. */
export function agentPortOf(cmdline: string): number {
  for (const word of cmdline.split(' ')) {
    if (!word.startsWith(PORT_KEY)) continue;
    const m = /^[0-9]+/.exec(word.slice(PORT_KEY.length));
    const n = m ? Number(m[0]) : 0;
    if (n > 0 && n <= 0xffff_ffff) return n;
  }
  return DEFAULT_AGENT_PORT;
}

/** Where the agent of a machine with this config is reached; undefined without a vsock device. */
export function agentEndpoint(config: MachineConfig): AgentEndpoint | undefined {
  const vsock = config.devices.find((d) => d.type === 'vsock');
  if (vsock?.type !== 'vsock') return undefined;
  return { socketPath: vsock.socket, port: agentPortOf(config.cmdline) };
}

export const NO_AGENT =
  'the machine has no vsock device, so its guest agent cannot be reached: add one (devices: [{ type: vsock, cid: 3, ' +
  'socket: PATH }]) and boot a guest that runs tsvmm-agent (the sandbox initramfs); createSandbox() does both';

/** Client options for a guest that may run far slower than the host (under emulation, 10-100 times). */
export const VM_AGENT_CLIENT: Readonly<AgentClientOptions> = { connectTimeoutMs: 30_000, requestTimeoutMs: 60_000 };

export interface VmAgentOptions {
  endpoint: AgentEndpoint | undefined;
  /** Throws VmError ERR_VM_STATE when the machine cannot take `operation` now. */
  check: (operation: string) => void;
  /** Resolves, with how it ended, when the machine has ended. */
  ended: Promise<string>;
  client?: AgentClientOptions;
}

export type VmExecOptions = ExecOptions & { encoding?: 'utf8' | 'buffer' };

export class VmAgent {
  readonly files: VmFiles;
  private current: AgentClient | undefined;
  private closed = false;

  constructor(private readonly opts: VmAgentOptions) {
    this.files = new VmFiles((op) => this.client(op));
    void opts.ended.then(() => { this.close(); });
  }

  /** The machine's AgentClient, made on first use. Throws VmError ERR_VM_NO_AGENT or ERR_VM_STATE. */
  client(operation: string): AgentClient {
    if (this.opts.endpoint === undefined) throw new VmError('ERR_VM_NO_AGENT', `cannot ${operation}: ${NO_AGENT}`);
    this.opts.check(operation);
    if (this.closed) throw new VmError('ERR_VM_STATE', `cannot ${operation}: the machine ended`);
    this.current ??= new AgentClient(this.opts.endpoint.socketPath, this.opts.endpoint.port,
      { ...VM_AGENT_CLIENT, ...this.opts.client });
    return this.current;
  }

  exec(command: string | readonly string[], opts?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult>;
  exec(command: string | readonly string[], opts: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
  exec(command: string | readonly string[], opts?: VmExecOptions): Promise<ExecResult | ExecResult<Buffer>>;
  async exec(command: string | readonly string[], opts: VmExecOptions = {}): Promise<ExecResult | ExecResult<Buffer>> {
    const client = this.client('run a command');
    return opts.encoding === 'buffer' ? client.exec(command, { ...opts, encoding: 'buffer' })
      : client.exec(command, { ...opts, encoding: 'utf8' });
  }

  spawn(command: string, args: readonly string[] = [], opts: SpawnOptions = {}): AgentProcess {
    return this.client('spawn a process').spawn(command, args, opts);
  }

  /**
   * Resolves once the agent answers (the guest may still be booting); rejects with TIMEOUT after `timeoutMs`, or
   * with VmError ERR_VM_STATE as soon as the machine ends.
   */
  async waitReady(opts: WaitReadyOptions = {}): Promise<AgentInfo> {
    const client = this.client('wait for the agent');
    const ac = new AbortController();
    let why: string | undefined;
    void this.opts.ended.then((how) => { why = how; ac.abort(); });
    const outer = opts.signal;
    const onOuter = (): void => { ac.abort(outer?.reason); };
    if (outer?.aborted) onOuter();
    else outer?.addEventListener('abort', onOuter, { once: true });
    try {
      return await client.waitReady({ ...opts, signal: ac.signal });
    } catch (e) {
      if (why !== undefined) {
        throw new VmError('ERR_VM_STATE', `the machine ended (${why}) before its agent answered`, { cause: e });
      }
      throw e;
    } finally {
      outer?.removeEventListener('abort', onOuter);
    }
  }

  /** Closes the connection: what is in flight fails with AGENT_GONE. */
  close(): void {
    this.closed = true;
    this.current?.close();
  }
}

/** The guest's files, through the agent (AgentClient.files, reached through the machine's vsock device). */
export class VmFiles {
  constructor(private readonly client: (operation: string) => AgentClient) {}

  /** Writes `data` to the guest file at `path` (made or truncated); resolves with the bytes written. */
  async write(path: string, data: string | Uint8Array | Readable, opts?: WriteOptions): Promise<number> {
    return this.client('write a file').files.write(path, data, opts);
  }

  /** The guest file's contents; over `maxBytes` (default 256 MiB) rejects with LIMIT. */
  async read(path: string, opts?: { maxBytes?: number }): Promise<Buffer> {
    return this.client('read a file').files.read(path, opts);
  }

  /** The guest file as a Readable, once the agent has opened it. */
  async readStream(path: string, opts?: { maxBytes?: number }): Promise<OpenedFile> {
    return this.client('read a file').files.readStream(path, opts);
  }

  async stat(path: string): Promise<FileStat> {
    return this.client('stat a file').files.stat(path);
  }

  async list(path: string, opts?: { maxEntries?: number }): Promise<DirEntry[]> {
    return this.client('list a directory').files.list(path, opts);
  }

  async mkdir(path: string, opts?: { mode?: number; parents?: boolean }): Promise<void> {
    return this.client('make a directory').files.mkdir(path, opts);
  }

  async remove(path: string, opts?: { recursive?: boolean; force?: boolean }): Promise<void> {
    return this.client('remove a file').files.remove(path, opts);
  }
}
