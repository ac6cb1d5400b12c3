/*
 * test=blk: the first virtio-blk device against what the cmdline says it should be, then every request type.
 *   blk_capacity=<sectors>  blk_serial=<id>  expected capacity and GET_ID answer (checked when given)
 *   blk_ro=1                the disk must offer VIRTIO_BLK_F_RO and refuse writes with IOERR
 *   blk_discard_zeroes=1    discarded sectors must read back as zeroes (else zeroes or the old data)
 *   blk_indirect=0, blk_event_idx=0   do not negotiate INDIRECT_DESC / EVENT_IDX
 * Writes are sector-number-stamped patterns, written and read back through plain, split, merged and indirect
 * chains, one at a time and many in flight; then flush, discard, write-zeroes, and the errors.
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio-blk.h"

#define IN_FLIGHT 16
_Static_assert(IN_FLIGHT <= BLK_REQS, "a request in flight per struct blk_req");
/* The requests in flight lie IN_FLIGHT_STRIDE sectors apart, downward from the middle of the disk. */
#define IN_FLIGHT_SECTORS 8
#define IN_FLIGHT_BYTES (IN_FLIGHT_SECTORS * SECTOR_SIZE)
#define IN_FLIGHT_STRIDE 24
/* The middle (capacity / 2) must be no lower than the span the requests in flight cover below it. */
#define MIN_SECTORS (2 * (IN_FLIGHT_SECTORS + (IN_FLIGHT - 1) * IN_FLIGHT_STRIDE))
#define MAX_RANGE_SECTORS 256

struct range {
	u64 sector;
	u32 sectors;
};

static u64 nonce;
static u8 *scratch;

static void stamp(u8 *buf, u64 sector, u32 sectors)
{
	u64 *w = (u64 *)buf;
	for (u32 s = 0; s < sectors; s++) {
		u64 seed = (sector + s) * 0x9e3779b97f4a7c15ull ^ nonce;
		w[0] = sector + s;
		for (unsigned i = 1; i < SECTOR_SIZE / 8; i++)
			w[i] = seed + i * 0xbf58476d1ce4e5b9ull;
		w += SECTOR_SIZE / 8;
	}
}

/* The first sector of buf that does not hold the stamp of its number, or -1. */
static int64_t first_mismatch(const u8 *buf, u64 sector, u32 sectors)
{
	u8 *expected = scratch + MAX_RANGE_SECTORS * SECTOR_SIZE;
	for (u32 s = 0; s < sectors; s++) {
		stamp(expected, sector + s, 1);
		if (memcmp(buf + (u64)s * SECTOR_SIZE, expected, SECTOR_SIZE) != 0)
			return (int64_t)s;
	}
	return -1;
}

static bool all_zero(const u8 *buf, u64 len)
{
	for (u64 i = 0; i < len; i++) {
		if (buf[i])
			return false;
	}
	return true;
}

static void expect_status(struct blk *b, const char *what, int got, int want)
{
	if (got != want)
		fail("%s: status %s, expected %s (device status 0x%x)", what, blk_status_name(got), blk_status_name(want),
		     virtio_status(&b->dev));
}

static const char *shape_name(enum blk_shape shape, unsigned flags)
{
	static const char *names[] = { "plain", "split", "merged" };
	static char text[32];
	format(text, sizeof(text), "%s%s", names[shape], flags & VIRTQ_POST_INDIRECT ? "+indirect" : "");
	return text;
}

static void write_range(struct blk *b, struct range r, enum blk_shape shape, unsigned flags)
{
	u32 len = r.sectors * SECTOR_SIZE;
	stamp(scratch, r.sector, r.sectors);
	int st = blk_do(b, VIRTIO_BLK_T_OUT, r.sector, scratch, len, shape, flags);
	expect_status(b, "write", st, VIRTIO_BLK_S_OK);
}

static void check_range(struct blk *b, struct range r, enum blk_shape shape, unsigned flags)
{
	u32 len = r.sectors * SECTOR_SIZE;
	memset(scratch, 0xa5, len);
	int st = blk_do(b, VIRTIO_BLK_T_IN, r.sector, scratch, len, shape, flags);
	expect_status(b, "read", st, VIRTIO_BLK_S_OK);
	if (b->last_used_len != len + 1)
		fail("read of %u bytes (%s): used length %u, expected %u", len, shape_name(shape, flags), b->last_used_len,
		     len + 1);
	int64_t bad = first_mismatch(scratch, r.sector, r.sectors);
	if (bad >= 0)
		fail("sector %lu read back (%s) does not hold what was written", r.sector + (u64)bad,
		     shape_name(shape, flags));
}

