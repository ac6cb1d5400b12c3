// Reads back the PNGs the device writes, checking the container on the way: signature, chunk CRCs, IHDR as
// 8-bit RGBA without interlace, one zlib stream in the IDATs, and filter type 0 on every row (what the encoder
// writes), so the pixels are the inflated rows without their filter bytes.
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { crc32 } from '../../../src/devices/gpu/crc32';

export interface Image { width: number; height: number; rgba: Buffer }

export function readPng(png: Buffer): Image {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'signature');
  let at = 8;
  const types: string[] = [];
  let ihdr: Buffer | undefined;
  const idat: Buffer[] = [];
  while (at < png.length) {
    const len = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + len);
    assert.equal(png.readUInt32BE(at + 8 + len), crc32(png.subarray(at + 4, at + 8 + len)), `${type} CRC`);
    types.push(type);
    if (type === 'IHDR') ihdr = data;
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  assert.equal(at, png.length, 'the last chunk ends the file');
  assert.equal(types[0], 'IHDR');
  assert.equal(types.at(-1), 'IEND');
  assert.ok(ihdr !== undefined);
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  assert.deepEqual([...ihdr.subarray(8)], [8, 6, 0, 0, 0], '8-bit RGBA, deflate, no interlace');
  const rows = inflateSync(Buffer.concat(idat));
  const rowBytes = 1 + 4 * width;
  assert.equal(rows.length, rowBytes * height);
  const rgba = Buffer.alloc(4 * width * height);
  for (let y = 0; y < height; y++) {
    assert.equal(rows[y * rowBytes], 0, `row ${y} filter type`);
    rows.copy(rgba, y * 4 * width, y * rowBytes + 1, (y + 1) * rowBytes);
  }
  return { width, height, rgba };
}
