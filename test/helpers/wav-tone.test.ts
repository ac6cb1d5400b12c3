// The tone measurements tiny-snd relies on, on signals whose frequency is known: the test kernel's integer sine
// (test/guest/tests/snd-pcm.c, computed the same way here) and Math.sin.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelS16, goertzelPower, readWav, wavHeaderS16, zeroCrossingHz } from './wav-tone';

/** snd-pcm.c's tone_sample: Bhaskara I's sine of a 32-bit phase, amplitude 16384. */
function guestSample(phase: number): number {
  const t = Math.floor((phase & 0x7fffffff) / 0x8000);
  const u = t * (65536 - t);
  const v = Math.floor((16 * u * 16384) / (5 * 2 ** 32 - 4 * u));
  return phase >= 0x80000000 ? -v : v;
}

function guestTone(hz: number, rate: number, frames: number): Int16Array {
  const step = Math.floor((hz * 2 ** 32) / rate);
  const out = new Int16Array(frames);
  let phase = 0;
  for (let i = 0; i < frames; i++) {
    out[i] = guestSample(phase);
    phase = (phase + step) >>> 0;
  }
  return out;
}

test('the guest\'s integer sine stays within 0.2% of full scale of Math.sin', () => {
  for (let k = 0; k < 4096; k++) {
    const phase = k * 0x100000;
    const want = 16384 * Math.sin((2 * Math.PI * phase) / 2 ** 32);
    assert.ok(Math.abs(guestSample(phase) - want) < 0.002 * 32768, `phase ${phase}: ${guestSample(phase)} vs ${want}`);
  }
});

test('zero crossings and Goertzel find 440 Hz in half a second of the guest\'s tone at 48 kHz', () => {
  const tone = guestTone(440, 48000, 24000);
  assert.ok(Math.abs(zeroCrossingHz(tone, 48000) - 440) < 0.1, String(zeroCrossingHz(tone, 48000)));
  const at = (hz: number): number => goertzelPower(tone, 48000, hz);
  for (const other of [400, 420, 460, 480]) assert.ok(at(440) > 100 * at(other), `440 Hz against ${other} Hz`);
});

test('zero crossings tell 437 Hz from 440 Hz', () => {
  const tone = Array.from({ length: 24000 }, (_, i) => Math.round(10000 * Math.sin((2 * Math.PI * 437 * i) / 48000)));
  assert.ok(Math.abs(zeroCrossingHz(tone, 48000) - 437) < 0.1);
});

test('readWav reads back a header and its interleaved channels', () => {
  const data = Buffer.alloc(8);
  data.writeInt16LE(100, 0);
  data.writeInt16LE(-100, 2);
  data.writeInt16LE(-5, 4);
  data.writeInt16LE(5, 6);
  const w = readWav(Buffer.concat([wavHeaderS16(2, 48000, data.length), data]));
  assert.deepEqual([w.formatTag, w.channels, w.rate, w.byteRate, w.blockAlign, w.bits, w.dataChunkBytes, w.riffBytes],
    [1, 2, 48000, 192000, 4, 16, 8, 44]);
  assert.deepEqual([...channelS16(w.data, 2, 0)], [100, -5]);
  assert.deepEqual([...channelS16(w.data, 2, 1)], [-100, 5]);
  assert.throws(() => readWav(Buffer.from('RIFF\0\0\0\0WAVE')), /no fmt chunk/);
});
