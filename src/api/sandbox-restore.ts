// restoreSandbox(): a Sandbox from a snapshot of one (its machine paused and written with vm.snapshot(dir)). The
// restored machine's vsock device gets a socket in a new private folder, since the old sandbox's is gone with it;
// the guest is told its old connections are gone (docs/snapshot.md), its agent goes on listening, and this
// resolves once the agent answers on the new socket.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkOptions } from './errors';
import { restoreVm } from './restore';
import { bootFailure, checkSandboxOptions, CONSOLE_TAIL, Sandbox, SANDBOX_DEFAULTS, type SandboxOptions } from './sandbox';
import type { Vm } from './vm';
import { createLogger } from '../log';

/** What a restored sandbox takes: the options that are not the machine's (that comes from the snapshot). */
export type RestoreSandboxOptions = Pick<SandboxOptions,
  'cwd' | 'env' | 'execTimeoutMs' | 'maxOutputBytes' | 'readyTimeoutMs' | 'logger'>;

const KNOWN = ['cwd', 'env', 'execTimeoutMs', 'maxOutputBytes', 'readyTimeoutMs', 'logger'];

/** Checks restoreSandbox's options (a pool checks them once, before its first restore). */
export function checkRestoreSandboxOptions(options: unknown): RestoreSandboxOptions {
  return checkSandboxOptions(checkOptions('options', options, KNOWN));
}

/**
 * Restores the sandbox snapshot in folder `dir` and resolves once its agent answers. Rejects as restoreVm does for
 * a bad snapshot, and with AgentError TIMEOUT (readyTimeoutMs) when the agent does not answer.
 */
export async function restoreSandbox(dir: string, options?: RestoreSandboxOptions): Promise<Sandbox> {
  const o = checkRestoreSandboxOptions(options);
  const logger = o.logger ?? createLogger('silent');
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-sandbox-'));
  let vm: Vm | undefined;
  let tail = '';
  try {
    vm = await restoreVm(dir, { logger, paused: true, vsockSocket: path.join(folder, 'agent.sock') });
    vm.console.on('data', (chunk: Buffer) => { tail = (tail + chunk.toString('latin1')).slice(-CONSOLE_TAIL); });
    await vm.resume();
    const readyMs = o.readyTimeoutMs ?? SANDBOX_DEFAULTS.readyTimeoutMs;
    const info = await vm.waitForAgent({ timeoutMs: readyMs, intervalMs: 200 }).catch((e: unknown) => {
      throw bootFailure(e, readyMs, tail);
    });
    return new Sandbox(vm, folder, info, o, () => tail);
  } catch (e) {
    await vm?.kill();
    fs.rmSync(folder, { recursive: true, force: true });
    throw e;
  }
}
