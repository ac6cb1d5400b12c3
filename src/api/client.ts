// A typed client for the control socket (docs/api.yaml), for a program that supervises machines running in other
// tsvmm processes. Each call is one HTTP request on the unix socket; an answer other than 2xx rejects with an
// ApiClientError carrying the status and the server's message (which names the field for a 400).
import * as http from 'node:http';
import { ApiClientError, answerError } from './client-error';
import type { ControllerState } from './controller';
import { RemoteFiles } from './remote-files';
import { RemoteProcess, type RemoteSpawnOptions } from './remote-process';
import type { Action } from './routes';
import type { VmCounters, VmExit } from './vm';
import type { ExecResult } from '../sandbox';
import type { LogLevel, MachineConfigInput } from '../vmm/config';
import type { InputEvent } from '../devices/input';
import type { PointerButtons } from './input-pointer';
import type { KeyOptions, PointerOptions, TypeOptions } from './vm-input';
import type { RateLimiterConfig } from '../devices/rate-limiter';

export { ApiClientError } from './client-error';
export type { Action };

export interface ServerInfo {
  name: string;
  version: string;
  state: ControllerState;
}

const POLL_MS = 20;

export interface VmClientOptions {
  /**
   * Give up on a request whose answer has not come within this many ms (ApiClientError with status 0). Default:
   * wait as long as it takes, as GET /exit must.
   */
  timeoutMs?: number;
}

export interface RemoteExecOptions {
  /** Written to the command's stdin, which is then closed. */
  stdin?: string | Uint8Array;
  env?: Record<string, string>;
  cwd?: string;
  /** The server kills the command's process group and answers TIMEOUT after this long. */
  timeoutMs?: number;
  /** Per output; past it the server kills the process group and answers LIMIT. Default: the server's (16 MiB). */
  maxOutputBytes?: number;
}

export class VmClient {
  /** The guest's files, through the machine's agent (the /files routes). */
  readonly files: RemoteFiles;

  constructor(readonly socketPath: string, private readonly options: VmClientOptions = {}) {
    this.files = new RemoteFiles(socketPath);
  }

  /** One request; resolves with the parsed answer of a 2xx, rejects with ApiClientError or a socket error. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const { status, bytes } = await this.exchange(method, path, body);
    const raw = bytes.toString('utf8');
    let parsed: unknown;
    try {
      parsed = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      throw new ApiClientError(status, `${method} ${path}: the answer is not JSON: ${raw.slice(0, 200)}`);
    }
    if (status >= 200 && status < 300) return parsed as T;
    throw answerError(status, parsed, `${method} ${path}`);
  }

  /** One request whose answer is text (GET /metrics); an error answer is JSON as always. */
  private async requestText(method: string, path: string): Promise<string> {
    return (await this.requestBytes(method, path)).toString('utf8');
  }

  /** One request whose answer is bytes (GET /display/screenshot); an error answer is JSON as always. */
  private async requestBytes(method: string, path: string): Promise<Buffer> {
    const { status, bytes } = await this.exchange(method, path, undefined);
    if (status >= 200 && status < 300) return bytes;
    throw answerError(status, bytes.toString('utf8'), `${method} ${path}`);
  }

