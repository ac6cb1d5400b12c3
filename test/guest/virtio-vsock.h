/*
 * virtio-vsock packets on top of the driver in virtio.h (virtio 1.2, section 5.10): the rx, tx and event queues,
 * receive buffers that are checked before anyone reads them, and transmit slots that each own a header.
 */
#ifndef TSVMM_GUEST_VIRTIO_VSOCK_H
#define TSVMM_GUEST_VIRTIO_VSOCK_H

#include "virtio.h"

#define VIRTIO_VSOCK_F_STREAM (1ull << 0)
#define VSOCK_CFG_GUEST_CID 0
#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1

#define VSOCK_OP_REQUEST 1
#define VSOCK_OP_RESPONSE 2
#define VSOCK_OP_RST 3
#define VSOCK_OP_SHUTDOWN 4
#define VSOCK_OP_RW 5
#define VSOCK_OP_CREDIT_UPDATE 6
#define VSOCK_OP_CREDIT_REQUEST 7

/* SHUTDOWN flags: the sender will receive no more (RCV), will send no more (SEND). */
#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2
#define VSOCK_SHUTDOWN_BOTH 3

struct virtio_vsock_hdr {
	u64 src_cid;
	u64 dst_cid;
	u32 src_port;
	u32 dst_port;
	u32 len;
	u16 type;
	u16 op;
	u32 flags;
	u32 buf_alloc;
	u32 fwd_cnt;
} __attribute__((packed));

/* A packet the device put in a receive buffer; its buffer goes back with vsock_release. */
struct vsock_packet {
	const struct virtio_vsock_hdr *hdr;
	const u8 *payload;
	unsigned slot;
};

struct vsock_tx_slot {
	struct virtio_vsock_hdr hdr;
	u64 token;
};

struct vsock {
	struct virtio_dev dev;
	struct virtq *rx;
	struct virtq *tx;
	struct virtq *event;
	u64 cid;
	/* Receive buffers: a header and rx_payload bytes each, in one device-writable descriptor. */
	u8 *rx_bufs;
	u32 rx_payload;
	bool rx_posted;
	/* Transmit slots: free ones are stacked in tx_free; a packet's slot is its virtq token. */
	struct vsock_tx_slot *tx_slots;
	u16 *tx_free;
	unsigned tx_count;
	unsigned tx_nfree;
	bool tx_posted;
	u32 *events;
	u64 rx_packets;
	u64 tx_packets;
};

/*
 * Finds the vsock device, reads guest_cid and fills the rx queue with rx_count buffers of rx_payload bytes; else
 * the test fails.
 */
void vsock_open(struct vsock *v, u32 rx_payload, unsigned rx_count);
/*
 * Posts one packet: h (copied into a slot of its own) and, when h->len is not 0, the h->len payload bytes at
 * payload, which must stay untouched until the packet comes back from vsock_sent. False when the queue is full.
 */
bool vsock_send(struct vsock *v, const struct virtio_vsock_hdr *h, const void *payload, u64 token);
/* Whether vsock_send has room for one more packet. */
bool vsock_can_send(struct vsock *v);
/* Takes one packet the device has finished with; its token goes to *token. */
bool vsock_sent(struct vsock *v, u64 *token);
/*
 * Takes one received packet. Fails the test when the device wrote something no correct device would: a packet
 * whose used length is not header + len, one longer than the buffer, the wrong cids or socket type.
 */
bool vsock_receive(struct vsock *v, struct vsock_packet *p);
/* Gives a packet's buffer back to the device. */
void vsock_release(struct vsock *v, const struct vsock_packet *p);
/* Notifies the device of what was posted on rx and tx since the last call, where it asks to be told. */
void vsock_kick(struct vsock *v);
/* Fails the test when the device used an event buffer (it has no reason to send a transport reset). */
void vsock_check_events(struct vsock *v);
const char *vsock_op_name(u16 op);

#endif
