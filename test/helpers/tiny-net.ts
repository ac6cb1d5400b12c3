// The tiny test kernel's net tests (test=net, test=netbench) on a tap in a network namespace, on tsvmm (in this
// process) or under QEMU microvm. `runTinyNet` runs this file inside the namespace (`ip netns exec NS node
// tiny-net.js SPEC`): it reads the tap's counters, boots the guest, starts the benchmark's UDP generator
// (bench/net-peer.c) when the guest prints `ready=rx`, stops it when the guest has ended, reads the counters again
// and prints one JSON line (a TinyNetResult) on stdout.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildNetPeer, NETBENCH_READY, RxGenerator, type GeneratorTarget } from '../../bench/net-peer';
import { parseTestKernelOutput, type TestKernelOutput } from '../../src/guest/test-kernel-output';
import { readTapStats, tapStatsDelta, type TapNamespace, type TapStats } from './netns';
import { tapNetArgs } from './qemu';
import { runQemuTiny, runTiny } from './tiny';
import type { OutputWatch } from './wait';

export interface TinyNetSpec {
  monitor: 'tsvmm' | 'qemu';
  /** The guest's cmdline: test=net or test=netbench with their keys. */
  cmdline: string;
  tap: string;
  mac: string;
  /**
   * For rx: the guest's address and the UDP payload bytes the generator sends it (to port 9, a sequence number
   * first), from the guest's `ready=rx` line until it has ended.
   */
  sender?: { ip: string; size: number };
  timeoutMs: number;
}

/** What the process in the namespace is given: the spec, and the generator ready to run. */
interface ChildSpec extends TinyNetSpec {
  generator?: { bin: string; target: GeneratorTarget };
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
  /** What the generator sent: frames, and their bytes. */
  sender?: { sent: number; bytes: number };
}

export type TinyNetRun = TinyNetResult & TestKernelOutput;

async function boot(spec: ChildSpec, gen: RxGenerator | undefined): Promise<Omit<TinyNetResult, 'tap' | 'sender'>> {
  // A guest that ends before its ready line leaves the generator unstarted.
  const startAtReady = (output: OutputWatch): void => {
    if (gen) output.waitFor(NETBENCH_READY, spec.timeoutMs).then(() => gen.start(), () => {});
  };
  if (spec.monitor === 'qemu') {
    const r = await runQemuTiny(spec.cmdline, tapNetArgs(spec.tap, spec.mac), spec.timeoutMs,
      async (output) => startAtReady(output));
    return { text: r.text, exit: `qemu exit status ${r.code}` };
  }
  const r = await runTiny({
    cmdline: spec.cmdline, devices: [{ type: 'net', tap: spec.tap, mac: spec.mac }], timeoutMs: spec.timeoutMs,
    during: (_m, output) => startAtReady(output),
  });
  return { text: r.text, exit: `${r.exit.reason}: ${r.exit.detail}`, device: r.devices[0] ?? {} };
}

async function main(spec: ChildSpec): Promise<TinyNetResult> {
  const before = readTapStats(spec.tap);
  const gen = spec.generator && new RxGenerator(spec.generator.bin, spec.generator.target);
  let run: Omit<TinyNetResult, 'tap' | 'sender'>;
  try {
    run = await boot(spec, gen);
  } catch (e) {
    await gen?.stop().catch(() => undefined);
    throw e;
  }
  const sent = await gen?.stop();
  return { ...run, tap: tapStatsDelta(readTapStats(spec.tap), before),
    ...(sent ? { sender: { sent: sent.frames, bytes: sent.bytes } } : {}) };
}

let peerBin: string | undefined;

/** The generator, built once per process into a folder that goes when the process does. */
function netPeer(): string {
  if (peerBin === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-net-peer-'));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    peerBin = buildNetPeer(dir);
  }
  return peerBin;
}

/** Runs one guest in the namespace and returns what the runner saw, with the guest's output parsed. */
export function runTinyNet(ns: TapNamespace, spec: TinyNetSpec): TinyNetRun {
  const child: ChildSpec = spec.sender === undefined ? spec : { ...spec, generator: { bin: netPeer(), target: {
    tap: ns.tap, guestMac: spec.mac, guestIp: spec.sender.ip, hostMac: ns.hostMac, hostIp: ns.hostIp,
    frame: spec.sender.size + 8 + 20 + 14,
  } } };
  const out = execFileSync('ip', ['netns', 'exec', ns.name, process.execPath, __filename, JSON.stringify(child)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: spec.timeoutMs + 60_000 });
  const result = JSON.parse(out.trim().split('\n').pop()!) as TinyNetResult;
  return { ...result, ...parseTestKernelOutput(result.text) };
}

if (require.main === module) {
  main(JSON.parse(process.argv[2] ?? '{}') as ChildSpec).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
