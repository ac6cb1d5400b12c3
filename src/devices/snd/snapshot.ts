// The sound device in a snapshot: each stream's lifecycle state, its parameters, and the transfers it holds by
// descriptor head. A restored device checks the parameters as SET_PARAMS would (against the stream's caps and its
// backend), takes the transfers again from the restored rings, and times a started stream from the restore on.
import type { Virtqueue } from '../../virtio-mmio/queue';
import { checkParams, type PcmParams } from './formats';
import { STATUS } from './protocol';
import type { StreamState } from './states';
import type { PcmStream } from './stream';
import { checkTransfer } from './transfer';
import { savedHeads, savedObject } from '../saved-state';

export interface SavedStream { state: StreamState; params: PcmParams | null; heads: number[] }

const STATES: readonly StreamState[] = ['initial', 'params', 'prepared', 'started', 'stopped', 'released'];

export function saveStreams(streams: readonly PcmStream[]): SavedStream[] {
  return streams.map((s) => ({ state: s.state, params: s.params ?? null, heads: s.pending.map((t) => t.chain.head) }));
}

/**
 * The saved streams, checked against the device's own (`refuses` is the backend's say on parameters): throws
 * RangeError naming the field. Nothing is changed; applyStreams() does that.
 */
export function checkStreams(v: unknown, streams: readonly PcmStream[], ringSize: number,
  refuses: (s: PcmStream, p: PcmParams) => string | undefined): SavedStream[] {
  if (!Array.isArray(v) || v.length !== streams.length) throw new RangeError(`streams is not a list of ${streams.length}`);
  return v.map((raw: unknown, i) => {
    const s = savedObject(raw);
    const name = `streams[${i}]`;
    if (!STATES.includes(s.state as StreamState)) throw new RangeError(`${name}.state is ${JSON.stringify(s.state)}`);
    const state = s.state as StreamState;
    let params: PcmParams | null = null;
    if (state !== 'initial') {
      const p = (typeof s.params === 'object' && s.params !== null ? s.params : {}) as Record<string, unknown>;
      const num = (k: string): number => (Number.isInteger(p[k]) ? p[k] as number : -1);
      const checked = checkParams(streams[i]!.caps, { format: num('format'), rate: num('rate'), channels: num('channels'),
        bufferBytes: num('bufferBytes'), periodBytes: num('periodBytes'), features: 0 });
      if (typeof checked === 'string' || refuses(streams[i]!, checked) !== undefined) {
        throw new RangeError(`${name}.params are not ones this stream takes`);
      }
      params = checked;
    }
    const heads = savedHeads(`${name}.heads`, s.heads, ringSize);
    return { state, params, heads };
  });
}

/** Puts checked streams into the device's (their transfers are taken again once the device has its queues). */
export function applyStreams(saved: readonly SavedStream[], streams: readonly PcmStream[]): void {
  saved.forEach((s, i) => {
    const stream = streams[i]!;
    stream.clear();
    stream.state = s.state;
    if (s.params !== null) stream.params = s.params;
  });
}

/**
 * Takes each stream's transfers again by head from its queue, checked as when they came; `now` anchors a started
 * stream. Throws QueueError for a chain that no longer walks, RangeError for one that is not a transfer of it.
 */
export function adoptTransfers(saved: readonly SavedStream[], streams: readonly PcmStream[],
  queueOf: (s: PcmStream) => Virtqueue | undefined, now: number): void {
  saved.forEach((s, i) => {
    const stream = streams[i]!;
    const q = queueOf(stream);
    if (q === undefined) return;
    for (const head of s.heads) {
      const t = checkTransfer(q.reclaim(head), stream.direction, stream);
      if (t === STATUS.BAD_MSG) throw new RangeError(`descriptor ${head} is not a transfer of stream ${i}`);
      stream.pending.push(t);
    }
    if (stream.state === 'started') stream.start(now);
  });
}
