#include "virtio-net.h"
#include "guest.h"
#include "memory.h"

#define RX 0
#define TX 1
#define QUEUE_SIZE 256
/* Receive buffers given back are announced in batches; a driver about to wait announces what it has at once. */
#define RX_KICK_BATCH 16

static u8 *rx_buffer(struct net *n, u16 buf)
{
	return n->rx_mem + (u64)buf * n->opt.rx_buf_bytes;
}

static void post_rx(struct net *n, u16 buf)
{
	if (virtq_post_buf(n->rx, rx_buffer(n, buf), n->opt.rx_buf_bytes, true, buf) < 0)
		fail("net: the receive queue is full with %u buffers", n->opt.rx_bufs);
	n->unkicked_rx++;
}

static void kick_rx(struct net *n)
{
	if (n->unkicked_rx && !n->stopped)
		virtq_kick(n->rx);
	n->unkicked_rx = 0;
}

static void check_options(struct net *n)
{
	if (n->opt.rx_bufs == 0 || n->opt.tx_slots == 0)
		fail("net: no receive buffers or transmit slots asked for");
	/* Without MRG_RXBUF one buffer holds one whole frame (virtio 1.2, 5.1.6.3.1). */
	u32 least = net_mergeable(n) ? VIRTIO_NET_HDR_BYTES : VIRTIO_NET_HDR_BYTES + ETH_FRAME_MAX;
	if (n->opt.rx_buf_bytes < least)
		fail("net: receive buffers of %u bytes; %s needs at least %u", n->opt.rx_buf_bytes,
		     net_mergeable(n) ? "MRG_RXBUF" : "a driver without MRG_RXBUF", least);
}

static void read_config(struct net *n)
{
	for (unsigned i = 0; i < ETH_ALEN; i++)
		n->mac[i] = virtio_config8(&n->dev, VIRTIO_NET_CFG_MAC + i);
	n->link_status = n->dev.features & VIRTIO_NET_F_STATUS ? virtio_config16(&n->dev, VIRTIO_NET_CFG_STATUS)
							       : VIRTIO_NET_S_LINK_UP;
}

void net_open(struct net *n, const struct net_options *o)
{
	memset(n, 0, sizeof(*n));
	n->opt = *o;
	u64 wanted = VIRTIO_NET_F_STATUS | (o->mergeable ? VIRTIO_NET_F_MRG_RXBUF : 0) |
		     (o->event_idx ? VIRTIO_F_EVENT_IDX : 0);
	virtio_open(&n->dev, VIRTIO_ID_NET, 0,
		    &(struct virtio_setup){ .required = VIRTIO_NET_F_MAC,
					    .wanted = wanted,
					    .queue_sizes = { [RX] = QUEUE_SIZE, [TX] = QUEUE_SIZE },
					    .defer_driver_ok = true });
	check_options(n);
	n->rx = &n->dev.queues[RX];
	n->tx = &n->dev.queues[TX];
	if (n->opt.rx_bufs > n->rx->size)
		n->opt.rx_bufs = n->rx->size;
	/* A split frame takes two descriptors. */
	if (n->opt.tx_slots > n->tx->size / 2)
		n->opt.tx_slots = n->tx->size / 2;
	read_config(n);
	n->rx_mem = alloc((u64)n->opt.rx_bufs * n->opt.rx_buf_bytes, 4096);
	n->assembly = alloc(NET_FRAME_MAX, 64);
	n->held = alloc(sizeof(u16) * n->opt.rx_bufs, 2);
	n->tx_mem = alloc((u64)n->opt.tx_slots * NET_TX_SLOT_BYTES, 4096);
	n->tx_free = alloc(sizeof(u16) * n->opt.tx_slots, 2);
	n->tx_len = alloc(sizeof(u32) * n->opt.tx_slots, 4);
	for (u16 s = 0; s < n->opt.tx_slots; s++)
		n->tx_free[n->ntx_free++] = (u16)(n->opt.tx_slots - 1 - s);
	/* The spec lets a driver fill its queues before DRIVER_OK; the notify comes after. */
	for (u16 b = 0; b < n->opt.rx_bufs; b++)
		post_rx(n, b);
	virtio_driver_ok(&n->dev);
	kick_rx(n);
}

/* The next used receive buffer; the buffer is held until the next net_recv. */
static bool next_buffer(struct net *n, u64 deadline, u16 *buf, u32 *len)
{
	struct virtq_done d;
	while (!virtq_get(n->rx, &d)) {
		/* Before waiting, the device must know every buffer it can fill. */
		kick_rx(n);
		if (deadline_passed(deadline))
			return false;
		cpu_relax();
	}
	if (d.token >= n->opt.rx_bufs || d.len > n->opt.rx_buf_bytes)
		fail("net: receive buffer %lu came back with %u bytes written (buffers hold %u)", d.token, d.len,
		     n->opt.rx_buf_bytes);
	n->held[n->nheld++] = (u16)d.token;
	*buf = (u16)d.token;
	*len = d.len;
	return true;
}

static void release_held(struct net *n)
{
	if (!n->stopped) {
		for (u16 i = 0; i < n->nheld; i++)
			post_rx(n, n->held[i]);
		if (n->unkicked_rx >= RX_KICK_BATCH)
			kick_rx(n);
	}
	n->nheld = 0;
}

