// virtio-balloon (device type 5, virtio 1.2 section 5.5). The host sets a target (num_pages, in 4 KiB pages); the
// driver inflates toward it by handing page frame numbers over the inflate queue, and the VMM gives those pages back
// to the host; a lower target makes the driver deflate, and a deflated page comes back to the guest, zero-filled,
// the next time it touches it, so deflate only counts. The driver reports its balloon size in `actual`.
// With statsInterval > 0 the device keeps the guest's statistics buffer and hands it back every interval so the
// driver refills it (section 5.5.6.3).
import type { Logger } from 'pino';
import { fromEventLoop, serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../virtio-mmio/device';
import type { DescriptorChain } from '../virtio-mmio/queue';
import { sliceSegments } from '../virtio-mmio/segments';
import { parseBalloonStats, type BalloonGuestStats } from './balloon-stats';
import { TurnBudget } from './turn-budget';
import { savedInt, savedObject } from './saved-state';

export type { BalloonGuestStats } from './balloon-stats';

const INFLATE = 0;
const DEFLATE = 1;
const STATS = 2;
const F_STATS_VQ = 1n;
const F_DEFLATE_ON_OOM = 2n;
/** Balloon PFNs always count 4 KiB pages, whatever the guest's page size. */
export const BALLOON_PAGE = 4096;
export const PAGES_PER_MIB = 256;
/**
 * The most page numbers taken from one chain: what Linux and FreeBSD send at most per request. Each can cost a
 * syscall on the main thread (tens of microseconds on a busy host).
 */
export const MAX_LIST_PFNS = 256;
const CONFIG_BYTES = 8;
const ACTUAL_OFFSET = 4;

export class BalloonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BalloonError';
  }
}

/** The page count for a target of `mib` MiB in a guest with `memBytes` of RAM; a RangeError naming `mib` otherwise. */
export function balloonTargetPages(mib: number, memBytes: number): number {
  const ramMiB = Math.floor(memBytes / (PAGES_PER_MIB * BALLOON_PAGE));
  if (!Number.isSafeInteger(mib) || mib < 0) throw new RangeError(`mib: ${String(mib)} is not a non-negative integer`);
  if (mib > ramMiB) throw new RangeError(`mib: ${mib} is more than the guest's ${ramMiB} MiB of RAM`);
  return mib * PAGES_PER_MIB;
}

export interface BalloonOptions {
  targetMiB: number;
  deflateOnOom: boolean;
  /** Seconds between statistics requests; 0 leaves the statistics queue out. */
  statsInterval: number;
  /** Gives the host pages behind a page-aligned guest range that lies inside one RAM region back to the host. */
  discard: (gpa: number, length: number) => void;
  log?: Logger;
}

/** What the VMM knows about the balloon: the target, what the driver says it holds, and what passed the queues. */
export interface BalloonInfo {
  targetPages: number;
  actualPages: number;
  /** Pages the driver handed over on the inflate queue (cumulative). */
  inflatedPages: number;
  /** Pages the driver took back on the deflate queue (cumulative). */
  deflatedPages: number;
  lastStats?: BalloonGuestStats;
}

type Counter = 'inflatedPages' | 'deflatedPages' | 'discards' | 'badPfns' | 'discardErrors' | 'badRequests'
  | 'badConfigWrites' | 'statsReports' | 'errors';

export class BalloonDevice implements VirtioDevice {
  readonly deviceType = 5;
  readonly queueMaxSizes: readonly number[];
  readonly features: bigint;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private targetPages: number;
  private actualPages = 0;
  private lastStats: BalloonGuestStats | undefined;
  /** The head of the statistics buffer the device holds until the next request. */
  private statsHead: number | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private readonly stats: Record<Counter, number> = { inflatedPages: 0, deflatedPages: 0, discards: 0, badPfns: 0,
    discardErrors: 0, badRequests: 0, badConfigWrites: 0, statsReports: 0, errors: 0 };
  private readonly logged = new Set<Counter>();
  /** One per page queue (inflate, deflate): each goes on from a later turn when its slice runs out. */
  private readonly turns = [INFLATE, DEFLATE].map((q) => new TurnBudget(() => this.host, () => this.drainPages(q)));

  constructor(private readonly opts: BalloonOptions) {
    this.targetPages = opts.targetMiB * PAGES_PER_MIB;
    const withStats = opts.statsInterval > 0;
    this.queueMaxSizes = withStats ? [128, 128, 1] : [128, 128];
    this.features = (withStats ? 1n << F_STATS_VQ : 0n) | (opts.deflateOnOom ? 1n << F_DEFLATE_ON_OOM : 0n);
  }

