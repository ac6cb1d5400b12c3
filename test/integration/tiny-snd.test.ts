// virtio-snd through the tiny test kernel's own driver (test=snd): the config and every info request, eight
// requests the device must refuse, then half a second of a 440 Hz tone played into a WAV file in 10 ms periods. The
// host reads the file back: its header (PCM, stereo, 48 kHz, 16-bit), exactly the frames the guest sent (their
// FNV-1a), the right channel the negation of the left, and the tone's frequency by zero crossings and Goertzel. The
// guest times its playback by the TSC: a device that paces it cannot finish sooner than the audio lasts. Capture
// comes from silence (all zeros) and, in a second run, from a WAV file the host made (the guest's FNV-1a of what it
// captured against the file's frames, looped). QEMU 7.2, the test hosts' QEMU, has no virtio-sound-device.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { dataWith, numberField, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import { FNV1A_INIT, fnv1aHex, fnv1aUpdate } from '../helpers/fnv';
import { kvmUnavailable } from '../helpers/kvm';
import { qemuUnavailable, runTiny } from '../helpers/tiny';
import { channelS16, goertzelPower, readWav, wavHeaderS16, zeroCrossingHz } from '../helpers/wav-tone';

const skip = kvmUnavailable();
const skipQemu = qemuUnavailable() ??
  'QEMU 7.2 (the test hosts\' QEMU) has no virtio-sound-device (it came in 8.2): this guest runs on tsvmm alone';
const LIMIT_MS = 120_000;
const RATE = 48000;
const FRAME_BYTES = 4;
const PLAY_MS = 500;
const CAPTURE_MS = 100;

/** Each refusal test=snd asks for, and the status tsvmm owes it (docs/devices.md, virtio-snd). */
const REFUSALS = {
  'prepare-before-set-params': 'BAD_MSG', 'rate-8000': 'NOT_SUPP', 'period-not-dividing-buffer': 'BAD_MSG',
  'no-such-stream': 'BAD_MSG', 'pcm-info-past-streams': 'BAD_MSG', 'unknown-code': 'NOT_SUPP',
  'start-before-prepare': 'BAD_MSG', 'transfer-before-prepare': 'BAD_MSG',
};

type Run = TestKernelOutput & { text: string; devices: Record<string, number>[] };

/** The guest's timing and counts, in the test's report. */
function report(t: TestContext, r: Run): void {
  for (const line of r.text.split('\n')) if (/TSVMM-DATA: snd (playback|capture) /.test(line)) t.diagnostic(line.trim());
  t.diagnostic(`device counters: ${JSON.stringify(r.devices[0])}`);
}

function checkGuest(r: Run, playMs: number): Record<string, string> {
  assert.deepEqual(r.verdict, { test: 'snd', passed: true }, r.text);
  const [config] = dataWith(r, 'jacks', 'streams', 'chmaps');
  assert.deepEqual([config!.jacks, config!.streams, config!.chmaps], ['2', '2', '2'], r.text);
  const refused: Record<string, string> = {};
  for (const f of dataWith(r, 'refused', 'status')) refused[f.refused!] = f.status!;
  assert.deepEqual(refused, REFUSALS);
  const [played] = dataWith(r, 'first_ms', 'elapsed_ms');
  assert.equal(numberField(played!, 'frames'), (playMs * RATE) / 1000);
  // The guest checks 90% itself; the host holds it to the same, and sees the number.
  assert.ok(numberField(played!, 'elapsed_ms') >= playMs * 0.9, `${playMs} ms of audio played in ${played!.elapsed_ms} ms`);
  const snd = r.devices[0]!;
  assert.deepEqual([snd.badMessages, snd.notSupported, snd.outOfOrder, snd.badTransfers, snd.errors, snd.ioErrors],
    [5, 2, 2, 1, 0, 0], JSON.stringify(snd));
  assert.equal(snd.framesPlayed, (playMs * RATE) / 1000);
  assert.equal(snd.framesCaptured, (CAPTURE_MS * RATE) / 1000);
  const [captured] = dataWith(r, 'nonzero', 'frames');
  assert.equal(numberField(captured!, 'frames'), (CAPTURE_MS * RATE) / 1000);
  return captured!;
}

