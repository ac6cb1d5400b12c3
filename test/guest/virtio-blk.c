#include "virtio-blk.h"
#include "guest.h"
#include "memory.h"

#define BOUNCE_BYTES (1024 * 1024 + SECTOR_SIZE)

bool blk_restart(struct blk *b, u64 wanted, u16 queue_size, const char **why)
{
	return virtio_init(&b->dev, &(struct virtio_setup){ .wanted = wanted, .queue_sizes = { queue_size } }, why);
}

void blk_open(struct blk *b, unsigned nth, u64 wanted, u16 queue_size)
{
	memset(b, 0, sizeof(*b));
	virtio_open(&b->dev, VIRTIO_ID_BLOCK, nth,
		    &(struct virtio_setup){ .wanted = wanted, .queue_sizes = { queue_size } });
	b->q = &b->dev.queues[0];
	b->capacity = virtio_config64(&b->dev, VIRTIO_BLK_CFG_CAPACITY);
	b->seg_max = b->dev.features & VIRTIO_BLK_F_SEG_MAX ? virtio_config32(&b->dev, VIRTIO_BLK_CFG_SEG_MAX) : 0;
	b->reqs = alloc(sizeof(struct blk_req) * BLK_REQS, 16);
}

bool blk_type_reads_data(u32 type)
{
	return type != VIRTIO_BLK_T_IN && type != VIRTIO_BLK_T_GET_ID;
}

/* Cuts [data, data + len) at odd places into at most BLK_MAX_BUFS - 2 pieces. */
static unsigned split(u8 *data, u32 len, bool writable, struct vbuf *out)
{
	u32 cuts[] = { 1, 13, len / 3 | 1, len / 2 + 7, len - 1 };
	unsigned n = 0;
	u32 at = 0;
	for (unsigned i = 0; i < ARRAY_LEN(cuts); i++) {
		if (cuts[i] <= at || cuts[i] >= len)
			continue;
		out[n++] = (struct vbuf){ data + at, cuts[i] - at, writable };
		at = cuts[i];
	}
	out[n++] = (struct vbuf){ data + at, len - at, writable };
	return n;
}

unsigned blk_chain(struct blk_req *r, u32 type, u64 sector, void *data, u32 len, enum blk_shape shape,
		   struct vbuf *bufs)
{
	r->header = (struct virtio_blk_header){ type, 0, sector };
	r->status = BLK_STATUS_UNWRITTEN;
	bool writable = !blk_type_reads_data(type);
	unsigned n = 0;
	bufs[n++] = (struct vbuf){ &r->header, sizeof(r->header), false };
	if (len && shape == BLK_SHAPE_SPLIT)
		n += split(data, len, writable, &bufs[n]);
	else if (len)
		bufs[n++] = (struct vbuf){ data, len, writable };
	bufs[n++] = (struct vbuf){ &r->status, 1, true };
	return n;
}

bool blk_submit(struct blk *b, struct blk_req *r, const struct vbuf *bufs, unsigned n, unsigned flags)
{
	return virtq_post(b->q, bufs, n, (u64)r, flags) >= 0;
}

/* The MERGED shape: header and data, or data and status, copied through one bounce buffer. */
static unsigned merged_chain(struct blk *b, struct blk_req *r, u32 type, u64 sector, const void *data, u32 len,
			     struct vbuf *bufs)
{
	if (!b->bounce)
		b->bounce = alloc(BOUNCE_BYTES, 4096);
	if (len + sizeof(r->header) > BOUNCE_BYTES)
		fail("blk: a merged request of %u bytes does not fit the bounce buffer", len);
	r->header = (struct virtio_blk_header){ type, 0, sector };
	r->status = BLK_STATUS_UNWRITTEN;
	if (blk_type_reads_data(type)) {
		memcpy(b->bounce, &r->header, sizeof(r->header));
		memcpy(b->bounce + sizeof(r->header), data, len);
		bufs[0] = (struct vbuf){ b->bounce, (u32)sizeof(r->header) + len, false };
		bufs[1] = (struct vbuf){ &r->status, 1, true };
	} else {
		b->bounce[len] = BLK_STATUS_UNWRITTEN;
		bufs[0] = (struct vbuf){ &r->header, sizeof(r->header), false };
		bufs[1] = (struct vbuf){ b->bounce, len + 1, true };
	}
	return 2;
}

int blk_do(struct blk *b, u32 type, u64 sector, void *data, u32 len, enum blk_shape shape, unsigned flags)
{
	struct blk_req *r = &b->reqs[0];
	struct vbuf bufs[BLK_MAX_BUFS];
	bool merged = shape == BLK_SHAPE_MERGED && len;
	unsigned n = merged ? merged_chain(b, r, type, sector, data, len, bufs)
			    : blk_chain(r, type, sector, data, len, shape, bufs);
	if (!blk_submit(b, r, bufs, n, flags))
		fail("blk: the queue is full with no request in flight");
	virtq_kick(b->q);
	struct virtq_done done;
	if (!virtq_wait_default(b->q, &done))
		return -1;
	if (done.token != (u64)r)
		fail("blk: a used entry for a request that was not posted");
	b->last_used_len = done.len;
	if (merged && !blk_type_reads_data(type)) {
		memcpy(data, b->bounce, len);
		return b->bounce[len];
	}
	return r->status;
}

int blk_range_op(struct blk *b, u32 type, u64 sector, u32 sectors, u32 flags)
{
	static struct virtio_blk_range range __attribute__((aligned(16)));
	range = (struct virtio_blk_range){ sector, sectors, flags };
	return blk_do(b, type, 0, &range, sizeof(range), BLK_SHAPE_PLAIN, 0);
}

const char *blk_status_name(int status)
{
	switch (status) {
	case VIRTIO_BLK_S_OK:
		return "OK";
	case VIRTIO_BLK_S_IOERR:
		return "IOERR";
	case VIRTIO_BLK_S_UNSUPP:
		return "UNSUPP";
	case -1:
		return "timeout";
	case BLK_STATUS_UNWRITTEN:
		return "unwritten";
	default:
		return "unknown";
	}
}
