// Four sandboxes at once in one process (createSandbox, real guests): each runs its own commands, and one whose
// agent is killed (kill -9 from a command of its own) fails only its own work, with AGENT_GONE, while the others go
// on; busybox init brings that agent back and its Vm reconnects. Needs real hardware virtualization; waits are
// bounded and long for the nested test host.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Sandbox } from '../../src/api/sandbox';
import { AgentError } from '../../src/sandbox';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { kvmUnavailable } from '../helpers/kvm';
import { bootSandbox, SANDBOX_BOOT_MS as BOOT_MS } from '../helpers/sandbox-boot';

const skip = kvmUnavailable() ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
const STEP_MS = 5 * 60_000;

describe('four sandboxes in one process', { skip, timeout: 3 * BOOT_MS }, () => {
  const all: Sandbox[] = [];

  before(async () => {
    const booted = await Promise.allSettled([0, 1, 2, 3].map((i) =>
      bootSandbox({ memory: '160M', execTimeoutMs: STEP_MS }, `sandbox ${i + 1} of 4`, 'sandbox-fleet')));
    for (const b of booted) if (b.status === 'fulfilled') all.push(b.value);
    const failed = booted.find((b): b is PromiseRejectedResult => b.status === 'rejected');
    if (failed) throw failed.reason;
  }, { timeout: 40 * 60_000 });

  after(async () => { await Promise.all(all.map((s) => s.close())); });

  it('each runs its own commands at the same time', async () => {
    const names = await Promise.all(all.map((s, i) => s.exec(`echo box${i}; hostname`)));
    assert.deepEqual(names.map((r) => r.stdout), [0, 1, 2, 3].map((i) => `box${i}\nsandbox\n`));
  });

  it('one whose agent is killed fails alone with AGENT_GONE; the others go on; its agent comes back', async () => {
    const [victim, ...others] = all;
    assert.ok(victim, 'four sandboxes booted');
    const longRunning = victim.exec('sleep 600');
    // The agent by its name in /proc (comm), from a command it runs itself.
    const killAgent = 'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = tsvmm-agent ] && kill -9 ${p#/proc/}; done; sleep 600';
    await assert.rejects(victim.exec(killAgent),
      (e: unknown) => e instanceof AgentError && e.code === 'AGENT_GONE');
    await assert.rejects(longRunning, (e: unknown) => e instanceof AgentError && e.code === 'AGENT_GONE');
    const rest = await Promise.all(others.map((s) => s.exec('echo still here')));
    assert.deepEqual(rest.map((r) => r.stdout), Array(3).fill('still here\n'));
    // busybox init respawns the agent; the Vm's client connects to the new one.
    await victim.vm.waitForAgent({ timeoutMs: STEP_MS, intervalMs: 200 });
    assert.equal((await victim.exec('echo back')).stdout, 'back\n');
  });
});
