#include "inet.h"

bool parse_ipv4(const char *text, ipv4_addr *out)
{
	ipv4_addr a = 0;
	const char *p = text;
	for (unsigned i = 0; i < 4; i++) {
		u64 part;
		if (*p == '0' && (p[1] == 'x' || p[1] == 'X'))
			return false;
		p = parse_number(p, &part);
		if (!p || part > 255 || (i < 3 ? *p++ != '.' : *p != '\0'))
			return false;
		a = a << 8 | (u32)part;
	}
	*out = a;
	return true;
}

void format_ipv4(ipv4_addr a, char *out, size_t cap)
{
	format(out, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

bool parse_mac(const char *text, u8 mac[ETH_ALEN])
{
	for (unsigned i = 0; i < ETH_ALEN; i++) {
		int hi = digit_value(text[0]), lo = digit_value(text[1]);
		if (hi > 15 || lo > 15 || text[2] != (i + 1 < ETH_ALEN ? ':' : '\0'))
			return false;
		mac[i] = (u8)(hi << 4 | lo);
		text += 3;
	}
	return true;
}

void format_mac(const u8 mac[ETH_ALEN], char *out, size_t cap)
{
	format(out, cap, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

u32 inet_sum(const void *data, u32 len, u32 sum)
{
	const u8 *p = data;
	/* 64-bit accumulation: no frame has enough 16-bit words to overflow it. */
	u64 acc = sum;
	for (; len >= 2; p += 2, len -= 2)
		acc += get16(p);
	if (len)
		acc += (u32)p[0] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (u32)acc;
}

u8 *eth_header(u8 *frame, const u8 dst[ETH_ALEN], const u8 src[ETH_ALEN], u16 type)
{
	memcpy(frame, dst, ETH_ALEN);
	memcpy(frame + ETH_ALEN, src, ETH_ALEN);
	put16(frame + 2 * ETH_ALEN, type);
	return frame + ETH_HLEN;
}

u32 arp_frame(u8 *frame, u16 op, const u8 sha[ETH_ALEN], ipv4_addr spa, const u8 tha[ETH_ALEN], ipv4_addr tpa)
{
	static const u8 broadcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	u8 *a = eth_header(frame, op == ARP_REQUEST ? broadcast : tha, sha, ETH_P_ARP);
	put16(a, 1); /* Ethernet */
	put16(a + 2, ETH_P_IP);
	a[4] = ETH_ALEN;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, sha, ETH_ALEN);
	put32(a + 14, spa);
	memcpy(a + 18, tha, ETH_ALEN);
	put32(a + 24, tpa);
	return ETH_HLEN + ARP_LEN;
}

u8 *ipv4_header(u8 *p, u8 proto, ipv4_addr src, ipv4_addr dst, u16 payload, u16 id)
{
	p[0] = 0x45;
	p[1] = 0;
	put16(p + 2, (u16)(IPV4_HLEN + payload));
	put16(p + 4, id);
	put16(p + 6, 0x4000); /* DF */
	p[8] = 64;
	p[9] = proto;
	put16(p + 10, 0);
	put32(p + 12, src);
	put32(p + 16, dst);
	put16(p + 10, inet_fold(inet_sum(p, IPV4_HLEN, 0)));
	return p + IPV4_HLEN;
}

u8 *udp_header(u8 *p, u16 src_port, u16 dst_port, u16 payload)
{
	put16(p, src_port);
	put16(p + 2, dst_port);
	put16(p + 4, (u16)(UDP_HLEN + payload));
	put16(p + 6, 0);
	return p + UDP_HLEN;
}

static bool parse_arp(const u8 *a, u32 len, struct inet_frame *out, const char **why)
{
	if (len < ARP_LEN || get16(a) != 1 || get16(a + 2) != ETH_P_IP || a[4] != ETH_ALEN || a[5] != 4) {
		*why = "an ARP frame that is not IPv4 over Ethernet, or is short";
		return false;
	}
	out->arp_op = get16(a + 6);
	out->arp_sha = a + 8;
	out->arp_spa = get32(a + 14);
	out->arp_tpa = get32(a + 24);
	return true;
}

static bool parse_ipv4_packet(const u8 *p, u32 len, struct inet_frame *out, const char **why)
{
	u32 ihl = (u32)(p[0] & 0xf) * 4;
	if (len < IPV4_HLEN || p[0] >> 4 != 4 || ihl < IPV4_HLEN || ihl > len) {
		*why = "an IPv4 packet with a bad version or header length";
		return false;
	}
	u32 total = get16(p + 2);
	if (total < ihl || total > len) {
		*why = "an IPv4 total length beyond the frame";
		return false;
	}
	if (inet_fold(inet_sum(p, ihl, 0)) != 0) {
		*why = "an IPv4 header checksum that does not add up";
		return false;
	}
	out->ip_proto = p[9];
	out->ip_src = get32(p + 12);
	out->ip_dst = get32(p + 16);
	out->l4 = p + ihl;
	out->l4_len = total - ihl;
	return true;
}

bool inet_parse(const u8 *frame, u32 len, struct inet_frame *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	if (len < ETH_HLEN) {
		*why = "a frame shorter than an Ethernet header";
		return false;
	}
	out->dst_mac = frame;
	out->src_mac = frame + ETH_ALEN;
	out->type = get16(frame + 2 * ETH_ALEN);
	if (out->type == ETH_P_ARP)
		return parse_arp(frame + ETH_HLEN, len - ETH_HLEN, out, why);
	if (out->type == ETH_P_IP)
		return parse_ipv4_packet(frame + ETH_HLEN, len - ETH_HLEN, out, why);
	return true;
}
