/*
 * test=snd's PCM transfers, S16_LE stereo at 48 kHz in 10 ms periods with four in flight. Playback: a 440 Hz tone
 * (left channel; the right one is its negation), the first buffer queued ahead of START as a driver primes its
 * ring, timed by the TSC from START to the last completion: a device that paces playback cannot finish snd_ms of
 * audio much sooner than snd_ms. Capture: periods posted filled with 0xee, which must come back as the device's
 * frames (all zeros from a silent source), likewise paced.
 */
#include "snd.h"
#include "../guest.h"

#define TONE_HZ 440
#define AMPLITUDE 16384
#define PERIOD_MS 10
/* How much sooner than the audio's own length the last completion may come: the clocks' granularity. */
#define PACING_SLACK_PERCENT 10

/*
 * A sine without libm: sin(pi * t) for t in [0, 1) as Bhaskara I's 16 t(1 - t) / (5 - 4 t(1 - t)), within 0.2% of
 * full scale. `phase` is a fraction of a whole turn out of 2^32; its top bit picks the negative half.
 */
static int tone_sample(u32 phase)
{
	u64 t = (phase & 0x7fffffffu) >> 15; /* within the half turn, out of 2^16 */
	u64 u = t * (65536 - t);             /* t(1 - t), out of 2^32 */
	int v = (int)(16 * u * AMPLITUDE / ((5ull << 32) - 4 * u));
	return phase >> 31 ? -v : v;
}

struct tone {
	u32 phase;
	/* 440 / 48000 of a turn, out of 2^32: the phase accumulator carries the fraction 48000 / 440 leaves. */
	u32 step;
	u64 hash;
	u64 frames;
};

static void tone_fill(struct tone *t, u8 *frames)
{
	u16 *out = (u16 *)frames;
	for (u32 i = 0; i < SND_PERIOD_FRAMES; i++) {
		int v = tone_sample(t->phase);
		out[2 * i] = (u16)v;
		out[2 * i + 1] = (u16)-v;
		t->phase += t->step;
	}
	t->hash = fnv1a(t->hash, frames, SND_PERIOD_BYTES);
	t->frames += SND_PERIOD_FRAMES;
}

static void check_paced(const char *what, u64 periods, u64 us)
{
	u64 audio_us = periods * PERIOD_MS * 1000;
	if (us * 100 < audio_us * (100 - PACING_SLACK_PERCENT))
		fail("snd: %lu ms of %s done in %lu ms: the device does not pace it", audio_us / 1000, what, us / 1000);
}

void snd_play(struct snd *s, u32 stream)
{
	u64 periods = cmdline_number("snd_ms", 500) / PERIOD_MS;
	if (periods < SND_PERIODS)
		fail("snd: snd_ms must be at least %u", SND_PERIODS * PERIOD_MS);
	struct tone t = { 0, (u32)(((u64)TONE_HZ << 32) / SND_HZ), FNV1A_INIT, 0 };
	u64 sent = 0;
	for (; sent < SND_PERIODS; sent++) {
		tone_fill(&t, s->slots[sent].frames);
		snd_post(s, s->txq, stream, (unsigned)sent, false);
	}
	virtq_kick(s->txq);
	u64 start = rdtsc();
	snd_expect("start", snd_pcm_command(s, SND_R_PCM_START, stream), SND_S_OK);
	u64 first = 0;
	for (u64 done = 0; done < periods; done++) {
		unsigned slot = snd_reap(s, s->txq, SND_S_OK, sizeof(struct snd_pcm_status));
		if (done == 0)
			first = rdtsc();
		if (sent < periods) {
			tone_fill(&t, s->slots[slot].frames);
			snd_post(s, s->txq, stream, slot, false);
			virtq_kick(s->txq);
			sent++;
		}
	}
	u64 us = tsc_to_us(rdtsc() - start);
	u64 first_us = tsc_to_us(first - start);
	snd_expect("stop", snd_pcm_command(s, SND_R_PCM_STOP, stream), SND_S_OK);
	snd_expect("release", snd_pcm_command(s, SND_R_PCM_RELEASE, stream), SND_S_OK);
	data("playback stream=%u frames=%lu bytes=%lu periods=%lu audio_ms=%lu elapsed_ms=%lu first_ms=%lu fnv1a=0x%016lx",
	     stream, t.frames, t.frames * SND_FRAME_BYTES, periods, periods * PERIOD_MS, us / 1000, first_us / 1000,
	     t.hash);
	check_paced("playback", periods, us);
	/* The first period plays for 10 ms from START; half that is the clocks' granularity at most. */
	if (first_us * 2 < PERIOD_MS * 1000)
		fail("snd: the first 10 ms period completed %lu us after START", first_us);
}

void snd_capture(struct snd *s, u32 stream)
{
	u64 periods = cmdline_number("snd_capture_ms", 100) / PERIOD_MS;
	char mode[16];
	const char *given = cmdline_get("snd_capture", mode, sizeof(mode));
	bool silence = given == NULL || str_eq(given, "silence");
	if (periods == 0)
		fail("snd: snd_capture_ms must be at least %u", PERIOD_MS);
	snd_setup_stream(s, stream);
	u64 posted = 0;
	for (; posted < SND_PERIODS && posted < periods; posted++) {
		memset(s->slots[posted].frames, 0xee, SND_PERIOD_BYTES);
		snd_post(s, s->rxq, stream, (unsigned)posted, true);
	}
	virtq_kick(s->rxq);
	u64 start = rdtsc();
	snd_expect("start", snd_pcm_command(s, SND_R_PCM_START, stream), SND_S_OK);
	u64 hash = FNV1A_INIT, nonzero = 0;
	for (u64 done = 0; done < periods; done++) {
		unsigned slot = snd_reap(s, s->rxq, SND_S_OK, SND_PERIOD_BYTES + sizeof(struct snd_pcm_status));
		const u8 *f = s->slots[slot].frames;
		hash = fnv1a(hash, f, SND_PERIOD_BYTES);
		for (u32 i = 0; i < SND_PERIOD_BYTES; i++)
			nonzero += f[i] != 0;
		if (posted < periods) {
			memset(s->slots[slot].frames, 0xee, SND_PERIOD_BYTES);
			snd_post(s, s->rxq, stream, slot, true);
			virtq_kick(s->rxq);
			posted++;
		}
	}
	u64 us = tsc_to_us(rdtsc() - start);
	snd_expect("stop", snd_pcm_command(s, SND_R_PCM_STOP, stream), SND_S_OK);
	snd_expect("release", snd_pcm_command(s, SND_R_PCM_RELEASE, stream), SND_S_OK);
	data("capture stream=%u frames=%lu bytes=%lu elapsed_ms=%lu nonzero=%lu fnv1a=0x%016lx", stream,
	     periods * SND_PERIOD_FRAMES, periods * SND_PERIOD_BYTES, us / 1000, nonzero, hash);
	if (silence && nonzero)
		fail("snd: %lu of %lu captured bytes are not zero from a silent source", nonzero, periods * SND_PERIOD_BYTES);
	check_paced("capture", periods, us);
}
