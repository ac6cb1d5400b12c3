import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, mock, test } from 'node:test';
import { BalloonDevice, balloonTargetPages, MAX_LIST_PFNS, type BalloonOptions } from '../../src/devices/balloon';
import { INT, STATUS } from '../../src/virtio-mmio/registers';
import { CONFIG_OFFSET_BYTES, createTransportState, Q, queueWord, W } from '../../src/virtio-mmio/state';
import { MmioTransport } from '../../src/virtio-mmio/transport';
import { GuestMemory } from '../../src/base/guest-memory';
import { GuestRam } from '../../src/base/guest-ram';
import { native } from '../../src/base/native';
import { MockDriver, mockContext } from '../virtio-mmio/mock-driver';

const MiB = 1 << 20;
const PAGE = 4096;
const HIGH = 0x1_0000_0000;
const HIGH_PFN = HIGH / PAGE;
/** Page lists and statistics buffers sit above the rings of the three queues. */
const DATA = 0x40000;

function pfnList(pfns: number[]): Buffer {
  const b = Buffer.alloc(4 * pfns.length);
  pfns.forEach((p, i) => b.writeUInt32LE(p, 4 * i));
  return b;
}

function statsBuffer(entries: [number, bigint][]): Buffer {
  const b = Buffer.alloc(10 * entries.length);
  entries.forEach(([tag, v], i) => {
    b.writeUInt16LE(tag, 10 * i);
    b.writeBigUInt64LE(v, 10 * i + 2);
  });
  return b;
}

function setup(mem: GuestMemory, opts: Partial<BalloonOptions> = {}) {
  const inflate = new MockDriver(16, 0, { mem, base: 0 });
  const deflate = new MockDriver(16, 0, { mem, base: 0x10000 });
  const stats = new MockDriver(1, 0, { mem, base: 0x20000 });
  const discards: [number, number][] = [];
  const dev = new BalloonDevice({ targetMiB: 0, deflateOnOom: false, statsInterval: 0,
    discard: (gpa, len) => { discards.push([gpa, len]); }, ...opts });
  const queues = [inflate.queue(), deflate.queue()];
  if (dev.queueMaxSizes.length > 2) queues.push(stats.queue());
  const ctx = mockContext(dev, { memory: mem, queues, features: dev.features });
  dev.activate(ctx);
  return { dev, inflate, deflate, stats, discards, failures: ctx.failures,
    signalled: () => ctx.notified.reduce((a, b) => a + b, 0) };
}

/** Guest RAM as the machine lays it out, in small: 1 MiB at 0, then the MMIO gap, then 1 MiB at 4 GiB. */
const ram = GuestRam.create([{ gpa: 0, size: MiB }, { gpa: HIGH, size: MiB }], 'balloon-test');
after(() => native().close(ram.fd));

