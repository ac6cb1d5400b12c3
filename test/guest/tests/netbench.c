/*
 * test=netbench: virtio-net throughput against the host on a tap, timed with the guest's TSC (addresses and
 * device options as for test=net: see net-peer.h). After resolving the host's MAC by ARP it runs, in this order:
 *   tx  UDP datagrams to net_host:bench_port, as fast as the device takes them back (nobody need listen: the
 *       host drops them, answering a few with ICMP port unreachable, which the guest takes and counts as other)
 *   rx  UDP datagrams to net_ip:bench_port from a sender on the host; the guest prints a `ready=rx` line when it
 *       waits for them (its buffers were posted long before) and fails if none comes within timeout_ms
 * Cmdline:
 *   bench_ops=tx,rx   which to run (default both)
 *   bench_ms=2000     how long each runs (rx: from the first datagram)
 *   bench_count=N     stop after N frames instead (0: use bench_ms)
 *   bench_size=1472   tx UDP payload bytes (0 to 1472); a comma-separated list runs tx once per size
 *   bench_port=9      the UDP port: the tx destination, and what rx counts
 *   bench_batch=32    tx frames made available per notify
 * Lines (bytes are Ethernet frame bytes without the virtio-net header; gbps = bytes * 8 / us / 1000):
 *   TSVMM-DATA: netbench mac=52:54:00:12:34:56 features=0x... mrg=1 rxbuf=2048 rxbufs=128 tsc_khz=... tsc_source=...
 *   TSVMM-DATA: netbench op=tx frame=1514 payload=1472 frames=N bytes=B us=U fps=F gbps=G.GGG
 *   TSVMM-DATA: netbench ready=rx ip=10.0.0.2 port=9 mac=52:54:00:12:34:56
 *   TSVMM-DATA: netbench op=rx frame=1514 frames=N bytes=B us=U fps=F gbps=G.GGG lost=L other=O
 *   TSVMM-DATA: netbench drained=D late=0 tx_frames= tx_bytes= rx_frames= rx_bytes=
 * tx: us runs from the first frame made available until the device has taken back the last. rx: frame= is the
 * mean size; us runs from the first datagram's arrival to the last's, and fps and gbps count the frames after the
 * first over it. lost: datagrams between the first and last seen whose sequence number (the first 8 payload bytes,
 * little-endian, counted up by the sender; tx frames carry one too) never arrived. At the end the device is reset
 * (drained, late as for test=net; the test fails unless late=0); the last line's totals count every frame
 * either way, the benchmarks' and the others.
 */
#include "../guest.h"
#include "../memory.h"
#include "../net-peer.h"

#define SETTLE_MS 50
#define DRAIN_PER_CALL 32
#define UDP_FRAME_HLEN (ETH_HLEN + IPV4_HLEN + UDP_HLEN)
#define MAX_PAYLOAD (IP_MTU - IPV4_HLEN - UDP_HLEN)
#define SEQ_BYTES 8

struct bench {
	struct net_peer *p;
	u64 ms;
	u64 limit;
	u16 port;
	u16 batch;
	u8 *frame;
};

/* Frames from the host while sending (ARP requests, ICMP errors): handled without waiting. */
static void drain_rx(struct bench *b)
{
	struct net_frame f;
	struct inet_frame in;
	for (unsigned i = 0; i < DRAIN_PER_CALL && net_recv(&b->p->n, rdtsc(), &f); i++) {
		net_peer_parse(&f, &in);
		net_peer_other(b->p, &in);
	}
}

/* The rates count rate_frames and rate_bytes over us; the totals are frames and bytes. */
static void report(const char *op, u64 frames, u64 bytes, u64 us, u64 rate_frames, u64 rate_bytes,
		   const char *extra)
{
	u64 mbps = us ? rate_bytes * 8 / us : 0;
	data("op=%s frame=%lu frames=%lu bytes=%lu us=%lu fps=%lu gbps=%lu.%03lu%s", op, frames ? bytes / frames : 0,
	     frames, bytes, us, us ? rate_frames * 1000000 / us : 0, mbps / 1000, mbps % 1000, extra);
}

