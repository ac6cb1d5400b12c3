// The device models' own snapshot state: vsock keeps nothing and tells a restored guest its connections are gone
// (TRANSPORT_RESET on the event queue), hands back an rx chain it held; the console keeps the input the guest has
// not read; a disk checks that its file is the one the snapshot was taken with.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { BlkDevice } from '../../src/devices/blk';
import { ConsoleDevice } from '../../src/devices/console';
import { VsockDevice } from '../../src/devices/vsock/device';
import { F_WRITE, MockDriver, mockContext } from '../virtio-mmio/mock-driver';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-snapshot-state-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A vsock device on three mock queues in one memory: rx, tx, event. */
function vsockRig(name: string) {
  const dev = new VsockDevice({ cid: 3, socket: path.join(dir, name) });
  const rx = new MockDriver(16, 1 << 20);
  const tx = new MockDriver(16, 0, { mem: rx.mem, base: 0x10000 });
  const ev = new MockDriver(16, 0, { mem: rx.mem, base: 0x20000 });
  const ctx = mockContext(dev, { memory: rx.mem, queues: [rx.queue(), tx.queue(), ev.queue()], features: 1n });
  return { dev, rx, ev, ctx };
}

test('a restored vsock device sends TRANSPORT_RESET in the first event buffer, once', (t) => {
  const r = vsockRig('a.sock');
  t.after(() => r.dev.close());
  r.ev.addChain([{ addr: 0x80000, len: 8, flags: F_WRITE }]);
  r.rx.mem.writeU32(0x80000, 0xffffffff);
  r.dev.restoreState();
  r.dev.activate(r.ctx);
  assert.equal(r.ev.usedIdx(), 1);
  assert.deepEqual(r.ev.used(0), { id: 0, len: 4 });
  assert.equal(r.rx.mem.readU32(0x80000), 0); // VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
  assert.equal(r.dev.counters().transportResets, 1);
  r.ev.addChain([{ addr: 0x80100, len: 8, flags: F_WRITE }]);
  r.dev.onQueueNotify(2);
  assert.equal(r.ev.usedIdx(), 1, 'only one reset is sent');
});

test('without an event buffer yet, the reset waits for the driver to give one; a fresh device sends none', (t) => {
  const r = vsockRig('b.sock');
  t.after(() => r.dev.close());
  r.dev.restoreState();
  r.dev.activate(r.ctx);
  assert.equal(r.ev.usedIdx(), 0);
  r.ev.addChain([{ addr: 0x80000, len: 4, flags: F_WRITE }]);
  r.dev.onQueueNotify(2);
  assert.equal(r.ev.usedIdx(), 1);

  const fresh = vsockRig('c.sock');
  t.after(() => fresh.dev.close());
  fresh.ev.addChain([{ addr: 0x80000, len: 4, flags: F_WRITE }]);
  fresh.dev.activate(fresh.ctx);
  fresh.dev.onQueueNotify(2);
  assert.equal(fresh.ev.usedIdx(), 0);
  assert.deepEqual(fresh.dev.snapshotState(), { cid: '3' });
});

test('the console keeps the input the guest has not read, and refuses state that is not its own', () => {
  const out: Buffer[] = [];
  const a = new ConsoleDevice((c) => out.push(c));
  a.input(Buffer.from('typed ahead'));
  const saved = JSON.parse(JSON.stringify(a.snapshotState())) as unknown;
  const b = new ConsoleDevice((c) => out.push(c));
  b.restoreState(saved);
  assert.deepEqual(b.snapshotState(), { pendingInput: Buffer.from('typed ahead').toString('base64') });
  assert.throws(() => b.restoreState({ pendingInput: 'not base64!' }), /pendingInput is not base64/);
  assert.throws(() => b.restoreState(null), /pendingInput/);
});

test('a disk restores only onto the file and size it had at the snapshot', (t) => {
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, Buffer.alloc(8192));
  const disk = new BlkDevice({ path: file, readonly: false, cache: 'writeback', create: false });
  t.after(() => disk.close());
  const saved = disk.snapshotState();
  assert.deepEqual(saved, { path: file, sectors: 16 });
  disk.restoreState(saved);
  assert.throws(() => disk.restoreState({ ...saved, path: '/elsewhere.img' }), /path: .*\/elsewhere\.img/);
  assert.throws(() => disk.restoreState({ ...saved, sectors: 8 }), /sectors: the disk held 8 sectors .* holds 16 now/);
});
