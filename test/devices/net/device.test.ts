// virtio-net against a socketpair backend (SOCK_SEQPACKET keeps frame boundaries as a tap does), driven by the
// mock driver: frames cross the real event loop and the real readv / writev, no root needed.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { NetBackend } from '../../../src/devices/net/backend';
import { NetDevice } from '../../../src/devices/net/device';
import { NET_F } from '../../../src/devices/net/virtio-net';
import { native } from '../../../src/base/native';
import type { Virtqueue } from '../../../src/virtio-mmio/queue';
import { until } from '../../helpers/wait';
import { F_WRITE, MockDriver, mockContext, type Desc, type MockContext } from '../../virtio-mmio/mock-driver';

const bit = (b: number): bigint => 1n << BigInt(b);
const PLAIN = bit(NET_F.MAC) | bit(NET_F.STATUS);
const MRG = PLAIN | bit(NET_F.MRG_RXBUF);
const BUF = 0x10000;

interface Rig {
  dev: NetDevice;
  rx: MockDriver;
  tx: MockDriver;
  peer: number;
  ctx: MockContext;
  interrupts: number[];
  failures: string[];
  warnings: string[];
  guestFeatures: bigint[];
}
const rigs: Rig[] = [];

function rig(features: bigint, opts: { queueSize?: number } = {}): Rig {
  const n = native();
  const [fd, peer] = n.socketpairCreate(true);
  const guestFeatures: bigint[] = [];
  const backend: NetBackend = { fd, name: 'test', setGuestFeatures: (f) => { guestFeatures.push(f); }, close: () => n.close(fd) };
  const warnings: string[] = [];
  const dev = new NetDevice(backend, { mac: '52:54:00:12:34:56', warn: (m) => { warnings.push(m); } });
  const rx = new MockDriver(opts.queueSize ?? 16, 4 << 20);
  const tx = new MockDriver(opts.queueSize ?? 16, 0, { mem: rx.mem, base: 0x4000 });
  const ctx = mockContext(dev, { memory: rx.mem, queues: [rx.queue(), tx.queue()], features });
  const r = { dev, rx, tx, peer, ctx, interrupts: ctx.notified, failures: ctx.failures, warnings, guestFeatures };
  rigs.push(r);
  return r;
}

afterEach(() => {
  for (const r of rigs.splice(0)) {
    r.dev.close();
    native().close(r.peer);
  }
});

const turns = async (n: number): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };

/** A frame as the host sends it: 12-byte header (flags, gso_type, zeros) then `len` bytes of `fill`. */
function hostFrame(len: number, fill: number, flags = 0, gso = 0): Buffer {
  const f = Buffer.alloc(12 + len, fill);
  f.fill(0, 0, 12);
  f[0] = flags;
  f[1] = gso;
  return f;
}
const send = (r: Rig, frame: Buffer): void => { assert.equal(native().tryWritev(r.peer, [frame]), frame.length); };
/** Posts `count` receive chains of one writable buffer each, `size` bytes, 4 KiB apart from BUF. */
function postRx(r: Rig, count: number, size: number, from = 0): void {
  for (let i = 0; i < count; i++) r.rx.addChain([{ addr: BUF + 0x1000 * (from + i), len: size, flags: F_WRITE }]);
  r.dev.onQueueNotify(0);
}

test('config space has the MAC and link up; the offer has offloads and MRG_RXBUF; a random MAC is local unicast', () => {
  const r = rig(PLAIN);
  assert.deepEqual(Array.from(r.dev.configSpace()), [0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0]);
  for (const f of [NET_F.CSUM, NET_F.GUEST_CSUM, NET_F.HOST_TSO4, NET_F.GUEST_TSO6, NET_F.MRG_RXBUF, NET_F.STATUS]) {
    assert.ok(r.dev.features & bit(f), `feature ${f}`);
  }
  assert.equal(r.dev.deviceType, 1);
  assert.equal(r.dev.queueMaxSizes.length, 2);
  const [a, b] = native().socketpairCreate(true);
  const d = new NetDevice({ fd: a, name: 'x', setGuestFeatures: () => {}, close: () => native().close(a) });
  assert.equal(d.mac[0]! & 3, 2);
  d.close();
  native().close(b);
});

