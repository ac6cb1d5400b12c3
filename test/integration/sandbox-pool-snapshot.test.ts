// A warm pool made from a sandbox's snapshot (createPool({ snapshot })) restores its sandboxes instead of booting
// them, each with what the snapshotted one had written, each its own machine. Needs real hardware virtualization;
// waits are bounded and long for the nested test host, and at most two guests run at once (sandbox-pool.test.ts
// says why).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { createPool, type SandboxPool } from '../../src/api/pool';
import { createSandbox, type Sandbox } from '../../src/api/sandbox';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { kvmUnavailable } from '../helpers/kvm';
import { until } from '../helpers/wait';

const skip = kvmUnavailable() ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
const BOOT_MS = Number(process.env.TSVMM_SANDBOX_BOOT_MS ?? 10 * 60_000);

describe('a warm pool from a snapshot', { skip, timeout: 4 * BOOT_MS }, () => {
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
      p = createPool({ size: 1, snapshot: snap, readyTimeoutMs: BOOT_MS });
      const pool = p;
      await until(() => pool.stats().ready === 1, 'a sandbox restored and idle', 2 * BOOT_MS, { everyMs: 250 });
      const vms = [];
      for (let i = 0; i < 2; i++) {
        const s = await pool.acquire({ timeoutMs: 2 * BOOT_MS });
        taken.push(s);
        const r = await s.exec('cat /tmp/marker');
        assert.deepEqual({ code: r.exitCode, out: r.stdout.trim() }, { code: 0, out: 'from-the-snapshot' }, `sandbox ${i + 1}`);
        vms.push(s.vm);
        // Closed before the next is taken, so that at most two guests run (this one and the restore behind it).
        await s.close();
      }
      assert.notEqual(vms[0], vms[1], 'each acquire its own machine');
      await pool.close();
      assert.deepEqual({ bootFailures: pool.stats().bootFailures, acquired: pool.stats().acquired }, { bootFailures: 0, acquired: 2 });
    } finally {
      await Promise.all(taken.map((s) => s.close()));
      await p?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
