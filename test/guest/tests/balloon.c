/*
 * test=balloon: a virtio-balloon driver that follows num_pages, polled (the host may change it at any time).
 * A round: wait for a target, inflate to it (pages from the allocator, each filled with a pattern first so it is
 * resident, then handed over as PFN arrays spread over several descriptors, a few requests in flight), write
 * `actual`, follow the target as it moves, and end when the balloon is empty again. Every deflated page must read
 * back as zeroes: the guest's own proof that the host released what was inflated.
 *   balloon_rounds=N     rounds before the test passes (default 1)
 *   balloon_wait_ms=N    how long the target may stay put while the balloon waits for it to move (default 60000)
 *   balloon_bad=1        PFNs that are not RAM (the page at the end of RAM, the device's own window, the highest
 *                        PFN) ride along in the first inflate request, and one in the first deflate request
 *   balloon_stats=0      do not negotiate the statistics queue
 *   balloon_expect_zero=0  accept deflated pages that still hold their pattern (a host that keeps them)
 * With the statistics queue, a buffer stays posted and is refilled whenever the device hands it back.
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio.h"

#define INFLATEQ 0
#define DEFLATEQ 1
#define STATSQ 2
#define BALLOON_F_STATS_VQ (1ull << 1)
#define CONFIG_NUM_PAGES 0
#define CONFIG_ACTUAL 4

#define PAGE 4096
#define PFNS_PER_REQUEST 256
#define BAD_MAX 3
/* A list holds at most 256 PFNs, as Linux sends them; the device ignores the rest of a longer one. */
#define SLOT_PFNS PFNS_PER_REQUEST
#define IN_FLIGHT 4
#define DESCS_PER_REQUEST 3
#define POLL_MS 1

/* Statistics tags (virtio 1.2, 5.5.6.3). */
enum {
	STAT_SWAP_IN, STAT_SWAP_OUT, STAT_MAJFLT, STAT_MINFLT, STAT_MEMFREE, STAT_MEMTOT, STAT_AVAIL, STAT_COUNT
};

struct balloon_stat {
	u16 tag;
	u64 value;
} __attribute__((packed));

struct balloon {
	struct virtio_dev dev;
	struct virtq *q[2];
	struct virtq *stats;
	struct balloon_stat *stat_buf;
	/* The PFN of every page taken from the allocator for the balloon; pages[0, actual) are in it. */
	u32 *pages;
	u32 owned;
	u32 cap;
	u32 actual;
	/* IN_FLIGHT page lists of SLOT_PFNS each. */
	u32 *slots;
	u64 nonce;
	bool bad_pending[2];
	bool expect_zero;
	/* What the data line reports. */
	u32 max_actual;
	u64 inflated, deflated, zero_pages, kept_pages, requests, descriptors, bad_pfns, target_changes, stats_posts;
};

static u32 read_target(struct balloon *b)
{
	return virtio_config32_stable(&b->dev, CONFIG_NUM_PAGES);
}

static u64 *page_words(u32 pfn)
{
	return (u64 *)((u64)pfn * PAGE);
}

static u64 pattern_word(struct balloon *b, u32 pfn, unsigned i)
{
	return ((u64)pfn * 0x9e3779b97f4a7c15ull ^ b->nonce) + i * 0xbf58476d1ce4e5b9ull + 1;
}

static void fill_page(struct balloon *b, u32 pfn)
{
	u64 *w = page_words(pfn);
	for (unsigned i = 0; i < PAGE / 8; i++)
		w[i] = pattern_word(b, pfn, i);
}

/* A page back from the balloon: zeroes if the host released it, the pattern if it kept it, else corruption. */
static void check_page(struct balloon *b, u32 pfn)
{
	const u64 *w = page_words(pfn);
	bool zero = true, pattern = true;
	for (unsigned i = 0; i < PAGE / 8; i++) {
		zero &= w[i] == 0;
		pattern &= w[i] == pattern_word(b, pfn, i);
	}
	if (zero)
		b->zero_pages++;
	else if (pattern && !b->expect_zero)
		b->kept_pages++;
	else
		fail("balloon: page 0x%x came back holding %s", pfn,
		     pattern ? "what was written before inflating it (not released)" : "neither zeroes nor its pattern");
}

/* The balloon's page at `index`, taken from the allocator the first time. */
static u32 page_at(struct balloon *b, u32 index)
{
	if (index < b->owned)
		return b->pages[index];
	if (b->owned == b->cap)
		fail("balloon: the target needs more than the %u pages this guest can give", b->cap);
	b->pages[b->owned] = (u32)((u64)alloc(PAGE, PAGE) / PAGE);
	return b->pages[b->owned++];
}

