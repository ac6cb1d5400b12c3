// The net rows: the tiny test kernel's `netbench` mode on virtio-net over a tap in a private network namespace,
// each monitor started inside it (`ip netns exec`), with the host's end played by bench/net-peer.c: a packet-socket
// sink on the tap while the guest sends (tx), a generator of UDP frames into the tap while it receives (rx). The
// host's own limit is the same pair with no monitor: frames written into / read from the tap's fd in a loop.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HELLO, runTiny, type BenchContext } from './tiny';
import { netbenchFigures, netPeerFigures, unknownTest, type NetFigures } from './parse';
import { addSample, fromSamples, type PerMonitor, type Row } from './table';

const NS = `tsvmm-bench-${process.pid}`;
const TAP = 'tsvmmb0';
const HOST_MAC = '02:00:00:00:00:01';
const GUEST_MAC = '52:54:00:12:34:56';
const HOST_IP = '10.99.0.1';
const GUEST_IP = '10.99.0.2';
/** The largest frame without offloads: 14-byte Ethernet header and a 1500-byte IPv4 packet. */
const FRAME = 1514;

type Dir = 'tx' | 'rx';

/**
 * The guest's cmdline for one direction. The keys are what test/guest/tests/netbench.c is expected to read; keys a
 * test does not know are ignored, so a mismatch shows as a netbench failure or default values, never as a hang.
 */
export function netbenchCmdline(dir: Dir, ms: number): string {
  return `test=netbench net_dir=${dir} net_ms=${ms} net_frame=${FRAME} net_host_mac=${HOST_MAC} `
    + `net_host_ip=${HOST_IP} net_guest_ip=${GUEST_IP} net_port=5001`;
}

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Why the net rows cannot run here, or undefined. */
export function netUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (a network namespace and a tap)';
  try { ip('-V'); } catch { return 'needs iproute2 (ip)'; }
  if (!fs.existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  return undefined;
}

function setUp(): void {
  ip('netns', 'add', NS);
  ip('-n', NS, 'link', 'set', 'lo', 'up');
  ip('-n', NS, 'tuntap', 'add', 'dev', TAP, 'mode', 'tap');
  ip('-n', NS, 'link', 'set', TAP, 'address', HOST_MAC, 'up');
  ip('-n', NS, 'addr', 'add', `${HOST_IP}/24`, 'dev', TAP);
  ip('-n', NS, 'neigh', 'add', GUEST_IP, 'lladdr', GUEST_MAC, 'dev', TAP, 'nud', 'permanent');
}

/** Removing the namespace removes its tap; safe to call when setUp got only part of the way. */
export function tearDown(): void {
  try { ip('netns', 'del', NS); } catch { /* never made */ }
}

