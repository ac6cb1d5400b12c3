// virtio-rng (device type 4): one request queue whose writable buffers are filled from the host CSPRNG, with an
// optional rate limit: the shared token bucket (rate-limiter.ts) holding a second's worth of bytes, refilled over a
// second; a request that finds it empty waits on the ring for the limiter's timer, and one that finds it part full
// gets what is there (the used length says how much: a driver takes what it gets).
// Filling runs on the main thread, so each request gets at most MAX_REQUEST bytes and a pass serves requests only
// while its slice of the turn lasts.
import { randomFillSync } from 'node:crypto';
import { serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../virtio-mmio/device';
import { Throttle } from './throttle';
import { TurnBudget } from './turn-budget';

/** The bucket holds one second of the rate and refills over one second. */
const RATE_WINDOW_MS = 1000;
/** A driver asks for a few KiB at most; a chain may offer 4 GiB, which would take seconds to fill. */
export const MAX_REQUEST = 64 * 1024;

export class RngDevice implements VirtioDevice {
  readonly deviceType = 4;
  readonly queueMaxSizes = [256];
  readonly features = 0n;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private readonly stats = { requests: 0, bytes: 0, errors: 0 };
  private readonly turns = new TurnBudget(() => this.host, () => this.serve());
  private readonly throttle: Throttle;

  /** `rateLimit`: bytes per second the guest may take; absent: unlimited. */
  constructor(rateLimit?: number) {
    const bandwidth = rateLimit === undefined ? undefined : { size: rateLimit, refillTime: RATE_WINDOW_MS };
    this.throttle = new Throttle(() => this.host, () => this.serve(), bandwidth && { bandwidth });
  }

  configSpace(): Uint8Array { return new Uint8Array(0); }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void { this.ctx = ctx; }

  onQueueNotify(): void { this.serve(); }

  private serve(): void {
    this.turns.start();
    serveQueue(this.ctx, this.ctx?.queues[0], () => this.stats.errors++, (q) => {
      let served = false;
      while (!(served && this.turns.spent())) {
        // Asked before a chain is taken, so a request that must wait stays on the ring.
        if (this.throttle.limited && (!q.hasAvailable() || !this.throttle.admit())) break;
        const chain = q.pop();
        if (chain === null) break;
        const most = this.throttle.budget(MAX_REQUEST);
        let written = 0;
        for (const buf of chain.writable) {
          const n = Math.min(buf.length, most - written);
          if (n <= 0) break;
          randomFillSync(buf, 0, n);
          written += n;
        }
        this.throttle.charge(written, 0);
        q.pushUsed(chain.head, written);
        this.stats.requests++;
        this.stats.bytes += written;
        served = true;
      }
      return served;
    });
  }

  reset(): void {
    this.turns.cancel();
    this.throttle.cancel();
    this.ctx = undefined;
  }

  counters(): Record<string, number> { return { ...this.stats }; }
}
