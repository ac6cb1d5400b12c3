// virtio-net (device type 1): receive queue 0 and transmit queue 1 over a backend fd (a tap), no control queue.
// Frames move between the backend and the chains' own guest buffers with readv / writev (src/devices/net/rx.ts,
// tx.ts). The backend fd is watched on the main loop only while there is work it can unblock: readable while the
// guest has receive buffers, writable while a frame waits for room, so a busy host cannot spin the loop when the
// guest stops taking frames. Each direction may have a rate limiter; while one holds its direction back, the
// backend is not watched for it (a timer resumes it), so waiting costs the loop nothing.
import { randomBytes } from 'node:crypto';
import { native, POLL, type FdWatcher } from '../../base/native';
import { fromEventLoop, type DeviceContext, type DeviceHost, type VirtioDevice } from '../../virtio-mmio/device';
import { QueueError } from '../../virtio-mmio/queue';
import type { Clock, RateLimiterConfig } from '../rate-limiter';
import { Throttle } from '../throttle';
import type { NetBackend } from './backend';
import { NetRx } from './rx';
import type { NetStats } from './stats';
import { NetTx } from './tx';
import { NET_F, STATUS_LINK_UP } from './virtio-net';
import { savedHeads, savedInt, savedObject } from '../saved-state';

const RX = 0;
const TX = 1;
const QUEUE_SIZE = 256;

/**
 * Offered: checksum and TCP segmentation offload both ways (the tap takes and produces them), mergeable receive
 * buffers, MAC, link status. UFO is left out: Linux no longer builds UFO frames and a tap no longer produces them.
 */
const OFFERED = [NET_F.CSUM, NET_F.GUEST_CSUM, NET_F.MAC, NET_F.GUEST_TSO4, NET_F.GUEST_TSO6, NET_F.GUEST_ECN,
  NET_F.HOST_TSO4, NET_F.HOST_TSO6, NET_F.HOST_ECN, NET_F.MRG_RXBUF, NET_F.STATUS]
  .reduce((f, bit) => f | (1n << BigInt(bit)), 0n);

export interface NetDeviceOptions {
  /** `aa:bb:cc:dd:ee:ff`; default a random locally administered unicast address. */
  mac?: string;
  /** Where the device reports what it cannot tell the guest (a backend that failed), once each. */
  warn?: (message: string) => void;
  /** Caps on what the guest receives (frame bytes without the virtio-net header, and frames); absent: none. */
  rxRateLimiter?: RateLimiterConfig;
  /** Caps on what the guest sends, as rxRateLimiter. */
  txRateLimiter?: RateLimiterConfig;
  /** The rate limiters' clock (tests pass their own). */
  now?: Clock;
}

export type NetDirection = 'rx' | 'tx';

export class NetDevice implements VirtioDevice {
  readonly deviceType = 1;
  readonly queueMaxSizes = [QUEUE_SIZE, QUEUE_SIZE];
  readonly features = OFFERED;
  /** The MAC in config space; a restore puts back the one the guest's driver read. */
  mac: Uint8Array;
  private readonly watcher: FdWatcher;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private readonly pumpTxLater = fromEventLoop(() => this.host, () => {
    this.txLater = undefined;
    this.pumpTx();
  });
  private rx: NetRx | undefined;
  private tx: NetTx | undefined;
  /** Chains a snapshot's device held, taken again when the restored device is activated. */
  private restoredHeads: { rx: number[]; tx: number | null } | undefined;
  private rxWanted = false;
  private rxFailed = false;
  private pollFailed = false;
  private txWaiting = false;
  private txLater: NodeJS.Immediate | undefined;
  private polling = 0;
  private readonly rxThrottle: Throttle;
  private readonly txThrottle: Throttle;
  private readonly stats: NetStats = {
    rxFrames: 0, rxBytes: 0, rxDropped: 0, txFrames: 0, txBytes: 0, txDropped: 0, errors: 0, backendErrors: 0,
  };

