// The browser console's binary messages from the host (docs/node-api.md, "Browser console"): pixels of a scanout
// as 8-bit RGBA, so the page puts them on its canvas as they are, and the serial console's output bytes. Every
// number is little-endian.
//
//   pixels:  u8 kind = 1, 3 bytes 0, u16 x, u16 y, u16 width, u16 height, u16 screen width, u16 screen height,
//            then width * height * 4 bytes: rows top to bottom, each pixel R, G, B, A
//   serial:  u8 kind = 2, then the bytes the guest wrote (UTF-8 as the guest sent it, maybe cut mid-character)
import { FORMATS, type Rect } from '../devices/gpu/protocol';
import type { Frame } from '../devices/gpu/screenshot';

export const KIND_PIXELS = 1;
export const KIND_SERIAL = 2;
export const PIXELS_HEADER_BYTES = 16;

/** The part of `rect` inside a `width` x `height` screen; none when nothing of it is. */
export function clipRect(rect: Rect, width: number, height: number): Rect | undefined {
  const x = Math.max(0, rect.x);
  const y = Math.max(0, rect.y);
  const w = Math.min(width, rect.x + rect.width) - x;
  const h = Math.min(height, rect.y + rect.height) - y;
  return w > 0 && h > 0 ? { x, y, width: w, height: h } : undefined;
}

/**
 * A pixels message for `rect` (inside the frame: the caller clips it) of what `frame` shows, converted from the
 * resource's format to RGBA; an X byte is opaque.
 */
export function pixelsMessage(frame: Frame, rect: Rect): Buffer {
  const f = FORMATS.get(frame.format);
  if (f === undefined) throw new RangeError(`format ${frame.format} is not a 2D format`);
  const out = Buffer.allocUnsafe(PIXELS_HEADER_BYTES + rect.width * rect.height * 4);
  out.writeUInt32LE(KIND_PIXELS, 0);
  [rect.x, rect.y, rect.width, rect.height, frame.width, frame.height].forEach((v, i) => out.writeUInt16LE(v, 4 + 2 * i));
  const px = frame.pixels;
  let o = PIXELS_HEADER_BYTES;
  for (let row = rect.y; row < rect.y + rect.height; row++) {
    let p = (frame.y + row) * frame.stride + (frame.x + rect.x) * 4;
    for (let i = 0; i < rect.width; i++, p += 4) {
      out[o++] = px[p + f.r]!;
      out[o++] = px[p + f.g]!;
      out[o++] = px[p + f.b]!;
      out[o++] = f.a < 0 ? 255 : px[p + f.a]!;
    }
  }
  return out;
}

/** A serial message carrying `bytes`. */
export function serialMessage(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + bytes.length);
  out[0] = KIND_SERIAL;
  out.set(bytes, 1);
  return out;
}
