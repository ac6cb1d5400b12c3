/*
 * test=vsock: a stream echo service over virtio-vsock, and optionally a connection of its own to the host.
 *   vsock_cid=<n>          the guest_cid the device must report (checked when given)
 *   vsock_port=<p>         the port it listens on (default 1234); a REQUEST for any other port gets RST
 *   vsock_conns=<k>        end once k echo connections have closed (0, the default: only "quit" ends it)
 *   vsock_buf=<bytes>      buf_alloc per connection, the size of its echo ring (a power of two, default 64K)
 *   vsock_rx_buf=<bytes>   payload bytes per rx buffer (default 16K); vsock_rx_count= buffers (default 64)
 *   vsock_pkt=<bytes>      the most payload it puts in one packet (default 32K)
 *   vsock_connect=<q>      connect to host port q, send vsock_connect_bytes= (default 1M) of a pattern and check
 *                          that the same bytes come back
 *   vsock_refused=<q>      connect to host port q, where nothing listens, and expect RST
 *   vsock_wait_ms=<ms>     the longest it waits with no payload moving and no connection opening or closing
 *                          (default 60000)
 * It greets with a data line `listening=<port>` once its buffers are posted, and says `blocked=<host port>` the
 * first time a connection has used up the host's credit while its own ring (the credit it gave) is full. Each
 * echo connection echoes every byte it receives, keeping what it has not echoed yet in a ring of exactly the
 * buf_alloc it advertises, and fails the test when the device sends more than that credit allows. Its own sends stay within the credit the
 * host advertises. After the host's SHUTDOWN it echoes what it still holds, waits until the host's fwd_cnt
 * shows every byte taken, then answers RST. A connection whose stream begins "quit\n" makes it end once every
 * connection is closed. Per connection a data line gives the bytes received and echoed and their FNV-1a hash.
 */
#include "../guest.h"
#include "../memory.h"
#include "vsock.h"

#define CLIENT_PORT 49152
#define QUIT "quit\n"

static u8 pattern_byte(u64 offset)
{
	u64 x = (offset >> 3) * 0x9e3779b97f4a7c15ull + 0x5bd1e9955bd1e995ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (u8)(x >> ((offset & 7) * 8));
}

void conn_closed(struct run *r, struct conn *c, const char *end)
{
	r->progress++;
	c->state = CLOSED;
	c->owed = 0;
	if (c->role == PROBE) {
		r->own_open--;
		data("refused_by_host=%u", c->peer_port);
	} else if (c->role == CLIENT) {
		r->own_open--;
		if (c->received != r->client_bytes)
			fail("vsock: the connection to host port %u ended (%s) after %lu of %lu bytes came back", c->peer_port,
			     end, c->received, r->client_bytes);
		data("client=%u sent=%lu received=%lu fnv1a=0x%016lx end=%s", c->peer_port, c->done, c->received, c->hash,
		     end);
	} else {
		r->closed++;
		data("conn=%u received=%lu echoed=%lu fnv1a=0x%016lx end=%s", c->peer_port, c->received, c->done, c->hash,
		     end);
	}
	if (c->in_flight == 0)
		c->state = FREE;
}

static void fill_pattern(struct run *r, struct conn *c)
{
	while (c->head < r->client_bytes && c->head - c->done < r->ring_size) {
		c->ring[c->head & (r->ring_size - 1)] = pattern_byte(c->head);
		c->head++;
	}
}

/* The client's pattern, SHUTDOWN(SEND) once all is sent, SHUTDOWN(both) once all came back. */
void conn_progress(struct run *r, struct conn *c)
{
	if (c->role != CLIENT)
		return;
	fill_pattern(r, c);
	if (c->done == r->client_bytes && !(c->said & OWE_SHUTDOWN_SEND))
		c->owed |= OWE_SHUTDOWN_SEND;
	if (c->received == r->client_bytes && (c->said & OWE_SHUTDOWN_SEND) && !(c->said & OWE_SHUTDOWN_BOTH))
		c->owed |= OWE_SHUTDOWN_BOTH;
}

void conn_data(struct run *r, struct conn *c, const u8 *payload, u32 len)
{
	if (c->role == CLIENT) {
		if (c->received + len > r->client_bytes)
			fail("vsock: %lu bytes came back for %lu sent", c->received + len, r->client_bytes);
		for (u32 i = 0; i < len; i++) {
			if (payload[i] != pattern_byte(c->received + i))
				fail("vsock: byte %lu came back as 0x%x, 0x%x was sent", c->received + i, payload[i],
				     pattern_byte(c->received + i));
		}
		c->fwd_cnt += len;
		conn_consumed(r, c);
	} else {
		u32 at = (u32)(c->head & (r->ring_size - 1));
		u32 first = len < r->ring_size - at ? len : r->ring_size - at;
		memcpy(c->ring + at, payload, first);
		memcpy(c->ring, payload + first, len - first);
		c->head += len;
		if (c->head - c->done == r->ring_size)
			r->credit_full++;
		if (c->received < sizeof(QUIT) - 1 && c->received + len >= sizeof(QUIT) - 1 &&
		    memcmp(c->ring, QUIT, sizeof(QUIT) - 1) == 0)
			r->quitting = true;
	}
}

