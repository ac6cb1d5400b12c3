/*
 * test=net: virtio-net against the host's IP stack on a tap (addresses and device options on the cmdline: see
 * net-peer.h). Resolves the host's MAC by ARP, then sends net_count= ICMP echo requests (default 32), one at a
 * time, with payloads of several sizes up to net_payload= bytes (default 1472, a full-MTU frame) and patterned
 * bytes, the IPv4 and ICMP checksums computed here; every echo reply must carry the same id, sequence number and
 * payload byte for byte, with correct checksums. Odd sequence numbers send the header and the frame as two
 * descriptors. With MRG_RXBUF and receive buffers smaller than the largest reply, that reply must span several
 * buffers. The host's ARP requests are answered throughout. At the end the device is reset and must stop using
 * its queues the moment Status reads 0.
 * Data lines: the device (mac= features= mrg= rxbuf= rxbufs=), then
 *   pings= tx_frames= tx_bytes= rx_frames= rx_bytes= rx_multi= rx_max_buffers= arp_sent= arp_answered= other=
 *   drained= late=
 * Bytes are Ethernet frame bytes (no virtio-net header); tx counts frames the device took back; drained counts
 * the frames (either way) found in the used rings right after the reset, already in the totals; late the used
 * entries that appeared after it (the test fails unless 0).
 */
#include "../guest.h"
#include "../memory.h"
#include "../net-peer.h"

#define SETTLE_MS 20
#define LARGEST 0xffff

/* Cycled through by sequence number; LARGEST stands for net_payload=. */
static const u32 sizes[] = { 56, 0, 1, 18, 64, 255, 512, 1000, 1400, LARGEST };

struct pinger {
	struct net_peer *p;
	u16 id;
	u32 max_payload;
	u32 largest_frame;
	u8 *frame;
};

static u8 pattern(u16 seq, u32 i)
{
	return (u8)(seq * 29u + i * 7u + (i >> 8) * 3u);
}

static u32 payload_size(struct pinger *g, u16 seq)
{
	u32 s = sizes[seq % ARRAY_LEN(sizes)];
	return s > g->max_payload ? g->max_payload : s;
}

static void send_echo(struct pinger *g, u16 seq)
{
	struct net_peer *p = g->p;
	u32 size = payload_size(g, seq);
	u8 *icmp = ipv4_header(eth_header(g->frame, p->host_mac, p->n.mac, ETH_P_IP), IPPROTO_ICMP, p->ip, p->host,
			       (u16)(ICMP_HLEN + size), seq);
	icmp[0] = ICMP_ECHO_REQUEST;
	icmp[1] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 4, g->id);
	put16(icmp + 6, seq);
	for (u32 i = 0; i < size; i++)
		icmp[ICMP_HLEN + i] = pattern(seq, i);
	put16(icmp + 2, inet_fold(inet_sum(icmp, ICMP_HLEN + size, 0)));
	u32 len = ETH_HLEN + IPV4_HLEN + ICMP_HLEN + size;
	if (len > g->largest_frame)
		g->largest_frame = len;
	if (!net_send(&p->n, g->frame, len, seq & 1, deadline_ms(virtio_timeout_ms())))
		fail("net: the device took no transmitted frame back for %lu ms", virtio_timeout_ms());
}

static bool is_echo_reply(struct net_peer *p, const struct inet_frame *in)
{
	return in->type == ETH_P_IP && in->ip_proto == IPPROTO_ICMP && in->ip_src == p->host && in->ip_dst == p->ip &&
	       in->l4_len >= ICMP_HLEN && in->l4[0] == ICMP_ECHO_REPLY;
}

static void check_reply(struct pinger *g, const struct inet_frame *in, u16 seq)
{
	const u8 *icmp = in->l4;
	u32 size = payload_size(g, seq);
	if (memcmp(in->dst_mac, g->p->n.mac, ETH_ALEN) != 0)
		fail("net: echo reply %u is addressed to another MAC", seq);
	if (get16(icmp + 4) != g->id || get16(icmp + 6) != seq || icmp[1] != 0)
		fail("net: echo reply id %u seq %u code %u, expected id %u seq %u code 0", get16(icmp + 4),
		     get16(icmp + 6), icmp[1], g->id, seq);
	if (in->l4_len != ICMP_HLEN + size)
		fail("net: echo reply %u carries %u payload bytes, %u were sent", seq, in->l4_len - ICMP_HLEN, size);
	if (inet_fold(inet_sum(icmp, in->l4_len, 0)) != 0)
		fail("net: echo reply %u has an ICMP checksum that does not add up", seq);
	for (u32 i = 0; i < size; i++) {
		if (icmp[ICMP_HLEN + i] != pattern(seq, i))
			fail("net: echo reply %u differs at payload byte %u (0x%02x, sent 0x%02x)", seq, i,
			     icmp[ICMP_HLEN + i], pattern(seq, i));
	}
}

static void ping(struct pinger *g, u16 seq)
{
	struct net_peer *p = g->p;
	struct net_frame f;
	struct inet_frame in;
	send_echo(g, seq);
	u64 deadline = deadline_ms(virtio_timeout_ms());
	while (net_recv(&p->n, deadline, &f)) {
		net_peer_parse(&f, &in);
		if (is_echo_reply(p, &in)) {
			check_reply(g, &in, seq);
			return;
		}
		net_peer_other(p, &in);
	}
	fail("net: no echo reply to request %u (%u payload bytes) in %lu ms", seq, payload_size(g, seq),
	     virtio_timeout_ms());
}

void test_net(void)
{
	static struct net_peer peer;
	struct net_peer *p = &peer;
	net_peer_open(p);
	net_peer_describe(p);
	u64 count = cmdline_number("net_count", 32);
	u64 max_payload = cmdline_number("net_payload", IP_MTU - IPV4_HLEN - ICMP_HLEN);
	if (count == 0 || count > 0xffff)
		fail("cmdline: net_count=%lu is not between 1 and 65535", count);
	if (max_payload > IP_MTU - IPV4_HLEN - ICMP_HLEN)
		fail("cmdline: net_payload=%lu does not fit the MTU of %u", max_payload, IP_MTU);
	struct pinger g = { .p = p, .id = (u16)rdtsc(), .max_payload = (u32)max_payload, .frame = alloc(ETH_FRAME_MAX, 64) };
	net_peer_resolve(p);
	for (u16 seq = 0; seq < count; seq++)
		ping(&g, seq);
	if (!net_tx_flush(&p->n, deadline_ms(virtio_timeout_ms())))
		fail("net: the device did not take back every transmitted frame");
	struct net_counts *c = &p->n.counts;
	if (net_mergeable(&p->n) && g.largest_frame + VIRTIO_NET_HDR_BYTES > p->n.opt.rx_buf_bytes && c->rx_multi == 0)
		fail("net: a %u-byte reply came back in one %u-byte buffer", g.largest_frame, p->n.opt.rx_buf_bytes);
	u64 drained;
	u64 late = net_stop(&p->n, SETTLE_MS, &drained);
	data("pings=%lu tx_frames=%lu tx_bytes=%lu rx_frames=%lu rx_bytes=%lu rx_multi=%lu rx_max_buffers=%lu arp_sent=%lu "
	     "arp_answered=%lu other=%lu drained=%lu late=%lu",
	     count, c->tx_frames, c->tx_bytes, c->rx_frames, c->rx_bytes, c->rx_multi, c->rx_max_buffers, p->arp_sent,
	     p->arp_answered, p->other, drained, late);
	if (late)
		fail("net: the device used %lu buffers in the %u ms after its reset completed", late, SETTLE_MS);
}
