// What a hostile or broken driver gets from virtio-snd: a transfer that does not fit its stream is answered
// BAD_MSG at once and moves nothing; a chain too short for a request's header or its status fails the device;
// buffers split anywhere are read as one.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { WavSink } from '../../../src/devices/snd/backends';
import { REQ, RXQ, STATUS, TXQ } from '../../../src/devices/snd/protocol';
import { F_WRITE } from '../../virtio-mmio/mock-driver';
import { setup, startStream } from './harness';

test('transfers that do not fit their stream are BAD_MSG at once, counted, and nothing is played', () => {
  const s = setup();
  // Stream 0 has no parameters yet.
  s.tx(Buffer.alloc(1920));
  startStream(s, { periodBytes: 1920, bufferBytes: 3840 });
  s.tx(Buffer.alloc(1920), 1); // the capture stream
  s.tx(Buffer.alloc(1920), 2); // no such stream
  s.tx(Buffer.alloc(1920), 0xffffffff);
  s.tx(Buffer.alloc(1922)); // not whole frames
  s.tx(Buffer.alloc(3844)); // more than the buffer
  s.tx(Buffer.alloc(1920), 0, { statusRoom: 16 }); // writable bytes besides the status
  const done = s.completions(0);
  assert.equal(done.length, 7);
  for (const c of done) assert.deepEqual([c.status, c.latency], [STATUS.BAD_MSG, 0]);
  assert.deepEqual(done.map((c) => c.len), [8, 8, 8, 8, 8, 8, 0], 'the status alone, or 0 when it is not first');
  // Capture chains on the capture queue for the playback stream, or with frames that are not whole.
  startStream(s, { stream: 1 });
  s.rx(1920, 0);
  s.rx(1918);
  assert.deepEqual(s.completions(1).map((c) => [c.status, c.len]), [[STATUS.BAD_MSG, 0], [STATUS.BAD_MSG, 0]]);
  s.clock.advance(1000);
  const n = s.dev.counters();
  assert.deepEqual([n.badTransfers, n.framesPlayed, n.framesCaptured], [9, 0, 0]);
  assert.deepEqual(s.ctx.failures, []);
});

/** A request of `bytes` bytes that starts with `c`. */
function code(c: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  b.writeUInt32LE(c, 0);
  return b;
}

test('a transfer without its whole header or status, or a control request cut short, fails the device', () => {
  const cases: [string, (s: ReturnType<typeof setup>) => void, RegExp][] = [
    ['short header', (s) => s.tx(Buffer.alloc(0), 0, { headerBytes: 3 }), /needs 4 device-readable bytes and a 8-byte status/],
    ['no status', (s) => s.tx(Buffer.alloc(64), 0, { statusRoom: 0 }), /the chain has 68 and 0/],
    ['short status', (s) => s.tx(Buffer.alloc(64), 0, { statusRoom: 4 }), /the chain has 68 and 4/],
    ['control code cut', (s) => s.request(Buffer.alloc(2)), /a snd control request needs 4 device-readable bytes/],
    ['query cut', (s) => s.request(code(REQ.PCM_INFO, 12)), /request 0x100 needs 16 device-readable bytes, the chain has 12/],
    ['set params cut', (s) => s.request(code(REQ.PCM_SET_PARAMS, 20)), /request 0x101 needs 24 .* has 20/],
    ['start cut', (s) => s.request(code(REQ.PCM_START, 6)), /request 0x104 needs 8 .* has 6/],
    ['no room for the status', (s) => s.request(code(REQ.PCM_INFO, 16), 2), /answered at least 4 bytes/],
  ];
  for (const [what, act, why] of cases) {
    const s = setup();
    act(s);
    assert.equal(s.ctx.failures.length, 1, what);
    assert.match(s.ctx.failures[0]!, why, what);
    assert.equal(s.dev.counters().errors, 1);
  }
});

test('headers and frames split over several buffers are read as one', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'snd-')), 'split.wav');
  const s = setup({ playback: new WavSink(file) });
  startStream(s, { channels: 1, periodBytes: 64, bufferBytes: 128 });
  const frames = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
  s.mem.write(0x200000, Buffer.from([0, 0, 0, 0]));
  s.mem.write(0x200010, frames);
  s.txq.addChain([
    { addr: 0x200000, len: 1, flags: 0 }, { addr: 0x200001, len: 3, flags: 0 },
    { addr: 0x200010, len: 5, flags: 0 }, { addr: 0x200015, len: 59, flags: 0 },
    { addr: 0x200100, len: 3, flags: F_WRITE }, { addr: 0x200103, len: 5, flags: F_WRITE },
  ]);
  s.dev.onQueueNotify(TXQ);
  s.clock.advance(1);
  assert.equal(s.txq.usedIdx(), 1);
  assert.equal(s.mem.readU32(0x200100), STATUS.OK);
  s.dev.close();
  assert.ok(fs.readFileSync(file).subarray(44).equals(frames));
});

test('event buffers are kept, never used; a reset drops held transfers and every stream\'s state', () => {
  const s = setup();
  s.eventq.addChain([{ addr: 0x300000, len: 8, flags: F_WRITE }]);
  s.dev.onQueueNotify(1);
  startStream(s);
  s.tx(Buffer.alloc(1920));
  s.dev.onQueueNotify(RXQ);
  s.dev.reset();
  s.clock.advance(100);
  assert.equal(s.eventq.usedIdx(), 0);
  assert.equal(s.txq.usedIdx(), 0, 'the driver that posted it is gone');
  assert.equal(s.clock.pending, 0);
  assert.ok(s.dev.streams.every((st) => st.state === 'initial' && st.pending.length === 0));
});