test('inflate punches holes in the memfd for the pages the driver hands over, coalescing neighbours', () => {
  ram.populate();
  const blocksBefore = fs.fstatSync(ram.fd).blocks;
  assert.equal(blocksBefore * 512, 2 * MiB, 'every page resident after populate');
  ram.memory.fill(0x80 * PAGE, 17 * PAGE, 0xab);
  ram.memory.fill(HIGH + 0x10 * PAGE, 4 * PAGE, 0xcd);
  const released: [number, number][] = [];
  const s = setup(ram.memory, { discard: (gpa, len) => { released.push([gpa, len]); ram.discard(gpa, len); } });
  // 16 pages at 512 KiB and 4 pages at 4 GiB + 64 KiB, shuffled, the list split mid-PFN across two descriptors.
  const low = Array.from({ length: 16 }, (_, i) => 0x80 + i);
  const high = [0, 1, 2, 3].map((i) => HIGH_PFN + 0x10 + i);
  const list = pfnList([...high.slice(2), ...low.reverse(), ...high.slice(0, 2)]);
  ram.memory.write(DATA, list);
  s.inflate.addChain([{ addr: DATA, len: 6, flags: 0 }, { addr: DATA + 6, len: list.length - 6, flags: 0 }]);
  s.dev.onQueueNotify(0);

  assert.deepEqual(released, [[0x80 * PAGE, 16 * PAGE], [HIGH + 0x10 * PAGE, 4 * PAGE]]);
  assert.equal((blocksBefore - fs.fstatSync(ram.fd).blocks) * 512, 20 * PAGE, 'the memfd gave 20 pages back');
  assert.ok(ram.memory.read(0x80 * PAGE, 16 * PAGE).every((b) => b === 0), 'released pages read as zeros');
  assert.ok(ram.memory.read(0x90 * PAGE, PAGE).every((b) => b === 0xab), 'the next page is untouched');
  assert.ok(ram.memory.read(HIGH + 0x10 * PAGE, 4 * PAGE).every((b) => b === 0));
  assert.equal(s.inflate.usedIdx(), 1);
  assert.deepEqual(s.inflate.used(0), { id: 0, len: 0 });
  assert.equal(s.signalled(), 1);
  assert.equal(s.dev.info().inflatedPages, 20);
  assert.equal(s.dev.counters().discards, 2);
  assert.equal(s.dev.counters().badPfns, 0);
});

test('a PFN outside guest RAM or in the MMIO gap costs the guest only that page', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: MiB }, { gpa: HIGH, size: MiB }]);
  const warnings: string[] = [];
  const log = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as BalloonOptions['log'];
  const s = setup(mem, { log });
  // 1 MiB (just past low RAM), 3 GiB (the MMIO gap), 4 GiB + 1 MiB (past high RAM), 0xffffffff, then a good one.
  mem.write(DATA, pfnList([0x100, 0xc0000, HIGH_PFN + 0x100, 0xffff_ffff, 0x50]));
  s.inflate.addChain([{ addr: DATA, len: 20, flags: 0 }]);
  mem.write(DATA + 0x100, pfnList([0xc0001, 0x50]));
  s.deflate.addChain([{ addr: DATA + 0x100, len: 8, flags: 0 }]);
  s.dev.onQueueNotify(0);
  s.dev.onQueueNotify(1);
  assert.deepEqual(s.discards, [[0x50 * PAGE, PAGE]]);
  assert.deepEqual(s.dev.counters().badPfns, 5);
  assert.equal(warnings.length, 1, 'logged once');
  assert.match(warnings[0]!, /PFN 0x100 is not guest RAM/);
  assert.equal(s.inflate.usedIdx(), 1);
  assert.equal(s.deflate.usedIdx(), 1);
  assert.deepEqual(s.failures, []);
  assert.deepEqual([s.dev.info().inflatedPages, s.dev.info().deflatedPages], [1, 1]);
});

test('deflate counts the pages and releases nothing; a ragged page list is answered and counted', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: MiB }]);
  const s = setup(mem);
  mem.write(DATA, pfnList([0x60, 0x61, 0x62]));
  s.deflate.addChain([{ addr: DATA, len: 12, flags: 0 }]);
  s.deflate.addChain([{ addr: DATA, len: 7, flags: 0 }]);
  s.dev.onQueueNotify(1);
  assert.equal(s.dev.info().deflatedPages, 4);
  assert.equal(s.dev.counters().badRequests, 1);
  assert.deepEqual(s.discards, []);
  assert.equal(s.deflate.usedIdx(), 2);
});

