/*
 * test=snd: virtio-snd (virtio 1.2, section 5.14). Reads the config (jacks, streams, chmaps) and asks JACK_INFO,
 * PCM_INFO and CHMAP_INFO about every one: exactly one output stream, offering S16_LE at 48 kHz with two channels.
 * Then the requests a device must refuse, each answered with the status the device documents (PREPARE before
 * SET_PARAMS, an unsupported rate, a period that does not divide the buffer, a stream that does not exist, START
 * before PREPARE, a transfer before PREPARE, an info request past the streams, an unknown code), and, on the same
 * stream, a 440 Hz tone played and timed (snd-pcm.c) and a capture from the input stream if there is one.
 *   snd_ms=500            how much tone to play (whole 10 ms periods)
 *   snd_capture=silence   capture must be all zeros; `data`: any bytes (the host compares their FNV-1a)
 *   snd_capture_ms=100    how much to capture
 */
#include "snd.h"
#include "../guest.h"
#include "../memory.h"

#define REQ_BYTES 512
#define EVENT_BUFFERS 4
#define EVENT_BYTES 8
#define MAX_JACKS 8
#define MAX_CHMAPS 8

static const char *status_name(u32 status)
{
	switch (status) {
	case SND_S_OK: return "OK";
	case SND_S_BAD_MSG: return "BAD_MSG";
	case SND_S_NOT_SUPP: return "NOT_SUPP";
	case SND_S_IO_ERR: return "IO_ERR";
	default: return "other";
	}
}

u32 snd_control(struct snd *s, const void *req, u32 len, u32 resp_len)
{
	if (len > REQ_BYTES || resp_len > REQ_BYTES || resp_len < 4)
		fail("snd: a %u-byte request with a %u-byte answer does not fit", len, resp_len);
	memcpy(s->req, req, len);
	memset(s->resp, 0xee, resp_len);
	struct vbuf chain[2] = { { s->req, len, false }, { s->resp, resp_len, true } };
	if (virtq_post(s->controlq, chain, 2, 1, 0) < 0)
		fail("snd: the control queue is full with nothing in flight");
	virtq_kick(s->controlq);
	struct virtq_done done;
	u32 code = *(const u32 *)req;
	enum virtq_outcome got = virtq_wait_or_reset_default(s->controlq, &done);
	if (got != VIRTQ_USED)
		fail("snd: request 0x%x %s", code, got == VIRTQ_NEEDS_RESET ? "set DEVICE_NEEDS_RESET" : "got no answer");
	if (done.len < 4 || done.len > resp_len)
		fail("snd: request 0x%x: used length %u for a %u-byte answer", code, done.len, resp_len);
	return *(const u32 *)s->resp;
}

u32 snd_pcm_command(struct snd *s, u32 code, u32 stream)
{
	struct snd_pcm_hdr h = { code, stream };
	return snd_control(s, &h, sizeof(h), 4);
}

u32 snd_set_params(struct snd *s, u32 stream, u32 buffer_bytes, u32 period_bytes, u8 rate)
{
	struct snd_set_params p = { { SND_R_PCM_SET_PARAMS, stream }, buffer_bytes, period_bytes, 0, SND_CHANNELS,
				    SND_FMT_S16, rate, 0 };
	return snd_control(s, &p, sizeof(p), 4);
}

void snd_expect(const char *what, u32 got, u32 want)
{
	if (want != SND_S_OK)
		data("refused=%s status=%s", what, status_name(got));
	if (got != want)
		fail("snd: %s: status 0x%x (%s), expected %s", what, got, status_name(got), status_name(want));
}

void snd_setup_stream(struct snd *s, u32 stream)
{
	snd_expect("set-params", snd_set_params(s, stream, SND_BUFFER_BYTES, SND_PERIOD_BYTES, SND_RATE_48000), SND_S_OK);
	snd_expect("prepare", snd_pcm_command(s, SND_R_PCM_PREPARE, stream), SND_S_OK);
}

void snd_post(struct snd *s, struct virtq *q, u32 stream, unsigned slot, bool capture)
{
	struct snd_slot *sl = &s->slots[slot];
	*sl->xfer = stream;
	memset(sl->status, 0xee, sizeof(*sl->status));
	struct vbuf chain[3] = { { sl->xfer, 4, false }, { sl->frames, SND_PERIOD_BYTES, capture },
				 { sl->status, sizeof(*sl->status), true } };
	if (virtq_post(q, chain, 3, slot, 0) < 0)
		fail("snd: queue %u is full", q->index);
}

