// The real Linux virtio-mmio, virtio-blk, virtio-rng and virtio-console drivers against our transport and devices: the kernel
// finds both devices from the cmdline tsvmm writes, mounts an ext4 root read-write from the blk device and its
// hwrng core pulls entropy, and its log also goes to hvc0, all through ioeventfd notifies and irqfd interrupts. Afterwards the image is clean.
// The same root from a virtio-scsi disk (root=/dev/sda).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildGuest, type GuestArtifacts } from '../../src/guest/build';
import { validateConfig } from '../../src/vmm/config';
import { Machine } from '../../src/vmm/machine';
import { kvmUnavailable } from '../helpers/kvm';

const skip = kvmUnavailable();

describe('Linux virtio-blk and virtio-rng on /dev/kvm', { skip, timeout: 600_000 }, () => {
  let guest: GuestArtifacts;
  let dir: string;
  let image: string;
  before(async () => {
    guest = await buildGuest({ log: (line) => process.stderr.write(`${line}\n`) });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-linux-virtio-'));
    image = path.join(dir, 'root.ext4');
    execFileSync('mkfs.ext4', ['-q', '-F', image, '64M']);
  }, { timeout: 40 * 60_000 });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('mounts an ext4 root from vda read-write, feeds the hwrng, logs on hvc0, and leaves the image clean', async () => {
    let out = '';
    const hvcLog = path.join(dir, 'hvc0.log');
    const config = validateConfig({
      kernel: guest.vmlinux, memory: '128M', cmdline: 'console=ttyS0 console=hvc0 reboot=k panic=-1 root=/dev/vda rw',
      devices: [{ type: 'blk', path: image, serial: 'root0' }, { type: 'rng' },
        { type: 'console', backend: 'file', path: hvcLog }], serial: { mode: 'none' },
    });
    const m = Machine.create(config, { consoleOutput: (c) => { out += c.toString('latin1'); } });
    m.start();
    // With no init on the disk the kernel panics after mounting it, which ends the machine.
    const timer = setTimeout(() => void m.stop('test timed out'), 300_000);
    const exit = await m.wait();
    clearTimeout(timer);
    const [blk, rng, hvc] = m.deviceCounters();
    // Said first when the boot never got far (an early triple fault in the test host ends it within seconds).
    const how = `machine ended: ${exit.reason} (${exit.detail}); console tail: ${out.slice(-800)}`;
    assert.match(fs.readFileSync(hvcLog, 'latin1'), /EXT4-fs \(vda\): mounted filesystem/, how);
    assert.ok(hvc!.outputBytes! > 0 && hvc!.failures === 0, JSON.stringify(hvc));
    assert.match(out, /virtio_blk virtio0: \[vda\] 131072 512-byte logical blocks/);
    assert.match(out, /EXT4-fs \(vda\): mounted filesystem/);
    assert.match(out, /VFS: Mounted root \(ext4 filesystem\) on device/);
    assert.ok(blk!.readBytes! > 0 && blk!.writtenBytes! > 0, JSON.stringify(blk));
    assert.equal(blk!.errors, 0);
    assert.ok(rng!.requests! > 0 && rng!.bytes! > 0, JSON.stringify(rng));
    for (const c of [blk!, rng!]) assert.equal(c.failures, 0);
    // Every interrupt's InterruptStatus read and InterruptACK write is answered in the native run loop: the MMIO
    // exits that reach TypeScript are the drivers' probing, however many requests the boot makes.
    // (Interrupts raised while one is pending coalesce, so there are fewer handler runs than raises.)
    const vcpu = m.vcpus[0]!.counters();
    assert.ok(vcpu.fastMmio >= 20, JSON.stringify(vcpu));
    assert.ok(vcpu.mmio < 300, JSON.stringify(vcpu));
    assert.ok(['panic', 'stopped'].includes(exit.reason), exit.detail);
    const fsck = execFileSync('e2fsck', ['-n', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(fsck, /clean/);
  });

  it('root=/dev/sda: mounts an ext4 root read-write from a virtio-scsi disk, and leaves the image clean', async () => {
    const scsiImage = path.join(dir, 'scsi-root.ext4');
    execFileSync('mkfs.ext4', ['-q', '-F', scsiImage, '64M']);
    let out = '';
    const config = validateConfig({
      kernel: guest.vmlinux, memory: '128M', cmdline: 'console=ttyS0 reboot=k panic=-1 root=/dev/sda rw',
      devices: [{ type: 'scsi', disks: [{ path: scsiImage, serial: 'root-sda' }] }], serial: { mode: 'none' },
    });
    const m = Machine.create(config, { consoleOutput: (c) => { out += c.toString('latin1'); } });
    m.start();
    const timer = setTimeout(() => void m.stop('test timed out'), 300_000);
    const exit = await m.wait();
    clearTimeout(timer);
    const how = `machine ended: ${exit.reason} (${exit.detail}); console tail: ${out.slice(-800)}`;
    assert.match(out, /scsi host0: Virtio SCSI HBA/, how);
    assert.match(out, /sd 0:0:\d+:0: \[sda\] 131072 512-byte logical blocks/, how);
    assert.match(out, /EXT4-fs \(sda\): mounted filesystem/, how);
    assert.match(out, /VFS: Mounted root \(ext4 filesystem\) on device/, how);
    const [scsi] = m.deviceCounters();
    assert.ok(scsi!.reads! > 0 && scsi!.writes! > 0, `read and written (rw): ${JSON.stringify(scsi)}`);
    assert.equal(scsi!.errors, 0, JSON.stringify(scsi));
    assert.ok(['panic', 'stopped'].includes(exit.reason), exit.detail);
    const fsck = execFileSync('e2fsck', ['-n', scsiImage], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(fsck, /clean/);
  });
});