function checkRecording(file: string, guestHash: string): void {
  const wav = readWav(fs.readFileSync(file));
  assert.deepEqual([wav.formatTag, wav.channels, wav.rate, wav.bits, wav.blockAlign, wav.byteRate],
    [1, 2, RATE, 16, FRAME_BYTES, RATE * FRAME_BYTES]);
  const frames = (PLAY_MS * RATE) / 1000;
  assert.equal(wav.dataChunkBytes, frames * FRAME_BYTES, 'the header counts exactly the frames the guest sent');
  assert.equal(wav.data.length, frames * FRAME_BYTES, 'the file holds exactly the frames the guest sent');
  assert.equal(wav.riffBytes, 36 + frames * FRAME_BYTES);
  assert.equal(fnv1aHex(fnv1aUpdate(FNV1A_INIT, wav.data)), guestHash, 'the frames are the guest\'s, in order');
  const left = channelS16(wav.data, 2, 0);
  const right = channelS16(wav.data, 2, 1);
  const unmirrored = left.findIndex((v, i) => right[i] !== -v);
  assert.equal(unmirrored, -1, 'the right channel is the left one negated');
  const hz = zeroCrossingHz(left, RATE);
  assert.ok(Math.abs(hz - 440) < 2, `the tone is at ${hz.toFixed(2)} Hz`);
  const power = (f: number): number => goertzelPower(left, RATE, f);
  for (const other of [400, 420, 460, 480]) assert.ok(power(440) > 100 * power(other), `440 Hz against ${other} Hz`);
}

/** Frames the host captures from: not a whole number of periods, so the device loops mid-period. */
function captureSource(): Buffer {
  const data = Buffer.alloc(3000 * FRAME_BYTES);
  let x = 0x2545f491;
  for (let i = 0; i < data.length; i += 2) {
    x = (x * 1103515245 + 12345) >>> 0;
    data.writeUInt16LE(x >>> 16, i);
  }
  return data;
}

describe('tiny test kernel: virtio-snd', () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-snd-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('on tsvmm: the refusals, a paced 440 Hz tone recorded frame for frame, capture from silence', { skip, timeout: LIMIT_MS },
    async (t) => {
      const file = path.join(dir, 'played.wav');
      const r = await runTiny({ cmdline: `test=snd snd_ms=${PLAY_MS} snd_capture=silence snd_capture_ms=${CAPTURE_MS}`,
        timeoutMs: LIMIT_MS, devices: [{ type: 'snd', playback: { backend: 'wav', path: file } }] });
      report(t, r);
      const captured = checkGuest(r, PLAY_MS);
      assert.equal(numberField(captured, 'nonzero'), 0);
      const pcm = dataWith(r, 'formats', 'rates');
      assert.deepEqual(pcm.map((p) => [p.id, p.direction, p.formats, p.rates, p.channels_min, p.channels_max]),
        [['0', 'output', '0x20020', '0xc0', '1', '2'], ['1', 'input', '0x20020', '0xc0', '1', '2']]);
      const [played] = dataWith(r, 'first_ms', 'fnv1a');
      checkRecording(file, played!.fnv1a!);
    });

  it('on tsvmm: capture from a WAV file the host made, looped, compared by FNV-1a', { skip, timeout: LIMIT_MS }, async (t) => {
    const source = captureSource();
    const file = path.join(dir, 'source.wav');
    fs.writeFileSync(file, Buffer.concat([wavHeaderS16(2, RATE, source.length), source]));
    const r = await runTiny({ cmdline: `test=snd snd_ms=100 snd_capture=data snd_capture_ms=${CAPTURE_MS}`,
      timeoutMs: LIMIT_MS, devices: [{ type: 'snd', capture: { backend: 'wav', path: file } }] });
    report(t, r);
    const captured = checkGuest(r, 100);
    const [input] = dataWith(r, 'formats', 'direction').filter((p) => p.direction === 'input');
    assert.deepEqual([input!.formats, input!.rates, input!.channels_min, input!.channels_max], ['0x20', '0x80', '2', '2'],
      'a capture stream on a WAV file offers only its format');
    const want = Buffer.alloc((CAPTURE_MS * RATE * FRAME_BYTES) / 1000);
    for (let i = 0; i < want.length; i++) want[i] = source[i % source.length]!;
    assert.equal(captured.fnv1a, fnv1aHex(fnv1aUpdate(FNV1A_INIT, want)), 'the guest captured the file\'s frames, looped');
  });

  it('under QEMU microvm', { skip: skipQemu }, () => undefined);
});
