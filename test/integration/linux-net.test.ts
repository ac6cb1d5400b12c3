// The real Linux virtio-net driver against our device on a tap, all inside a network namespace this test makes
// (nothing leaves the machine). The tap is created in the namespace with iproute2 and the VMM runs there too
// (`ip netns exec`), since a process opens taps in its own namespace. The guest kernel brings eth0 up with `ip=`,
// sends its log to the host as UDP with `netconsole=`, and answers a datagram to a closed port with ICMP port
// unreachable, which takes ARP in both directions first: frames both ways through readv / writev on the tap.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildGuest, type GuestArtifacts } from '../../src/guest/build';
import type { NetGuestResult, NetGuestSpec } from '../helpers/net-guest';
import { kvmUnavailable } from '../helpers/kvm';
import { ip, makeTapNamespace, netUnavailable, type TapNamespace } from '../helpers/netns';

const NS = `tsvmm-net-${process.pid}`;
const TAP = 'tsvmmtap0';
const HOST_IP = '10.254.77.1';
const GUEST_IP = '10.254.77.2';
const GUEST_MAC = '52:54:00:4e:45:54';

const skip = kvmUnavailable() ?? netUnavailable();

describe('Linux virtio-net on a tap in a network namespace', { skip, timeout: 600_000 }, () => {
  let guest: GuestArtifacts;
  let dir: string;
  let ns: TapNamespace | undefined;
  before(async () => {
    guest = await buildGuest({ log: (line) => process.stderr.write(`${line}\n`) });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-linux-net-'));
    ns = makeTapNamespace({ name: NS, tap: TAP, hostIp: HOST_IP });
  }, { timeout: 40 * 60_000 });
  after(() => {
    ns?.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('opening a tap without CAP_NET_ADMIN is a one-line TapError (the machine names the field)', () => {
    const backend = path.join(__dirname, '..', '..', 'src', 'devices', 'net', 'backend.js');
    const script = `try { require(${JSON.stringify(backend)}).openTap(undefined) }`
      + ' catch (e) { process.stdout.write(`${e.name} ${e.code}: ${e.message}`) }';
    const out = execFileSync('ip', ['netns', 'exec', NS, 'setpriv', '--bounding-set=-net_admin',
      process.execPath, '-e', script], { encoding: 'utf8' });
    assert.equal(out, 'TapError EPERM: creating a tap: not permitted (EPERM); it needs root or CAP_NET_ADMIN');
    assert.doesNotMatch(ip('-n', NS, 'link', 'show'), /tsvmm\d/, 'no tap was left behind');
  });

  it('eth0 comes up by ip=, the kernel log arrives by netconsole, and the guest answers the host', () => {
    const spec: NetGuestSpec = {
      kernel: guest.vmlinux, initrd: guest.initPause, tap: TAP, mac: GUEST_MAC, hostIp: HOST_IP, guestIp: GUEST_IP,
      netconsolePort: 6666, result: path.join(dir, 'result.json'), serialLog: path.join(dir, 'serial.log'),
      timeoutMs: 300_000,
    };
    const helper = path.join(__dirname, '..', 'helpers', 'net-guest.js');
    execFileSync('ip', ['netns', 'exec', NS, process.execPath, helper, JSON.stringify(spec)],
      { stdio: ['ignore', 'inherit', 'inherit'], timeout: 420_000 });
    const r = JSON.parse(fs.readFileSync(spec.result, 'utf8')) as NetGuestResult;
    const serial = fs.readFileSync(spec.serialLog, 'latin1');
    const stats = JSON.parse(ip('-n', NS, '-j', '-s', 'link', 'show', TAP)) as
      { stats64: { rx: { packets: number }; tx: { packets: number } } }[];
    const c = r.counters;
    process.stderr.write(`linux-net: ${JSON.stringify({ ...r, netconsole: r.netconsole.length })}\n`
      + `linux-net: the tap counted rx ${stats[0]!.stats64.rx.packets} tx ${stats[0]!.stats64.tx.packets}\n`);

    // The configured MAC reached the guest through config space.
    assert.match(serial, new RegExp(`IP-Config: Complete:[^\\n]*\\n[^\\n]*device=eth0, hwaddr=${GUEST_MAC}, ipaddr=${GUEST_IP},`));
    const log = r.netconsole.join('');
    assert.match(log, /Run \/init as init process/, 'the kernel log reached the host by netconsole');
    assert.ok(r.refused, `the guest answered none of ${r.probes} datagrams with ICMP port unreachable`);
    assert.match(r.neighbour, new RegExp(`lladdr ${GUEST_MAC}`), 'the host learned the guest\'s MAC by ARP');
    assert.ok(c.txFrames! >= r.netconsole.length + 2, JSON.stringify(c));
    assert.ok(c.rxFrames! >= 2, JSON.stringify(c));
    // Every frame the device wrote reached the tap, and the device read every frame the host sent it.
    assert.equal(stats[0]!.stats64.rx.packets, c.txFrames);
    assert.equal(stats[0]!.stats64.tx.packets, c.rxFrames! + c.rxDropped!);
    for (const k of ['errors', 'failures', 'txDropped', 'backendErrors'] as const) assert.equal(c[k], 0, `${k}: ${JSON.stringify(c)}`);
  });
});
