import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { createPool, SandboxPool } from '../../src/api/pool';
import type { Sandbox } from '../../src/api/sandbox';

/** A boot the test finishes by hand: resolve() with a fake sandbox, or fail(). */
interface PendingBoot { resolve: () => FakeSandbox; fail: (e: Error) => void }
interface FakeSandbox { id: number; vm: { state: string }; closed: boolean; close(): Promise<void> }

function rig(size: number, maxBooting = size) {
  const boots: PendingBoot[] = [];
  let next = 0;
  const pool = new SandboxPool(size, maxBooting, () => new Promise<Sandbox>((resolve, reject) => {
    boots.push({
      resolve: () => {
        const s: FakeSandbox = { id: next++, vm: { state: 'running' }, closed: false,
          close() { this.closed = true; this.vm.state = 'exited'; return Promise.resolve(); } };
        resolve(s as unknown as Sandbox);
        return s;
      },
      fail: reject,
    });
  }));
  /** Lets the pool's promise callbacks run. */
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
  return { pool, boots, settle };
}

test('boots size sandboxes, at most maxBooting at a time, and keeps them idle', async () => {
  const r = rig(3, 2);
  assert.equal(r.boots.length, 2, 'two boots at once');
  r.boots[0]!.resolve();
  await r.settle();
  assert.equal(r.boots.length, 3, 'the third starts when one finishes');
  r.boots[1]!.resolve();
  r.boots[2]!.resolve();
  await r.settle();
  assert.deepEqual(r.pool.stats(), { ready: 3, booting: 0, waiting: 0, acquired: 0, bootFailures: 0 });
  assert.equal(r.boots.length, 3, 'nothing more boots while the pool is full');
});

test('acquire hands out a ready sandbox at once and boots its replacement', async () => {
  const r = rig(1);
  const first = r.boots[0]!.resolve();
  await r.settle();
  const got = await r.pool.acquire();
  assert.equal((got as unknown as FakeSandbox).id, first.id);
  assert.equal(r.boots.length, 2, 'a replacement is booting');
  assert.equal(r.pool.stats().acquired, 1);
});

test('acquire waits for the next boot when none is ready; a waiter makes the pool boot more', async () => {
  const r = rig(1);
  const a = r.pool.acquire();
  const b = r.pool.acquire();
  await r.settle();
  assert.equal(r.pool.stats().waiting, 2);
  r.boots[0]!.resolve();
  await r.settle();
  assert.equal(r.boots.length, 2, 'booting for the second waiter');
  r.boots[1]!.resolve();
  const [x, y] = await Promise.all([a, b]) as unknown as FakeSandbox[];
  assert.deepEqual([x!.id, y!.id], [0, 1], 'first come, first served');
});

test('a sandbox that ended while idle is not handed out', async () => {
  const r = rig(2);
  const dead = r.boots[0]!.resolve();
  r.boots[1]!.resolve();
  await r.settle();
  dead.vm.state = 'exited';
  const got = await r.pool.acquire() as unknown as FakeSandbox;
  assert.equal(got.id, 1);
  assert.equal(dead.closed, true, 'the dead one was closed');
});

test('a failed boot reaches the oldest waiter; boots that keep failing stop until acquire asks again', async () => {
  const r = rig(1);
  const waiting = r.pool.acquire();
  r.boots[0]!.fail(new Error('no kernel'));
  await assert.rejects(waiting, /no kernel/);
  await r.settle();
  r.boots[1]!.fail(new Error('no kernel'));
  await r.settle();
  r.boots[2]!.fail(new Error('no kernel'));
  await r.settle();
  assert.equal(r.boots.length, 3, 'paused after three failures in a row');
  assert.equal(r.pool.stats().bootFailures, 3);
  const again = r.pool.acquire();
  assert.equal(r.boots.length, 4, 'asking again boots again');
  r.boots[3]!.resolve();
  assert.equal((await again as unknown as FakeSandbox).id, 0);
});

test('acquire gives up after timeoutMs, naming it; close rejects waiters and refuses more', async () => {
  const r = rig(1, 1);
  await assert.rejects(r.pool.acquire({ timeoutMs: 1 }), { code: 'ERR_VM_STATE', message: /within 1 ms \(timeoutMs\)/ });
  const waiting = assert.rejects(r.pool.acquire({ timeoutMs: 0 }), { code: 'ERR_VM_STATE', message: /closed/ });
  const closing = r.pool.close();
  await waiting;
  await assert.rejects(r.pool.acquire(), { code: 'ERR_VM_STATE', message: 'the pool is closed' });
  const late = r.boots[0]!.resolve();
  await closing;
  assert.equal(late.closed, true, 'a boot that lands after close is closed, and close() waits for it');
});

test('close closes the idle sandboxes; handed-out ones are the caller\'s', async () => {
  const r = rig(2);
  const out = r.boots[0]!.resolve();
  const idle = r.boots[1]!.resolve();
  await r.settle();
  assert.equal(await r.pool.acquire(), out as unknown as Sandbox);
  const closing = r.pool.close();
  const replacement = r.boots[2]!.resolve();
  await closing;
  assert.equal(idle.closed, true);
  assert.equal(replacement.closed, true);
  assert.equal(out.closed, false);
});

test('createPool checks its options before booting anything', () => {
  assert.throws(() => createPool(undefined as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => createPool({ size: 0 }), { code: 'ERR_OUT_OF_RANGE', message: /"size"/ });
  assert.throws(() => createPool({ size: 2, maxBooting: 100 }), { code: 'ERR_OUT_OF_RANGE', message: /"maxBooting"/ });
  assert.throws(() => createPool({ size: 1, bogus: 1 } as never), { code: 'ERR_INVALID_ARG_VALUE', message: /bogus/ });
  assert.throws(() => createPool({ size: 1, execTimeoutMs: -1 }), { code: 'ERR_OUT_OF_RANGE' });
});

test('a pool from a snapshot checks the folder and takes only what restoreSandbox takes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-pool-'));
  try {
    assert.throws(() => createPool({ size: 1, snapshot: '' }), { code: 'ERR_INVALID_ARG_VALUE', message: /"snapshot"/ });
    assert.throws(() => createPool({ size: 1, snapshot: dir }),
      { code: 'ERR_INVALID_ARG_VALUE', message: /has no snapshot\.json/ });
    fs.writeFileSync(path.join(dir, 'snapshot.json'), '{}');
    // The machine is the snapshot's: its size and image cannot be asked for.
    assert.throws(() => createPool({ size: 1, snapshot: dir, memory: '256M' }),
      { code: 'ERR_INVALID_ARG_VALUE', message: /memory/ });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
