// A descriptor chain's buffers seen as one byte range: copy small headers out of it, write replies into it and
// take views of a part of it, never reaching past the buffers the guest gave. Every device uses these; none keeps
// a copy of its own.

export const totalBytes = (segs: readonly Uint8Array[]): number => segs.reduce((n, b) => n + b.length, 0);

/**
 * The first `n` bytes spread over `segs`, copied (the guest may rewrite its buffers while we read them), or
 * undefined when they hold fewer.
 */
export function gather(segs: readonly Uint8Array[], n: number): Buffer | undefined {
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for (const s of segs) {
    if (at === n) break;
    const k = Math.min(s.length, n - at);
    out.set(k === s.length ? s : s.subarray(0, k), at);
    at += k;
  }
  return at === n ? out : undefined;
}

/** Views of bytes [offset, offset + length) of the range (fewer when the range ends first); no copy. */
export function sliceSegments(segs: readonly Uint8Array[], offset: number, length = Infinity): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = offset;
  let left = length;
  for (const s of segs) {
    if (left <= 0) break;
    if (skip >= s.length) { skip -= s.length; continue; }
    const k = Math.min(s.length - skip, left);
    out.push(k === s.length ? s : s.subarray(skip, skip + k));
    left -= k;
    skip = 0;
  }
  return out;
}

/** Copies `sources`, one after the other, into the range from `offset` on; returns how many bytes fit. */
export function scatterAll(segs: readonly Uint8Array[], offset: number, sources: readonly Uint8Array[]): number {
  let d = 0;
  let at = offset;
  while (d < segs.length && at >= segs[d]!.length) at -= segs[d++]!.length;
  let copied = 0;
  for (let s of sources) {
    while (s.length > 0 && d < segs.length) {
      const dst = segs[d]!;
      const n = Math.min(dst.length - at, s.length);
      dst.set(n === s.length ? s : s.subarray(0, n), at);
      copied += n;
      s = s.subarray(n);
      at += n;
      if (at === dst.length) { d++; at = 0; }
    }
  }
  return copied;
}

/** Copies `bytes` into the range at `offset`; returns how many fit. */
export function scatter(segs: readonly Uint8Array[], offset: number, bytes: Uint8Array): number {
  return scatterAll(segs, offset, [bytes]);
}
