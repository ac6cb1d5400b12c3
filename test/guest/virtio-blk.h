/* virtio-blk requests on top of the driver in virtio.h (virtio 1.2, section 5.2). */
#ifndef TSVMM_GUEST_VIRTIO_BLK_H
#define TSVMM_GUEST_VIRTIO_BLK_H

#include "virtio.h"

#define SECTOR_SIZE 512

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
/* What the status byte holds until the device writes it. */
#define BLK_STATUS_UNWRITTEN 0xff

#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)
#define VIRTIO_BLK_F_DISCARD (1ull << 13)
#define VIRTIO_BLK_F_WRITE_ZEROES (1ull << 14)

#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_ID_BYTES 20

/* The most buffers blk_chain cuts a request into. */
#define BLK_MAX_BUFS 8
/* The requests in b->reqs. */
#define BLK_REQS 64

struct virtio_blk_header {
	u32 type;
	u32 reserved;
	u64 sector;
};

/* One DISCARD / WRITE_ZEROES segment. */
struct virtio_blk_range {
	u64 sector;
	u32 num_sectors;
	u32 flags;
};
#define VIRTIO_BLK_WRITE_ZEROES_UNMAP 1

/* A request's own guest memory: the header the device reads, the status byte it writes. */
struct blk_req {
	struct virtio_blk_header header;
	u8 status;
};

struct blk {
	struct virtio_dev dev;
	struct virtq *q;
	u64 capacity;
	u32 seg_max;
	struct blk_req *reqs;
	/* For chains whose header and data, or data and status, share one buffer. */
	u8 *bounce;
	/* The length the device put in the used entry of blk_do's last request. */
	u32 last_used_len;
};

/* How a request's chain is cut into buffers. */
enum blk_shape {
	/* header | data | status */
	BLK_SHAPE_PLAIN,
	/* header | data in several odd-sized pieces | status */
	BLK_SHAPE_SPLIT,
	/* header+data | status when the device reads the data, header | data+status when it writes it */
	BLK_SHAPE_MERGED,
};

/* Finds the nth blk device and initializes it with one queue of up to queue_size entries; else the test fails. */
void blk_open(struct blk *b, unsigned nth, u64 wanted, u16 queue_size);
/* Resets the device and initializes it again (the requests' memory is kept). */
bool blk_restart(struct blk *b, u64 wanted, u16 queue_size, const char **why);
/* Whether the device reads the data buffers of a request of this type (else it writes them). */
bool blk_type_reads_data(u32 type);
/* Fills r's header and the chain for a request (without MERGED); returns the number of buffers. */
unsigned blk_chain(struct blk_req *r, u32 type, u64 sector, void *data, u32 len, enum blk_shape shape,
		   struct vbuf *bufs);
/* Posts r's chain; false when the queue is full. The token of its used entry is r. */
bool blk_submit(struct blk *b, struct blk_req *r, const struct vbuf *bufs, unsigned n, unsigned flags);
/* One request, waited for: its status byte, or -1 when it timed out. */
int blk_do(struct blk *b, u32 type, u64 sector, void *data, u32 len, enum blk_shape shape, unsigned flags);
/* Like blk_do for DISCARD and WRITE_ZEROES over one range. */
int blk_range_op(struct blk *b, u32 type, u64 sector, u32 sectors, u32 flags);
const char *blk_status_name(int status);

#endif
