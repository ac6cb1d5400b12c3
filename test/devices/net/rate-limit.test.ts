// virtio-net's rate limiters, one per direction, over a socketpair backend: frames past the budget wait (in the
// queue for transmit, in the backend for receive, which is not watched meanwhile) until the limiter's timer. The
// limiters' clock and the device's timers are the test's (mock timers).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { native, POLL, type FdWatcher } from '../../../src/base/native';
import type { RateLimiterConfig } from '../../../src/devices/rate-limiter';
import { NetDevice } from '../../../src/devices/net/device';
import { NET_F } from '../../../src/devices/net/virtio-net';
import { F_WRITE, MockDriver, mockContext } from '../../virtio-mmio/mock-driver';

const FEATURES = (1n << BigInt(NET_F.MAC)) | (1n << BigInt(NET_F.STATUS));
const BUF = 0x10000;
let clock = 0;
const cleanups: (() => void)[] = [];

beforeEach(() => {
  clock = 0;
  mock.timers.enable({ apis: ['setTimeout'] });
});
afterEach(() => {
  mock.timers.reset();
  for (const c of cleanups.splice(0)) c();
});

const advance = (ms: number): void => {
  clock += ms;
  mock.timers.tick(ms);
};

async function turnsUntil(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), `never saw ${what}`);
}

/** A device whose backend watcher's poll() calls are recorded (what it waits for on the backend fd). */
function rig(limits: { rx?: RateLimiterConfig; tx?: RateLimiterConfig }) {
  const n = native();
  const [fd, peer] = n.socketpairCreate(true);
  const polls: number[] = [];
  const Real = n.FdWatcher;
  n.FdWatcher = function spy(wfd: number, cb: (count: number, events: number) => void, drain: boolean): FdWatcher {
    const w = new Real(wfd, cb, drain);
    return { poll: (e) => { polls.push(e); w.poll(e); }, close: () => w.close(), ref: () => w.ref(), unref: () => w.unref() };
  } as unknown as typeof Real;
  let dev: NetDevice;
  try {
    dev = new NetDevice({ fd, name: 'test', setGuestFeatures: () => {}, close: () => n.close(fd) },
      { mac: '52:54:00:12:34:56', rxRateLimiter: limits.rx, txRateLimiter: limits.tx, now: () => clock });
  } finally {
    n.FdWatcher = Real;
  }
  const rx = new MockDriver(16, 4 << 20);
  const tx = new MockDriver(16, 0, { mem: rx.mem, base: 0x4000 });
  const ctx = mockContext(dev, { memory: rx.mem, queues: [rx.queue(), tx.queue()], features: FEATURES });
  dev.activate(ctx);
  cleanups.push(() => { dev.close(); n.close(peer); });
  return { dev, rx, tx, peer, polls };
}

test('transmit: frames past the ops budget stay in the queue until the timer; the wait is counted', () => {
  const r = rig({ tx: { ops: { size: 1, refillTime: 100 } } });
  r.rx.mem.write(BUF, Buffer.alloc(12 + 60, 0x5a));
  for (let i = 0; i < 3; i++) r.tx.addChain([{ addr: BUF, len: 12 + 60, flags: 0 }]);
  r.dev.onQueueNotify(1);
  assert.equal(r.tx.usedIdx(), 1);
  assert.deepEqual([r.dev.counters().txFrames, r.dev.counters().txThrottled], [1, 1]);
  r.dev.onQueueNotify(1); // notifies meanwhile change nothing
  advance(99);
  assert.equal(r.tx.usedIdx(), 1);
  advance(1);
  assert.equal(r.tx.usedIdx(), 2);
  advance(100);
  assert.equal(r.tx.usedIdx(), 3);
  assert.deepEqual([r.dev.counters().txFrames, r.dev.counters().txThrottled], [3, 2]);
  const got = new Uint8Array(100);
  for (let i = 0; i < 3; i++) assert.equal(native().tryReadv(r.peer, [got]), 72);
});

test('transmit: a bandwidth limit charges the frame without its header', () => {
  const r = rig({ tx: { bandwidth: { size: 100, refillTime: 1000 } } });
  r.rx.mem.write(BUF, Buffer.alloc(12 + 150, 0));
  r.tx.addChain([{ addr: BUF, len: 12 + 150, flags: 0 }]);
  r.tx.addChain([{ addr: BUF, len: 12 + 150, flags: 0 }]);
  r.dev.onQueueNotify(1);
  assert.equal(r.tx.usedIdx(), 1);
  advance(509); // 50 bytes in debt at 0.1 byte/ms, then one whole byte: 510 ms
  assert.equal(r.tx.usedIdx(), 1);
  advance(1);
  assert.equal(r.tx.usedIdx(), 2);
});

test('receive: past the budget the backend is not watched, frames wait in it and come after the timer', async () => {
  const r = rig({ rx: { ops: { size: 1, refillTime: 1000 } } });
  for (let i = 0; i < 3; i++) r.rx.addChain([{ addr: BUF + 0x1000 * i, len: 2048, flags: F_WRITE }]);
  r.dev.onQueueNotify(0);
  for (const fill of [0xa1, 0xa2]) {
    const frame = Buffer.alloc(12 + 60, fill);
    frame.fill(0, 0, 12);
    assert.equal(native().tryWritev(r.peer, [frame]), frame.length);
  }
  await turnsUntil(() => r.rx.usedIdx() === 1, 'the first frame');
  // The backend says the second frame is there, and the limiter holds it back: one wait, the backend not watched.
  await turnsUntil(() => r.dev.counters().rxThrottled === 1, 'the wait');
  assert.equal(r.polls.at(-1)! & POLL.READABLE, 0, 'not watching for readable while held back');
  assert.equal(r.rx.usedIdx(), 1);
  r.dev.setRateLimiter('tx', { ops: { size: 1, refillTime: 1 } }); // the other direction's change leaves rx waiting
  advance(999);
  assert.equal(r.rx.usedIdx(), 1);
  advance(1);
  assert.equal(r.rx.usedIdx(), 2);
  assert.equal(r.rx.mem.readU8(BUF + 0x1000 + 12), 0xa2);
  assert.deepEqual([r.dev.counters().rxFrames, r.dev.counters().rxBytes], [2, 120]);
  assert.ok(r.polls.at(-1)! & POLL.READABLE, 'watched again: the next frame, if one comes, starts the next wait');
  assert.equal(r.dev.counters().rxThrottled, 1, 'no frame waited after the second');
  assert.deepEqual(r.dev.rateLimiter('rx'), { ops: { size: 1, refillTime: 1000 } });
});
