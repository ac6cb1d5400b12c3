// What the device is made of, as the info requests describe it: one playback stream (0) and one capture stream
// (1), a jack for each (line out, line in; always connected, no remapping) and a stereo channel map for each.
import { bitmap, type StreamCaps } from './formats';
import {
  CHMAP_INFO_BYTES, CHMAP_POS, DIRECTION, JACK_INFO_BYTES, PCM_INFO_BYTES, type Direction, type Topology,
} from './protocol';

export const PLAYBACK_STREAM = 0;
export const CAPTURE_STREAM = 1;
export const STREAM_DIRECTIONS: readonly Direction[] = [DIRECTION.OUTPUT, DIRECTION.INPUT];

/**
 * HDA pin default configurations (port connectivity, location, device, connection type, colour, association,
 * sequence): a green 1/8" line out at the rear and a blue 1/8" line in beside it.
 */
const LINE_OUT_DEFCONF = 0x0101_4010;
const LINE_IN_DEFCONF = 0x0181_3020;
/** HDA pin capabilities: presence detect (bit 2), output (bit 4), input (bit 5). */
const PIN_OUT_CAPS = (1 << 4) | (1 << 2);
const PIN_IN_CAPS = (1 << 5) | (1 << 2);

export const TOPOLOGY: Topology = { jacks: 2, streams: 2, chmaps: 2 };

/** virtio_snd_jack_info of jack `id`. */
export function jackInfo(id: number): Buffer {
  const b = Buffer.alloc(JACK_INFO_BYTES);
  // hda_fn_nid 0 and features 0: no VIRTIO_SND_JACK_F_REMAP.
  b.writeUInt32LE(id === PLAYBACK_STREAM ? LINE_OUT_DEFCONF : LINE_IN_DEFCONF, 8);
  b.writeUInt32LE(id === PLAYBACK_STREAM ? PIN_OUT_CAPS : PIN_IN_CAPS, 12);
  b[16] = 1;
  return b;
}

/** virtio_snd_pcm_info of a stream with `caps` in `direction`. */
export function pcmInfo(caps: StreamCaps, direction: Direction): Buffer {
  const b = Buffer.alloc(PCM_INFO_BYTES);
  // hda_fn_nid 0, features 0: no shared memory, no polling, no period or xrun events.
  b.writeBigUInt64LE(bitmap(caps.formats), 8);
  b.writeBigUInt64LE(bitmap(caps.rates), 16);
  b[24] = direction;
  b[25] = caps.channelsMin;
  b[26] = caps.channelsMax;
  return b;
}

/** virtio_snd_chmap_info of chmap `id`: front left and front right of its stream's direction. */
export function chmapInfo(id: number): Buffer {
  const b = Buffer.alloc(CHMAP_INFO_BYTES);
  b[4] = STREAM_DIRECTIONS[id]!;
  b[5] = 2;
  b[6] = CHMAP_POS.FL;
  b[7] = CHMAP_POS.FR;
  return b;
}
