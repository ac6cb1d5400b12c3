/*
 * The guest's side of a conversation with the host's IP stack over virtio-net: its own address and the host's
 * from the cmdline, the host's MAC by ARP, and answers to the host's ARP requests. Shared by test=net and
 * test=netbench.
 *   net_ip=<a.b.c.d>    the guest's address (required)
 *   net_host=<a.b.c.d>  the host's address on the tap (required)
 *   net_mac=<mac>       the MAC the device must report in its config space (checked when given)
 *   net_mrg=0           do not negotiate MRG_RXBUF (default: negotiate it where offered)
 *   net_event_idx=0     do not negotiate EVENT_IDX
 *   net_rxbuf=<bytes>   each receive buffer, header included (default 2048; without MRG_RXBUF at least 1526)
 *   net_rxbufs=<n>      receive buffers posted at once (default 128)
 */
#ifndef TSVMM_GUEST_NET_PEER_H
#define TSVMM_GUEST_NET_PEER_H

#include "virtio-net.h"

struct net_peer {
	struct net n;
	ipv4_addr ip;
	ipv4_addr host;
	u8 host_mac[ETH_ALEN];
	/* ARP requests sent for the host, and the host's ARP requests for this guest answered. */
	u64 arp_sent;
	u64 arp_answered;
	/* Frames neither ARP nor what the test was waiting for. */
	u64 other;
};

/* Opens the device with the cmdline's options; fails the test when anything is missing or wrong. */
void net_peer_open(struct net_peer *p);
/* One data line describing the device and the options in force. */
void net_peer_describe(struct net_peer *p);
/* Asks for the host's MAC by ARP (again every second) until a reply comes; fails the test at the timeout. */
void net_peer_resolve(struct net_peer *p);
/*
 * What a test does with a frame that is not its own: ARP requests for the guest's address are answered, ARP
 * replies and everything else are counted as other. Fails the test on a malformed ARP or IPv4 frame.
 */
void net_peer_other(struct net_peer *p, const struct inet_frame *in);
/* Parses a received frame; fails the test when it is malformed. */
void net_peer_parse(const struct net_frame *f, struct inet_frame *in);

#endif
