// The EDID a scanout answers GET_EDID with (VESA E-EDID 1.4): a 128-byte base block whose preferred detailed
// timing is the scanout's mode at 60 Hz with reduced blanking. A detailed timing descriptor holds 12-bit active
// sizes and a pixel clock up to 655.35 MHz, so a mode past either (4096 wide, 4K at 60 Hz and up) is described
// instead in a DisplayID 1.3 extension block (a Type I timing, 16-bit sizes), and the base block then has no
// detailed timing. Every block's bytes sum to 0 mod 256, as the checksum rule asks.

export const EDID_BLOCK = 128;
const REFRESH_HZ = 60;
/** Reduced blanking (CVT-RB): fixed horizontal blanking, and vertical blanking of at least 460 microseconds. */
const H_FRONT = 48;
const H_SYNC = 32;
const H_BLANK = 160;
const V_FRONT = 3;
const V_SYNC = 5;
const V_BACK_MIN = 6;
const V_BLANK_MIN_S = 460e-6;
/** The size of the screen the EDID claims: 96 pixels per inch. */
const MM_PER_PIXEL = 25.4 / 96;

interface Timing {
  width: number; height: number; hBlank: number; vBlank: number;
  /** Pixel clock in units of 10 kHz. */
  clock: number;
}

function timingFor(width: number, height: number): Timing {
  const blankShare = V_BLANK_MIN_S * REFRESH_HZ;
  const vBlank = Math.max(V_FRONT + V_SYNC + V_BACK_MIN, Math.ceil(height * blankShare / (1 - blankShare)));
  const clock = Math.ceil((width + H_BLANK) * (height + vBlank) * REFRESH_HZ / 10_000);
  return { width, height, hBlank: H_BLANK, vBlank, clock };
}

/** Whether the mode fits the base block's detailed timing descriptor. */
function fitsDescriptor(t: Timing): boolean {
  return t.width <= 0xfff && t.height <= 0xfff && t.vBlank <= 0xfff && t.clock <= 0xffff;
}

function checksum(block: Uint8Array, at: number, from = 0): void {
  let sum = 0;
  for (let i = from; i < at; i++) sum += block[i]!;
  block[at] = (256 - (sum & 0xff)) & 0xff;
}

/** An 18-byte detailed timing descriptor: digital separate sync, hsync positive, vsync negative (as CVT-RB). */
function detailedTiming(t: Timing): Buffer {
  const d = Buffer.alloc(18);
  const wMm = Math.round(t.width * MM_PER_PIXEL);
  const hMm = Math.round(t.height * MM_PER_PIXEL);
  d.writeUInt16LE(t.clock, 0);
  d[2] = t.width & 0xff;
  d[3] = t.hBlank & 0xff;
  d[4] = ((t.width >> 8) << 4) | (t.hBlank >> 8);
  d[5] = t.height & 0xff;
  d[6] = t.vBlank & 0xff;
  d[7] = ((t.height >> 8) << 4) | (t.vBlank >> 8);
  d[8] = H_FRONT;
  d[9] = H_SYNC;
  d[10] = (V_FRONT << 4) | V_SYNC;
  d[11] = 0; // the high bits of the sync fields above, all zero
  d[12] = wMm & 0xff;
  d[13] = hMm & 0xff;
  d[14] = ((wMm >> 8) << 4) | (hMm >> 8);
  d[17] = 0x18 | 0x02;
  return d;
}

/** A display descriptor (tag 0xFC name, 0xFF serial, 0x10 dummy) holding up to 13 bytes of text. */
function textDescriptor(tag: number, text: string): Buffer {
  const d = Buffer.alloc(18);
  d[3] = tag;
  if (tag === 0x10) return d;
  const body = Buffer.alloc(13, 0x20);
  body.write(`${text.slice(0, 12)}\n`, 'ascii');
  body.copy(d, 5);
  return d;
}

/** Chromaticity of sRGB (red, green, blue, white x and y) as the 10-bit fractions the base block holds. */
function chromaticity(): Buffer {
  const [rx, ry, gx, gy, bx, by, wx, wy] = [0.64, 0.33, 0.3, 0.6, 0.15, 0.06, 0.3127, 0.329]
    .map((v) => Math.round(v * 1024));
  const lo = (a: number, b: number, c: number, d: number): number => ((a & 3) << 6) | ((b & 3) << 4) | ((c & 3) << 2) | (d & 3);
  return Buffer.from([lo(rx!, ry!, gx!, gy!), lo(bx!, by!, wx!, wy!),
    ...[rx, ry, gx, gy, bx, by, wx, wy].map((v) => v! >> 2)]);
}

