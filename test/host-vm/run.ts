// Boots an L1 Linux under QEMU's TCG with AMD-V (SVM and nested paging) exposed, so that /dev/kvm exists inside
// it, and runs one command there as root. The outer machine's / is L1's root (read-only, writes to a throwaway
// scratch disk) and `share` is mounted read-write at the same path, so the checkout, its build and the guest cache
// are where the command expects them. The command's output (stdout and stderr together) is streamed as it comes;
// the result is its exit status.
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import type { PreparedHost } from './prepare';

/** Exit status when L1 could not run the command at all (no /dev/kvm, a share missing, QEMU died). */
export const L1_FAILED = 125;
/** Exit status when the run passed its time limit. */
export const L1_TIMED_OUT = 124;

export interface L1RunOptions {
  host: PreparedHost;
  /** argv of the command; run by /bin/sh after `cd share`. */
  command: readonly string[];
  /** Mounted read-write at the same path inside L1; the command starts there. */
  share: string;
  /** Exported to the command, over PATH, HOME, LANG, projectEnv() and TSVMM_TEST_HOST=nested-l1. */
  env?: Record<string, string>;
  cpus?: number;
  memoryMiB?: number;
  timeoutMs?: number;
  /** Where the command's output goes. */
  output: Writable;
  /** Progress and diagnostics, one line each. */
  log: (line: string) => void;
  /** Keep the control folder (L1's kernel log, its dmesg), which is otherwise kept only when L1 itself failed. */
  keepLogs?: boolean;
}

export interface L1Result {
  status: number;
  /** L1's own console (kernel and init messages), kept when L1 failed or keepLogs was set. */
  consoleLog: string | undefined;
  /** How long from QEMU's start to the command's first output byte, in ms (undefined if it printed nothing). */
  firstOutputMs: number | undefined;
  wallMs: number;
  /** Why L1 ended without the command's status (how QEMU ended, and the last line of L1's console), if it did. */
  failure?: string;
}

export interface L1Run {
  done: Promise<L1Result>;
  /** L1's own console log while it runs (kernel and init messages). */
  consoleLog: string;
  /** Stops QEMU (the command dies with L1); `done` then resolves with `status` (130 for Ctrl-C, say). */
  abort(status: number): void;
}

