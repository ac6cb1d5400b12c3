// Rows measured with the tiny test kernel (test/guest): boot to its first serial line, memory overhead, exits
// answered in TypeScript and natively, and virtio-blk throughput against a raw image beside fio on the same file.
import { parseTestKernelOutput, type TestKernelOutput } from '../src/guest/test-kernel-output';
import { hostBlkFigures, type BlkJob } from './fio';
import { runGuest, type GuestSpec, type Monitor, type RunResult } from './monitors';
import type { BenchOptions } from './options';
import { blkOps, exitRates } from './parse';
import { addSample as push, fromSamples as fig, type PerMonitor, type Row } from './table';

/** What boot.S prints first, before any test runs. */
export const HELLO = 'tsvmm-guest: hello';
const MEM_MIB = 128;

export interface BenchContext {
  opts: BenchOptions;
  monitors: Monitor[];
  kernel: string;
  workDir: string;
  /** A raw image, written once, that every blk run and fio use. */
  image: string;
  imageBytes: number;
  /** Things that are broken (a monitor that does not boot, a test that fails): the command exits 1. */
  problems: string[];
  progress(line: string): void;
}

/** One run of the test kernel as the bench asks for it. */
export interface TestKernelJob {
  cmdline: string;
  timeoutMs: number;
  /** Sample memory when this appears on the console. */
  sampleAt?: string;
  /** More console strings to timestamp and pass to onMarker. */
  markers?: string[];
  /** Devices and namespace; default one virtio-blk device on the bench image. */
  guest?: Pick<GuestSpec, 'blk' | 'net' | 'netns'>;
  onMarker?: (marker: string) => void;
}

/** One run of the test kernel; a missing first line or a failed test is recorded as a problem. */
export async function runTestKernel(ctx: BenchContext, m: Monitor, r: TestKernelJob):
  Promise<{ run: RunResult; out: TestKernelOutput; ok: boolean }> {
  const spec: GuestSpec = { kernel: ctx.kernel, cmdline: r.cmdline, memMiB: MEM_MIB, vcpus: 1, tiny: true,
    ...(r.guest ?? { blk: ctx.image }) };
  const markers = [HELLO, ...(r.sampleAt ? [r.sampleAt] : []), ...(r.markers ?? [])];
  const run = await runGuest(m, spec, { markers, timeoutMs: r.timeoutMs, workDir: ctx.workDir,
    ...(r.sampleAt ? { sampleAt: r.sampleAt } : {}), ...(r.onMarker ? { onMarker: r.onMarker } : {}) });
  const out = parseTestKernelOutput(run.text);
  const test = /test=(\S+)/.exec(r.cmdline)?.[1] ?? '?';
  let ok = true;
  if (!run.marks.has(HELLO)) {
    ok = false;
    ctx.problems.push(`${m} did not boot the test kernel (${run.timedOut ? 'timed out' : `exit ${run.code}`}): `
      + run.stderr.trim().split('\n').slice(-2).join(' / '));
  } else if (out.verdict?.passed !== true) {
    ok = false;
    const why = out.verdict ? out.verdict.reason : run.timedOut ? 'timed out' : `ended (exit ${run.code}) with no verdict`;
    ctx.problems.push(`${m}: test=${test} failed: ${why}`);
  }
  return { run, out, ok };
}

