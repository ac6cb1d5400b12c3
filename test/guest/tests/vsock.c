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
 *   vsock_wait_ms=<ms>     the longest it waits without any packet moving (default 60000)
 * It greets with a data line `listening=<port>` once its buffers are posted, and says `blocked=<host port>` the
 * first time a connection has used up the host's credit while its own ring (the credit it gave) is full. Each echo connection echoes every
 * byte it receives, keeping what it has not echoed yet in a ring of exactly the buf_alloc it advertises, and
 * fails the test when the device sends more than that credit allows. Its own sends stay within the credit the
 * host advertises. After the host's SHUTDOWN it echoes what it still holds, waits until the host's fwd_cnt
 * shows every byte taken, then answers RST. A connection whose stream begins "quit\n" makes it end once every
 * connection is closed. Per connection a data line gives the bytes received and echoed and their FNV-1a hash.
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio-vsock.h"

#define MAX_CONNS 8
#define MAX_OWED_RESETS 32
#define CLIENT_PORT 49152
#define CREDIT_REQUEST_GAP_MS 10
#define QUIT "quit\n"

enum conn_state { FREE, CONNECTING, OPEN, FLUSHING, CLOSED };

/* Control packets a connection owes the host. */
#define OWE_REQUEST 1
#define OWE_RESPONSE 2
#define OWE_CREDIT_UPDATE 4
#define OWE_SHUTDOWN_SEND 8
#define OWE_SHUTDOWN_BOTH 16
#define OWE_RST 32

enum conn_role { ECHO, CLIENT, PROBE };

struct conn {
	enum conn_state state;
	enum conn_role role;
	u32 local_port;
	u32 peer_port;
	unsigned owed;
	unsigned said; /* OWE_SHUTDOWN_* sent, or no longer to be sent */
	/* Outgoing bytes (the echo's unechoed input, or the client's pattern), counted from the start. */
	u8 *ring;
	u64 head; /* put in the ring */
	u64 sent; /* posted on tx */
	u64 done; /* taken by the device; for an echo, also what its ring has freed */
	unsigned in_flight;
	/* Credit (virtio 1.2, 5.10.6.3): u32 counters that wrap. */
	u32 rx_cnt;
	u32 fwd_cnt;
	u32 advertised_fwd;
	u32 tx_cnt;
	u32 peer_buf_alloc;
	u32 peer_fwd_cnt;
	u32 peer_shutdown;
	u64 next_credit_request;
	u64 received;
	u64 hash;
	bool blocked;
};

struct run {
	struct vsock v;
	struct conn conns[MAX_CONNS];
	u32 ring_size;
	u32 pkt;
	u32 port;
	u64 want_closed;
	u64 client_bytes;
	/* Connections of our own still to finish: the client, and the probe of a host port nobody listens on. */
	unsigned own_open;
	u32 resets[MAX_OWED_RESETS][2];
	unsigned nresets;
	bool quitting;
	unsigned closed;
	unsigned refused;
	unsigned stray;
	u64 credit_full;
	u64 host_stalls;
	u64 credit_updates;
	u64 credit_requests;
	/* Payload moved and connections opened or closed: what the idle watchdog looks at (credit chatter is not). */
	u64 progress;
};

static u8 pattern_byte(u64 offset)
{
	u64 x = (offset >> 3) * 0x9e3779b97f4a7c15ull + 0x5bd1e9955bd1e995ull;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (u8)(x >> ((offset & 7) * 8));
}

static u32 peer_credit(const struct conn *c)
{
	u32 used = c->tx_cnt - c->peer_fwd_cnt;
	return used >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - used;
}

static u64 token(struct run *r, struct conn *c, u32 len)
{
	return (u64)(c - r->conns) << 32 | len;
}

static bool send_packet(struct run *r, struct conn *c, u16 op, u32 flags, const void *payload, u32 len)
{
	struct virtio_vsock_hdr h = { r->v.cid, VSOCK_HOST_CID, c->local_port, c->peer_port, len, VSOCK_TYPE_STREAM,
				      op, flags, r->ring_size, c->fwd_cnt };
	if (!vsock_send(&r->v, &h, payload, token(r, c, len)))
		return false;
	/* Every header carries fwd_cnt, so every packet is a credit update. */
	c->advertised_fwd = c->fwd_cnt;
	c->owed &= ~(unsigned)OWE_CREDIT_UPDATE;
	c->in_flight++;
	return true;
}

