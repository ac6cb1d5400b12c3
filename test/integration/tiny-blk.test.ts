// virtio-blk under the tiny test kernel's driver on tsvmm: identity, stamped writes read back through every chain
// shape, requests in flight together, flush, discard, write-zeroes, the error statuses, a read-only disk. Also
// the exit count per request in steady state: with ioeventfd notifies and a polling guest it is zero.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataWith, numberField } from '../../src/guest/test-kernel-output';
import { kvmUnavailable } from '../helpers/kvm';
import { runTiny, sparseImage, type TinyRun } from '../helpers/tiny';

const skip = kvmUnavailable();
const DISK_BYTES = 64 * 1024 * 1024;
const SECTORS = DISK_BYTES / 512;

function sectorWord(image: string, sector: number): bigint {
  const fd = fs.openSync(image, 'r');
  try {
    const b = Buffer.alloc(8);
    fs.readSync(fd, b, 0, 8, sector * 512);
    return b.readBigUInt64LE(0);
  } finally {
    fs.closeSync(fd);
  }
}

/** MMIO exits beyond the driver's own register accesses, per chain it posted. */
function exitsPerRequest(r: TinyRun): number {
  const [counts] = dataWith(r, 'register_accesses', 'chains');
  return (r.vcpu.mmio - numberField(counts!, 'register_accesses')) / numberField(counts!, 'chains');
}

describe('tiny test kernel: virtio-blk on tsvmm', { skip, timeout: 300_000 }, () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-blk-')); });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('passes every request type on a writable disk, and the image holds what the guest wrote', async () => {
    const image = sparseImage(dir, 'rw.img', DISK_BYTES);
    const r = await runTiny({
      cmdline: `test=blk blk_capacity=${SECTORS} blk_serial=tiny-disk-0 blk_discard_zeroes=1`,
      devices: [{ type: 'blk', path: image, serial: 'tiny-disk-0' }],
    });
    assert.deepEqual(r.verdict, { test: 'blk', passed: true }, r.text);
    assert.equal(r.exit.reason, 'reset');
    const [identity] = dataWith(r, 'capacity', 'serial');
    assert.equal(identity!.serial, 'tiny-disk-0');
    const blk = r.devices[0]!;
    assert.ok(blk.readBytes! > 1_000_000 && blk.writtenBytes! > 1_000_000, JSON.stringify(blk));
    // Read across the end, read past the end (IOERR), an unknown type (UNSUPP); nothing needed a reset.
    assert.equal(blk.errors, 3, JSON.stringify(blk));
    assert.equal(blk.failures, 0);
    assert.equal(blk.inFlight, 0);
    // A polling guest asks for no interrupts (a used_event far ahead), and gets none.
    assert.equal(blk.interrupts, 0);
    // The stamps start with the sector number; the write-zeroes range (4096, 64 sectors) is zero.
    for (const sector of [0, 8, 100, 163, 2048, 2303, SECTORS - 1]) assert.equal(sectorWord(image, sector), BigInt(sector));
    for (const sector of [4096, 4159]) assert.equal(sectorWord(image, sector), 0n);
    const perRequest = exitsPerRequest(r);
    process.stderr.write(`tiny blk: ${r.vcpu.mmio} MMIO exits, ${perRequest} per request beyond register accesses\n`);
    assert.equal(perRequest, 0, JSON.stringify(r.vcpu));
  });

  it('passes without INDIRECT_DESC and EVENT_IDX too', async () => {
    const image = sparseImage(dir, 'plain.img', DISK_BYTES);
    const r = await runTiny({ cmdline: 'test=blk blk_indirect=0 blk_event_idx=0', devices: [{ type: 'blk', path: image }] });
    assert.deepEqual(r.verdict, { test: 'blk', passed: true }, r.text);
    const [identity] = dataWith(r, 'capacity', 'features');
    const features = BigInt(identity!.features!);
    assert.equal(features & ((1n << 28n) | (1n << 29n)), 0n);
    assert.equal(exitsPerRequest(r), 0);
    // Without EVENT_IDX the guest sets VIRTQ_AVAIL_F_NO_INTERRUPT instead.
    assert.equal(r.devices[0]!.interrupts, 0);
  });

  it('with a limit on requests per second the same requests all pass, and the device counts its waits', async () => {
    const image = sparseImage(dir, 'limited.img', DISK_BYTES);
    // 16 requests at once, then 160 a second: the run's hundred-odd requests must wait for tokens.
    const r = await runTiny({ cmdline: 'test=blk', devices: [{ type: 'blk', path: image,
      rateLimiter: { ops: { size: 16, refillTime: 100 } } }] });
    assert.deepEqual(r.verdict, { test: 'blk', passed: true }, r.text);
    const blk = r.devices[0]!;
    assert.ok(blk.throttled! > 0, `the limit made requests wait: ${JSON.stringify(blk)}`);
    assert.equal(blk.failures, 0);
  });

  it('a read-only disk offers VIRTIO_BLK_F_RO and refuses a write with IOERR', async () => {
    const image = sparseImage(dir, 'ro.img', DISK_BYTES);
    const r = await runTiny({ cmdline: 'test=blk blk_ro=1', devices: [{ type: 'blk', path: image, readonly: true }] });
    assert.deepEqual(r.verdict, { test: 'blk', passed: true }, r.text);
    const blk = r.devices[0]!;
    assert.equal(blk.writtenBytes, 0);
    assert.equal(blk.errors, 4, JSON.stringify(blk));
  });

  it('fails when the disk is not what the cmdline expects', async () => {
    const image = sparseImage(dir, 'other.img', DISK_BYTES);
    const r = await runTiny({ cmdline: 'test=blk blk_serial=expected', devices: [{ type: 'blk', path: image, serial: 'actual' }] });
    assert.deepEqual(r.verdict, { test: 'blk', passed: false, reason: 'serial "actual", expected "expected"' });
  });
});
