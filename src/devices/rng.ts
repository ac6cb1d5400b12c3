// virtio-rng (device type 4): one request queue whose writable buffers are filled from the host CSPRNG, with an
// optional rate limit (a token bucket topped up every 100 ms; a request that finds it empty waits for the refill).
// Filling runs on the main thread, so each request gets at most MAX_REQUEST bytes (the used length says how many:
// a driver takes what it gets) and a pass serves requests only while its slice of the turn lasts.
import { randomFillSync } from 'node:crypto';
import { fromEventLoop, serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../virtio-mmio/device';
import { TurnBudget } from './turn-budget';

const REFILL_MS = 100;
/** A driver asks for a few KiB at most; a chain may offer 4 GiB, which would take seconds to fill. */
export const MAX_REQUEST = 64 * 1024;

export class RngDevice implements VirtioDevice {
  readonly deviceType = 4;
  readonly queueMaxSizes = [256];
  readonly features = 0n;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private tokens: number;
  private refill: NodeJS.Timeout | undefined;
  private readonly stats = { requests: 0, bytes: 0, errors: 0 };
  private readonly turns = new TurnBudget(() => this.host, () => this.serve());

  constructor(private readonly rateLimit?: number) {
    this.tokens = rateLimit ?? Infinity;
  }

  configSpace(): Uint8Array { return new Uint8Array(0); }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    if (this.rateLimit !== undefined) {
      this.refill = setInterval(fromEventLoop(() => this.host, () => {
        this.tokens = Math.min(this.rateLimit!, this.tokens + (this.rateLimit! * REFILL_MS) / 1000);
        this.serve();
      }), REFILL_MS);
      this.refill.unref();
    }
  }

  onQueueNotify(): void { this.serve(); }

  private serve(): void {
    this.turns.start();
    serveQueue(this.ctx, this.ctx?.queues[0], () => this.stats.errors++, (q) => {
      let served = false;
      while (this.tokens >= 1 && !(served && this.turns.spent())) {
        const chain = q.pop();
        if (chain === null) break;
        const most = Math.min(Math.floor(this.tokens), MAX_REQUEST);
        let written = 0;
        for (const buf of chain.writable) {
          const n = Math.min(buf.length, most - written);
          if (n <= 0) break;
          randomFillSync(buf, 0, n);
          written += n;
        }
        this.tokens -= written;
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
    if (this.refill) clearInterval(this.refill);
    this.refill = undefined;
    this.ctx = undefined;
    this.tokens = this.rateLimit ?? Infinity;
  }

  counters(): Record<string, number> { return { ...this.stats }; }
}