/* Appends the PFNs that are not RAM, once per queue, when balloon_bad=1 asks for them. */
static unsigned add_bad(struct balloon *b, unsigned which, u32 *out)
{
	if (!b->bad_pending[which])
		return 0;
	b->bad_pending[which] = false;
	u64 candidates[BAD_MAX] = { memory_ram_end() / PAGE, b->dev.win.base / PAGE, 0xffffffffull };
	unsigned wanted = which == INFLATEQ ? BAD_MAX : 1, n = 0;
	for (unsigned i = 0; i < wanted; i++) {
		if (!memory_is_ram(candidates[i] * PAGE, PAGE))
			out[n++] = (u32)candidates[i];
	}
	b->bad_pfns += n;
	return n;
}

/* n PFNs on the queue in up to DESCS_PER_REQUEST descriptors; every other request cuts them inside a PFN. */
static void post_pfns(struct balloon *b, unsigned which, unsigned slot, unsigned n)
{
	u8 *bytes = (u8 *)(b->slots + slot * SLOT_PFNS);
	u32 shift = (b->requests & 1) && n >= DESCS_PER_REQUEST ? 2 : 0;
	struct vbuf bufs[DESCS_PER_REQUEST];
	unsigned nbufs = 0;
	u32 at = 0;
	for (unsigned i = 1; i <= DESCS_PER_REQUEST; i++) {
		u32 end = i == DESCS_PER_REQUEST ? n * 4 : n * i / DESCS_PER_REQUEST * 4 + shift;
		if (end > at)
			bufs[nbufs++] = (struct vbuf){ bytes + at, end - at, false };
		at = end > at ? end : at;
	}
	if (virtq_post(b->q[which], bufs, nbufs, slot, 0) < 0)
		fail("balloon: queue %u full", which);
	b->requests++;
	b->descriptors += nbufs;
}

static void wait_used(struct balloon *b, unsigned which, unsigned count)
{
	struct virtq_done done;
	for (unsigned i = 0; i < count; i++) {
		enum virtq_outcome o = virtq_wait_or_reset_default(b->q[which], &done);
		if (o == VIRTQ_NEEDS_RESET)
			fail("balloon: the device needs a reset after %s requests", which == INFLATEQ ? "inflate" : "deflate");
		if (o == VIRTQ_TIMEOUT)
			fail("balloon: %u of %u %s requests answered", i, count, which == INFLATEQ ? "inflate" : "deflate");
	}
}

/*
 * Up to IN_FLIGHT requests toward the target under one notify. Inflating takes pages from the top of the balloon's
 * page list, filled first; deflating gives back the top ones, which are touched only once the device answered.
 */
static void step(struct balloon *b, u32 target)
{
	bool inflate = target > b->actual;
	unsigned which = inflate ? INFLATEQ : DEFLATEQ;
	u32 want = inflate ? target - b->actual : b->actual - target, moved = 0;
	unsigned slot = 0;
	for (; slot < IN_FLIGHT && moved < want; slot++) {
		u32 *pfns = b->slots + slot * SLOT_PFNS;
		/* The bad PFNs share the list's 256 entries with the real ones. */
		u32 room = PFNS_PER_REQUEST - (b->bad_pending[which] ? BAD_MAX : 0);
		u32 n = want - moved < room ? want - moved : room;
		for (u32 i = 0; i < n; i++) {
			u32 pfn = page_at(b, inflate ? b->actual + moved + i : b->actual - moved - i - 1);
			if (inflate)
				fill_page(b, pfn);
			pfns[i] = pfn;
		}
		post_pfns(b, which, slot, n + add_bad(b, which, pfns + n));
		moved += n;
	}
	virtq_kick(b->q[which]);
	wait_used(b, which, slot);
	if (inflate) {
		b->actual += moved;
		b->inflated += moved;
	} else {
		b->actual -= moved;
		b->deflated += moved;
		for (u32 i = 0; i < moved; i++)
			check_page(b, b->pages[b->actual + i]);
	}
	virtio_config_write32(&b->dev, CONFIG_ACTUAL, b->actual);
	if (b->actual > b->max_actual)
		b->max_actual = b->actual;
}

