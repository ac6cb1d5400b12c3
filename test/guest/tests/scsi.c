/*
 * test=scsi: virtio-scsi (virtio 1.2, section 5.6) with one disk at target 0, LUN 0. INQUIRY, TEST UNIT READY (a
 * UNIT ATTENTION after reset is taken and asked again), READ CAPACITY(10) and (16) against scsi_capacity (sectors),
 * patterned WRITE(10) and WRITE(16) read back with READ(10) and READ(16) at the start, the middle and the end of the
 * disk, then what a device must refuse: an opcode it does not know (ILLEGAL REQUEST, ASC 0x20), a read past the
 * end (ASC 0x21) and a target that is not there (response BAD_TARGET).
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio.h"

#define VIRTIO_ID_SCSI 8
#define CDB_SIZE 32
#define SENSE_SIZE 96
#define REQUESTQ 2
#define SECTOR 512
#define IO_SECTORS 8
#define S_OK 0
#define S_BAD_TARGET 3
#define STATUS_GOOD 0
#define STATUS_CHECK 2
#define KEY_UNIT_ATTENTION 6
#define KEY_ILLEGAL_REQUEST 5
#define UA_TRIES 4

struct scsi_req {
	u8 lun[8];
	u64 tag;
	u8 task_attr, prio, crn;
	u8 cdb[CDB_SIZE];
} __attribute__((packed));

struct scsi_resp {
	u32 sense_len;
	u32 resid;
	u16 status_qualifier;
	u8 status;
	u8 response;
	u8 sense[SENSE_SIZE];
} __attribute__((packed));

struct scsi {
	struct virtio_dev dev;
	struct virtq *q;
	struct scsi_req *req;
	struct scsi_resp *resp;
	u64 tag;
};

/* One command to `target`: its CDB, data out (`out`) or in (`in`), at most one of them. */
static void command(struct scsi *s, u8 target, const u8 *cdb, unsigned cdb_len, const void *out, u32 out_len,
		    void *in, u32 in_len)
{
	memset(s->req, 0, sizeof(*s->req));
	s->req->lun[0] = 1;
	s->req->lun[1] = target;
	s->req->lun[2] = 0x40; /* flat addressing, LUN 0 */
	s->req->tag = ++s->tag;
	memcpy(s->req->cdb, cdb, cdb_len);
	memset(s->resp, 0xee, sizeof(*s->resp));
	struct vbuf chain[4];
	unsigned n = 0;
	chain[n++] = (struct vbuf){ s->req, sizeof(*s->req), false };
	if (out_len)
		chain[n++] = (struct vbuf){ out, out_len, false };
	chain[n++] = (struct vbuf){ s->resp, sizeof(*s->resp), true };
	if (in_len)
		chain[n++] = (struct vbuf){ in, in_len, true };
	if (virtq_post(s->q, chain, n, s->tag, 0) < 0)
		fail("scsi: the request queue is full with nothing in flight");
	virtq_kick(s->q);
	struct virtq_done done;
	enum virtq_outcome got = virtq_wait_or_reset_default(s->q, &done);
	if (got != VIRTQ_USED)
		fail("scsi: opcode 0x%x %s", cdb[0], got == VIRTQ_NEEDS_RESET ? "set DEVICE_NEEDS_RESET" : "got no answer");
	if (done.len < sizeof(*s->resp) - SENSE_SIZE)
		fail("scsi: opcode 0x%x: used length %u is shorter than the response header", cdb[0], done.len);
}

static u8 sense_key(const struct scsi *s) { return s->resp->sense[2] & 0xf; }
static u8 sense_asc(const struct scsi *s) { return s->resp->sense[12]; }

static void expect_good(struct scsi *s, const char *what)
{
	if (s->resp->response != S_OK || s->resp->status != STATUS_GOOD)
		fail("scsi: %s: response %u status 0x%x sense key %u asc 0x%x", what, s->resp->response, s->resp->status,
		     sense_key(s), sense_asc(s));
}

static void expect_check(struct scsi *s, const char *what, u8 key, u8 asc)
{
	data("refused=%s response=%u status=%u key=%u asc=0x%x", what, s->resp->response, s->resp->status, sense_key(s),
	     sense_asc(s));
	if (s->resp->response != S_OK || s->resp->status != STATUS_CHECK || sense_key(s) != key || sense_asc(s) != asc)
		fail("scsi: %s: expected CHECK CONDITION key %u asc 0x%x", what, key, asc);
}

static void put_be32(u8 *p, u32 v) { p[0] = (u8)(v >> 24); p[1] = (u8)(v >> 16); p[2] = (u8)(v >> 8); p[3] = (u8)v; }
static void put_be64(u8 *p, u64 v) { put_be32(p, (u32)(v >> 32)); put_be32(p + 4, (u32)v); }
static u32 be32(const u8 *p) { return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3]; }
static u64 be64(const u8 *p) { return (u64)be32(p) << 32 | be32(p + 4); }

static void ready(struct scsi *s)
{
	const u8 tur[6] = { 0x00 };
	for (unsigned i = 0; i < UA_TRIES; i++) {
		command(s, 0, tur, sizeof(tur), NULL, 0, NULL, 0);
		if (s->resp->status == STATUS_CHECK && sense_key(s) == KEY_UNIT_ATTENTION)
			continue;
		expect_good(s, "test-unit-ready");
		return;
	}
	fail("scsi: still UNIT ATTENTION after %u tries", UA_TRIES);
}

