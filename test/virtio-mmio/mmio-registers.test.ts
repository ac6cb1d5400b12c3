import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import pino from 'pino';
import { RngDevice } from '../../src/devices/rng';
import { CFG, InputDevice } from '../../src/devices/input';
import { MmioRegisters } from '../../src/virtio-mmio/mmio-registers';
import { REG, STATUS } from '../../src/virtio-mmio/registers';
import { createTransportState, type TransportEvent } from '../../src/virtio-mmio/state';
import { MmioTransport } from '../../src/virtio-mmio/transport';
import { F_WRITE, MockDriver } from './mock-driver';

/** deferEvents: events wait in `events` until deliver(), as they wait for the main thread at run time. */
function rig(opts: { deferEvents?: boolean } = {}) {
  const d = new MockDriver(16);
  const device = new RngDevice();
  let irqs = 0;
  const t = new MmioTransport(device, createTransportState(), { memory: d.mem, raiseIrq: () => { irqs++; }, log: pino({ level: 'silent' }) });
  const events: TransportEvent[] = [];
  const pending: TransportEvent[] = [];
  const deliver = (): void => { for (const e of pending.splice(0)) t.handleEvent(e); };
  const regs = new MmioRegisters(t.state, {
    post: (e) => { events.push(e); if (opts.deferEvents) pending.push(e); else t.handleEvent(e); },
  });
  const rd = (off: number): number => { const b = new Uint8Array(4); regs.read(off, b); return new DataView(b.buffer).getUint32(0, true); };
  const wr = (off: number, v: number): void => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); regs.write(off, b); };
  return { d, device, t, regs, rd, wr, events, deliver, irqs: () => irqs };
}

function negotiate(r: ReturnType<typeof rig>, driverFeaturesHi = 1): void {
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE);
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  r.wr(REG.DRIVER_FEATURES_SEL, 1);
  r.wr(REG.DRIVER_FEATURES, driverFeaturesHi);
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
}

/** Sets up queue 0 at the mock driver's rings and sets DRIVER_OK. */
function readyQueue(r: ReturnType<typeof rig>): void {
  r.wr(REG.QUEUE_NUM, 16);
  r.wr(REG.QUEUE_DESC_LOW, 0x1000);
  r.wr(REG.QUEUE_DRIVER_LOW, 0x2000);
  r.wr(REG.QUEUE_DEVICE_LOW, 0x3000);
  r.wr(REG.QUEUE_READY, 1);
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
}

test('identifies itself as a version-2 virtio-mmio rng and offers VERSION_1', () => {
  const r = rig();
  assert.equal(r.rd(REG.MAGIC), 0x74726976);
  assert.equal(r.rd(REG.VERSION), 2);
  assert.equal(r.rd(REG.DEVICE_ID), 4);
  r.wr(REG.DEVICE_FEATURES_SEL, 1);
  assert.equal(r.rd(REG.DEVICE_FEATURES) & 1, 1);
  assert.equal(r.rd(REG.QUEUE_NUM_MAX), 256);
});

test('every shared memory region reads as absent (length and base -1), and selecting one is not a bad access', () => {
  const r = rig();
  for (const id of [0, 1, 255]) {
    r.wr(REG.SHM_SEL, id);
    for (const reg of [REG.SHM_LEN_LOW, REG.SHM_LEN_HIGH, REG.SHM_BASE_LOW, REG.SHM_BASE_HIGH]) {
      assert.equal(r.rd(reg), 0xffff_ffff, `register 0x${reg.toString(16)} for region ${id}`);
    }
  }
  assert.equal(r.t.badAccesses, 0);
});

test('FEATURES_OK is refused for features the device did not offer, or without VERSION_1', () => {
  const a = rig();
  negotiate(a, 1 | 0x100);
  assert.equal(a.rd(REG.STATUS) & STATUS.FEATURES_OK, 0);
  const b = rig();
  negotiate(b, 0);
  assert.equal(b.rd(REG.STATUS) & STATUS.FEATURES_OK, 0);
  const c = rig();
  negotiate(c);
  assert.ok(c.rd(REG.STATUS) & STATUS.FEATURES_OK);
});