  attach(host: DeviceHost): void { this.host = host; }

  configSpace(): Uint8Array {
    const c = Buffer.alloc(CONFIG_BYTES);
    c.writeUInt32LE(this.targetPages, 0);
    c.writeUInt32LE(this.actualPages, ACTUAL_OFFSET);
    return c;
  }

  /** Only `actual` is the driver's to write; bytes aimed at num_pages are dropped and counted. */
  configWrite(offset: number, data: Uint8Array): void {
    const c = Buffer.from(this.configSpace());
    data.forEach((byte, i) => {
      const at = offset + i;
      if (at >= ACTUAL_OFFSET && at < CONFIG_BYTES) c[at] = byte;
      else this.count('badConfigWrites', () => `config write to offset ${at}, which the driver may not write`);
    });
    this.actualPages = c.readUInt32LE(ACTUAL_OFFSET);
  }

  /** A new target in 4 KiB pages; the caller has checked it against guest RAM. */
  setTargetPages(pages: number): void {
    if (!Number.isSafeInteger(pages) || pages < 0 || pages > 0xffff_ffff) {
      throw new RangeError(`balloon target ${pages} is not a page count`);
    }
    this.targetPages = pages;
    this.host?.configChanged();
  }

  info(): BalloonInfo {
    const info: BalloonInfo = { targetPages: this.targetPages, actualPages: this.actualPages,
      inflatedPages: this.stats.inflatedPages, deflatedPages: this.stats.deflatedPages };
    if (this.lastStats) info.lastStats = this.lastStats;
    return info;
  }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    this.scheduleStatsRequest(); // a restored device may hold the driver's statistics buffer already
  }

  /**
   * The target, the size the driver last wrote, and the statistics buffer the device holds (by its head: the
   * restored ring still has it in flight, and the next statistics request gives it back). The guest's last
   * report is not kept: the restored device asks for a new one.
   */
  snapshotState(): { targetPages: number; actualPages: number; statsHead: number | null } {
    return { targetPages: this.targetPages, actualPages: this.actualPages, statsHead: this.statsHead ?? null };
  }

  restoreState(state: unknown): void {
    const s = savedObject(state);
    const u32 = (name: string): number => savedInt(name, s[name], 0, 0xffff_ffff);
    const targetPages = u32('targetPages');
    const actualPages = u32('actualPages');
    const statsQueue = this.queueMaxSizes[STATS];
    const head = s.statsHead;
    if (head !== null && (statsQueue === undefined || !Number.isInteger(head) || (head as number) < 0
      || (head as number) >= statsQueue)) {
      throw new RangeError(`statsHead is ${JSON.stringify(head)}, ${statsQueue === undefined
        ? 'but this balloon has no statistics queue' : `not a descriptor of a ${statsQueue}-entry queue`}`);
    }
    this.targetPages = targetPages;
    this.actualPages = actualPages;
    this.statsHead = head === null ? undefined : head as number;
  }

  onQueueNotify(queue: number): void {
    if (queue === INFLATE || queue === DEFLATE) this.drainPages(queue);
    else if (queue === STATS && this.opts.statsInterval > 0) this.takeStats();
  }

  /** Chains are taken while the queue's slice of the turn lasts; the rest waits for a later turn. */
  private drainPages(index: number): void {
    const turns = this.turns[index]!;
    turns.start();
    serveQueue(this.ctx, this.ctx?.queues[index], () => this.stats.errors++, (q) => {
      let any = false;
      for (let chain = q.pop(); chain !== null; chain = turns.spent() ? null : q.pop()) {
        this.takePages(index, chain);
        q.pushUsed(chain.head, 0);
        any = true;
      }
      return any;
    });
  }

  /**
   * Handles the chain's first MAX_LIST_PFNS page numbers. Each can cost a syscall, and a chain may be 4 GiB long:
   * the rest of an over-long list is ignored (those pages stay the guest's), and counted.
   */
  private takePages(index: number, chain: DescriptorChain): void {
    const bytes = Math.min(chain.readableBytes, 4 * MAX_LIST_PFNS);
    const pfns: number[] = [];
    const leftover = forEachPfn(sliceSegments(chain.readable, 0, bytes), (pfn) => pfns.push(pfn));
    if (index === INFLATE) this.inflate(pfns); else this.deflate(pfns);
    if (chain.readableBytes > bytes) {
      this.count('badRequests', () => `a page list of ${chain.readableBytes} bytes is longer than ${MAX_LIST_PFNS} PFNs`);
    } else if (leftover !== 0) {
      this.count('badRequests', () => `a page list of ${chain.readableBytes} bytes is not whole PFNs`);
    }
  }

  private pageInRam(pfn: number): boolean {
    return this.ctx!.memory.ram.contains(pfn * BALLOON_PAGE, BALLOON_PAGE);
  }

  /** Sorted so neighbouring pages become one hole; a run grows only while it stays inside one RAM region. */
  private inflate(pfns: number[]): void {
    pfns.sort((a, b) => a - b);
    let start = 0;
    let pages = 0;
    for (const pfn of pfns) {
      if (!this.pageInRam(pfn)) {
        this.count('badPfns', () => `inflate PFN 0x${pfn.toString(16)} is not guest RAM`);
        continue;
      }
      this.stats.inflatedPages++;
      if (pages > 0 && pfn < start + pages) continue; // the same page twice
      if (pages > 0 && pfn === start + pages && this.ctx!.memory.ram.contains(start * BALLOON_PAGE, (pages + 1) * BALLOON_PAGE)) {
        pages++;
        continue;
      }
      this.discard(start, pages);
      start = pfn;
      pages = 1;
    }
    this.discard(start, pages);
  }

  private discard(pfn: number, pages: number): void {
    if (pages === 0) return;
    try {
      this.opts.discard(pfn * BALLOON_PAGE, pages * BALLOON_PAGE);
      this.stats.discards++;
    } catch (e) {
      // The pages stay with the host process; the guest is not at fault and still gets its answer.
      this.count('discardErrors', () => `could not give ${pages} pages at PFN 0x${pfn.toString(16)} back: ${(e as Error).message}`);
    }
  }

  private deflate(pfns: number[]): void {
    for (const pfn of pfns) {
      if (this.pageInRam(pfn)) this.stats.deflatedPages++;
      else this.count('badPfns', () => `deflate PFN 0x${pfn.toString(16)} is not guest RAM`);
    }
  }

  /** The driver filled the statistics buffer: keep it until the next request is due. */
  private takeStats(): void {
    serveQueue(this.ctx, this.ctx?.queues[STATS], () => this.stats.errors++, (q) => {
      let any = false;
      for (let chain = q.pop(); chain !== null; chain = q.pop()) {
        // A driver keeps one buffer here; should it post another, the older one goes back unanswered.
        if (this.statsHead !== undefined) {
          q.pushUsed(this.statsHead, 0);
          any = true;
        }
        this.statsHead = chain.head;
        const parsed = parseBalloonStats(chain.readable, Date.now());
        if (parsed.trailingBytes !== 0) this.count('badRequests', () => `a statistics buffer of ${chain.readableBytes} bytes is not whole entries`);
        this.lastStats = parsed.stats;
        this.stats.statsReports++;
      }
      this.scheduleStatsRequest();
      return any;
    });
  }

  private scheduleStatsRequest(): void {
    if (this.statsTimer !== undefined || this.statsHead === undefined) return;
    this.statsTimer = setTimeout(fromEventLoop(() => this.host, () => {
      this.statsTimer = undefined;
      serveQueue(this.ctx, this.ctx?.queues[STATS], () => this.stats.errors++, (q) => {
        if (this.statsHead === undefined) return false;
        q.pushUsed(this.statsHead, 0);
        this.statsHead = undefined;
        return true;
      });
    }), this.opts.statsInterval * 1000);
    this.statsTimer.unref();
  }

  /** `message` is built only the first time: a guest can make these happen as often as it likes. */
  private count(counter: Counter, message: () => string): void {
    this.stats[counter]++;
    if (this.logged.has(counter)) return;
    this.logged.add(counter);
    this.opts.log?.warn({ device: 'balloon', counter }, `${message()} (logged once, counted in ${counter})`);
  }

  /** The driver starts over with an empty balloon; the target stays. */
  reset(): void {
    for (const t of this.turns) t.cancel();
    if (this.statsTimer !== undefined) clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
    this.statsHead = undefined;
    this.ctx = undefined;
    this.actualPages = 0;
  }

  counters(): Record<string, number> { return { ...this.stats }; }
}

/**
 * Calls `each` for every little-endian u32 in `list`, whose buffers may split a PFN anywhere.
 * Returns how many bytes were left over after the last whole PFN.
 */
function forEachPfn(list: Uint8Array[], each: (pfn: number) => void): number {
  let value = 0;
  let have = 0;
  for (const buf of list) {
    for (let i = 0; i < buf.length; i++) {
      value += buf[i]! * 2 ** (8 * have);
      if (++have === 4) {
        each(value);
        value = 0;
        have = 0;
      }
    }
  }
  return have;
}