static u64 capacity(struct scsi *s, u8 *buf)
{
	u8 rc10[10] = { 0x25 };
	command(s, 0, rc10, sizeof(rc10), NULL, 0, buf, 8);
	expect_good(s, "read-capacity-10");
	u64 last10 = be32(buf);
	u32 block = be32(buf + 4);
	u8 rc16[16] = { 0x9e, 0x10 };
	put_be32(rc16 + 10, 32);
	command(s, 0, rc16, sizeof(rc16), NULL, 0, buf, 32);
	expect_good(s, "read-capacity-16");
	u64 last16 = be64(buf);
	data("capacity last_lba=%lu last_lba16=%lu block=%u", last10, last16, block);
	if (block != SECTOR || last10 != last16)
		fail("scsi: READ CAPACITY(10) says %lu x %u, (16) says last LBA %lu", last10, block, last16);
	return last16 + 1;
}

/* A write of IO_SECTORS at `lba` with a pattern made from the LBA, then a read of the same blocks compared with it. */
static void round_trip(struct scsi *s, u64 lba, bool sixteen, u8 *wbuf, u8 *rbuf)
{
	u32 bytes = IO_SECTORS * SECTOR;
	for (u32 i = 0; i < bytes; i++)
		wbuf[i] = (u8)(lba * 7 + i * 13 + (i >> 9));
	u8 cdb[16] = { 0 };
	if (sixteen) {
		cdb[0] = 0x8a;
		put_be64(cdb + 2, lba);
		put_be32(cdb + 10, IO_SECTORS);
	} else {
		cdb[0] = 0x2a;
		put_be32(cdb + 2, (u32)lba);
		cdb[8] = IO_SECTORS;
	}
	command(s, 0, cdb, sizeof(cdb), wbuf, bytes, NULL, 0);
	expect_good(s, "write");
	cdb[0] = sixteen ? 0x88 : 0x28;
	memset(rbuf, 0, bytes);
	command(s, 0, cdb, sizeof(cdb), NULL, 0, rbuf, bytes);
	expect_good(s, "read");
	if (s->resp->resid != 0)
		fail("scsi: read at %lu: resid %u", lba, s->resp->resid);
	for (u32 i = 0; i < bytes; i++)
		if (rbuf[i] != wbuf[i])
			fail("scsi: lba %lu byte %u reads 0x%x, wrote 0x%x", lba, i, rbuf[i], wbuf[i]);
}

static void refusals(struct scsi *s, u64 blocks, u8 *buf)
{
	const u8 unknown[6] = { 0xc0 };
	command(s, 0, unknown, sizeof(unknown), NULL, 0, NULL, 0);
	expect_check(s, "unknown-opcode", KEY_ILLEGAL_REQUEST, 0x20);
	u8 past[10] = { 0x28 };
	put_be32(past + 2, (u32)(blocks - 1));
	past[8] = 2;
	command(s, 0, past, sizeof(past), NULL, 0, buf, 2 * SECTOR);
	expect_check(s, "read-past-end", KEY_ILLEGAL_REQUEST, 0x21);
	const u8 tur[6] = { 0x00 };
	command(s, 5, tur, sizeof(tur), NULL, 0, NULL, 0);
	data("refused=no-target response=%u", s->resp->response);
	if (s->resp->response != S_BAD_TARGET)
		fail("scsi: target 5: response %u, expected BAD_TARGET", s->resp->response);
}

void test_scsi(void)
{
	struct scsi s = { 0 };
	virtio_open(&s.dev, VIRTIO_ID_SCSI, 0, &(struct virtio_setup){ .queue_sizes = { 8, 8, 16 } });
	s.q = &s.dev.queues[REQUESTQ];
	s.req = alloc(sizeof(*s.req), 64);
	s.resp = alloc(sizeof(*s.resp), 64);
	u8 *buf = alloc(IO_SECTORS * SECTOR, 4096);
	u8 *wbuf = alloc(IO_SECTORS * SECTOR, 4096);
	data("config max_target=%u max_lun=%u cdb_size=%u sense_size=%u", virtio_config16(&s.dev, 30),
	     virtio_config32(&s.dev, 32), virtio_config32(&s.dev, 24), virtio_config32(&s.dev, 20));
	u8 inquiry[6] = { 0x12, 0, 0, 0, 96, 0 };
	command(&s, 0, inquiry, sizeof(inquiry), NULL, 0, buf, 96);
	expect_good(&s, "inquiry");
	char vendor[9];
	memcpy(vendor, buf + 8, 8);
	vendor[8] = 0;
	data("inquiry type=%u vendor=%s", buf[0] & 0x1f, vendor);
	if ((buf[0] & 0x1f) != 0)
		fail("scsi: peripheral type %u, not a disk", buf[0] & 0x1f);
	ready(&s);
	u64 blocks = capacity(&s, buf);
	u64 want = cmdline_number("scsi_capacity", 0);
	if (want && blocks != want)
		fail("scsi: %lu blocks, expected %lu", blocks, want);
	if (blocks < 4 * IO_SECTORS)
		fail("scsi: a disk of %lu blocks is too small for this test", blocks);
	round_trip(&s, 0, false, wbuf, buf);
	round_trip(&s, blocks / 2, true, wbuf, buf);
	round_trip(&s, blocks - IO_SECTORS, false, wbuf, buf);
	data("round_trips=3");
	refusals(&s, blocks, buf);
}
