// The Linux rows: the project's kernel and initramfs to "Run /init" under both monitors, and the VMM's memory
// overhead at that point (1 vCPU, 128 MiB). On a host whose KVM emulates guest kernel code a boot takes most of a
// minute, so these run once by default and never in --quick.
import { resolveGuestArtifact } from '../src/guest/build';
import { DEFAULT_CMDLINE } from '../src/vmm/config';
import { hostQuirks, withQuirkCmdline } from '../src/vmm/host-quirks';
import { runGuest, type GuestSpec } from './monitors';
import { addSample, fromSamples, medianOf, type PerMonitor, type Row } from './table';
import type { BenchContext } from './tiny';

const RUN_INIT = 'Run /init';
const MEM_MIB = 128;

export async function linuxRows(ctx: BenchContext): Promise<Row[]> {
  const log = (line: string): void => ctx.progress(line);
  const g: GuestSpec = {
    kernel: await resolveGuestArtifact('@guest/vmlinux', { log }),
    initrd: await resolveGuestArtifact('@guest/initramfs.cpio', { log }),
    // QEMU gets the same cmdline tsvmm ends up with on this host (tsvmm appends its quirks itself; a parameter
    // already present is not repeated).
    cmdline: withQuirkCmdline(DEFAULT_CMDLINE, hostQuirks('auto')),
    memMiB: MEM_MIB,
    vcpus: 1,
  };
  const boot: PerMonitor = {};
  const overhead: PerMonitor = {};
  const touched: PerMonitor = {};
  const runs = ctx.opts.linuxRuns;
  for (let i = 0; i < runs; i++) {
    for (const m of ctx.monitors) {
      ctx.progress(`linux: ${m} run ${i + 1}/${runs} (most of a minute on a host that emulates guest kernel code)`);
      const r = await runGuest(m, g, { markers: [RUN_INIT], timeoutMs: 300_000, sampleAt: RUN_INIT, killAtMarkers: true,
        workDir: ctx.workDir });
      const t = r.marks.get(RUN_INIT);
      if (t === undefined) {
        ctx.problems.push(`${m} did not boot Linux to "${RUN_INIT}" (${r.timedOut ? 'timed out' : `exit ${r.code}`})`);
        continue;
      }
      addSample(boot, m, t);
      if (r.memory) {
        addSample(overhead, m, (r.memory.rssKiB - r.memory.guestKiB) / 1024);
        addSample(touched, m, r.memory.guestKiB / 1024);
      }
    }
  }
  const guest = (m: 'tsvmm' | 'qemu'): string => medianOf(touched, m)?.toFixed(1) ?? '-';
  return [
    { group: 'linux', measure: 'boot: Linux, process start to "Run /init"', unit: 'ms', better: 'lower',
      ...fromSamples(boot), note: `median of ${runs}; vmlinux + initramfs, 1 vCPU, ${MEM_MIB} MiB` },
    { group: 'linux', measure: 'memory: VMM RSS minus guest RAM touched, Linux', unit: 'MiB', better: 'lower',
      ...fromSamples(overhead), note: `at "${RUN_INIT}"; guest touched ${guest('tsvmm')} / ${guest('qemu')} MiB` },
  ];
}