test('a full bring-up: queue setup, DRIVER_OK, a request served with an interrupt, ACK, then reset', () => {
  const r = rig();
  negotiate(r);
  r.wr(REG.QUEUE_SEL, 0);
  r.wr(REG.QUEUE_NUM, 12); // not a power of two: ignored
  r.wr(REG.QUEUE_NUM, 16);
  r.wr(REG.QUEUE_DESC_LOW, 0x1000);
  r.wr(REG.QUEUE_DRIVER_LOW, 0x2000);
  r.wr(REG.QUEUE_DEVICE_LOW, 0x3000);
  r.wr(REG.QUEUE_READY, 1);
  r.wr(REG.QUEUE_DESC_LOW, 0x5000); // ignored: the queue is ready
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  assert.equal(r.t.badAccesses, 2);
  r.d.addChain([{ addr: 0x10000, len: 32, flags: F_WRITE }]);
  r.wr(REG.QUEUE_NOTIFY, 0);
  assert.equal(r.d.usedIdx(), 1);
  assert.equal(r.d.used(0).len, 32);
  assert.notDeepEqual(Array.from(r.d.mem.read(0x10000, 32)), new Array(32).fill(0));
  assert.equal(r.irqs(), 1);
  assert.equal(r.rd(REG.INTERRUPT_STATUS), 1);
  r.wr(REG.INTERRUPT_ACK, 1);
  assert.equal(r.rd(REG.INTERRUPT_STATUS), 0);
  r.wr(REG.STATUS, 0);
  assert.equal(r.rd(REG.STATUS), 0);
  assert.equal(r.rd(REG.QUEUE_READY), 0);
  assert.deepEqual(r.events.at(-1), { kind: 'reset', seq: 1 });
});