static u32 build_udp(struct bench *b, u32 payload)
{
	struct net_peer *p = b->p;
	u8 *udp = ipv4_header(eth_header(b->frame, p->host_mac, p->n.mac, ETH_P_IP), IPPROTO_UDP, p->ip, p->host,
			      (u16)(UDP_HLEN + payload), 0);
	u8 *data_at = udp_header(udp, b->port, b->port, (u16)payload);
	for (u32 i = 0; i < payload; i++)
		data_at[i] = (u8)(i * 13u + 5u);
	return UDP_FRAME_HLEN + payload;
}

static void wait_for_slot(struct bench *b)
{
	u64 deadline = deadline_ms(virtio_timeout_ms());
	while (net_tx_reap(&b->p->n) == 0) {
		if (deadline_passed(deadline))
			fail("netbench tx: the device took no frame back for %lu ms", virtio_timeout_ms());
		drain_rx(b);
		cpu_relax();
	}
}

static void run_tx(struct bench *b, u32 payload)
{
	struct net *n = &b->p->n;
	u32 len = build_udp(b, payload);
	u64 seq = 0, pending = 0;
	u64 start = rdtsc(), end = deadline_ms(b->ms);
	for (;;) {
		bool go = b->limit ? seq < b->limit : !deadline_passed(end);
		u16 slot;
		u8 *at = go ? net_tx_slot(n, rdtsc(), &slot) : NULL;
		if (at) {
			memcpy(at, b->frame, len);
			if (payload >= SEQ_BYTES)
				memcpy(at + UDP_FRAME_HLEN, &seq, SEQ_BYTES);
			net_tx_post(n, slot, len, false);
			seq++;
			if (++pending < b->batch)
				continue;
		}
		if (pending) {
			net_tx_kick(n);
			pending = 0;
			drain_rx(b);
		}
		if (!go)
			break;
		if (!at)
			wait_for_slot(b);
	}
	if (!net_tx_flush(n, deadline_ms(virtio_timeout_ms())))
		fail("netbench tx: the device did not take back every frame");
	u64 us = tsc_to_us(rdtsc() - start);
	char extra[32];
	format(extra, sizeof(extra), " payload=%u", payload);
	/* Every frame posted was taken back; the ARP answers sent meanwhile are not the benchmark's. */
	report("tx", seq, seq * len, us, seq, seq * len, extra);
}

static bool is_bench_datagram(struct bench *b, const struct inet_frame *in)
{
	return in->type == ETH_P_IP && in->ip_proto == IPPROTO_UDP && in->ip_dst == b->p->ip && in->l4_len >= UDP_HLEN &&
	       get16(in->l4 + 2) == b->port;
}

struct rx_tally {
	u64 frames;
	u64 bytes;
	u64 first_bytes;
	u64 first_tsc;
	u64 last_tsc;
	u64 numbered;
	u64 min_seq;
	u64 max_seq;
};

static void tally(struct rx_tally *t, const struct net_frame *f, const struct inet_frame *in, u64 now)
{
	if (t->frames++ == 0) {
		t->first_tsc = now;
		t->first_bytes = f->len;
		t->min_seq = ~0ull;
	}
	t->last_tsc = now;
	t->bytes += f->len;
	if (in->l4_len >= UDP_HLEN + SEQ_BYTES) {
		u64 seq;
		memcpy(&seq, in->l4 + UDP_HLEN, SEQ_BYTES);
		t->numbered++;
		t->min_seq = seq < t->min_seq ? seq : t->min_seq;
		t->max_seq = seq > t->max_seq ? seq : t->max_seq;
	}
}

