// virtio-net under the tiny test kernel's own driver, against the host's IP stack on a tap in a private network
// namespace (nothing leaves the machine): ARP both ways, ICMP echo with checksums computed in the guest and every
// reply checked byte for byte, with and without MRG_RXBUF, frames spanning several receive buffers; the guest,
// the device and the tap must count the same frames. The benchmark mode runs briefly by count in both directions
// (no figure is judged: performance is measured by `npm run bench`). The same binary then drives QEMU's
// virtio-net-device on the same kind of tap.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dataWith, numberField } from '../../src/guest/test-kernel-output';
import { kvmUnavailable } from '../helpers/kvm';
import { makeTapNamespace, netUnavailable, type TapNamespace } from '../helpers/netns';
import { runTinyNet, type TinyNetRun, type TinyNetSpec } from '../helpers/tiny-net';
import { qemuUnavailable } from '../helpers/tiny';

const skip = kvmUnavailable() ?? netUnavailable();
const TAP = 'tinytap0';
const HOST_IP = '10.254.78.1';
const GUEST_IP = '10.254.78.2';
const MAC = '52:54:00:74:6e:01';
const ADDRESSES = `net_ip=${GUEST_IP} net_host=${HOST_IP} net_mac=${MAC}`;
const MRG_RXBUF = 1n << 15n;

function run(ns: TapNamespace, monitor: TinyNetSpec['monitor'], cmdline: string,
  sender?: TinyNetSpec['sender']): TinyNetRun {
  const r = runTinyNet(ns, { monitor, cmdline, tap: ns.tap, mac: MAC, timeoutMs: 90_000, ...(sender ? { sender } : {}) });
  const lines = r.text.split('\n').filter((l) => l.startsWith('TSVMM-'));
  process.stderr.write(`tiny-net ${monitor}: ${lines.join('\n  ')}\n  tap ${JSON.stringify(r.tap)}\n`);
  return r;
}

/** The guest's totals (a data line with tx_frames, rx_frames and their bytes), the device's and the tap's agree. */
function assertCountsAgree(r: TinyNetRun): void {
  const [g] = dataWith(r, 'tx_frames', 'tx_bytes', 'rx_frames', 'rx_bytes');
  assert.ok(g, r.text);
  const guest = { tx: numberField(g, 'tx_frames'), txBytes: numberField(g, 'tx_bytes'), rx: numberField(g, 'rx_frames'),
    rxBytes: numberField(g, 'rx_bytes') };
  // The tap's rx is what the guest sent; its tx what the monitor read from it for the guest.
  assert.deepEqual({ tx: r.tap.rxPackets, txBytes: r.tap.rxBytes }, { tx: guest.tx, txBytes: guest.txBytes });
  const d = r.device;
  if (d === undefined) {
    assert.deepEqual({ rx: r.tap.txPackets, rxBytes: r.tap.txBytes }, { rx: guest.rx, rxBytes: guest.rxBytes });
    return;
  }
  assert.deepEqual({ tx: d.txFrames, txBytes: d.txBytes, rx: d.rxFrames, rxBytes: d.rxBytes }, guest, JSON.stringify(d));
  assert.equal(r.tap.txPackets, d.rxFrames! + d.rxDropped!);
  for (const k of ['errors', 'failures', 'txDropped', 'backendErrors', 'badAccesses']) assert.equal(d[k], 0, `${k}: ${JSON.stringify(d)}`);
}

/** test=net passed: every ping answered and matched, the reset left the rings alone. */
function assertPinged(r: TinyNetRun, pings: number): Record<string, string> {
  assert.deepEqual(r.verdict, { test: 'net', passed: true }, r.text);
  const [stats] = dataWith(r, 'pings', 'rx_multi', 'late');
  assert.equal(numberField(stats!, 'pings'), pings);
  assert.equal(numberField(stats!, 'late'), 0);
  // Every ping, its reply, and the ARP exchange for the host's MAC at least.
  assert.ok(numberField(stats!, 'tx_frames') >= pings + 1 && numberField(stats!, 'rx_frames') >= pings + 1, JSON.stringify(stats));
  assertCountsAgree(r);
  return stats!;
}

function features(r: TinyNetRun): bigint {
  const [device] = dataWith(r, 'mac', 'features');
  assert.equal(device!.mac, MAC, 'the MAC the guest read from config space');
  return BigInt(device!.features!);
}

