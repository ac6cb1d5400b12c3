// Snapshots of a sandbox in a real guest: the project's kernel with the sandbox initramfs and a vsock device. The
// sandbox runs a command and writes a file, is paused and written to a folder, and goes on (its agent connection
// survives the snapshot); closed, it is restored with restoreSandbox() on a new vsock socket, where the guest is
// told its old connections are gone (TRANSPORT_RESET), the agent answers again, and the file is still there; a
// clone restored with a CID of its own answers under it. A machine with a virtio-fs share mounted is restored with
// the guest's nodes opened again by path, and a file it writes after the restore reaches the host. Needs
// real hardware virtualization (on kvm_pvm guest user space cannot make system calls); under the nested test host
// every step is slow, so each wait is long and bounded.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSandbox, sandboxConfig, type Sandbox } from '../../src/api/sandbox';
import { buildSandboxInitramfs } from '../../src/guest/agent';
import { restoreSandbox } from '../../src/api/sandbox-restore';
import { createVm } from '../../src/api/create';
import { restoreVm } from '../../src/api/restore';
import { isPvmHost } from '../../src/vmm/host-quirks';
import { MEMORY_FILE } from '../../src/vmm/snapshot/format';
import { kvmUnavailable } from '../helpers/kvm';
import { resultsDir } from '../run/files';

const skip = kvmUnavailable() ?? (isPvmHost() ? 'guest user space cannot make system calls on kvm_pvm' : undefined);
const BOOT_MS = Number(process.env.TSVMM_SANDBOX_BOOT_MS ?? 10 * 60_000);
const STEP_MS = 5 * 60_000;

describe('a sandbox snapshot', { skip, timeout: 4 * BOOT_MS }, () => {
  let dir: string;
  let first: Sandbox | undefined;
  let restored: Sandbox | undefined;
  let consoles = '';

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-snapshot-sandbox-'));
  });

  after(async () => {
    for (const [name, sb] of [['first', first], ['restored', restored]] as const) {
      if (sb) consoles += `==== ${name}\n${sb.consoleTail()}\n`;
      await sb?.close();
    }
    fs.mkdirSync(resultsDir(), { recursive: true });
    fs.writeFileSync(path.join(resultsDir(), 'snapshot-sandbox.console.log'), consoles);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is restored on a new socket, where the agent answers and the guest\'s files are as they were', async () => {
    first = await createSandbox({ memory: '256M', readyTimeoutMs: BOOT_MS, execTimeoutMs: STEP_MS });
    const before = await first.exec('echo before; echo kept > /tmp/marker');
    assert.deepEqual([before.exitCode, before.stdout], [0, 'before\n']);

    await first.vm.pause();
    const snap = path.join(dir, 'snap');
    await first.vm.snapshot(snap);
    assert.equal(fs.statSync(path.join(snap, MEMORY_FILE)).size, 256 * 1024 * 1024);
    // The machine it was taken from goes on, connections and all.
    await first.vm.resume();
    assert.equal((await first.exec('echo still')).stdout, 'still\n');
    await first.close();

    restored = await restoreSandbox(snap, { readyTimeoutMs: BOOT_MS, execTimeoutMs: STEP_MS });
    const after = await restored.exec('echo after; cat /tmp/marker');
    assert.deepEqual([after.exitCode, after.stdout, after.stderr], [0, 'after\nkept\n', '']);
    const devices = restored.vm.counters().devices;
    const vsock = devices.find((d) => d.type === 'vsock')?.counters;
    assert.equal(vsock?.transportResets, 1, JSON.stringify(devices));
    assert.equal(vsock.failures, 0);

    // A clone with a CID of its own: the guest takes it from the transport reset, or every answer of its agent
    // would carry the old one and be dropped by the device.
    const clone = await restoreVm(snap, { vsockCid: 42, vsockSocket: path.join(dir, 'clone.sock') });
    try {
      await clone.waitForAgent({ timeoutMs: BOOT_MS, intervalMs: 200 });
      const r = await clone.exec('cat /tmp/marker', { timeoutMs: STEP_MS });
      assert.deepEqual([r.exitCode, r.stdout], [0, 'kept\n']);
      const cloneVsock = clone.counters().devices.find((d) => d.type === 'vsock')?.counters;
      assert.equal(cloneVsock?.errors, 0, JSON.stringify(cloneVsock));
      assert.ok(clone.config.devices.some((d) => d.type === 'vsock' && d.cid === 42));
    } finally {
      await clone.kill();
    }
  });

  it('restores a machine with a shared folder mounted: the guest\'s nodes are opened again by path', async () => {
    const share = path.join(dir, 'share');
    fs.mkdirSync(share);
    fs.writeFileSync(path.join(share, 'hello.txt'), 'from the host\n');
    const image = (await buildSandboxInitramfs({})).path;
    const config = sandboxConfig({ memory: '256M' }, image, path.join(dir, 'fs-agent.sock'));
    config.devices = [...config.devices ?? [], { type: 'fs', tag: 'share', path: share }];
    const vm = await createVm(config);
    let snap: string;
    try {
      vm.start();
      await vm.waitForAgent({ timeoutMs: BOOT_MS, intervalMs: 200 });
      const r = await vm.exec('mkdir -p /mnt/s && mount -t virtiofs share /mnt/s && cat /mnt/s/hello.txt',
        { timeoutMs: STEP_MS });
      assert.deepEqual([r.exitCode, r.stdout, r.stderr], [0, 'from the host\n', '']);
      await vm.pause();
      snap = path.join(dir, 'fs-snap');
      await vm.snapshot(snap);
    } finally {
      await vm.kill();
    }
    const again = await restoreVm(snap, { vsockSocket: path.join(dir, 'fs-again.sock') });
    try {
      await again.waitForAgent({ timeoutMs: BOOT_MS, intervalMs: 200 });
      const r = await again.exec('cat /mnt/s/hello.txt && echo made-after > /mnt/s/after.txt && ls /mnt/s',
        { timeoutMs: STEP_MS });
      assert.deepEqual([r.exitCode, r.stdout, r.stderr], [0, 'from the host\nafter.txt\nhello.txt\n', '']);
      assert.equal(fs.readFileSync(path.join(share, 'after.txt'), 'utf8'), 'made-after\n');
      // Errors answered to the guest (ENOENT for the new name before it is made) are its business; a broken request,
      // an internal error or a device failure would be the restore's.
      const dev = again.counters().devices.find((d) => d.type === 'fs')!.counters;
      assert.deepEqual([dev.badRequests, dev.internalErrors, dev.failures], [0, 0, 0], JSON.stringify(dev));
      assert.ok(dev['op.create']! >= 1 && dev['op.readdirplus']! >= 1, JSON.stringify(dev));
    } finally {
      await again.kill();
    }
  });
});