/** Boot time and memory (from every run) and exit rates: the `exits` test run `opts.runs` times per monitor. */
export async function bootAndExitRows(ctx: BenchContext): Promise<{ boot: Row[]; exits: Row[] }> {
  const { opts } = ctx;
  const n = opts.exitCount;
  const boot: PerMonitor = {};
  const overhead: PerMonitor = {};
  const rates = new Map<string, PerMonitor>();
  const firstData = 'TSVMM-DATA: exits reg=';
  for (let i = 0; i < opts.runs; i++) {
    for (const m of ctx.monitors) {
      ctx.progress(`exits: ${m} run ${i + 1}/${opts.runs}`);
      const { run, out, ok } = await runTestKernel(ctx, m,
        { cmdline: `test=exits exits_count=${n}`, timeoutMs: 60_000 + n, sampleAt: firstData });
      push(boot, m, run.marks.get(HELLO));
      if (run.memory) push(overhead, m, (run.memory.rssKiB - run.memory.guestKiB) / 1024);
      if (!ok) continue;
      for (const [reg, v] of exitRates(out)) {
        const per = rates.get(reg) ?? {};
        push(per, m, v);
        rates.set(reg, per);
      }
    }
  }
  const runsNote = `median of ${opts.runs}`;
  return {
    boot: [
      { group: 'boot', measure: 'boot: tiny kernel, process start to first serial line', unit: 'ms', better: 'lower',
        ...fig(boot), note: `${runsNote}; one virtio-blk device, ${MEM_MIB} MiB` },
      { group: 'boot', measure: 'memory: VMM RSS minus guest RAM touched, tiny kernel', unit: 'MiB', better: 'lower',
        ...fig(overhead), note: `${runsNote}; 1 vCPU, ${MEM_MIB} MiB, sampled while the guest runs` },
    ],
    exits: [
      { group: 'exits', measure: 'exits: QueueNumMax reads (tsvmm: answered in TypeScript)', unit: 'exits/s',
        better: 'higher', ...fig(rates.get('queue_num_max')), note: `${runsNote}; ${n} CPL3 reads, timed by the guest` },
      { group: 'exits', measure: 'exits: config byte reads (tsvmm: answered in TypeScript)', unit: 'exits/s',
        better: 'higher', ...fig(rates.get('config8')), note: `${runsNote}; ${n} reads` },
      { group: 'exits', measure: 'exits: InterruptStatus reads (tsvmm: answered natively)', unit: 'exits/s',
        better: 'higher', ...fig(rates.get('interrupt_status')), note: `${runsNote}; ${n} reads` },
    ],
  };
}

const BLK_ROWS: (BlkJob & { measure: string; field: 'iops' | 'mbps' })[] = [
  { op: 'randread', bs: 4096, qd: 1, measure: 'blk: 4 KiB random read, qd 1', field: 'iops' },
  { op: 'randread', bs: 4096, qd: 32, measure: 'blk: 4 KiB random read, qd 32', field: 'iops' },
  { op: 'randwrite', bs: 4096, qd: 1, measure: 'blk: 4 KiB random write, qd 1', field: 'iops' },
  { op: 'randwrite', bs: 4096, qd: 32, measure: 'blk: 4 KiB random write, qd 32', field: 'iops' },
  { op: 'seqread', bs: 1 << 20, qd: 1, measure: 'blk: 1 MiB sequential read', field: 'mbps' },
  { op: 'seqwrite', bs: 1 << 20, qd: 1, measure: 'blk: 1 MiB sequential write', field: 'mbps' },
];

/** What each monitor is asked to do with the image: the same cache mode, page-cache I/O in both. */
const BLK_PAIRING = 'raw image written once, write-back in both (tsvmm cache: writeback; QEMU cache=writeback,'
  + 'aio=threads; the guest negotiates FLUSH)';

export async function blkRows(ctx: BenchContext): Promise<Row[]> {
  const { opts } = ctx;
  const figures = new Map<string, PerMonitor>();
  const key = (op: string, bs: number, qd: number): string => `${op}/${bs}/${qd}`;
  for (let i = 0; i < opts.runs; i++) {
    for (const m of ctx.monitors) {
      ctx.progress(`blk: ${m} run ${i + 1}/${opts.runs}`);
      const { out, ok } = await runTestKernel(ctx, m, {
        cmdline: `test=blkbench bench_ms=${opts.opMs} bench_region=${ctx.imageBytes}`,
        timeoutMs: 120_000 + 6 * opts.opMs,
      });
      if (!ok) continue;
      for (const o of blkOps(out)) {
        const row = BLK_ROWS.find((r) => key(r.op, r.bs, r.qd) === key(o.op, o.bs, o.qd));
        if (!row) continue;
        const per = figures.get(key(o.op, o.bs, o.qd)) ?? {};
        push(per, m, o[row.field]);
        figures.set(key(o.op, o.bs, o.qd), per);
      }
    }
  }
  ctx.progress('blk: host limit (fio)');
  const host = hostBlkFigures(ctx.image, ctx.imageBytes, opts.opMs, BLK_ROWS);
  return BLK_ROWS.map((r, i) => {
    const per = figures.get(key(r.op, r.bs, r.qd));
    const h = host.figures[i];
    return {
      group: 'blk', measure: r.measure, unit: r.field === 'iops' ? 'IOPS' : 'MB/s', better: 'higher',
      ...fig(per), host: h && h[r.field],
      note: i === 0 ? `median of ${opts.runs}; ${BLK_PAIRING}; ${host.note}` : `median of ${opts.runs}`,
    } satisfies Row;
  });
}
