// 64-bit FNV-1a, as the test kernel hashes what it receives (lib.c's fnv1a), in 32-bit halves so that several
// MiB hash in milliseconds rather than the seconds BigInt arithmetic takes.

export interface Fnv1a { hi: number; lo: number }

export const FNV1A_INIT: Fnv1a = { hi: 0xcbf29ce4, lo: 0x84222325 };

/** Continues `h` over `bytes`. */
export function fnv1aUpdate(h: Fnv1a, bytes: Uint8Array): Fnv1a {
  let { hi, lo } = h;
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]!) >>> 0;
    // (hi:lo) * (2^40 + 0x1b3) mod 2^64: lo * 2^40 only reaches the high word, as lo << 8.
    const low = lo * 0x1b3;
    hi = (hi * 0x1b3 + Math.floor(low / 0x1_0000_0000) + ((lo << 8) >>> 0)) >>> 0;
    lo = low >>> 0;
  }
  return { hi, lo };
}

/** The hash as the test kernel prints it: `0x` and 16 hex digits. */
export function fnv1aHex(h: Fnv1a): string {
  return `0x${h.hi.toString(16).padStart(8, '0')}${h.lo.toString(16).padStart(8, '0')}`;
}
