// virtio-balloon driven by the tiny test kernel's own polling driver on tsvmm. Guest RAM is made resident before
// the start, so the pages the guest gives up show as a fall of this process's RssShmem; the guest fills every page
// before inflating it and finds it zero-filled after deflating it, which it can only see if the host really
// released it. The target moves at run time (Machine.setBalloonTarget) while the guest polls num_pages.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { dataWith, numberField, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import { Machine } from '../../src/vmm/machine';
import { kvmUnavailable } from '../helpers/kvm';
import { QemuMonitor } from '../helpers/qemu-monitor';
import { qemuUnavailable, runQemuTiny, runTiny } from '../helpers/tiny';
import type { OutputWatch } from '../helpers/wait';
import { exitStatus } from '../../src/vmm/exit-status';

const skip = kvmUnavailable();
const skipQemu = qemuUnavailable();
const PAGES_PER_MIB = 256;
const WAIT_MS = 60_000;

/** This process's shared-memory RSS (guest RAM lives in a memfd), in KiB. */
function rssShmemKiB(): number {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  return Number(/^RssShmem:\s+(\d+) kB/m.exec(status)![1]);
}

function note(line: string): void {
  process.stderr.write(`# ${line}\n`);
}

/** Moves the target and waits until the guest reports a balloon of that size in `actual`. */
async function follow(m: Machine, output: OutputWatch, mib: number): Promise<void> {
  m.setBalloonTarget(mib);
  await output.until(() => m.balloonStats().actualPages === mib * PAGES_PER_MIB, `actual to reach ${mib} MiB`, WAIT_MS);
}

function guestData(r: TestKernelOutput & { text: string }): Record<string, number> {
  const [fields] = dataWith(r, 'inflated', 'deflated', 'zero_pages');
  assert.ok(fields, r.text);
  return Object.fromEntries(Object.keys(fields).map((k) => [k, numberField(fields, k)]));
}

