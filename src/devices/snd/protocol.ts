// virtio-snd's wire format (virtio 1.2 section 5.14): request and event codes, status codes, the fixed-size
// structures of the control queue and of the PCM transfers, and the config space. All fields are little-endian.

export const SND_DEVICE_TYPE = 25;
export const CONTROLQ = 0;
export const EVENTQ = 1;
export const TXQ = 2;
export const RXQ = 3;

export const REQ = {
  JACK_INFO: 1, JACK_REMAP: 2,
  PCM_INFO: 0x100, PCM_SET_PARAMS: 0x101, PCM_PREPARE: 0x102, PCM_RELEASE: 0x103, PCM_START: 0x104,
  PCM_STOP: 0x105,
  CHMAP_INFO: 0x200,
} as const;

export const STATUS = { OK: 0x8000, BAD_MSG: 0x8001, NOT_SUPP: 0x8002, IO_ERR: 0x8003 } as const;
export type Status = (typeof STATUS)[keyof typeof STATUS];

/** virtio_snd_pcm_info.direction and virtio_snd_chmap_info.direction. */
export const DIRECTION = { OUTPUT: 0, INPUT: 1 } as const;
export type Direction = (typeof DIRECTION)[keyof typeof DIRECTION];

/** virtio_snd_hdr: le32 code (a request code, or a status in an answer). */
export const HDR_BYTES = 4;
/** virtio_snd_query_info: hdr, le32 start_id, le32 count, le32 size. */
export const QUERY_INFO_BYTES = 16;
export const QUERY = { START_ID: 4, COUNT: 8, SIZE: 12 } as const;
/** virtio_snd_jack_hdr and virtio_snd_pcm_hdr: hdr, le32 jack_id or stream_id. */
export const ITEM_HDR_BYTES = 8;
export const ITEM_ID = 4;
/** virtio_snd_jack_remap: jack_hdr, le32 association, le32 sequence. */
export const JACK_REMAP_BYTES = 16;
/** virtio_snd_pcm_set_params: pcm_hdr, le32 buffer_bytes, period_bytes, features, u8 channels, format, rate, pad. */
export const SET_PARAMS_BYTES = 24;
export const SET_PARAMS = { BUFFER_BYTES: 8, PERIOD_BYTES: 12, FEATURES: 16, CHANNELS: 20, FORMAT: 21, RATE: 22 } as const;

/** virtio_snd_jack_info: info hdr (le32 hda_fn_nid), le32 features, hda_reg_defconf, hda_reg_caps, u8 connected, pad[7]. */
export const JACK_INFO_BYTES = 24;
/** virtio_snd_pcm_info: info hdr, le32 features, le64 formats, le64 rates, u8 direction, channels_min, channels_max, pad[5]. */
export const PCM_INFO_BYTES = 32;
/** virtio_snd_chmap_info: info hdr, u8 direction, u8 channels, u8 positions[18]. */
export const CHMAP_INFO_BYTES = 24;
export const CHMAP_MAX_SIZE = 18;
/** Channel positions (VIRTIO_SND_CHMAP_*). */
export const CHMAP_POS = { MONO: 2, FL: 3, FR: 4 } as const;

/** virtio_snd_pcm_xfer: le32 stream_id, first in a tx or rx chain. */
export const XFER_BYTES = 4;
/** virtio_snd_pcm_status: le32 status, le32 latency_bytes, the chain's last writable bytes. */
export const PCM_STATUS_BYTES = 8;

/** VIRTIO_SND_PCM_F_*: the feature bits a stream may offer; none is offered here. */
export const PCM_FEATURE_BITS = 5;
/** VIRTIO_SND_JACK_F_REMAP: not offered, so JACK_REMAP is NOT_SUPP. */
export const JACK_F_REMAP = 0;

export const CONFIG_BYTES = 12;

export interface Topology { jacks: number; streams: number; chmaps: number }

/** virtio_snd_config: how many jacks, streams and channel maps the info requests may ask about. */
export function configSpace(t: Topology): Uint8Array {
  const c = Buffer.alloc(CONFIG_BYTES);
  c.writeUInt32LE(t.jacks, 0);
  c.writeUInt32LE(t.streams, 4);
  c.writeUInt32LE(t.chmaps, 8);
  return c;
}
