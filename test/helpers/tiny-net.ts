// The tiny test kernel's net tests (test=net, test=netbench) on a tap in a network namespace, on tsvmm (in this
// process) or under QEMU microvm. `runTinyNet` runs this file inside the namespace (`ip netns exec NS node
// tiny-net.js SPEC`): it reads the tap's counters, boots the guest, starts a UDP sender (udp-flood.js) when the
// guest prints `ready=rx`, stops it when the guest has ended, reads the counters again and prints one JSON line
// (a TinyNetResult) on stdout.
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { parseTestKernelOutput, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import { readTapStats, tapStatsDelta, type TapNamespace, type TapStats } from './netns';
import { runQemuTiny, runTiny } from './tiny';

export interface TinyNetSpec {
  monitor: 'tsvmm' | 'qemu';
  /** The guest's cmdline: test=net or test=netbench with their keys. */
  cmdline: string;
  tap: string;
  mac: string;
  /** For rx: where the sender aims, and its payload size; it starts at the guest's `ready=rx` line. */
  sender?: { ip: string; port: number; size: number };
  timeoutMs: number;
}

export interface TinyNetResult {
  /** The guest's console output. */
  text: string;
  /** How the monitor ended: tsvmm's exit reason, or QEMU's exit status. */
  exit: string;
  /** The tap's counters over the run (rx: frames from the guest, tx: frames to it). */
  tap: TapStats;
  /** tsvmm's device counters (absent under QEMU). */
  device?: Record<string, number>;
  sender?: { sent: number; errors: number };
}

export type TinyNetRun = TinyNetResult & TestKernelOutput;

const READY = /^TSVMM-DATA: netbench ready=rx\b/m;

/** Starts the sender once the output holds the guest's ready line; stop() ends it and says what it sent. */
class Sender {
  private child: ReturnType<typeof spawn> | undefined;
  private out = '';
  private stopped = false;

  constructor(private readonly spec: TinyNetSpec['sender']) {}

  watch(text: string): void {
    if (this.spec === undefined || this.child !== undefined || this.stopped || !READY.test(text)) return;
    const script = path.join(__dirname, 'udp-flood.js');
    this.child = spawn(process.execPath, [script, this.spec.ip, String(this.spec.port), String(this.spec.size)],
      { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (d: Buffer) => { this.out += d.toString(); });
  }

  async stop(): Promise<TinyNetResult['sender']> {
    this.stopped = true;
    const child = this.child;
    if (child === undefined) return undefined;
    this.child = undefined;
    const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
    child.kill('SIGTERM');
    await closed;
    return this.out ? JSON.parse(this.out) as { sent: number; errors: number } : undefined;
  }
}

async function boot(spec: TinyNetSpec, sender: Sender): Promise<Omit<TinyNetResult, 'tap' | 'sender'>> {
  let watcher: NodeJS.Timeout | undefined;
  const watch = (output: () => string): Promise<void> => {
    watcher = setInterval(() => sender.watch(output()), 10);
    return Promise.resolve();
  };
  try {
    if (spec.monitor === 'qemu') {
      const r = await runQemuTiny(spec.cmdline, ['-netdev', `tap,id=n0,ifname=${spec.tap},script=no,downscript=no`,
        '-device', `virtio-net-device,netdev=n0,mac=${spec.mac}`], spec.timeoutMs, watch);
      return { text: r.text, exit: `qemu exit status ${r.code}` };
    }
    const r = await runTiny({
      cmdline: spec.cmdline, devices: [{ type: 'net', tap: spec.tap, mac: spec.mac }], timeoutMs: spec.timeoutMs,
      during: (_m, output) => watch(output),
    });
    return { text: r.text, exit: `${r.exit.reason}: ${r.exit.detail}`, device: r.devices[0] ?? {} };
  } finally {
    clearInterval(watcher);
  }
}

async function main(spec: TinyNetSpec): Promise<TinyNetResult> {
  const before = readTapStats(spec.tap);
  const sender = new Sender(spec.sender);
  let run: Omit<TinyNetResult, 'tap' | 'sender'>;
  let sent: TinyNetResult['sender'];
  try {
    run = await boot(spec, sender);
  } finally {
    sent = await sender.stop();
  }
  return { ...run, tap: tapStatsDelta(readTapStats(spec.tap), before), ...(sent ? { sender: sent } : {}) };
}

/** Runs one guest in the namespace and returns what the runner saw, with the guest's output parsed. */
export function runTinyNet(ns: TapNamespace, spec: TinyNetSpec): TinyNetRun {
  const out = execFileSync('ip', ['netns', 'exec', ns.name, process.execPath, __filename, JSON.stringify(spec)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: spec.timeoutMs + 60_000 });
  const result = JSON.parse(out.trim().split('\n').pop()!) as TinyNetResult;
  return { ...result, ...parseTestKernelOutput(result.text) };
}

if (require.main === module) {
  main(JSON.parse(process.argv[2] ?? '{}') as TinyNetSpec).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exitCode = 1; },
  );
}
