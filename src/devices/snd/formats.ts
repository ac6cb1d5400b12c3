// The PCM formats and rates the device offers, and the checks on a SET_PARAMS request. Only S16_LE and S32_LE at
// 44100 and 48000 Hz with one or two channels: the formats a WAV file holds as plain PCM. A value the spec defines
// but the stream does not offer is NOT_SUPP; a value the spec does not define, or sizes that cannot work, BAD_MSG.
import { PCM_FEATURE_BITS } from './protocol';

/** VIRTIO_SND_PCM_FMT_*: the spec defines 0..24. */
export const FORMAT = { S16: 5, S32: 17 } as const;
export const FORMAT_COUNT = 25;
/** VIRTIO_SND_PCM_RATE_*: the spec defines 0..13. */
export const RATE = { R44100: 6, R48000: 7 } as const;
export const RATE_COUNT = 14;

/** Bytes per sample of each offered format. */
export const SAMPLE_BYTES: ReadonlyMap<number, number> = new Map([[FORMAT.S16, 2], [FORMAT.S32, 4]]);
/** Hertz of each offered rate code. */
export const RATE_HZ: ReadonlyMap<number, number> = new Map([[RATE.R44100, 44100], [RATE.R48000, 48000]]);

export const FORMAT_NAMES: ReadonlyMap<number, string> = new Map([[FORMAT.S16, 'S16_LE'], [FORMAT.S32, 'S32_LE']]);

/** What one stream offers (virtio_snd_pcm_info's formats, rates and channel range). */
export interface StreamCaps {
  formats: readonly number[];
  rates: readonly number[];
  channelsMin: number;
  channelsMax: number;
}

export const DEFAULT_CAPS: StreamCaps = {
  formats: [FORMAT.S16, FORMAT.S32], rates: [RATE.R44100, RATE.R48000], channelsMin: 1, channelsMax: 2,
};

/** The smallest period: 64 bytes (16 frames of S16 stereo). */
export const MIN_PERIOD_BYTES = 64;
/** The largest period, and so the most one transfer can be made to wait on. */
export const MAX_PERIOD_BYTES = 64 * 1024;
/** The largest ring buffer; a transfer carries at most this much. */
export const MAX_BUFFER_BYTES = 1 << 20;

/** A stream's parameters as SET_PARAMS gave them, checked. */
export interface PcmParams {
  format: number;
  rate: number;
  channels: number;
  bufferBytes: number;
  periodBytes: number;
}

export const frameBytes = (p: Pick<PcmParams, 'format' | 'channels'>): number =>
  SAMPLE_BYTES.get(p.format)! * p.channels;

export const rateHz = (p: Pick<PcmParams, 'rate'>): number => RATE_HZ.get(p.rate)!;

/** A bitmap of the codes in `codes`, as PCM_INFO's le64 formats and rates give it. */
export const bitmap = (codes: readonly number[]): bigint => codes.reduce((m, c) => m | (1n << BigInt(c)), 0n);

export type ParamsRefusal = 'BAD_MSG' | 'NOT_SUPP';

export interface ParamsRequest extends PcmParams {
  features: number;
}

/** The checked parameters, or why they are refused. */
export function checkParams(caps: StreamCaps, r: ParamsRequest): PcmParams | ParamsRefusal {
  if (r.format >= FORMAT_COUNT || r.rate >= RATE_COUNT || r.channels === 0) return 'BAD_MSG';
  if (r.features >= 1 << PCM_FEATURE_BITS) return 'BAD_MSG';
  // Every feature bit the spec defines is one this device does not offer.
  if (r.features !== 0) return 'NOT_SUPP';
  if (!caps.formats.includes(r.format) || !caps.rates.includes(r.rate)) return 'NOT_SUPP';
  if (r.channels < caps.channelsMin || r.channels > caps.channelsMax) return 'NOT_SUPP';
  const frame = frameBytes(r);
  const { bufferBytes, periodBytes } = r;
  if (periodBytes < MIN_PERIOD_BYTES || periodBytes > MAX_PERIOD_BYTES || bufferBytes > MAX_BUFFER_BYTES) {
    return 'BAD_MSG';
  }
  if (periodBytes % frame !== 0 || bufferBytes % periodBytes !== 0 || bufferBytes === 0) return 'BAD_MSG';
  return { format: r.format, rate: r.rate, channels: r.channels, bufferBytes, periodBytes };
}