void conn_shutdown(struct run *r, struct conn *c, u32 flags)
{
	if (c->state == CONNECTING)
		fail("vsock: SHUTDOWN on connection %u:%u before RESPONSE", c->local_port, c->peer_port);
	c->peer_shutdown |= flags & VSOCK_SHUTDOWN_BOTH;
	if (c->role == CLIENT) {
		if ((flags & VSOCK_SHUTDOWN_SEND) && c->received != r->client_bytes)
			fail("vsock: the host stopped sending after %lu of %lu bytes", c->received, r->client_bytes);
		/*
		 * The host closed before our SHUTDOWN(both) went out: we answer with RST and never send that SHUTDOWN.
		 * Once it is out, the RST is the host's to send.
		 */
		if (c->peer_shutdown == VSOCK_SHUTDOWN_BOTH && !(c->said & OWE_SHUTDOWN_BOTH)) {
			c->owed = (c->owed & ~(unsigned)OWE_SHUTDOWN_BOTH) | OWE_RST;
			c->said |= OWE_SHUTDOWN_BOTH;
		}
	} else if (c->peer_shutdown & VSOCK_SHUTDOWN_RCV) {
		/* Nobody will read an echo any more. */
		c->head = c->sent;
		c->owed |= OWE_RST;
	} else {
		c->state = FLUSHING;
	}
}

static unsigned open_count(struct run *r)
{
	unsigned n = 0;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		n += r->conns[i].state != FREE && r->conns[i].state != CLOSED && r->conns[i].role == ECHO;
	return n;
}

static bool finished(struct run *r)
{
	bool echo_done = (r->want_closed && r->closed >= r->want_closed) || (r->quitting && open_count(r) == 0);
	return echo_done && r->own_open == 0;
}

static void stuck(struct run *r, u64 wait_ms)
{
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &r->conns[i];
		if (c->state != FREE)
			say("vsock: %u:%u state %u role %u owed 0x%x head %lu sent %lu done %lu in flight %u tx_cnt %u "
			    "peer buf_alloc %u fwd_cnt %u shutdown %u", c->local_port, c->peer_port, c->state, c->role, c->owed,
			    c->head, c->sent, c->done, c->in_flight, c->tx_cnt, c->peer_buf_alloc, c->peer_fwd_cnt,
			    c->peer_shutdown);
	}
	fail("vsock: no payload moved for %lu ms (%u connections open, %u closed, %u of our own open)", wait_ms,
	     open_count(r), r->closed, r->own_open);
}

static void setup(struct run *r)
{
	r->ring_size = (u32)cmdline_number("vsock_buf", 64 * 1024);
	r->pkt = (u32)cmdline_number("vsock_pkt", 32 * 1024);
	r->port = (u32)cmdline_number("vsock_port", 1234);
	r->want_closed = cmdline_number("vsock_conns", 0);
	u32 rx_buf = (u32)cmdline_number("vsock_rx_buf", 16 * 1024);
	if (!r->ring_size || (r->ring_size & (r->ring_size - 1)) || !r->pkt)
		fail("vsock_buf=%u must be a power of two and vsock_pkt=%u more than 0", r->ring_size, r->pkt);
	vsock_open(&r->v, rx_buf, (unsigned)cmdline_number("vsock_rx_count", 64));
	u64 cid = cmdline_number("vsock_cid", 0);
	if (cid && r->v.cid != cid)
		fail("vsock: the device says guest_cid %lu, the cmdline %lu", r->v.cid, cid);
	for (unsigned i = 0; i < MAX_CONNS; i++)
		r->conns[i].ring = alloc(r->ring_size, 4096);
	u64 q = cmdline_number("vsock_connect", 0);
	if (q) {
		r->client_bytes = cmdline_number("vsock_connect_bytes", 1024 * 1024);
		conn_open(r, CLIENT_PORT, (u32)q, CONNECTING, OWE_REQUEST)->role = CLIENT;
		r->own_open++;
	}
	u64 probe = cmdline_number("vsock_refused", 0);
	if (probe) {
		conn_open(r, CLIENT_PORT + 1, (u32)probe, CONNECTING, OWE_REQUEST)->role = PROBE;
		r->own_open++;
	}
	data("listening=%u cid=%lu buf_alloc=%u rx_buf=%u pkt=%u", r->port, r->v.cid, r->ring_size, rx_buf, r->pkt);
}

void test_vsock(void)
{
	static struct run r;
	setup(&r);
	u64 wait_ms = cmdline_number("vsock_wait_ms", 60000);
	u64 idle_until = deadline_ms(wait_ms);
	while (!finished(&r)) {
		u64 before = r.progress;
		stream_step(&r);
		if (r.progress != before)
			idle_until = deadline_ms(wait_ms);
		else if (deadline_passed(idle_until))
			stuck(&r, wait_ms);
		else
			cpu_relax();
	}
	data("connections=%u refused=%u stray=%u credit_full=%lu host_stalls=%lu credit_updates=%lu "
	     "credit_requests=%lu rx_packets=%lu tx_packets=%lu",
	     r.closed, r.refused, r.stray, r.credit_full, r.host_stalls, r.credit_updates, r.credit_requests,
	     r.v.rx_packets, r.v.tx_packets);
}