/* Each range written with one chain shape and read back with another, then all of them read again. */
static void patterns(struct blk *b, bool indirect)
{
	const struct range ranges[] = {
		{ 0, 1 }, { 1, 8 }, { 100, 64 }, { 2048, MAX_RANGE_SECTORS }, { 777, 3 }, { b->capacity - 8, 8 },
	};
	unsigned n = 0;
	for (unsigned i = 0; i < ARRAY_LEN(ranges); i++) {
		if (ranges[i].sector + ranges[i].sectors > b->capacity)
			continue;
		/* Every shape writes once and reads once, direct and (where negotiated) indirect, never both alike. */
		for (unsigned variant = 0; variant < 6; variant++) {
			bool write_indirect = indirect && (variant & 1);
			bool read_indirect = indirect && !(variant & 1);
			write_range(b, ranges[i], (enum blk_shape)(variant % 3), write_indirect ? VIRTQ_POST_INDIRECT : 0);
			check_range(b, ranges[i], (enum blk_shape)((variant + 1) % 3), read_indirect ? VIRTQ_POST_INDIRECT : 0);
			n++;
		}
	}
	for (unsigned i = 0; i < ARRAY_LEN(ranges); i++) {
		if (ranges[i].sector + ranges[i].sectors <= b->capacity)
			check_range(b, ranges[i], BLK_SHAPE_PLAIN, 0);
	}
	say("blk: %u write/read pairs over %u ranges agree", n, (unsigned)ARRAY_LEN(ranges));
}

static void wait_all(struct blk *b, unsigned count, const char *what)
{
	struct virtq_done done;
	for (unsigned i = 0; i < count; i++) {
		if (!virtq_wait_default(b->q, &done))
			fail("%s: %u of %u requests answered", what, i, count);
		struct blk_req *r = (struct blk_req *)done.token;
		if (r->status != VIRTIO_BLK_S_OK)
			fail("%s: a request ended %s", what, blk_status_name(r->status));
	}
}

static u64 in_flight_sector(const struct blk *b, unsigned i)
{
	u64 middle = b->capacity / 2 & ~7ull;
	return middle - IN_FLIGHT_SECTORS - (u64)i * IN_FLIGHT_STRIDE;
}

/* IN_FLIGHT writes posted before one notify, then IN_FLIGHT reads, each 4 KiB at scattered sectors. */
static void in_flight(struct blk *b)
{
	u8 *bufs = alloc((u64)IN_FLIGHT * IN_FLIGHT_BYTES, 4096);
	for (unsigned pass = 0; pass < 2; pass++) {
		u32 type = pass ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
		for (unsigned i = 0; i < IN_FLIGHT; i++) {
			struct vbuf chain[BLK_MAX_BUFS];
			u64 sector = in_flight_sector(b, i);
			u8 *data = bufs + i * IN_FLIGHT_BYTES;
			if (pass)
				memset(data, 0, IN_FLIGHT_BYTES);
			else
				stamp(data, sector, IN_FLIGHT_SECTORS);
			unsigned n = blk_chain(&b->reqs[i], type, sector, data, IN_FLIGHT_BYTES, BLK_SHAPE_PLAIN, chain);
			unsigned flags = (i & 1) && (b->dev.features & VIRTIO_F_INDIRECT_DESC) ? VIRTQ_POST_INDIRECT : 0;
			if (!blk_submit(b, &b->reqs[i], chain, n, flags))
				fail("in flight: queue full at request %u", i);
		}
		virtq_kick(b->q);
		wait_all(b, IN_FLIGHT, pass ? "reads in flight" : "writes in flight");
	}
	for (unsigned i = 0; i < IN_FLIGHT; i++) {
		if (first_mismatch(bufs + i * IN_FLIGHT_BYTES, in_flight_sector(b, i), IN_FLIGHT_SECTORS) >= 0)
			fail("in flight: request %u read back other data", i);
	}
	say("blk: %u writes and %u reads in flight at once agree", IN_FLIGHT, IN_FLIGHT);
}

static void check_identity(struct blk *b)
{
	u64 want_capacity = cmdline_number("blk_capacity", 0);
	if (want_capacity && b->capacity != want_capacity)
		fail("capacity %lu sectors, expected %lu", b->capacity, want_capacity);
	char id[VIRTIO_BLK_ID_BYTES + 1];
	memset(id, 0, sizeof(id));
	u8 *buf = alloc(SECTOR_SIZE, 16);
	expect_status(b, "GET_ID", blk_do(b, VIRTIO_BLK_T_GET_ID, 0, buf, VIRTIO_BLK_ID_BYTES, BLK_SHAPE_PLAIN, 0),
		      VIRTIO_BLK_S_OK);
	memcpy(id, buf, VIRTIO_BLK_ID_BYTES);
	char want[VIRTIO_BLK_ID_BYTES + 1];
	if (cmdline_get("blk_serial", want, sizeof(want)) && !str_eq(id, want))
		fail("serial \"%s\", expected \"%s\"", id, want);
	bool want_ro = cmdline_flag("blk_ro");
	bool ro = (b->dev.offered & VIRTIO_BLK_F_RO) != 0;
	if (ro != want_ro)
		fail("VIRTIO_BLK_F_RO is %s, expected %s", ro ? "offered" : "not offered", want_ro ? "offered" : "not");
	data("capacity=%lu serial=%s features=0x%lx seg_max=%u ro=%d", b->capacity, id[0] ? id : "-", b->dev.features,
	     b->seg_max, ro);
}