function baseBlock(t: Timing, serial: number, extensions: number): Buffer {
  const b = Buffer.alloc(EDID_BLOCK);
  Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]).copy(b, 0);
  // Manufacturer: three letters of five bits each ('A' is 1), big-endian.
  const id = Array.from(Buffer.from('TSV', 'ascii')).reduce((v, c) => (v << 5) | (c - 64), 0);
  b.writeUInt16BE(id, 8);
  b.writeUInt16LE(1, 10); // product code
  b.writeUInt32LE(serial, 12);
  b[16] = 0; // week unspecified
  b[17] = 2024 - 1990;
  b[18] = 1; // EDID 1.4
  b[19] = 4;
  b[20] = 0x80 | (2 << 4); // digital input, 8 bits per primary color, interface unspecified
  b[21] = Math.min(255, Math.max(1, Math.round(t.width * MM_PER_PIXEL / 10))); // cm
  b[22] = Math.min(255, Math.max(1, Math.round(t.height * MM_PER_PIXEL / 10)));
  b[23] = 120; // gamma 2.2, stored as gamma * 100 - 100
  const fits = fitsDescriptor(t);
  // RGB 4:4:4, sRGB is the default color space, and (with a detailed timing) the first one is the native mode.
  b[24] = 0x04 | (fits ? 0x02 : 0);
  chromaticity().copy(b, 25);
  // No established timings (bytes 35..37 zero); the eight standard timing slots unused (0x01 0x01 each).
  for (let i = 38; i < 54; i++) b[i] = 0x01;
  const descriptors = [
    fits ? detailedTiming(t) : textDescriptor(0x10, ''),
    textDescriptor(0xfc, 'tsvmm'),
    textDescriptor(0xff, `scanout ${serial}`),
    textDescriptor(0x10, ''),
  ];
  descriptors.forEach((d, i) => d.copy(b, 54 + 18 * i));
  b[126] = extensions;
  checksum(b, 127);
  return b;
}

/** The DisplayID aspect ratio code nearest to the mode's (1:1, 5:4, 4:3, 15:9, 16:9, 16:10, 64:27, 256:135). */
function aspectCode(width: number, height: number): number {
  const ratios = [1, 5 / 4, 4 / 3, 15 / 9, 16 / 9, 16 / 10, 64 / 27, 256 / 135];
  const r = width / height;
  let best = 0;
  ratios.forEach((v, i) => { if (Math.abs(v - r) < Math.abs(ratios[best]! - r)) best = i; });
  return best;
}

/** A DisplayID 1.3 extension block with one Type I detailed timing, marked preferred. */
function displayIdBlock(t: Timing): Buffer {
  const b = Buffer.alloc(EDID_BLOCK);
  b[0] = 0x70; // extension tag: DisplayID
  const section = 1;
  const payload = 3 + 20;
  b[section] = 0x13; // DisplayID 1.3
  b[section + 1] = payload;
  b[section + 2] = 0; // product type: an extension section
  b[section + 3] = 0; // no further sections
  const block = section + 4;
  b[block] = 0x03; // Type I detailed timing data block
  b[block + 1] = 0;
  b[block + 2] = 20;
  const d = block + 3;
  b.writeUIntLE(t.clock - 1, d, 3);
  b[d + 3] = 0x80 | aspectCode(t.width, t.height);
  b.writeUInt16LE(t.width - 1, d + 4);
  b.writeUInt16LE(t.hBlank - 1, d + 6);
  b.writeUInt16LE(0x8000 | (H_FRONT - 1), d + 8); // hsync positive
  b.writeUInt16LE(H_SYNC - 1, d + 10);
  b.writeUInt16LE(t.height - 1, d + 12);
  b.writeUInt16LE(t.vBlank - 1, d + 14);
  b.writeUInt16LE(V_FRONT - 1, d + 16); // vsync negative
  b.writeUInt16LE(V_SYNC - 1, d + 18);
  checksum(b, section + 4 + payload, section);
  checksum(b, 127);
  return b;
}

/** The EDID of a width x height scanout: 128 bytes, or 256 when the mode needs the DisplayID extension. */
export function buildEdid(width: number, height: number, serial = 0): Buffer {
  const t = timingFor(width, height);
  if (fitsDescriptor(t)) return baseBlock(t, serial, 0);
  return Buffer.concat([baseBlock(t, serial, 1), displayIdBlock(t)]);
}
