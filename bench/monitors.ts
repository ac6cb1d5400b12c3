// Starting tsvmm and QEMU microvm on the same guest and timing what they print. Each run is one process; times are
// taken on the host when the console bytes arrive, from the moment the process is spawned.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Monitor = 'tsvmm' | 'qemu';

export interface GuestSpec {
  kernel: string;
  initrd?: string;
  cmdline: string;
  memMiB: number;
  vcpus: number;
}

export interface RunResult {
  /** ms from spawn to each marker's first appearance on the console. */
  marks: Map<string, number>;
  /** VmRSS / RssShmem in KiB, sampled when the `sampleAt` marker appeared. */
  rssKiB?: number;
  shmemKiB?: number;
}

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'tsvmm.js');

function command(monitor: Monitor, g: GuestSpec): [string, string[]] {
  if (monitor === 'tsvmm') {
    const args = [BIN, 'run', '--kernel', g.kernel, '--memory', `${g.memMiB}M`, '--vcpus', String(g.vcpus),
      '--cmdline', g.cmdline, '--log-level', 'warn'];
    if (g.initrd) args.push('--initrd', g.initrd);
    return [process.execPath, args];
  }
  const args = ['-M', 'microvm,acpi=off', '-enable-kvm', '-cpu', 'qemu64,vendor=GenuineIntel', '-m', String(g.memMiB),
    '-smp', String(g.vcpus), '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-kernel', g.kernel, '-append', g.cmdline];
  if (g.initrd) args.push('-initrd', g.initrd);
  return ['qemu-system-x86_64', args];
}

function readRss(pid: number): { rss: number; shmem: number } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(/^(\w+):\s+(\d+)/m.exec(status.split('\n')
      .find((l) => l.startsWith(name + ':')) ?? '')?.[2] ?? 0);
    return { rss: field('VmRSS'), shmem: field('RssShmem') };
  } catch {
    return undefined;
  }
}

/** Runs the guest until every marker was seen (or the process ends, or timeoutMs passes), then kills it. */
export function runGuest(monitor: Monitor, g: GuestSpec, markers: string[], timeoutMs: number,
  sampleAt?: string): Promise<RunResult> {
  const [bin, args] = command(monitor, g);
  const started = process.hrtime.bigint();
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  const result: RunResult = { marks: new Map() };
  let out = '';
  return new Promise((resolve) => {
    const finish = (): void => { clearTimeout(timer); child.kill('SIGKILL'); };
    const timer = setTimeout(finish, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      out += d.toString('latin1');
      for (const m of markers) {
        if (result.marks.has(m) || !out.includes(m)) continue;
        result.marks.set(m, ms);
        if (m === sampleAt && child.pid !== undefined) {
          const r = readRss(child.pid);
          if (r) { result.rssKiB = r.rss; result.shmemKiB = r.shmem; }
        }
      }
      if (markers.every((m) => result.marks.has(m))) finish();
    });
    child.on('exit', () => { clearTimeout(timer); resolve(result); });
    child.on('error', () => { clearTimeout(timer); resolve(result); });
  });
}

export function qemuAvailable(): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => fs.existsSync(path.join(d, 'qemu-system-x86_64')));
}