describe('tiny test kernel: virtio-net on a tap, tsvmm', { skip, timeout: 600_000 }, () => {
  let ns: TapNamespace | undefined;
  before(() => { ns = makeTapNamespace({ name: `tsvmm-tiny-net-${process.pid}`, tap: TAP, hostIp: HOST_IP, noIpv6: true }); });
  after(() => ns?.remove());

  it('test=net with MRG_RXBUF and 256-byte receive buffers: replies span several buffers', () => {
    const r = run(ns!, 'tsvmm', `test=net ${ADDRESSES} net_count=40 net_rxbuf=256`);
    const stats = assertPinged(r, 40);
    assert.equal(features(r) & MRG_RXBUF, MRG_RXBUF);
    // A 1514-byte reply and its header need six 256-byte buffers.
    assert.ok(numberField(stats, 'rx_multi') >= 4, JSON.stringify(stats));
    assert.equal(numberField(stats, 'rx_max_buffers'), 6);
  });

  it('test=net without MRG_RXBUF: each reply in one buffer', () => {
    const r = run(ns!, 'tsvmm', `test=net ${ADDRESSES} net_count=20 net_mrg=0`);
    const stats = assertPinged(r, 20);
    assert.equal(features(r) & MRG_RXBUF, 0n);
    assert.equal(numberField(stats, 'rx_multi'), 0);
    assert.equal(numberField(stats, 'rx_max_buffers'), 1);
  });

  it('test=net fails when the device reports another MAC than the cmdline expects', () => {
    const r = run(ns!, 'tsvmm', `test=net net_ip=${GUEST_IP} net_host=${HOST_IP} net_mac=52:54:00:00:00:01`);
    assert.deepEqual(r.verdict, { test: 'net', passed: false,
      reason: `net: the device's MAC is ${MAC}, expected 52:54:00:00:00:01` });
  });

  it('netbench tx by count, two frame sizes: every frame reaches the tap', () => {
    const r = run(ns!, 'tsvmm', `test=netbench ${ADDRESSES} bench_ops=tx bench_count=3000 bench_size=18,1472`);
    assert.deepEqual(r.verdict, { test: 'netbench', passed: true }, r.text);
    const ops = dataWith(r, 'op', 'frame', 'frames', 'us', 'fps', 'gbps');
    assert.deepEqual(ops.map((o) => `${o.op}/${o.frame}/${o.payload}/${o.frames}`), ['tx/60/18/3000', 'tx/1514/1472/3000']);
    for (const o of ops) assert.match(o.gbps!, /^\d+\.\d{3}$/);
    assert.ok(r.tap.rxPackets >= 6000);
    assertCountsAgree(r);
  });

  it('netbench rx by count from a UDP sender on the host; a reset under that traffic leaves the rings alone', () => {
    ns!.staticNeighbour(GUEST_IP, MAC);
    const r = run(ns!, 'tsvmm', `test=netbench ${ADDRESSES} bench_ops=rx bench_count=3000`,
      { ip: GUEST_IP, size: 1472 });
    assert.deepEqual(r.verdict, { test: 'netbench', passed: true }, r.text);
    const [rx] = dataWith(r, 'op', 'frames', 'lost');
    assert.deepEqual([rx!.op, rx!.frame, rx!.frames], ['rx', '1514', '3000']);
    assert.ok(r.sender!.sent >= 3000, JSON.stringify(r.sender));
    const [end] = dataWith(r, 'drained', 'late');
    assert.equal(end!.late, '0');
    assertCountsAgree(r);
  });
});

describe('tiny test kernel: the same test=net under QEMU microvm on a tap', { skip: skip ?? qemuUnavailable(), timeout: 300_000 }, () => {
  let ns: TapNamespace | undefined;
  before(() => { ns = makeTapNamespace({ name: `tsvmm-tiny-qemu-net-${process.pid}`, tap: TAP, hostIp: HOST_IP, noIpv6: true }); });
  after(() => ns?.remove());

  it('test=net with MRG_RXBUF and small buffers passes; the guest and the tap count the same frames', () => {
    const r = run(ns!, 'qemu', `test=net ${ADDRESSES} net_count=40 net_rxbuf=256`);
    assert.equal(r.exit, 'qemu exit status 1', r.text);
    const stats = assertPinged(r, 40);
    assert.ok(numberField(stats, 'rx_multi') >= 4, JSON.stringify(stats));
  });

  it('test=net without MRG_RXBUF passes', () => {
    const r = run(ns!, 'qemu', `test=net ${ADDRESSES} net_count=20 net_mrg=0`);
    assertPinged(r, 20);
    assert.equal(features(r) & MRG_RXBUF, 0n);
  });
});