static void closed(struct run *r, struct conn *c, const char *end)
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

/* Sends what c owes in `bit` when it owes it; true when nothing of it is left owing. */
static bool settle(struct run *r, struct conn *c, unsigned bit, u16 op, u32 flags)
{
	if (!(c->owed & bit))
		return true;
	if (!send_packet(r, c, op, flags, NULL, 0))
		return false;
	if (op == VSOCK_OP_CREDIT_UPDATE)
		r->credit_updates++;
	c->owed &= ~bit;
	c->said |= bit;
	return true;
}

static bool send_data(struct run *r, struct conn *c)
{
	u64 waiting = c->head - c->sent;
	u32 at = (u32)(c->sent & (r->ring_size - 1));
	u64 n = waiting;
	if (n > peer_credit(c))
		n = peer_credit(c);
	if (n > r->pkt)
		n = r->pkt;
	if (n > r->ring_size - at)
		n = r->ring_size - at;
	if (n == 0 || !send_packet(r, c, VSOCK_OP_RW, 0, c->ring + at, (u32)n))
		return false;
	c->sent += n;
	c->tx_cnt += (u32)n;
	if (waiting > n && peer_credit(c) == 0)
		r->host_stalls++;
	return true;
}

/* Asks for the host's fwd_cnt while it holds us up: no credit for what waits, or a flush not yet confirmed. */
static void ask_credit(struct run *r, struct conn *c)
{
	bool stalled = c->head > c->sent && peer_credit(c) == 0;
	bool unconfirmed = c->state == FLUSHING && c->done == c->head && c->peer_fwd_cnt != c->tx_cnt;
	if (!(stalled || unconfirmed) || !deadline_passed(c->next_credit_request))
		return;
	if (send_packet(r, c, VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0)) {
		r->credit_requests++;
		c->next_credit_request = deadline_ms(CREDIT_REQUEST_GAP_MS);
	}
}

static void fill_pattern(struct run *r, struct conn *c)
{
	while (c->head < r->client_bytes && c->head - c->done < r->ring_size) {
		c->ring[c->head & (r->ring_size - 1)] = pattern_byte(c->head);
		c->head++;
	}
}

/* What the client says when: SHUTDOWN(SEND) once all is sent, SHUTDOWN(both) once all came back. */
static void client_progress(struct run *r, struct conn *c)
{
	fill_pattern(r, c);
	if (c->done == r->client_bytes && !(c->said & OWE_SHUTDOWN_SEND))
		c->owed |= OWE_SHUTDOWN_SEND;
	if (c->received == r->client_bytes && (c->said & OWE_SHUTDOWN_SEND) && !(c->said & OWE_SHUTDOWN_BOTH))
		c->owed |= OWE_SHUTDOWN_BOTH;
}

static void pump(struct run *r, struct conn *c)
{
	if (c->state == FREE || c->state == CLOSED)
		return;
	if (!settle(r, c, OWE_REQUEST, VSOCK_OP_REQUEST, 0) || !settle(r, c, OWE_RESPONSE, VSOCK_OP_RESPONSE, 0))
		return;
	if (c->state == CONNECTING)
		return;
	if (c->role == CLIENT)
		client_progress(r, c);
	while (!(c->peer_shutdown & VSOCK_SHUTDOWN_RCV) && send_data(r, c))
		;
	/* Said once per connection, so a host can wait for it: no credit left either way. */
	if (!c->blocked && c->head > c->sent && peer_credit(c) == 0 && c->head - c->done == r->ring_size) {
		c->blocked = true;
		data("blocked=%u", c->peer_port);
	}
	ask_credit(r, c);
	if (c->state == FLUSHING && c->done == c->head && c->peer_fwd_cnt == c->tx_cnt)
		c->owed |= OWE_RST;
	if (!settle(r, c, OWE_CREDIT_UPDATE, VSOCK_OP_CREDIT_UPDATE, 0) ||
	    !settle(r, c, OWE_SHUTDOWN_SEND, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND) ||
	    !settle(r, c, OWE_SHUTDOWN_BOTH, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH))
		return;
	if ((c->owed & OWE_RST) && settle(r, c, OWE_RST, VSOCK_OP_RST, 0))
		closed(r, c, c->role == CLIENT ? "shutdown-both" : "shutdown");
}

