// `tsvmm run`: one machine in the foreground with its serial console on the terminal, ended by the guest, by the
// escape key, or by SIGINT / SIGTERM / SIGHUP. Resolves with the process exit status.
import type { Logger } from 'pino';
import type { MachineConfig } from './config';
import { Machine } from './machine';
import type { MachineExit } from './exit-status';
import { attachTerminal } from './terminal';

async function resolveArtifacts(config: MachineConfig, log: Logger): Promise<MachineConfig> {
  const resolve = async (ref: string): Promise<string> => {
    if (!ref.startsWith('@guest/')) return ref;
    // Loaded only when a guest artifact is named: building guests is not the run path's business otherwise.
    const { resolveGuestArtifact } = await import('../guest/build');
    const p = await resolveGuestArtifact(ref, { log: (line: string) => process.stderr.write(line + '\n') });
    log.debug({ ref, path: p }, 'guest artifact');
    return p;
  };
  const kernel = await resolve(config.kernel);
  const initrd = config.initrd ? await resolve(config.initrd) : undefined;
  return { ...config, kernel, ...(initrd ? { initrd } : {}) };
}

export async function runMachine(input: MachineConfig, opts: { logger: Logger }): Promise<number> {
  const log = opts.logger;
  const config = await resolveArtifacts(input, log);
  const stdio = config.serial.mode === 'stdio';
  const fileSink = config.serial.mode === 'file' && config.serial.path
    ? require('node:fs').openSync(config.serial.path, 'a') as number : undefined;
  const machine = Machine.create(config, {
    logger: log,
    consoleOutput: (chunk) => {
      if (stdio) process.stdout.write(chunk);
      else if (fileSink !== undefined) require('node:fs').writeSync(fileSink, chunk);
    },
  });
  // Keys go to the virtio console when one is on stdio (the user asked for it), else to the serial port.
  const hvc = machine.stdioConsole;
  const terminal = stdio || hvc
    ? attachTerminal({
      input: process.stdin,
      onInput: (bytes: Uint8Array) => { if (hvc) hvc.input(bytes); else machine.serial.pushInput(bytes); },
      onEscape: () => void machine.finish('stopped', 'escape key pressed'),
    })
    : undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    void machine.finish('signal', `received ${sig}`, sig);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  const started = Date.now();
  machine.start();
  let exit: MachineExit;
  try {
    exit = await machine.wait();
  } finally {
    for (const s of signals) process.off(s, onSignal);
    terminal?.restore();
    if (fileSink !== undefined) require('node:fs').closeSync(fileSink);
  }
  const status = Machine.exitStatus(exit);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const line = `machine ended after ${secs} s: ${exit.reason} (${exit.detail}), exit status ${status}`;
  if (status === 0) log.info(line); else log.error(line);
  return status;
}
