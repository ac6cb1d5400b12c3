/*
 * The host's end of the net benchmark, run inside the benchmark's network namespace. One mode per call, each runs
 * for MS milliseconds (or until SIGTERM / SIGINT) and prints one line: net-peer frames=N bytes=N us=N
 *   gen IFACE DST_MAC DST_IP SRC_MAC SRC_IP SIZE MS    send UDP/IPv4 frames of SIZE bytes out of IFACE (a packet
 *                                                     socket): what the guest receives in its rx benchmark
 *   tapwrite TAP DST_MAC DST_IP SRC_MAC SRC_IP SIZE MS write such frames into the tap's own fd, as a monitor does
 *                                                     with what its guest sends
 *   tapread TAP MS                                    read frames from the tap's own fd, as a monitor does for rx
 * tapwrite, and tapread beside gen, with no monitor are the host's own limit on that tap. The frames are UDP from
 * port 9 to port 9; each payload starts with a 64-bit little-endian sequence number from 0 (the guest counts
 * losses by it). Built by bench/net.ts with the system gcc; no dependency beyond libc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME 1514

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int packet_socket(const char *iface, int protocol)
{
	int s = socket(AF_PACKET, SOCK_RAW, htons(protocol));
	if (s < 0)
		die("socket(AF_PACKET)");
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(protocol),
				   .sll_ifindex = (int)if_nametoindex(iface) };
	if (sll.sll_ifindex == 0)
		die(iface);
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("bind(AF_PACKET)");
	return s;
}

static int tap_open(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0)
		die("/dev/net/tun");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF");
	return fd;
}

static int parse_mac(const char *text, uint8_t mac[6])
{
	unsigned v[6];
	if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static uint16_t ip_checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An Ethernet frame carrying a UDP datagram (no UDP checksum, which IPv4 allows) of `size` bytes in all. */
static void make_frame(uint8_t *f, size_t size, const uint8_t dst[6], const uint8_t src[6], uint32_t dst_ip,
		       uint32_t src_ip)
{
	for (size_t i = 0; i < size; i++)
		f[i] = (uint8_t)(i * 13u + 5u);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08, f[13] = 0x00;
	uint8_t *ip = f + 14;
	size_t ip_len = size - 14;
	memset(ip, 0, 20);
	ip[0] = 0x45, ip[2] = (uint8_t)(ip_len >> 8), ip[3] = (uint8_t)ip_len, ip[8] = 64, ip[9] = 17;
	memcpy(ip + 12, &src_ip, 4);
	memcpy(ip + 16, &dst_ip, 4);
	uint16_t c = ip_checksum(ip, 20);
	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	uint8_t *udp = ip + 20;
	size_t udp_len = ip_len - 20;
	udp[0] = 0, udp[1] = 9, udp[2] = 0, udp[3] = 9;
	udp[4] = (uint8_t)(udp_len >> 8), udp[5] = (uint8_t)udp_len;
	udp[6] = 0, udp[7] = 0;
}

/* The sequence number at the start of the UDP payload, little-endian (x86 stores it so). */
static void set_sequence(uint8_t *f, uint64_t seq)
{
	memcpy(f + 14 + 20 + 8, &seq, sizeof(seq));
}

static uint32_t parse_ip(const char *text)
{
	struct in_addr a;
	if (inet_pton(AF_INET, text, &a) != 1) {
		fprintf(stderr, "net-peer: bad IPv4 address %s\n", text);
		exit(2);
	}
	return a.s_addr;
}

static size_t frame_size(const char *text)
{
	long n = strtol(text, NULL, 10);
	if (n < 14 + 20 + 8 + 8 || n > MAX_FRAME) {
		fprintf(stderr, "net-peer: frame size %s is outside 50..%d\n", text, MAX_FRAME);
		exit(2);
	}
	return (size_t)n;
}

int main(int argc, char **argv)
{
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (argc < 4) {
		fprintf(stderr, "usage: net-peer gen|tapwrite|tapread IFACE ... MS\n");
		return 2;
	}
	const char *mode = argv[1];
	uint64_t ms = strtoull(argv[argc - 1], NULL, 10);
	uint8_t frame[MAX_FRAME], buf[65536];
	uint64_t frames = 0, bytes = 0;
	size_t size = 0;
	int fd;
	bool sending = strcmp(mode, "gen") == 0 || strcmp(mode, "tapwrite") == 0;
	if (sending && argc == 9) {
		uint8_t dst[6], src[6];
		if (parse_mac(argv[3], dst) || parse_mac(argv[5], src)) {
			fprintf(stderr, "net-peer: bad MAC\n");
			return 2;
		}
		size = frame_size(argv[7]);
		make_frame(frame, size, dst, src, parse_ip(argv[4]), parse_ip(argv[6]));
		fd = strcmp(mode, "gen") == 0 ? packet_socket(argv[2], ETH_P_IP) : tap_open(argv[2]);
	} else if (strcmp(mode, "tapread") == 0 && argc == 4) {
		fd = tap_open(argv[2]);
	} else {
		fprintf(stderr, "net-peer: bad arguments for %s\n", mode);
		return 2;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	uint64_t start = now_us(), end = start + ms * 1000;
	while (!stop && now_us() < end) {
		ssize_t n;
		if (sending) {
			set_sequence(frame, frames);
			n = write(fd, frame, size);
		} else {
			n = read(fd, buf, sizeof(buf));
		}
		if (n > 0) {
			frames++;
			bytes += (uint64_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = sending ? POLLOUT : POLLIN };
			poll(&p, 1, 50);
		} else if (n < 0 && (errno == ENOBUFS || errno == ENETDOWN || errno == ENXIO || errno == EIO)) {
			/* The tap's queue is full, or no monitor holds the tap yet: the frame is lost, try again soon. */
			usleep(200);
		} else if (n < 0 && errno != EINTR) {
			die(mode);
		}
	}
	printf("net-peer frames=%llu bytes=%llu us=%llu\n", (unsigned long long)frames, (unsigned long long)bytes,
	       (unsigned long long)(now_us() - start));
	return 0;
}
