// Millions of requests through one EVENT_IDX queue, the driver in a worker_thread at full speed and the device on
// this thread, over a memfd both map (two external ArrayBuffers over the same pages, as at run time). A lost
// wakeup on either side leaves both waiting; each wait is bounded, and the failure says who waited for what.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as path from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Virtqueue } from '../../src/virtio-mmio/queue';
import { GuestMemory } from '../../src/base/guest-memory';
import { native } from '../../src/base/native';
import { CTL, CTL_WORDS, RING, type StressDriverData } from './stress-driver';

const REQUESTS = Number(process.env.TSVMM_QUEUE_STRESS_REQUESTS ?? 2_000_000);
const SIZE = 256;
const MEM_BYTES = 1 << 20;
/** Far longer than either side ever waits for the other unless a wakeup was lost. */
const WAIT_MS = 10_000;

function runDevice(mem: GuestMemory, ctl: Int32Array): { irqs: number; idleWaits: number } {
  const q = new Virtqueue(mem, { size: SIZE, desc: BigInt(RING.DESC), avail: BigInt(RING.AVAIL), used: BigInt(RING.USED) },
    { eventIdx: true, indirect: false });
  const ring = mem.view(RING.AVAIL, 0x2000);
  const heads: number[] = [];
  let irqs = 0;
  let idleWaits = 0;
  for (;;) {
    const bell = Atomics.load(ctl, CTL.DOORBELL);
    // Take every chain before using any, as devices with requests in flight do: the avail_event a pop() stores
    // is then followed by no other fence before the next pop() reads the avail index.
    for (let c = q.pop(); c !== null; c = q.pop()) heads.push(c.head);
    for (const h of heads) q.pushUsed(h, RING.BUFFER_BYTES);
    if (heads.length > 0 && q.needsInterrupt()) {
      irqs++;
      Atomics.add(ctl, CTL.IRQ, 1);
      Atomics.notify(ctl, CTL.IRQ);
    }
    heads.length = 0;
    if (Atomics.load(ctl, CTL.DONE) !== 0) return { irqs, idleWaits };
    idleWaits++;
    if (Atomics.wait(ctl, CTL.DOORBELL, bell, WAIT_MS) === 'timed-out') {
      const at = (off: number): number => ring.getUint16(off, true);
      assert.fail(`device waited ${WAIT_MS} ms for a notify and none came: avail idx ${at(2)}, `
        + `avail_event ${at(0x1000 + 4 + 8 * SIZE)}, used idx ${at(0x1002)}, used_event ${at(4 + 2 * SIZE)}; `
        + `driver completed ${Atomics.load(ctl, CTL.COMPLETED)} of ${REQUESTS}, `
        + (Atomics.load(ctl, CTL.ASLEEP) ? 'asleep waiting for an interrupt' : 'not asleep'));
    }
  }
}

test(`EVENT_IDX under load: ${REQUESTS} requests from a driver thread, no lost notify or interrupt`, async (t) => {
  const n = native();
  const fd = n.memfdCreate('queue-stress', MEM_BYTES);
  const mem = new GuestMemory([{ gpa: 0, buffer: new n.SharedMapping(fd, MEM_BYTES).buffer! }]);
  const ctlBuffer = new SharedArrayBuffer(4 * CTL_WORDS);
  const ctl = new Int32Array(ctlBuffer);
  const data: StressDriverData = { fd, memBytes: MEM_BYTES, size: SIZE, total: REQUESTS, ctl: ctlBuffer, waitMs: WAIT_MS };
  const worker = new Worker(path.join(__dirname, 'stress-driver.js'), { workerData: data });
  const result = once(worker, 'message') as Promise<[{ error?: string }]>;
  const exited = once(worker, 'exit');
  try {
    await once(worker, 'online');
    const started = process.hrtime.bigint();
    const { irqs, idleWaits } = runDevice(mem, ctl);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const [{ error }] = await result;
    assert.equal(error, undefined, `the driver thread: ${error}`);
    assert.equal(Atomics.load(ctl, CTL.COMPLETED), REQUESTS);
    const notifies = Atomics.load(ctl, CTL.NOTIFIES);
    const sleeps = Atomics.load(ctl, CTL.SLEEPS);
    t.diagnostic(`${REQUESTS} requests in ${seconds.toFixed(2)} s (${Math.round(REQUESTS / seconds)}/s): `
      + `${notifies} notifies, ${irqs} interrupts, device idle ${idleWaits} times, driver asleep ${sleeps} times`);
  } finally {
    await worker.terminate();
    await exited;
    n.close(fd);
  }
});
