// A device's side of a rate limiter (rate-limiter.ts): it asks before it takes a request from the ring, and when
// the limiter says wait, one timer resumes the device once it may go on. The device does nothing for the guest in
// between: notifies that come meanwhile find the wait under way and leave the rest to the timer.
import { fromEventLoop, type DeviceHost } from '../virtio-mmio/device';
import { RateLimiter, type Clock, type RateLimiterConfig } from './rate-limiter';

export class Throttle {
  private limiter: RateLimiter | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly wake: () => void;
  /** Times the device found the limiter not ready and had to wait. */
  waits = 0;

  /** `resume` runs when a wait is over; what it throws goes to the device's host. */
  constructor(host: () => DeviceHost | undefined, resume: () => void, config?: RateLimiterConfig,
    private readonly now?: Clock) {
    this.limiter = RateLimiter.from(config, now);
    this.wake = fromEventLoop(host, () => {
      this.timer = undefined;
      resume();
    });
  }

  /** The limits in force; undefined when there are none. */
  get config(): RateLimiterConfig | undefined { return this.limiter?.config; }

  /** Whether any limit is in force: a device without one need not ask before each request. */
  get limited(): boolean { return this.limiter !== undefined; }

  /** Bytes the bandwidth bucket lets one request move now, at most `max` (`max` when there is no such limit). */
  budget(max: number): number {
    const b = this.limiter?.bandwidth;
    return b === undefined ? max : Math.min(max, Math.max(0, Math.floor(b.available())));
  }

  /** Whether the device is waiting for the limiter (its timer set). */
  get waiting(): boolean { return this.timer !== undefined; }

  /** Whether a request may start now; when it may not, a timer resumes the device once it may (one wait). */
  admit(): boolean {
    if (this.ready()) return true;
    this.wait();
    return false;
  }

  /** Whether a request may start now, without waiting when it may not (see wait). */
  ready(): boolean {
    return this.limiter === undefined || (this.timer === undefined && this.limiter.msUntilReady() === 0);
  }

  /**
   * Starts a wait for the limiter, counted: for a device that knows a request is waiting only later than it asks
   * (a frame in the backend). Does nothing while a wait is under way.
   */
  wait(): void {
    if (this.timer !== undefined || this.limiter === undefined) return;
    this.waits++;
    this.arm(this.limiter.msUntilReady());
  }

  /** Charges a request's cost (see RateLimiter.charge). */
  charge(bytes: number, ops = 1): void {
    this.limiter?.charge(bytes, ops);
  }

  /** New limits with full buckets (undefined or an empty config: none); a device waiting resumes at once. */
  set(config: RateLimiterConfig | undefined): void {
    this.limiter = RateLimiter.from(config, this.now);
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.arm(0);
  }

  /** The device reset: a resume scheduled for the old driver does not run. */
  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    // Unref'd as the rng's refill: a limiter alone does not keep the process alive.
    this.timer = setTimeout(this.wake, ms);
    this.timer.unref();
  }
}
