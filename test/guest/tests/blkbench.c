/*
 * test=blkbench: throughput of the first virtio-blk device, one data line per operation:
 *   TSVMM-DATA: blkbench op=randread bs=4096 qd=1 ios=... bytes=... us=... iops=... mbps=12.34
 * Operations: randread and randwrite of 4 KiB at queue depth 1 and 32, seqread and seqwrite of 1 MiB at depth 1.
 *   bench_ms=<ms>        how long each operation runs (default 2000)
 *   bench_count=<ios>    stop after this many requests instead (0: use bench_ms)
 *   bench_region=<bytes> the part of the disk used, from sector 0 (default: all of it, at most 1G)
 *   bench_ops=<list>     a comma-separated subset, e.g. randread-qd1,seqwrite
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio-blk.h"

#define MAX_QD 32
_Static_assert(MAX_QD <= BLK_REQS, "a request in flight per struct blk_req");
#define QUEUE_SIZE 128
#define DEFAULT_REGION (1ull << 30)

struct bench_op {
	const char *name;
	const char *kind;
	u32 type;
	u32 block;
	unsigned qd;
	bool random;
};

static const struct bench_op ops[] = {
	{ "randread-qd1", "randread", VIRTIO_BLK_T_IN, 4096, 1, true },
	{ "randread-qd32", "randread", VIRTIO_BLK_T_IN, 4096, 32, true },
	{ "randwrite-qd1", "randwrite", VIRTIO_BLK_T_OUT, 4096, 1, true },
	{ "randwrite-qd32", "randwrite", VIRTIO_BLK_T_OUT, 4096, 32, true },
	{ "seqread", "seqread", VIRTIO_BLK_T_IN, 1 << 20, 1, false },
	{ "seqwrite", "seqwrite", VIRTIO_BLK_T_OUT, 1 << 20, 1, false },
};

struct bench {
	struct blk *b;
	const struct bench_op *op;
	u8 *buffers;
	u64 blocks;
	u64 next_block;
	u64 rng;
	u64 end_tsc;
	u64 limit;
	u64 submitted;
	u64 completed;
};

static bool more(struct bench *r)
{
	return r->limit ? r->submitted < r->limit : !deadline_passed(r->end_tsc);
}

static void submit(struct bench *r, unsigned slot)
{
	const struct bench_op *op = r->op;
	u64 block = op->random ? random_next(&r->rng) % r->blocks : r->next_block++ % r->blocks;
	struct vbuf chain[BLK_MAX_BUFS];
	struct blk_req *req = &r->b->reqs[slot];
	unsigned n = blk_chain(req, op->type, block * (op->block / SECTOR_SIZE), r->buffers + (u64)slot * op->block,
			       op->block, BLK_SHAPE_PLAIN, chain);
	if (!blk_submit(r->b, req, chain, n, 0))
		fail("%s: queue full", op->name);
	r->submitted++;
}

static void complete_one(struct bench *r)
{
	struct virtq_done done;
	if (!virtq_wait_default(r->b->q, &done))
		fail("%s: a request took longer than %lu ms", r->op->name, virtio_timeout_ms());
	struct blk_req *req = (struct blk_req *)done.token;
	if (req->status != VIRTIO_BLK_S_OK)
		fail("%s: a request ended %s", r->op->name, blk_status_name(req->status));
	r->completed++;
	if (more(r)) {
		submit(r, (unsigned)(req - r->b->reqs));
		virtq_kick(r->b->q);
	}
}

static void run(struct bench *r, const struct bench_op *op, u64 region, u64 ms)
{
	r->op = op;
	r->blocks = region / op->block;
	r->next_block = 0;
	r->submitted = r->completed = 0;
	if (r->blocks == 0)
		fail("%s: the region holds no %u-byte block", op->name, op->block);
	u64 start = rdtsc();
	r->end_tsc = deadline_ms(ms);
	for (unsigned slot = 0; slot < op->qd && more(r); slot++)
		submit(r, slot);
	virtq_kick(r->b->q);
	while (r->completed < r->submitted)
		complete_one(r);
	u64 us = tsc_to_us(rdtsc() - start);
	u64 bytes = r->completed * op->block;
	u64 centi_mbps = us ? bytes * 100 / us : 0;
	data("op=%s bs=%u qd=%u ios=%lu bytes=%lu us=%lu iops=%lu mbps=%lu.%02lu", op->kind, op->block, op->qd,
	     r->completed, bytes, us, us ? r->completed * 1000000 / us : 0, centi_mbps / 100, centi_mbps % 100);
}

/* Whether `name` is in the comma-separated list (no list: every operation). */
static bool selected(const char *list, const char *name)
{
	return !list || !*list || list_contains(list, name);
}

void test_blkbench(void)
{
	struct blk b;
	char list[128];
	/*
	 * FLUSH is accepted as any real driver does: a device whose driver cannot flush must write through (QEMU then
	 * syncs every write), and the benchmark compares monitors in write-back mode.
	 */
	blk_open(&b, 0, VIRTIO_F_EVENT_IDX | VIRTIO_BLK_F_FLUSH, QUEUE_SIZE);
	u64 region = cmdline_number("bench_region", DEFAULT_REGION);
	if (region > b.capacity * SECTOR_SIZE)
		region = b.capacity * SECTOR_SIZE;
	struct bench r = { .b = &b, .rng = rdtsc(), .limit = cmdline_number("bench_count", 0) };
	r.buffers = alloc((u64)MAX_QD * 4096 > (1u << 20) ? (u64)MAX_QD * 4096 : 1u << 20, 4096);
	for (u64 i = 0; i < (1u << 20) / 8; i++)
		((u64 *)r.buffers)[i] = random_next(&r.rng);
	u64 ms = cmdline_number("bench_ms", 2000);
	const char *ops_list = cmdline_get("bench_ops", list, sizeof(list));
	data("region=%lu capacity=%lu tsc_khz=%lu tsc_source=%s", region, b.capacity, tsc_khz(), tsc_source());
	for (unsigned i = 0; i < ARRAY_LEN(ops); i++) {
		if (selected(ops_list, ops[i].name) || selected(ops_list, ops[i].kind))
			run(&r, &ops[i], region, ms);
	}
}
