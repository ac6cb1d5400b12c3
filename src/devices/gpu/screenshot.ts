// A picture of what a scanout shows: the visible rectangle of the resource set on it, from the host copy, as an
// 8-bit RGBA PNG. The resource's format says where red, green, blue and alpha sit in each pixel; an X byte is
// opaque. Converting an 8K image takes a while, so rows are converted in slices with the event loop turning in
// between, and compressed on the thread pool; the guest may change the host copy meanwhile, and the picture then
// holds rows from before and after, as a display would.
import { pngRowBytes, encodePngAsync } from './png';
import { FORMATS } from './protocol';

/** What a scanout shows: a rectangle of a resource's host copy. */
export interface Frame {
  format: number;
  /** The host copy, rows of `stride` bytes. */
  pixels: Uint8Array;
  stride: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Pixels converted per turn of the event loop. */
const SLICE_PIXELS = 1 << 20;

/** Rows [from, to) of the frame as PNG rows (filter type 0, then RGBA) into `out`, which holds all of them. */
export function convertRows(frame: Frame, from: number, to: number, out: Uint8Array): void {
  const f = FORMATS.get(frame.format);
  if (f === undefined) throw new RangeError(`format ${frame.format} is not a 2D format`);
  const px = frame.pixels;
  const rowBytes = 1 + 4 * frame.width;
  for (let y = from; y < to; y++) {
    let o = y * rowBytes;
    out[o++] = 0;
    let p = (frame.y + y) * frame.stride + frame.x * 4;
    for (let i = 0; i < frame.width; i++, p += 4) {
      out[o++] = px[p + f.r]!;
      out[o++] = px[p + f.g]!;
      out[o++] = px[p + f.b]!;
      out[o++] = f.a < 0 ? 255 : px[p + f.a]!;
    }
  }
}

/** The frame as a PNG. */
export async function screenshotPng(frame: Frame): Promise<Buffer> {
  const { width, height } = frame;
  const rows = new Uint8Array(pngRowBytes(width, height));
  const perSlice = Math.max(1, Math.floor(SLICE_PIXELS / width));
  for (let y = 0; y < height; y += perSlice) {
    if (y > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    convertRows(frame, y, Math.min(height, y + perSlice), rows);
  }
  return encodePngAsync(width, height, rows);
}
