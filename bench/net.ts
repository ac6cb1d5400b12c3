// The net rows: the tiny test kernel's `netbench` mode (test/guest/tests/netbench.c) on virtio-net over a tap in a
// private network namespace, each monitor started inside it (`ip netns exec`). One boot runs tx (the guest sends
// UDP to the host, which drops it) and then rx (the host sends UDP to the guest from bench/net-peer.c, a packet
// socket on the tap, from the guest's `ready=rx` line on). The host's own limit is the same traffic with no monitor:
// frames written into the tap's fd in a C loop (tx), and frames the generator sends read from it (rx).
import { makeTapNamespace, netUnavailable, type TapNamespace } from '../test/helpers/netns';
import { buildNetPeer, generatorArgs, NETBENCH_READY, RxGenerator, startNetPeer, type GeneratorTarget } from './net-peer';
import { netbenchFigures, type NetFigures } from './parse';
import { addSample, fromSamples, type PerMonitor, type Row } from './table';
import { runTestKernel, type BenchContext } from './tiny';

const NS = `tsvmm-bench-${process.pid}`;
const TAP = 'tsvmmb0';
const GUEST_MAC = '52:54:00:12:34:56';
const HOST_IP = '10.99.0.1';
const GUEST_IP = '10.99.0.2';
/** UDP payload bytes: with the UDP, IPv4 and Ethernet headers a 1514-byte frame, the largest without offloads. */
const PAYLOAD = 1472;
const FRAME = PAYLOAD + 8 + 20 + 14;
const RX_DONE = 'TSVMM-DATA: netbench op=rx';

type Dir = 'tx' | 'rx';

/** The namespace while it exists, for tearDown(). */
let namespace: TapNamespace | undefined;

/** The guest's cmdline: the keys test/guest/tests/netbench.c and net-peer.h read. */
export function netbenchCmdline(ms: number): string {
  return `test=netbench net_ip=${GUEST_IP} net_host=${HOST_IP} net_mac=${GUEST_MAC} bench_ops=tx,rx bench_ms=${ms} `
    + `bench_size=${PAYLOAD} bench_port=9`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Rate { fps: number; gbps: number }
const rate = (frames: number, bytes: number, us: number): Rate =>
  ({ fps: frames / (us / 1e6), gbps: (bytes * 8) / (us * 1e3) });

/** The tap with no monitor: what the host moves through it per second, each way. */
async function hostLimits(bin: string, target: GeneratorTarget, ms: number): Promise<Record<Dir, Rate>> {
  // tx: the guest's datagrams to the host, written into the tap's fd as a monitor writes them.
  const w = await startNetPeer(bin, ['tapwrite', TAP, target.hostMac, HOST_IP, GUEST_MAC, GUEST_IP, String(FRAME)],
    ms, NS).done;
  // rx: the generator's datagrams, read from the tap's fd as a monitor reads them.
  const reader = startNetPeer(bin, ['tapread', TAP], ms + 5000, NS);
  await sleep(100);
  const g = await startNetPeer(bin, generatorArgs(target), ms, NS).done;
  reader.stop();
  const r = await reader.done;
  return { tx: rate(w.frames, w.bytes, w.us), rx: rate(r.frames, r.bytes, g.us) };
}

/** One boot of netbench: tx, then rx with the generator running from the guest's ready line to its rx line. */
async function guestRun(ctx: BenchContext, bin: string, target: GeneratorTarget, m: 'tsvmm' | 'qemu'):
  Promise<NetFigures[]> {
  const gen = new RxGenerator(bin, target, NS);
  // What it printed is not needed: the guest times and counts what it received.
  const stopGen = (): Promise<unknown> => gen.stop().catch(() => undefined);
  const { run } = await runTestKernel(ctx, m, {
    cmdline: netbenchCmdline(ctx.opts.opMs), timeoutMs: 60_000 + 4 * ctx.opts.opMs,
    guest: { net: { tap: TAP, mac: GUEST_MAC }, netns: NS },
    markers: [NETBENCH_READY, RX_DONE],
    onMarker: (mk) => {
      if (mk === NETBENCH_READY) gen.start();
      if (mk === RX_DONE) void stopGen();
    },
  });
  await stopGen();
  return netbenchFigures(run.text);
}

/** Runs the guests and the host limits in a namespace made for them, and removes it whatever happens. */
async function measure(ctx: BenchContext, fps: Record<Dir, PerMonitor>, gbps: Record<Dir, PerMonitor>):
  Promise<Record<Dir, Rate>> {
  const bin = buildNetPeer(ctx.workDir);
  try {
    namespace = makeTapNamespace({ name: NS, tap: TAP, hostIp: HOST_IP, noIpv6: true });
    namespace.staticNeighbour(GUEST_IP, GUEST_MAC);
    const target: GeneratorTarget = { tap: TAP, guestMac: GUEST_MAC, guestIp: GUEST_IP, hostMac: namespace.hostMac,
      hostIp: HOST_IP, frame: FRAME };
    ctx.progress('net: host limit (tap loop)');
    const host = await hostLimits(bin, target, ctx.opts.opMs);
    for (let i = 0; i < ctx.opts.runs; i++) {
      for (const m of ctx.monitors) {
        ctx.progress(`net: ${m} run ${i + 1}/${ctx.opts.runs}`);
        for (const f of await guestRun(ctx, bin, target, m)) {
          addSample(fps[f.op], m, f.fps);
          addSample(gbps[f.op], m, f.gbps);
        }
      }
    }
    return host;
  } finally {
    tearDown();
  }
}

export async function netRows(ctx: BenchContext): Promise<Row[]> {
  const why = netUnavailable();
  const fps: Record<Dir, PerMonitor> = { tx: {}, rx: {} };
  const gbps: Record<Dir, PerMonitor> = { tx: {}, rx: {} };
  const notes: string[] = [];
  let host: Record<Dir, Rate> | undefined;
  if (why === undefined) host = await measure(ctx, fps, gbps);
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

/** Also for a signal handler: the namespace (and its tap) go, if they are there. */
export function tearDown(): void {
  namespace?.remove();
  namespace = undefined;
}
