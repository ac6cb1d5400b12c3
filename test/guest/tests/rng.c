/*
 * test=rng: reads rng_bytes (default 64K) from virtio-rng in rng_chunk-byte requests (default 4K, up to 8 in
 * flight) and checks the bytes are not constant and have about as many one bits as zero bits.
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio.h"

#define IN_FLIGHT 8
#define MIN_BYTES_FOR_BIT_CHECK 1024
#define MAX_EMPTY_ANSWERS 1000

struct rng_run {
	struct virtq *q;
	u8 *buffers;
	u32 chunk;
	u64 wanted;
	unsigned in_flight;
	u64 got;
	u64 requests;
	u64 ones;
	u8 first;
	bool varies;
	unsigned empty;
};

static void post(struct rng_run *r, unsigned slot)
{
	if (virtq_post_buf(r->q, r->buffers + (u64)slot * r->chunk, r->chunk, true, slot) < 0)
		fail("rng: queue full");
	r->in_flight++;
}

static void take(struct rng_run *r, const struct virtq_done *done)
{
	if (done->len > r->chunk)
		fail("rng: the device claims %u bytes written into a %u-byte buffer", done->len, r->chunk);
	const u8 *p = r->buffers + done->token * r->chunk;
	u32 n = done->len;
	r->in_flight--;
	if (n > r->wanted - r->got)
		n = (u32)(r->wanted - r->got);
	if (r->got == 0 && n)
		r->first = p[0];
	for (u32 i = 0; i < n; i++) {
		r->varies |= p[i] != r->first;
		r->ones += (u64)bit_count8(p[i]);
	}
	r->got += n;
	r->requests++;
}

void test_rng(void)
{
	struct virtio_dev dev;
	struct rng_run r = { 0 };
	r.wanted = cmdline_number("rng_bytes", 65536);
	r.chunk = (u32)cmdline_number("rng_chunk", 4096);
	if (r.wanted == 0 || r.chunk == 0)
		fail("rng_bytes and rng_chunk must not be 0");
	virtio_open(&dev, VIRTIO_ID_RNG, 0,
		    &(struct virtio_setup){ .wanted = VIRTIO_F_EVENT_IDX, .queue_sizes = { 64 } });
	r.q = &dev.queues[0];
	r.buffers = alloc((u64)r.chunk * IN_FLIGHT, 4096);
	u64 start = rdtsc();
	for (unsigned slot = 0; slot < IN_FLIGHT && (u64)slot * r.chunk < r.wanted; slot++)
		post(&r, slot);
	virtq_kick(r.q);
	struct virtq_done done;
	while (r.got < r.wanted) {
		if (!virtq_wait_default(r.q, &done))
			fail("rng: no answer after %lu of %lu bytes", r.got, r.wanted);
		take(&r, &done);
		if (done.len == 0 && ++r.empty > MAX_EMPTY_ANSWERS)
			fail("rng: %u empty answers in a row after %lu bytes", r.empty, r.got);
		if (done.len)
			r.empty = 0;
		/* Another request while what is in flight cannot cover the rest. */
		if (r.got + (u64)r.in_flight * r.chunk < r.wanted) {
			post(&r, (unsigned)done.token);
			virtq_kick(r.q);
		}
	}
	u64 us = tsc_to_us(rdtsc() - start);
	data("bytes=%lu requests=%lu us=%lu kbps=%lu", r.got, r.requests, us, us ? r.got * 1000 / us : 0);
	if (r.got > 1 && !r.varies)
		fail("rng: %lu bytes, all 0x%02x", r.got, r.first);
	/* Fair bits: about half are ones (a generous window; 64K bytes land well inside it). */
	if (r.got >= MIN_BYTES_FOR_BIT_CHECK && (r.ones * 100 < r.got * 8 * 45 || r.ones * 100 > r.got * 8 * 55))
		fail("rng: %lu one bits in %lu bits", r.ones, r.got * 8);
}
