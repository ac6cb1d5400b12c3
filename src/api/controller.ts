// What a control socket controls: a machine config waiting for the start action, then the Vm made from it (or a
// Vm handed over already made, when a program serves one of its own). The routes (src/api/routes.ts) call this;
// it knows nothing of HTTP.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { VmError } from './errors';
import { followLevels, setLevels } from './log-levels';
import { makeVm } from './make-vm';
import { makeRestoredVm } from './restore';
import type { Vm, VmState } from './vm';
import { configWarnings, validateConfig, type LogLevel, type MachineConfig } from '../vmm/config';
import { ConfigError, isMapping } from '../vmm/config-check';
import { checkPathClashes } from '../vmm/config-paths';

/** Before a Vm exists: no config yet, or a config waiting for the start action. */
export type ControllerState = 'unconfigured' | 'configured' | 'starting' | VmState;

export interface ControllerOptions {
  logger: Logger;
  /** Where relative paths in a config (and in disk swaps) start. */
  baseDir: string;
  /** A machine that already exists... */
  vm?: Vm;
  /** ...or a validated config to make one from at the start action; with neither, PUT /config brings it. */
  config?: MachineConfig;
  /** The machine's log level whatever its config says (the command line's --log-level). */
  logLevel?: LogLevel;
  /** Where the serial console's output goes instead of the Vm's console stream (see VmOptions). */
  consoleOutput?: (chunk: Buffer) => void;
}

export class ApiController extends EventEmitter<{ vm: [vm: Vm] }> {
  private config: MachineConfig | undefined;
  private current: Vm | undefined;
  private starting = false;
  /** The control socket serving this, once one does: a config sent through it must not clash with it. */
  private socketPath: string | undefined;
  /** The level set by PUT /logger (or the command line), which a machine made later starts at too. */
  private level: LogLevel | undefined;

  constructor(private readonly opts: ControllerOptions) {
    super();
    this.current = opts.vm;
    this.config = opts.vm?.config ?? opts.config;
    this.level = opts.logLevel;
    followLevels(opts.logger);
  }

  /** The log level now: the one set last, else the machine's config's, else the logger's. */
  get logLevel(): LogLevel {
    return this.level ?? this.config?.log.level ?? (this.opts.logger.level as LogLevel);
  }

  /** Sets the level of the VMM's log and of every logger made from it (the machine's components). */
  setLogLevel(level: LogLevel): void {
    this.level = level;
    setLevels(this.opts.logger, level);
  }

  get state(): ControllerState {
    if (this.current) return this.current.state;
    if (this.starting) return 'starting';
    return this.config ? 'configured' : 'unconfigured';
  }

  get vm(): Vm | undefined {
    return this.current;
  }

  /** Replaces the pending config (the whole of it) until the machine is made. Throws ConfigError. */
  setConfig(raw: unknown): MachineConfig {
    if (this.current || this.starting) {
      throw new VmError('ERR_VM_STATE', `cannot change the config: the machine is ${this.state}`);
    }
    // Before validation, which would check it as a path first and say something less to the point.
    if (isMapping(raw) && raw.apiSocket !== undefined) {
      throw new ConfigError('apiSocket', 'leave it out: this machine is configured through a control socket already');
    }
    const config = validateConfig(raw, { baseDir: this.opts.baseDir });
    checkPathClashes(config.serial.path, config.devices, this.socketPath);
    for (const warning of configWarnings(config)) this.opts.logger.warn(warning);
    this.config = config;
    return config;
  }

  /** Called by the server that serves this on `socketPath`. */
  servedAt(socketPath: string): void {
    this.socketPath = socketPath;
  }

  /** Where relative paths sent through the socket start. */
  get baseDir(): string {
    return this.opts.baseDir;
  }

  getConfig(): MachineConfig {
    if (!this.config) throw new VmError('ERR_VM_STATE', 'no config yet (PUT /config first)');
    return this.config;
  }

  /** Makes the machine from the config (when needed) and starts it; announces the Vm with 'vm' before it runs. */
  async start(): Promise<Vm> {
    if (this.current) {
      this.current.start();
      return this.current;
    }
    if (this.starting) throw new VmError('ERR_VM_STATE', 'cannot start: the machine is starting');
    const config = this.getConfig();
    this.starting = true;
    try {
      const { logger, baseDir, consoleOutput } = this.opts;
      const logLevel = this.level;
      const vm = await makeVm(config, {
        logger, baseDir, ...(logLevel ? { logLevel } : {}), ...(consoleOutput ? { consoleOutput } : {}),
      });
      this.current = vm;
      this.emit('vm', vm);
      vm.start();
      return vm;
    } finally {
      this.starting = false;
    }
  }

  /**
   * Makes the machine a snapshot folder (an absolute path) holds and starts it, running or paused; only while no
   * machine exists (its config replaces any pending one). Announces the Vm with 'vm' before it runs.
   */
  async restore(dir: string, paused: boolean): Promise<Vm> {
    if (this.current || this.starting) {
      throw new VmError('ERR_VM_STATE', `cannot load a snapshot: the machine is ${this.state}`);
    }
    const { logger, baseDir, consoleOutput } = this.opts;
    const logLevel = this.level;
    const vm = makeRestoredVm(dir, {
      logger, baseDir, ...(logLevel ? { logLevel } : {}), ...(consoleOutput ? { consoleOutput } : {}),
    });
    this.current = vm;
    this.config = vm.config;
    this.emit('vm', vm);
    if (paused) await vm.startPaused(); else vm.start();
    return vm;
  }

  /** The machine, for what only a made machine can do. */
  requireVm(operation: string): Vm {
    if (!this.current) throw new VmError('ERR_VM_STATE', `cannot ${operation}: the machine is ${this.state}`);
    return this.current;
  }
}
