/* virtio-snd (virtio 1.2, section 5.14) as test=snd drives it: the wire format and the driver's shared state. */
#ifndef TSVMM_GUEST_TESTS_SND_H
#define TSVMM_GUEST_TESTS_SND_H

#include "../virtio.h"

#define SND_CONTROLQ 0
#define SND_EVENTQ 1
#define SND_TXQ 2
#define SND_RXQ 3

#define SND_R_JACK_INFO 1
#define SND_R_PCM_INFO 0x100
#define SND_R_PCM_SET_PARAMS 0x101
#define SND_R_PCM_PREPARE 0x102
#define SND_R_PCM_RELEASE 0x103
#define SND_R_PCM_START 0x104
#define SND_R_PCM_STOP 0x105
#define SND_R_CHMAP_INFO 0x200

#define SND_S_OK 0x8000
#define SND_S_BAD_MSG 0x8001
#define SND_S_NOT_SUPP 0x8002
#define SND_S_IO_ERR 0x8003

#define SND_D_OUTPUT 0
#define SND_D_INPUT 1

/* VIRTIO_SND_PCM_FMT_S16 and VIRTIO_SND_PCM_RATE_* codes (bit numbers in virtio_snd_pcm_info's masks). */
#define SND_FMT_S16 5
#define SND_RATE_8000 1
#define SND_RATE_48000 7

/* What the test plays and captures: S16_LE stereo at 48 kHz in 10 ms periods, four periods a buffer. */
#define SND_HZ 48000
#define SND_CHANNELS 2
#define SND_FRAME_BYTES 4
#define SND_PERIOD_FRAMES 480
#define SND_PERIOD_BYTES (SND_PERIOD_FRAMES * SND_FRAME_BYTES)
#define SND_PERIODS 4
#define SND_BUFFER_BYTES (SND_PERIOD_BYTES * SND_PERIODS)
#define SND_MAX_STREAMS 8

struct snd_query_info {
	u32 code;
	u32 start_id;
	u32 count;
	u32 size;
};

struct snd_jack_info {
	u32 hda_fn_nid;
	u32 features;
	u32 hda_reg_defconf;
	u32 hda_reg_caps;
	u8 connected;
	u8 padding[7];
};

struct snd_pcm_info {
	u32 hda_fn_nid;
	u32 features;
	u64 formats;
	u64 rates;
	u8 direction;
	u8 channels_min;
	u8 channels_max;
	u8 padding[5];
};

struct snd_chmap_info {
	u32 hda_fn_nid;
	u8 direction;
	u8 channels;
	u8 positions[18];
};

struct snd_pcm_hdr {
	u32 code;
	u32 stream_id;
};

struct snd_set_params {
	struct snd_pcm_hdr hdr;
	u32 buffer_bytes;
	u32 period_bytes;
	u32 features;
	u8 channels;
	u8 format;
	u8 rate;
	u8 padding;
};

struct snd_pcm_status {
	u32 status;
	u32 latency_bytes;
};

/* One period's chain: virtio_snd_pcm_xfer, the frames, virtio_snd_pcm_status. */
struct snd_slot {
	u32 *xfer;
	u8 *frames;
	struct snd_pcm_status *status;
};

struct snd {
	struct virtio_dev dev;
	struct virtq *controlq;
	struct virtq *txq;
	struct virtq *rxq;
	u8 *req;
	u8 *resp;
	u32 streams;
	struct snd_pcm_info pcm[SND_MAX_STREAMS];
	struct snd_slot slots[SND_PERIODS];
};

/* One control request of len bytes; the answer (resp_len bytes) lands in s->resp. Returns its status. */
u32 snd_control(struct snd *s, const void *req, u32 len, u32 resp_len);
/* A request that is its virtio_snd_pcm_hdr alone (PREPARE, START, STOP, RELEASE). */
u32 snd_pcm_command(struct snd *s, u32 code, u32 stream);
u32 snd_set_params(struct snd *s, u32 stream, u32 buffer_bytes, u32 period_bytes, u8 rate);
/* Fails the test unless the status is `want`; says each refusal in a data line. */
void snd_expect(const char *what, u32 got, u32 want);
/* Makes `stream` take S16_LE stereo 48 kHz transfers (SET_PARAMS, PREPARE). */
void snd_setup_stream(struct snd *s, u32 stream);
/* Posts slot `slot` as a transfer to `stream` on q: playback (frames readable) or capture (frames writable). */
void snd_post(struct snd *s, struct virtq *q, u32 stream, unsigned slot, bool capture);
/* Waits for the next completed transfer on q; returns its slot, its status checked against `want`. */
unsigned snd_reap(struct snd *s, struct virtq *q, u32 want_status, u32 want_len);

/* snd-pcm.c: ~snd_ms of a 440 Hz tone, timed; then, if the device has a capture stream, a capture. */
void snd_play(struct snd *s, u32 stream);
void snd_capture(struct snd *s, u32 stream);

#endif