test('a page list longer than a driver sends: the first MAX_LIST_PFNS pages are taken, the rest ignored and counted', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 4 * MiB }]);
  const s = setup(mem);
  // Pages 0x60.. one apart, so each is its own hole: the first MAX_LIST_PFNS of them, no more.
  mem.write(DATA, pfnList(Array.from({ length: MAX_LIST_PFNS + 8 }, (_, i) => 0x60 + 2 * i)));
  s.inflate.addChain([{ addr: DATA, len: 4 * (MAX_LIST_PFNS + 8), flags: 0 }]);
  s.dev.onQueueNotify(0);
  assert.equal(s.discards.length, MAX_LIST_PFNS);
  assert.deepEqual(s.discards.at(-1), [(0x60 + 2 * (MAX_LIST_PFNS - 1)) * PAGE, PAGE]);
  assert.equal(s.dev.counters().badRequests, 1);
  assert.equal(s.inflate.usedIdx(), 1, 'answered all the same');
  assert.deepEqual(s.failures, []);
});

test('a broken ring costs the device, not the VMM', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: MiB }]);
  const s = setup(mem);
  s.inflate.addChain([{ addr: 0x7fff_0000, len: 8, flags: 0 }]);
  s.dev.onQueueNotify(0);
  assert.equal(s.failures.length, 1);
  assert.equal(s.dev.counters().errors, 1);
});

function transportWith(dev: BalloonDevice, mem = GuestMemory.forTest([{ gpa: 0, size: MiB }])) {
  let irqs = 0;
  const t = new MmioTransport(dev, createTransportState(), { memory: mem, raiseIrq: () => { irqs++; } });
  const w = new Int32Array(t.state, 0, CONFIG_OFFSET_BYTES / 4);
  const config = new DataView(t.state, CONFIG_OFFSET_BYTES, 8);
  return { t, w, config, irqs: () => irqs };
}

test('config space: num_pages from the target, actual written by the driver, nothing else writable', () => {
  const dev = new BalloonDevice({ targetMiB: 3, deflateOnOom: true, statsInterval: 0, discard: () => {} });
  assert.deepEqual(dev.queueMaxSizes.length, 2);
  assert.equal(dev.features, 1n << 2n, 'DEFLATE_ON_OOM, no STATS_VQ');
  const { t, w, config } = transportWith(dev);
  assert.equal(w[W.DEVICE_ID], 5);
  assert.equal(config.getUint32(0, true), 768);
  t.handleEvent({ kind: 'config-write', offset: 4, bytes: [0x34, 0x12, 0, 0], seq: 1 });
  t.handleEvent({ kind: 'config-write', offset: 6, bytes: [1], seq: 1 });
  assert.equal(dev.info().actualPages, 0x11234);
  assert.equal(config.getUint32(4, true), 0x11234);
  t.handleEvent({ kind: 'config-write', offset: 0, bytes: [0, 0, 0, 0, 5, 0, 0, 0], seq: 1 });
  assert.equal(config.getUint32(0, true), 768, 'num_pages is the device\'s');
  assert.equal(dev.info().actualPages, 5);
  assert.equal(dev.counters().badConfigWrites, 4);
});

test('a new target updates num_pages and raises a config interrupt once the driver is running', () => {
  const dev = new BalloonDevice({ targetMiB: 0, deflateOnOom: false, statsInterval: 0, discard: () => {} });
  const { t, w, config, irqs } = transportWith(dev);
  const generation = w[W.CONFIG_GENERATION]!;
  dev.setTargetPages(256);
  assert.equal(config.getUint32(0, true), 256);
  assert.equal(irqs(), 0, 'no interrupt before DRIVER_OK: the driver reads the config when it gets there');
  assert.ok(w[W.CONFIG_GENERATION]! > generation);
  t.handleEvent({ kind: 'status', value: STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK });
  dev.setTargetPages(512);
  assert.equal(config.getUint32(0, true), 512);
  assert.equal(irqs(), 1);
  assert.equal(w[W.INTERRUPT_STATUS]! & INT.CONFIG_CHANGE, INT.CONFIG_CHANGE);
  assert.deepEqual(dev.info(), { targetPages: 512, actualPages: 0, inflatedPages: 0, deflatedPages: 0 });
  t.handleEvent({ kind: 'reset', seq: 1 });
  dev.setTargetPages(0);
  assert.equal(irqs(), 1, 'none after a reset either');
});

