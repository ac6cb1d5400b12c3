/*
 * test=torture: malformed requests to the first virtio-blk device, one at a time. For each: initialize the
 * device, make the bad request available, see what the device did (a status byte of IOERR or UNSUPP, or
 * DEVICE_NEEDS_RESET in Status), then reset, initialize again and prove with a write and a read that the device
 * works. `torture_wait_ms=` bounds the wait for the device's answer (default 3000); `torture_survey=1` records
 * what the device did without failing on an unexpected answer (to compare monitors), but still fails when the
 * device does not recover.
 * One data line per case (`case=<name> outcome=<what the device did>`) and a summary line.
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio-blk.h"

enum outcome {
	OUT_NEEDS_RESET = 1,
	OUT_IOERR = 2,
	OUT_UNSUPP = 4,
	OUT_OK = 8,
	OUT_OTHER_STATUS = 16,
	OUT_NOTHING = 32,
};

#define QUEUE_SIZE 16
#define PROOF_SECTORS 8
#define TOKEN 0x70727475

struct torture {
	struct blk *b;
	struct virtio_blk_header *hdr;
	u8 *status;
	u8 *data;
	/* Two indirect tables of four entries each. */
	struct virtq_desc *tables;
	/* A guest-physical address that is not RAM. */
	u64 outside;
};

struct torture_case {
	const char *name;
	void (*inject)(struct torture *t);
	unsigned expect;
};

static struct virtq *queue(struct torture *t)
{
	return t->b->q;
}

static void set_header(struct torture *t, u32 type, u64 sector)
{
	*t->hdr = (struct virtio_blk_header){ type, 0, sector };
	*t->status = BLK_STATUS_UNWRITTEN;
}

static void desc(struct torture *t, u16 i, const void *addr, u32 len, u16 flags, u16 next)
{
	virtq_raw_desc(queue(t), i, (u64)addr, len, flags, next);
}

static void table_desc(struct virtq_desc *table, u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
	table[i] = (struct virtq_desc){ addr, len, flags, next };
}

static void go(struct torture *t, u16 head)
{
	virtq_raw_publish(queue(t), head, TOKEN);
	virtq_notify(queue(t));
}

