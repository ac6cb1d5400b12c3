// A warm pool of real sandboxes (createPool): it boots its size ahead of need, acquire() hands a booted one out
// without a boot and the pool boots its replacement, an acquire() beyond what is ready waits for the next boot,
// and close() leaves nothing running but what was handed out. A pool made from a sandbox's snapshot restores its
// sandboxes instead, each with what the snapshotted one had written. Needs real hardware virtualization; waits are
// bounded and long for the nested test host.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { createPool, type SandboxPool } from '../../src/api/pool';
import { createSandbox, type Sandbox } from '../../src/api/sandbox';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { kvmUnavailable } from '../helpers/kvm';
import { until } from '../helpers/wait';

const skip = kvmUnavailable() ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
const BOOT_MS = Number(process.env.TSVMM_SANDBOX_BOOT_MS ?? 10 * 60_000);

describe('a warm pool of sandboxes', { skip, timeout: 4 * BOOT_MS }, () => {
  let pool: SandboxPool | undefined;
  const out: Sandbox[] = [];
  after(async () => {
    await Promise.all(out.map((s) => s.close()));
    await pool?.close();
  });

  it('hands out booted sandboxes at once, refills behind them, and makes a caller beyond them wait for a boot', async () => {
    const p = createPool({ size: 2, maxBooting: 2, memory: '160M', readyTimeoutMs: BOOT_MS });
    pool = p;
    await until(() => p.stats().ready === 2, 'two sandboxes booted and idle', 2 * BOOT_MS, { everyMs: 250 });

    out.push(await p.acquire());
    const { ready, booting, waiting, acquired } = p.stats();
    assert.deepEqual({ ready, booting, waiting, acquired }, { ready: 1, booting: 1, waiting: 0, acquired: 1 },
      'one handed out from the idle ones, its replacement booting');
    out.push(await p.acquire());
    assert.equal(p.stats().ready, 0);
    // Nothing idle now: this one waits for a boot. A boot that fails (the test host's early triple faults,
    // docs/testing.md) reaches the waiter, as it should; the caller asks again, at most twice more.
    for (let attempt = 1; ; attempt++) {
      const third = p.acquire({ timeoutMs: 2 * BOOT_MS });
      assert.equal(p.stats().waiting, 1);
      try {
        out.push(await third);
        break;
      } catch (e) {
        // The pool's own answers (its timeout, its close) end the test; a boot's failure is asked past.
        if (attempt === 3 || /\(timeoutMs\)|closed/.test((e as Error).message)) throw e;
        process.stderr.write(`# pool: a boot failed and reached the waiter (${(e as Error).message.split('\n')[0]}); asking again\n`);
      }
    }
    if (p.stats().bootFailures > 0) process.stderr.write(`# pool: ${p.stats().bootFailures} boots failed and were replaced\n`);

    const ids = await Promise.all(out.map((s) => s.exec('cat /proc/sys/kernel/random/boot_id')));
    assert.equal(new Set(ids.map((r) => r.stdout)).size, 3, 'three distinct machines');
    assert.ok(ids.every((r) => r.exitCode === 0));
    assert.equal(p.stats().acquired, 3);

    await p.close();
    assert.deepEqual({ ready: p.stats().ready, booting: p.stats().booting }, { ready: 0, booting: 0 },
      'close waited for the idle and booting ones');
    assert.ok(out.every((s) => s.vm.state === 'running'), 'what was handed out is the caller\'s and still runs');
    await assert.rejects(p.acquire(), { code: 'ERR_VM_STATE', message: 'the pool is closed' });
  });

  it('restores its sandboxes from a snapshot, each with what the snapshotted one wrote', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-pool-snapshot-'));
    const snap = path.join(dir, 'sandbox');
    let p: SandboxPool | undefined;
    const taken: Sandbox[] = [];
    try {
      const first = await createSandbox({ memory: '160M', readyTimeoutMs: BOOT_MS });
      try {
        assert.equal((await first.exec('echo from-the-snapshot > /tmp/marker')).exitCode, 0);
        await first.vm.pause();
        await first.vm.snapshot(snap);
      } finally {
        await first.close();
      }
      p = createPool({ size: 2, snapshot: snap, readyTimeoutMs: BOOT_MS });
      await until(() => p!.stats().ready === 2, 'two sandboxes restored and idle', 2 * BOOT_MS, { everyMs: 250 });
      taken.push(await p.acquire(), await p.acquire());
      for (const s of taken) {
        const r = await s.exec('cat /tmp/marker');
        assert.deepEqual({ code: r.exitCode, out: r.stdout.trim() }, { code: 0, out: 'from-the-snapshot' });
      }
      assert.notEqual(taken[0]!.vm, taken[1]!.vm);
      await p.close();
      assert.equal(p.stats().bootFailures, 0);
    } finally {
      await Promise.all(taken.map((s) => s.close()));
      await p?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
