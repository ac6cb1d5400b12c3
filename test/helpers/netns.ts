// A private network namespace with one tap for tests and benchmarks that put a guest on a network: nothing leaves
// the machine. The tap is made in the namespace with iproute2, and whatever opens it (the VMM, QEMU) must run
// there too (`ip netns exec`), since a process opens taps in its own namespace.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/** Why a namespace and a tap cannot be made here, or undefined. */
export function netUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'making a network namespace and a tap needs root';
  if (!fs.existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 (ip) is not installed';
  }
  return undefined;
}

export const ip = (...args: string[]): string =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export interface TapNamespaceOptions {
  name: string;
  tap: string;
  /** The host's address on the tap, with a /24. */
  hostIp: string;
  /** Without IPv6 on the tap the host sends the guest nothing it did not ask for (no router or MLD traffic). */
  noIpv6?: boolean;
}

export interface TapNamespace {
  name: string;
  tap: string;
  /** The host's address on the tap. */
  hostIp: string;
  /** The tap's own MAC address, as frames from the host carry it. */
  hostMac: string;
  /** Runs `ip` inside the namespace. */
  ip(...args: string[]): string;
  /** The host sends to `guestIp` without asking by ARP. */
  staticNeighbour(guestIp: string, mac: string): void;
  /** Deletes the namespace and the tap in it; safe to call twice. */
  remove(): void;
}

/** Makes the namespace with lo and the tap up; anything half made is removed again when a step fails. */
export function makeTapNamespace(opts: TapNamespaceOptions): TapNamespace {
  const inNs = (...args: string[]): string => ip('-n', opts.name, ...args);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    try { ip('netns', 'del', opts.name); } catch { /* not made */ }
  };
  let hostMac: string | undefined;
  ip('netns', 'add', opts.name);
  try {
    inNs('link', 'set', 'lo', 'up');
    inNs('tuntap', 'add', 'dev', opts.tap, 'mode', 'tap');
    if (opts.noIpv6) {
      execFileSync('ip', ['netns', 'exec', opts.name, 'sh', '-c',
        `echo 1 > /proc/sys/net/ipv6/conf/${opts.tap}/disable_ipv6`], { stdio: 'ignore' });
    }
    inNs('addr', 'add', `${opts.hostIp}/24`, 'dev', opts.tap);
    inNs('link', 'set', opts.tap, 'up');
    hostMac = /link\/ether ([0-9a-f:]{17})/.exec(inNs('link', 'show', opts.tap))?.[1];
    if (hostMac === undefined) throw new Error(`${opts.tap}: no MAC address in \`ip link show\``);
  } catch (e) {
    remove();
    throw e;
  }
  return {
    name: opts.name,
    tap: opts.tap,
    hostIp: opts.hostIp,
    hostMac,
    ip: inNs,
    staticNeighbour: (guestIp, mac) => { inNs('neigh', 'replace', guestIp, 'lladdr', mac, 'dev', opts.tap, 'nud', 'permanent'); },
    remove,
  };
}

export interface TapStats {
  rxPackets: number;
  rxBytes: number;
  rxDropped: number;
  txPackets: number;
  txBytes: number;
  txDropped: number;
}

/**
 * The tap's counters from sysfs, as the host sees them: rx is what the guest sent (frames the VMM wrote), tx what
 * the host sent the guest (counted when the VMM reads a frame; tx_dropped when the tap's queue was full). Only
 * inside the tap's namespace (`ip netns exec` mounts that namespace's sysfs).
 */
export function readTapStats(tap: string): TapStats {
  const read = (name: string): number =>
    Number(fs.readFileSync(`/sys/class/net/${tap}/statistics/${name}`, 'utf8').trim());
  return { rxPackets: read('rx_packets'), rxBytes: read('rx_bytes'), rxDropped: read('rx_dropped'),
    txPackets: read('tx_packets'), txBytes: read('tx_bytes'), txDropped: read('tx_dropped') };
}

export function tapStatsDelta(after: TapStats, before: TapStats): TapStats {
  const d = {} as TapStats;
  for (const k of Object.keys(after) as (keyof TapStats)[]) d[k] = after[k] - before[k];
  return d;
}