/* header | 4 KiB data at `addr` | status: a read whose data buffer lies wherever addr says. */
static void read_into(struct torture *t, u64 addr)
{
	set_header(t, VIRTIO_BLK_T_IN, 0);
	desc(t, 0, t->hdr, sizeof(*t->hdr), VIRTQ_DESC_F_NEXT, 1);
	desc(t, 1, (void *)addr, 4096, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	desc(t, 2, t->status, 1, VIRTQ_DESC_F_WRITE, 0);
	go(t, 0);
}

static void buffer_outside_ram(struct torture *t)
{
	read_into(t, t->outside);
}

static void buffer_in_device_window(struct torture *t)
{
	read_into(t, t->b->dev.win.base);
}

static void looping_chain(struct torture *t)
{
	set_header(t, VIRTIO_BLK_T_IN, 0);
	desc(t, 0, t->hdr, sizeof(*t->hdr), VIRTQ_DESC_F_NEXT, 1);
	desc(t, 1, t->data, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	desc(t, 2, t->status, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	go(t, 0);
}

static void nested_indirect(struct torture *t)
{
	struct virtq_desc *outer = t->tables, *inner = t->tables + 4;
	set_header(t, VIRTIO_BLK_T_IN, 0);
	table_desc(inner, 0, (u64)t->data, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	table_desc(inner, 1, (u64)t->status, 1, VIRTQ_DESC_F_WRITE, 0);
	table_desc(outer, 0, (u64)t->hdr, sizeof(*t->hdr), VIRTQ_DESC_F_NEXT, 1);
	table_desc(outer, 1, (u64)inner, 2 * sizeof(*inner), VIRTQ_DESC_F_INDIRECT, 0);
	desc(t, 0, outer, 2 * sizeof(*outer), VIRTQ_DESC_F_INDIRECT, 0);
	go(t, 0);
}

static void indirect_with_next(struct torture *t)
{
	struct virtq_desc *table = t->tables;
	set_header(t, VIRTIO_BLK_T_IN, 0);
	table_desc(table, 0, (u64)t->hdr, sizeof(*t->hdr), VIRTQ_DESC_F_NEXT, 1);
	table_desc(table, 1, (u64)t->data, 512, VIRTQ_DESC_F_WRITE, 0);
	desc(t, 0, table, 2 * sizeof(*table), VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	desc(t, 1, t->status, 1, VIRTQ_DESC_F_WRITE, 0);
	go(t, 0);
}

static void no_status_byte(struct torture *t)
{
	set_header(t, VIRTIO_BLK_T_OUT, 0);
	desc(t, 0, t->hdr, sizeof(*t->hdr), VIRTQ_DESC_F_NEXT, 1);
	desc(t, 1, t->data, 512, 0, 0);
	go(t, 0);
}

static void short_header(struct torture *t)
{
	set_header(t, VIRTIO_BLK_T_IN, 0);
	desc(t, 0, t->hdr, 8, VIRTQ_DESC_F_NEXT, 1);
	desc(t, 1, t->status, 1, VIRTQ_DESC_F_WRITE, 0);
	go(t, 0);
}

static void readable_after_writable(struct torture *t)
{
	set_header(t, VIRTIO_BLK_T_OUT, 0);
	desc(t, 0, t->hdr, sizeof(*t->hdr), VIRTQ_DESC_F_NEXT, 1);
	desc(t, 1, t->status, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	desc(t, 2, t->data, 512, 0, 0);
	go(t, 0);
}

static void head_out_of_range(struct torture *t)
{
	go(t, (u16)(queue(t)->size + 3));
}

static void avail_idx_jump(struct torture *t)
{
	virtq_raw_set_avail_idx(queue(t), (u16)(queue(t)->size + 5));
	virtq_notify(queue(t));
}

/* The device is handed rings that are not RAM; DRIVER_OK and a notify follow. */
static void queue_outside_ram(struct torture *t)
{
	struct blk *b = t->b;
	const char *why;
	if (!virtio_start(&b->dev, 0, VIRTIO_F_INDIRECT_DESC, &why) || !virtq_create(&b->dev, 0, QUEUE_SIZE, &why))
		fail("queue-outside-ram: %s", why);
	virtq_program(b->q, t->outside, t->outside + 0x10000, t->outside + 0x20000);
	virtio_driver_ok(&b->dev);
	read_into(t, (u64)t->data);
}

static void unknown_type(struct torture *t)
{
	set_header(t, 0xdead, 0);
	desc(t, 0, t->hdr, sizeof(*t->hdr), VIRTQ_DESC_F_NEXT, 1);
	desc(t, 1, t->status, 1, VIRTQ_DESC_F_WRITE, 0);
	go(t, 0);
}

static void write_past_end(struct torture *t)
{
	set_header(t, VIRTIO_BLK_T_OUT, t->b->capacity);
	desc(t, 0, t->hdr, sizeof(*t->hdr), VIRTQ_DESC_F_NEXT, 1);
	desc(t, 1, t->data, 512, VIRTQ_DESC_F_NEXT, 2);
	desc(t, 2, t->status, 1, VIRTQ_DESC_F_WRITE, 0);
	go(t, 0);
}

static const struct torture_case cases[] = {
	{ "buffer-outside-ram", buffer_outside_ram, OUT_NEEDS_RESET },
	{ "buffer-in-device-window", buffer_in_device_window, OUT_NEEDS_RESET },
	{ "looping-chain", looping_chain, OUT_NEEDS_RESET },
	{ "nested-indirect", nested_indirect, OUT_NEEDS_RESET },
	{ "indirect-with-next", indirect_with_next, OUT_NEEDS_RESET },
	{ "no-status-byte", no_status_byte, OUT_NEEDS_RESET },
	{ "short-header", short_header, OUT_NEEDS_RESET },
	{ "readable-after-writable", readable_after_writable, OUT_NEEDS_RESET },
	{ "head-out-of-range", head_out_of_range, OUT_NEEDS_RESET },
	{ "avail-idx-jump", avail_idx_jump, OUT_NEEDS_RESET },
	{ "queue-outside-ram", queue_outside_ram, OUT_NEEDS_RESET },
	{ "unknown-type", unknown_type, OUT_UNSUPP },
	{ "write-past-end", write_past_end, OUT_IOERR },
};

static const char *outcome_name(unsigned o)
{
	static const char *names[] = { "needs-reset", "ioerr", "unsupp", "ok", "other-status", "nothing" };
	return names[__builtin_ctz(o)];
}

static unsigned observe(struct torture *t)
{
	struct virtq_done done;
	u64 deadline = deadline_ms(cmdline_number("torture_wait_ms", 3000));
	switch (virtq_wait_or_reset(queue(t), deadline, &done)) {
	case VIRTQ_NEEDS_RESET:
		return OUT_NEEDS_RESET;
	case VIRTQ_TIMEOUT:
		return virtio_needs_reset(&t->b->dev) ? OUT_NEEDS_RESET : OUT_NOTHING;
	case VIRTQ_USED:
		break;
	}
	switch (*t->status) {
	case VIRTIO_BLK_S_OK:
		return OUT_OK;
	case VIRTIO_BLK_S_IOERR:
		return OUT_IOERR;
	case VIRTIO_BLK_S_UNSUPP:
		return OUT_UNSUPP;
	default:
		return OUT_OTHER_STATUS;
	}
}

/* After a reset and a fresh init, a stamped write and its read-back must work. */
static void prove_recovered(struct torture *t, const char *name, unsigned round)
{
	struct blk *b = t->b;
	const char *why;
	if (!blk_restart(b, VIRTIO_F_INDIRECT_DESC, QUEUE_SIZE, &why))
		fail("%s: the device does not come back after a reset: %s", name, why);
	u64 sector = b->capacity / 4 + round * PROOF_SECTORS;
	u64 *buf = (u64 *)t->data;
	for (unsigned i = 0; i < PROOF_SECTORS * SECTOR_SIZE / 8; i++)
		buf[i] = sector ^ (u64)i << 20 ^ round;
	int st = blk_do(b, VIRTIO_BLK_T_OUT, sector, t->data, PROOF_SECTORS * SECTOR_SIZE, BLK_SHAPE_SPLIT, 0);
	if (st != VIRTIO_BLK_S_OK)
		fail("%s: a write after the reset ended %s", name, blk_status_name(st));
	memset(t->data, 0, PROOF_SECTORS * SECTOR_SIZE);
	st = blk_do(b, VIRTIO_BLK_T_IN, sector, t->data, PROOF_SECTORS * SECTOR_SIZE, BLK_SHAPE_PLAIN, 0);
	if (st != VIRTIO_BLK_S_OK)
		fail("%s: a read after the reset ended %s", name, blk_status_name(st));
	for (unsigned i = 0; i < PROOF_SECTORS * SECTOR_SIZE / 8; i++) {
		if (buf[i] != (sector ^ (u64)i << 20 ^ round))
			fail("%s: after the reset, sector %lu reads back other data", name, sector + i * 8 / SECTOR_SIZE);
	}
}

static void setup(struct torture *t, struct blk *b)
{
	blk_open(b, 0, VIRTIO_F_INDIRECT_DESC, QUEUE_SIZE);
	if (!(b->dev.features & VIRTIO_F_INDIRECT_DESC))
		fail("the device does not offer INDIRECT_DESC, which the indirect cases need");
	if (b->capacity < 4 * PROOF_SECTORS * ARRAY_LEN(cases))
		fail("capacity %lu sectors is too small", b->capacity);
	t->b = b;
	t->hdr = alloc(sizeof(*t->hdr), 16);
	t->status = alloc(1, 1);
	t->data = alloc(PROOF_SECTORS * SECTOR_SIZE, 4096);
	t->tables = alloc(8 * sizeof(struct virtq_desc), 16);
	/* Past the highest RAM, a whole GiB clear of it. */
	t->outside = align_up(memory_ram_end(), 1ull << 30) + (1ull << 30);
}

void test_torture(void)
{
	struct blk b;
	struct torture t;
	unsigned counts[6] = { 0 };
	bool survey = cmdline_flag("torture_survey");
	setup(&t, &b);
	for (unsigned i = 0; i < ARRAY_LEN(cases); i++) {
		const struct torture_case *c = &cases[i];
		const char *why;
		if (c->inject != queue_outside_ram && !blk_restart(&b, VIRTIO_F_INDIRECT_DESC, QUEUE_SIZE, &why))
			fail("%s: %s", c->name, why);
		c->inject(&t);
		unsigned got = observe(&t);
		counts[__builtin_ctz(got)]++;
		prove_recovered(&t, c->name, i);
		data("case=%s outcome=%s recovered=1", c->name, outcome_name(got));
		if (!(got & c->expect) && !survey)
			fail("%s: the device answered %s, expected %s", c->name, outcome_name(got), outcome_name(c->expect));
	}
	data("cases=%u needs_reset=%u ioerr=%u unsupp=%u ok=%u other=%u nothing=%u", (unsigned)ARRAY_LEN(cases),
	     counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
}
