// The host's end of the test kernel's net traffic (bench/net-peer.c, built with the system gcc): the generator that
// feeds netbench's rx run, for the benchmark and for the tests alike, and the tap loops the benchmark takes the
// host's own limit with.
import { execFileSync, spawn } from 'node:child_process';
import * as path from 'node:path';
import { packageRoot } from '../src/base/package-root';
import { netPeerFigures, type NetPeerFigures } from './parse';

/** What netbench prints once its rx run waits for traffic (test/guest/tests/netbench.c). */
export const NETBENCH_READY = 'TSVMM-DATA: netbench ready=rx';

/** Compiles net-peer into `dir`; returns the binary's path. */
export function buildNetPeer(dir: string): string {
  const out = path.join(dir, 'net-peer');
  execFileSync('gcc', ['-O2', '-Wall', '-o', out, path.join(packageRoot(), 'bench', 'net-peer.c')],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

export interface NetPeer {
  /** Its figures once it has ended; rejects when it printed none. */
  done: Promise<NetPeerFigures>;
  /** Ends it (SIGTERM); `done` says what it did. */
  stop(): void;
}

/** Runs net-peer with `args` for `ms` or until stop(), inside the network namespace `netns` when given. */
export function startNetPeer(bin: string, args: string[], ms: number, netns?: string): NetPeer {
  const argv = [...args, String(ms)];
  const child = netns ? spawn('ip', ['netns', 'exec', netns, bin, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { text += d.toString(); });
  const done = new Promise<NetPeerFigures>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => { try { resolve(netPeerFigures(text)); } catch (e) { reject(e); } });
  });
  return { done, stop: () => { child.kill('SIGTERM'); } };
}

export interface GeneratorTarget {
  /** The tap, seen from the host, that the guest's device is on. */
  tap: string;
  guestMac: string;
  guestIp: string;
  hostMac: string;
  hostIp: string;
  /** Ethernet frame bytes: the UDP payload plus 42. */
  frame: number;
}

/** net-peer's `gen` arguments: UDP from port 9 to the guest's port 9, a sequence number first, as netbench rx counts. */
export function generatorArgs(t: GeneratorTarget): string[] {
  return ['gen', t.tap, t.guestMac, t.guestIp, t.hostMac, t.hostIp, String(t.frame)];
}

/** The longest a generator runs when nothing stops it. */
const GENERATOR_MS = 120_000;

/**
 * The traffic for one netbench rx run: start() once the guest prints NETBENCH_READY (more calls, or one after
 * stop(), do nothing), stop() when the guest is done or has ended; stop() says what was sent, if anything was.
 */
export class RxGenerator {
  private peer: NetPeer | undefined;
  private stopped = false;

  constructor(private readonly bin: string, private readonly target: GeneratorTarget, private readonly netns?: string) {}

  start(): void {
    if (this.peer !== undefined || this.stopped) return;
    this.peer = startNetPeer(this.bin, generatorArgs(this.target), GENERATOR_MS, this.netns);
  }

  stop(): Promise<NetPeerFigures | undefined> {
    this.stopped = true;
    this.peer?.stop();
    return this.peer?.done ?? Promise.resolve(undefined);
  }
}
