// Playback: a 440 Hz sine recorded into a WAV file whose header and frames are read back, transfers held until
// their frames' play time has passed on the device's clock, queued ahead from PREPARE, an underrun, a release
// that gives back what it holds, and a WAV file that keeps the format it was started in.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { WavSink } from '../../../src/devices/snd/backends';
import { FORMAT, RATE } from '../../../src/devices/snd/formats';
import { REQ, STATUS } from '../../../src/devices/snd/protocol';
import { setup, startStream } from './harness';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'snd-'));

/** `frames` frames of a 440 Hz sine at 48 kHz, S16 stereo, from frame `from` on. */
function sine(from: number, frames: number): Buffer {
  const b = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(16000 * Math.sin((2 * Math.PI * 440 * (from + i)) / 48000));
    b.writeInt16LE(v, 4 * i);
    b.writeInt16LE(v, 4 * i + 2);
  }
  return b;
}

test('a 440 Hz sine played into a WAV file: its header says S16 stereo 48 kHz and its frames are the guest\'s', () => {
  const file = path.join(tmp(), 'out.wav');
  const s = setup({ playback: new WavSink(file) });
  startStream(s, { periodBytes: 1920, bufferBytes: 4 * 1920 });
  const period = 480;
  const played: Buffer[] = [];
  for (let p = 0; p < 100; p++) {
    const frames = sine(p * period, period);
    played.push(frames);
    s.tx(frames);
    // One period (10 ms) a step: the device gives back one transfer each time.
    s.clock.advance(10);
    const done = s.completions(0);
    assert.equal(done.length, 1, `period ${p}`);
    assert.deepEqual([done[0]!.status, done[0]!.len], [STATUS.OK, 8]);
  }
  assert.equal(s.pcm(REQ.PCM_STOP, 0), STATUS.OK);
  assert.equal(s.pcm(REQ.PCM_RELEASE, 0), STATUS.OK);
  const wav = fs.readFileSync(file);
  const data = Buffer.concat(played);
  assert.equal(wav.length, 44 + data.length);
  assert.equal(wav.toString('latin1', 0, 4), 'RIFF');
  assert.equal(wav.readUInt32LE(4), 36 + data.length);
  assert.equal(wav.toString('latin1', 8, 16), 'WAVEfmt ');
  assert.deepEqual([wav.readUInt32LE(16), wav.readUInt16LE(20), wav.readUInt16LE(22), wav.readUInt32LE(24),
    wav.readUInt32LE(28), wav.readUInt16LE(32), wav.readUInt16LE(34)], [16, 1, 2, 48000, 192000, 4, 16]);
  assert.equal(wav.toString('latin1', 36, 40), 'data');
  assert.equal(wav.readUInt32LE(40), data.length);
  assert.ok(wav.subarray(44).equals(data), 'the frames as played');
  const n = s.dev.counters();
  assert.equal(n.framesPlayed, 48000);
  assert.equal(n.bytesPlayed, data.length);
  assert.equal(n.underruns, 0);
  s.dev.close();
  assert.equal(fs.readFileSync(file).length, wav.length, 'close keeps the recording');
});

test('pacing: a transfer completes when its frames have played, not before; queued ones follow back to back', () => {
  const s = setup();
  startStream(s, { format: FORMAT.S32, rate: RATE.R44100, channels: 1, periodBytes: 4 * 441, bufferBytes: 16 * 441 });
  // 441 frames at 44.1 kHz: 10 ms each.
  const heads = [0, 1, 2].map(() => s.tx(Buffer.alloc(4 * 441, 1)));
  s.clock.advance(9.9);
  assert.deepEqual(s.completions(0), [], 'nothing before 10 ms');
  s.clock.advance(0.1);
  const first = s.completions(0);
  assert.deepEqual(first.map((c) => c.head), [heads[0]]);
  assert.equal(first[0]!.latency, 2 * 4 * 441, 'two periods still queued');
  s.clock.advance(9);
  assert.deepEqual(s.completions(0), []);
  s.clock.advance(11);
  assert.deepEqual(s.completions(0).map((c) => [c.head, c.latency]), [[heads[1], 4 * 441], [heads[2], 0]]);
  assert.equal(s.clock.pending, 0, 'nothing left to wake for');
  assert.equal(s.dev.counters().framesPlayed, 3 * 441);
});

