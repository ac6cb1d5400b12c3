// How the agent learns that its children ended, in the two setups a guest gives it that a test host does not:
// - started with SIGCHLD ignored, as busybox init starts what it respawns (an ignored SIGCHLD is inherited across
//   exec, and unless the agent takes it back the kernel reaps every child itself);
// - a kernel without signalfd (an EXPERT option the project's own kernel leaves out): a handler and a pipe instead.
// In both, every exec would otherwise time out.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { agentUnbuildable, startAgent, type RealAgent } from './real-agent';

const skip = agentUnbuildable();

describe('the agent under a parent that ignores SIGCHLD', { skip }, () => {
  let agent: RealAgent | undefined;
  before(async () => {
    // perl, not sh: dash keeps SIGCHLD for itself and does not pass `trap '' CHLD` on as an ignored signal.
    agent = await startAgent({ wrap: ['perl', '-e', '$SIG{CHLD} = "IGNORE"; exec @ARGV or die "exec: $!"', '--'] });
  });
  after(async () => { await agent?.stop(); });

  it('still sees its children end: exec reports the exit status', async () => {
    assert.ok(agent, 'the agent started');
    const client = agent.client({ requestTimeoutMs: 20_000 });
    await client.waitReady({ timeoutMs: 20_000 });
    const r = await client.exec(['sh', '-c', 'echo ok; exit 3'], { timeoutMs: 20_000 });
    assert.deepEqual([r.stdout, r.exitCode], ['ok\n', 3]);
  });
});

describe('the agent without signalfd (as on a kernel built without it)', { skip }, () => {
  let agent: RealAgent | undefined;
  before(async () => {
    agent = await startAgent({ wrap: ['sh', '-c', 'exec "$@" --no-signalfd', 'sh'] });
  });
  after(async () => { await agent?.stop(); });

  it('learns of each child\'s end through its pipe: one exec, then ten at once', async () => {
    assert.ok(agent, 'the agent started');
    const client = agent.client({ requestTimeoutMs: 20_000 });
    await client.waitReady({ timeoutMs: 20_000 });
    assert.equal((await client.exec(['sh', '-c', 'exit 5'], { timeoutMs: 20_000 })).exitCode, 5);
    const all = await Promise.all(Array.from({ length: 10 }, (_, i) =>
      client.exec(['sh', '-c', `echo ${i}; exit ${i}`], { timeoutMs: 20_000 })));
    assert.deepEqual(all.map((r) => [r.stdout, r.exitCode]), Array.from({ length: 10 }, (_, i) => [`${i}\n`, i]));
  });
});