static void post_stats(struct balloon *b)
{
	static const u16 tags[STAT_COUNT] = { STAT_SWAP_IN, STAT_SWAP_OUT, STAT_MAJFLT, STAT_MINFLT, STAT_MEMFREE,
					      STAT_MEMTOT, STAT_AVAIL };
	u64 free = memory_free();
	u64 values[STAT_COUNT] = { 0, 0, 0, 0, free, memory_ram_total(), free + (u64)(b->owned - b->actual) * PAGE };
	for (unsigned i = 0; i < STAT_COUNT; i++)
		b->stat_buf[i] = (struct balloon_stat){ tags[i], values[i] };
	if (virtq_post_buf(b->stats, b->stat_buf, sizeof(struct balloon_stat) * STAT_COUNT, false, 0) < 0)
		fail("balloon: the statistics queue is full");
	virtq_kick(b->stats);
	b->stats_posts++;
}

/* The device hands the statistics buffer back when it wants fresh figures. */
static void answer_stats(struct balloon *b)
{
	struct virtq_done done;
	while (b->stats && virtq_get(b->stats, &done))
		post_stats(b);
}

/* Polls until num_pages differs from the balloon's size, answering statistics requests meanwhile. */
static u32 wait_for_target(struct balloon *b, u64 wait_ms)
{
	u64 deadline = deadline_ms(wait_ms);
	for (;;) {
		answer_stats(b);
		u32 target = read_target(b);
		if (target != b->actual)
			return target;
		if (virtio_needs_reset(&b->dev))
			fail("balloon: the device needs a reset while the balloon holds %u pages", b->actual);
		if (deadline_passed(deadline))
			fail("balloon: the target stayed at %u pages for %lu ms", target, wait_ms);
		spin_ms(POLL_MS);
	}
}

static void setup(struct balloon *b)
{
	const char *why;
	u64 wanted = cmdline_number("balloon_stats", 1) ? BALLOON_F_STATS_VQ | VIRTIO_F_EVENT_IDX : VIRTIO_F_EVENT_IDX;
	virtio_open(&b->dev, VIRTIO_ID_BALLOON, 0,
		    &(struct virtio_setup){ .wanted = wanted, .queue_sizes = { [INFLATEQ] = 64, [DEFLATEQ] = 64 },
					    .defer_driver_ok = true });
	b->q[INFLATEQ] = &b->dev.queues[INFLATEQ];
	b->q[DEFLATEQ] = &b->dev.queues[DEFLATEQ];
	b->slots = alloc(sizeof(u32) * SLOT_PFNS * IN_FLIGHT, PAGE);
	if (b->dev.features & BALLOON_F_STATS_VQ) {
		if (!(b->stats = virtq_setup(&b->dev, STATSQ, 1, &why)))
			fail("%s", why);
		b->stat_buf = alloc(sizeof(struct balloon_stat) * STAT_COUNT, 16);
		/* Like Linux, the first figures go out before DRIVER_OK. */
		post_stats(b);
	}
	virtio_driver_ok(&b->dev);
	/* Each balloon page costs its 4 KiB and its entry in the page list; keep a little for the rest. */
	u64 free = memory_free();
	b->cap = free > 64 * PAGE ? (u32)((free - 64 * PAGE) / (PAGE + sizeof(u32))) : 0;
	b->pages = alloc(sizeof(u32) * b->cap, PAGE);
	b->nonce = rdtsc();
	b->expect_zero = cmdline_number("balloon_expect_zero", 1) != 0;
	b->bad_pending[INFLATEQ] = b->bad_pending[DEFLATEQ] = cmdline_flag("balloon_bad");
}

void test_balloon(void)
{
	static struct balloon b;
	u64 rounds = cmdline_number("balloon_rounds", 1);
	u64 wait_ms = cmdline_number("balloon_wait_ms", 60000);
	setup(&b);
	u32 target = read_target(&b), last_target = target;
	say("balloon: ready, %u pages can go, target %u pages", b.cap, target);
	bool grew = false;
	for (u64 done = 0; done < rounds;) {
		if (target == b.actual)
			target = wait_for_target(&b, wait_ms);
		/* Every target the balloon moved toward, after the first it read (the configured one, or 0). */
		b.target_changes += target != last_target;
		last_target = target;
		grew |= target > b.actual;
		step(&b, target);
		answer_stats(&b);
		if (grew && b.actual == 0) {
			done++;
			grew = false;
		}
		target = read_target(&b);
		if (target == b.actual)
			say("balloon: holding %u pages", b.actual);
	}
	data("max_actual=%u inflated=%lu deflated=%lu zero_pages=%lu kept_pages=%lu requests=%lu descriptors=%lu "
	     "bad_pfns=%lu target_changes=%lu stats_posts=%lu mem_total=%lu",
	     b.max_actual, b.inflated, b.deflated, b.zero_pages, b.kept_pages, b.requests, b.descriptors, b.bad_pfns,
	     b.target_changes, b.stats_posts, memory_ram_total());
}