test('periods queued after PREPARE wait for START; STOP holds the rest; RELEASE gives them back unplayed', () => {
  const file = path.join(tmp(), 'held.wav');
  const s = setup({ playback: new WavSink(file) });
  assert.equal(s.setParams(), STATUS.OK);
  assert.equal(s.pcm(REQ.PCM_PREPARE, 0), STATUS.OK);
  const period = Buffer.alloc(1920, 7);
  for (let i = 0; i < 3; i++) s.tx(period);
  s.clock.advance(100);
  assert.deepEqual(s.completions(0), [], 'not started');
  assert.equal(s.pcm(REQ.PCM_START, 0), STATUS.OK);
  s.clock.advance(10);
  assert.equal(s.completions(0).length, 1);
  s.clock.advance(5);
  assert.equal(s.pcm(REQ.PCM_STOP, 0), STATUS.OK);
  s.clock.advance(100);
  assert.deepEqual(s.completions(0), [], 'stopped: held');
  assert.equal(s.pcm(REQ.PCM_RELEASE, 0), STATUS.OK);
  const flushed = s.completions(0);
  assert.deepEqual(flushed.map((c) => [c.status, c.len]), [[STATUS.OK, 8], [STATUS.OK, 8]]);
  const n = s.dev.counters();
  assert.deepEqual([n.framesPlayed, n.flushed], [480, 2]);
  assert.equal(fs.readFileSync(file).length, 44 + 1920, 'only the played period is in the file');
});

test('an underrun: a started stream that ran dry is counted, and plays on from when the next period comes', () => {
  const s = setup();
  startStream(s);
  s.tx(Buffer.alloc(1920));
  s.clock.advance(10);
  assert.equal(s.completions(0).length, 1);
  s.clock.advance(50);
  s.tx(Buffer.alloc(1920));
  s.clock.advance(9);
  assert.deepEqual(s.completions(0), [], 'timed from its arrival');
  s.clock.advance(1);
  assert.equal(s.completions(0).length, 1);
  assert.equal(s.dev.counters().underruns, 1);
});

test('transfers with a zero-length payload complete at once; a stream set up again gives back what it held', () => {
  const s = setup();
  startStream(s);
  s.tx(Buffer.alloc(0));
  assert.equal(s.completions(0).length, 1);
  assert.equal(s.pcm(REQ.PCM_STOP, 0), STATUS.OK);
  assert.equal(s.pcm(REQ.PCM_RELEASE, 0), STATUS.OK);
  assert.equal(s.pcm(REQ.PCM_PREPARE, 0), STATUS.OK);
  s.tx(Buffer.alloc(1920));
  assert.equal(s.setParams({ channels: 1 }), STATUS.OK);
  assert.deepEqual(s.completions(0).map((c) => c.status), [STATUS.OK]);
  assert.equal(s.dev.counters().flushed, 1);
});

test('a WAV file keeps the format it was started in: SET_PARAMS for another is NOT_SUPP, the same one OK', () => {
  const file = path.join(tmp(), 'one.wav');
  const warnings: string[] = [];
  const s = setup({ playback: new WavSink(file), warn: (m) => warnings.push(m) });
  startStream(s);
  s.tx(Buffer.alloc(1920));
  s.clock.advance(10);
  assert.equal(s.pcm(REQ.PCM_STOP, 0), STATUS.OK);
  assert.equal(s.pcm(REQ.PCM_RELEASE, 0), STATUS.OK);
  assert.equal(s.setParams({ rate: RATE.R44100 }), STATUS.NOT_SUPP);
  assert.match(warnings[0]!, /one\.wav holds S16_LE, 48000 Hz, 2 channels; a WAV file has one format/);
  assert.equal(s.setParams(), STATUS.OK);
});

test('an empty recording is a valid WAV file with no frames', () => {
  const file = path.join(tmp(), 'empty.wav');
  new WavSink(file).close();
  const wav = fs.readFileSync(file);
  assert.equal(wav.length, 44);
  assert.equal(wav.readUInt32LE(40), 0);
  assert.equal(wav.readUInt32LE(4), 36);
});
