// Booting sandboxes for the integration suites. Under the nested test host a Linux boot now and then triple-faults
// or stops before user space (docs/testing.md): the machine ends, or the agent never answers. Such a boot is booted
// again, at most twice, and each time is said on stderr and in .test-results/<suite>-stalls.log, which the test
// summary lists as BOOTED AGAIN; a third failure fails the test with the last error and its console.
import { VmError } from '../../src/api/errors';
import { createSandbox, type Sandbox, type SandboxOptions } from '../../src/api/sandbox';
import { AgentError } from '../../src/sandbox';
import { noteStall } from '../run/files';

/** How long one boot may take before it counts as stalled: a healthy one takes well under a minute in L1. */
export const SANDBOX_BOOT_MS = Number(process.env.TSVMM_SANDBOX_BOOT_MS ?? 5 * 60_000);
const BOOT_TRIES = 3;

/** Why a failed createSandbox is the test host's stall and worth another boot, or undefined (a real error). */
function stallReason(e: unknown): string | undefined {
  if (e instanceof AgentError && e.code === 'TIMEOUT') return `had no agent within ${SANDBOX_BOOT_MS} ms`;
  if (e instanceof VmError && e.code === 'ERR_VM_STATE') return 'ended before its agent answered';
  return undefined;
}

/** createSandbox with readyTimeoutMs = SANDBOX_BOOT_MS unless given, and the test host's stalls booted again. */
export async function bootSandbox(options: SandboxOptions, what: string, suite: string): Promise<Sandbox> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createSandbox({ readyTimeoutMs: SANDBOX_BOOT_MS, ...options });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const why = stallReason(e);
      if (why === undefined || attempt === BOOT_TRIES) {
        throw new Error(`booting ${what}${attempt > 1 ? ` (boot ${attempt} of ${BOOT_TRIES})` : ''}: ${message}`, { cause: e });
      }
      const lastLine = message.trimEnd().split('\n').at(-1) ?? '';
      const note = `${what}: boot ${attempt} of ${BOOT_TRIES} ${why}; last line: ${JSON.stringify(lastLine.slice(-120))}`;
      noteStall(suite, note);
    }
  }
}
