// `tsvmm run`: one machine in the foreground with its serial console on the terminal, ended by the guest, by the
// escape key, by SIGINT / SIGTERM / SIGHUP, or through its control socket. With a socket and no config the
// machine waits for one (PUT /config, then the start action). Resolves with the process exit status.
import type { Logger } from 'pino';
import type { LogLevel, MachineConfig } from './config';
import { exitStatus, type MachineExit } from './exit-status';
import { attachTerminal } from './terminal';
import { ApiController } from '../api/controller';
import { ApiServer } from '../api/server';
import type { Vm } from '../api/vm';

export interface RunOptions {
  logger: Logger;
  /** The control socket when the config does not name one (the machine then comes through it). */
  apiSocket?: string;
  /** Where relative paths sent through the socket start; default the current directory. */
  cwd?: string;
  /** Overrides the log level of a config that comes through the socket. */
  logLevel?: LogLevel;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Puts the machine's stdio consoles on this process's terminal; returns what undoes it once the machine has ended. */
function attachConsole(vm: Vm, log: Logger): () => Promise<void> {
  const serial = vm.config.serial.mode === 'stdio';
  // Keys go to the virtio console when one is on stdio (the user asked for it), else to the serial port.
  const hvc = vm.machine.stdioConsole;
  if (!serial && !hvc) return async () => {};
  // Whoever read stdout went away (EPIPE): the machine goes on, its console output is dropped from now on.
  const lost = (e: NodeJS.ErrnoException): void => {
    vm.console.unpipe(process.stdout);
    vm.console.resume();
    log.warn(`console output dropped from now on: stdout failed (${e.code ?? e.message})`);
  };
  if (serial) {
    vm.console.pipe(process.stdout, { end: false });
    process.stdout.once('error', lost);
  }
  const terminal = attachTerminal({
    input: process.stdin,
    onInput: (bytes: Uint8Array) => { if (hvc) hvc.input(bytes); else vm.console.write(bytes); },
    onEscape: () => void vm.machine.finish('stopped', 'escape key pressed'),
  });
  return async () => {
    terminal.restore();
    process.stdout.off('error', lost);
    // The console's last bytes reach stdout before the process reports the end.
    if (serial && vm.state === 'exited' && !vm.console.readableEnded) {
      await new Promise((resolve) => vm.console.once('end', resolve));
    }
  };
}

export async function runMachine(config: MachineConfig | undefined, opts: RunOptions): Promise<number> {
  const log = opts.logger;
  const socketPath = config?.apiSocket ?? opts.apiSocket;
  const controller = new ApiController({
    logger: log,
    baseDir: opts.cwd ?? process.cwd(),
    ...(config ? { config } : {}),
    ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
  });
  let detach: () => Promise<void> = async () => {};
  let started = Date.now();
  let machineEnded!: (exit: MachineExit) => void;
  const ended = new Promise<MachineExit>((resolve) => { machineEnded = resolve; });
  controller.on('vm', (vm) => {
    started = Date.now();
    detach = attachConsole(vm, log);
    void vm.wait().then(machineEnded);
  });
  const onSignal = (sig: NodeJS.Signals): void => {
    const vm = controller.vm;
    if (vm) void vm.machine.finish('signal', `received ${sig}`, sig);
    else machineEnded({ reason: 'signal', detail: `received ${sig} before the machine started`, signal: sig });
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  let server: ApiServer | undefined;
  let exit: MachineExit;
  try {
    if (socketPath) {
      server = await ApiServer.listen(socketPath, controller, { logger: log, field: config ? 'apiSocket' : '--api-sock' });
    }
    if (config) await controller.start();
    else log.info(`waiting for the machine config on ${socketPath}: PUT /config, then PUT /actions {"action":"start"}`);
    exit = await ended;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
    await detach();
    await server?.close();
  }
  const status = exitStatus(exit);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const line = `machine ended after ${secs} s: ${exit.reason} (${exit.detail}), exit status ${status}`;
  if (status === 0) log.info(line); else log.error(line);
  return status;
}
