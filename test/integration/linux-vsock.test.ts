// The real Linux virtio_vsock driver against our device, as far as the kernel alone can show it (guest user space
// cannot make system calls on every host this runs on, so nothing in the guest listens or connects). Booted with
// an init that never makes a system call, the kernel probes the device and kicks its queues; a host program then
// asks for guest port 1234 through the unix socket. Nobody listens there, so the guest kernel answers our REQUEST
// with an RST from cid 42: that proves it read guest_cid from config space, took our packet from an rx buffer it
// posted, and sent its answer on the tx queue. The host program sees its connection closed without an OK.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildGuest, type GuestArtifacts } from '../../src/guest/build';
import { validateConfig } from '../../src/vmm/config';
import { Machine } from '../../src/vmm/machine';
import { kvmUnavailable } from '../helpers/kvm';
import { HostEnd } from '../helpers/vsock-host';

const skip = kvmUnavailable();
const BOOT_TIMEOUT_MS = 300_000;

describe('Linux virtio-vsock on /dev/kvm', { skip, timeout: 2 * BOOT_TIMEOUT_MS }, () => {
  let guest: GuestArtifacts;
  let dir: string;
  before(async () => {
    guest = await buildGuest({ log: (line) => process.stderr.write(`${line}\n`) });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-linux-vsock-'));
  }, { timeout: 40 * 60_000 });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('probes the device, reads guest_cid and answers a host CONNECT to a closed port with RST', async () => {
    const socket = path.join(dir, 'v.sock');
    let out = '';
    let booted: () => void;
    const atInit = new Promise<void>((r) => { booted = r; });
    const config = validateConfig({
      kernel: guest.vmlinux, initrd: guest.initPause, memory: '128M', serial: { mode: 'none' },
      devices: [{ type: 'vsock', cid: 42, socket }],
    });
    const m = Machine.create(config, {
      consoleOutput: (c) => { out += c.toString('latin1'); if (out.includes('Run /init')) booted(); },
    });
    m.start();
    const timer = setTimeout(() => void m.stop('test timed out'), BOOT_TIMEOUT_MS);
    try {
      const first = await Promise.race([atInit.then(() => 'init'), m.wait().then((e) => `${e.reason}: ${e.detail}`)]);
      assert.equal(first, 'init', `the machine ended before Run /init:\n${out.slice(-2000)}`);
      const ready = m.deviceCounters()[0]!;
      assert.ok(ready.notifies! > 0, `the driver kicked its queues: ${JSON.stringify(ready)}`);
      assert.equal(ready.failures, 0);

      const host = HostEnd.connectTo(socket, 1234);
      assert.equal(await host.handshake, null);
      await host.gone;
      const c = m.deviceCounters()[0]!;
      process.stderr.write(`# vsock counters after the CONNECT: ${JSON.stringify(c)}\n`);
      assert.equal(host.text, '', 'no OK: nothing listens on guest port 1234');
      assert.equal(c.resetsReceived, 1, `the guest answered with RST: ${JSON.stringify(c)}`);
      assert.equal(c.connectTimeouts, 0);
      assert.equal(c.errors, 0, 'its packets came from cid 42 to cid 2, well formed');
      assert.ok(c.rxPackets! >= 1 && c.txPackets! >= 1);
    } finally {
      clearTimeout(timer);
      await m.stop();
    }
    assert.equal(fs.existsSync(socket), false, 'the listening socket is removed when the machine ends');
  });
});
