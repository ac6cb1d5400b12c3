// The RIFF/WAVE container for plain PCM: the 44-byte header a recording starts with (rewritten with the final
// sizes when the recording ends), and the reading of a file's format and data chunk, with its errors in words.
import { FORMAT, RATE_HZ, type PcmParams } from './formats';

export const WAV_HEADER_BYTES = 44;
const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** RIFF sizes are 32-bit: the most data bytes one file holds after its header. */
export const WAV_MAX_DATA_BYTES = 0xffff_ffff - (WAV_HEADER_BYTES - 8);

export interface WavFormat {
  format: number;
  rate: number;
  channels: number;
}

const BITS: ReadonlyMap<number, number> = new Map([[FORMAT.S16, 16], [FORMAT.S32, 32]]);

/** The header of a WAV file holding `dataBytes` of PCM in format `f`. */
export function wavHeader(f: WavFormat, dataBytes: number): Buffer {
  const bits = BITS.get(f.format)!;
  const hz = RATE_HZ.get(f.rate)!;
  const block = (bits / 8) * f.channels;
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(WAV_HEADER_BYTES - 8 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  h.writeUInt16LE(f.channels, 22);
  h.writeUInt32LE(hz, 24);
  h.writeUInt32LE(hz * block, 28);
  h.writeUInt16LE(block, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

export const sameFormat = (a: WavFormat, b: Pick<PcmParams, 'format' | 'rate' | 'channels'>): boolean =>
  a.format === b.format && a.rate === b.rate && a.channels === b.channels;

export function describeFormat(f: WavFormat): string {
  const bits = BITS.get(f.format)!;
  return `S${bits}_LE, ${RATE_HZ.get(f.rate)!} Hz, ${f.channels} channel${f.channels === 1 ? '' : 's'}`;
}

/** A WAV file's format and where its whole frames lie. */
export interface WavData extends WavFormat {
  dataOffset: number;
  dataBytes: number;
}

/** Reads `length` bytes at `offset` from the file; fewer at its end. */
export type ReadAt = (offset: number, length: number) => Buffer;

/** A WAV file's chunk walk stops after this many chunks (a file of tiny chunks is not a recording). */
const MAX_CHUNKS = 1024;

/**
 * Parses the header of a WAV file of `fileBytes` bytes; throws an Error that says what is wrong (the caller adds
 * the file's name). Only 16- and 32-bit integer PCM at 44100 or 48000 Hz with one or two channels is taken.
 */
export function parseWav(readAt: ReadAt, fileBytes: number): WavData {
  const riff = readAt(0, 12);
  if (riff.length < 12 || riff.toString('latin1', 0, 4) !== 'RIFF' || riff.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error('is not a RIFF/WAVE file');
  }
  let fmt: WavFormat | undefined;
  let at = 12;
  for (let n = 0; n < MAX_CHUNKS && at + 8 <= fileBytes; n++) {
    const head = readAt(at, 8);
    if (head.length < 8) break;
    const id = head.toString('latin1', 0, 4);
    const size = head.readUInt32LE(4);
    if (id === 'fmt ') fmt = parseFmt(readAt(at + 8, Math.min(size, 40)));
    if (id === 'data') {
      if (fmt === undefined) throw new Error('has its data chunk before its fmt chunk');
      // A file written while recording may say 0 or 0xffffffff: the data then runs to the end of the file.
      const bytes = Math.min(size === 0 ? Infinity : size, fileBytes - (at + 8));
      const block = (BITS.get(fmt.format)! / 8) * fmt.channels;
      const whole = Math.floor(bytes / block) * block;
      if (whole === 0) throw new Error('holds no PCM frames');
      return { ...fmt, dataOffset: at + 8, dataBytes: whole };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error(fmt === undefined ? 'has no fmt chunk' : 'has no data chunk');
}

function parseFmt(b: Buffer): WavFormat {
  if (b.length < 16) throw new Error('has a fmt chunk shorter than 16 bytes');
  let tag = b.readUInt16LE(0);
  // WAVE_FORMAT_EXTENSIBLE says PCM in the first two bytes of its subformat GUID.
  if (tag === WAVE_FORMAT_EXTENSIBLE && b.length >= 26) tag = b.readUInt16LE(24);
  if (tag !== WAVE_FORMAT_PCM) throw new Error(`is not integer PCM (format tag 0x${tag.toString(16)})`);
  const channels = b.readUInt16LE(2);
  const hz = b.readUInt32LE(4);
  const blockAlign = b.readUInt16LE(12);
  const bits = b.readUInt16LE(14);
  const format = bits === 16 ? FORMAT.S16 : bits === 32 ? FORMAT.S32 : undefined;
  if (format === undefined) throw new Error(`is ${bits}-bit PCM; capture takes 16- or 32-bit`);
  const rate = [...RATE_HZ].find(([, v]) => v === hz)?.[0];
  if (rate === undefined) throw new Error(`is at ${hz} Hz; capture takes 44100 or 48000 Hz`);
  if (channels < 1 || channels > 2) throw new Error(`has ${channels} channels; capture takes 1 or 2`);
  if (blockAlign !== (bits / 8) * channels) {
    throw new Error(`says ${blockAlign} bytes a frame where ${channels} channels of ${bits} bits take ${(bits / 8) * channels}`);
  }
  return { format, rate, channels };
}
