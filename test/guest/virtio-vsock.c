#include "virtio-vsock.h"
#include "guest.h"
#include "memory.h"

#define RX 0
#define TX 1
#define EVENT 2
#define QUEUE_SIZE 256
#define EVENT_BUFFERS 4

static void post_rx(struct vsock *v, unsigned slot)
{
	u32 bytes = (u32)sizeof(struct virtio_vsock_hdr) + v->rx_payload;
	if (virtq_post_buf(v->rx, v->rx_bufs + (u64)slot * bytes, bytes, true, slot) < 0)
		fail("vsock: the rx queue has no room for a buffer it gave back");
	v->rx_posted = true;
}

void vsock_open(struct vsock *v, u32 rx_payload, unsigned rx_count)
{
	memset(v, 0, sizeof(*v));
	static const struct virtio_setup setup = {
		.wanted = VIRTIO_VSOCK_F_STREAM | VIRTIO_F_EVENT_IDX,
		.queue_sizes = { [RX] = QUEUE_SIZE, [TX] = QUEUE_SIZE, [EVENT] = EVENT_BUFFERS },
		.defer_driver_ok = true,
	};
	virtio_open(&v->dev, VIRTIO_ID_VSOCK, 0, &setup);
	v->rx = &v->dev.queues[RX];
	v->tx = &v->dev.queues[TX];
	v->event = &v->dev.queues[EVENT];
	if (rx_count > v->rx->size)
		fail("more rx buffers asked for than the rx queue holds");
	/* Every packet is a header and at most one payload buffer: two descriptors. */
	v->tx_count = v->tx->size / 2;
	v->cid = virtio_config64(&v->dev, VSOCK_CFG_GUEST_CID);
	v->rx_payload = rx_payload;
	v->rx_bufs = alloc((sizeof(struct virtio_vsock_hdr) + rx_payload) * (u64)rx_count, 4096);
	v->tx_slots = alloc(sizeof(struct vsock_tx_slot) * v->tx_count, 64);
	v->tx_free = alloc(sizeof(u16) * v->tx_count, 2);
	for (unsigned i = 0; i < v->tx_count; i++)
		v->tx_free[v->tx_nfree++] = (u16)i;
	v->events = alloc(sizeof(u32) * EVENT_BUFFERS, 64);
	virtio_driver_ok(&v->dev);
	for (unsigned i = 0; i < rx_count; i++)
		post_rx(v, i);
	for (unsigned i = 0; i < EVENT_BUFFERS; i++)
		virtq_post_buf(v->event, &v->events[i], sizeof(u32), true, i);
	virtq_kick(v->event);
	vsock_kick(v);
}

bool vsock_can_send(struct vsock *v)
{
	return v->tx_nfree > 0 && v->tx->num_free >= 2;
}

bool vsock_send(struct vsock *v, const struct virtio_vsock_hdr *h, const void *payload, u64 token)
{
	if (!vsock_can_send(v))
		return false;
	u16 slot = v->tx_free[--v->tx_nfree];
	struct vsock_tx_slot *s = &v->tx_slots[slot];
	s->hdr = *h;
	s->token = token;
	struct vbuf bufs[2] = { { &s->hdr, sizeof(s->hdr), false }, { payload, h->len, false } };
	if (virtq_post(v->tx, bufs, h->len ? 2 : 1, slot, 0) < 0)
		fail("vsock: the tx queue refused a packet it had room for");
	v->tx_posted = true;
	v->tx_packets++;
	return true;
}

bool vsock_sent(struct vsock *v, u64 *token)
{
	struct virtq_done done;
	if (!virtq_get(v->tx, &done))
		return false;
	*token = v->tx_slots[done.token].token;
	v->tx_free[v->tx_nfree++] = (u16)done.token;
	return true;
}

bool vsock_receive(struct vsock *v, struct vsock_packet *p)
{
	struct virtq_done done;
	if (!virtq_get(v->rx, &done))
		return false;
	const u32 hdr_bytes = sizeof(struct virtio_vsock_hdr);
	p->slot = (unsigned)done.token;
	p->hdr = (const struct virtio_vsock_hdr *)(v->rx_bufs + (u64)p->slot * (hdr_bytes + v->rx_payload));
	p->payload = (const u8 *)p->hdr + hdr_bytes;
	const struct virtio_vsock_hdr *h = p->hdr;
	if (done.len < hdr_bytes || h->len > v->rx_payload || done.len != hdr_bytes + h->len)
		fail("vsock: rx used length %u for a packet of len %u (%s) in a buffer of %u payload bytes", done.len,
		     h->len, vsock_op_name(h->op), v->rx_payload);
	if (h->src_cid != VSOCK_HOST_CID || h->dst_cid != v->cid || h->type != VSOCK_TYPE_STREAM)
		fail("vsock: a packet from cid %lu to cid %lu of type %u (%s); this guest is cid %lu", h->src_cid,
		     h->dst_cid, h->type, vsock_op_name(h->op), v->cid);
	if (h->op != VSOCK_OP_RW && h->len != 0)
		fail("vsock: %s with %u payload bytes", vsock_op_name(h->op), h->len);
	v->rx_packets++;
	return true;
}

void vsock_release(struct vsock *v, const struct vsock_packet *p)
{
	post_rx(v, p->slot);
}

void vsock_kick(struct vsock *v)
{
	if (v->rx_posted)
		virtq_kick(v->rx);
	if (v->tx_posted)
		virtq_kick(v->tx);
	v->rx_posted = v->tx_posted = false;
}

void vsock_check_events(struct vsock *v)
{
	struct virtq_done done;
	if (virtq_get(v->event, &done))
		fail("vsock: the device sent event %u", v->events[done.token]);
}

const char *vsock_op_name(u16 op)
{
	static const char *names[] = { "op 0", "REQUEST", "RESPONSE", "RST", "SHUTDOWN", "RW", "CREDIT_UPDATE",
				       "CREDIT_REQUEST" };
	return op < ARRAY_LEN(names) ? names[op] : "an unknown op";
}
