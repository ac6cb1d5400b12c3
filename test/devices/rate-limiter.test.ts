import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter, TokenBucket } from '../../src/devices/rate-limiter';

/** A clock the test moves by hand. */
function fakeClock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

test('a bucket starts full and refills in proportion to the time passed, never past its size', () => {
  const c = fakeClock();
  const b = new TokenBucket({ size: 1000, refillTime: 1000 }, c.now);
  assert.equal(b.available(), 1000);
  b.charge(600);
  assert.equal(b.available(), 400);
  c.advance(250);
  assert.equal(b.available(), 650);
  c.advance(10_000);
  assert.equal(b.available(), 1000, 'capped at size');
});

test('a request larger than the bucket goes through and leaves a debt that the refill pays back first', () => {
  const c = fakeClock();
  const b = new TokenBucket({ size: 1000, refillTime: 1000 }, c.now);
  assert.equal(b.msUntilReady(), 0);
  b.charge(1500);
  assert.equal(b.available(), -500);
  // One whole token past the debt: 501 ms at a token a millisecond.
  assert.equal(b.msUntilReady(), 501);
  c.advance(500);
  assert.equal(b.available(), 0);
  assert.equal(b.msUntilReady(), 1, 'not in debt, but no whole token yet');
  c.advance(1);
  assert.equal(b.msUntilReady(), 0);
});

test('msUntilReady rounds up, so a timer set for it never fires early', () => {
  const c = fakeClock();
  const b = new TokenBucket({ size: 3, refillTime: 1000 }, c.now);
  b.charge(3);
  assert.equal(b.msUntilReady(), 334); // 333.3... ms for one token
  c.advance(334);
  assert.equal(b.msUntilReady(), 0);
});

test('the one-time burst is spent before the regular budget and never comes back', () => {
  const c = fakeClock();
  const b = new TokenBucket({ size: 100, oneTimeBurst: 50, refillTime: 100 }, c.now);
  assert.equal(b.available(), 150);
  b.charge(30);
  assert.equal(b.available(), 120, 'from the burst');
  c.advance(100);
  assert.equal(b.available(), 120, 'the regular budget was full, so nothing refilled');
  b.charge(70);
  assert.equal(b.available(), 50, '20 from the burst, 50 from the budget');
  c.advance(1000);
  assert.equal(b.available(), 100, 'refilled to size, the burst gone');
});

test('a charge larger than the burst left takes the rest from the regular budget, into debt if need be', () => {
  const c = fakeClock();
  const b = new TokenBucket({ size: 10, oneTimeBurst: 5, refillTime: 1000 }, c.now);
  b.charge(4);
  assert.equal(b.available(), 11, 'burst 1 left, budget 10');
  b.charge(20); // 1 from the burst, 19 from the budget
  assert.equal(b.available(), -9);
  assert.equal(b.msUntilReady(), 1000, 'ten tokens at 100 ms each');
});

test('a limiter waits for the slower of its buckets and charges each in its unit', () => {
  const c = fakeClock();
  const l = new RateLimiter({ bandwidth: { size: 1000, refillTime: 1000 }, ops: { size: 2, refillTime: 1000 } }, c.now);
  l.charge(100);
  l.charge(100);
  assert.equal(l.ops!.available(), 0);
  assert.equal(l.bandwidth!.available(), 800);
  assert.equal(l.msUntilReady(), 500, 'ops: one request every 500 ms');
  c.advance(500);
  assert.equal(l.msUntilReady(), 0);
  l.charge(3000, 1);
  assert.equal(l.msUntilReady(), 2001, 'bytes: refilled to 1000, 2000 in debt now, then a whole token');
  l.charge(0, 0);
  assert.equal(l.bandwidth!.available(), -2000, 'nothing charged');
});

test('a limiter with no bucket is none', () => {
  assert.equal(RateLimiter.from(undefined), undefined);
  assert.equal(RateLimiter.from(null), undefined);
  assert.equal(RateLimiter.from({}), undefined);
  const l = RateLimiter.from({ ops: { size: 1, refillTime: 10 } });
  assert.ok(l);
  assert.equal(l.bandwidth, undefined);
  assert.equal(l.msUntilReady(), 0);
});
