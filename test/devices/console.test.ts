import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsoleDevice } from '../../src/devices/console';
import { Virtqueue } from '../../src/virtio-mmio/queue';
import { F_WRITE, MockDriver, mockContext } from '../virtio-mmio/mock-driver';

function setup() {
  const rx = new MockDriver(16);
  // the transmit queue's rings sit elsewhere in the same memory
  const txLayout = { size: 16, desc: 0x40000n, avail: 0x41000n, used: 0x42000n };
  const out: Buffer[] = [];
  const dev = new ConsoleDevice((c) => out.push(c));
  const rxq = rx.queue();
  const txq = new Virtqueue(rx.mem, txLayout, { eventIdx: false, indirect: false });
  const ctx = mockContext(dev, { memory: rx.mem, queues: [rxq, txq], features: 0n });
  return { rx, dev, out, ctx, txLayout, failures: ctx.failures, signalled: () => ctx.notified[0]! + ctx.notified[1]! };
}

test('guest output on the transmit queue reaches the sink', () => {
  const s = setup();
  s.dev.activate(s.ctx);
  s.rx.mem.write(0x50000, Buffer.from('hello hvc\n'));
  s.rx.writeDesc(0x40000, 0, { addr: 0x50000, len: 10, flags: 0 });
  s.rx.mem.writeU16(0x41004, 0);
  s.rx.mem.writeU16(0x41002, 1);
  s.dev.onQueueNotify(1);
  assert.equal(Buffer.concat(s.out).toString(), 'hello hvc\n');
  assert.equal(s.rx.mem.readU16(0x42002), 1);
  assert.equal(s.signalled(), 1);
});

test('host input waits for receive buffers, then fills them in order', () => {
  const s = setup();
  s.dev.activate(s.ctx);
  s.dev.input(Buffer.from('abc'));
  s.dev.input(Buffer.from('def'));
  assert.equal(s.rx.usedIdx(), 0);
  s.rx.addChain([{ addr: 0x60000, len: 4, flags: F_WRITE }]);
  s.rx.addChain([{ addr: 0x61000, len: 4, flags: F_WRITE }]);
  s.dev.onQueueNotify(0);
  assert.equal(Buffer.from(s.rx.mem.read(0x60000, 4)).toString(), 'abcd');
  assert.deepEqual(s.rx.used(1), { id: 1, len: 2 });
  assert.equal(Buffer.from(s.rx.mem.read(0x61000, 2)).toString(), 'ef');
  assert.equal(s.dev.counters().inputBytes, 6);
});

test('input beyond the pending limit is dropped and counted; a bad transmit chain costs the device', () => {
  const s = setup();
  s.dev.input(Buffer.alloc(70 * 1024));
  assert.equal(s.dev.counters().droppedInput, 6 * 1024);
  s.dev.activate(s.ctx);
  s.rx.writeDesc(0x40000, 0, { addr: 0x7fff_0000, len: 64, flags: 0 });
  s.rx.mem.writeU16(0x41002, 1);
  s.dev.onQueueNotify(1);
  assert.equal(s.failures.length, 1);
});

test('an output chain longer than a driver writes gives the sink its first 64 KiB; the rest is counted', () => {
  const s = setup();
  s.dev.activate(s.ctx);
  s.rx.mem.fill(0x50000, 0x30000, 0x61);
  // Three 192 KiB descriptors over the same bytes: 576 KiB of output in one chain.
  for (let i = 0; i < 3; i++) s.rx.writeDesc(0x40000, i, { addr: 0x50000, len: 0x30000, flags: i < 2 ? 1 : 0, next: i + 1 });
  s.rx.mem.writeU16(0x41004, 0);
  s.rx.mem.writeU16(0x41002, 1);
  s.dev.onQueueNotify(1);
  assert.equal(Buffer.concat(s.out).length, 64 * 1024);
  assert.equal(s.dev.counters().droppedOutput, 0x90000 - 64 * 1024);
  assert.equal(s.rx.mem.readU16(0x42002), 1, 'the chain is answered');
});
