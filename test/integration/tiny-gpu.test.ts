// virtio-gpu 2D through the tiny test kernel's own driver (test=gpu): a fenced frame drawn in two runs of guest RAM
// comes back in the host's screenshot pixel for pixel, seven requests get the spec's errors, and after a key from
// the host (virtio-input) a mode change to a frame half the size shows in the next screenshot. The same guest runs
// under QEMU microvm's virtio-gpu-device, whose screen comes from its monitor's `screendump` (a PPM).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { screenshotPng } from '../../src/devices/gpu/screenshot';
import { dataWith, numberField, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import type { Machine } from '../../src/vmm/machine';
import { readPng } from '../devices/gpu/png-reader';
import { kvmUnavailable } from '../helpers/kvm';
import { QemuMonitor } from '../helpers/qemu-monitor';
import { qemuUnavailable, runQemuTiny, runTiny } from '../helpers/tiny';

const skip = kvmUnavailable();
const skipQemu = qemuUnavailable();
/** Bounds a guest that stops answering; a healthy run takes seconds even in the nested test host. */
const LIMIT_MS = 120_000;
const WIDTH = 64;
const HEIGHT = 48;
const KEY_A = 30;

interface Rgb { width: number; height: number; px: (x: number, y: number) => [number, number, number] }

/** What the guest drew at (x, y) of frame 1 or 2, as R, G, B (test/guest/tests/gpu.c). */
function expected(frame: number, x: number, y: number): [number, number, number] {
  const rgb: [number, number, number] = [(x ^ y) & 0xff, y & 0xff, x & 0xff];
  return frame === 2 ? rgb.map((v) => 255 - v) as [number, number, number] : rgb;
}

/** The first pixel that differs from the guest's pattern, or undefined. */
function firstMismatch(img: Rgb, frame: number): string | undefined {
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const got = img.px(x, y);
      const want = expected(frame, x, y);
      if (got.some((v, i) => v !== want[i])) return `(${x}, ${y}): ${got.join(',')} instead of ${want.join(',')}`;
    }
  }
  return undefined;
}

async function tsvmmScreen(m: Machine): Promise<Rgb> {
  const frame = m.gpu?.scanoutFrame(0);
  assert.ok(frame !== undefined, 'scanout 0 shows a resource');
  const img = readPng(await screenshotPng(frame));
  return { width: img.width, height: img.height, px: (x, y) => {
    const at = 4 * (y * img.width + x);
    assert.equal(img.rgba[at + 3], 255, 'an X8 format is opaque');
    return [img.rgba[at]!, img.rgba[at + 1]!, img.rgba[at + 2]!];
  } };
}

/** A binary PPM (P6, maxval 255), as QEMU's screendump writes it. */
function readPpm(file: string): Rgb {
  const b = fs.readFileSync(file);
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(b.toString('latin1', 0, 64));
  assert.ok(header, `a P6 PPM: ${JSON.stringify(b.toString('latin1', 0, 20))}`);
  const width = Number(header[1]);
  const height = Number(header[2]);
  const data = b.subarray(header[0].length);
  assert.equal(data.length, width * height * 3);
  return { width, height, px: (x, y) => {
    const at = 3 * (y * width + x);
    return [data[at]!, data[at + 1]!, data[at + 2]!];
  } };
}

function checkRun(r: TestKernelOutput & { text: string }): void {
  assert.deepEqual(r.verdict, { test: 'gpu', passed: true }, r.text);
  assert.equal(numberField(dataWith(r, 'refusals')[0]!, 'refusals'), 7);
  const drawn = dataWith(r, 'frame', 'width', 'height').map((f) => [f.frame, f.width, f.height].map(Number));
  assert.deepEqual(drawn, [[1, WIDTH, HEIGHT], [2, WIDTH / 2, HEIGHT / 2]]);
}

describe('tiny test kernel: virtio-gpu 2D on tsvmm', { skip, timeout: 2 * LIMIT_MS }, () => {
  it('frame 1 and, after a key, frame 2 come back in the screenshots pixel for pixel', async () => {
    const screens: Rgb[] = [];
    const r = await runTiny({
      cmdline: `test=gpu gpu_w=${WIDTH} gpu_h=${HEIGHT}`, memory: '64M', timeoutMs: LIMIT_MS,
      devices: [{ type: 'gpu', width: 640, height: 480 }, { type: 'input', kind: 'keyboard' }],
      during: async (m, out) => {
        await out.waitFor('drawn frame=1', LIMIT_MS);
        screens.push(await tsvmmScreen(m));
        m.sendInput(1, [{ type: 1, code: KEY_A, value: 1 }, { type: 0, code: 0, value: 0 }]);
        await out.waitFor('drawn frame=2', LIMIT_MS);
        screens.push(await tsvmmScreen(m));
      },
    });
    checkRun(r);
    const [display] = dataWith(r, 'scanouts', 'width');
    assert.deepEqual([numberField(display!, 'width'), numberField(display!, 'height')], [640, 480]);
    assert.deepEqual(screens.map((s) => [s.width, s.height]), [[WIDTH, HEIGHT], [WIDTH / 2, HEIGHT / 2]]);
    assert.equal(firstMismatch(screens[0]!, 1), undefined);
    assert.equal(firstMismatch(screens[1]!, 2), undefined);
    const gpu = r.devices[0]!;
    assert.equal(gpu.errors, 7, JSON.stringify(gpu));
  });
});

describe('tiny test kernel: the same gpu driver under QEMU microvm', { skip: skipQemu, timeout: 2 * LIMIT_MS }, () => {
  it('QEMU\'s virtio-gpu-device shows both frames in its screendump', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-gpu-'));
    const socket = path.join(dir, 'monitor.sock');
    const screens: Rgb[] = [];
    try {
      const r = await runQemuTiny(`test=gpu gpu_w=${WIDTH} gpu_h=${HEIGHT}`,
        ['-device', 'virtio-gpu-device', '-device', 'virtio-keyboard-device',
          '-monitor', `unix:${socket},server=on,wait=off`], LIMIT_MS,
        async (output) => {
          const monitor = await QemuMonitor.connect(socket, 10_000);
          try {
            for (const frame of [1, 2]) {
              await output.waitFor(`drawn frame=${frame}`, LIMIT_MS);
              const file = path.join(dir, `frame${frame}.ppm`);
              await monitor.command(`screendump ${file}`);
              screens.push(readPpm(file));
              if (frame === 1) await monitor.command('sendkey a');
            }
          } finally {
            monitor.close();
          }
        });
      checkRun(r);
      assert.equal(r.code, 1, r.text);
      assert.deepEqual(screens.map((s) => [s.width, s.height]), [[WIDTH, HEIGHT], [WIDTH / 2, HEIGHT / 2]]);
      assert.equal(firstMismatch(screens[0]!, 1), undefined);
      assert.equal(firstMismatch(screens[1]!, 2), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
