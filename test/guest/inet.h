/*
 * Ethernet, ARP, IPv4, ICMP echo and UDP frames, built and checked in the guest: just enough to talk to a host's
 * IP stack over a tap. Multi-byte fields are big-endian on the wire; the helpers take and return host order.
 */
#ifndef TSVMM_GUEST_INET_H
#define TSVMM_GUEST_INET_H

#include "lib.h"

#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ARP_LEN 28
#define ARP_REQUEST 1
#define ARP_REPLY 2
#define IPV4_HLEN 20
#define IPPROTO_ICMP 1
#define IPPROTO_UDP 17
#define ICMP_HLEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define UDP_HLEN 8
/* The largest IPv4 packet at the standard MTU, and the Ethernet frame that carries it. */
#define IP_MTU 1500
#define ETH_FRAME_MAX (ETH_HLEN + IP_MTU)

typedef u32 ipv4_addr; /* host order: 10.0.0.1 is 0x0a000001 */

static inline void put16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

static inline void put32(u8 *p, u32 v)
{
	put16(p, (u16)(v >> 16));
	put16(p + 2, (u16)v);
}

static inline u16 get16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static inline u32 get32(const u8 *p)
{
	return (u32)get16(p) << 16 | get16(p + 2);
}

/* Parses a dotted quad; false unless the whole text is one. */
bool parse_ipv4(const char *text, ipv4_addr *out);
/* `a.b.c.d` into out (at least 16 bytes). */
void format_ipv4(ipv4_addr a, char *out, size_t cap);
/* `aa:bb:cc:dd:ee:ff`; false unless the whole text is one. */
bool parse_mac(const char *text, u8 mac[ETH_ALEN]);
void format_mac(const u8 mac[ETH_ALEN], char *out, size_t cap);

/* The one's-complement sum of RFC 1071 over len bytes, continuing `sum`; inet_fold turns it into the checksum. */
u32 inet_sum(const void *data, u32 len, u32 sum);
static inline u16 inet_fold(u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)~sum;
}

/* Writes an Ethernet header; returns where the payload goes. */
u8 *eth_header(u8 *frame, const u8 dst[ETH_ALEN], const u8 src[ETH_ALEN], u16 type);
/* An ARP request or reply for IPv4 over Ethernet (a whole frame, ETH_HLEN + ARP_LEN bytes). */
u32 arp_frame(u8 *frame, u16 op, const u8 sha[ETH_ALEN], ipv4_addr spa, const u8 tha[ETH_ALEN], ipv4_addr tpa);
/* An IPv4 header (no options, DF, TTL 64) with its checksum, for `payload` bytes after it; returns the payload. */
u8 *ipv4_header(u8 *p, u8 proto, ipv4_addr src, ipv4_addr dst, u16 payload, u16 id);
/* A UDP header; the checksum is 0 (none), which IPv4 allows. Returns where the payload goes. */
u8 *udp_header(u8 *p, u16 src_port, u16 dst_port, u16 payload);

/* What the parser found in a received frame. */
struct inet_frame {
	const u8 *src_mac;
	const u8 *dst_mac;
	u16 type;
	/* ARP: op, sender and target. */
	u16 arp_op;
	const u8 *arp_sha;
	ipv4_addr arp_spa;
	ipv4_addr arp_tpa;
	/* IPv4 (header checksum and lengths already checked): addresses, protocol and the bytes after the header. */
	ipv4_addr ip_src;
	ipv4_addr ip_dst;
	u8 ip_proto;
	const u8 *l4;
	u32 l4_len;
};

/*
 * Parses Ethernet, then ARP or IPv4. False (with *why) for an ARP or IPv4 frame that is malformed: a short frame,
 * a bad header checksum, a total length beyond the frame. Other EtherTypes parse with only the Ethernet fields.
 */
bool inet_parse(const u8 *frame, u32 len, struct inet_frame *out, const char **why);

#endif
