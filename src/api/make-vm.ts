// What createVm() and the control socket's start action share once a config is valid: the host checked for what
// the machine needs (before minutes of building), `@guest/...` artifacts resolved (built on first use) and the
// machine's log at the config's level.
import type { Logger } from 'pino';
import { followLevels } from './log-levels';
import { Vm, type VmOptions } from './vm';
import { resolveArtifacts } from '../vmm/artifacts';
import type { LogLevel, MachineConfig } from '../vmm/config';
import { preflight } from '../vmm/preflight';

export interface MakeVmOptions extends VmOptions {
  /** The log level whatever the config says (the command line's --log-level); default config.log.level. */
  logLevel?: LogLevel;
}

/** Makes the Vm for a config validateConfig produced; nothing runs until start(). Throws HostError first. */
export async function makeVm(config: MachineConfig, opts: MakeVmOptions): Promise<Vm> {
  preflight(config);
  followLevels(opts.logger); // PUT /logger reaches the machine's loggers, made from here on
  const logger: Logger = opts.logger.child({}, { level: opts.logLevel ?? config.log.level });
  const resolved = await resolveArtifacts(config, (line) => logger.info(line));
  return new Vm(resolved, {
    logger,
    baseDir: opts.baseDir,
    ...(opts.consoleOutput ? { consoleOutput: opts.consoleOutput } : {}),
  });
}
