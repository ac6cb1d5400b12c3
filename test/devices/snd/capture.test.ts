// Capture: silence, and a WAV file's frames over and over, each period filled when its time has passed; a WAV
// file's format is the only one the capture stream offers, and a file that cannot be captured is refused by name.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { SndBackendError, WavSource } from '../../../src/devices/snd/backends';
import { FORMAT, RATE } from '../../../src/devices/snd/formats';
import { REQ, STATUS } from '../../../src/devices/snd/protocol';
import { setup, startStream } from './harness';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'snd-'));

/** A WAV file's bytes: a fmt chunk as given, an extra chunk before data, and `data`. */
function wavFile(fmt: { tag?: number; channels: number; hz: number; bits: number }, data: Buffer): Buffer {
  const f = Buffer.alloc(24);
  f.write('fmt ', 0, 'latin1');
  f.writeUInt32LE(16, 4);
  f.writeUInt16LE(fmt.tag ?? 1, 8);
  f.writeUInt16LE(fmt.channels, 10);
  f.writeUInt32LE(fmt.hz, 12);
  f.writeUInt32LE((fmt.hz * fmt.channels * fmt.bits) / 8, 16);
  f.writeUInt16LE((fmt.channels * fmt.bits) / 8, 20);
  f.writeUInt16LE(fmt.bits, 22);
  // A LIST chunk of odd size, padded: readers must step over it.
  const list = Buffer.concat([Buffer.from('LIST', 'latin1'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc\0')]);
  const d = Buffer.alloc(8);
  d.write('data', 0, 'latin1');
  d.writeUInt32LE(data.length, 4);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), f, list, d, data]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

test('silence: a capture period is filled with zeros once its time has passed', () => {
  const s = setup();
  startStream(s, { stream: 1, periodBytes: 1920, bufferBytes: 3840 });
  const a = s.rx(1920);
  const b = s.rx(1920);
  s.clock.advance(9.5);
  assert.deepEqual(s.completions(1), []);
  s.clock.advance(0.5);
  const first = s.completions(1);
  assert.deepEqual(first.map((c) => [c.head, c.status, c.len, c.latency]), [[a.head, STATUS.OK, 1928, 1920]]);
  assert.ok(Buffer.from(s.mem.read(a.at, 1920)).equals(Buffer.alloc(1920)));
  s.clock.advance(10);
  assert.deepEqual(s.completions(1).map((c) => c.head), [b.head]);
  assert.deepEqual([s.dev.counters().framesCaptured, s.dev.counters().bytesCaptured], [960, 3840]);
});

test('a WAV file is captured as it is, looped at its end, and its format is the only one offered', () => {
  const file = path.join(tmp(), 'in.wav');
  // 100 frames of S16 mono at 44.1 kHz: sample i is i.
  const data = Buffer.alloc(200);
  for (let i = 0; i < 100; i++) data.writeInt16LE(i, 2 * i);
  fs.writeFileSync(file, wavFile({ channels: 1, hz: 44100, bits: 16 }, data));
  const s = setup({ capture: new WavSource(file) });
  const info = s.query(REQ.PCM_INFO, 1, 1, 32)!.reply.subarray(4);
  assert.equal(info.readBigUInt64LE(8), 1n << BigInt(FORMAT.S16));
  assert.equal(info.readBigUInt64LE(16), 1n << BigInt(RATE.R44100));
  assert.deepEqual([info[25], info[26]], [1, 1]);
  assert.equal(s.setParams({ stream: 1, rate: RATE.R48000, channels: 1, periodBytes: 128, bufferBytes: 256 }),
    STATUS.NOT_SUPP);
  assert.equal(s.setParams({ stream: 1, rate: RATE.R44100, channels: 2, periodBytes: 128, bufferBytes: 256 }),
    STATUS.NOT_SUPP);
  startStream(s, { stream: 1, rate: RATE.R44100, channels: 1, periodBytes: 128, bufferBytes: 256 });
  // 64 frames a period: the second one wraps past frame 99 to frame 0.
  const periods = [s.rx(128), s.rx(128)];
  // 2.9 ms of frames; the device wakes on whole milliseconds.
  s.clock.advance(3);
  assert.equal(s.completions(1).length, 2);
  const got = Buffer.concat(periods.map((p) => Buffer.from(s.mem.read(p.at, 128))));
  const want = Array.from({ length: 128 }, (_, i) => i % 100);
  assert.deepEqual(Array.from({ length: 128 }, (_, i) => got.readInt16LE(2 * i)), want);
  s.dev.close();
});

test('capture: an overrun (the guest gave no period in time) is counted; RELEASE gives back silence', () => {
  const s = setup();
  startStream(s, { stream: 1 });
  s.rx(1920);
  s.clock.advance(10);
  assert.equal(s.completions(1).length, 1);
  s.clock.advance(30);
  const late = s.rx(1920);
  assert.equal(s.dev.counters().overruns, 1);
  assert.equal(s.pcm(REQ.PCM_STOP, 1), STATUS.OK);
  assert.equal(s.pcm(REQ.PCM_RELEASE, 1), STATUS.OK);
  assert.deepEqual(s.completions(1).map((c) => [c.head, c.status, c.len]), [[late.head, STATUS.OK, 1928]]);
  assert.ok(Buffer.from(s.mem.read(late.at, 1920)).equals(Buffer.alloc(1920)));
});

test('a WAV file that cannot be captured is refused naming the file and what is wrong with it', () => {
  const dir = tmp();
  const cases: [string, Buffer, RegExp][] = [
    ['24bit.wav', wavFile({ channels: 2, hz: 48000, bits: 24 }, Buffer.alloc(60)), /is 24-bit PCM; capture takes 16- or 32-bit/],
    ['22k.wav', wavFile({ channels: 1, hz: 22050, bits: 16 }, Buffer.alloc(60)), /is at 22050 Hz; capture takes 44100 or 48000 Hz/],
    ['six.wav', wavFile({ channels: 6, hz: 48000, bits: 16 }, Buffer.alloc(60)), /has 6 channels; capture takes 1 or 2/],
    ['float.wav', wavFile({ tag: 3, channels: 2, hz: 48000, bits: 32 }, Buffer.alloc(64)), /is not integer PCM \(format tag 0x3\)/],
    ['empty.wav', wavFile({ channels: 2, hz: 48000, bits: 16 }, Buffer.alloc(3)), /holds no PCM frames/],
    ['text.wav', Buffer.from('hello, world'), /is not a RIFF\/WAVE file/],
  ];
  for (const [name, bytes, why] of cases) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    assert.throws(() => new WavSource(file), (e: unknown) => {
      assert.ok(e instanceof SndBackendError);
      assert.equal(e.stream, 'capture');
      assert.ok(e.message.startsWith(file), e.message);
      assert.match(e.message, why);
      return true;
    });
  }
  assert.throws(() => new WavSource(path.join(dir, 'missing.wav')), /missing\.wav .*ENOENT/);
});
