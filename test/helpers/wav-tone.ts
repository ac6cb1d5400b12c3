// Reading back what a guest played into a WAV file: the RIFF header's format fields and data chunk, and the
// frequency of a tone in one channel, measured two ways (rising zero crossings, and Goertzel's power at a frequency).

export interface WavFile {
  formatTag: number;
  channels: number;
  rate: number;
  byteRate: number;
  blockAlign: number;
  bits: number;
  /** Bytes from the file's data chunk to its end, and what the header says the chunk holds. */
  data: Buffer;
  dataChunkBytes: number;
  riffBytes: number;
}

/** The fmt and data chunks of a RIFF/WAVE file; throws naming what is missing. */
export function readWav(b: Buffer): WavFile {
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error('not RIFF/WAVE');
  let fmt: Omit<WavFile, 'data' | 'dataChunkBytes' | 'riffBytes'> | undefined;
  for (let at = 12; at + 8 <= b.length;) {
    const id = b.toString('latin1', at, at + 4);
    const size = b.readUInt32LE(at + 4);
    if (id === 'fmt ') {
      fmt = { formatTag: b.readUInt16LE(at + 8), channels: b.readUInt16LE(at + 10), rate: b.readUInt32LE(at + 12),
        byteRate: b.readUInt32LE(at + 16), blockAlign: b.readUInt16LE(at + 20), bits: b.readUInt16LE(at + 22) };
    }
    if (id === 'data') {
      if (fmt === undefined) throw new Error('data chunk before fmt chunk');
      return { ...fmt, data: b.subarray(at + 8), dataChunkBytes: size, riffBytes: b.readUInt32LE(4) };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error(fmt === undefined ? 'no fmt chunk' : 'no data chunk');
}

/** A 44-byte WAV header for `dataBytes` of S16_LE PCM. */
export function wavHeaderS16(channels: number, rate: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2 * channels, 28);
  h.writeUInt16LE(2 * channels, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Channel `channel` of interleaved S16_LE frames. */
export function channelS16(data: Buffer, channels: number, channel: number): Int16Array {
  const frames = Math.floor(data.length / (2 * channels));
  const out = new Int16Array(frames);
  for (let i = 0; i < frames; i++) out[i] = data.readInt16LE(2 * (i * channels + channel));
  return out;
}

/**
 * The frequency of a periodic signal from its rising zero crossings, each placed between its two samples by
 * linear interpolation: whole cycles between the first and the last crossing, over the time between them.
 */
export function zeroCrossingHz(samples: ArrayLike<number>, rate: number): number {
  const rises: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    if (a < 0 && b >= 0) rises.push(i - 1 + -a / (b - a));
  }
  if (rises.length < 2) return 0;
  return ((rises.length - 1) * rate) / (rises[rises.length - 1]! - rises[0]!);
}

/** Goertzel's power of `samples` at `hz` (relative: compare it with the power at other frequencies). */
export function goertzelPower(samples: ArrayLike<number>, rate: number, hz: number): number {
  const coeff = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s0 = samples[i]! + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}
