// The control queue: task management functions, with and without commands still on the thread pool, and
// asynchronous notification requests; a control request the device cannot read costs the guest the device.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { F_WRITE } from '../../virtio-mmio/mock-driver';
import { be16, be32, lun, withScsi } from './harness';

const TMF = { ABORT_TASK: 0, ABORT_TASK_SET: 1, CLEAR_ACA: 2, CLEAR_TASK_SET: 3, I_T_NEXUS_RESET: 4,
  LOGICAL_UNIT_RESET: 5, QUERY_TASK: 6, QUERY_TASK_SET: 7 } as const;
const COMPLETE = 0;
const SUCCEEDED = 10;
const REJECTED = 11;
const read10 = (lba: number, blocks: number): number[] => [0x28, 0, ...be32(lba), 0, ...be16(blocks), 0];

test('task management with nothing running: FUNCTION COMPLETE, CLEAR ACA rejected, LUN and target checked', async () => {
  await withScsi([{}], async (s) => {
    const want: [number, number][] = [[TMF.ABORT_TASK, COMPLETE], [TMF.ABORT_TASK_SET, COMPLETE],
      [TMF.CLEAR_ACA, REJECTED], [TMF.CLEAR_TASK_SET, COMPLETE], [TMF.I_T_NEXUS_RESET, COMPLETE],
      [TMF.LOGICAL_UNIT_RESET, COMPLETE], [TMF.QUERY_TASK, COMPLETE], [TMF.QUERY_TASK_SET, COMPLETE], [8, REJECTED],
      [0xffff_ffff, REJECTED]];
    for (const [subtype, response] of want) assert.equal(await s.tmf(subtype, lun(0), 1n), response, `subtype ${subtype}`);
    assert.equal(await s.tmf(TMF.LOGICAL_UNIT_RESET, lun(3)), 3, 'BAD_TARGET');
    assert.equal(await s.tmf(TMF.ABORT_TASK, [0, 0, 0, 0, 0, 0, 0, 0]), 3);
    assert.equal(await s.tmf(TMF.LOGICAL_UNIT_RESET, lun(0, 2)), 12, 'INCORRECT_LUN');
    assert.equal(await s.tmf(TMF.I_T_NEXUS_RESET, lun(0, 2)), COMPLETE, 'a nexus reset ignores the LUN');
    assert.equal(s.dev.counters().tmfs, want.length + 4);
    assert.deepEqual(s.failures, []);
  });
});

test('QUERY TASK finds a read on the thread pool; ABORT TASK and LOGICAL UNIT RESET answer after it completes', async () => {
  await withScsi([{}], async (s) => {
    const reading = s.post(read10(0, 64), { inLen: 64 * 512, tag: 7n });
    s.kick();
    assert.equal(s.dev.counters().inFlight, 1);
    // Both answered now, while the read is still running.
    assert.equal(await s.tmf(TMF.QUERY_TASK, lun(0), 7n), SUCCEEDED);
    assert.equal(await s.tmf(TMF.QUERY_TASK, lun(0), 8n), COMPLETE, 'another tag');
    assert.equal(await s.tmf(TMF.QUERY_TASK_SET, lun(0)), SUCCEEDED);
    s.usedLog.length = 0;
    const abort = s.tmf(TMF.ABORT_TASK, lun(0), 7n);
    const [read, response] = await Promise.all([reading, abort]);
    assert.equal(read.status, 0, 'the read completed as usual');
    assert.equal(response, COMPLETE);
    assert.deepEqual(s.usedLog, [2, 0], 'the read was given back before the abort');

    s.usedLog.length = 0;
    const again = s.post(read10(64, 64), { inLen: 64 * 512, tag: 9n });
    s.kick();
    const reset = await s.tmf(TMF.LOGICAL_UNIT_RESET, lun(0));
    assert.equal(reset, COMPLETE);
    assert.deepEqual(s.usedLog, [2, 0]);
    assert.equal((await again).status, 0);
    assert.equal(await s.tmf(TMF.QUERY_TASK_SET, lun(0)), COMPLETE, 'nothing running any more');
  });
});

test('AN_QUERY and AN_SUBSCRIBE: no events are reported', async () => {
  await withScsi([{}], async (s) => {
    assert.deepEqual(await s.an(1, lun(0), 0x7e), { eventActual: 0, response: 0 });
    assert.deepEqual(await s.an(2, lun(0), 0x10), { eventActual: 0, response: 0 });
    assert.deepEqual(await s.an(1, lun(9), 0x10), { eventActual: 0, response: 3 });
    assert.equal(s.dev.counters().anRequests, 3);
  });
});

test('a control request of an unknown type, or too short for its type, costs the guest the device', async () => {
  for (const [req, writable] of [[[3, 0, 0, 0], 8], [[0, 0, 0, 0, 5, 0, 0, 0], 1], [[0, 0], 1],
    [Array.from({ length: 24 }, () => 0), 0], [[1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 4]] as const) {
    await withScsi([{}], async (s) => {
      const descs = [{ addr: s.place(Buffer.from(req)), len: req.length, flags: 0 }];
      if (writable > 0) descs.push({ addr: s.alloc(writable), len: writable, flags: F_WRITE });
      void s.rigs[0]!.post(descs);
      s.kick(0);
      assert.equal(s.failures.length, 1, `request ${req.join(',')}`);
      assert.equal(s.rigs[0]!.d.usedIdx(), 0);
      assert.equal(s.dev.counters().errors, 1);
    });
  }
});
