/*
 * The stream protocol of test=vsock (virtio 1.2, 5.10.6): the connection table, credit both ways, the control
 * packets each connection owes, and dispatch of what the device sends. What a connection does with its bytes is
 * its role's business (vsock.c).
 */
#include "../guest.h"
#include "vsock.h"

/* How often a connection the host holds up asks again for its fwd_cnt. */
#define CREDIT_REQUEST_GAP_MS 10

u32 peer_credit(const struct conn *c)
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
	u32 at = (u32)(c->sent & (r->ring_size - 1));
	u64 n = c->head - c->sent;
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
	return true;
}

/* Asks for the host's fwd_cnt while it holds us up: no credit for what waits, or a flush not yet confirmed. */
static void ask_credit(struct run *r, struct conn *c)
{
	bool unconfirmed = c->state == FLUSHING && c->done == c->head && c->peer_fwd_cnt != c->tx_cnt;
	if (!(c->stalled || unconfirmed) || !deadline_passed(c->next_credit_request))
		return;
	if (send_packet(r, c, VSOCK_OP_CREDIT_REQUEST, 0, NULL, 0)) {
		r->credit_requests++;
		c->next_credit_request = deadline_ms(CREDIT_REQUEST_GAP_MS);
	}
}

static void pump(struct run *r, struct conn *c)
{
	if (c->state == FREE || c->state == CLOSED)
		return;
	if (!settle(r, c, OWE_REQUEST, VSOCK_OP_REQUEST, 0) || !settle(r, c, OWE_RESPONSE, VSOCK_OP_RESPONSE, 0))
		return;
	if (c->state == CONNECTING)
		return;
	conn_progress(r, c);
	while (!(c->peer_shutdown & VSOCK_SHUTDOWN_RCV) && send_data(r, c))
		;
	bool stalled = c->head > c->sent && peer_credit(c) == 0;
	r->host_stalls += stalled && !c->stalled;
	c->stalled = stalled;
	/* Said once per connection, so a host can wait for it: no credit left either way. */
	if (!c->blocked && stalled && c->head - c->done == r->ring_size) {
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
		conn_closed(r, c, c->role == CLIENT ? "shutdown-both" : "shutdown");
}

void conn_consumed(struct run *r, struct conn *c)
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
	conn_data(r, c, p->payload, len);
	c->received += len;
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

struct conn *conn_open(struct run *r, u32 local, u32 peer, enum conn_state state, unsigned owed)
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
		c = conn_open(r, h->dst_port, h->src_port, OPEN, OWE_RESPONSE);
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
		conn_shutdown(r, c, h->flags);
		break;
	case VSOCK_OP_RST:
		if (c->state == CONNECTING && c->role != PROBE)
			fail("vsock: the host refused the connection to its port %u", c->peer_port);
		conn_closed(r, c, "rst");
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
		conn_consumed(r, c);
	}
	if (c->state == CLOSED && c->in_flight == 0)
		c->state = FREE;
}

/* One round: everything received and completed is handled, then whatever can be sent is. */
void stream_step(struct run *r)
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

