/*
 * A polling virtio-net driver (virtio 1.2, section 5.1) on top of virtio.h: receive queue 0, transmit queue 1, no
 * control queue, no offloads. Every frame carries the 12-byte virtio_net_hdr of VERSION_1 devices in front; the
 * driver sends it zeroed (no checksum or segmentation requests). With MRG_RXBUF a received frame may span several
 * buffers (num_buffers in its header says how many) and is gathered into one place.
 */
#ifndef TSVMM_GUEST_VIRTIO_NET_H
#define TSVMM_GUEST_VIRTIO_NET_H

#include "inet.h"
#include "virtio.h"

#define VIRTIO_NET_F_MAC (1ull << 5)
#define VIRTIO_NET_F_MRG_RXBUF (1ull << 15)
#define VIRTIO_NET_F_STATUS (1ull << 16)
#define VIRTIO_NET_HDR_BYTES 12
#define VIRTIO_NET_HDR_NUM_BUFFERS 10
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_S_LINK_UP 1

/* The largest frame a device hands a driver that took no offloads: a full-MTU frame with a VLAN tag. */
#define NET_FRAME_MAX (ETH_FRAME_MAX + 4)
/* Each transmit slot: the header, then room for NET_FRAME_MAX. */
#define NET_TX_SLOT_BYTES 2048

struct net_options {
	/* Negotiate MRG_RXBUF / EVENT_IDX where offered. */
	bool mergeable;
	bool event_idx;
	/* Each receive buffer's size, header included, and how many are posted at once. */
	u32 rx_buf_bytes;
	u16 rx_bufs;
	u16 tx_slots;
};

struct net_counts {
	/* Frames the device has taken back from the transmit queue, and their Ethernet bytes (no header). */
	u64 tx_frames;
	u64 tx_bytes;
	u64 rx_frames;
	u64 rx_bytes;
	/* Received frames that spanned more than one buffer, and the most buffers one frame took. */
	u64 rx_multi;
	u64 rx_max_buffers;
};

/* A received frame, from its Ethernet header on; valid until the next net_recv. */
struct net_frame {
	const u8 *data;
	u32 len;
	u16 buffers;
};

struct net {
	struct virtio_dev dev;
	struct virtq *rx;
	struct virtq *tx;
	struct net_options opt;
	u8 mac[ETH_ALEN];
	u16 link_status;
	/* After net_stop: buffers are no longer posted. */
	bool stopped;
	u8 *rx_mem;
	/* Where frames that span buffers are gathered. */
	u8 *assembly;
	/* The buffers of the frame net_recv returned last: posted again at the next call. */
	u16 *held;
	u16 nheld;
	u16 unkicked_rx;
	u8 *tx_mem;
	u16 *tx_free;
	u16 ntx_free;
	u32 *tx_len;
	struct net_counts counts;
};

/* Whether MRG_RXBUF was negotiated: a received frame may then span several buffers. */
static inline bool net_mergeable(const struct net *n)
{
	return (n->dev.features & VIRTIO_NET_F_MRG_RXBUF) != 0;
}

/*
 * Finds the first virtio-net device, negotiates (VERSION_1 and MAC required), reads the MAC, posts rx buffers;
 * else the test fails.
 */
void net_open(struct net *n, const struct net_options *o);
/* The next received frame, polling until the deadline; false when none came. */
bool net_recv(struct net *n, u64 deadline, struct net_frame *f);
/* A free transmit slot's frame area (after its header), waiting for the device until the deadline; else NULL. */
u8 *net_tx_slot(struct net *n, u64 deadline, u16 *slot);
/* Makes a slot's len-byte frame available (header and frame as two descriptors when split); no notify. */
void net_tx_post(struct net *n, u16 slot, u32 len, bool split);
void net_tx_kick(struct net *n);
/* Takes back the transmit slots the device is done with; returns how many. */
unsigned net_tx_reap(struct net *n);
/* Copies a frame into a slot, posts it and notifies; false when no slot freed up by the deadline. */
bool net_send(struct net *n, const void *frame, u32 len, bool split, u64 deadline);
/* Waits until the device has taken every frame posted; false at the deadline. */
bool net_tx_flush(struct net *n, u64 deadline);
/*
 * Resets the device and returns how many used entries appeared in the settle_ms after Status read 0 (the spec
 * lets a driver rely on a device that has completed its reset no longer touching the queues, so any is a device
 * bug). Then takes every frame in the used rings (counted like any other; *drained says how many).
 */
u64 net_stop(struct net *n, u64 settle_ms, u64 *drained);

#endif