test('transmit: a chain is one frame, header first, written with one writev; the used entry and interrupt follow', () => {
  const r = rig(PLAIN);
  r.dev.activate(r.ctx);
  assert.deepEqual(r.guestFeatures, [PLAIN]);
  r.rx.mem.write(BUF, Buffer.alloc(12, 0));
  r.rx.mem.write(BUF + 0x100, Buffer.from('hello, '));
  r.rx.mem.write(BUF + 0x200, Buffer.from('tap'));
  r.tx.addChain([{ addr: BUF, len: 12, flags: 0 }, { addr: BUF + 0x100, len: 7, flags: 0 }, { addr: BUF + 0x200, len: 3, flags: 0 }]);
  r.dev.onQueueNotify(1);
  const got = new Uint8Array(100);
  assert.equal(native().tryReadv(r.peer, [got]), 22);
  assert.equal(Buffer.from(got.subarray(12, 22)).toString(), 'hello, tap');
  assert.deepEqual(r.tx.used(0), { id: 0, len: 0 });
  assert.equal(r.interrupts[1], 1);
  const c = r.dev.counters();
  assert.equal(c.txFrames, 1);
  assert.equal(c.txBytes, 10);
});

test('transmit: malformed chains cost their request, a buffer outside RAM costs the device', () => {
  const r = rig(PLAIN);
  r.dev.activate(r.ctx);
  r.tx.addChain([{ addr: BUF, len: 12, flags: 0 }, { addr: BUF + 0x100, len: 8, flags: F_WRITE }]);
  r.tx.addChain([{ addr: BUF, len: 8, flags: 0 }]);
  r.dev.onQueueNotify(1);
  assert.equal(r.tx.usedIdx(), 2);
  assert.equal(r.dev.counters().errors, 2);
  assert.equal(r.dev.counters().txFrames, 0);
  assert.equal(native().tryReadv(r.peer, [new Uint8Array(64)]), -11, 'nothing was sent');
  r.tx.addChain([{ addr: 0x7fff_0000, len: 64, flags: 0 }]);
  r.dev.onQueueNotify(1);
  assert.equal(r.failures.length, 1);
});

test('receive without MRG_RXBUF: one frame per chain, num_buffers 1, interrupt after the batch', async () => {
  const r = rig(PLAIN);
  r.dev.activate(r.ctx);
  postRx(r, 2, 12 + 1514);
  r.rx.mem.fill(BUF, 12, 0xee);
  send(r, hostFrame(60, 0xa1));
  send(r, hostFrame(1514, 0xa2));
  await until(() => r.rx.usedIdx() === 2, 'two frames');
  assert.deepEqual(r.rx.used(0), { id: 0, len: 72 });
  assert.deepEqual(r.rx.used(1), { id: 1, len: 1526 });
  assert.equal(r.rx.mem.readU16(BUF + 10), 1, 'num_buffers');
  assert.equal(r.rx.mem.readU8(BUF), 0, 'flags as the host wrote them');
  assert.equal(r.rx.mem.readU8(BUF + 12 + 59), 0xa1);
  assert.equal(r.rx.mem.readU8(BUF + 0x1000 + 12 + 1513), 0xa2);
  assert.ok(r.interrupts[0]! >= 1);
  assert.deepEqual([r.dev.counters().rxFrames, r.dev.counters().rxBytes], [2, 1574]);
});

test('receive with MRG_RXBUF: a frame spans chains, num_buffers counts them, the rest wait for the next frame', async () => {
  const r = rig(MRG);
  r.dev.activate(r.ctx);
  postRx(r, 10, 256);
  send(r, hostFrame(700 - 12, 0xb1));
  await until(() => r.rx.usedIdx() === 3, 'a frame in three buffers');
  assert.deepEqual([0, 1, 2].map((i) => r.rx.used(i)), [{ id: 0, len: 256 }, { id: 1, len: 256 }, { id: 2, len: 188 }]);
  assert.equal(r.rx.mem.readU16(BUF + 10), 3);
  assert.equal(r.rx.mem.readU8(BUF + 0x2000 + 187), 0xb1);
  send(r, hostFrame(30, 0xb2));
  await until(() => r.rx.usedIdx() === 4, 'a small frame');
  assert.deepEqual(r.rx.used(3), { id: 3, len: 42 });
  assert.equal(r.rx.mem.readU16(BUF + 0x3000 + 10), 1);
});

