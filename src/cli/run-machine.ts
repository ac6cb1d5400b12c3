// `tsvmm run`: one machine in the foreground with its serial console on the terminal, ended by the guest, by the
// escape key, by SIGINT / SIGTERM / SIGHUP, or through its control socket. With a socket and no config the
// machine waits for one (PUT /config, then the start action). Resolves with the process exit status.
import type { Logger } from 'pino';
import type { LogLevel, MachineConfig } from '../vmm/config';
import { attachTerminal } from './terminal';
import { ApiController } from '../api/controller';
import { ApiServer } from '../api/server';
import { vmExit, type Vm, type VmExit } from '../api/vm';

export interface RunOptions {
  logger: Logger;
  /** The control socket when the config does not name one (the machine then comes through it). */
  apiSocket?: string;
  /** Where relative paths sent through the socket start; default the current directory. */
  cwd?: string;
  /** Overrides the log level of a config that comes through the socket (or of a restored snapshot's). */
  logLevel?: LogLevel;
  /** A snapshot folder (absolute) whose machine runs instead of a config. */
  restore?: string;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * The serial console's output on this process's stdout: written as it comes, Node buffering what a slow reader has
 * not taken yet, so nothing is lost behind a slow pipe. When whoever read stdout goes away (EPIPE) the machine goes
 * on and its console output is dropped from then on.
 */
class StdoutConsole {
  private lost = false;

  constructor(private readonly log: Logger) {
    process.stdout.on('error', this.failed);
  }

  readonly write = (chunk: Buffer): void => {
    if (!this.lost) process.stdout.write(chunk);
  };

  private readonly failed = (e: NodeJS.ErrnoException): void => {
    if (this.lost) return;
    this.lost = true;
    this.log.warn(`console output dropped from now on: stdout failed (${e.code ?? e.message})`);
  };

  /** Resolves once what was written has left for stdout: the process exits right after the machine ends. */
  async close(): Promise<void> {
    if (!this.lost && process.stdout.writableLength > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.stdout.off('drain', done);
          process.stdout.off('error', done);
          resolve();
        };
        process.stdout.on('drain', done);
        process.stdout.on('error', done);
      });
    }
    process.stdout.off('error', this.failed);
  }
}

/** Puts the machine's terminal input where its stdio console is; returns what undoes it. */
function attachInput(vm: Vm): () => void {
  // Keys go to the virtio console when one is on stdio (the user asked for it), else to the serial port.
  const hvc = vm.machine.stdioConsole;
  if (vm.config.serial.mode !== 'stdio' && !hvc) return () => {};
  const terminal = attachTerminal({
    input: process.stdin,
    onInput: (bytes: Uint8Array) => { if (hvc) hvc.input(bytes); else vm.console.write(bytes); },
    onEscape: () => void vm.machine.finish('stopped', 'escape key pressed'),
  });
  return () => terminal.restore();
}

/**
 * The browser console when the config asks for it: its address on stderr (it holds the token, so it goes to the
 * user, not the log). A port that cannot be listened on ends the machine: what was asked for is not there.
 */
function serveDisplay(vm: Vm, log: Logger): void {
  const display = vm.config.display;
  if (display === undefined) return;
  vm.display.serveWeb({ port: display.port }).then((web) => {
    process.stderr.write(`browser console: ${web.url}\n`);
  }, (e: unknown) => {
    const why = e instanceof Error ? e.message : String(e);
    log.error(`display: cannot serve the browser console on 127.0.0.1:${display.port}: ${why}`);
    void vm.machine.finish('error', `display: cannot serve the browser console: ${why}`);
  });
}

export async function runMachine(config: MachineConfig | undefined, opts: RunOptions): Promise<number> {
  const log = opts.logger;
  const socketPath = config?.apiSocket ?? opts.apiSocket;
  const stdout = new StdoutConsole(log);
  const controller = new ApiController({
    logger: log,
    baseDir: opts.cwd ?? process.cwd(),
    consoleOutput: stdout.write,
    ...(config ? { config } : {}),
    ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
  });
  let detach = (): void => {};
  let started = Date.now();
  let machineEnded!: (exit: VmExit) => void;
  const ended = new Promise<VmExit>((resolve) => { machineEnded = resolve; });
  controller.on('vm', (vm) => {
    started = Date.now();
    detach = attachInput(vm);
    void vm.wait().then(machineEnded);
    serveDisplay(vm, log);
  });
  const onSignal = (sig: NodeJS.Signals): void => {
    const vm = controller.vm;
    if (vm) void vm.machine.finish('signal', `received ${sig}`, sig);
    else machineEnded(vmExit({ reason: 'signal', detail: `received ${sig} before the machine started`, signal: sig }));
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  let server: ApiServer | undefined;
  let exit: VmExit;
  try {
    if (socketPath) {
      server = await ApiServer.listen(socketPath, controller, { logger: log, field: config ? 'apiSocket' : '--api-sock' });
    }
    if (config) await controller.start();
    else if (opts.restore) await controller.restore(opts.restore, false);
    else log.info(`waiting for the machine config on ${socketPath}: PUT /config, then PUT /actions {"action":"start"}`);
    exit = await ended;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
    detach();
    await stdout.close();
    await server?.close();
  }
  const { status } = exit;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const line = `machine ended after ${secs} s: ${exit.reason} (${exit.detail}), exit status ${status}`;
  if (status === 0) log.info(line); else log.error(line);
  return status;
}