unsigned snd_reap(struct snd *s, struct virtq *q, u32 want_status, u32 want_len)
{
	struct virtq_done done;
	enum virtq_outcome got = virtq_wait_or_reset_default(q, &done);
	if (got != VIRTQ_USED)
		fail("snd: a transfer on queue %u %s", q->index,
		     got == VIRTQ_NEEDS_RESET ? "set DEVICE_NEEDS_RESET" : "did not complete in time");
	if (done.token >= SND_PERIODS)
		fail("snd: queue %u gave back token %lu", q->index, done.token);
	const struct snd_pcm_status *st = s->slots[done.token].status;
	if (st->status != want_status || done.len != want_len)
		fail("snd: a transfer on queue %u: status 0x%x (%s) used length %u, expected %s and %u", q->index,
		     st->status, status_name(st->status), done.len, status_name(want_status), want_len);
	if (st->latency_bytes > SND_BUFFER_BYTES)
		fail("snd: latency_bytes %u with a %u-byte buffer", st->latency_bytes, SND_BUFFER_BYTES);
	return (unsigned)done.token;
}

/* An info request for `count` items of `size` bytes from 0; the items are at s->resp + 4. */
static void query(struct snd *s, const char *what, u32 code, u32 count, u32 size)
{
	struct snd_query_info q = { code, 0, count, size };
	snd_expect(what, snd_control(s, &q, sizeof(q), 4 + count * size), SND_S_OK);
}

static void jacks(struct snd *s, u32 n)
{
	if (n == 0)
		return;
	query(s, "jack-info", SND_R_JACK_INFO, n, sizeof(struct snd_jack_info));
	for (u32 i = 0; i < n; i++) {
		const struct snd_jack_info *j = (const struct snd_jack_info *)(s->resp + 4) + i;
		data("jack id=%u defconf=0x%08x caps=0x%x connected=%u features=0x%x", i, j->hda_reg_defconf,
		     j->hda_reg_caps, j->connected, j->features);
	}
}

/* PCM_INFO of every stream; returns the output stream (there must be exactly one). */
static u32 streams(struct snd *s)
{
	query(s, "pcm-info", SND_R_PCM_INFO, s->streams, sizeof(struct snd_pcm_info));
	memcpy(s->pcm, s->resp + 4, s->streams * sizeof(struct snd_pcm_info));
	u32 outputs = 0, output = 0;
	for (u32 i = 0; i < s->streams; i++) {
		const struct snd_pcm_info *p = &s->pcm[i];
		data("pcm id=%u direction=%s formats=0x%lx rates=0x%lx channels_min=%u channels_max=%u features=0x%x", i,
		     p->direction == SND_D_OUTPUT ? "output" : "input", p->formats, p->rates, p->channels_min,
		     p->channels_max, p->features);
		if (p->direction == SND_D_OUTPUT) {
			outputs++;
			output = i;
		}
	}
	if (outputs != 1)
		fail("snd: %u output streams, expected one", outputs);
	return output;
}

/* Whether stream i takes what this test sends: S16_LE, 48 kHz, two channels. */
static bool takes_test_format(const struct snd_pcm_info *p)
{
	return (p->formats >> SND_FMT_S16 & 1) && (p->rates >> SND_RATE_48000 & 1) && p->channels_min <= SND_CHANNELS &&
	       p->channels_max >= SND_CHANNELS;
}

static void chmaps(struct snd *s, u32 n)
{
	if (n == 0)
		return;
	query(s, "chmap-info", SND_R_CHMAP_INFO, n, sizeof(struct snd_chmap_info));
	for (u32 i = 0; i < n; i++) {
		const struct snd_chmap_info *c = (const struct snd_chmap_info *)(s->resp + 4) + i;
		if (c->channels > sizeof(c->positions))
			fail("snd: chmap %u has %u channels", i, c->channels);
		/* Up to 18 positions of up to three digits, each after a comma but the first. */
		char positions[18 * 4];
		size_t at = 0;
		positions[0] = 0;
		for (u8 k = 0; k < c->channels; k++)
			at += format(positions + at, sizeof(positions) - at, k ? ",%u" : "%u", c->positions[k]);
		data("chmap id=%u direction=%s channels=%u positions=%s", i,
		     c->direction == SND_D_OUTPUT ? "output" : "input", c->channels, c->channels ? positions : "none");
	}
}

