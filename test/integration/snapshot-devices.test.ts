// Devices in snapshots, with the tiny test kernel's drivers. A gpu (test=gpu): the guest draws frame 1 and waits
// for a key; the machine is paused, written and restored, and the restored machine's screenshot is frame 1 pixel
// for pixel, before the guest draws anything again (the host copy came back from the snapshot). A key to the
// restored keyboard then makes the restored driver draw frame 2 on the restored device, and the test passes there.
// A sound device (test=snd) paused in the middle of its paced tone, periods in flight: the restored device plays
// the periods it held and the rest, and the guest's own timing of the tone still passes.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createVm } from '../../src/api/create';
import { restoreVm } from '../../src/api/restore';
import { readSnapshot } from '../../src/vmm/snapshot/format';
import type { Vm } from '../../src/api/vm';
import { readPng } from '../devices/gpu/png-reader';
import { kvmUnavailable } from '../helpers/kvm';
import { testKernel } from '../helpers/tiny';
import { watchConsole } from '../helpers/vm-console';

const skip = kvmUnavailable();
const LIMIT_MS = 120_000;
const WIDTH = 64;
const HEIGHT = 48;

/** The first pixel of the screenshot that is not frame `frame` of test/guest/tests/gpu.c, or undefined. */
async function mismatch(vm: Vm, frame: number, width: number, height: number): Promise<string | undefined> {
  const img = readPng(await vm.display.screenshot(0));
  if (img.width !== width || img.height !== height) return `${img.width}x${img.height} instead of ${width}x${height}`;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const want = [(x ^ y) & 0xff, y & 0xff, x & 0xff].map((v) => (frame === 2 ? 255 - v : v));
      const at = 4 * (y * width + x);
      const got = [img.rgba[at]!, img.rgba[at + 1]!, img.rgba[at + 2]!];
      if (got.some((v, i) => v !== want[i])) return `(${x}, ${y}): ${got.join(',')} instead of ${want.join(',')}`;
    }
  }
  return undefined;
}

describe('devices in snapshots of the tiny test kernel', { skip, timeout: 3 * LIMIT_MS }, () => {
  let dir: string;
  let kernel: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-snapshot-devices-'));
    kernel = await testKernel();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('comes back showing the same frame, and the restored driver draws the next one', async () => {
    const vm = await createVm({ kernel, memory: '64M', cmdline: `test=gpu gpu_w=${WIDTH} gpu_h=${HEIGHT} timeout_ms=60000`,
      devices: [{ type: 'gpu', width: 640, height: 480 }, { type: 'input', kind: 'keyboard' }] });
    const out = watchConsole(vm);
    vm.start();
    // The refusals come after frame 1 is shown; then the guest waits for a key.
    await out.waitFor('TSVMM-DATA: gpu refusals=7', LIMIT_MS);
    assert.equal(await mismatch(vm, 1, WIDTH, HEIGHT), undefined);
    await vm.pause();
    const snap = path.join(dir, 'gpu');
    await vm.snapshot(snap);
    await vm.kill();

    const again = await restoreVm(snap, { paused: true });
    try {
      const restored = watchConsole(again);
      assert.equal(await mismatch(again, 1, WIDTH, HEIGHT), undefined, 'the screen before the guest runs again');
      await again.resume();
      assert.equal(again.input.key('a'), 4);
      await restored.waitFor(/TSVMM-TEST: (PASS|FAIL) gpu/, LIMIT_MS);
      assert.match(restored.text(), /TSVMM-DATA: gpu drawn frame=2 width=32 height=24/);
      assert.match(restored.text(), /TSVMM-TEST: PASS gpu/);
      const gpu = again.counters().devices[0]!.counters;
      assert.equal(gpu.errors, 0, JSON.stringify(gpu));
    } finally {
      await again.kill();
    }
  });

  it('a sound device paused mid-tone plays out the periods it held and the rest after the restore', async () => {
    const vm = await createVm({ kernel, memory: '64M', cmdline: 'test=snd snd_ms=1500 snd_capture_ms=100 timeout_ms=60000',
      devices: [{ type: 'snd' }] });
    const out = watchConsole(vm);
    vm.start();
    const played = (v: Vm): number => v.counters().devices[0]!.counters.framesPlayed ?? 0;
    await out.until(() => played(vm) >= 48_000 * 0.3, '0.3 s of the tone played', LIMIT_MS);
    await vm.pause();
    const snap = path.join(dir, 'snd');
    await vm.snapshot(snap);
    const before = played(vm);
    await vm.kill();
    const saved = JSON.parse(readSnapshot(snap).sections.get('virtio0')!.toString('utf8')) as
      { device: { streams: { state: string; heads: number[] }[] } };
    assert.equal(saved.device.streams[0]!.state, 'started');
    assert.ok(saved.device.streams[0]!.heads.length >= 1, 'periods held at the snapshot');

    const again = await restoreVm(snap);
    try {
      const restored = watchConsole(again);
      await restored.waitFor(/TSVMM-TEST: (PASS|FAIL) snd/, LIMIT_MS);
      assert.match(restored.text(), /TSVMM-TEST: PASS snd/, restored.text().slice(-800));
      const snd = again.counters().devices[0]!.counters;
      // The tone is 1.5 s at 48 kHz: what was not played before the snapshot was played after it.
      assert.ok(before + snd.framesPlayed! >= 72_000, `${before} frames before, ${JSON.stringify(snd)} after`);
      assert.equal(snd.errors, 0, JSON.stringify(snd));
    } finally {
      await again.kill();
    }
  });
});