/* The rest of a frame that spans `count` buffers, appended to the first buffer's part in the assembly area. */
static u32 gather(struct net *n, u16 count, u32 have)
{
	for (u16 i = 1; i < count; i++) {
		u16 buf;
		u32 len;
		/* The device publishes a frame's buffers together; one missing for this long is not coming. */
		if (!next_buffer(n, deadline_ms(virtio_timeout_ms()), &buf, &len))
			fail("net: a frame announced %u buffers and only %u came", count, i);
		if (have + len > NET_FRAME_MAX)
			fail("net: a frame of more than %u bytes over %u buffers", NET_FRAME_MAX, count);
		memcpy(n->assembly + have, rx_buffer(n, buf), len);
		have += len;
	}
	return have;
}

bool net_recv(struct net *n, u64 deadline, struct net_frame *f)
{
	u16 buf;
	u32 len;
	release_held(n);
	if (!next_buffer(n, deadline, &buf, &len))
		return false;
	const u8 *first = rx_buffer(n, buf);
	if (len < VIRTIO_NET_HDR_BYTES)
		fail("net: a used receive buffer of %u bytes, less than the header", len);
	u16 count = 1;
	if (net_mergeable(n)) {
		count = (u16)(first[VIRTIO_NET_HDR_NUM_BUFFERS] | first[VIRTIO_NET_HDR_NUM_BUFFERS + 1] << 8);
		if (count == 0 || count > n->opt.rx_bufs)
			fail("net: num_buffers %u in a frame's header (%u buffers posted)", count, n->opt.rx_bufs);
	}
	f->buffers = count;
	if (count == 1) {
		f->data = first + VIRTIO_NET_HDR_BYTES;
		f->len = len - VIRTIO_NET_HDR_BYTES;
	} else {
		memcpy(n->assembly, first + VIRTIO_NET_HDR_BYTES, len - VIRTIO_NET_HDR_BYTES);
		f->data = n->assembly;
		f->len = gather(n, count, len - VIRTIO_NET_HDR_BYTES);
		n->counts.rx_multi++;
	}
	if (count > n->counts.rx_max_buffers)
		n->counts.rx_max_buffers = count;
	n->counts.rx_frames++;
	n->counts.rx_bytes += f->len;
	return true;
}

unsigned net_tx_reap(struct net *n)
{
	struct virtq_done d;
	unsigned reaped = 0;
	while (virtq_get(n->tx, &d)) {
		if (d.token >= n->opt.tx_slots)
			fail("net: transmit token %lu is not a slot", d.token);
		n->counts.tx_frames++;
		n->counts.tx_bytes += n->tx_len[d.token];
		n->tx_free[n->ntx_free++] = (u16)d.token;
		reaped++;
	}
	return reaped;
}

u8 *net_tx_slot(struct net *n, u64 deadline, u16 *slot)
{
	while (n->ntx_free == 0 && net_tx_reap(n) == 0) {
		if (deadline_passed(deadline))
			return NULL;
		cpu_relax();
	}
	*slot = n->tx_free[--n->ntx_free];
	return n->tx_mem + (u64)*slot * NET_TX_SLOT_BYTES + VIRTIO_NET_HDR_BYTES;
}

void net_tx_post(struct net *n, u16 slot, u32 len, bool split)
{
	u8 *hdr = n->tx_mem + (u64)slot * NET_TX_SLOT_BYTES;
	if (len > NET_TX_SLOT_BYTES - VIRTIO_NET_HDR_BYTES)
		fail("net: a %u-byte frame does not fit a transmit slot", len);
	memset(hdr, 0, VIRTIO_NET_HDR_BYTES);
	struct vbuf whole[1] = { { hdr, VIRTIO_NET_HDR_BYTES + len, false } };
	struct vbuf parts[2] = { { hdr, VIRTIO_NET_HDR_BYTES, false }, { hdr + VIRTIO_NET_HDR_BYTES, len, false } };
	n->tx_len[slot] = len;
	if (virtq_post(n->tx, split ? parts : whole, split ? 2 : 1, slot, 0) < 0)
		fail("net: the transmit queue is full");
}

void net_tx_kick(struct net *n)
{
	virtq_kick(n->tx);
}

bool net_send(struct net *n, const void *frame, u32 len, bool split, u64 deadline)
{
	u16 slot;
	u8 *at = net_tx_slot(n, deadline, &slot);
	if (!at)
		return false;
	memcpy(at, frame, len);
	net_tx_post(n, slot, len, split);
	net_tx_kick(n);
	return true;
}

bool net_tx_flush(struct net *n, u64 deadline)
{
	while (n->ntx_free < n->opt.tx_slots) {
		if (net_tx_reap(n) == 0 && deadline_passed(deadline))
			return false;
		cpu_relax();
	}
	return true;
}

u64 net_stop(struct net *n, u64 settle_ms, u64 *drained)
{
	u64 before = n->counts.rx_frames + n->counts.tx_frames;
	if (!virtio_reset(&n->dev))
		fail("net: the device did not reset (Status never read 0)");
	/* From here on the rings must stand still. */
	u16 rx_pending = virtq_used_pending(n->rx), tx_pending = virtq_used_pending(n->tx);
	spin_ms(settle_ms);
	u64 late = (u16)(virtq_used_pending(n->rx) - rx_pending) + (u16)(virtq_used_pending(n->tx) - tx_pending);
	n->stopped = true;
	n->unkicked_rx = 0;
	struct net_frame f;
	while (net_recv(n, rdtsc(), &f))
		;
	release_held(n);
	net_tx_reap(n);
	*drained = n->counts.rx_frames + n->counts.tx_frames - before;
	return late;
}