/* What a device must refuse on the playback stream before it plays; it ends with the stream set up and prepared. */
static void refusals(struct snd *s, u32 out)
{
	snd_expect("prepare-before-set-params", snd_pcm_command(s, SND_R_PCM_PREPARE, out), SND_S_BAD_MSG);
	snd_expect("rate-8000", snd_set_params(s, out, SND_BUFFER_BYTES, SND_PERIOD_BYTES, SND_RATE_8000),
		   SND_S_NOT_SUPP);
	snd_expect("period-not-dividing-buffer",
		   snd_set_params(s, out, SND_BUFFER_BYTES, SND_PERIOD_BYTES * 3, SND_RATE_48000), SND_S_BAD_MSG);
	snd_expect("no-such-stream", snd_set_params(s, s->streams + 7, SND_BUFFER_BYTES, SND_PERIOD_BYTES, SND_RATE_48000),
		   SND_S_BAD_MSG);
	struct snd_query_info past = { SND_R_PCM_INFO, s->streams, 1, sizeof(struct snd_pcm_info) };
	snd_expect("pcm-info-past-streams", snd_control(s, &past, sizeof(past), 4 + sizeof(struct snd_pcm_info)),
		   SND_S_BAD_MSG);
	u32 unknown = 0x0fff;
	snd_expect("unknown-code", snd_control(s, &unknown, sizeof(unknown), 4), SND_S_NOT_SUPP);
	snd_expect("set-params", snd_set_params(s, out, SND_BUFFER_BYTES, SND_PERIOD_BYTES, SND_RATE_48000), SND_S_OK);
	snd_expect("start-before-prepare", snd_pcm_command(s, SND_R_PCM_START, out), SND_S_BAD_MSG);
	/* A transfer before PREPARE is answered at once, nothing played. */
	snd_post(s, s->txq, out, 0, false);
	virtq_kick(s->txq);
	snd_reap(s, s->txq, SND_S_BAD_MSG, sizeof(struct snd_pcm_status));
	data("refused=transfer-before-prepare status=BAD_MSG");
	snd_expect("prepare", snd_pcm_command(s, SND_R_PCM_PREPARE, out), SND_S_OK);
	data("refusals=8");
}

static void open_device(struct snd *s)
{
	virtio_open(&s->dev, VIRTIO_ID_SOUND, 0, &(struct virtio_setup){ .queue_sizes = { 16, 16, 16, 16 } });
	s->controlq = &s->dev.queues[SND_CONTROLQ];
	s->txq = &s->dev.queues[SND_TXQ];
	s->rxq = &s->dev.queues[SND_RXQ];
	s->req = alloc(REQ_BYTES, 64);
	s->resp = alloc(REQ_BYTES, 64);
	/* Buffers for the device's events (jack and period notifications), as a driver keeps them posted. */
	u8 *events = alloc(EVENT_BUFFERS * EVENT_BYTES, 64);
	for (unsigned i = 0; i < EVENT_BUFFERS; i++)
		if (virtq_post_buf(&s->dev.queues[SND_EVENTQ], events + i * EVENT_BYTES, EVENT_BYTES, true, i) < 0)
			fail("snd: the event queue is full");
	virtq_kick(&s->dev.queues[SND_EVENTQ]);
	for (unsigned i = 0; i < SND_PERIODS; i++) {
		s->slots[i].xfer = alloc(sizeof(u32), 16);
		s->slots[i].frames = alloc(SND_PERIOD_BYTES, 64);
		s->slots[i].status = alloc(sizeof(struct snd_pcm_status), 16);
	}
}

void test_snd(void)
{
	struct snd s = { 0 };
	open_device(&s);
	u32 njacks = virtio_config32(&s.dev, 0);
	s.streams = virtio_config32(&s.dev, 4);
	u32 nchmaps = virtio_config32(&s.dev, 8);
	data("config jacks=%u streams=%u chmaps=%u features=0x%lx tsc_khz=%lu tsc_source=%s", njacks, s.streams, nchmaps,
	     s.dev.features, tsc_khz(), tsc_source());
	if (njacks > MAX_JACKS || s.streams == 0 || s.streams > SND_MAX_STREAMS || nchmaps > MAX_CHMAPS)
		fail("snd: %u jacks, %u streams, %u chmaps is more than this test reads (or no stream)", njacks, s.streams,
		     nchmaps);
	jacks(&s, njacks);
	u32 out = streams(&s);
	chmaps(&s, nchmaps);
	if (!takes_test_format(&s.pcm[out]))
		fail("snd: the output stream does not offer S16_LE at 48000 Hz with %u channels", SND_CHANNELS);
	refusals(&s, out);
	snd_play(&s, out);
	for (u32 i = 0; i < s.streams; i++) {
		if (s.pcm[i].direction != SND_D_INPUT)
			continue;
		if (!takes_test_format(&s.pcm[i]))
			fail("snd: input stream %u does not offer S16_LE at 48000 Hz with %u channels", i, SND_CHANNELS);
		snd_capture(&s, i);
		break;
	}
}