test('receive with no buffers: the backend is not polled (no spinning) until the guest posts some', async () => {
  const r = rig(MRG);
  r.dev.activate(r.ctx);
  const q = r.ctx.queues[0] as Virtqueue;
  const pop = q.pop.bind(q);
  let pops = 0;
  q.pop = () => { pops++; return pop(); };
  send(r, hostFrame(100, 0xc1));
  send(r, hostFrame(100, 0xc2));
  await turns(50);
  assert.ok(pops <= 1, `the queue was looked at ${pops} times with frames waiting and no buffers`);
  assert.equal(r.dev.counters().rxFrames, 0);
  postRx(r, 4, 2048);
  await until(() => r.rx.usedIdx() === 2, 'both frames');
  assert.equal(r.rx.mem.readU8(BUF + 12), 0xc1);
  assert.equal(r.rx.mem.readU8(BUF + 0x1000 + 12), 0xc2);
});

test('a frame larger than the chain is dropped and counted; the chain takes the next frame', async () => {
  const r = rig(PLAIN);
  r.dev.activate(r.ctx);
  postRx(r, 1, 12 + 100);
  send(r, hostFrame(101, 0xd1));
  send(r, hostFrame(100, 0xd2));
  await until(() => r.rx.usedIdx() === 1, 'the frame that fits');
  assert.deepEqual(r.rx.used(0), { id: 0, len: 112 });
  assert.equal(r.rx.mem.readU8(BUF + 12), 0xd2);
  assert.equal(r.dev.counters().rxDropped, 1);
});

test('with MRG_RXBUF a frame larger than every posted buffer together is dropped, not left to stall the queue', async () => {
  const r = rig(MRG);
  r.dev.activate(r.ctx);
  postRx(r, 2, 64);
  send(r, hostFrame(200, 0xd3));
  send(r, hostFrame(50, 0xd4));
  await until(() => r.rx.usedIdx() === 1, 'the small frame');
  assert.equal(r.rx.mem.readU8(BUF + 12), 0xd4);
  assert.equal(r.dev.counters().rxDropped, 1);
});

test('receive: offloads the guest did not accept are dropped; DATA_VALID is cleared without GUEST_CSUM', async () => {
  const r = rig(PLAIN);
  r.dev.activate(r.ctx);
  postRx(r, 2, 2048);
  send(r, hostFrame(60, 0xe1, 1)); // NEEDS_CSUM
  send(r, hostFrame(60, 0xe2, 0, 1)); // GSO TCPv4
  send(r, hostFrame(60, 0xe3, 2)); // DATA_VALID
  await until(() => r.rx.usedIdx() === 1, 'the acceptable frame');
  assert.equal(r.rx.mem.readU8(BUF + 12), 0xe3);
  assert.equal(r.rx.mem.readU8(BUF), 0);
  assert.equal(r.dev.counters().rxDropped, 2);
});

test('receive: malformed chains cost their request, a buffer outside RAM costs the device', async () => {
  const r = rig(PLAIN);
  r.dev.activate(r.ctx);
  r.rx.addChain([{ addr: BUF, len: 16, flags: 0 }, { addr: BUF + 0x100, len: 64, flags: F_WRITE }]);
  r.rx.addChain([{ addr: BUF + 0x1000, len: 8, flags: F_WRITE }]);
  r.rx.addChain([{ addr: BUF + 0x2000, len: 256, flags: F_WRITE }]);
  r.dev.onQueueNotify(0);
  assert.deepEqual([r.rx.used(0), r.rx.used(1)], [{ id: 0, len: 0 }, { id: 2, len: 0 }]);
  assert.equal(r.dev.counters().errors, 2);
  send(r, hostFrame(20, 0xf1));
  await until(() => r.rx.usedIdx() === 3, 'the frame in the good chain');
  assert.equal(r.rx.used(2).id, 3);
  r.rx.addChain([{ addr: 0x7fff_0000, len: 256, flags: F_WRITE } satisfies Desc]);
  r.dev.onQueueNotify(0);
  assert.equal(r.failures.length, 1);
});

test('reset while frames are pending: nothing reaches the old buffers; the next driver gets the frames', async () => {
  const r = rig(PLAIN);
  r.dev.activate(r.ctx);
  postRx(r, 1, 2048);
  await turns(5); // the chain now waits in the device for a frame
  r.dev.reset();
  send(r, hostFrame(40, 0x71));
  send(r, hostFrame(40, 0x72));
  await turns(20);
  assert.equal(r.rx.usedIdx(), 0);
  assert.equal(r.rx.mem.readU8(BUF + 12), 0);
  assert.equal(r.guestFeatures.at(-1), 0n, 'offloads withdrawn at reset');
  const rx2 = new MockDriver(16, 0, { mem: r.rx.mem, base: 0x100000 });
  const tx2 = new MockDriver(16, 0, { mem: r.rx.mem, base: 0x104000 });
  r.dev.activate({ ...r.ctx, queues: [rx2.queue(), tx2.queue()] });
  rx2.addChain([{ addr: 0x200000, len: 2048, flags: F_WRITE }]);
  rx2.addChain([{ addr: 0x201000, len: 2048, flags: F_WRITE }]);
  r.dev.onQueueNotify(0);
  await until(() => rx2.usedIdx() === 2, 'frames after the reset');
  assert.equal(r.rx.mem.readU8(0x200000 + 12), 0x71);
  assert.equal(r.rx.mem.readU8(BUF + 12), 0, 'the old chain was never written');
});

