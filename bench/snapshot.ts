// The snapshot rows: what keeping machines inside one Node process buys. A snapshot restored beside a cold boot
// (both tsvmm), a warm createVm() beside spawning a QEMU process, and what each further machine costs this process
// in memory beside one QEMU process's overhead, all on the tiny test kernel's `spin` guest.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createVm, reserveVcpuThreads } from '../src/api/create';
import { restoreVm } from '../src/api/restore';
import type { Vm } from '../src/api/vm';
import { vcpuThreadReserve } from '../src/vmm/vcpu-prestart';
import { watchConsole } from '../test/helpers/vm-console';
import { runGuest, type GuestSpec } from './monitors';
import { addSample, formatFigure, fromSamples, median, medianOf, type PerMonitor, type Row } from './table';
import { HELLO, type BenchContext } from './tiny';

const MEM_MIB = 128;
const MEMORY = `${MEM_MIB}M`;
/** A whole tick line: a restored guest may first finish the line the pause cut. */
const TICK = /TSVMM-DATA: spin tick=\d+ loops=\d+\r?\n/;
const TICK_MARK = 'TSVMM-DATA: spin tick=';
/** Machines per memory measurement: enough that one machine's noise (a GC, a stray page) averages out. */
const FLEET = 20;
const WAIT_MS = 60_000;
/** Ticks every millisecond, so the restore row's "first tick" is about the restore and not the guest's period. */
const FAST_SPIN = 'test=spin spin_ms=1';
const SLOW_SPIN = 'test=spin spin_ms=100';

interface Samples {
  cold: number[];
  restore: PerMonitor;
  warm: PerMonitor;
  /** The same three with a vCPU thread up and waiting (reserveVcpuThreads(1)). */
  coldReady: number[];
  restoreReady: PerMonitor;
  warmReady: PerMonitor;
  perMachine: PerMonitor;
  /** Pss per machine including the guest RAM it touched, for the note. */
  perMachineWithRam: number[];
  extraVcpu: PerMonitor;
}

/** createVm + start; the console keeps what the guest says until someone reads it. */
async function started(kernel: string, cmdline: string, vcpus = 1): Promise<Vm> {
  const vm = await createVm({ kernel, memory: MEMORY, cmdline, vcpus });
  vm.start();
  return vm;
}

/** A started machine, once `pattern` is on its console. */
async function boot(kernel: string, cmdline: string, pattern: string | RegExp, vcpus = 1): Promise<Vm> {
  const vm = await started(kernel, cmdline, vcpus);
  try {
    await watchConsole(vm).waitFor(pattern, WAIT_MS);
    return vm;
  } catch (e) {
    await vm.kill();
    throw e;
  }
}

/** ms from calling `start` to `pattern` on the console of the machine it creates or restores, which is then killed. */
async function timeTo(pattern: string | RegExp, start: () => Promise<Vm>): Promise<number> {
  const t0 = performance.now();
  const vm = await start();
  try {
    await watchConsole(vm).waitFor(pattern, WAIT_MS);
    return performance.now() - t0;
  } finally {
    await vm.kill();
  }
}

/** A machine paused a few ticks into its spin and written to `dir`. */
async function takeSnapshot(kernel: string, dir: string): Promise<void> {
  const vm = await boot(kernel, FAST_SPIN, /tick=5 loops=/);
  try {
    await vm.pause();
    await vm.snapshot(dir);
  } finally {
    await vm.kill();
  }
}

/** This process's proportional set size, and the part of it in shared memory (guest RAM lives in memfds), KiB. */
function pss(): { total: number; shmem: number } {
  const text = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { total: field('Pss'), shmem: field('Pss_Shmem') };
}

/**
 * Pss growth per machine, MiB, with FLEET machines of `vcpus` each up in this process at once: without guest RAM
 * (comparable with QEMU's RSS minus RssShmem) and with it. Each machine is paused after its first tick so that the
 * ones already up do not spin on the cores the next one boots on.
 */
async function fleetMiB(kernel: string, vcpus: number): Promise<{ overhead: number; withRam: number }> {
  const vms: Vm[] = [];
  const before = pss();
  try {
    for (let i = 0; i < FLEET; i++) {
      const vm = await boot(kernel, SLOW_SPIN, TICK, vcpus);
      vms.push(vm);
      await vm.pause();
    }
    const after = pss();
    const per = (kib: number): number => kib / FLEET / 1024;
    const overhead = after.total - after.shmem - (before.total - before.shmem);
    return { overhead: per(overhead), withRam: per(after.total - before.total) };
  } finally {
    await Promise.all(vms.map((vm) => vm.kill()));
  }
}