/* A range first stamped, then discarded or zeroed, then read: zeroes (or for discard, maybe the old data). */
static void range_op(struct blk *b, u32 type, struct range r, bool must_zero)
{
	const char *what = type == VIRTIO_BLK_T_DISCARD ? "discard" : "write-zeroes";
	write_range(b, r, BLK_SHAPE_PLAIN, 0);
	expect_status(b, what, blk_range_op(b, type, r.sector, r.sectors, 0), VIRTIO_BLK_S_OK);
	u32 len = r.sectors * SECTOR_SIZE;
	expect_status(b, "read", blk_do(b, VIRTIO_BLK_T_IN, r.sector, scratch, len, BLK_SHAPE_PLAIN, 0),
		      VIRTIO_BLK_S_OK);
	for (u32 s = 0; s < r.sectors; s++) {
		const u8 *sec = scratch + (u64)s * SECTOR_SIZE;
		if (all_zero(sec, SECTOR_SIZE))
			continue;
		if (must_zero || first_mismatch(sec, r.sector + s, 1) >= 0)
			fail("%s: sector %lu reads back neither zeroes%s", what, r.sector + s,
			     must_zero ? "" : " nor its old data");
	}
}

static void writable_ops(struct blk *b)
{
	patterns(b, (b->dev.features & VIRTIO_F_INDIRECT_DESC) != 0);
	in_flight(b);
	if (b->dev.features & VIRTIO_BLK_F_FLUSH)
		expect_status(b, "flush", blk_do(b, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, BLK_SHAPE_PLAIN, 0), VIRTIO_BLK_S_OK);
	struct range r = { 4096, 64 };
	if (r.sector + r.sectors > b->capacity)
		r.sector = 0;
	if (b->dev.features & VIRTIO_BLK_F_DISCARD)
		range_op(b, VIRTIO_BLK_T_DISCARD, r, cmdline_flag("blk_discard_zeroes"));
	if (b->dev.features & VIRTIO_BLK_F_WRITE_ZEROES)
		range_op(b, VIRTIO_BLK_T_WRITE_ZEROES, r, true);
}

static void error_cases(struct blk *b)
{
	expect_status(b, "read across the end",
		      blk_do(b, VIRTIO_BLK_T_IN, b->capacity - 1, scratch, 2 * SECTOR_SIZE, BLK_SHAPE_PLAIN, 0),
		      VIRTIO_BLK_S_IOERR);
	expect_status(b, "read past the end",
		      blk_do(b, VIRTIO_BLK_T_IN, b->capacity, scratch, SECTOR_SIZE, BLK_SHAPE_PLAIN, 0),
		      VIRTIO_BLK_S_IOERR);
	expect_status(b, "unknown request type", blk_do(b, 0xdead, 0, scratch, SECTOR_SIZE, BLK_SHAPE_PLAIN, 0),
		      VIRTIO_BLK_S_UNSUPP);
	if (b->dev.offered & VIRTIO_BLK_F_RO) {
		stamp(scratch, 0, 1);
		expect_status(b, "write to a read-only disk",
			      blk_do(b, VIRTIO_BLK_T_OUT, 0, scratch, SECTOR_SIZE, BLK_SHAPE_PLAIN, 0), VIRTIO_BLK_S_IOERR);
		expect_status(b, "read from a read-only disk",
			      blk_do(b, VIRTIO_BLK_T_IN, 0, scratch, SECTOR_SIZE, BLK_SHAPE_PLAIN, 0), VIRTIO_BLK_S_OK);
	}
	/* The device must still serve after the refusals. */
	expect_status(b, "read after the errors", blk_do(b, VIRTIO_BLK_T_IN, 0, scratch, SECTOR_SIZE, BLK_SHAPE_SPLIT, 0),
		      VIRTIO_BLK_S_OK);
}

void test_blk(void)
{
	struct blk b;
	u64 wanted = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_RO | VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_DISCARD |
		     VIRTIO_BLK_F_WRITE_ZEROES;
	if (cmdline_number("blk_indirect", 1))
		wanted |= VIRTIO_F_INDIRECT_DESC;
	if (cmdline_number("blk_event_idx", 1))
		wanted |= VIRTIO_F_EVENT_IDX;
	blk_open(&b, 0, wanted, 128);
	if (b.capacity < MIN_SECTORS)
		fail("capacity %lu sectors: the test needs at least %u", b.capacity, MIN_SECTORS);
	nonce = rdtsc();
	scratch = alloc(2 * MAX_RANGE_SECTORS * SECTOR_SIZE, 4096);
	check_identity(&b);
	if (!(b.dev.offered & VIRTIO_BLK_F_RO))
		writable_ops(&b);
	error_cases(&b);
}