test('a statistics buffer the driver posts and notifies before DRIVER_OK is read once the device starts', () => {
  const mem = GuestMemory.forTest([{ gpa: 0, size: MiB }]);
  const dev = new BalloonDevice({ targetMiB: 0, deflateOnOom: false, statsInterval: 10, discard: () => {} });
  const { t, w } = transportWith(dev, mem);
  const stats = new MockDriver(1, 0, { mem, base: 0x20000 });
  const words: [number, number][] = [[Q.NUM, 1], [Q.READY, 1], [Q.DESC_LO, Number(stats.layout.desc)],
    [Q.DRIVER_LO, Number(stats.layout.avail)], [Q.DEVICE_LO, Number(stats.layout.used)]];
  for (const [field, v] of words) w[queueWord(2, field)] = v;
  mem.write(DATA, statsBuffer([[5, 4096n]]));
  stats.addChain([{ addr: DATA, len: 10, flags: 0 }]);
  t.notify(2);
  assert.equal(dev.info().lastStats, undefined, 'not before DRIVER_OK');
  t.handleEvent({ kind: 'status', value: STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK });
  assert.equal(dev.info().lastStats?.totalMemory, 4096n);
  dev.reset();
});

test('targets are whole MiB within guest RAM', () => {
  assert.equal(balloonTargetPages(0, 128 * MiB), 0);
  assert.equal(balloonTargetPages(128, 128 * MiB), 128 * 256);
  assert.throws(() => balloonTargetPages(129, 128 * MiB), { name: 'RangeError', message: /^mib: 129 is more than the guest's 128 MiB/ });
  for (const bad of [-1, 1.5, NaN, Infinity]) {
    assert.throws(() => balloonTargetPages(bad, 128 * MiB), { name: 'RangeError', message: /^mib: .* is not a non-negative integer/ });
  }
});

test('statistics: the buffer is kept, handed back every interval, and each report is parsed', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  try {
    const mem = GuestMemory.forTest([{ gpa: 0, size: MiB }]);
    const s = setup(mem, { statsInterval: 5 });
    assert.equal(s.dev.features, 1n << 1n);
    assert.equal(s.dev.queueMaxSizes.length, 3);
    const first = statsBuffer([[4, 1000n * 4096n], [5, 2n ** 60n], [2, 7n], [12, 3n], [4, 900n * 4096n]]);
    mem.write(DATA, first);
    s.stats.addChain([{ addr: DATA, len: first.length, flags: 0 }]);
    s.dev.onQueueNotify(2);
    assert.deepEqual(s.dev.info().lastStats, { at: 1_000_000, freeMemory: 900n * 4096n, totalMemory: 2n ** 60n,
      majorFaults: 7n, other: { 12: 3n } });
    assert.equal(s.stats.usedIdx(), 0, 'held until the next request is due');
    mock.timers.tick(4999);
    assert.equal(s.stats.usedIdx(), 0);
    mock.timers.tick(1);
    assert.equal(s.stats.usedIdx(), 1, 'handed back to ask for fresh numbers');
    assert.equal(s.signalled(), 1);
    mem.write(DATA, statsBuffer([[6, 123n], [7, 0n]]));
    s.stats.addChain([{ addr: DATA, len: 21, flags: 0 }]);
    s.dev.onQueueNotify(2);
    assert.deepEqual(s.dev.info().lastStats, { at: 1_005_000, availableMemory: 123n, diskCaches: 0n, other: {} });
    assert.equal(s.dev.counters().badRequests, 1, 'the stray byte after two entries');
    assert.equal(s.dev.counters().statsReports, 2);
    mock.timers.tick(5000);
    assert.equal(s.stats.usedIdx(), 2);
  } finally {
    mock.timers.reset();
  }
});

test('reset empties the balloon, drops the held statistics buffer and keeps the target', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const mem = GuestMemory.forTest([{ gpa: 0, size: MiB }]);
    const s = setup(mem, { statsInterval: 1, targetMiB: 2 });
    s.dev.configWrite(4, Uint8Array.of(0, 2, 0, 0));
    mem.write(DATA, statsBuffer([[4, 1n]]));
    s.stats.addChain([{ addr: DATA, len: 10, flags: 0 }]);
    s.dev.onQueueNotify(2);
    s.dev.reset();
    mock.timers.tick(10_000);
    assert.equal(s.stats.usedIdx(), 0, 'no request after reset');
    const info = s.dev.info();
    assert.deepEqual([info.targetPages, info.actualPages], [512, 0]);
    mem.write(DATA + 0x100, pfnList([0x60]));
    s.inflate.addChain([{ addr: DATA + 0x100, len: 4, flags: 0 }]);
    s.dev.onQueueNotify(0);
    assert.equal(s.inflate.usedIdx(), 0, 'an inactive device serves nothing');
  } finally {
    mock.timers.reset();
  }
});

