// The net rows: the tiny test kernel's `netbench` mode (test/guest/tests/netbench.c) on virtio-net over a tap in a
// private network namespace, each monitor started inside it (`ip netns exec`). One boot runs tx (the guest sends
// UDP to the host, which drops it) and then rx (the host sends UDP to the guest from bench/net-peer.c, a packet
// socket on the tap, from the guest's `ready=rx` line on). The host's own limit is the same traffic with no monitor:
// frames written into the tap's fd in a C loop (tx), and frames the generator sends read from it (rx).
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { makeTapNamespace, netUnavailable, type TapNamespace } from '../test/helpers/netns';
import { runTiny, type BenchContext } from './tiny';
import { netbenchFigures, netPeerFigures, unknownTest, type NetFigures } from './parse';
import { addSample, fromSamples, type PerMonitor, type Row } from './table';

const NS = `tsvmm-bench-${process.pid}`;
const TAP = 'tsvmmb0';
const GUEST_MAC = '52:54:00:12:34:56';
const HOST_IP = '10.99.0.1';
const GUEST_IP = '10.99.0.2';
/** UDP payload bytes: with the UDP, IPv4 and Ethernet headers a 1514-byte frame, the largest without offloads. */
const PAYLOAD = 1472;
const FRAME = PAYLOAD + 8 + 20 + 14;
const READY = 'TSVMM-DATA: netbench ready=rx';
const RX_DONE = 'TSVMM-DATA: netbench op=rx';

type Dir = 'tx' | 'rx';

/** The guest's cmdline: the keys test/guest/tests/netbench.c and net-peer.h read. */
export function netbenchCmdline(ms: number): string {
  return `test=netbench net_ip=${GUEST_IP} net_host=${HOST_IP} net_mac=${GUEST_MAC} bench_ops=tx,rx bench_ms=${ms} `
    + `bench_size=${PAYLOAD} bench_port=9`;
}

