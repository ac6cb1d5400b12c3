// The reserve of vCPU threads: it keeps the number asked for started, hands one out per vCPU and starts its
// replacement on a later turn of the event loop, and 0 ends the idle ones. The API checks the count.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { reserveVcpuThreads } from '../../src/api/create';
import { setVcpuThreadReserve, takeVcpuWorker, vcpuThreadReserve } from '../../src/vmm/vcpu-prestart';
import { until } from '../helpers/wait';

test('a reserve of vCPU threads refills behind each one taken, and 0 ends the idle ones', async () => {
  setVcpuThreadReserve(2);
  try {
    assert.deepEqual({ waiting: vcpuThreadReserve().waiting, reserve: 2 }, { waiting: 2, reserve: 2 });
    await until(() => vcpuThreadReserve().online === 2, 'both reserved threads online', 60_000);
    const taken = takeVcpuWorker();
    assert.equal(vcpuThreadReserve().waiting, 1, 'the one taken is no longer waiting');
    await until(() => vcpuThreadReserve().waiting === 2, 'its replacement started', 60_000);
    const ended = once(taken, 'exit');
    await taken.terminate();
    await ended;
  } finally {
    setVcpuThreadReserve(0);
  }
  assert.deepEqual(vcpuThreadReserve(), { waiting: 0, online: 0, reserve: 0 });
});

test('reserveVcpuThreads takes a whole number from 0 to 64', () => {
  assert.throws(() => reserveVcpuThreads(-1), { code: 'ERR_OUT_OF_RANGE', message: /"count"/ });
  assert.throws(() => reserveVcpuThreads(65), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => reserveVcpuThreads(1.5), /"count"/);
  reserveVcpuThreads(0);
});
