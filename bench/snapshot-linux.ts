// The snapshot row with Linux: a restore against the cold boot it saves. A Linux machine is paused late in its
// boot (at PAUSE_AT) and written to a folder; restoreVm() is timed to the first line the restored guest prints,
// and a second cold boot is timed to that same line. Unlike the tiny kernel, whose boot is over in a millisecond,
// this is the case a snapshot is for. Not in --quick, nor with --linux-runs 0: each cold boot takes most of a
// minute where guest kernel code is emulated.
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createVm } from '../src/api/create';
import { restoreVm } from '../src/api/restore';
import type { Vm } from '../src/api/vm';
import { resolveGuestArtifact } from '../src/guest/build';
import { DEFAULT_CMDLINE } from '../src/vmm/config';
import { watchConsole } from '../test/helpers/vm-console';
import { formatFigure, type Row } from './table';
import type { BenchContext } from './tiny';

const PAUSE_AT = 'Freeing unused kernel';
const BOOT_MS = 300_000;
/** printk's timestamp, which differs from boot to boot. */
const STAMP = /^\[\s*\d+\.\d+\] /;

async function killed<T>(vm: Vm, what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } finally {
    await vm.kill();
  }
}

export async function linuxRestoreRows(ctx: BenchContext): Promise<Row[]> {
  if (ctx.opts.quick || ctx.opts.linuxRuns === 0) return [];
  const log = (line: string): void => ctx.progress(line);
  const config = { kernel: await resolveGuestArtifact('@guest/vmlinux', { log }),
    initrd: await resolveGuestArtifact('@guest/initramfs.cpio', { log }), memory: '128M', cmdline: DEFAULT_CMDLINE };
  const snap = path.join(ctx.workDir, 'snapshot-linux');
  try {
    ctx.progress(`snapshot: Linux cold boot to "${PAUSE_AT}", then its snapshot (most of a minute where kernel code is emulated)`);
    const first = await createVm(config);
    await killed(first, async () => {
      const out = watchConsole(first);
      first.start();
      await out.waitFor(PAUSE_AT, BOOT_MS);
      await first.pause();
      await first.snapshot(snap);
    });

    ctx.progress('snapshot: Linux restore to its first line');
    const t0 = performance.now();
    const again = await restoreVm(snap);
    const { line, restoreMs } = await killed(again, async () => {
      const out = watchConsole(again);
      await out.waitFor('\n', BOOT_MS);
      return { line: out.text().split('\n')[0]!.replace(STAMP, ''), restoreMs: performance.now() - t0 };
    });

    ctx.progress(`snapshot: Linux cold boot to that line (${JSON.stringify(line)})`);
    const t1 = performance.now();
    const cold = await createVm(config);
    const coldMs = await killed(cold, async () => {
      const out = watchConsole(cold);
      cold.start();
      await out.waitFor(`${line}\n`, BOOT_MS);
      return performance.now() - t1;
    });
    return [{ group: 'snapshot', measure: 'snapshot: Linux, restoreVm() to its first line, vs a cold boot to it (goal <= 0.1)',
      unit: 'ms', better: 'lower', tsvmm: restoreMs, samples: { tsvmm: [restoreMs] },
      note: `one run; restore/cold ${(restoreMs / coldMs).toFixed(3)}, the cold boot ${formatFigure(coldMs)} ms; paused ` +
        `after "${PAUSE_AT}", 128 MiB, vmlinux + initramfs` }];
  } catch (e) {
    ctx.problems.push(`snapshot: Linux restore row: ${(e as Error).message}`);
    return [];
  }
}
