// The agent started with SIGCHLD ignored, as busybox init starts what it respawns: an ignored SIGCHLD is inherited
// across exec, and unless the agent takes it back no child's end would ever be seen (every exec would time out).
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
