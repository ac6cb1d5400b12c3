// restoreVm(): a Vm built from a snapshot folder that Vm.snapshot() wrote, in this process or another. The
// machine comes from the snapshot's own config, its RAM from memory.bin and its CPU and device state from
// state.bin, each checked first (docs/snapshot.md); it starts where the snapshot left it, running or paused.
import * as path from 'node:path';
import type { Logger } from 'pino';
import { argTypeError, checkInteger, checkNonEmptyString, checkOptions } from './errors';
import { Vm, vmErrorOf, type VmOptions } from './vm';
import { createLogger } from '../log';
import { ConfigError, type LogLevel } from '../vmm/config';
import { readSnapshot, type SnapshotImage } from '../vmm/snapshot/format';
import { checkSnapshotable } from '../vmm/snapshot/machine-state';
import { preflight } from '../vmm/preflight';

export interface RestoreVmOptions {
  /** The VMM's log for this machine (pino); default: silent. */
  logger?: Logger;
  /** Where a relative `dir` starts; default: the current directory. */
  baseDir?: string;
  /** Start with every vCPU paused (resume() lets the guest go on); default: running. */
  paused?: boolean;
  /**
   * The vsock device's unix socket for the restored machine, in place of the snapshot's (which the machine it was
   * taken from may still hold, or whose folder may be gone); relative to baseDir. Default: the snapshot's.
   */
  vsockSocket?: string;
  /**
   * The vsock device's guest CID for the restored machine, in place of the snapshot's: a clone that must be told
   * apart from its siblings on the host gets its own. The guest learns it with the transport reset a restore sends
   * (Linux reads guest_cid again then). Default: the snapshot's.
   */
  vsockCid?: number;
  /**
   * How guest RAM comes back. 'copy-on-write' (the default) maps the snapshot's memory.bin private: the restore
   * reads nothing but the pages the guest touches, and every machine restored from the same file shares those it
   * has not written; memory.bin must then stay unchanged while they run (deleting it is fine). 'copy' reads it
   * into the machine's own RAM, as a new machine's.
   */
  ram?: 'copy-on-write' | 'copy';
}

/**
 * Builds the machine a snapshot holds and starts it: running, or paused with `paused: true`. The snapshot's
 * control socket (apiSocket) is not served again: the machine it was taken from may still hold it. Rejects with
 * VmError ERR_VM_SNAPSHOT naming what is wrong with the snapshot (its `cause.code` says which check failed),
 * ERR_VM_SNAPSHOT_UNSUPPORTED for devices it cannot hold, HostError when this host lacks what the machine needs.
 */
export async function restoreVm(dir: string, options?: RestoreVmOptions): Promise<Vm> {
  const o = checkOptions('options', options, ['logger', 'baseDir', 'paused', 'vsockSocket', 'vsockCid', 'ram']);
  if (o.logger !== undefined && (typeof o.logger !== 'object' || o.logger === null)) {
    throw argTypeError('logger', 'a pino logger', o.logger);
  }
  if (o.paused !== undefined && typeof o.paused !== 'boolean') throw argTypeError('paused', 'a boolean', o.paused);
  if (o.ram !== undefined && o.ram !== 'copy-on-write' && o.ram !== 'copy') {
    throw argTypeError('ram', '\'copy-on-write\' or \'copy\'', o.ram);
  }
  const baseDir = path.resolve(o.baseDir === undefined ? process.cwd() : checkNonEmptyString('baseDir', o.baseDir));
  const snapshotDir = path.resolve(baseDir, checkNonEmptyString('dir', dir));
  const given = o.logger as Logger | undefined;
  // As createVm: silent unless the caller gave a logger, whatever log level the snapshot's config names.
  const logger = given ?? createLogger('silent');
  const vsockSocket = o.vsockSocket === undefined ? undefined
    : path.resolve(baseDir, checkNonEmptyString('vsockSocket', o.vsockSocket));
  const vsockCid = o.vsockCid === undefined ? undefined : checkInteger('vsockCid', o.vsockCid, 3, 0xffff_fffe);
  const vm = makeRestoredVm(snapshotDir, { logger, baseDir, ...(given ? {} : { logLevel: 'silent' as const }),
    ...(vsockSocket === undefined ? {} : { vsockSocket }), ...(vsockCid === undefined ? {} : { vsockCid }),
    ...(o.ram === undefined ? {} : { ram: o.ram }) });
  if (o.paused === true) await vm.startPaused(); else vm.start();
  return vm;
}

/**
 * The Vm a snapshot folder (an absolute path) holds, not started yet; restoreVm and the control socket's
 * PUT /snapshot/load start it. Throws as restoreVm rejects.
 */
export function makeRestoredVm(dir: string,
  opts: Omit<VmOptions, 'restore'> & { logLevel?: LogLevel; vsockSocket?: string; vsockCid?: number;
    ram?: SnapshotImage['ram'] }): Vm {
  let image: SnapshotImage;
  const { logLevel, vsockSocket, vsockCid, ram, ...vmOptions } = opts;
  const vsock = { ...(vsockSocket === undefined ? {} : { socket: vsockSocket }),
    ...(vsockCid === undefined ? {} : { cid: vsockCid }) };
  try {
    image = readSnapshot(dir, Object.keys(vsock).length === 0 ? undefined : (c) => withVsock(c, vsock));
  } catch (e) {
    throw vmErrorOf(e);
  }
  delete image.config.apiSocket;
  if (ram !== undefined) image.ram = ram;
  // Before a device opens anything (a tap, a socket): Machine.create refuses such a config too, later.
  try {
    checkSnapshotable(image.config);
  } catch (e) {
    throw vmErrorOf(e);
  }
  preflight(image.config);
  const logger = opts.logger.child({}, { level: logLevel ?? image.config.log.level });
  return new Vm(image.config, { ...vmOptions, logger, restore: image });
}

/** The snapshot's config (the config file's schema, not validated yet) with its vsock device's socket or CID changed. */
function withVsock(config: unknown, change: { socket?: string; cid?: number }): unknown {
  const c = config as { devices?: unknown };
  const devices = Array.isArray(c.devices) ? c.devices as unknown[] : [];
  const isVsock = (d: unknown): boolean => typeof d === 'object' && d !== null && (d as { type?: unknown }).type === 'vsock';
  if (!devices.some(isVsock)) {
    throw new ConfigError(change.socket === undefined ? 'vsockCid' : 'vsockSocket', 'the snapshot\'s machine has no vsock device');
  }
  return { ...c, devices: devices.map((d) => (isVsock(d) ? { ...(d as object), ...change } : d)) };
}
