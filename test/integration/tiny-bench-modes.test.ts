// The tiny test kernel's benchmark modes run and print parsable lines. No figure is judged here: performance is
// measured by `npm run bench`, never by tests.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dataWith, numberField } from '../../src/guest/test-kernel-output';
import { kvmUnavailable } from '../helpers/kvm';
import { runTiny, sparseImage } from '../helpers/tiny';

const skip = kvmUnavailable();

describe('tiny test kernel: exits and blkbench on tsvmm', { skip, timeout: 180_000 }, () => {
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-bench-')); });
  after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

  it('exits: one line per register; InterruptStatus reads never reach TypeScript, the others each do', async () => {
    const image = sparseImage(dir, 'exits.img', 1024 * 1024);
    const r = await runTiny({ cmdline: 'test=exits exits_count=2000', devices: [{ type: 'blk', path: image }] });
    assert.deepEqual(r.verdict, { test: 'exits', passed: true }, r.text);
    const lines = dataWith(r, 'reg', 'n', 'us', 'exits_per_s');
    assert.deepEqual(lines.map((l) => l.reg), ['queue_num_max', 'interrupt_status', 'config8']);
    for (const l of lines) {
      assert.equal(numberField(l, 'n'), 2000);
      assert.ok(numberField(l, 'exits_per_s') > 0);
    }
    assert.equal(lines[0]!.value, '256', 'QueueNumMax of the blk queue');
    const [counts] = dataWith(r, 'register_accesses');
    // Every register access is one exit: InterruptStatus reads are answered in the native run loop (fastMmio),
    // all the others by the register model in TypeScript on the vCPU thread (mmio).
    assert.ok(r.vcpu.mmio >= 2 * 2000, JSON.stringify(r.vcpu));
    assert.equal(r.vcpu.fastMmio, 2000, JSON.stringify(r.vcpu));
    assert.equal(r.vcpu.mmio + r.vcpu.fastMmio, numberField(counts!, 'register_accesses'));
  });

  it('blkbench: six operations by count, each request answered OK', async () => {
    const image = sparseImage(dir, 'bench.img', 32 * 1024 * 1024);
    const r = await runTiny({ cmdline: 'test=blkbench bench_count=64 bench_region=16M', devices: [{ type: 'blk', path: image }] });
    assert.deepEqual(r.verdict, { test: 'blkbench', passed: true }, r.text);
    const ops = dataWith(r, 'op', 'bs', 'qd', 'ios', 'iops', 'mbps');
    assert.deepEqual(ops.map((o) => `${o.op}/${o.bs}/${o.qd}`), ['randread/4096/1', 'randread/4096/32',
      'randwrite/4096/1', 'randwrite/4096/32', 'seqread/1048576/1', 'seqwrite/1048576/1']);
    for (const o of ops) {
      assert.equal(numberField(o, 'ios'), 64);
      assert.match(o.mbps!, /^\d+\.\d\d$/);
    }
    const blk = r.devices[0]!;
    assert.equal(blk.requests, 6 * 64);
    assert.equal(blk.errors, 0);
    assert.equal(blk.writtenBytes, 64 * 4096 * 2 + 64 * 1024 * 1024);
  });
});
