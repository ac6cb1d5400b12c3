// The same test kernel binary under QEMU microvm (version-2 virtio-mmio, devices announced on the cmdline at
// QEMU's 512-byte windows): the guest's drivers are not written against tsvmm alone, and the two monitors can be
// compared on one guest. The guest ends QEMU through isa-debug-exit: status 1 for a pass, 3 for a failure.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataWith } from '../../src/guest/test-kernel-output';
import { qemuUnavailable, runQemuTiny, sparseImage } from '../helpers/tiny';

const skip = qemuUnavailable();
const DISK_BYTES = 32 * 1024 * 1024;

function drive(image: string, extra = ''): string[] {
  return ['-drive', `id=d0,file=${image},format=raw,if=none${extra}`];
}

describe('tiny test kernel under QEMU microvm', { skip, timeout: 300_000 }, () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-qemu-')); });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('rng', async () => {
    const r = await runQemuTiny('test=rng rng_bytes=65536', ['-device', 'virtio-rng-device']);
    assert.deepEqual(r.verdict, { test: 'rng', passed: true }, r.text);
    assert.equal(r.code, 1, r.text);
    assert.equal(dataWith(r, 'bytes')[0]!.bytes, '65536');
  });

  it('rng found by scanning QEMU\'s windows for the magic', async () => {
    const r = await runQemuTiny('test=rng rng_bytes=4096 virtio_scan=1', ['-device', 'virtio-rng-device']);
    assert.deepEqual(r.verdict, { test: 'rng', passed: true }, r.text);
  });

  it('blk on a writable disk', async () => {
    const image = sparseImage(dir, 'rw.img', DISK_BYTES);
    const r = await runQemuTiny(`test=blk blk_capacity=${DISK_BYTES / 512} blk_serial=qemu-disk`,
      ['-device', 'virtio-blk-device,drive=d0,serial=qemu-disk', ...drive(image)]);
    assert.deepEqual(r.verdict, { test: 'blk', passed: true }, r.text);
    assert.equal(r.code, 1);
  });

  it('blk on a read-only disk', async () => {
    const image = sparseImage(dir, 'ro.img', DISK_BYTES);
    const r = await runQemuTiny('test=blk blk_ro=1', ['-device', 'virtio-blk-device,drive=d0', ...drive(image, ',readonly=on')]);
    assert.deepEqual(r.verdict, { test: 'blk', passed: true }, r.text);
  });

  it('a failing test ends QEMU with status 3', async () => {
    const r = await runQemuTiny('test=rng', []);
    assert.deepEqual(r.verdict, { test: 'rng', passed: false, reason: 'no virtio-rng device' });
    assert.equal(r.code, 3);
  });
});
