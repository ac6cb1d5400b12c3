import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CFG, EV, EVENT_BYTES, InputDevice, keyPress, MAX_PENDING_EVENTS, TABLET_MAX } from '../../src/devices/input';
import { GuestMemory } from '../../src/base/guest-memory';
import { F_WRITE, MockDriver, mockContext } from '../virtio-mmio/mock-driver';

/** What the driver reads after writing select and subsel: size, then that many bytes of the union. */
function query(dev: InputDevice, select: number, subsel = 0): Buffer {
  dev.configWrite(0, Uint8Array.of(select, subsel));
  const cfg = dev.configSpace();
  return Buffer.from(cfg.subarray(8, 8 + cfg[2]!));
}

function hasBit(bits: Buffer, n: number): boolean {
  return ((bits[n >> 3] ?? 0) & (1 << (n & 7))) !== 0;
}

function setup(kind: 'keyboard' | 'tablet' = 'keyboard') {
  const mem = GuestMemory.forTest([{ gpa: 0, size: 1 << 20 }]);
  const events = new MockDriver(16, 0, { mem, base: 0 });
  const status = new MockDriver(16, 0, { mem, base: 0x10000 });
  const dev = new InputDevice(kind);
  const ctx = mockContext(dev, { memory: mem, queues: [events.queue(), status.queue()], features: 0n });
  dev.activate(ctx);
  /** Offers `n` empty event buffers at 0x40000 + 8i. */
  const offer = (n: number, len = EVENT_BYTES): void => {
    for (let i = 0; i < n; i++) events.addChain([{ addr: 0x40000 + 16 * i, len, flags: F_WRITE }]);
    dev.onQueueNotify(0);
  };
  const read = (i: number): { type: number; code: number; value: number } => {
    const at = 0x40000 + 16 * i;
    return { type: mem.readU16(at), code: mem.readU16(at + 2), value: mem.readU32(at + 4) | 0 };
  };
  return { mem, dev, events, status, ctx, offer, read };
}

test('the config answers by selector: name, ids, event bits, axes; size 0 for what is not there', () => {
  const kbd = new InputDevice('keyboard');
  assert.equal(query(kbd, CFG.ID_NAME).toString(), 'tsvmm virtio keyboard');
  const ids = query(kbd, CFG.ID_DEVIDS);
  assert.equal(ids.length, 8);
  assert.equal(ids.readUInt16LE(0), 0x06, 'BUS_VIRTUAL');
  const keys = query(kbd, CFG.EV_BITS, EV.KEY);
  assert.ok(hasBit(keys, 30) && hasBit(keys, 1) && hasBit(keys, 248), 'KEY_A, KEY_ESC, KEY_MICMUTE');
  assert.ok(!hasBit(keys, 0) && !hasBit(keys, 249));
  assert.equal(query(kbd, CFG.EV_BITS, EV.REP).length, 1, 'autorepeat offered');
  assert.equal(query(kbd, CFG.EV_BITS, EV.ABS).length, 0, 'a keyboard has no axes');
  assert.equal(query(kbd, CFG.ABS_INFO, 0).length, 0);
  assert.equal(query(kbd, 0x77).length, 0, 'an unknown selector has nothing behind it');

  const tab = new InputDevice('tablet');
  assert.equal(query(tab, CFG.ID_NAME).toString(), 'tsvmm virtio tablet');
  const abs = query(tab, CFG.EV_BITS, EV.ABS);
  assert.ok(hasBit(abs, 0) && hasBit(abs, 1));
  const x = query(tab, CFG.ABS_INFO, 0);
  assert.equal(x.length, 20);
  assert.equal(x.readUInt32LE(4), TABLET_MAX);
  assert.ok(hasBit(query(tab, CFG.EV_BITS, EV.KEY), 0x110), 'BTN_LEFT');
});

test('writes outside select and subsel are ignored; reset clears the selector', () => {
  const dev = new InputDevice('keyboard');
  dev.configWrite(0, Uint8Array.of(CFG.ID_NAME, 0, 99, 99));
  assert.equal(dev.configSpace()[2], 'tsvmm virtio keyboard'.length, 'size is the device\'s, not the driver\'s');
  dev.reset();
  assert.equal(dev.configSpace()[0], 0);
});

