// The sound device in a snapshot: a stream's state, parameters and the periods it holds (by head) come back in a
// new device on the same rings, which plays them once started; state that does not fit is refused by field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SndDevice } from '../../../src/devices/snd/device';
import { CONTROLQ, REQ, STATUS } from '../../../src/devices/snd/protocol';
import { F_WRITE, mockContext } from '../../virtio-mmio/mock-driver';
import { MEM_BYTES, setup } from './harness';

test('a prepared stream\'s held periods come back in a restored device and play after START', () => {
  const s = setup();
  assert.equal(s.setParams(), STATUS.OK);
  assert.equal(s.pcm(REQ.PCM_PREPARE, 0), STATUS.OK);
  const heads = [1, 2, 3].map((i) => s.tx(Buffer.alloc(1920, i)));
  const saved = JSON.parse(JSON.stringify(s.dev.snapshotState())) as { streams: { state: string; heads: number[] }[] };
  assert.deepEqual(saved.streams.map((x) => [x.state, x.heads]), [['prepared', heads], ['initial', []]]);

  const b = new SndDevice({ clock: s.clock });
  b.restoreState(saved);
  // The rings as a restore leaves them: the same memory, the old device's indices.
  const queues = s.drivers.map((d, i) => {
    const q = d.queue();
    q.importIndices(s.ctx.queues[i]!.exportIndices());
    return q;
  });
  const ctx = mockContext(b, { memory: s.mem, queues, features: 1n << 32n });
  b.activate(ctx);
  assert.equal(b.streams[0]!.pending.length, 3);
  // START through the restored device's control queue.
  const at = MEM_BYTES - 0x1000;
  s.mem.writeU32(at, REQ.PCM_START);
  s.mem.writeU32(at + 4, 0);
  s.ctrlq.addChain([{ addr: at, len: 8, flags: 0 }, { addr: at + 64, len: 4, flags: F_WRITE }]);
  b.onQueueNotify(CONTROLQ);
  assert.equal(s.mem.readU32(at + 64), STATUS.OK);
  s.clock.advance(30);
  assert.deepEqual(s.completions(0).map((c) => [c.head, c.status]), heads.map((h) => [h, STATUS.OK]));
  assert.equal(b.counters().framesPlayed, 3 * 480);
  assert.deepEqual(ctx.failures, []);
  b.reset();
});

test('snd state that does not fit is refused, naming the field', () => {
  const s = setup();
  s.setParams();
  const good = JSON.parse(JSON.stringify(s.dev.snapshotState())) as { streams: Record<string, unknown>[] };
  const b = new SndDevice();
  const bad = (change: (x: typeof good) => void, pattern: RegExp): void => {
    const x = JSON.parse(JSON.stringify(good)) as typeof good;
    change(x);
    assert.throws(() => b.restoreState(x), pattern);
  };
  bad((x) => { x.streams[0]!.state = 'playing'; }, /streams\[0\]\.state is "playing"/);
  bad((x) => { (x.streams[0]!.params as Record<string, number>).rate = 99; }, /streams\[0\]\.params are not/);
  bad((x) => { x.streams[0]!.heads = [1, 1]; }, /streams\[0\]\.heads/);
  bad((x) => { x.streams.pop(); }, /streams is not a list of 2/);
});