describe('tiny test kernel: virtio-balloon on tsvmm', { skip, timeout: 300_000 }, () => {
  it('inflates to a run-time target, the host releases the pages, deflates them back zero-filled', async () => {
    const targetMiB = 32;
    const target = targetMiB * PAGES_PER_MIB;
    let m: Machine | undefined;
    const rss: Record<string, number> = {};
    let holding: ReturnType<Machine['balloonStats']> | undefined;
    const r = await runTiny({
      cmdline: 'test=balloon balloon_bad=1', memory: '128M', prefaultMemory: true,
      devices: [{ type: 'balloon', statsInterval: 1 }],
      during: async (machine, output) => {
        m = machine;
        await output.waitFor('balloon: ready', WAIT_MS);
        rss.before = rssShmemKiB();
        await follow(machine, output, targetMiB);
        rss.inflated = rssShmemKiB();
        holding = machine.balloonStats();
        // The device hands the statistics buffer back every second; the guest answers while it waits.
        await output.until(() => machine.deviceCounters()[0]!.statsReports! >= 2, 'a second statistics report', WAIT_MS);
        machine.setBalloonTarget(0);
      },
    });
    rss.after = rssShmemKiB();
    note(`RssShmem ${rss.before} KiB before, ${rss.inflated} KiB holding ${target} pages, ${rss.after} KiB after`);
    assert.deepEqual(r.verdict, { test: 'balloon', passed: true }, r.text);
    assert.equal(exitStatus(r.exit), 0);
    const g = guestData(r);
    note(`guest: ${JSON.stringify(g)}`);
    assert.equal(holding!.actualPages, target);
    assert.equal(holding!.targetPages, target);
    // The guest wrote every page before handing it over, so each one was resident and must have left the memfd.
    assert.ok(rss.before! - rss.inflated! >= targetMiB * 1024, `RssShmem fell by ${rss.before! - rss.inflated!} KiB`);
    assert.deepEqual({ inflated: g.inflated, deflated: g.deflated, zero: g.zero_pages, kept: g.kept_pages, max: g.max_actual },
      { inflated: target, deflated: target, zero: target, kept: 0, max: target });
    const info = m!.balloonStats();
    assert.deepEqual([info.targetPages, info.actualPages, info.inflatedPages, info.deflatedPages], [0, 0, target, target]);
    const dev = r.devices[0]!;
    // Three PFNs that are not RAM rode along inflating, one deflating: counted, answered, nothing failed.
    assert.equal(g.bad_pfns, 4);
    assert.equal(dev.badPfns, 4, JSON.stringify(dev));
    assert.deepEqual([dev.failures, dev.errors, dev.badRequests, dev.discardErrors], [0, 0, 0, 0], JSON.stringify(dev));
    const { descriptors, requests } = g;
    assert.ok(descriptors !== undefined && requests !== undefined && descriptors > requests,
      'page lists spread over several descriptors');
    assert.equal(dev.statsReports, g.stats_posts, JSON.stringify(dev));
    assert.equal(info.lastStats?.totalMemory, BigInt(g.mem_total!));
    assert.ok(info.lastStats.freeMemory! > 0n && info.lastStats.freeMemory! < info.lastStats.totalMemory);
  });

  it('starts from the configured target, follows it down and up again, reuses deflated pages', async () => {
    const steps = [8, 24, 0];
    const r = await runTiny({
      cmdline: 'test=balloon balloon_stats=0', memory: '64M',
      devices: [{ type: 'balloon', targetMiB: 16 }],
      during: async (m, output) => {
        await output.until(() => m.balloonStats().actualPages === 16 * PAGES_PER_MIB, 'the configured target', WAIT_MS);
        for (const mib of steps) await follow(m, output, mib);
      },
    });
    assert.deepEqual(r.verdict, { test: 'balloon', passed: true }, r.text);
    const g = guestData(r);
    // 16 MiB in, 8 out, 16 in (8 of them pages that were out), 24 out: every page out came back zero-filled.
    const pages = (mib: number): number => mib * PAGES_PER_MIB;
    assert.deepEqual({ inflated: g.inflated, deflated: g.deflated, zero: g.zero_pages, max: g.max_actual, stats: g.stats_posts },
      { inflated: pages(32), deflated: pages(32), zero: pages(32), max: pages(24), stats: 0 });
    assert.equal(g.target_changes, steps.length);
    const dev = r.devices[0]!;
    assert.deepEqual([dev.badPfns, dev.failures, dev.inflatedPages, dev.deflatedPages], [0, 0, pages(32), pages(32)],
      JSON.stringify(dev));
  });

  it('fails plainly when the machine has no balloon', async () => {
    const r = await runTiny({ cmdline: 'test=balloon' });
    assert.deepEqual(r.verdict, { test: 'balloon', passed: false, reason: 'no virtio-balloon device' });
  });
});

// QEMU sets num_pages only from its monitor: `balloon <MiB>` asks for a guest of that size, so with -m 64 a
// `balloon 56` is a target of 8 MiB and `balloon 64` one of 0.
describe('tiny test kernel: the same balloon driver under QEMU microvm', { skip: skipQemu, timeout: 120_000 }, () => {
  it('inflates to the target set from the monitor, QEMU releases the pages, they come back zero-filled', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-tiny-balloon-'));
    const socket = path.join(dir, 'monitor.sock');
    const answers: string[] = [];
    try {
      const r = await runQemuTiny('test=balloon balloon_bad=1',
        ['-device', 'virtio-balloon-device', '-monitor', `unix:${socket},server=on,wait=off`], 60_000,
        async (output) => {
          const monitor = await QemuMonitor.connect(socket, 10_000);
          try {
            await output.waitFor('balloon: ready', WAIT_MS);
            await monitor.command('balloon 56');
            await output.waitFor('balloon: holding 2048 pages', WAIT_MS);
            answers.push(await monitor.command('info balloon'));
            await monitor.command('balloon 64');
          } finally {
            monitor.close();
          }
        });
      assert.deepEqual(r.verdict, { test: 'balloon', passed: true }, r.text);
      assert.equal(r.code, 1, r.text);
      // QEMU reads `actual` back as the guest's size: 64 MiB less the 8 MiB balloon.
      assert.match(answers[0]!, /balloon: actual=56\b/);
      const g = guestData(r);
      note(`guest under QEMU: ${JSON.stringify(g)}`);
      assert.deepEqual({ inflated: g.inflated, deflated: g.deflated, zero: g.zero_pages, kept: g.kept_pages },
        { inflated: 2048, deflated: 2048, zero: 2048, kept: 0 });
      assert.equal(g.bad_pfns, 4, 'QEMU skips PFNs that are not RAM and still answers');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
