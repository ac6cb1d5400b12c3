// Linux's virtio-fs driver against our device: the kernel mounts the share as its root (rootfstype=virtiofs
// root=<tag>), finds /init in it over FUSE (lookup, open, read) and runs it. The init makes no system call (guest
// user space cannot make them on hosts whose KVM emulates the guest kernel), so the proof is the kernel running
// it without a panic for a while, and the device's counters showing the lookups and reads that loaded it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildGuest, type GuestArtifacts } from '../../src/guest/build';
import { buildInitPause } from '../../src/guest/initramfs';
import { readInitPauseSource } from '../../src/guest/paths';
import { validateConfig } from '../../src/vmm/config';
import { Machine } from '../../src/vmm/machine';
import { kvmUnavailable } from '../helpers/kvm';

const skip = kvmUnavailable();
const BOOT_TIMEOUT_MS = 300_000;
/** How long the kernel must keep running /init without a panic. */
const GRACE_MS = 10_000;

describe('Linux root on virtio-fs on /dev/kvm', { skip, timeout: 600_000 }, () => {
  let guest: GuestArtifacts;
  let dir: string;
  let share: string;
  let initSize: number;
  before(async () => {
    guest = await buildGuest({ log: (line) => process.stderr.write(`${line}\n`) });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-linux-fs-'));
    share = path.join(dir, 'share');
    fs.mkdirSync(path.join(share, 'dev'), { recursive: true });
    const init = await buildInitPause(readInitPauseSource(), dir);
    fs.writeFileSync(path.join(share, 'init'), init, { mode: 0o755 });
    initSize = init.length;
  }, { timeout: 40 * 60_000 });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('mounts the share as / and runs /init from it', async () => {
    let out = '';
    let ranInit: () => void;
    const running = new Promise<void>((r) => { ranInit = r; });
    const config = validateConfig({
      kernel: guest.vmlinux, memory: '128M', serial: { mode: 'none' },
      cmdline: 'console=ttyS0 reboot=k panic=-1 rootfstype=virtiofs root=rootfs init=/init',
      devices: [{ type: 'fs', tag: 'rootfs', path: share, readonly: true }],
    });
    const m = Machine.create(config, { consoleOutput: (c) => {
      out += c.toString('latin1');
      if (out.includes('Run /init as init process')) ranInit();
    } });
    m.start();
    const ended = m.wait().then((e) => { throw new Error(`machine ended (${e.reason}: ${e.detail})\n${out}`); });
    const timer = setTimeout(() => void m.stop('test timed out'), BOOT_TIMEOUT_MS);
    try {
      await Promise.race([running, ended]);
      await Promise.race([new Promise((r) => setTimeout(r, GRACE_MS)), ended]);
    } finally {
      clearTimeout(timer);
    }
    const [fsc] = m.deviceCounters();
    await m.stop('test done');
    process.stderr.write(`# virtio-fs counters: ${JSON.stringify(fsc)}\n`);
    assert.match(out, /VFS: Mounted root \(virtiofs filesystem\)/);
    assert.doesNotMatch(out, /Kernel panic|Failed to execute \/init/);
    assert.ok(fsc!['op.init'] === 1 && fsc!['op.lookup']! >= 1 && fsc!['op.open']! >= 1 && fsc!['op.read']! >= 1,
      JSON.stringify(fsc));
    assert.ok(fsc!.readBytes! >= initSize, `read ${fsc!.readBytes} of ${initSize} bytes`);
    assert.equal(fsc!.failures, 0);
    assert.equal(fsc!.internalErrors, 0);
  });
});