/** A vCPU thread's register side in a worker: writes Status 0, then reports whether the device had stopped. */
const RESET_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { MmioRegisters } = require(workerData.module);
const regs = new MmioRegisters(workerData.state, { post: (e) => parentPort.postMessage(e) });
const started = Date.now();
regs.write(${REG.STATUS}, new Uint8Array(4));
const status = new Uint8Array(4);
regs.read(${REG.STATUS}, status);
parentPort.postMessage({ ms: Date.now() - started, deviceStopped: Atomics.load(new Int32Array(workerData.flag), 0), status: status[0] });
`;

interface ResetOutcome { ms: number; deviceStopped: number; status: number }

/** A running rng device reset from a worker thread; the main thread handles the reset event after `delayMs`. */
async function resetFromWorker(delayMs: number | undefined): Promise<ResetOutcome & { r: ReturnType<typeof rig> }> {
  const r = rig();
  negotiate(r);
  readyQueue(r);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const reset = r.device.reset.bind(r.device);
  r.device.reset = () => { reset(); Atomics.store(flag, 0, 1); };
  const w = new Worker(RESET_WORKER, { eval: true, workerData: {
    module: require.resolve('../../src/virtio-mmio/mmio-registers'), state: r.t.state, flag: flag.buffer } });
  try {
    const outcome = await new Promise<ResetOutcome>((resolve, reject) => {
      w.on('message', (m: TransportEvent | ResetOutcome) => {
        if ('kind' in m) { if (delayMs !== undefined) setTimeout(() => r.t.handleEvent(m), delayMs); } else resolve(m);
      });
      w.on('error', reject);
    });
    return { ...outcome, r };
  } finally {
    await w.terminate();
  }
}

test('a Status write of 0 returns, and Status reads 0, only once the main thread has stopped the device', async () => {
  const o = await resetFromWorker(100);
  assert.equal(o.deviceStopped, 1);
  assert.equal(o.status, 0);
  assert.ok(o.ms >= 90, `the write returned after ${o.ms} ms`);
});

test('a reset the main thread does not get to holds the vCPU for a bounded time, and Status stays non-zero', async () => {
  const o = await resetFromWorker(undefined);
  assert.equal(o.deviceStopped, 0);
  assert.equal(o.status, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  assert.ok(o.ms >= 900 && o.ms < 5000, `the write returned after ${o.ms} ms`);
  o.r.t.handleEvent({ kind: 'reset', seq: 1 });
  assert.equal(o.r.rd(REG.STATUS), 0);
});

test('a chain whose notify arrived before the DRIVER_OK event is served when the device activates', () => {
  const r = rig({ deferEvents: true });
  negotiate(r);
  readyQueue(r);
  r.d.addChain([{ addr: 0x10000, len: 32, flags: F_WRITE }]);
  // The ioeventfd path: the notify reaches the transport while the status event still waits.
  r.t.notify(0);
  assert.equal(r.d.usedIdx(), 0);
  r.deliver();
  assert.equal(r.d.usedIdx(), 1);
  assert.equal(r.d.used(0).len, 32);
  assert.equal(r.device.counters().requests, 1);
});

test('a malformed request sets DEVICE_NEEDS_RESET and raises a config interrupt; nothing throws', () => {
  const r = rig();
  negotiate(r);
  readyQueue(r);
  r.d.addChain([{ addr: 0xdead_0000, len: 32, flags: F_WRITE }]);
  r.wr(REG.QUEUE_NOTIFY, 0);
  assert.ok(r.rd(REG.STATUS) & STATUS.DEVICE_NEEDS_RESET);
  assert.equal(r.rd(REG.INTERRUPT_STATUS) & 2, 2);
  assert.equal(r.device.counters().errors, 1);
});

test('ring addresses outside RAM at DRIVER_OK cost the device, not the VMM', () => {
  const r = rig();
  negotiate(r);
  r.wr(REG.QUEUE_NUM, 16);
  r.wr(REG.QUEUE_DESC_LOW, 0x1000);
  r.wr(REG.QUEUE_DESC_HIGH, 0x7);
  r.wr(REG.QUEUE_READY, 1);
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  assert.ok(r.rd(REG.STATUS) & STATUS.DEVICE_NEEDS_RESET);
});

test('wrong-width register accesses and status bits cleared without a reset are ignored and counted', () => {
  const r = rig();
  const b = new Uint8Array(2);
  r.regs.read(REG.MAGIC, b);
  assert.deepEqual(Array.from(b), [0, 0]);
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE);
  assert.equal(r.rd(REG.STATUS), STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  assert.equal(r.t.badAccesses, 2);
});

test('a reset completes only when the device says nothing it started can still write guest memory', async () => {
  const r = rig();
  negotiate(r);
  readyQueue(r);
  let quiet!: () => void;
  (r.device as unknown as { quiesce: () => Promise<void> }).quiesce = () => new Promise<void>((resolve) => { quiet = resolve; });
  r.t.handleEvent({ kind: 'reset', seq: 1 });
  await new Promise((resolve) => setImmediate(resolve));
  assert.notEqual(r.rd(REG.STATUS), 0, 'Status stays as it was while requests are in flight');
  quiet();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(r.rd(REG.STATUS), 0);
});

test('a config write is applied before the vCPU reads again: the read after it sees what it selected', () => {
  const d = new MockDriver(16);
  const t = new MmioTransport(new InputDevice('keyboard'), createTransportState(),
    { memory: d.mem, raiseIrq: () => undefined, log: pino({ level: 'silent' }) });
  // A main thread elsewhere: the event is handled a little later, while the writing vCPU waits for it.
  const posted: TransportEvent[] = [];
  const regs = new MmioRegisters(t.state, { post: (e) => { posted.push(e); queueMicrotask(() => t.handleEvent(e)); } });
  const syncRegs = new MmioRegisters(t.state, { post: (e) => { posted.push(e); t.handleEvent(e); } });
  syncRegs.write(REG.CONFIG, Uint8Array.of(CFG.ID_NAME));
  const size = new Uint8Array(1);
  syncRegs.read(REG.CONFIG + 2, size);
  assert.equal(size[0], 'tsvmm virtio keyboard'.length);
  assert.deepEqual(posted.map((e) => e.kind === 'config-write' && e.seq), [1]);
  // Nobody answers on this thread while it waits: the write gives up after its limit and the vCPU goes on.
  const started = Date.now();
  regs.write(REG.CONFIG + 1, Uint8Array.of(3));
  assert.ok(Date.now() - started >= 900, 'waited for the main thread');
});
