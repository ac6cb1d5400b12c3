// The Linux virtio_balloon driver against our balloon: the kernel boots with an init that never makes a system
// call (so it stays up on hosts whose guests cannot make them), guest RAM is made resident before the start, and
// then a target set at run time makes the driver inflate. `actual` must follow num_pages, the VMM's shared-memory
// RSS must drop by the balloon's size (the pages went back to the host), a target of 0 must deflate it, and the
// statistics the driver reports must describe the guest. One boot.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { before, describe, it } from 'node:test';
import { BalloonError } from '../../src/devices/balloon';
import { buildGuest, type GuestArtifacts } from '../../src/guest/build';
import { validateConfig } from '../../src/vmm/config';
import { Machine } from '../../src/vmm/machine';
import { kvmUnavailable } from '../helpers/kvm';
import { until } from '../helpers/wait';

const skip = kvmUnavailable();
const MEMORY_MIB = 128;
const TARGET_MIB = 32;
const BOOT_TIMEOUT_MS = 300_000;
const FOLLOW_TIMEOUT_MS = 240_000;

/** VmRSS and RssShmem of this process, in KiB. */
function rss(): { vmRss: number; rssShmem: number } {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return { vmRss: kib('VmRSS'), rssShmem: kib('RssShmem') };
}

function note(line: string): void {
  process.stderr.write(`# ${line}\n`);
}

/** The guest changes slowly: ask four times a second. */
const POLL = { everyMs: 250 };

describe('Linux virtio-balloon on /dev/kvm', { skip, timeout: BOOT_TIMEOUT_MS + 3 * FOLLOW_TIMEOUT_MS + 60_000 }, () => {
  let guest: GuestArtifacts;
  before(async () => {
    guest = await buildGuest({ log: (line) => process.stderr.write(`${line}\n`) });
  }, { timeout: 40 * 60_000 });

  it('inflates to a run-time target, gives the pages back to the host, deflates to 0, reports statistics', async () => {
    let out = '';
    const config = validateConfig({
      kernel: guest.vmlinux, initrd: guest.initPause, memory: MEMORY_MIB, serial: { mode: 'none' },
      devices: [{ type: 'balloon', statsInterval: 2 }],
    });
    const m = Machine.create(config, { prefaultMemory: true, consoleOutput: (c) => { out += c.toString('latin1'); } });
    try {
      m.start();
      await until(() => out.includes('Run /init') || out.includes('Kernel panic'), 'Run /init', BOOT_TIMEOUT_MS, POLL);
      assert.doesNotMatch(out, /Kernel panic/);
      const target = TARGET_MIB * 256;
      const before = rss();
      assert.throws(() => m.setBalloonTarget(MEMORY_MIB + 1), { name: 'RangeError', message: /^mib: 129 is more than/ });
      assert.throws(() => m.setBalloonTarget(0.5), { name: 'RangeError', message: /^mib: 0.5 is not a non-negative integer/ });
      m.setBalloonTarget(TARGET_MIB);
      const inflateMs = await until(() => m.balloonStats().actualPages >= target, 'actual to reach num_pages',
        FOLLOW_TIMEOUT_MS, POLL);
      const inflated = rss();
      const info = m.balloonStats();
      note(`inflate to ${TARGET_MIB} MiB took ${(inflateMs / 1000).toFixed(1)} s ` +
        `(${(target / (inflateMs / 1000)).toFixed(0)} pages/s)`);
      note(`VmRSS ${before.vmRss} -> ${inflated.vmRss} KiB, RssShmem ${before.rssShmem} -> ${inflated.rssShmem} KiB`);
      assert.equal(info.actualPages, target);
      assert.ok(info.inflatedPages >= target, JSON.stringify(info, (_k, v: unknown) => typeof v === 'bigint' ? String(v) : v));
      const counters = m.deviceCounters()[0]!;
      assert.equal(counters.badPfns, 0);
      assert.equal(counters.discardErrors, 0);
      assert.equal(counters.failures, 0);
      // Every page was resident before; each one the guest gave up left this process's mappings.
      assert.ok(before.rssShmem - inflated.rssShmem >= TARGET_MIB * 1024 * 0.95,
        `RssShmem fell by only ${before.rssShmem - inflated.rssShmem} KiB`);

      m.setBalloonTarget(0);
      const deflateMs = await until(() => m.balloonStats().actualPages === 0, 'actual to fall to 0', FOLLOW_TIMEOUT_MS, POLL);
      const deflated = rss();
      note(`deflate to 0 took ${(deflateMs / 1000).toFixed(1)} s; ` +
        `VmRSS ${deflated.vmRss} KiB, RssShmem ${deflated.rssShmem} KiB afterwards`);
      assert.ok(m.balloonStats().deflatedPages >= target);

      // The first report comes with the driver's start; later ones answer the device handing the buffer back once
      // per statsInterval, which inflating and deflating need not outlast: wait for the second instead of
      // assuming one came meanwhile.
      await until(() => m.deviceCounters()[0]!.statsReports! >= 2, 'a second statistics report (asked for every 2 s)',
        FOLLOW_TIMEOUT_MS, POLL);
      const stats = m.balloonStats().lastStats;
      assert.ok(stats !== undefined, 'the driver reported statistics');
      note(`guest stats: total ${stats.totalMemory} free ${stats.freeMemory} available ${stats.availableMemory} bytes`);
      assert.ok(stats.totalMemory! > BigInt((MEMORY_MIB / 2) * 2 ** 20) && stats.totalMemory! <= BigInt(MEMORY_MIB * 2 ** 20));
      assert.ok(stats.freeMemory! < stats.totalMemory!);
    } finally {
      await m.stop();
    }
    assert.throws(() => m.setBalloonTarget(1), BalloonError);
    assert.equal(m.balloonStats().targetPages, 0, 'what the balloon ended with stays readable');
  });

  it('a machine without a balloon says so', async () => {
    const m = Machine.create(validateConfig({ kernel: guest.vmlinux, memory: 64, serial: { mode: 'none' } }));
    try {
      assert.throws(() => m.setBalloonTarget(1), { name: 'BalloonError', message: /no balloon device/ });
      assert.throws(() => m.balloonStats(), BalloonError);
    } finally {
      await m.stop();
    }
  });
});
