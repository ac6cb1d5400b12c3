// A PNG file (ISO/IEC 15948) of an 8-bit RGBA image: the signature, IHDR, one IDAT with the zlib stream of the
// image's rows (each row led by its filter type byte), IEND. The caller gives the rows already filtered; this
// project's images use filter type 0 (None) on every row, so a reader can check the pixels with inflate alone.
import { deflate, deflateSync } from 'node:zlib';
import { crc32 } from './crc32';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOR_RGBA = 6;

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(head.subarray(4), data), 0);
  return Buffer.concat([head, data, crc]);
}

/** The bytes of the rows of a width x height RGBA image: per row a filter byte and 4 bytes per pixel. */
export function pngRowBytes(width: number, height: number): number {
  return (1 + 4 * width) * height;
}

/** A PNG of a width x height RGBA image whose filtered rows, compressed as one zlib stream, are `idat`. */
export function pngFromCompressed(width: number, height: number, idat: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bits per sample
  ihdr[9] = COLOR_RGBA;
  // compression 0 (zlib), filter method 0, no interlace: bytes 10..12 stay zero
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

function checkRows(width: number, height: number, rows: Uint8Array): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1
    || rows.length !== pngRowBytes(width, height)) {
    throw new RangeError(`a ${width} x ${height} RGBA image has ${pngRowBytes(width, height)} bytes of rows, not ${rows.length}`);
  }
}

/** A PNG of the filtered rows `rows`, compressed here (on the calling thread). */
export function encodePng(width: number, height: number, rows: Uint8Array): Buffer {
  checkRows(width, height, rows);
  return pngFromCompressed(width, height, deflateSync(rows));
}

/** As encodePng, compressed on libuv's thread pool: a large image does not hold the event loop. */
export function encodePngAsync(width: number, height: number, rows: Uint8Array): Promise<Buffer> {
  checkRows(width, height, rows);
  return new Promise((resolve, reject) => {
    deflate(rows, (err, idat) => {
      if (err) reject(err); else resolve(pngFromCompressed(width, height, idat));
    });
  });
}