test('after a reset the guest reads actual = 0 in config space, as info() says', () => {
  const dev = new BalloonDevice({ targetMiB: 1, deflateOnOom: false, statsInterval: 0, discard: () => {} });
  const { t, config } = transportWith(dev);
  t.handleEvent({ kind: 'status', value: STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK });
  t.handleEvent({ kind: 'config-write', offset: 4, bytes: [0, 1, 0, 0], seq: 1 });
  assert.equal(config.getUint32(4, true), 256);
  t.handleEvent({ kind: 'reset', seq: 1 });
  assert.equal(dev.info().actualPages, 0);
  assert.equal(config.getUint32(4, true), 0);
  assert.equal(config.getUint32(0, true), 256, 'the target stays');
});

test('a snapshot keeps the target, the driver\'s size and the held statistics buffer, which the restored device gives back', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  try {
    const mem = GuestMemory.forTest([{ gpa: 0, size: MiB }]);
    const a = setup(mem, { statsInterval: 5 });
    a.dev.setTargetPages(300);
    a.dev.configWrite(4, Uint8Array.of(44, 1, 0, 0));
    mem.write(DATA, statsBuffer([[5, 4096n]]));
    a.stats.addChain([{ addr: DATA, len: 10, flags: 0 }]);
    a.dev.onQueueNotify(2);
    const saved = JSON.parse(JSON.stringify(a.dev.snapshotState())) as unknown;
    assert.deepEqual(saved, { targetPages: 300, actualPages: 300, statsHead: 0 });
    a.dev.reset();

    const b = new BalloonDevice({ targetMiB: 0, deflateOnOom: false, statsInterval: 5, discard: () => {} });
    b.restoreState(saved);
    assert.deepEqual([b.info().targetPages, b.info().actualPages], [300, 300]);
    // The restored ring (here: the same rings) still has the buffer in flight; the next request returns it.
    const ctx = mockContext(b, { memory: mem, queues: [a.inflate.queue(), a.deflate.queue(), a.stats.queue()],
      features: b.features });
    b.activate(ctx);
    assert.equal(a.stats.usedIdx(), 0);
    mock.timers.tick(5000);
    assert.equal(a.stats.usedIdx(), 1, 'the statistics request');
    b.reset();

    assert.throws(() => b.restoreState({ targetPages: -1, actualPages: 0, statsHead: null }), /targetPages is -1/);
    assert.throws(() => b.restoreState({ targetPages: 0, actualPages: 0, statsHead: 1 }), /statsHead is 1/);
    const noStats = new BalloonDevice({ targetMiB: 0, deflateOnOom: false, statsInterval: 0, discard: () => {} });
    assert.throws(() => noStats.restoreState({ targetPages: 0, actualPages: 0, statsHead: 0 }), /no statistics queue/);
  } finally {
    mock.timers.reset();
  }
});