static void consumed(struct run *r, struct conn *c)
{
	if ((u32)(c->fwd_cnt - c->advertised_fwd) >= r->ring_size / 4)
		c->owed |= OWE_CREDIT_UPDATE;
}

static void take_data(struct run *r, struct conn *c, const struct vsock_packet *p)
{
	u32 len = p->hdr->len;
	if (c->state != OPEN || (c->peer_shutdown & VSOCK_SHUTDOWN_SEND))
		fail("vsock: RW on connection %u:%u after its SHUTDOWN or outside OPEN", c->local_port, c->peer_port);
	if ((u32)(c->rx_cnt - c->fwd_cnt) + (u64)len > r->ring_size)
		fail("vsock: %u bytes on connection %u:%u with %u of %u bytes of credit used", len, c->local_port,
		     c->peer_port, c->rx_cnt - c->fwd_cnt, r->ring_size);
	c->hash = fnv1a(c->hash, p->payload, len);
	c->rx_cnt += len;
	r->progress++;
	if (c->role == CLIENT) {
		if (c->received + len > r->client_bytes)
			fail("vsock: %lu bytes came back for %lu sent", c->received + len, r->client_bytes);
		for (u32 i = 0; i < len; i++) {
			if (p->payload[i] != pattern_byte(c->received + i))
				fail("vsock: byte %lu came back as 0x%x, 0x%x was sent", c->received + i, p->payload[i],
				     pattern_byte(c->received + i));
		}
		c->fwd_cnt += len;
		consumed(r, c);
	} else {
		u32 at = (u32)(c->head & (r->ring_size - 1));
		u32 first = len < r->ring_size - at ? len : r->ring_size - at;
		memcpy(c->ring + at, p->payload, first);
		memcpy(c->ring, p->payload + first, len - first);
		c->head += len;
		if (c->head - c->done == r->ring_size)
			r->credit_full++;
		if (c->received < sizeof(QUIT) - 1 && c->received + len >= sizeof(QUIT) - 1 &&
		    memcmp(c->ring, QUIT, sizeof(QUIT) - 1) == 0)
			r->quitting = true;
	}
	c->received += len;
}

static void on_shutdown(struct run *r, struct conn *c, u32 flags)
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

static struct conn *find(struct run *r, u32 local, u32 peer)
{
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &r->conns[i];
		if (c->state != FREE && c->state != CLOSED && c->local_port == local && c->peer_port == peer)
			return c;
	}
	return NULL;
}

static struct conn *open_conn(struct run *r, u32 local, u32 peer, enum conn_state state, unsigned owed)
{
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &r->conns[i];
		if (c->state != FREE)
			continue;
		u8 *ring = c->ring;
		*c = (struct conn){ .state = state, .local_port = local, .peer_port = peer, .owed = owed, .ring = ring,
				    .hash = FNV1A_INIT };
		r->progress++;
		return c;
	}
	return NULL;
}

static void owe_reset(struct run *r, const struct virtio_vsock_hdr *h)
{
	if (r->nresets == MAX_OWED_RESETS)
		fail("vsock: more than %u RSTs waiting for room on the tx queue", MAX_OWED_RESETS);
	r->resets[r->nresets][0] = h->dst_port;
	r->resets[r->nresets][1] = h->src_port;
	r->nresets++;
}

/* A packet for no connection: a REQUEST to the port we listen on opens one; anything else but RST gets RST. */
static void unknown(struct run *r, const struct virtio_vsock_hdr *h)
{
	if (h->op == VSOCK_OP_RST)
		return;
	struct conn *c = NULL;
	if (h->op == VSOCK_OP_REQUEST && h->dst_port == r->port && !r->quitting)
		c = open_conn(r, h->dst_port, h->src_port, OPEN, OWE_RESPONSE);
	if (c) {
		c->peer_buf_alloc = h->buf_alloc;
		c->peer_fwd_cnt = h->fwd_cnt;
		return;
	}
	if (h->op == VSOCK_OP_REQUEST)
		r->refused++;
	else
		r->stray++;
	owe_reset(r, h);
}

