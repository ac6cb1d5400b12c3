// Linux user space on tsvmm, end to end: the project's kernel with busybox init and a check script (test/userspace),
// every device asserted from inside the guest and then from the host, the shells on the serial console and on
// hvc0, and the ways a guest ends (reboot through init, Ctrl-Alt-Del through the i8042 keyboard, a panic).
// Needs real hardware virtualization (on kvm_pvm guest user space cannot make system calls), root and taps.
// Each machine's serial transcript is kept in .test-results/ as an artifact.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { ApiClientError, VmClient } from '../../src/api/client';
import type { GuestArtifacts } from '../../src/guest/build';
import { hostQuirks } from '../../src/vmm/host-quirks';
import { countersReport } from '../helpers/counters-report';
import { makeTapNamespace, type TapNamespace } from '../helpers/netns';
import { HostEnd } from '../helpers/vsock-host';
import { OutputWatch } from '../helpers/wait';
import { bootToStart, field, killAll, prepareUserspace, STEP_MS, userspaceSkip } from '../userspace/guest-run';
import {
  checkShare, makeDisk, makeShare, readDisk, SECRET, sha256, startTcpPeer, vsockAnswerer,
} from '../userspace/host-side';

const skip = userspaceSkip();
const NS = `tsvmm-ut-${process.pid}`;
const TAP = 'tsvmmut0';
const HOST_IP = '10.254.78.1';
const GUEST_IP = '10.254.78.2';
const NET_BYTES = 64 * 1024 * 1024;
describe('Linux user space on tsvmm', { skip, timeout: 60 * 60_000 }, () => {
  let guest: GuestArtifacts;
  let initrd: string;
  let dir: string;
  let ns: TapNamespace | undefined;
  const base = (mode: string, extra: object = {}): Record<string, unknown> => ({
    kernel: guest.vmlinux, initrd, memory: '512M', vcpus: 2, quirks: 'auto', log: { level: 'warn' },
    cmdline: `console=ttyS0 reboot=k panic=-1 i8042.dumbkbd ut.mode=${mode} ut.ip=${GUEST_IP} ut.peer=${HOST_IP}`,
    ...extra,
  });
  const hvc = (name: string): object => ({ type: 'console', backend: 'socket', path: path.join(dir, `${name}-hvc.sock`) });

  before(async () => { ({ guest, initrd, dir } = await prepareUserspace('tsvmm-ut-')); }, { timeout: 40 * 60_000 });
  afterEach(() => { killAll(); });
  after(() => {
    ns?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('quirks: auto is off on this host (hardware virtualization needs no workaround)', () => {
    const q = hostQuirks('auto');
    assert.equal(q.reason, '', `quirks would be on: ${q.reason}`);
    assert.deepEqual(q.cmdline, []);
    assert.equal(q.intelVendor, false);
  });

  it('every device from guest user space, shells on ttyS0 and hvc0, then reboot through init ends with 0', async () => {
    ns = makeTapNamespace({ name: NS, tap: TAP, hostIp: HOST_IP, noIpv6: true });
    const peer = await startTcpPeer(NS, HOST_IP, NET_BYTES);
    const work = fs.mkdtempSync(path.join(dir, 'full-'));
    const disk = path.join(work, 'disk.img');
    makeDisk(disk);
    const shareDir = fs.mkdtempSync(path.join(dir, 'fs-'));
    const share = makeShare(shareDir);
    const vsockSock = path.join(work, 'v.sock');
    const apiSock = path.join(work, 'api.sock');
    const answerer = vsockAnswerer(vsockSock, 5000);
    try {
      const g = await bootToStart('full', base('full', {
        apiSocket: apiSock,
        devices: [
          { type: 'rng' }, { type: 'blk', path: disk, serial: 'ut-disk' }, { type: 'net', tap: TAP },
          { type: 'vsock', cid: 42, socket: vsockSock }, { type: 'fs', tag: 'share', path: share },
          { type: 'balloon' }, hvc('full'),
        ],
      }), work, [vsockSock, apiSock, path.join(dir, 'full-hvc.sock')], NS);
      const client = new VmClient(apiSock);
      // A wait that gives up also says what the machine was doing: vCPU states and exits, console drops.
      const waitFor = async (text: string): Promise<void> => {
        try {
          await g.out.waitFor(text, STEP_MS);
        } catch (e) {
          const counters = await countersReport(apiSock);
          throw new Error(`${(e as Error).message}\nmachine counters then: ${counters}`, { cause: e });
        }
      };
      const step = (what: string): Promise<void> => waitFor(`UT-WAIT ${what}`);

      await waitFor('UT-START');
      await step('vsock-h2g');
      const payload = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 131 + 7) & 0xff));
      const h = HostEnd.connectTo(vsockSock, 6000);
      assert.notEqual(await h.handshake, null, 'the guest accepted on vsock port 6000');
      h.sock.end(payload);
      await h.finished;
      const echoed = h.bytes.subarray(h.bytes.indexOf(0x0a) + 1);
      g.send('');
      await step('balloon-inflate');
      await client.setBalloonTarget(128);
      g.send('');
      await step('balloon-deflate');
      await client.setBalloonTarget(0);
      g.send('');
      await waitFor('UT-READY');
      const counters = await client.counters();

      // The shells, typed at: the serial console's (init's respawn on /dev/console) and hvc0's.
      g.send('echo SERIAL-$((6*7))');
      await g.out.waitFor('SERIAL-42', STEP_MS);
      const hvcOut = new OutputWatch();
      const hvcSock = net.createConnection(path.join(dir, 'full-hvc.sock'));
      hvcSock.on('data', (d: Buffer) => hvcOut.append(d.toString('latin1')));
      hvcSock.write('echo HVC-$((6*7))\n');
      await hvcOut.waitFor('HVC-42', STEP_MS);
      hvcSock.destroy();
      g.send('reboot');
      const end = await g.exited;
      const text = g.out.text();
      assert.equal(end.code, 0, `reboot through init ends tsvmm with 0:\n${g.stderr()}`);
      assert.match(text, /UT-SHUTDOWN/, 'init ran its shutdown action');
      assert.deepEqual(text.match(/^UT-FAIL.*$/gm) ?? [], [], 'no check failed in the guest');
      assert.match(text, /^UT-DEVICES virtio=7 acpi=0/m, 'seven virtio devices, from the cmdline (ACPI off)');

      // rng
      assert.match(text, /^UT-OK rng bytes=65536 current=virtio_rng/m);
      const devs = counters.devices.map((dv) => dv.counters);
      assert.ok(devs[0]!.bytes! >= 65536, `rng counters: ${JSON.stringify(devs[0])}`);
      // blk: the image is clean and holds what the guest wrote, byte for byte.
      const d = readDisk(disk, work);
      assert.equal(d.fsck, 0, `e2fsck -fn:\n${d.fsckOutput}`);
      assert.equal(sha256(d.files['/random.bin']!), field(text, 'blk', 'random'));
      assert.equal(d.files['/hello.txt']!.toString(), 'tsvmm user space wrote this\n');
      const seq = Array.from({ length: 5000 }, (_, i) => `${i + 1}\n`).join('');
      assert.equal(d.files['/dir/seq.txt']!.toString(), seq);
      assert.equal(sha256(Buffer.from(seq)), field(text, 'blk', 'seq'));
      // net: 64 MiB each way with matching checksums, over TSO/GSO frames (larger than any MTU-sized frame).
      const { sink, source } = peer.sums();
      assert.equal(sink.bytes, NET_BYTES);
      assert.equal(field(text, 'net-tx', 'guest'), sink.sha256, 'guest -> host');
      assert.equal(field(text, 'net-tx', 'host'), sink.sha256);
      assert.equal(field(text, 'net-rx', 'guest'), source.sha256, 'host -> guest');
      assert.equal(field(text, 'net-rx', 'bytes'), String(NET_BYTES));
      const nc = devs[2]!;
      process.stderr.write(`# net counters: ${JSON.stringify(nc)}\n`);
      assert.ok(nc.txBytes! / nc.txFrames! > 1514, `tx used TSO (mean frame ${nc.txBytes! / nc.txFrames!} bytes)`);
      assert.ok(nc.rxBytes! / nc.rxFrames! > 1514, `rx got GSO frames (mean frame ${nc.rxBytes! / nc.rxFrames!} bytes)`);
      // vsock both ways
      assert.equal(await answerer.got, 'hello from guest user space\n');
      assert.match(text, /^UT-OK vsock-g2h reply=host got 28 bytes: hello from guest user space/m);
      assert.equal(echoed.length, payload.length, 'the guest echoed 1 MiB back');
      assert.ok(echoed.equals(payload), 'byte for byte');
      // fs
      assert.match(text, /^UT-OK fs ops done, no escape/m);
      assert.equal(text.includes(SECRET), false, 'the secret never reached the guest');
      checkShare(shareDir);
      // balloon: MemTotal fell by the target and came back.
      assert.match(text, /^UT-OK balloon-inflate/m);
      assert.match(text, /^UT-OK balloon-deflate/m);
    } finally {
      peer.kill();
      answerer.server.close();
    }
  });

  it('Ctrl-Alt-Del from a graceful stop reaches init through the i8042 keyboard, which reboots: status 0', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'cad-'));
    const apiSock = path.join(work, 'api.sock');
    const g = await bootToStart('cad', base('quick', { apiSocket: apiSock, devices: [hvc('cad')] }), work,
      [apiSock, path.join(dir, 'cad-hvc.sock')]);
    await g.out.waitFor('UT-READY', STEP_MS);
    const result = await new VmClient(apiSock).stop({ timeoutMs: STEP_MS });
    const end = await g.exited;
    assert.match(g.out.text(), /UT-SHUTDOWN/, 'init heard Ctrl-Alt-Del and shut down');
    assert.equal(result.status, 0, JSON.stringify(result));
    assert.equal(end.code, 0, g.stderr());
  });

  it('virtio-input: a keyboard and a tablet are input devices by name, and a key from the host reaches evdev', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'input-'));
    const apiSock = path.join(work, 'api.sock');
    const devices = [{ type: 'input', kind: 'keyboard' }, { type: 'input', kind: 'tablet' }, hvc('input')];
    const g = await bootToStart('input', base('input', { apiSocket: apiSock, devices }), work,
      [apiSock, path.join(dir, 'input-hvc.sock')]);
    await g.out.waitFor('UT-WAIT input', STEP_MS);
    const text = (): string => g.out.text();
    assert.match(text(), /^UT-INPUT-NAME tsvmm virtio keyboard/m);
    assert.match(text(), /^UT-INPUT-NAME tsvmm virtio tablet/m);
    const KEY_A = 30;
    const client = new VmClient(apiSock);
    assert.equal(await client.sendInput(0, [{ type: 1, code: KEY_A, value: 1 }, { type: 0, code: 0, value: 0 },
      { type: 1, code: KEY_A, value: 0 }, { type: 0, code: 0, value: 0 }]), 4);
    const notInput = await client.sendInput(2, [{ type: 1, code: KEY_A, value: 1 }]).catch((e: unknown) => e);
    assert.ok(notInput instanceof ApiClientError && notInput.status === 409, 'the console is not an input device');
    g.send('');
    await g.out.waitFor(/^UT-OK input event=[^\n]*\n/m, STEP_MS); // the whole line, not its start
    // The event's last 8 bytes: EV_KEY (01 00), KEY_A (1e 00), pressed (01 00 00 00).
    assert.match(text(), /^UT-OK input event=.* 01 00 1e 00 01 00 00 00\s*$/m);
    const counters = await client.counters();
    assert.equal(counters.devices[0]?.counters.events, 4, 'all four events reached the guest');
    g.send('reboot -f');
    assert.equal((await g.exited).code, 0, g.stderr());
  });

  it('a graceful stop with ACPI on presses the power button (GED): acpid powers off through init, status 0', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'pwrbtn-'));
    const apiSock = path.join(work, 'api.sock');
    const g = await bootToStart('pwrbtn', base('quick', { acpi: 'on', apiSocket: apiSock, devices: [hvc('pwrbtn')] }),
      work, [apiSock, path.join(dir, 'pwrbtn-hvc.sock')]);
    await g.out.waitFor('UT-READY', STEP_MS);
    assert.match(g.out.text(), /UT-ACPID started/, 'the guest has a Power Button input device and acpid reads it');
    const result = await new VmClient(apiSock).stop({ timeoutMs: STEP_MS });
    const end = await g.exited;
    const text = g.out.text();
    assert.match(text, /UT-POWER-BUTTON/, 'acpid heard KEY_POWER');
    assert.match(text, /UT-SHUTDOWN/, 'init ran its shutdown action');
    assert.match(text, /reboot: Power down/, 'Linux powered down through the S5 write');
    assert.equal(result.reason, 'poweroff', JSON.stringify(result));
    assert.equal(end.code, 0, g.stderr());
  });

  for (const [how, line] of [['poweroff -f', 'poweroff -f'], ['poweroff through init', 'poweroff']] as const) {
    it(`${how} with ACPI on: the S5 write ends tsvmm with 0, devices found from the DSDT`, async () => {
      const work = fs.mkdtempSync(path.join(dir, 'off-'));
      const name = line.replace(/\W+/g, '');
      const g = await bootToStart(name, base('quick', { acpi: 'on', devices: [{ type: 'rng' }, hvc(name)] }), work,
        [path.join(dir, `${name}-hvc.sock`)]);
      await g.out.waitFor('UT-READY', STEP_MS);
      g.send(line);
      const end = await g.exited;
      const text = g.out.text();
      assert.equal(end.code, 0, `${line}: ${g.stderr()}`);
      assert.match(text, /reboot: Power down/, 'Linux powered down (not halted)');
      assert.doesNotMatch(text, /virtio_mmio\.device=/, 'no devices on the cmdline with ACPI on');
      assert.match(text, /^UT-DEVICES virtio=2 acpi=2/m, 'both virtio devices came from the DSDT');
      if (line === 'poweroff') assert.match(text, /UT-SHUTDOWN/, 'init ran its shutdown action first');
    });
  }

  it('reboot -f with ACPI on and reboot=acpi: Linux writes the FADT reset register, which ends tsvmm with 0', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'acpireset-'));
    const config = base('quick', { acpi: 'on', log: { level: 'info' }, devices: [hvc('acpireset')] });
    config.cmdline = String(config.cmdline).replace('reboot=k', 'reboot=acpi');
    const g = await bootToStart('acpireset', config, work, [path.join(dir, 'acpireset-hvc.sock')]);
    await g.out.waitFor('UT-READY', STEP_MS);
    g.send('reboot -f');
    const end = await g.exited;
    assert.match(g.out.text(), /reboot: Restarting system/, 'Linux restarted');
    assert.equal(end.code, 0, g.stderr());
    assert.match(g.stderr(), /reset \(the guest wrote the ACPI reset register\)/, 'the reset came through the FADT register, not the i8042');
  });

  it('poweroff -f without ACPI: Linux halts instead, and the machine ends with reason halted, status 6', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'halt-'));
    const g = await bootToStart('halt', base('quick', { devices: [hvc('halt')] }), work, [path.join(dir, 'halt-hvc.sock')]);
    await g.out.waitFor('UT-READY', STEP_MS);
    g.send('poweroff -f');
    const end = await g.exited;
    assert.match(g.out.text(), /reboot: System halted/, 'with no way to power off, Linux halted');
    assert.equal(end.code, 6, g.stderr());
    assert.match(g.stderr(), /halted with interrupts off/);
  });

  it('a panic from user space (echo c > /proc/sysrq-trigger) ends tsvmm with the panic status 3', async () => {
    const work = fs.mkdtempSync(path.join(dir, 'panic-'));
    const g = await bootToStart('panic', base('panic', { devices: [hvc('panic')] }), work, [path.join(dir, 'panic-hvc.sock')]);
    // Not UT-PANIC itself: the panic's own printk can overtake the tail of that line still in the tty's buffer.
    await g.out.waitFor('sysrq: Trigger a crash', STEP_MS);
    const end = await g.exited;
    assert.match(g.out.text(), /Kernel panic - not syncing/);
    assert.equal(end.code, 3, g.stderr());
  });
});
