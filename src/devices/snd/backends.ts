// Where played frames go and where captured frames come from. Playback: `null` drops them, `wav` records them in a
// WAV file (one format per file: the first one played). Capture: `silence` gives zeros in any offered format,
// `wav` gives a WAV file's frames over and over, and offers only that file's format. The files are read and
// written from the main thread, a period (at most 64 KiB) at a time.
import * as fs from 'node:fs';
import { DEFAULT_CAPS, FORMAT, RATE, type PcmParams, type StreamCaps } from './formats';
import {
  describeFormat, parseWav, sameFormat, WAV_HEADER_BYTES, WAV_MAX_DATA_BYTES, wavHeader, type WavData, type WavFormat,
} from './wav';

/** A backend's file cannot be used; `stream` says which direction's config names it. */
export class SndBackendError extends Error {
  constructor(readonly stream: 'playback' | 'capture', message: string) {
    super(message);
    this.name = 'SndBackendError';
  }
}

export interface PlaybackSink {
  /** Why the sink cannot take frames in `p` now, or undefined when it can. */
  refuses(p: PcmParams): string | undefined;
  /** Takes the frames of one transfer, in order; throws on an I/O error. */
  write(p: PcmParams, frames: readonly Uint8Array[]): void;
  /** The recording so far is complete on disk (a WAV header with the sizes written so far). */
  finish(): void;
  close(): void;
}

export interface CaptureSource {
  readonly caps: StreamCaps;
  /** Fills `out` with the next frames in format `p` (which the caps offer); throws on an I/O error. */
  read(p: PcmParams, out: readonly Uint8Array[]): void;
  close(): void;
}

export const nullSink = (): PlaybackSink => ({
  refuses: () => undefined, write: () => undefined, finish: () => undefined, close: () => undefined,
});

export const silenceSource = (): CaptureSource => ({
  caps: DEFAULT_CAPS,
  read: (_p, out) => { for (const b of out) b.fill(0); },
  close: () => undefined,
});

/** Until the guest plays, the file says S16_LE stereo at 48000 Hz with no frames: a valid, empty WAV. */
const EMPTY_FORMAT: WavFormat = { format: FORMAT.S16, rate: RATE.R48000, channels: 2 };

export class WavSink implements PlaybackSink {
  private readonly fd: number;
  private format = EMPTY_FORMAT;
  private dataBytes = 0;
  private closed = false;

  /** Creates (or empties) the file at `file`. */
  constructor(private readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'w');
      this.finish();
    } catch (e) {
      throw new SndBackendError('playback', `${file}: ${(e as Error).message}`);
    }
  }

  refuses(p: PcmParams): string | undefined {
    if (this.dataBytes === 0 || sameFormat(this.format, p)) return undefined;
    return `${this.file} holds ${describeFormat(this.format)}; a WAV file has one format`;
  }

  write(p: PcmParams, frames: readonly Uint8Array[]): void {
    const bytes = frames.reduce((n, f) => n + f.length, 0);
    if (this.dataBytes + bytes > WAV_MAX_DATA_BYTES) throw new Error(`${this.file} is full (4 GiB of RIFF)`);
    if (this.dataBytes === 0) this.format = { format: p.format, rate: p.rate, channels: p.channels };
    for (const f of frames) {
      // Positioned: the header is rewritten at offset 0 while the data grows after it.
      let done = 0;
      while (done < f.length) done += fs.writeSync(this.fd, f, done, f.length - done, WAV_HEADER_BYTES + this.dataBytes + done);
      this.dataBytes += f.length;
    }
  }

  finish(): void {
    if (this.closed) return;
    const h = wavHeader(this.format, this.dataBytes);
    fs.writeSync(this.fd, h, 0, h.length, 0);
  }

  close(): void {
    if (this.closed) return;
    try {
      this.finish();
    } finally {
      this.closed = true;
      fs.closeSync(this.fd);
    }
  }
}

export class WavSource implements CaptureSource {
  readonly caps: StreamCaps;
  private readonly fd: number;
  private readonly wav: WavData;
  /** Where the next frame is, from the start of the data chunk. */
  private at = 0;

  constructor(private readonly file: string) {
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'r');
      const size = fs.fstatSync(fd).size;
      const f = fd;
      this.wav = parseWav((offset, length) => {
        const b = Buffer.alloc(length);
        return b.subarray(0, fs.readSync(f, b, 0, length, offset));
      }, size);
    } catch (e) {
      if (fd !== undefined) fs.closeSync(fd);
      throw new SndBackendError('capture', `${file} ${(e as Error).message}`);
    }
    this.fd = fd;
    const { format, rate, channels } = this.wav;
    this.caps = { formats: [format], rates: [rate], channelsMin: channels, channelsMax: channels };
  }

  get format(): WavFormat { return this.wav; }

  read(p: PcmParams, out: readonly Uint8Array[]): void {
    // The device offers only the file's format; a stream set up otherwise never reaches here.
    if (!sameFormat(this.wav, p)) throw new Error(`${this.file} holds ${describeFormat(this.wav)}, not the stream's`);
    for (const b of out) {
      let done = 0;
      while (done < b.length) {
        const n = Math.min(b.length - done, this.wav.dataBytes - this.at);
        const got = fs.readSync(this.fd, b, done, n, this.wav.dataOffset + this.at);
        if (got === 0) throw new Error(`${this.file} ended inside its data chunk`);
        done += got;
        this.at = (this.at + got) % this.wav.dataBytes;
      }
    }
  }

  close(): void { fs.closeSync(this.fd); }
}
