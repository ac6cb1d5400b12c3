// A descriptor chain's buffers seen as one byte range: copy small headers out of it, write replies into it and
// take views of a part of it, never reaching past the buffers the guest gave.

export const totalBytes = (segs: readonly Uint8Array[]): number => segs.reduce((n, b) => n + b.length, 0);

/** The first `n` bytes spread over `segs`, copied (headers are small), or undefined when there are fewer. */
export function gather(segs: readonly Uint8Array[], n: number): Buffer | undefined {
  if (totalBytes(segs) < n) return undefined;
  const out = Buffer.alloc(n);
  let at = 0;
  for (const s of segs) {
    if (at >= n) break;
    const k = Math.min(s.length, n - at);
    out.set(s.subarray(0, k), at);
    at += k;
  }
  return out;
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
    out.push(s.subarray(skip, skip + k));
    left -= k;
    skip = 0;
  }
  return out;
}

/** Copies `bytes` into the range at `offset`; returns how many fit. */
export function scatter(segs: readonly Uint8Array[], offset: number, bytes: Uint8Array): number {
  let at = 0;
  for (const view of sliceSegments(segs, offset, bytes.length)) {
    view.set(bytes.subarray(at, at + view.length));
    at += view.length;
  }
  return at;
}
