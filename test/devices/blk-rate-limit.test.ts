// A disk's rate limiter: requests past the budget stay on the ring until the limiter's timer says they may go.
// The limiter's clock and the device's timers are the test's (mock timers), so nothing here waits for real time.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { F_WRITE } from '../virtio-mmio/mock-driver';
import { DATA, HDR, STATUS, T, setup } from './blk-harness';

let clock = 0;
const now = (): number => clock;
/** Moves the limiter's clock and the device's timers on together. */
const advance = (ms: number): void => {
  clock += ms;
  mock.timers.tick(ms);
};

beforeEach(() => {
  clock = 0;
  mock.timers.enable({ apis: ['setTimeout'] });
});
afterEach(() => mock.timers.reset());

/** Waits for what happens off the main thread (a read on the thread pool), turn by turn: no timer is involved. */
async function turnsUntil(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), `never saw ${what}`);
}

/** Makes `count` reads of `bytes` each available at once and notifies once. */
function queueReads(s: ReturnType<typeof setup>, count: number, bytes: number): void {
  s.header(T.IN, 0);
  for (let i = 0; i < count; i++) {
    s.d.addChain([
      { addr: HDR, len: 16, flags: 0 },
      { addr: DATA + i * bytes, len: bytes, flags: F_WRITE },
      { addr: STATUS + i, len: 1, flags: F_WRITE },
    ]);
  }
  s.dev.onQueueNotify(0);
}

test('an ops limit: requests past the budget wait on the ring, the wait is counted, the timer serves them', async () => {
  const s = setup({ rateLimiter: { ops: { size: 2, refillTime: 1000 } } }, 0n, { now });
  try {
    queueReads(s, 3, 512);
    await turnsUntil(() => s.d.usedIdx() === 2, 'the first two requests');
    assert.deepEqual([s.dev.counters().requests, s.dev.counters().throttled], [2, 1]);
    s.dev.onQueueNotify(0); // the guest notifies again meanwhile: still waiting, not a second wait
    advance(499);
    assert.deepEqual([s.dev.counters().requests, s.dev.counters().throttled], [2, 1]);
    advance(1); // one request per 500 ms
    await turnsUntil(() => s.d.usedIdx() === 3, 'the third request');
    assert.equal(s.d.mem.readU8(STATUS + 2), 0);
    assert.equal(s.dev.counters().throttled, 1);
  } finally { s.cleanup(); }
});

test('a bandwidth limit charges a read its data bytes; one larger than the bucket goes, the next waits for the debt', async () => {
  const s = setup({ rateLimiter: { bandwidth: { size: 1024, refillTime: 1000 } } }, 0n, { now });
  try {
    queueReads(s, 2, 4096);
    await turnsUntil(() => s.d.usedIdx() === 1, 'the first read');
    assert.equal(s.dev.counters().throttled, 1);
    // 3072 bytes in debt at 1.024 bytes a millisecond, and one whole byte more: 3000.98 ms.
    advance(3000);
    assert.equal(s.dev.counters().requests, 1);
    advance(1);
    await turnsUntil(() => s.d.usedIdx() === 2, 'the second read');
    assert.equal(s.dev.counters().readBytes, 8192);
  } finally { s.cleanup(); }
});

test('removing the limiter at run time serves what waited at once; a reset drops the wait', async () => {
  const s = setup({ rateLimiter: { ops: { size: 1, refillTime: 60_000 } } }, 0n, { now });
  try {
    assert.deepEqual(s.dev.rateLimiter, { ops: { size: 1, refillTime: 60_000 } });
    queueReads(s, 2, 512);
    await turnsUntil(() => s.d.usedIdx() === 1, 'the first request');
    s.dev.setRateLimiter(undefined);
    assert.equal(s.dev.rateLimiter, undefined);
    mock.timers.tick(1);
    await turnsUntil(() => s.d.usedIdx() === 2, 'the second request');
    s.dev.setRateLimiter({ ops: { size: 1, refillTime: 60_000 } });
    queueReads(s, 2, 512);
    await turnsUntil(() => s.d.usedIdx() === 3, 'a fresh bucket\'s first request');
    assert.equal(s.dev.counters().throttled, 2);
    s.dev.reset();
    advance(60_000); // the wait's timer is gone: nothing is served for the old driver
    assert.equal(s.d.usedIdx(), 3);
  } finally { s.cleanup(); }
});