test('transmit waits for room when the backend would block, then sends the rest in order', async () => {
  const r = rig(PLAIN, { queueSize: 64 });
  r.dev.activate(r.ctx);
  const frame = 12 + 60000;
  for (let i = 0; i < 40; i++) {
    r.rx.mem.fill(BUF + 0x10000 * i, frame, i);
    r.tx.addChain([{ addr: BUF + 0x10000 * i, len: frame, flags: 0 }]);
  }
  r.dev.onQueueNotify(1);
  const sent = r.dev.counters().txFrames!;
  assert.ok(sent > 0 && sent < 40, `${sent} frames went before the socket filled`);
  assert.equal(r.tx.usedIdx(), sent);
  const got: number[] = [];
  const buf = new Uint8Array(frame);
  await until(() => {
    for (let n = native().tryReadv(r.peer, [buf]); n > 0; n = native().tryReadv(r.peer, [buf])) got.push(buf[100]!);
    return got.length === 40;
  }, 'all 40 frames');
  assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i));
  assert.equal(r.tx.usedIdx(), 40);
});

test('a backend that ends stops receiving, warns once, and does not spin', async () => {
  const r = rig(PLAIN);
  r.dev.activate(r.ctx);
  postRx(r, 1, 2048);
  native().close(r.peer);
  r.peer = native().eventfdCreate(); // something for afterEach to close
  await until(() => r.warnings.length > 0, 'the warning');
  await turns(20);
  assert.equal(r.warnings.length, 1);
  assert.equal(r.dev.counters().backendErrors, 1);
});

test('a snapshot keeps the MAC and the rx chains the device holds; a restored device adopts them by head', async () => {
  const r = rig(MRG);
  r.dev.mac = Uint8Array.from([0x02, 1, 2, 3, 4, 5]); // as a random one would be
  r.dev.activate(r.ctx);
  postRx(r, 3, 4096);
  const saved = JSON.parse(JSON.stringify(r.dev.snapshotState())) as { rxHeads: number[] };
  // One 4 KiB buffer holds a whole plain frame, so the device took one and holds it.
  assert.deepEqual(saved, { mac: '02:01:02:03:04:05', rxHeads: [0], txHead: null });

  // The restored device: another backend, the same rings, the queue indices the transport would put back.
  const n = native();
  const [fd, peer] = n.socketpairCreate(true);
  const dev = new NetDevice({ fd, name: 'restored', setGuestFeatures: () => {}, close: () => n.close(fd) });
  try {
    dev.restoreState(saved);
    assert.deepEqual(Array.from(dev.configSpace().subarray(0, 6)), [2, 1, 2, 3, 4, 5]);
    const rxq = r.rx.queue();
    rxq.importIndices({ nextAvail: 1, usedIdx: 0, lastSignalled: 0 });
    const ctx = mockContext(dev, { memory: r.rx.mem, queues: [rxq, r.tx.queue()], features: MRG });
    dev.activate(ctx);
    const frame = hostFrame(100, 0x77);
    assert.equal(n.tryWritev(peer, [frame]), frame.length);
    // Chain 0 is the one the old device held; a restored device that had lost it would take chain 1.
    await until(() => r.rx.usedIdx() === 1, 'the frame in an adopted chain');
    assert.deepEqual(r.rx.used(0), { id: 0, len: frame.length });
    assert.deepEqual(ctx.failures, []);

    assert.throws(() => dev.restoreState({ ...saved, mac: 'zz' }), /mac is "zz"/);
    assert.throws(() => dev.restoreState({ ...saved, rxHeads: [1, 1] }), /rxHeads is not a list/);
    assert.throws(() => dev.restoreState({ ...saved, txHead: -1 }), /txHead is -1/);
  } finally {
    dev.close();
    n.close(peer);
  }
});
