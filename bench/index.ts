// `npm run bench`: tsvmm beside QEMU microvm on the same guests, the same host and in the same run. Prints one
// table of figures and ratios and writes it as JSON. Timings on a shared machine are noisy: read medians, not
// single runs, and never turn these into pass/fail tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pvhElf } from '../test/helpers/pvh-elf';
import { resolveGuestArtifact } from '../src/guest/build';
import { DEFAULT_CMDLINE } from '../src/vmm/config';
import { hostQuirks, withQuirkCmdline } from '../src/vmm/host-quirks';
import { helloGuest, portReadGuest } from './guests';
import { qemuAvailable, runGuest, type GuestSpec, type Monitor } from './monitors';

interface Row { name: string; unit: string; better: 'lower' | 'higher'; tsvmm?: number; qemu?: number; note?: string }

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = args.includes('--quick');
const runs = opt('--runs', quick ? 1 : 5);
const linuxRuns = quick ? 0 : opt('--linux-runs', 1);
const exitCount = opt('--exits', quick ? 5000 : 100_000);
const jsonPath = args.includes('--json') ? args[args.indexOf('--json') + 1]! : 'bench-results.json';

const median = (xs: number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const monitors: Monitor[] = qemuAvailable() ? ['tsvmm', 'qemu'] : ['tsvmm'];
const cmdline = (base: string): string => withQuirkCmdline(base, hostQuirks('auto'));

async function perMonitor(f: (m: Monitor) => Promise<number | undefined>): Promise<Partial<Record<Monitor, number>>> {
  const out: Partial<Record<Monitor, number>> = {};
  for (const m of monitors) {
    const v = await f(m);
    if (v !== undefined) out[m] = v;
  }
  return out;
}

async function tinyRows(dir: string): Promise<Row[]> {
  const file = (name: string, code: Uint8Array): string => {
    const p = path.join(dir, `${name}.elf`);
    fs.writeFileSync(p, pvhElf(code));
    return p;
  };
  const spec = (kernel: string): GuestSpec => ({ kernel, cmdline: '', memMiB: 64, vcpus: 1 });
  const hello = spec(file('hello', helloGuest()));
  const boot = await perMonitor(async (m) => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await runGuest(m, hello, ['s\n'], 60_000);
      const t = r.marks.get('s\n');
      if (t !== undefined) times.push(t);
    }
    return median(times);
  });
  const rate = (kernel: string) => perMonitor(async (m) => {
    const r = await runGuest(m, spec(kernel), ['s\n', 'e\n'], 600_000);
    const s = r.marks.get('s\n');
    const e = r.marks.get('e\n');
    return s !== undefined && e !== undefined ? exitCount / ((e - s) / 1000) : undefined;
  });
  const pio = await rate(file('pio', portReadGuest(exitCount)));
  return [
    { name: 'boot: tiny guest, first serial line', unit: 'ms', better: 'lower', ...boot, note: `median of ${runs}` },
    { name: 'exits: port reads answered in user space', unit: 'exits/s', better: 'higher', ...pio,
      note: `${exitCount} reads, guest loop at CPL0` },
  ];
}

async function linuxRows(): Promise<Row[]> {
  const log = (line: string): void => { process.stderr.write(`${line}\n`); };
  const g: GuestSpec = {
    kernel: await resolveGuestArtifact('@guest/vmlinux', { log }),
    initrd: await resolveGuestArtifact('@guest/initramfs.cpio', { log }),
    cmdline: cmdline(DEFAULT_CMDLINE),
    memMiB: 128,
    vcpus: 1,
  };
  const boot: Partial<Record<Monitor, number[]>> = {};
  const rss: Partial<Record<Monitor, { rss: number; shmem: number }>> = {};
  for (let i = 0; i < linuxRuns; i++) {
    for (const m of monitors) {
      const r = await runGuest(m, g, ['Run /init'], 300_000, 'Run /init');
      const t = r.marks.get('Run /init');
      if (t !== undefined) (boot[m] ??= []).push(t);
      if (r.rssKiB !== undefined) rss[m] = { rss: r.rssKiB, shmem: r.shmemKiB ?? 0 };
    }
  }
  // Guest RAM is a memfd in tsvmm (RssShmem) and anonymous memory in QEMU; the same guest touches the same pages,
  // so QEMU's own overhead is estimated as its RSS minus the guest pages tsvmm saw resident.
  const touched = rss.tsvmm?.shmem;
  const overhead = (m: Monitor): number | undefined =>
    rss[m] && touched !== undefined ? (rss[m]!.rss - touched) / 1024 : undefined;
  return [
    { name: 'boot: Linux to "Run /init"', unit: 'ms', better: 'lower', tsvmm: median(boot.tsvmm ?? []),
      qemu: median(boot.qemu ?? []), note: `median of ${linuxRuns}, vmlinux + initramfs, 1 vCPU, 128 MiB` },
    { name: 'memory: VMM RSS minus guest RAM touched', unit: 'MiB', better: 'lower', tsvmm: overhead('tsvmm'),
      qemu: overhead('qemu'), note: `at "Run /init"; guest touched ${((touched ?? 0) / 1024).toFixed(1)} MiB` },
  ];
}

function fmt(v: number | undefined): string {
  if (v === undefined) return '-';
  return v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1);
}

function print(rows: Row[]): void {
  const lines = [['measure', 'unit', 'tsvmm', 'qemu', 'tsvmm/qemu', 'better', 'note']];
  for (const r of rows) {
    const ratio = r.tsvmm !== undefined && r.qemu ? (r.tsvmm / r.qemu).toFixed(2) : '-';
    lines.push([r.name, r.unit, fmt(r.tsvmm), fmt(r.qemu), ratio, r.better, r.note ?? '']);
  }
  const widths = lines[0]!.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  for (const l of lines) console.log(l.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
}

async function main(): Promise<void> {
  if (!monitors.includes('qemu')) console.error('bench: qemu-system-x86_64 not found; tsvmm figures only');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-bench-'));
  try {
    const rows = [...await tinyRows(dir), ...(linuxRuns > 0 ? await linuxRows() : [])];
    print(rows);
    const report = { date: new Date().toISOString(), host: { cpus: os.cpus().length, model: os.cpus()[0]?.model,
      kernel: os.release(), pvm: hostQuirks('auto').reason !== '' }, runs, linuxRuns, exitCount, rows };
    fs.writeFileSync(jsonPath, JSON.stringify(report, null, 2) + '\n');
    console.log(`\nwritten to ${jsonPath}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(`bench: ${(e as Error).message}`); process.exit(1); });