static void run_rx(struct bench *b)
{
	struct net_peer *p = b->p;
	char ip[16], mac[24];
	format_ipv4(p->ip, ip, sizeof(ip));
	format_mac(p->n.mac, mac, sizeof(mac));
	data("ready=rx ip=%s port=%u mac=%s", ip, b->port, mac);
	u64 other = p->other, end = 0;
	struct rx_tally t = { 0 };
	struct net_frame f;
	struct inet_frame in;
	while (t.frames == 0 || (b->limit ? t.frames < b->limit : !deadline_passed(end))) {
		if (!net_recv(&p->n, deadline_ms(virtio_timeout_ms()), &f))
			fail("netbench rx: %s in %lu ms (%lu datagrams so far)",
			     t.frames ? "the sender stopped" : "no datagram came", virtio_timeout_ms(), t.frames);
		u64 now = rdtsc();
		net_peer_parse(&f, &in);
		if (!is_bench_datagram(b, &in)) {
			net_peer_other(p, &in);
			continue;
		}
		if (t.frames == 0)
			end = deadline_ms(b->ms);
		tally(&t, &f, &in, now);
	}
	u64 span = t.numbered > 1 ? t.max_seq - t.min_seq + 1 : t.numbered;
	char extra[64];
	format(extra, sizeof(extra), " lost=%lu other=%lu", span > t.numbered ? span - t.numbered : 0, p->other - other);
	/* The clock starts at the first frame's arrival, so the rates count the frames after it. */
	report("rx", t.frames, t.bytes, tsc_to_us(t.last_tsc - t.first_tsc), t.frames - 1, t.bytes - t.first_bytes, extra);
}

static void run_tx_sizes(struct bench *b)
{
	char list[128];
	const char *text = cmdline_get("bench_size", list, sizeof(list));
	const char *at = text && *text ? text : "1472";
	for (;;) {
		u64 size;
		const char *end = parse_number(at, &size);
		if (!end || (*end && *end != ',') || size > MAX_PAYLOAD)
			fail("cmdline: bench_size=%s is not a list of sizes from 0 to %u", text, MAX_PAYLOAD);
		run_tx(b, (u32)size);
		if (!*end)
			return;
		at = end + 1;
	}
}

void test_netbench(void)
{
	static struct net_peer peer;
	char ops[64];
	net_peer_open(&peer);
	net_peer_describe(&peer);
	struct bench b = {
		.p = &peer,
		.ms = cmdline_number("bench_ms", 2000),
		.limit = cmdline_number("bench_count", 0),
		.port = (u16)cmdline_number("bench_port", 9),
		.batch = (u16)cmdline_number("bench_batch", 32),
		.frame = alloc(ETH_FRAME_MAX, 64),
	};
	if (b.batch == 0)
		b.batch = 1;
	const char *list = cmdline_get("bench_ops", ops, sizeof(ops));
	if (!list || !*list)
		list = "tx,rx";
	net_peer_resolve(&peer);
	if (list_contains(list, "tx"))
		run_tx_sizes(&b);
	if (list_contains(list, "rx"))
		run_rx(&b);
	/*
	 * The reset comes while the device has every buffer to fill (all taken back, posted again and notified) and,
	 * with a sender, frames to fill them with.
	 */
	struct net_frame f;
	u64 keep = deadline_ms(SETTLE_MS);
	while (!deadline_passed(keep))
		net_recv(&peer.n, keep, &f);
	while (net_recv(&peer.n, rdtsc(), &f))
		;
	u64 drained;
	u64 late = net_stop(&peer.n, SETTLE_MS, &drained);
	struct net_counts *c = &peer.n.counts;
	data("drained=%lu late=%lu tx_frames=%lu tx_bytes=%lu rx_frames=%lu rx_bytes=%lu", drained, late, c->tx_frames,
	     c->tx_bytes, c->rx_frames, c->rx_bytes);
	if (late)
		fail("net: the device used %lu buffers in the %u ms after its reset completed", late, SETTLE_MS);
}
