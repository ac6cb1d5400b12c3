// Snapshots of the virtio-mmio side: a queue's indices and a transport's registers go out and come back into a new
// transport on the same guest memory, which serves the next chain where the old one stopped, with no new
// negotiation; what comes back from a file is checked field by field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { RngDevice } from '../../src/devices/rng';
import type { GuestMemory } from '../../src/base/guest-memory';
import { MmioRegisters } from '../../src/virtio-mmio/mmio-registers';
import { QueueError } from '../../src/virtio-mmio/queue';
import { REG, STATUS } from '../../src/virtio-mmio/registers';
import { createTransportState } from '../../src/virtio-mmio/state';
import { MmioTransport } from '../../src/virtio-mmio/transport';
import { parseTransportState, type TransportState } from '../../src/virtio-mmio/transport-state';
import { F_WRITE, MockDriver } from './mock-driver';

test('a queue\'s indices go out and into a new queue on the same rings, which pops the next chain', () => {
  const d = new MockDriver(16);
  const q = d.queue({ eventIdx: true, indirect: false });
  for (let i = 0; i < 3; i++) d.addChain([{ addr: 0x8000 + 0x100 * i, len: 16, flags: F_WRITE }]);
  for (let i = 0; i < 2; i++) q.pushUsed(q.pop()!.head, 16);
  assert.equal(q.needsInterrupt(), true);
  const saved = q.exportIndices();
  assert.deepEqual(saved, { nextAvail: 2, usedIdx: 2, lastSignalled: 2 });

  const again = d.queue({ eventIdx: true, indirect: false });
  again.importIndices(saved);
  assert.deepEqual(again.exportIndices(), saved);
  const chain = again.pop();
  assert.equal(chain?.head, 2);
  assert.equal(again.pop(), null);
  again.pushUsed(chain.head, 16);
  assert.equal(d.usedIdx(), 3);
});

test('unpop puts the last chain back, and importIndices refuses indices that cannot be', () => {
  const d = new MockDriver(16);
  const q = d.queue();
  d.addChain([{ addr: 0x8000, len: 16, flags: F_WRITE }]);
  const first = q.pop()!;
  q.unpop();
  assert.deepEqual(q.exportIndices(), { nextAvail: 0, usedIdx: 0, lastSignalled: 0 });
  assert.equal(q.pop()?.head, first.head);
  assert.throws(() => q.importIndices({ nextAvail: 70000, usedIdx: 0, lastSignalled: 0 }),
    (e: unknown) => e instanceof QueueError && /nextAvail 70000/.test(e.message));
  assert.throws(() => q.importIndices({ nextAvail: 17, usedIdx: 0, lastSignalled: 0 }), /more than the queue size/);
});

/** An rng on a transport and the register side a vCPU would use, on guest memory `mem`. */
function rig(mem: GuestMemory) {
  const device = new RngDevice();
  let irqs = 0;
  const t = new MmioTransport(device, createTransportState(), { memory: mem, raiseIrq: () => { irqs++; },
    log: pino({ level: 'silent' }) });
  const regs = new MmioRegisters(t.state, { post: (e) => t.handleEvent(e) });
  const rd = (off: number): number => {
    const b = new Uint8Array(4);
    regs.read(off, b);
    return new DataView(b.buffer).getUint32(0, true);
  };
  const wr = (off: number, v: number): void => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    regs.write(off, b);
  };
  return { device, t, rd, wr, irqs: () => irqs };
}

function runDriver(r: ReturnType<typeof rig>): void {
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE);
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
  r.wr(REG.DRIVER_FEATURES_SEL, 1);
  r.wr(REG.DRIVER_FEATURES, 1);
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
  r.wr(REG.QUEUE_NUM, 16);
  r.wr(REG.QUEUE_DESC_LOW, 0x1000);
  r.wr(REG.QUEUE_DRIVER_LOW, 0x2000);
  r.wr(REG.QUEUE_DEVICE_LOW, 0x3000);
  r.wr(REG.QUEUE_READY, 1);
  r.wr(REG.STATUS, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
}

test('a running transport\'s state, through JSON, makes a new transport serve on where the old one stopped', () => {
  const d = new MockDriver(16);
  const old = rig(d.mem);
  runDriver(old);
  d.addChain([{ addr: 0x8000, len: 32, flags: F_WRITE }]);
  old.wr(REG.QUEUE_NOTIFY, 0);
  assert.equal(d.usedIdx(), 1);
  old.wr(REG.QUEUE_SEL, 0);
  const saved = JSON.parse(JSON.stringify(old.t.exportState())) as unknown;

  const restored = rig(d.mem);
  restored.t.importState(parseTransportState('virtio0', saved, 4, [256]));
  assert.equal(restored.t.running, true);
  const driverOk = STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK;
  assert.equal(restored.rd(REG.STATUS), driverOk);
  assert.equal(restored.rd(REG.QUEUE_READY), 1);
  assert.equal(restored.rd(REG.QUEUE_DESC_LOW), 0x1000);
  assert.equal(restored.rd(REG.CONFIG_GENERATION), old.rd(REG.CONFIG_GENERATION));
  assert.deepEqual(restored.t.exportState(), saved);

  // No renegotiation: the next chain is served at its notify, into the next used slot.
  d.addChain([{ addr: 0x9000, len: 32, flags: F_WRITE }]);
  restored.wr(REG.QUEUE_NOTIFY, 0);
  assert.equal(d.usedIdx(), 2);
  assert.deepEqual(d.used(1), { id: 1, len: 32 });
  assert.equal(restored.device.counters().requests, 1);
});

test('a transport whose driver had not started, or needed a reset, is not activated by its state', () => {
  const d = new MockDriver(16);
  const fresh = rig(d.mem);
  const idle = fresh.t.exportState();
  assert.ok(idle.queues.every((q) => q.indices === null));
  const r = rig(d.mem);
  r.t.importState({ ...idle, status: STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK |
    STATUS.DEVICE_NEEDS_RESET });
  assert.equal(r.t.running, false);
  assert.throws(() => r.t.importState(idle), /fresh transport/);
});

test('a saved transport state is checked field by field', () => {
  const good = rig(new MockDriver(16).mem).t.exportState();
  const bad = (edit: (s: TransportState) => unknown, pattern: RegExp): void => {
    const s = structuredClone(good);
    assert.throws(() => parseTransportState('virtio0', edit(s) ?? s, 4, [256]), pattern);
  };
  bad((s) => ({ ...s, deviceType: 19 }), /virtio0\.deviceType is 19, but the device is type 4/);
  bad((s) => { s.status = -1; }, /virtio0\.status is -1/);
  bad((s) => { s.queues = []; }, /virtio0\.queues must list the device's 1 queues/);
  bad((s) => { s.queues[0]!.num = 12; }, /virtio0\.queues\[0\]\.num is 12/);
  bad((s) => { s.queues[0]!.ready = 2; }, /queues\[0\]\.ready is 2/);
  bad((s) => { s.queues[0]!.indices = { nextAvail: 1, usedIdx: 0x10000, lastSignalled: 0 }; }, /indices\.usedIdx/);
  bad(() => 'nope', /virtio0 is not an object/);
  assert.deepEqual(parseTransportState('virtio0', good, 4, [256]), good);
});
