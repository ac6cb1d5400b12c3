// virtio-rng (device type 4): one request queue whose writable buffers are filled from the host CSPRNG, with an
// optional rate limit (a token bucket topped up every 100 ms; a request that finds it empty waits for the refill).
import { randomFillSync } from 'node:crypto';
import { fromEventLoop, serveQueue, type DeviceContext, type DeviceHost, type VirtioDevice } from '../virtio-mmio/device';

const REFILL_MS = 100;

export class RngDevice implements VirtioDevice {
  readonly deviceType = 4;
  readonly queueMaxSizes = [256];
  readonly features = 0n;
  private ctx: DeviceContext | undefined;
  private host: DeviceHost | undefined;
  private tokens: number;
  private refill: NodeJS.Timeout | undefined;
  private readonly stats = { requests: 0, bytes: 0, errors: 0 };

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
    serveQueue(this.ctx, this.ctx?.queues[0], () => this.stats.errors++, (q) => {
      let served = false;
      while (this.tokens >= 1) {
        const chain = q.pop();
        if (chain === null) break;
        let written = 0;
        for (const buf of chain.writable) {
          const n = Math.min(buf.length, Math.floor(this.tokens) - written);
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
    if (this.refill) clearInterval(this.refill);
    this.refill = undefined;
    this.ctx = undefined;
    this.tokens = this.rateLimit ?? Infinity;
  }

  counters(): Record<string, number> { return { ...this.stats }; }
}
