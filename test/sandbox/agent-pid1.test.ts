// The real agent as PID 1 of new PID and mount namespaces (unshare), as it would run as a guest's init: it mounts
// what is not mounted yet (and, on a read-only root, a tmpfs wherever commands write) and reaps the orphans that are
// handed to it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, it } from 'node:test';
import { agentUnbuildable, startAgent } from './real-agent';

const SHM = '/dev/shm';

function unshareUnavailable(): string | undefined {
  const r = spawnSync('unshare', ['-p', '-f', '-m', '--mount-proc', '--kill-child', 'true'], { stdio: 'ignore' });
  if (r.status === 0 && fs.existsSync(SHM)) return undefined;
  const why = `new PID and mount namespaces are not available here (unshare: ${r.error?.message ?? `status ${r.status}`}): ` +
    'the agent as PID 1 is NOT tested';
  process.stderr.write(`# ${why}\n`);
  return why;
}

describe('the real agent as PID 1', { skip: agentUnbuildable() ?? unshareUnavailable(), timeout: 60_000 }, () => {
  it('mounts /tmp where nothing is mounted, serves, and reaps orphans', async () => {
    // The socket lives in /dev/shm: the agent mounts a tmpfs over /tmp in its mount namespace.
    const agent = await startAgent({ wrap: ['unshare', '-p', '-f', '-m', '--mount-proc', '--kill-child'], parent: SHM });
    try {
      const client = agent.client();
      const who = await client.exec('cat /proc/1/comm; grep -c " /tmp tmpfs " /proc/mounts');
      assert.deepEqual(who.stdout.split('\n').slice(0, 2), ['tsvmm-agent', '1']);
      // An orphan: its parent shell exits at once, so it is handed to PID 1, which must reap it when it ends.
      const orphan = Number((await client.exec('sleep 0.3 & echo $!')).stdout);
      const reaped = await client.exec(`for i in $(seq 100); do [ -e /proc/${orphan} ] || exit 0; sleep 0.1; done; ` +
        `cat /proc/${orphan}/status; exit 1`, { timeoutMs: 30_000 });
      assert.equal(reaped.exitCode, 0, `the orphan (pid ${orphan} in the namespace) was not reaped:\n${reaped.stdout}`);
    } finally {
      await agent.stop();
    }
  });

  it('on a read-only root (a shared root image) puts tmpfs on /var/tmp and /run too, where commands can write', async (t) => {
    // The namespace's / is made read-only before the agent starts, as the kernel mounts a root image with `ro`.
    const readOnly = ['sh', '-c', 'mount -o remount,bind,ro / && exec "$@"', 'sh'];
    const agent = await startAgent({ wrap: ['unshare', '-p', '-f', '-m', '--mount-proc', '--kill-child', ...readOnly], parent: SHM })
      .catch((e: unknown) => { t.skip(`/ cannot be made read-only in a mount namespace here: ${(e as Error).message}`); });
    if (!agent) return;
    try {
      const client = agent.client();
      const r = await client.exec('for d in /tmp /run /var/tmp; do echo x > $d/tsvmm-written && echo ok; done; touch /tsvmm-root-write');
      assert.equal(r.stdout, 'ok\nok\nok\n', r.stderr);
      assert.match(r.stderr, /Read-only file system/);
      assert.equal((await client.exec('grep -c " /var/tmp tmpfs " /proc/mounts')).stdout, '1\n');
    } finally {
      await agent.stop();
    }
  });
});
