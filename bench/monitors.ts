// Starting tsvmm and QEMU microvm on the same guest and timing what they print. Each run is one process; times are
// taken on the host when the console bytes arrive, from the moment the process is spawned.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../src/base/package-root';
import { microvmArgs, tapNetArgs } from '../test/helpers/qemu';

export type Monitor = 'tsvmm' | 'qemu';

export interface GuestSpec {
  kernel: string;
  initrd?: string;
  cmdline: string;
  memMiB: number;
  vcpus: number;
  /** The tiny test kernel: under QEMU it ends through isa-debug-exit (tsvmm ends on its i8042 reset). */
  tiny?: boolean;
  /** A raw image as virtio-blk, page-cache I/O with fdatasync on flush in both monitors. */
  blk?: string;
  /** virtio-net on an existing tap, with a fixed MAC so the host can address the guest. */
  net?: { tap: string; mac: string };
  /** Run the monitor inside this network namespace (`ip netns exec`). */
  netns?: string;
}

export interface RunOptions {
  /** Strings to timestamp on the console. */
  markers: string[];
  timeoutMs: number;
  /** Sample the process's memory when this marker appears. */
  sampleAt?: string;
  /** End the monitor once every marker was seen (a guest that does not end by itself: Linux). */
  killAtMarkers?: boolean;
  /** Where tsvmm's config file is written. */
  workDir: string;
  /** Called once per marker, when it first appears. */
  onMarker?: (marker: string) => void;
}

export interface MemorySample {
  /** VmRSS, KiB */
  rssKiB: number;
  /** RssShmem, KiB: guest RAM the guest touched, since both monitors keep it in a memfd here. */
  guestKiB: number;
}

export interface RunResult {
  /** ms from spawn to each marker's first appearance on the console. */
  marks: Map<string, number>;
  memory?: MemorySample;
  /** Everything the guest printed (stdout). */
  text: string;
  /** The monitor's own stderr, for error messages. */
  stderr: string;
  code: number | null;
  timedOut: boolean;
}

let configs = 0;

function tsvmmCommand(g: GuestSpec, workDir: string): [string, string[]] {
  const devices: unknown[] = [];
  if (g.blk) devices.push({ type: 'blk', path: g.blk, cache: 'writeback' });
  if (g.net) devices.push({ type: 'net', tap: g.net.tap, mac: g.net.mac });
  const config = {
    kernel: g.kernel, ...(g.initrd ? { initrd: g.initrd } : {}), cmdline: g.cmdline, memory: `${g.memMiB}M`,
    vcpus: g.vcpus, serial: { mode: 'stdio' }, log: { level: 'warn' }, devices,
  };
  // JSON is YAML: the config file is what a user would write.
  const file = path.join(workDir, `tsvmm-${process.pid}-${configs++}.yaml`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return [process.execPath, [path.join(packageRoot(), 'bin', 'tsvmm.js'), 'run', file]];
}

/** QEMU microvm with guest RAM in a memfd, as tsvmm keeps it, so RssShmem is the guest's touched RAM in both. */
function qemuCommand(g: GuestSpec): [string, string[]] {
  const devices: string[] = [];
  if (g.blk) {
    devices.push('-device', 'virtio-blk-device,drive=d0',
      '-drive', `id=d0,file=${g.blk},format=raw,if=none,cache=writeback,aio=threads`);
  }
  if (g.net) devices.push(...tapNetArgs(g.net.tap, g.net.mac));
  return ['qemu-system-x86_64', microvmArgs({ kernel: g.kernel, append: g.cmdline, memMiB: g.memMiB, vcpus: g.vcpus,
    initrd: g.initrd, memfd: true, testKernel: g.tiny, devices })];
}

export function readMemory(pid: number): MemorySample | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number | undefined => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) : undefined;
    };
    const rss = field('VmRSS');
    return rss === undefined ? undefined : { rssKiB: rss, guestKiB: field('RssShmem') ?? 0 };
  } catch {
    return undefined;
  }
}

/** Runs the guest until it ends (or every marker was seen, with killAtMarkers, or timeoutMs passes). */
export function runGuest(monitor: Monitor, g: GuestSpec, o: RunOptions): Promise<RunResult> {
  let [bin, args] = monitor === 'tsvmm' ? tsvmmCommand(g, o.workDir) : qemuCommand(g);
  // `ip netns exec` execs the monitor: the pid stays the monitor's, so its memory can still be sampled.
  if (g.netns) [bin, args] = ['ip', ['netns', 'exec', g.netns, bin, ...args]];
  const started = process.hrtime.bigint();
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const result: RunResult = { marks: new Map(), text: '', stderr: '', code: null, timedOut: false };
  return new Promise((resolve) => {
    const timer = setTimeout(() => { result.timedOut = true; child.kill('SIGKILL'); }, o.timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const seen = result.text.length;
      result.text += d.toString('latin1');
      for (const m of o.markers) {
        // Only the new chunk, and as much before it as a marker split across chunks can start in.
        if (result.marks.has(m) || !result.text.includes(m, Math.max(0, seen - m.length + 1))) continue;
        result.marks.set(m, ms);
        if (m === o.sampleAt && child.pid !== undefined) result.memory = readMemory(child.pid);
        o.onMarker?.(m);
      }
      if (o.killAtMarkers && o.markers.every((m) => result.marks.has(m))) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => { result.stderr += d.toString('latin1'); });
    child.on('close', (code) => { clearTimeout(timer); result.code = code; resolve(result); });
    child.on('error', (e) => { clearTimeout(timer); result.stderr += e.message; resolve(result); });
  });
}