/** The command file /init runs: the environment, then `cd share && exec argv`, each word quoted for sh. */
export function commandScript(share: string, command: readonly string[], env: Record<string, string>): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = Object.entries(env).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new RangeError(`not an environment variable name: ${JSON.stringify(k)}`);
    return `export ${k}=${q(v)}`;
  });
  lines.push(`cd ${q(share)} || exit ${L1_FAILED}`, `exec ${command.map(q).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/** The project's own switches (TSVMM_*), CI and the cache's place, as the command would have had them here. */
export function projectEnv(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v !== undefined && (k.startsWith('TSVMM_') || k === 'CI' || k === 'XDG_CACHE_HOME')) env[k] = v;
  }
  return env;
}

export function qemuArgs(host: PreparedHost, ctl: string, share: string, cpus: number, memoryMiB: number): string[] {
  const fsdev = (tag: string, dir: string, readonly: boolean): string[] => [
    '-fsdev', `local,id=${tag},path=${dir},security_model=none,multidevs=remap${readonly ? ',readonly=on' : ''}`,
    '-device', `virtio-9p-pci,fsdev=${tag},mount_tag=${tag}`,
  ];
  return [
    // TCG, not KVM: the point is an emulated CPU with SVM and NPT, so that L1's kvm_amd loads. `-cpu max` gives
    // an AuthenticAMD CPU with both (kvm_amd refuses other vendors). Without XSAVE: TCG's XSETBV ignores SVM's
    // intercept, so an L2 guest's XCR0 write never reaches L1's KVM, which then enters L2 with XCR0 = x87 only.
    // L2 Linux warned (XSAVE size 2696 != 576), its XSAVE stopped keeping SSE/AVX state across task switches, and
    // L2 guests stalled or triple-faulted now and then. With no XSAVE in L1, L2 uses FXSAVE and XCR0 never moves.
    // Without FSRM, which 7.2's `max` lacks and QEMU 10's has (TSVMM_TEST_HOST_QEMU): with it, a tiny guest's
    // `rep outsb` flood, which L1's KVM emulates a page per exit, triple-faulted after 4 s every time on QEMU 10.
    '-accel', 'tcg,thread=multi,tb-size=1024', '-cpu', 'max,-xsave,-fsrm', '-smp', String(cpus), '-m', `${memoryMiB}M`,
    '-M', 'pc', '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', host.vmlinuz, '-initrd', host.initramfs,
    '-append', 'console=ttyS0 panic=-1 mitigations=off tsc=reliable no_timer_check',
    '-serial', `file:${path.join(ctl, 'console.log')}`, '-serial', 'stdio',
    '-drive', `file=${host.scratchDisk},format=raw,if=virtio,snapshot=on,cache=unsafe`,
    ...fsdev('hostroot', '/', true), ...fsdev('kmods', host.modulesDir, true),
    ...fsdev('ctl', ctl, false), ...fsdev('share', share, false),
  ];
}

export function runInL1(opts: L1RunOptions): L1Run {
  const share = fs.realpathSync(opts.share);
  const ctl = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-l1-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    ...projectEnv(),
    TSVMM_TEST_HOST: 'nested-l1',
    ...opts.env,
  };
  fs.writeFileSync(path.join(ctl, 'share'), `${share}\n`);
  fs.writeFileSync(path.join(ctl, 'cmd'), commandScript(share, opts.command, env));
  const cpus = opts.cpus ?? 2;
  const memoryMiB = opts.memoryMiB ?? 4096;
  const started = Date.now();
  opts.log(`[host-vm] booting L1 (QEMU TCG with AMD-V, ${cpus} CPUs, ${memoryMiB} MiB, kernel ${opts.host.release})`);
  const child = spawn(opts.host.emulator.binary, qemuArgs(opts.host, ctl, share, cpus, memoryMiB), { stdio: ['ignore', 'pipe', 'pipe'] });
  let forced: number | undefined;
  let firstOutputMs: number | undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    firstOutputMs ??= Date.now() - started;
    opts.output.write(chunk);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') opts.log(`[host-vm] qemu: ${line}`);
  });
  const stop = (status: number): void => {
    if (forced !== undefined || child.exitCode !== null || child.signalCode !== null) return;
    forced = status;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  };
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => {
    opts.log(`[host-vm] the command passed its limit of ${Math.round(opts.timeoutMs! / 1000)} s; stopping L1`);
    stop(L1_TIMED_OUT);
  }, opts.timeoutMs);
  const done = exited(child).then((how) => {
    if (timer) clearTimeout(timer);
    return finish(opts, ctl, how, forced, { firstOutputMs, wallMs: Date.now() - started });
  });
  return { done, abort: stop, consoleLog: path.join(ctl, 'console.log') };
}

function exited(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    child.on('error', (err) => resolve(`QEMU could not start: ${err.message}`));
    child.on('close', (code, signal) => resolve(signal ? `QEMU was killed by ${signal}` : `QEMU exited with status ${code}`));
  });
}

function finish(opts: L1RunOptions, ctl: string, how: string, forced: number | undefined,
  times: { firstOutputMs: number | undefined; wallMs: number }): L1Result {
  let status = forced ?? readStatus(ctl);
  let failure: string | undefined;
  if (status === undefined) {
    failure = `${how}; ${l1KernelSays(readText(path.join(ctl, 'console.log'), ''))}`;
    opts.log(`[host-vm] L1 ended without the command's status (${how}); L1's console: ${tail(ctl)}`);
    status = L1_FAILED;
  } else if (status === L1_TIMED_OUT) {
    opts.log(`[host-vm] what ran in L1 at the end:\n${readText(path.join(ctl, 'ps'), '(no process list)')}`);
  } else if (status === L1_FAILED) {
    opts.log(`[host-vm] L1 could not run the command; L1's console ends:\n${tail(ctl)}`);
  }
  // Kept when L1 itself failed (its console says why) or when asked; the command's own output was streamed already.
  const keep = opts.keepLogs === true || status === L1_FAILED;
  if (!keep) fs.rmSync(ctl, { recursive: true, force: true });
  else opts.log(`[host-vm] L1's logs (console.log, dmesg, l1-info) are in ${ctl}`);
  return { status, consoleLog: keep ? path.join(ctl, 'console.log') : undefined, ...times, ...(failure ? { failure } : {}) };
}

/** What L1's kernel said about its end: its first oops and where (a panic's last line only says the KASLR offset). */
export function l1KernelSays(console: string): string {
  const lines = console.split('\n').map((l) => l.replace(/^\[\s*[\d.]+\]\s*/, '').trim()).filter((l) => l !== '');
  const oops = lines.findIndex((l) => /^(BUG:|Kernel panic|general protection fault|double fault|Oops:)/.test(l));
  if (oops < 0) return `L1's console ended with: ${(lines.pop() ?? '(L1 printed nothing)').slice(0, 200)}`;
  const rip = lines.slice(oops, oops + 12).find((l) => l.startsWith('RIP:'));
  return `L1's kernel: ${(lines[oops] ?? '').slice(0, 160)}${rip ? ` (${rip.slice(0, 80)})` : ''}`;
}

function readStatus(ctl: string): number | undefined {
  try {
    const n = Number.parseInt(fs.readFileSync(path.join(ctl, 'rc'), 'utf8').trim(), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function readText(file: string, missing: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd();
  } catch {
    return missing;
  }
}

function tail(ctl: string, lines = 15): string {
  return readText(path.join(ctl, 'console.log'), '(no console log)').split('\n').slice(-lines).join('\n');
}
