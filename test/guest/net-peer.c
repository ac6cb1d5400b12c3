#include "net-peer.h"
#include "guest.h"

#define RESOLVE_RETRY_MS 1000

static ipv4_addr cmdline_ipv4(const char *key)
{
	ipv4_addr a;
	const char *text = cmdline_get(key, NULL, 0);
	if (!text)
		fail("%s= is missing from the cmdline", key);
	if (!parse_ipv4(text, &a))
		fail("cmdline: %s=%s is not an IPv4 address", key, text);
	return a;
}

static void check_mac(struct net_peer *p)
{
	u8 want[ETH_ALEN];
	char got_text[24];
	const char *text = cmdline_get("net_mac", NULL, 0);
	if (!text)
		return;
	if (!parse_mac(text, want))
		fail("cmdline: net_mac=%s is not a MAC address", text);
	format_mac(p->n.mac, got_text, sizeof(got_text));
	if (memcmp(want, p->n.mac, ETH_ALEN) != 0)
		fail("net: the device's MAC is %s, expected %s", got_text, text);
}

void net_peer_open(struct net_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->ip = cmdline_ipv4("net_ip");
	p->host = cmdline_ipv4("net_host");
	struct net_options o = {
		.mergeable = cmdline_number("net_mrg", 1) != 0,
		.event_idx = cmdline_number("net_event_idx", 1) != 0,
		.rx_buf_bytes = (u32)cmdline_number("net_rxbuf", 2048),
		.rx_bufs = (u16)cmdline_number("net_rxbufs", 128),
		.tx_slots = 64,
	};
	net_open(&p->n, &o);
	check_mac(p);
	if (!(p->n.link_status & VIRTIO_NET_S_LINK_UP))
		fail("net: the device reports its link down (status 0x%x)", p->n.link_status);
}

void net_peer_describe(struct net_peer *p)
{
	char mac[24];
	format_mac(p->n.mac, mac, sizeof(mac));
	data("mac=%s features=0x%lx mrg=%d rxbuf=%u rxbufs=%u tsc_khz=%lu tsc_source=%s", mac, p->n.dev.features,
	     net_mergeable(&p->n), p->n.opt.rx_buf_bytes, p->n.opt.rx_bufs, tsc_khz(), tsc_source());
}

void net_peer_parse(const struct net_frame *f, struct inet_frame *in)
{
	const char *why;
	if (!inet_parse(f->data, f->len, in, &why))
		fail("net: received %s (%u bytes)", why, f->len);
}

static void send_arp(struct net_peer *p, u16 op, const u8 tha[ETH_ALEN], ipv4_addr tpa)
{
	u8 frame[ETH_HLEN + ARP_LEN];
	u32 len = arp_frame(frame, op, p->n.mac, p->ip, tha, tpa);
	if (!net_send(&p->n, frame, len, false, deadline_ms(virtio_timeout_ms())))
		fail("net: the device took no transmitted frame back for %lu ms", virtio_timeout_ms());
}

void net_peer_other(struct net_peer *p, const struct inet_frame *in)
{
	if (in->type == ETH_P_ARP && in->arp_op == ARP_REQUEST && in->arp_tpa == p->ip) {
		send_arp(p, ARP_REPLY, in->arp_sha, in->arp_spa);
		p->arp_answered++;
		return;
	}
	p->other++;
}

static bool is_host_reply(struct net_peer *p, const struct inet_frame *in)
{
	return in->type == ETH_P_ARP && in->arp_op == ARP_REPLY && in->arp_spa == p->host && in->arp_tpa == p->ip &&
	       memcmp(in->dst_mac, p->n.mac, ETH_ALEN) == 0;
}

void net_peer_resolve(struct net_peer *p)
{
	static const u8 unknown[ETH_ALEN];
	u64 give_up = deadline_ms(virtio_timeout_ms());
	while (!deadline_passed(give_up)) {
		send_arp(p, ARP_REQUEST, unknown, p->host);
		p->arp_sent++;
		u64 retry = deadline_ms(RESOLVE_RETRY_MS);
		struct net_frame f;
		while (net_recv(&p->n, retry, &f)) {
			struct inet_frame in;
			net_peer_parse(&f, &in);
			if (is_host_reply(p, &in)) {
				memcpy(p->host_mac, in.arp_sha, ETH_ALEN);
				return;
			}
			net_peer_other(p, &in);
		}
	}
	char host[16];
	format_ipv4(p->host, host, sizeof(host));
	fail("net: no ARP reply for %s after %lu requests", host, p->arp_sent);
}
