// The host's picture of a scanout: the PNG holds, pixel for pixel, what the guest's backing held, converted from
// the resource's format to RGBA; and the PNG itself (CRC-32, chunks, zlib stream) is one any reader takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as zlib from 'node:zlib';
import { crc32 } from '../../../src/devices/gpu/crc32';
import { encodePng, pngRowBytes } from '../../../src/devices/gpu/png';
import { FORMATS } from '../../../src/devices/gpu/protocol';
import { screenshotPng } from '../../../src/devices/gpu/screenshot';
import { setScanout, setup, showImage } from './harness';
import { readPng } from './png-reader';

/** A width x height image whose pixel (x, y) has four distinct bytes in memory order. */
function pattern(width: number, height: number): Buffer {
  const b = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = 4 * (y * width + x);
      b[at] = x & 0xff;
      b[at + 1] = y & 0xff;
      b[at + 2] = (x * 3 + y * 5) & 0xff;
      b[at + 3] = 0x80 | ((x + y) & 0x7f);
    }
  }
  return b;
}

/** The RGBA a pixel in `format` is: its memory bytes read at the format's positions, X as opaque. */
function expectedRgba(format: number, image: Buffer, width: number, rect = { x: 0, y: 0, width, height: image.length / 4 / width }): Buffer {
  const f = FORMATS.get(format)!;
  const out = Buffer.alloc(rect.width * rect.height * 4);
  for (let y = 0; y < rect.height; y++) {
    for (let x = 0; x < rect.width; x++) {
      const p = 4 * ((rect.y + y) * width + rect.x + x);
      const o = 4 * (y * rect.width + x);
      out[o] = image[p + f.r]!;
      out[o + 1] = image[p + f.g]!;
      out[o + 2] = image[p + f.b]!;
      out[o + 3] = f.a < 0 ? 255 : image[p + f.a]!;
    }
  }
  return out;
}

test('CRC-32: the check value of "123456789", the empty string, and parts taken as one', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(Buffer.from('1234'), Buffer.from('56789')), 0xcbf43926);
  const z = zlib as unknown as { crc32?: (b: Uint8Array) => number };
  const random = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 0xff));
  if (z.crc32) assert.equal(crc32(random), z.crc32(random));
});

test('encodePng: a 2 x 2 image read back by inflate, with the same chunks a reader expects', () => {
  const rows = Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 9, 10, 11, 12, 13, 14, 15, 16]);
  assert.equal(rows.length, pngRowBytes(2, 2));
  const img = readPng(encodePng(2, 2, rows));
  assert.deepEqual([img.width, img.height], [2, 2]);
  assert.deepEqual([...img.rgba], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  assert.throws(() => encodePng(2, 2, rows.subarray(1)), RangeError);
});

for (const format of FORMATS.keys()) {
  test(`a screenshot of a ${FORMATS.get(format)!.name} scanout holds what the guest's backing held`, async () => {
    const g = setup();
    const [w, h] = [37, 23];
    const image = pattern(w, h);
    await showImage(g, 1, format, w, h, image);
    const png = await screenshotPng(g.dev.scanoutFrame(0)!);
    const got = readPng(png);
    assert.deepEqual([got.width, got.height], [w, h]);
    assert.deepEqual(got.rgba, expectedRgba(format, image, w));
  });
}

test('a scanout showing part of a resource gives that rectangle only', async () => {
  const g = setup();
  const [w, h] = [64, 48];
  const image = pattern(w, h);
  await showImage(g, 1, 1, w, h, image);
  g.type(setScanout(0, 1, [10, 5, 20, 30]));
  const got = readPng(await screenshotPng(g.dev.scanoutFrame(0)!));
  assert.deepEqual([got.width, got.height], [20, 30]);
  assert.deepEqual(got.rgba, expectedRgba(1, image, w, { x: 10, y: 5, width: 20, height: 30 }));
});

test('a frame larger than one slice is converted over several turns, all of it', async () => {
  const [w, h] = [2048, 1024]; // two slices of 2^20 pixels
  const pixels = pattern(w, h);
  let turns = 0;
  const counter = setInterval(() => turns++, 0);
  const got = readPng(await screenshotPng({ format: 67, pixels, stride: w * 4, x: 0, y: 0, width: w, height: h }));
  clearInterval(counter);
  assert.deepEqual(got.rgba, pixels, 'R8G8B8A8 is RGBA already');
});