function buildPeer(workDir: string): string {
  const out = path.join(workDir, 'net-peer');
  const src = path.resolve(__dirname, '..', '..', 'bench', 'net-peer.c');
  execFileSync('gcc', ['-O2', '-Wall', '-o', out, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

interface Peer { done: Promise<{ frames: number; bytes: number; us: number }>; stop(): void }

/** A net-peer in the namespace until `stop()` (SIGTERM) or for `ms`; resolves with its figures. */
function peer(bin: string, args: string[], ms: number): Peer {
  const child = spawn('ip', ['netns', 'exec', NS, bin, ...args, String(ms)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { text += d.toString(); });
  const done = new Promise<{ frames: number; bytes: number; us: number }>((resolve, reject) => {
    child.on('close', () => { try { resolve(netPeerFigures(text)); } catch (e) { reject(e as Error); } });
  });
  return { done, stop: () => { child.kill('SIGTERM'); } };
}

/** UDP to the guest, as its rx benchmark expects it. */
const generator = (bin: string, hostMac: string, ms: number): Peer =>
  peer(bin, ['gen', TAP, GUEST_MAC, GUEST_IP, hostMac, HOST_IP, String(FRAME)], ms);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Rate { fps: number; gbps: number }
const rate = (frames: number, bytes: number, us: number): Rate =>
  ({ fps: frames / (us / 1e6), gbps: (bytes * 8) / (us * 1e3) });

/** The tap with no monitor: what the host moves through it per second, each way. */
async function hostLimits(bin: string, hostMac: string, ms: number): Promise<Record<Dir, Rate>> {
  // tx: the guest's datagrams to the host, written into the tap's fd as a monitor writes them.
  const w = await peer(bin, ['tapwrite', TAP, hostMac, HOST_IP, GUEST_MAC, GUEST_IP, String(FRAME)], ms).done;
  // rx: the generator's datagrams, read from the tap's fd as a monitor reads them.
  const reader = peer(bin, ['tapread', TAP], ms + 5000);
  await sleep(100);
  const g = await generator(bin, hostMac, ms).done;
  reader.stop();
  const r = await reader.done;
  return { tx: rate(w.frames, w.bytes, w.us), rx: rate(r.frames, r.bytes, g.us) };
}

/** One boot of netbench (tx, then rx with the generator running from the guest's ready line to its rx line). */
async function guestRun(ctx: BenchContext, bin: string, hostMac: string, m: 'tsvmm' | 'qemu'):
  Promise<{ figures: NetFigures[]; unknown: boolean; failure?: string }> {
  let gen: Peer | undefined;
  const stopGen = (): void => gen?.stop();
  const { run, out, ok } = await runTiny(ctx, m, {
    cmdline: netbenchCmdline(ctx.opts.opMs), timeoutMs: 60_000 + 4 * ctx.opts.opMs, mayFail: true,
    guest: { net: { tap: TAP, mac: GUEST_MAC }, netns: NS },
    markers: [READY, RX_DONE],
    onMarker: (mk) => {
      if (mk === READY) gen ??= generator(bin, hostMac, 120_000);
      if (mk === RX_DONE) stopGen();
    },
  });
  stopGen();
  await gen?.done.catch(() => undefined);
  const figures = netbenchFigures(run.text);
  if (ok) return { figures, unknown: false };
  return { figures, unknown: unknownTest(out), failure: out.verdict?.reason ?? `no verdict (${run.stderr.trim().slice(-200)})` };
}

/** Runs the guests and the host limits in a namespace made for them, and removes it whatever happens. */
async function measure(ctx: BenchContext, fps: Record<Dir, PerMonitor>, gbps: Record<Dir, PerMonitor>,
  notes: string[]): Promise<Record<Dir, Rate>> {
  const bin = buildPeer(ctx.workDir);
  let ns: TapNamespace | undefined;
  try {
    ns = makeTapNamespace({ name: NS, tap: TAP, hostIp: HOST_IP, noIpv6: true });
    ns.staticNeighbour(GUEST_IP, GUEST_MAC);
    const hostMac = /link\/ether ([0-9a-f:]{17})/.exec(ns.ip('link', 'show', TAP))![1]!;
    ctx.progress('net: host limit (tap loop)');
    const host = await hostLimits(bin, hostMac, ctx.opts.opMs);
    for (let i = 0; i < ctx.opts.runs; i++) {
      for (const m of ctx.monitors) {
        ctx.progress(`net: ${m} run ${i + 1}/${ctx.opts.runs}`);
        const r = await guestRun(ctx, bin, hostMac, m);
        if (r.unknown) {
          notes.push('the test kernel has no netbench mode (it answered: unknown test)');
          return host;
        }
        if (r.failure !== undefined) ctx.problems.push(`${m}: test=netbench failed: ${r.failure}`);
        for (const f of r.figures) {
          addSample(fps[f.op], m, f.fps);
          addSample(gbps[f.op], m, f.gbps);
        }
      }
    }
    return host;
  } finally {
    ns?.remove();
  }
}

export async function netRows(ctx: BenchContext): Promise<Row[]> {
  const why = netUnavailable();
  const fps: Record<Dir, PerMonitor> = { tx: {}, rx: {} };
  const gbps: Record<Dir, PerMonitor> = { tx: {}, rx: {} };
  const notes: string[] = [];
  let host: Record<Dir, Rate> | undefined;
  if (why === undefined) host = await measure(ctx, fps, gbps, notes);
  else notes.push(`not run: ${why}`);
  const row = (dir: Dir, unit: 'frames/s' | 'Gbit/s'): Row => {
    const p = unit === 'frames/s' ? fps[dir] : gbps[dir];
    const h = host?.[dir];
    const what = dir === 'tx' ? 'guest to host' : 'host to guest';
    const first = unit === 'frames/s';
    const how = dir === 'tx' ? 'frames written into the tap fd in a C loop'
      : 'frames from the same generator read from the tap fd in a C loop';
    return {
      group: 'net', measure: `net: ${dir} (${what}), ${FRAME}-byte UDP frames`, unit, better: 'higher',
      ...fromSamples(p), host: h && (first ? h.fps : h.gbps),
      note: [...notes, first && (p.tsvmm || p.qemu) ? `median of ${ctx.opts.runs}` : '',
        first ? `tap in a netns, timed by the guest; host limit: ${how}` : ''].filter(Boolean).join('; '),
    };
  };
  return [row('tx', 'frames/s'), row('tx', 'Gbit/s'), row('rx', 'frames/s'), row('rx', 'Gbit/s')];
}

/** For a signal handler: the namespace (and its tap) go, if they are there. */
export function tearDown(): void {
  try { execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' }); } catch { /* never made */ }
}
