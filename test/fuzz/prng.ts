// A small seeded generator (mulberry32): the same seed gives the same cases on every machine, so a failure found by
// a long run is replayed from its seed alone.

export class Rand {
  private s: number;

  constructor(readonly seed: number) { this.s = seed >>> 0; }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number { return n <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n); }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }

  /** True with probability p. */
  chance(p: number): boolean { return this.u32() / 0x1_0000_0000 < p; }

  pick<T>(items: readonly T[]): T { return items[this.int(items.length)]!; }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }

  /**
   * A number that hostile input likes: small, near a power of two, at a type's limit, or anything. Values past
   * 2^32 stay within Number's safe range.
   */
  edgy(): number {
    switch (this.int(5)) {
      case 0: return this.int(64);
      case 1: { const p = 2 ** this.int(33); return Math.max(0, p + this.range(-2, 2)); }
      case 2: return this.pick([0, 1, 0xff, 0xffff, 0x1_0000, 0x7fff_ffff, 0xffff_ffff, 0x1_0000_0000, 2 ** 53 - 1]);
      case 3: return this.u32();
      default: return this.int(4096);
    }
  }
}