  private exchange(method: string, path: string, body: unknown): Promise<{ status: number; bytes: Buffer }> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath, path, method, agent: false,
        headers: text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      const limit = this.options.timeoutMs;
      if (limit !== undefined) {
        req.setTimeout(limit, () => req.destroy(new ApiClientError(0, `${method} ${path}: no answer within ${limit} ms`)));
      }
      req.end(text);
    });
  }

  /**
   * Resolves once the server answers (a tsvmm just spawned needs a moment: seconds on a slow or emulated host);
   * rejects after timeoutMs.
   */
  async ready(timeoutMs = 60_000): Promise<ServerInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await this.info();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
  }

  info(): Promise<ServerInfo> { return this.request('GET', '/'); }

  /** Sets the whole machine config (the YAML schema as an object) before the start action. */
  putConfig(config: MachineConfigInput): Promise<void> { return this.request('PUT', '/config', config); }

  /** The config with defaults filled in, sizes with units and paths absolute: putConfig takes it back as it is. */
  getConfig(): Promise<MachineConfigInput> { return this.request('GET', '/config'); }

  start(): Promise<void> { return this.action('start'); }
  pause(): Promise<void> { return this.action('pause'); }
  resume(): Promise<void> { return this.action('resume'); }
  ctrlAltDel(): Promise<void> { return this.action('ctrl-alt-del'); }
  /** Presses the ACPI power button (a 409 ApiClientError without `acpi: on`). */
  powerButton(): Promise<void> { return this.action('power-button'); }

  /** Asks the guest (Ctrl-Alt-Del), waits up to timeoutMs (server default 5000), then stops it by force. */
  stop(options: { timeoutMs?: number } = {}): Promise<VmExit> {
    return this.request('PUT', '/actions', { action: 'stop', ...options });
  }

  /** Resolves when the machine has ended. */
  waitForExit(): Promise<VmExit> { return this.request('GET', '/exit'); }

  counters(): Promise<VmCounters> { return this.request('GET', '/counters'); }

  /** The counters in the Prometheus text exposition format. */
  metrics(): Promise<string> { return this.requestText('GET', '/metrics'); }

  /** The VMM's log level now. */
  async logLevel(): Promise<LogLevel> { return (await this.request<{ level: LogLevel }>('GET', '/logger')).level; }

  /** Changes the log level of the VMM and of the machine's components at once. */
  setLogLevel(level: LogLevel): Promise<void> { return this.request('PUT', '/logger', { level }); }

  setBalloonTarget(targetMiB: number): Promise<void> { return this.request('PUT', '/balloon', { targetMiB }); }

  balloonStats(): Promise<unknown> { return this.request('GET', '/balloon'); }

  /** A PNG of what the gpu's scanout `scanout` shows (Vm.display.screenshot). */
  screenshot(scanout = 0): Promise<Buffer> {
    return this.requestBytes('GET', `/display/screenshot?scanout=${encodeURIComponent(String(scanout))}`);
  }

  /** Puts a new backing file behind disk `device` (its index in the config's devices). */
  swapDisk(device: number, path: string): Promise<void> {
    return this.request('PATCH', `/devices/${encodeURIComponent(String(device))}`, { path });
  }

  /** Sends input events to keyboard or tablet `device`; resolves to how many were queued (Vm.sendInput). */
  async sendInput(device: number, events: readonly InputEvent[]): Promise<number> {
    const r = await this.request<{ queued: number }>('POST', `/devices/${encodeURIComponent(String(device))}/input`, { events });
    return r.queued;
  }

  /**
   * Presses and releases a key by name or code, with modifiers held around it (POST /input/key, vm.input.key);
   * resolves to how many events were queued.
   */
  async key(key: string | number, options: KeyOptions = {}): Promise<number> {
    return (await this.request<{ queued: number }>('POST', '/input/key', { key, ...options })).queued;
  }

  /** Types ASCII text on a US keyboard (POST /input/type, vm.input.type); resolves to how many events were queued. */
  async type(text: string, options: TypeOptions = {}): Promise<number> {
    return (await this.request<{ queued: number }>('POST', '/input/type', { text, ...options })).queued;
  }

  /**
   * Moves the tablet's pointer to pixel (x, y), with `buttons` down from then on (POST /input/pointer,
   * vm.input.pointer); resolves to how many events were queued.
   */
  async pointer(x: number, y: number, buttons?: PointerButtons, options: PointerOptions = {}): Promise<number> {
    const body = { x, y, ...(buttons === undefined ? {} : { buttons }), ...options };
    return (await this.request<{ queued: number }>('POST', '/input/pointer', body)).queued;
  }

  /**
   * Sets the rate limits of disk or network device `device` (Vm.setRateLimiter): `limiter` null removes them, and
   * `direction` picks a network device's 'rx' or 'tx' (both when left out).
   */
  setRateLimiter(device: number, limiter: RateLimiterConfig | null, direction?: 'rx' | 'tx'): Promise<void> {
    const body = limiter === null && direction === undefined ? null
      : { ...(limiter ?? {}), ...(direction === undefined ? {} : { direction }) };
    return this.request('PUT', `/devices/${encodeURIComponent(String(device))}/rate-limiter`, body);
  }

  /**
   * Runs a command in the guest to its end (POST /exec): a string runs under `/bin/sh -c`, an array is the argv.
   * Resolves with the exit code or signal and the outputs; rejects with an ApiClientError whose code is the one
   * the same failure has in the process (NOT_FOUND, TIMEOUT, LIMIT, ERR_VM_NO_AGENT, ...).
   */
  exec(command: string | readonly string[], opts?: RemoteExecOptions & { encoding?: 'utf8' }): Promise<ExecResult>;
  exec(command: string | readonly string[], opts: RemoteExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
  async exec(command: string | readonly string[], opts: RemoteExecOptions & { encoding?: 'utf8' | 'buffer' } = {}):
    Promise<ExecResult | ExecResult<Buffer>> {
    const { stdin, encoding, ...rest } = opts;
    const input = stdin === undefined ? {} : typeof stdin === 'string' ? { stdin }
      : { stdinBase64: Buffer.from(stdin.buffer, stdin.byteOffset, stdin.length).toString('base64') };
    const buffers = encoding === 'buffer';
    const r = await this.request<{ exitCode: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
      'POST', '/exec', { argv: typeof command === 'string' ? command : [...command], ...rest, ...input, encoding: buffers ? 'base64' : 'utf8' });
    if (!buffers) return { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    return { exitCode: r.exitCode, signal: r.signal, stdout: Buffer.from(r.stdout, 'base64'), stderr: Buffer.from(r.stderr, 'base64') };
  }

  /** Starts a process in the guest with its input and output streamed (POST /exec/stream), like Vm.spawn(). */
  spawn(command: string, args: readonly string[] = [], opts: RemoteSpawnOptions = {}): RemoteProcess {
    return new RemoteProcess(this.socketPath, [command, ...args], opts);
  }

  private async action(action: Action): Promise<void> {
    await this.request('PUT', '/actions', { action });
  }
}
