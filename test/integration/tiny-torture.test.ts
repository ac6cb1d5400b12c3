// Malformed virtio-blk requests from the tiny test kernel, one at a time: each costs the guest its request (a
// status byte) or its device (DEVICE_NEEDS_RESET), never the VMM; after a reset the device serves again.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataWith, numberField } from '../../src/guest/test-kernel-output';
import { kvmUnavailable } from '../helpers/kvm';
import { runTiny, sparseImage } from '../helpers/tiny';

const skip = kvmUnavailable();

const EXPECTED: Record<string, string> = {
  'buffer-outside-ram': 'needs-reset', 'buffer-in-device-window': 'needs-reset', 'looping-chain': 'needs-reset',
  'nested-indirect': 'needs-reset', 'indirect-with-next': 'needs-reset', 'no-status-byte': 'needs-reset',
  'short-header': 'needs-reset', 'readable-after-writable': 'needs-reset', 'head-out-of-range': 'needs-reset',
  'avail-idx-jump': 'needs-reset', 'queue-outside-ram': 'needs-reset', 'unknown-type': 'unsupp',
  'write-past-end': 'ioerr',
};

describe('tiny test kernel: torture on tsvmm', { skip, timeout: 180_000 }, () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-torture-')); });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('every malformed request is refused, the VMM stays up, and the device works after each reset', async () => {
    const image = sparseImage(dir, 'disk.img', 16 * 1024 * 1024);
    const r = await runTiny({ cmdline: 'test=torture', devices: [{ type: 'blk', path: image }] });
    assert.deepEqual(r.verdict, { test: 'torture', passed: true }, r.text);
    // The guest ended the machine itself, after the last case.
    assert.equal(r.exit.reason, 'reset', r.exit.detail);
    const cases = dataWith(r, 'case', 'outcome', 'recovered');
    assert.deepEqual(Object.fromEntries(cases.map((c) => [c.case, c.outcome])), EXPECTED);
    for (const c of cases) assert.equal(c.recovered, '1', c.case);
    const [summary] = dataWith(r, 'cases', 'needs_reset');
    const needsReset = numberField(summary!, 'needs_reset');
    assert.equal(needsReset, 11);
    const blk = r.devices[0]!;
    // Each DEVICE_NEEDS_RESET is one transport failure. Every case but the ring-address one is a request the
    // device refused (the ring addresses fail at DRIVER_OK, before any request).
    assert.equal(blk.failures, needsReset, JSON.stringify(blk));
    assert.equal(blk.errors, cases.length - 1, JSON.stringify(blk));
    // The proof after each reset: a stamped write and its read-back.
    assert.ok(blk.writtenBytes! >= cases.length * 4096 && blk.readBytes! >= cases.length * 4096, JSON.stringify(blk));
    assert.equal(blk.inFlight, 0);
  });
});
