// The real Linux virtio-mmio and virtio-rng drivers against our transport and device: the kernel finds the device
// from the cmdline tsvmm writes, negotiates, and its hwrng core pulls entropy through ioeventfd notifies and irqfd
// interrupts, which the device's counters show from the host side.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { buildGuest, type GuestArtifacts } from '../../src/guest/build';
import { validateConfig } from '../../src/vmm/config';
import { Machine } from '../../src/vmm/machine';
import { kvmUnavailable } from '../helpers/kvm';

const skip = kvmUnavailable();

describe('Linux virtio-rng on /dev/kvm', { skip, timeout: 600_000 }, () => {
  let guest: GuestArtifacts;
  before(async () => {
    guest = await buildGuest({ log: (line) => process.stderr.write(`${line}\n`) });
  }, { timeout: 40 * 60_000 });

  it('registers the device and serves the hwrng core', async () => {
    let out = '';
    const config = validateConfig({
      kernel: guest.vmlinux, initrd: guest.initramfs, memory: '128M',
      devices: [{ type: 'rng' }], serial: { mode: 'none' },
    });
    const m = Machine.create(config, { consoleOutput: (c) => { out += c.toString('latin1'); } });
    m.start();
    const deadline = Date.now() + 300_000;
    while (!out.includes('Run /init') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const counters = m.deviceCounters()[0]!;
    await m.stop();
    assert.match(out, /virtio-mmio: Registering device virtio-mmio\.0 at 0xd0000000-0xd0000fff, IRQ 5/);
    assert.match(out, /Run \/init/);
    assert.ok(counters.requests! > 0 && counters.bytes! > 0, JSON.stringify(counters));
    assert.equal(counters.failures, 0);
    assert.ok(counters.notifies! > 0 && counters.interrupts! > 0, JSON.stringify(counters));
  });
});