function buildPeer(workDir: string): string {
  const out = path.join(workDir, 'net-peer');
  const src = path.resolve(__dirname, '..', '..', 'bench', 'net-peer.c');
  execFileSync('gcc', ['-O2', '-Wall', '-o', out, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

/** A net-peer running in the namespace until `stop()` (SIGTERM), or for `ms`; resolves with its figures. */
function peer(bin: string, args: string[], ms: number): { done: Promise<{ frames: number; bytes: number; us: number }>; stop(): void } {
  const child = spawn('ip', ['netns', 'exec', NS, bin, ...args, String(ms)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { text += d.toString(); });
  const done = new Promise<{ frames: number; bytes: number; us: number }>((resolve, reject) => {
    child.on('close', () => { try { resolve(netPeerFigures(text)); } catch (e) { reject(e as Error); } });
  });
  return { done, stop: () => { child.kill('SIGTERM'); } };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface HostLimit { fps: number; gbps: number }

/** The tap with no monitor: what the host moves through it per second, each way. */
async function hostLimits(bin: string, ms: number): Promise<Record<Dir, HostLimit>> {
  const rate = (frames: number, bytes: number, us: number): HostLimit =>
    ({ fps: frames / (us / 1e6), gbps: (bytes * 8) / (us * 1e3) });
  // tx: frames written into the tap's fd (what a monitor does for the guest's tx), beside the same sink.
  const sink = peer(bin, ['sink', TAP], ms + 5000);
  await sleep(100);
  const w = await peer(bin, ['tapwrite', TAP, String(FRAME)], ms).done;
  sink.stop();
  await sink.done;
  // rx: frames the generator sends, read from the tap's fd (what a monitor does for the guest's rx).
  const reader = peer(bin, ['tapread', TAP], ms + 5000);
  await sleep(100);
  const g = await peer(bin, ['gen', TAP, GUEST_MAC, HOST_MAC, String(FRAME)], ms).done;
  reader.stop();
  const r = await reader.done;
  return { tx: rate(w.frames, w.bytes, w.us), rx: rate(r.frames, r.bytes, g.us) };
}

/** One boot of netbench in one direction, with the host's end running beside it. */
async function guestRun(ctx: BenchContext, bin: string, m: 'tsvmm' | 'qemu', dir: Dir):
  Promise<{ figures: NetFigures[]; unknown: boolean; failure?: string }> {
  const ms = ctx.opts.opMs;
  let host: ReturnType<typeof peer> | undefined;
  const startHost = (): void => {
    host ??= dir === 'tx' ? peer(bin, ['sink', TAP], 120_000) : peer(bin, ['gen', TAP, GUEST_MAC, HOST_MAC, String(FRAME)], 120_000);
  };
  if (dir === 'tx') startHost();
  const { run, out, ok } = await runTiny(ctx, m, {
    cmdline: netbenchCmdline(dir, ms), timeoutMs: 60_000 + 2 * ms, mayFail: true,
    guest: { net: { tap: TAP, mac: GUEST_MAC }, netns: NS },
    // The generator starts once the guest runs: before that its frames would only fill the tap's queue.
    onMarker: (mk) => { if (mk === HELLO) startHost(); },
  });
  host?.stop();
  await host?.done.catch(() => undefined);
  const figures = netbenchFigures(run.text).filter((f) => f.dir === dir);
  if (ok || figures.length > 0) return { figures, unknown: false };
  return { figures, unknown: unknownTest(out), failure: out.verdict?.reason ?? 'no verdict' };
}

export async function netRows(ctx: BenchContext): Promise<Row[]> {
  const why = netUnavailable();
  const fps: Record<Dir, PerMonitor> = { tx: {}, rx: {} };
  const gbps: Record<Dir, PerMonitor> = { tx: {}, rx: {} };
  let host: Record<Dir, HostLimit> | undefined;
  const notes: string[] = [];
  if (why === undefined) {
    const bin = buildPeer(ctx.workDir);
    tearDown();
    setUp();
    try {
      ctx.progress('net: host limit (tap loop)');
      host = await hostLimits(bin, ctx.opts.opMs);
      let missing = false;
      for (let i = 0; i < ctx.opts.runs && !missing; i++) {
        for (const m of ctx.monitors) {
          for (const dir of ['tx', 'rx'] as const) {
            ctx.progress(`net: ${m} ${dir} run ${i + 1}/${ctx.opts.runs}`);
            const r = await guestRun(ctx, bin, m, dir);
            if (r.unknown) {
              missing = true;
              notes.push('the test kernel has no netbench mode yet (it answered: unknown test)');
              break;
            }
            if (r.failure !== undefined) ctx.problems.push(`${m}: test=netbench ${dir} failed: ${r.failure}`);
            for (const f of r.figures) {
              addSample(fps[dir], m, f.fps);
              addSample(gbps[dir], m, f.gbps);
            }
          }
          if (missing) break;
        }
      }
    } finally {
      tearDown();
    }
  } else {
    notes.push(`not run: ${why}`);
  }
  const note = (extra: string): string => [...notes, extra].filter(Boolean).join('; ');
  const row = (dir: Dir, unit: 'frames/s' | 'Gbit/s'): Row => {
    const p = unit === 'frames/s' ? fps[dir] : gbps[dir];
    const h = host?.[dir];
    const what = dir === 'tx' ? 'guest to host' : 'host to guest';
    return {
      group: 'net', measure: `net: ${dir} (${what}), ${FRAME}-byte UDP frames`, unit, better: 'higher',
      ...fromSamples(p), host: h && (unit === 'frames/s' ? h.fps : h.gbps),
      note: note(unit === 'frames/s' ? `${p.tsvmm || p.qemu ? `median of ${ctx.opts.runs}; ` : ''}tap in a netns; `
        + `host limit: ${dir === 'tx' ? 'writes into' : 'reads from'} the tap fd in a C loop` : ''),
    };
  };
  return [row('tx', 'frames/s'), row('tx', 'Gbit/s'), row('rx', 'frames/s'), row('rx', 'Gbit/s')];
}
