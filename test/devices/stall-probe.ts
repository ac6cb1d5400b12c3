// What a hostile guest can cost the main thread: the longest turn of the event loop while a device serves the
// worst chains a guest can post. A probe re-arms itself with setImmediate on every turn, so the gap between two of
// its runs is the longest stretch anything (the device's passes included) held the loop; the notify call itself is
// timed directly. An event-loop delay histogram runs alongside as a second witness.
// Each gap is measured twice: in wall time, and in the CPU time the process used meanwhile. On a host whose cores
// are shared with other work, wall time also counts the time the process waited for a core, which no device can
// bound; the CPU time is the work the device did, and the figure the limit applies to.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { F_INDIRECT, F_NEXT, type Desc, type MockDriver } from '../virtio-mmio/mock-driver';

/** The goal for any one notify: no longer than this on the main thread. */
export const STALL_LIMIT_MS = 50;
/** Descriptors in an indirect table: the most a chain may have. */
export const TABLE = 1023;
/** What each descriptor of a worst chain covers; they all alias one region, so the chain is ~4 GiB. */
export const ALIAS = 4 << 20;

export interface Stall {
  /** CPU time of the notify call, and of the longest turn after it. */
  notifyMs: number;
  worstTurnMs: number;
  /** The same in wall time, and the event-loop delay histogram's maximum. */
  notifyWallMs: number;
  worstTurnWallMs: number;
  histogramMs: number;
}

export const worst = (s: Stall): number => Math.max(s.notifyMs, s.worstTurnMs);

/** CPU time (user and system) the process has used, in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Calls `notify`, then lets the loop turn until `finished()` holds (or `limitMs` passes: a device that stopped
 * making progress fails the test rather than hanging it).
 */
export async function measureStall(notify: () => void, finished: () => boolean, limitMs = 60_000): Promise<Stall> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  const c0 = cpuMs();
  notify();
  const s: Stall = { notifyMs: cpuMs() - c0, worstTurnMs: 0, notifyWallMs: performance.now() - t0, worstTurnWallMs: 0,
    histogramMs: 0 };
  await new Promise<void>((resolve, reject) => {
    let last = performance.now();
    let lastCpu = cpuMs();
    const probe = (): void => {
      const now = performance.now();
      const cpu = cpuMs();
      s.worstTurnWallMs = Math.max(s.worstTurnWallMs, now - last);
      s.worstTurnMs = Math.max(s.worstTurnMs, cpu - lastCpu);
      last = now;
      lastCpu = cpu;
      if (finished()) resolve();
      else if (now - t0 > limitMs) reject(new Error(`the device did not finish within ${limitMs} ms`));
      else setImmediate(probe);
    };
    setImmediate(probe);
  });
  h.disable();
  s.histogramMs = h.max / 1e6;
  return s;
}

/** `n` descriptors that all cover [addr, addr + len): guest-sized bytes out of a little guest memory. */
export const aliased = (n: number, addr: number, len: number, flags: number): Desc[] =>
  Array.from({ length: n }, () => ({ addr, len, flags }));

/**
 * Writes `descs` (at most TABLE) as one indirect table at `table` and fills the whole ring with chains of one
 * indirect descriptor each, all pointing at it: the longest chains a guest can post, as many as the ring holds.
 */
export function fillRing(d: MockDriver, table: number, descs: Desc[]): void {
  descs.forEach((desc, i) => {
    const last = i === descs.length - 1;
    d.writeDesc(table, i, { ...desc, flags: desc.flags | (last ? 0 : F_NEXT), next: last ? 0 : i + 1 });
  });
  for (let head = 0; head < d.size; head++) {
    d.writeDesc(d.descTable, head, { addr: table, len: 16 * descs.length, flags: F_INDIRECT });
    d.makeAvailable(head);
  }
}
