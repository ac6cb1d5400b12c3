/*
 * test=console: virtio-console echo. Posts receive buffers, writes a greeting line on the transmit queue
 * ("tsvmm-console: ready"), then writes back every byte it receives until a line "quit" arrives (echoed too)
 * or console_bytes= bytes have (when given). The data line carries the bytes and their FNV-1a hash.
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio.h"

#define RX 0
#define TX 1
#define RX_BUFFERS 16
#define RX_BYTES 512
#define GREETING "tsvmm-console: ready\n"
#define TERMINATOR "quit"

struct echo {
	struct virtq *rx;
	struct virtq *tx;
	u8 *rx_bufs;
	u8 *tx_buf;
	u64 bytes;
	u64 lines;
	u64 hash;
	char line[8];
	unsigned line_len;
	bool done;
};

static void post_rx(struct echo *e, unsigned slot)
{
	if (virtq_post_buf(e->rx, e->rx_bufs + slot * RX_BYTES, RX_BYTES, true, slot) < 0)
		fail("console: receive queue full");
}

static void send(struct echo *e, const void *bytes, u32 len)
{
	struct virtq_done done;
	memcpy(e->tx_buf, bytes, len);
	if (virtq_post_buf(e->tx, e->tx_buf, len, false, 0) < 0)
		fail("console: transmit queue full");
	virtq_kick(e->tx);
	if (!virtq_wait_default(e->tx, &done))
		fail("console: the device did not take %u bytes of output", len);
}

/* Tracks lines to spot the terminator; a line longer than the terminator can never be it. */
static void scan(struct echo *e, const u8 *p, u32 len)
{
	for (u32 i = 0; i < len && !e->done; i++) {
		if (p[i] == '\n') {
			e->lines++;
			e->line[e->line_len < sizeof(e->line) ? e->line_len : sizeof(e->line) - 1] = '\0';
			e->done = e->line_len == sizeof(TERMINATOR) - 1 && str_eq(e->line, TERMINATOR);
			e->line_len = 0;
		} else if (e->line_len < sizeof(e->line) - 1) {
			e->line[e->line_len++] = (char)p[i];
		} else {
			e->line_len = sizeof(e->line);
		}
	}
}

static void setup(struct echo *e, struct virtio_dev *d)
{
	virtio_open(d, VIRTIO_ID_CONSOLE, 0,
		    &(struct virtio_setup){ .wanted = VIRTIO_F_EVENT_IDX, .queue_sizes = { [RX] = 64, [TX] = 64 } });
	e->rx = &d->queues[RX];
	e->tx = &d->queues[TX];
	e->rx_bufs = alloc(RX_BUFFERS * RX_BYTES, 4096);
	e->tx_buf = alloc(RX_BYTES, 4096);
	e->hash = FNV1A_INIT;
	for (unsigned i = 0; i < RX_BUFFERS; i++)
		post_rx(e, i);
	virtq_kick(e->rx);
}

void test_console(void)
{
	struct virtio_dev d;
	struct echo e = { 0 };
	u64 limit = cmdline_number("console_bytes", 0);
	u64 wait_ms = cmdline_number("console_wait_ms", 60000);
	setup(&e, &d);
	send(&e, GREETING, sizeof(GREETING) - 1);
	struct virtq_done done;
	while (!e.done && (!limit || e.bytes < limit)) {
		if (!virtq_wait(e.rx, deadline_ms(wait_ms), &done))
			fail("console: no input for %lu ms after %lu bytes", wait_ms, e.bytes);
		if (done.len > RX_BYTES)
			fail("console: the device claims %u bytes in a %u-byte buffer", done.len, RX_BYTES);
		const u8 *p = e.rx_bufs + done.token * RX_BYTES;
		scan(&e, p, done.len);
		e.hash = fnv1a(e.hash, p, done.len);
		e.bytes += done.len;
		if (done.len)
			send(&e, p, done.len);
		post_rx(&e, (unsigned)done.token);
		virtq_kick(e.rx);
	}
	data("bytes=%lu lines=%lu fnv1a=0x%016lx", e.bytes, e.lines, e.hash);
}
