import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_REQUEST, RngDevice } from '../../src/devices/rng';
import { F_WRITE, MockDriver, mockContext } from '../virtio-mmio/mock-driver';

function setup(rateLimit?: number) {
  const d = new MockDriver(16, 4 << 20);
  const dev = new RngDevice(rateLimit);
  const ctx = mockContext(dev, { memory: d.mem, queues: [d.queue()], features: 0n });
  dev.activate(ctx);
  return { d, dev, ctx };
}

test('a request is filled with random bytes and answered with their count', () => {
  const s = setup();
  s.d.addChain([{ addr: 0x10000, len: 16, flags: F_WRITE }, { addr: 0x20000, len: 16, flags: F_WRITE }]);
  s.dev.onQueueNotify();
  assert.deepEqual(s.d.used(0), { id: 0, len: 32 });
  assert.ok(s.d.mem.read(0x10000, 16).some((b) => b !== 0));
  assert.equal(s.ctx.notified[0], 1);
  s.dev.reset();
});

test('a request larger than a driver asks for gets MAX_REQUEST bytes, which the used length says', () => {
  const s = setup();
  s.d.addChain([{ addr: 0x100000, len: 3 << 20, flags: F_WRITE }]);
  s.dev.onQueueNotify();
  assert.deepEqual(s.d.used(0), { id: 0, len: MAX_REQUEST });
  assert.ok(s.d.mem.read(0x100000 + MAX_REQUEST, 4096).every((b) => b === 0), 'nothing past what it reports');
  assert.equal(s.dev.counters().bytes, MAX_REQUEST);
  s.dev.reset();
});

test('with a rate limit a request gets no more than the bucket holds', () => {
  const s = setup(100);
  s.d.addChain([{ addr: 0x10000, len: 4096, flags: F_WRITE }]);
  s.dev.onQueueNotify();
  assert.deepEqual(s.d.used(0), { id: 0, len: 100 });
  s.dev.reset();
});