  constructor(readonly backend: NetBackend, private readonly opts: NetDeviceOptions = {}) {
    this.mac = opts.mac !== undefined ? Uint8Array.from(opts.mac.split(':').map((h) => parseInt(h, 16))) : randomMac();
    this.rxThrottle = new Throttle(() => this.host, () => this.pumpRx(), opts.rxRateLimiter, opts.now);
    this.txThrottle = new Throttle(() => this.host, () => this.pumpTx(), opts.txRateLimiter, opts.now);
    this.watcher = new (native().FdWatcher)(backend.fd,
      fromEventLoop(() => this.host, (status: number, events: number) => this.onBackend(status, events)), false);
    this.watcher.poll(0);
  }

  attach(host: DeviceHost): void { this.host = host; }

  configSpace(): Uint8Array {
    const c = Buffer.alloc(8);
    c.set(this.mac, 0);
    c.writeUInt16LE(STATUS_LINK_UP, 6);
    return c;
  }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    try {
      this.backend.setGuestFeatures(ctx.features);
    } catch (e) {
      this.opts.warn?.(`net ${this.backend.name}: offloads not set (${(e as Error).message})`);
    }
    const rxq = ctx.queues[RX];
    const txq = ctx.queues[TX];
    this.rx = rxq && new NetRx(this.backend.fd, rxq, ctx.features, this.stats, this.rxThrottle);
    this.tx = txq && new NetTx(this.backend.fd, txq, this.stats, this.txThrottle);
    const held = this.restoredHeads;
    this.restoredHeads = undefined;
    // A restored device's chains: walked again by head, each checked as a pop would check it.
    if (held) {
      this.guarded(ctx, () => {
        if (rxq && this.rx) this.rx.adopt(held.rx.map((h) => rxq.reclaim(h)));
        if (txq && this.tx && held.tx !== null) this.tx.adopt(txq.reclaim(held.tx));
      });
    }
    this.rxWanted = true;
    this.pumpRx();
    this.pumpTx();
  }

  /**
   * The MAC the guest's driver read (a random one is the device's own) and the chains the device holds: rx buffers
   * waiting for a frame, and a frame waiting for room in the backend, by head. The tap is not saved: a restored
   * machine opens the one its config names.
   */
  snapshotState(): { mac: string; rxHeads: number[]; txHead: number | null } {
    return { mac: [...this.mac].map((b) => b.toString(16).padStart(2, '0')).join(':'),
      rxHeads: this.rx?.stashHeads() ?? [], txHead: this.tx?.blockedHead() ?? null };
  }

  restoreState(state: unknown): void {
    const s = savedObject(state);
    if (typeof s.mac !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(s.mac)) {
      throw new RangeError(`mac is ${JSON.stringify(s.mac)}, not six hex bytes`);
    }
    const rx = savedHeads('rxHeads', s.rxHeads, QUEUE_SIZE);
    const tx = s.txHead === null ? null : savedInt('txHead', s.txHead, 0, 0xffff);
    this.mac = Uint8Array.from(s.mac.split(':').map((h) => parseInt(h, 16)));
    this.restoredHeads = { rx, tx };
  }

  /** The rate limits on `direction` in force; undefined when there are none. */
  rateLimiter(direction: NetDirection): RateLimiterConfig | undefined {
    return (direction === 'rx' ? this.rxThrottle : this.txThrottle).config;
  }

  /** New rate limits on `direction` (undefined: none), with full buckets; a direction that waited resumes. */
  setRateLimiter(direction: NetDirection, config: RateLimiterConfig | undefined): void {
    (direction === 'rx' ? this.rxThrottle : this.txThrottle).set(config);
  }

  onQueueNotify(queue: number): void {
    if (queue === RX) {
      this.rxWanted = true;
      this.pumpRx();
    } else if (queue === TX) {
      this.pumpTx();
    }
  }

  private onBackend(status: number, events: number): void {
    if (status < 0) {
      // libuv has stopped the poll: the fd is broken (a tap whose interface was deleted).
      this.stats.backendErrors++;
      this.polling = 0;
      this.pollFailed = true;
      this.rxFailed = true;
      this.opts.warn?.(`net ${this.backend.name}: polling the backend failed (${status}); no more frames from it`);
      return;
    }
    if (events & POLL.WRITABLE) {
      this.txWaiting = false;
      this.pumpTx();
    }
    if (events & POLL.READABLE) this.pumpRx(true);
  }

  /** `readable`: the backend said a frame is waiting. */
  private pumpRx(readable = false): void {
    const ctx = this.ctx;
    const rx = this.rx;
    // While the limiter holds receiving back, its timer pumps again.
    if (ctx === undefined || rx === undefined || this.rxFailed || this.rxThrottle.waiting) return;
    const taken = this.stats.rxFrames + this.stats.rxDropped;
    const outcome = this.guarded(ctx, () => rx.pump(ctx));
    if (outcome === undefined) return;
    if (outcome === 'no-buffers') this.rxWanted = false;
    // A frame is known to wait only when the backend said so and none was read since: only then is the backend
    // left unwatched until the limiter's timer. Otherwise it stays watched, and the next frame starts the wait.
    if (outcome === 'throttled' && readable && this.stats.rxFrames + this.stats.rxDropped === taken) {
      this.rxThrottle.wait();
    }
    if (outcome === 'backend-failed') {
      this.rxFailed = true;
      this.opts.warn?.(`net ${this.backend.name}: reading the backend failed (${rx.lastError || 'end of file'}); `
        + 'no more frames from it');
    }
    this.updatePoll();
  }

  private pumpTx(): void {
    const ctx = this.ctx;
    const tx = this.tx;
    if (ctx === undefined || tx === undefined || this.txWaiting || this.txLater !== undefined
      || this.txThrottle.waiting) return;
    const outcome = this.guarded(ctx, () => tx.pump(ctx));
    if (outcome === 'blocked') this.txWaiting = true;
    if (outcome === 'budget') {
      this.txLater = setImmediate(this.pumpTxLater);
    }
    this.updatePoll();
  }

  /** Runs a queue operation; a QueueError costs the guest the device (DEVICE_NEEDS_RESET). */
  private guarded<T>(ctx: DeviceContext, op: () => T): T | undefined {
    try {
      return op();
    } catch (e) {
      if (!(e instanceof QueueError)) throw e;
      this.stats.errors++;
      ctx.fail(e.message);
      return undefined;
    }
  }

  private updatePoll(): void {
    const active = this.ctx !== undefined && !this.pollFailed;
    const want = (active && this.rxWanted && !this.rxFailed && !this.rxThrottle.waiting ? POLL.READABLE : 0)
      | (active && this.txWaiting ? POLL.WRITABLE : 0);
    if (want === this.polling) return;
    this.polling = want;
    this.watcher.poll(want);
  }

  reset(): void {
    this.ctx = undefined;
    this.restoredHeads = undefined;
    this.rx = undefined;
    this.tx = undefined;
    this.rxWanted = false;
    this.txWaiting = false;
    if (this.txLater !== undefined) clearImmediate(this.txLater);
    this.txLater = undefined;
    this.rxThrottle.cancel();
    this.txThrottle.cancel();
    this.updatePoll();
    // Frames that arrive until the next driver negotiates should not carry offloads it may not accept.
    try { this.backend.setGuestFeatures(0n); } catch { /* the next activate sets them again */ }
  }

  close(): void {
    this.reset();
    this.watcher.close();
    this.backend.close();
  }

  counters(): Record<string, number> {
    return { ...this.stats, rxThrottled: this.rxThrottle.waits, txThrottled: this.txThrottle.waits };
  }
}

/** A random locally administered (bit 1) unicast (bit 0 clear) address. */
function randomMac(): Uint8Array {
  const mac = randomBytes(6);
  mac[0] = (mac[0]! & 0xfe) | 0x02;
  return Uint8Array.from(mac);
}
