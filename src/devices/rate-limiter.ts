// Token buckets that cap how fast a device serves its guest (bytes and requests per unit of time), set per disk and
// per network direction in the machine config and changed at run time.
//
// A request is admitted while no bucket is in debt and is charged its real cost, which may take a bucket below
// zero: the debt is paid back by the refill before the next request starts. So a request larger than a whole
// bucket still goes through (nothing starves), and over time the rate is still size / refillTime. Devices check
// before they take a request from the ring, so nothing waits half-taken; when they must wait, msUntilReady() says
// for how long.

/** One bucket as the config gives it. */
export interface TokenBucketConfig {
  /** Tokens (bytes or requests) the bucket holds when full. */
  size: number;
  /** Tokens available once, at the start, before the regular budget; never refilled. */
  oneTimeBurst?: number;
  /** Milliseconds to refill `size` tokens from empty. */
  refillTime: number;
}

/** A limiter as the config gives it; a bucket left out does not limit. */
export interface RateLimiterConfig {
  /** Bytes. */
  bandwidth?: TokenBucketConfig;
  /** Requests (a disk's requests, a network direction's frames). */
  ops?: TokenBucketConfig;
}

/** The largest bucket size and burst: 1 TiB (or 2^40 requests), far more than any limit means, and exact in a double. */
export const BUCKET_SIZE_MAX = 2 ** 40;
/** The longest refill time: a day. */
export const REFILL_TIME_MAX_MS = 86_400_000;

export type Clock = () => number;
const defaultClock: Clock = () => performance.now();

export class TokenBucket {
  readonly size: number;
  readonly refillTimeMs: number;
  /** The regular budget; negative while the bucket is in debt. */
  private tokens: number;
  private burst: number;
  private last: number;

  constructor(config: TokenBucketConfig, private readonly now: Clock = defaultClock) {
    this.size = config.size;
    this.refillTimeMs = config.refillTime;
    this.tokens = config.size;
    this.burst = config.oneTimeBurst ?? 0;
    this.last = now();
  }

  /** Tokens available now: the burst left plus the regular budget (negative: debt). */
  available(): number {
    this.refill();
    return this.burst + this.tokens;
  }

  /** Takes `n` tokens, from the burst first; the bucket may go into debt. */
  charge(n: number): void {
    this.refill();
    const fromBurst = Math.min(this.burst, n);
    this.burst -= fromBurst;
    this.tokens -= n - fromBurst;
  }

  /**
   * 0 when a request may start (a burst left, or at least one whole token), else the milliseconds until one may,
   * rounded up, so a timer set for it never fires early.
   */
  msUntilReady(): number {
    this.refill();
    if (this.burst > 0 || this.tokens >= 1) return 0;
    return Math.max(1, Math.ceil(((1 - this.tokens) * this.refillTimeMs) / this.size));
  }

  /** Continuous refill, in proportion to the time since the last look, up to a full bucket. */
  private refill(): void {
    const t = this.now();
    const elapsed = t - this.last;
    this.last = t;
    if (elapsed > 0 && this.tokens < this.size) {
      this.tokens = Math.min(this.size, this.tokens + (elapsed * this.size) / this.refillTimeMs);
    }
  }
}

export class RateLimiter {
  readonly bandwidth: TokenBucket | undefined;
  readonly ops: TokenBucket | undefined;

  constructor(readonly config: RateLimiterConfig, now: Clock = defaultClock) {
    this.bandwidth = config.bandwidth && new TokenBucket(config.bandwidth, now);
    this.ops = config.ops && new TokenBucket(config.ops, now);
  }

  /** A limiter for `config`; undefined when it limits nothing (absent, null, or with no bucket). */
  static from(config: RateLimiterConfig | null | undefined, now: Clock = defaultClock): RateLimiter | undefined {
    if (!config || (config.bandwidth === undefined && config.ops === undefined)) return undefined;
    return new RateLimiter(config, now);
  }

  /** 0 when a request may start, else the milliseconds until every bucket allows one. */
  msUntilReady(): number {
    return Math.max(this.bandwidth?.msUntilReady() ?? 0, this.ops?.msUntilReady() ?? 0);
  }

  /** Charges a request's cost: `bytes` to the bandwidth bucket, `ops` (default 1) to the ops bucket. */
  charge(bytes: number, ops = 1): void {
    if (bytes > 0) this.bandwidth?.charge(bytes);
    if (ops > 0) this.ops?.charge(ops);
  }
}
