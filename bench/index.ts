// `npm run bench`: tsvmm beside QEMU microvm on the same guests, the same host and in the same run. Prints one
// table of figures, the host's own limits and ratios, and writes it as JSON. Timings on a shared machine are noisy:
// read medians, not single runs, and never turn these into pass/fail tests. The command fails only when something
// is broken (a monitor that does not boot, a test that fails), never because a figure is poor.
import { randomFillSync } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildTestKernel } from '../src/guest/test-kernel';
import { kvmIsEmulated } from '../test/helpers/host-kind';
import { kvmUnavailable } from '../test/helpers/kvm';
import { qemuVersion } from '../test/helpers/qemu';
import { machineFacts } from './host';
import { linuxRows } from './linux';
import { netRows, tearDown as netTearDown } from './net';
import { OptionError, parseOptions, USAGE, type BenchOptions, type Group } from './options';
import { sandboxRows } from './sandbox';
import { snapshotRows } from './snapshot';
import { linuxRestoreRows } from './snapshot-linux';
import { buildReport, formatMarkdown, formatTable, type Row } from './table';
import { blkRows, bootAndExitRows, type BenchContext } from './tiny';

const progress = (line: string): void => { process.stderr.write(`bench: ${line}\n`); };

/** A raw image written once with data, so both monitors and fio read real extents in the same state. */
function writeImage(file: string, bytes: number): void {
  const chunk = randomFillSync(Buffer.alloc(1 << 20));
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < bytes; off += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function measure(opts: BenchOptions, ctx: BenchContext): Promise<Row[]> {
  const rows: Row[] = [];
  if (opts.only.has('boot') || opts.only.has('exits')) {
    const r = await bootAndExitRows(ctx);
    if (opts.only.has('boot')) rows.push(...r.boot);
    if (opts.only.has('exits')) rows.push(...r.exits);
  }
  if (opts.only.has('blk')) rows.push(...await blkRows(ctx));
  if (opts.only.has('net')) rows.push(...await netRows(ctx));
  if (opts.only.has('linux') && opts.linuxRuns > 0) rows.push(...await linuxRows(ctx));
  if (opts.only.has('sandbox')) rows.push(...await sandboxRows(ctx));
  if (opts.only.has('snapshot')) rows.push(...await snapshotRows(ctx), ...await linuxRestoreRows(ctx));
  return rows;
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(argv);
  } catch (e) {
    if (!(e instanceof OptionError)) throw e;
    process.stderr.write(`bench: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  const kvm = kvmUnavailable();
  if (kvm) {
    process.stderr.write(`bench: ${kvm}; nothing to measure\n`);
    return 1;
  }
  if (kvmIsEmulated()) {
    // Under the test host every guest exit is emulated by QEMU's TCG (10-100x slower, unevenly): a table made here
    // would compare emulators, not monitors.
    process.stderr.write('bench: /dev/kvm here is nested under QEMU\'s TCG emulation (the test host); timings and ' +
      'ratios measured here would be meaningless, so no table is made. Run `npm run bench` on a host with VT-x/AMD-V.\n');
    return 0;
  }
  const withQemu = qemuVersion() !== undefined;
  if (!withQemu) progress('qemu-system-x86_64 not found (apt-get install qemu-system-x86): tsvmm figures only');
  const kernel = (await buildTestKernel({ log: progress })).path;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-bench-'));
  const cleanUp = (): void => {
    netTearDown();
    fs.rmSync(workDir, { recursive: true, force: true });
  };
  const onSignal = (): void => { cleanUp(); process.exit(130); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const imageBytes = (opts.quick ? 64 : 256) * 2 ** 20;
  const ctx: BenchContext = {
    opts, kernel, workDir, image: path.join(workDir, 'disk.img'), imageBytes, problems: [], progress,
    monitors: withQemu ? ['tsvmm', 'qemu'] : ['tsvmm'],
  };
  try {
    if (['boot', 'exits', 'blk'].some((g) => opts.only.has(g as Group))) writeImage(ctx.image, imageBytes);
    const rows = await measure(opts, ctx);
    const report = buildReport(new Date(), machineFacts(), { ...opts, only: [...opts.only] }, rows, ctx.problems);
    console.log(formatTable(rows));
    const m = report.machine;
    console.log(`\n${report.date}, ${m.cpuModel}, ${m.cores} cores, Linux ${m.kernel}${m.kvmPvm ? ', kvm_pvm' : ''}, `
      + `node ${m.node}, ${m.qemu ?? 'no QEMU'}, ${m.fio ?? 'no fio'}`);
    if (opts.markdown) console.log(`\n${formatMarkdown(rows)}`);
    fs.writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
    console.log(`written to ${opts.json}`);
    for (const p of ctx.problems) process.stderr.write(`bench: broken: ${p}\n`);
    return ctx.problems.length > 0 ? 1 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    cleanUp();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
