// virtio-scsi through the tiny test kernel's own driver (test=scsi): INQUIRY, capacity, patterned writes read back
// at the start, middle and end of the disk (and found in the image file by the host), and the refusals a device
// owes: an unknown opcode, a read past the end, a target that is not there. The same guest runs under QEMU
// microvm's virtio-scsi-device with a scsi-hd.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataWith, numberField, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import { kvmUnavailable } from '../helpers/kvm';
import { qemuUnavailable, runQemuTiny, runTiny, sparseImage } from '../helpers/tiny';

const skip = kvmUnavailable();
const skipQemu = qemuUnavailable();
const LIMIT_MS = 120_000;
const DISK_BYTES = 4 * 1024 * 1024;
const SECTORS = DISK_BYTES / 512;

/** What the guest wrote at `lba` (test/guest/tests/scsi.c, round_trip): 8 sectors. */
function pattern(lba: number): Buffer {
  const b = Buffer.alloc(8 * 512);
  for (let i = 0; i < b.length; i++) b[i] = (lba * 7 + i * 13 + (i >> 9)) & 0xff;
  return b;
}

function checkRun(r: TestKernelOutput & { text: string }, image: string): void {
  assert.deepEqual(r.verdict, { test: 'scsi', passed: true }, r.text);
  const [cap] = dataWith(r, 'last_lba', 'block');
  assert.equal(numberField(cap!, 'last_lba'), SECTORS - 1);
  assert.equal(dataWith(r, 'refused').length, 3, r.text);
  const disk = fs.readFileSync(image);
  for (const lba of [0, SECTORS / 2, SECTORS - 8]) {
    assert.ok(disk.subarray(lba * 512, (lba + 8) * 512).equals(pattern(lba)), `the image holds the guest's writes at LBA ${lba}`);
  }
}

describe('tiny test kernel: virtio-scsi', () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-scsi-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('on tsvmm: one disk at target 0, written and read back, and the refusals', { skip, timeout: LIMIT_MS }, async () => {
    const image = sparseImage(dir, 'tsvmm.img', DISK_BYTES);
    const r = await runTiny({ cmdline: `test=scsi scsi_capacity=${SECTORS}`, timeoutMs: LIMIT_MS,
      devices: [{ type: 'scsi', disks: [{ path: image, serial: 'tiny-scsi-0' }] }] });
    checkRun(r, image);
    assert.match(r.text, /inquiry type=0 vendor=TSVMM/);
    assert.match(r.text, /config max_target=0 max_lun=0 cdb_size=32 sense_size=96/);
  });

  it('under QEMU microvm: virtio-scsi-device with a scsi-hd', { skip: skipQemu, timeout: LIMIT_MS }, async () => {
    const image = sparseImage(dir, 'qemu.img', DISK_BYTES);
    const r = await runQemuTiny(`test=scsi scsi_capacity=${SECTORS}`, ['-device', 'virtio-scsi-device,id=scsi0',
      '-drive', `file=${image},if=none,id=d0,format=raw`, '-device', 'scsi-hd,drive=d0,bus=scsi0.0,channel=0,scsi-id=0,lun=0'],
    LIMIT_MS);
    assert.equal(r.code, 1, r.text);
    checkRun(r, image);
  });
});
