// virtio-iommu under the tiny test kernel's driver on tsvmm, in front of a virtio-blk device whose DMA goes through
// it (ACCESS_PLATFORM): no DMA before ATTACH, data through translated IOVAs (one buffer over two mappings in the
// other order), the requests the spec refuses, faults for a read-only and an unmapped IOVA, DETACH. The host then
// finds in the disk image what the guest wrote through the IOVAs, and the devices' counters agree with the guest.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataWith, numberField } from '../../src/guest/test-kernel-output';
import { virtioMmioDeviceParam } from '../../src/vmm/boot/cmdline';
import { virtioMmioSlot } from '../../src/vmm/boot/layout';
import { kvmUnavailable } from '../helpers/kvm';
import { runTiny, type TinyRun } from '../helpers/tiny';

const skip = kvmUnavailable();

// The faults the guest provokes, in order: each stops the blk device (DEVICE_NEEDS_RESET).
const FAULTS = ['read-before-attach', 'read-into-read-only-mapping', 'read-into-unmapped-iova', 'read-after-detach'];
// The requests the guest expects refused, with the status it checked.
const REFUSALS: Record<string, string> = {
  'map-unaligned-virt-start': 'RANGE', 'map-unaligned-virt-end': 'RANGE', 'map-unaligned-phys-start': 'RANGE',
  'map-overlapping-second-page': 'INVAL', 'map-overlapping-around': 'INVAL', 'unmap-splitting-a-mapping': 'RANGE',
  'map-unknown-domain': 'NOENT', 'attach-unknown-endpoint': 'NOENT', 'attach-reserved-nonzero': 'INVAL',
  'detach-from-another-domain': 'INVAL', 'probe-unknown-endpoint': 'NOENT', 'unknown-type': 'UNSUPP',
  'probe-short-buffer': 'INVAL',
};
// MAPs and UNMAPs that succeed: rings, write, read, two scatter pages, read-only; the read buffer, the rest, the rings.
const MAPS = 6;
const UNMAPS = 3;

/**
 * The cmdline for a machine whose devices are `types`, in config order: with `acpi: on` tsvmm announces them only in
 * the DSDT, which the test kernel does not read, so each window goes on the cmdline here. A device's endpoint ID is
 * its index in the config.
 */
function iommuCmdline(types: string[], endpoint = types.indexOf('blk')): string {
  const windows = types.map((_, i) => `virtio_mmio.device=${virtioMmioDeviceParam(virtioMmioSlot(i))}`);
  return ['test=iommu', `iommu_ep=${endpoint}`, ...windows].join(' ');
}

/** Byte k of the guest's pattern (tests/iommu.c). */
function pattern(seed: number, k: number): number {
  return (k * 131 + (k >> 8) * 7 + seed) & 0xff;
}

function imageBytes(image: string, sector: number, length: number): Buffer {
  const fd = fs.openSync(image, 'r');
  try {
    const b = Buffer.alloc(length);
    fs.readSync(fd, b, 0, length, sector * 512);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** The first byte of the image at `sector` that is not the pattern, or -1. */
function patternMismatch(image: string, sector: number, seed: number, length: number): number {
  const bytes = imageBytes(image, sector, length);
  return bytes.findIndex((b, k) => b !== pattern(seed, k));
}

function checkRun(r: TinyRun, image: string, iommuIndex: number, blkIndex: number): void {
  assert.deepEqual(r.verdict, { test: 'iommu', passed: true }, r.text);
  assert.equal(r.exit.reason, 'reset', r.exit.detail);

  const faults = dataWith(r, 'fault', 'reason', 'endpoint');
  assert.deepEqual(faults.map((f) => f.fault), FAULTS, `the faults the guest saw:\n${r.text}`);
  for (const f of faults) assert.equal(f.endpoint, String(blkIndex), `${f.fault} names the blk device's endpoint`);
  const answers = new Map(dataWith(r, 'request', 'status').map((d) => [d.request, d.status]));
  for (const [request, status] of Object.entries(REFUSALS)) {
    assert.equal(answers.get(request), status, `${request}: the guest saw ${answers.get(request) ?? 'no answer'}`);
  }
  const msi = dataWith(r, 'probe_property', 'subtype')
    .find((p) => p.probe_property === 'resv_mem' && p.subtype === '1');
  assert.deepEqual(msi, { probe_property: 'resv_mem', subtype: '1', start: '0xfee00000', end: '0xfeefffff' }, r.text);

  // What went through the IOVAs is on the disk, the two-mapping buffer in IOVA order.
  const [written] = dataWith(r, 'written_sector', 'scattered_sector');
  const bytes = numberField(written!, 'bytes');
  for (const [sector, seed] of [['written_sector', 'written_seed'], ['scattered_sector', 'scattered_seed']] as const) {
    const at = patternMismatch(image, numberField(written!, sector), numberField(written!, seed), bytes);
    assert.equal(at, -1, `${sector}: the image differs from the guest's pattern at byte ${at}`);
  }

  const [summary] = dataWith(r, 'faults', 'extra_faults');
  const guestFaults = numberField(summary!, 'faults');
  const iommu = r.devices[iommuIndex]!;
  const blk = r.devices[blkIndex]!;
  process.stderr.write(`tiny iommu: iommu ${JSON.stringify(iommu)}\ntiny iommu: blk ${JSON.stringify(blk)}\n`);
  // Every fault stopped the blk device once; none completed a request.
  assert.equal(blk.failures, FAULTS.length, `blk failures (DEVICE_NEEDS_RESET): ${JSON.stringify(blk)}`);
  if ('inFlight' in blk) assert.equal(blk.inFlight, 0);
  // The iommu device's own counters, where it keeps them under these names.
  if ('faults' in iommu) assert.equal(iommu.faults, guestFaults, `iommu faults vs the guest's ${guestFaults}`);
  if ('maps' in iommu) assert.ok(iommu.maps >= MAPS, `iommu maps: ${JSON.stringify(iommu)}`);
  if ('unmaps' in iommu) assert.ok(iommu.unmaps >= UNMAPS, `iommu unmaps: ${JSON.stringify(iommu)}`);
}

describe('tiny test kernel: virtio-iommu on tsvmm', { skip, timeout: 180_000 }, () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-iommu-')); });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('translates the blk device\'s DMA, refuses what the spec refuses, and reports every fault', async () => {
    const image = path.join(dir, 'first.img');
    const r = await runTiny({
      acpi: 'on',
      cmdline: iommuCmdline(['iommu', 'blk']),
      devices: [{ type: 'iommu' }, { type: 'blk', path: image, create: true, size: '16M', iommu: true }],
    });
    checkRun(r, image, 0, 1);
  });

  it('the endpoint ID is the device\'s index in the config, whichever comes first', async () => {
    const image = path.join(dir, 'second.img');
    const r = await runTiny({
      acpi: 'on',
      cmdline: iommuCmdline(['blk', 'iommu']),
      devices: [{ type: 'blk', path: image, create: true, size: '16M', iommu: true }, { type: 'iommu' }],
    });
    checkRun(r, image, 1, 0);
  });

  it('fails, saying why, when the cmdline names an endpoint the iommu does not have', async () => {
    const image = path.join(dir, 'wrong.img');
    const r = await runTiny({
      acpi: 'on',
      cmdline: iommuCmdline(['iommu', 'blk'], 7),
      devices: [{ type: 'iommu' }, { type: 'blk', path: image, create: true, size: '16M', iommu: true }],
    });
    assert.deepEqual(r.verdict, { test: 'iommu', passed: false, reason: 'probe: status NOENT, expected OK' }, r.text);
  });
});