static void receive(struct run *r, const struct vsock_packet *p)
{
	const struct virtio_vsock_hdr *h = p->hdr;
	struct conn *c = find(r, h->dst_port, h->src_port);
	if (!c) {
		unknown(r, h);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RW:
		take_data(r, c, p);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->owed |= OWE_CREDIT_UPDATE;
		break;
	case VSOCK_OP_RESPONSE:
		if (c->state != CONNECTING)
			fail("vsock: RESPONSE on connection %u:%u, which did not ask", c->local_port, c->peer_port);
		if (c->role == PROBE)
			fail("vsock: host port %u accepted a connection, but nothing listens there", c->peer_port);
		c->state = OPEN;
		break;
	case VSOCK_OP_SHUTDOWN:
		on_shutdown(r, c, h->flags);
		break;
	case VSOCK_OP_RST:
		if (c->state == CONNECTING && c->role != PROBE)
			fail("vsock: the host refused the connection to its port %u", c->peer_port);
		closed(r, c, "rst");
		break;
	default:
		fail("vsock: %s on connection %u:%u", vsock_op_name(h->op), c->local_port, c->peer_port);
	}
}

static void sent(struct run *r, u64 tok)
{
	if (tok >> 32 == MAX_CONNS)
		return; /* an RST for no connection */
	struct conn *c = &r->conns[tok >> 32];
	c->in_flight--;
	c->done += (u32)tok;
	r->progress += (u32)tok != 0;
	if (c->role == ECHO) {
		c->fwd_cnt += (u32)tok;
		consumed(r, c);
	}
	if (c->state == CLOSED && c->in_flight == 0)
		c->state = FREE;
}

/* One round: everything received and completed is handled, then whatever can be sent is. */
static void step(struct run *r)
{
	struct vsock_packet p;
	u64 tok;
	while (vsock_receive(&r->v, &p)) {
		receive(r, &p);
		vsock_release(&r->v, &p);
	}
	while (vsock_sent(&r->v, &tok))
		sent(r, tok);
	vsock_check_events(&r->v);
	for (unsigned i = 0; i < MAX_CONNS; i++)
		pump(r, &r->conns[i]);
	while (r->nresets > 0) {
		u32 *ports = r->resets[r->nresets - 1];
		struct virtio_vsock_hdr h = { r->v.cid, VSOCK_HOST_CID, ports[0], ports[1], 0, VSOCK_TYPE_STREAM,
					      VSOCK_OP_RST, 0, 0, 0 };
		if (!vsock_send(&r->v, &h, NULL, (u64)MAX_CONNS << 32))
			break;
		r->nresets--;
	}
	vsock_kick(&r->v);
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
	const char *why;
	r->ring_size = (u32)cmdline_number("vsock_buf", 64 * 1024);
	r->pkt = (u32)cmdline_number("vsock_pkt", 32 * 1024);
	r->port = (u32)cmdline_number("vsock_port", 1234);
	r->want_closed = cmdline_number("vsock_conns", 0);
	u32 rx_buf = (u32)cmdline_number("vsock_rx_buf", 16 * 1024);
	if (!r->ring_size || (r->ring_size & (r->ring_size - 1)) || !r->pkt)
		fail("vsock_buf=%u must be a power of two and vsock_pkt=%u more than 0", r->ring_size, r->pkt);
	if (!vsock_open(&r->v, rx_buf, (unsigned)cmdline_number("vsock_rx_count", 64), &why))
		fail("%s", why);
	u64 cid = cmdline_number("vsock_cid", 0);
	if (cid && r->v.cid != cid)
		fail("vsock: the device says guest_cid %lu, the cmdline %lu", r->v.cid, cid);
	for (unsigned i = 0; i < MAX_CONNS; i++)
		r->conns[i].ring = alloc(r->ring_size, 4096);
	u64 q = cmdline_number("vsock_connect", 0);
	if (q) {
		r->client_bytes = cmdline_number("vsock_connect_bytes", 1024 * 1024);
		open_conn(r, CLIENT_PORT, (u32)q, CONNECTING, OWE_REQUEST)->role = CLIENT;
		r->own_open++;
	}
	u64 probe = cmdline_number("vsock_refused", 0);
	if (probe) {
		open_conn(r, CLIENT_PORT + 1, (u32)probe, CONNECTING, OWE_REQUEST)->role = PROBE;
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
		step(&r);
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