/** One QEMU process on the slow spin: ms to the hello line, and RSS minus guest RAM at the first tick, MiB. */
async function qemuRun(ctx: BenchContext, vcpus: number): Promise<{ hello?: number; overhead?: number }> {
  const spec: GuestSpec = { kernel: ctx.kernel, cmdline: SLOW_SPIN, memMiB: MEM_MIB, vcpus, tiny: true };
  const r = await runGuest('qemu', spec, { markers: [HELLO, TICK_MARK], sampleAt: TICK_MARK, killAtMarkers: true,
    timeoutMs: WAIT_MS, workDir: ctx.workDir });
  if (!r.marks.has(TICK_MARK)) {
    ctx.problems.push(`snapshot: QEMU (${vcpus} vCPU) did not reach the first spin tick (${r.timedOut ? 'timed out'
      : `exit ${r.code}`}): ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
  }
  const m = r.memory;
  return { hello: r.marks.get(HELLO), ...(m ? { overhead: (m.rssKiB - m.guestKiB) / 1024 } : {}) };
}

/** Runs `what`, recording a failure as a problem named `name` instead of ending the group. */
async function attempt<T>(ctx: BenchContext, name: string, what: () => Promise<T>): Promise<T | undefined> {
  try {
    return await what();
  } catch (e) {
    ctx.problems.push(`snapshot: ${name}: ${(e as Error).message}`);
    return undefined;
  }
}

/** Resolves once the reserve's thread is up (its isolate runs), so a timing starts with it ready. */
async function threadReady(): Promise<void> {
  const t0 = performance.now();
  while (vcpuThreadReserve().online < 1) {
    if (performance.now() - t0 > WAIT_MS) throw new Error('no reserved vCPU thread came online');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Cold boot, restore and warm start, each timed; with `ready`, each after a reserved vCPU thread is up. */
async function startRun(ctx: BenchContext, snap: string | undefined, ready: boolean,
  into: { cold: number[]; restore: PerMonitor; warm: PerMonitor }): Promise<void> {
  const k = ctx.kernel;
  const label = ready ? ' (thread reserve)' : '';
  const time = async (name: string, pattern: string | RegExp, start: () => Promise<Vm>): Promise<number | undefined> =>
    attempt(ctx, name + label, async () => {
      if (ready) await threadReady();
      return timeTo(pattern, start);
    });
  const cold = await time('cold boot', TICK, () => started(k, FAST_SPIN));
  if (cold !== undefined) into.cold.push(cold);
  if (snap !== undefined) addSample(into.restore, 'tsvmm', await time('restoreVm', TICK, () => restoreVm(snap)));
  addSample(into.warm, 'tsvmm', await time('warm createVm', HELLO, () => started(k, SLOW_SPIN)));
}

async function tsvmmRun(ctx: BenchContext, snap: string | undefined, s: Samples): Promise<void> {
  const k = ctx.kernel;
  await startRun(ctx, snap, false, s);
  reserveVcpuThreads(1);
  try {
    await startRun(ctx, snap, true, { cold: s.coldReady, restore: s.restoreReady, warm: s.warmReady });
  } finally {
    reserveVcpuThreads(0); // a waiting thread would count in the memory rows
  }
  const one = await attempt(ctx, `${FLEET} machines of 1 vCPU`, () => fleetMiB(k, 1));
  const two = await attempt(ctx, `${FLEET} machines of 2 vCPUs`, () => fleetMiB(k, 2));
  addSample(s.perMachine, 'tsvmm', one?.overhead);
  if (one) s.perMachineWithRam.push(one.withRam);
  if (one && two) addSample(s.extraVcpu, 'tsvmm', two.overhead - one.overhead);
}

async function qemuRuns(ctx: BenchContext, s: Samples): Promise<void> {
  const one = await qemuRun(ctx, 1);
  const two = await qemuRun(ctx, 2);
  addSample(s.warm, 'qemu', one.hello);
  addSample(s.perMachine, 'qemu', one.overhead);
  if (one.overhead !== undefined && two.overhead !== undefined) {
    addSample(s.extraVcpu, 'qemu', two.overhead - one.overhead);
  }
}

/** tsvmm's samples from `own`, QEMU's from `other`: one set of QEMU spawns compares with both tsvmm starts. */
function withQemu(own: PerMonitor, other: PerMonitor): PerMonitor {
  return { ...own, ...(other.qemu ? { qemu: other.qemu } : {}) };
}

function rows(s: Samples, runs: number): Row[] {
  const ratioOf = (restore: number | undefined, cold: number | undefined): string =>
    (restore !== undefined && cold ? (restore / cold).toFixed(2) : '-');
  const restore = medianOf(s.restore, 'tsvmm');
  const cold = median(s.cold);
  const ratio = ratioOf(restore, cold);
  const coldReady = median(s.coldReady);
  const readyRatio = ratioOf(medianOf(s.restoreReady, 'tsvmm'), coldReady);
  const withRam = formatFigure(median(s.perMachineWithRam));
  const of = `median of ${runs}`;
  return [
    { group: 'snapshot', measure: 'snapshot: restoreVm() to the first tick (goal: restore/cold <= 0.1)', unit: 'ms',
      better: 'lower', ...fromSamples(s.restore), note: `${of}; restore/cold ${ratio}, the cold boot (createVm + ` +
        `start to the first tick, in this process) ${formatFigure(cold)} ms; ${MEM_MIB} MiB, spin_ms=1` },
    { group: 'snapshot', measure: 'snapshot: restoreVm() to the first tick, a vCPU thread waiting', unit: 'ms',
      better: 'lower', ...fromSamples(s.restoreReady), note: `${of}; reserveVcpuThreads(1); restore/cold ` +
        `${readyRatio}, the cold boot likewise ${formatFigure(coldReady)} ms` },
    { group: 'snapshot', measure: 'start: warm createVm() to the first serial line, vs spawning QEMU (goal <= 0.5)',
      unit: 'ms', better: 'lower', ...fromSamples(s.warm), note: `${of}; tsvmm after one machine already ran in this ` +
        `process; ${MEM_MIB} MiB, no devices` },
    { group: 'snapshot', measure: 'start: as above, a vCPU thread waiting (goal <= 0.5)', unit: 'ms', better: 'lower',
      ...fromSamples(withQemu(s.warmReady, s.warm)), note: `${of}; reserveVcpuThreads(1); QEMU: the same spawns` },
    { group: 'snapshot', measure: `memory: each of ${FLEET} machines in one process, vs a QEMU process (goal <= 1.0)`,
      unit: 'MiB', better: 'lower', ...fromSamples(s.perMachine), note: `${of}; tsvmm: Pss growth / ${FLEET} without ` +
        `guest RAM (${withRam} MiB with it); QEMU: RSS minus guest RAM touched, at the first tick` },
    // QEMU's figure goes in the note: its extra vCPU thread is within its run-to-run noise of zero, so a ratio
    // against it would be a large number of either sign.
    { group: 'snapshot', measure: 'memory: one more vCPU per machine (tsvmm: a worker thread)', unit: 'MiB',
      better: 'lower', tsvmm: medianOf(s.extraVcpu, 'tsvmm'), samples: s.extraVcpu, note: `${of}; 2 vCPUs minus 1, ` +
        `measured as the row above; QEMU's (a thread): ${formatFigure(medianOf(s.extraVcpu, 'qemu'))} MiB` },
  ];
}

export async function snapshotRows(ctx: BenchContext): Promise<Row[]> {
  const runs = ctx.opts.runs;
  const s: Samples = { cold: [], restore: {}, warm: {}, coldReady: [], restoreReady: {}, warmReady: {}, perMachine: {},
    perMachineWithRam: [], extraVcpu: {} };
  const snap = path.join(ctx.workDir, 'snapshot-spin');
  ctx.progress('snapshot: a warm-up machine and the snapshot');
  // The first machine of the process loads the addon and the kernel file: the rows time machines after it.
  await attempt(ctx, 'warm-up machine', () => timeTo(HELLO, () => started(ctx.kernel, SLOW_SPIN)));
  const taken = await attempt(ctx, 'taking the snapshot', () => takeSnapshot(ctx.kernel, snap).then(() => true));
  for (let i = 0; i < runs; i++) {
    ctx.progress(`snapshot: tsvmm run ${i + 1}/${runs}`);
    await tsvmmRun(ctx, taken ? snap : undefined, s);
    if (ctx.monitors.includes('qemu')) {
      ctx.progress(`snapshot: qemu run ${i + 1}/${runs}`);
      await qemuRuns(ctx, s);
    }
  }
  return rows(s, runs);
}
