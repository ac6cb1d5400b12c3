// The tiny test kernel on tsvmm: the runtime (cmdline, memory map, verdict, exit) and virtio-rng through the
// guest's own polling driver.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dataWith, numberField } from '../../src/guest/test-kernel-output';
import { kvmUnavailable } from '../helpers/kvm';
import { runTiny } from '../helpers/tiny';
import { exitStatus } from '../../src/vmm/exit-status';

const skip = kvmUnavailable();

describe('tiny test kernel: runtime and virtio-rng on tsvmm', { skip, timeout: 180_000 }, () => {
  it('reads 64 KiB from virtio-rng, and its notifies cost no exit', async () => {
    const r = await runTiny({ cmdline: 'test=rng rng_bytes=65536 rng_chunk=4096', devices: [{ type: 'rng' }] });
    assert.deepEqual(r.verdict, { test: 'rng', passed: true }, r.text);
    assert.equal(r.exit.reason, 'reset', r.exit.detail);
    assert.equal(exitStatus(r.exit), 0);
    const [got] = dataWith(r, 'bytes', 'requests');
    assert.equal(numberField(got!, 'bytes'), 65536);
    const rng = r.devices[0]!;
    assert.equal(rng.requests, numberField(got!, 'requests'));
    assert.ok(rng.bytes! >= 65536, JSON.stringify(rng));
    assert.equal(rng.failures, 0);
    const [counts] = dataWith(r, 'register_accesses', 'notifies');
    assert.ok(numberField(counts!, 'notifies') > 0);
    // Every MMIO exit is a register access the driver counted: the queue notifies went to ioeventfds.
    assert.equal(r.vcpu.mmio, numberField(counts!, 'register_accesses'), JSON.stringify(r.vcpu));
  });

  it('finds the device by scanning for the magic when the cmdline does not name it', async () => {
    const r = await runTiny({ cmdline: 'test=rng rng_bytes=4096 virtio_scan=1', devices: [{ type: 'rng' }, { type: 'rng' }] });
    assert.deepEqual(r.verdict, { test: 'rng', passed: true }, r.text);
    assert.ok(r.devices[0]!.bytes! >= 4096);
    assert.equal(r.devices[1]!.bytes, 0);
  });

  it('fails an unknown test by name and ends with a triple fault (status 4)', async () => {
    const r = await runTiny({ cmdline: 'test=no-such-test' });
    assert.equal(r.verdict?.passed, false, r.text);
    assert.equal(r.verdict.test, 'no-such-test');
    assert.match(r.verdict.reason!, /unknown test \(known: rng console blk torture exits blkbench fault/);
    assert.equal(exitStatus(r.exit), 4, r.exit.detail);
  });

  it('a fault at CPL3 is reported as a FAIL line naming the exception, and ends in a triple fault', async () => {
    const r = await runTiny({ cmdline: 'test=fault' });
    assert.equal(r.verdict?.test, 'fault', r.text);
    assert.match(r.verdict.reason!, /^exception 14 at rip 0x[0-9a-f]+$/);
    assert.match(r.text, /exception 14 error 0x4 rip 0x[0-9a-f]+ cs 0x1b .* cr2 0x10000000000/);
    assert.equal(exitStatus(r.exit), 4);
  });

  it('fails when the cmdline names no test, and when the device is missing', async () => {
    const none = await runTiny({ cmdline: 'quiet' });
    assert.deepEqual(none.verdict, { test: 'boot', passed: false, reason: 'no test= on the command line' });
    const missing = await runTiny({ cmdline: 'test=rng' });
    assert.deepEqual(missing.verdict, { test: 'rng', passed: false, reason: 'no virtio-rng device' });
  });
});