test('injected events fill one buffer each, in order, as soon as buffers come', () => {
  const s = setup();
  assert.equal(s.dev.inject(keyPress(30)), 4);
  s.offer(3);
  assert.equal(s.events.usedIdx(), 3);
  assert.deepEqual([0, 1, 2].map(s.read), [
    { type: EV.KEY, code: 30, value: 1 }, { type: EV.SYN, code: 0, value: 0 }, { type: EV.KEY, code: 30, value: 0 }]);
  assert.equal(s.events.used(0).len, EVENT_BYTES);
  assert.equal(s.dev.counters().pending, 1, 'the last event waits for the next buffer');
  s.offer(1);
  assert.equal(s.dev.counters().events, 4);
  assert.equal(s.ctx.notified[0], 2);
});

test('a buffer shorter than an event is returned empty and counted; the event waits', () => {
  const s = setup();
  s.dev.inject([{ type: EV.KEY, code: 2, value: 1 }]);
  s.offer(1, 4);
  assert.equal(s.events.used(0).len, 0);
  assert.equal(s.dev.counters().errors, 1);
  assert.equal(s.dev.counters().pending, 1);
  assert.deepEqual(s.ctx.failures, []);
});

test('events past the limit are dropped and counted; bad events are refused whole', () => {
  const dev = new InputDevice('tablet');
  assert.equal(dev.room(), MAX_PENDING_EVENTS);
  const many = Array.from({ length: MAX_PENDING_EVENTS + 10 }, () => ({ type: EV.ABS, code: 0, value: 5 }));
  assert.equal(dev.inject(many), MAX_PENDING_EVENTS);
  assert.equal(dev.counters().dropped, 10);
  assert.equal(dev.room(), 0);
  assert.throws(() => dev.inject([{ type: 0x10000, code: 0, value: 0 }]), RangeError);
  assert.throws(() => dev.inject([{ type: 1, code: 1, value: 2 ** 31 }]), RangeError);
  assert.throws(() => dev.inject([null as never]), RangeError);
});

test('the status queue: whole events are counted, other lengths are errors, all returned', () => {
  const s = setup();
  s.status.addChain([{ addr: 0x50000, len: EVENT_BYTES, flags: 0 }]);
  s.status.addChain([{ addr: 0x50010, len: 3, flags: 0 }]);
  s.dev.onQueueNotify(1);
  assert.equal(s.status.usedIdx(), 2);
  assert.equal(s.dev.counters().statusEvents, 1);
  assert.equal(s.dev.counters().errors, 1);
});

test('a reset drops the events meant for the old driver', () => {
  const s = setup();
  s.dev.inject(keyPress(30));
  s.dev.reset();
  assert.equal(s.dev.counters().pending, 0);
});

test('a snapshot keeps the selector and the events the driver has not taken; a restored device serves them', () => {
  const a = setup('tablet');
  a.dev.configWrite(0, Uint8Array.of(CFG.ABS_INFO, 1));
  a.dev.inject([{ type: EV.ABS, code: 0, value: 123 }, { type: EV.SYN, code: 0, value: -1 }]);
  const saved = JSON.parse(JSON.stringify(a.dev.snapshotState())) as unknown;
  assert.deepEqual(saved, { select: CFG.ABS_INFO, subsel: 1, pending: [[EV.ABS, 0, 123], [EV.SYN, 0, -1]] });

  const b = setup('tablet');
  b.dev.reset();
  b.dev.restoreState(saved);
  assert.equal(b.dev.configSpace()[0], CFG.ABS_INFO);
  b.dev.activate(b.ctx);
  b.offer(2);
  assert.deepEqual([b.read(0), b.read(1)], [{ type: EV.ABS, code: 0, value: 123 }, { type: EV.SYN, code: 0, value: -1 }]);

  assert.throws(() => b.dev.restoreState({ select: 256, subsel: 0, pending: [] }), /select is 256/);
  assert.throws(() => b.dev.restoreState({ select: 0, subsel: 0, pending: [[1, 2]] }), /pending\[0\]/);
  assert.throws(() => b.dev.restoreState({ select: 0, subsel: 0, pending: new Array(MAX_PENDING_EVENTS + 1).fill([0, 0, 0]) }),
    /at most/);
});
