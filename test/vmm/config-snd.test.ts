import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { SndBackendError } from '../../src/devices/snd/backends';
import { ConfigError, toConfigInput, validateConfig } from '../../src/vmm/config';
import { configFixture } from '../helpers/config-fixture';
import { deviceConfigError } from '../../src/vmm/virtio-devices';

const { dir, valid, rejects } = configFixture('tsvmm-config-snd-', { 'in.wav': 'RIFF', 'disk.img': Buffer.alloc(4096) });

test('a sound card: discard and silence by default; wav paths resolved; back to an input that validates again', () => {
  assert.deepEqual(valid({ devices: [{ type: 'snd' }] }).devices,
    [{ type: 'snd', playback: { backend: 'discard' }, capture: { backend: 'silence' } }]);
  const c = valid({ devices: [{ type: 'snd', playback: { backend: 'wav', path: 'out.wav' },
    capture: { backend: 'wav', path: 'in.wav' } }] });
  const want = { type: 'snd', playback: { backend: 'wav', path: path.join(dir, 'out.wav') },
    capture: { backend: 'wav', path: path.join(dir, 'in.wav') } };
  assert.deepEqual(c.devices, [want]);
  assert.deepEqual(validateConfig(toConfigInput(c), { baseDir: '/' }).devices, [want]);
});

test('a sound card\'s backends: a path only with wav and always with it, files that exist to capture from', () => {
  rejects([{ type: 'snd', playback: { backend: 'wav' } }], 'devices[0].playback.path', 'required for backend wav');
  rejects([{ type: 'snd', capture: { backend: 'silence', path: 'in.wav' } }], 'devices[0].capture.path',
    'only the wav backend takes a path');
  rejects([{ type: 'snd', capture: { backend: 'wav', path: 'missing.wav' } }], 'devices[0].capture.path',
    'file not found: missing.wav');
  rejects([{ type: 'snd', playback: { backend: 'null' } }], 'devices[0].playback.backend',
    '"null" is not one of discard, wav');
  rejects([{ type: 'snd', capture: 'silence' }], 'devices[0].capture', '"silence" is not a mapping (key: value)');
  rejects([{ type: 'snd', playback: { backend: 'wav', path: 'nope/out.wav' } }], 'devices[0].playback.path',
    'directory not found: nope');
});

test('a recording is not another device\'s file, nor another card\'s recording', () => {
  rejects([{ type: 'blk', path: 'disk.img' }, { type: 'snd', playback: { backend: 'wav', path: 'disk.img' } }],
    'devices[1].playback.path', `${path.join(dir, 'disk.img')} is also devices[0].path (a disk image)`);
  rejects([{ type: 'snd', playback: { backend: 'wav', path: 'a.wav' } }, { type: 'snd', playback: { backend: 'wav',
    path: 'a.wav' } }], 'devices[1].playback.path', `${path.join(dir, 'a.wav')} is already recorded into (see devices[0].playback.path)`);
});

test('a WAV file the device cannot use names devices[N].capture.path or playback.path', () => {
  const e = deviceConfigError(3, new SndBackendError('capture', '/x/in.wav is at 22050 Hz; capture takes 44100 or 48000 Hz'));
  assert.ok(e instanceof ConfigError);
  assert.equal(e.field, 'devices[3].capture.path');
  assert.equal(e.message, 'devices[3].capture.path: /x/in.wav is at 22050 Hz; capture takes 44100 or 48000 Hz');
  const p = deviceConfigError(0, new SndBackendError('playback', '/x/out.wav: EACCES'));
  assert.ok(p instanceof ConfigError && p.field === 'devices[0].playback.path');
});
