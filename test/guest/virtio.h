/*
 * A polling virtio-mmio driver for CPL3 (virtio 1.2, version-2 register layout only): device discovery, the
 * init sequence with feature negotiation, split virtqueues, posting chains (direct or indirect), notifying and
 * waiting for used entries. The raw helpers at the end write whatever the caller asks, so tests can hand a
 * device what no correct driver would.
 */
#ifndef TSVMM_GUEST_VIRTIO_H
#define TSVMM_GUEST_VIRTIO_H

#include "lib.h"

#define VIRTIO_MMIO_MAGIC 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976 /* "virt" */

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_F_INDIRECT_DESC (1ull << 28)
#define VIRTIO_F_EVENT_IDX (1ull << 29)
#define VIRTIO_F_VERSION_1 (1ull << 32)
/* The device's DMA goes through the platform's IOMMU: its addresses are I/O virtual addresses. */
#define VIRTIO_F_ACCESS_PLATFORM (1ull << 33)

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_VSOCK 19
#define VIRTIO_ID_IOMMU 23
#define VIRTIO_ID_SOUND 25
#define VIRTIO_ID_FS 26

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

#define VIRTIO_MAX_WINDOWS 32
#define VIRTIO_MAX_QUEUES 8
/* Entries of the indirect table each head owns (when INDIRECT_DESC was negotiated). */
#define VIRTQ_INDIRECT_MAX 32

struct virtq_desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};

struct virtq_avail {
	u16 flags;
	u16 idx;
	u16 ring[]; /* size entries, then used_event */
};

struct virtq_used_elem {
	u32 id;
	u32 len;
};

struct virtq_used {
	u16 flags;
	u16 idx;
	struct virtq_used_elem ring[]; /* size entries, then avail_event */
};

/* A device's register window: where it is, and its interrupt line (unused: this driver polls). */
struct virtio_window {
	u64 base;
	u64 size;
	u32 irq;
};

struct virtio_dev;

struct virtq {
	struct virtio_dev *dev;
	u16 index;
	u16 size;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	/* Free descriptors are linked through their next fields. */
	u16 free_head;
	u16 num_free;
	/* The next avail idx to publish, the used entries consumed, the avail idx at the last notify. */
	u16 avail_idx;
	u16 last_used;
	u16 kicked_idx;
	/* Per head: the caller's token and how many table descriptors its chain holds. */
	u64 *tokens;
	u16 *chain_len;
	/*
	 * size * VIRTQ_INDIRECT_MAX entries: head h owns the table at h * VIRTQ_INDIRECT_MAX. Kept across resets, so
	 * it may be here while INDIRECT_DESC is not negotiated: the device's features say whether it may be used.
	 */
	struct virtq_desc *indirect_tables;
};

struct virtio_dev {
	struct virtio_window win;
	volatile u8 *regs;
	u32 device_id;
	u64 offered;
	u64 features;
	unsigned nqueues;
	struct virtq queues[VIRTIO_MAX_QUEUES];
};

/*
 * Every MMIO access this driver made, discovery included. Register accesses are exits the monitor answers;
 * notifies need not be (an ioeventfd takes them in the host kernel).
 */
struct virtio_counts {
	u64 register_accesses;
	u64 notifies;
	/* Chains made available through virtq_post. */
	u64 chains;
};
extern struct virtio_counts virtio_counts;

/* One buffer of a chain. Device-readable buffers come before device-writable ones. */
struct vbuf {
	const void *addr;
	u32 len;
	bool writable;
};

struct virtq_done {
	u64 token;
	u32 len;
	u16 head;
};

/* Flags for virtq_post. */
#define VIRTQ_POST_INDIRECT 1

/*
 * The windows named by virtio_mmio.device= on the cmdline, else (or with virtio_scan=1) those found by scanning
 * the bases tsvmm and QEMU microvm use.
 */
unsigned virtio_discover(struct virtio_window *out, unsigned cap);
/* Parses one `virtio_mmio.device=` value (`<size>@<base>:<irq>[:<id>]`). */
bool virtio_parse_window(const char *text, struct virtio_window *out);
/* The nth (from 0) version-2 device of this type, not yet initialized. */
bool virtio_find(u32 device_id, unsigned nth, struct virtio_dev *dev);

/* A register of a window no virtio_dev describes yet. */
u32 virtio_peek32(u64 base, u32 offset);
u32 virtio_read32(struct virtio_dev *d, u32 offset);
void virtio_write32(struct virtio_dev *d, u32 offset, u32 value);
u32 virtio_status(struct virtio_dev *d);
bool virtio_needs_reset(struct virtio_dev *d);
/* Writes 0 to Status and waits until it reads back 0; forgets the queues. */
bool virtio_reset(struct virtio_dev *d);
/*
 * Reset, ACKNOWLEDGE, DRIVER, feature negotiation (VERSION_1 and `required` must be offered; `wanted` is taken
 * where offered), FEATURES_OK. Queues come next, then virtio_driver_ok.
 */
bool virtio_start(struct virtio_dev *d, u64 required, u64 wanted, const char **why);
void virtio_driver_ok(struct virtio_dev *d);

/* How a driver brings a device up. */
struct virtio_setup {
	/* As for virtio_start. */
	u64 required;
	u64 wanted;
	/* Queue i is set up with up to queue_sizes[i] entries, up to the first 0; it is d->queues[i] after. */
	u16 queue_sizes[VIRTIO_MAX_QUEUES];
	/* DRIVER_OK is the caller's, who posts buffers (or sets up queues that depend on features) first. */
	bool defer_driver_ok;
};
/* virtio_start, the queues, DRIVER_OK: the whole init sequence, or the reason it stopped. */
bool virtio_init(struct virtio_dev *d, const struct virtio_setup *s, const char **why);
/* The nth device of the type, through virtio_init; the test fails when there is none or it does not come up. */
void virtio_open(struct virtio_dev *d, u32 device_id, unsigned nth, const struct virtio_setup *s);
/* Allocates queue `index` with up to `size` entries (capped at QueueNumMax); virtq_program hands it over. */
struct virtq *virtq_create(struct virtio_dev *d, unsigned index, u16 size, const char **why);
/* virtq_create, then virtq_program with the queue's own rings. */
struct virtq *virtq_setup(struct virtio_dev *d, unsigned index, u16 size, const char **why);
/* Programs the queue's size and ring addresses (any addresses: the raw form) and sets QueueReady. */
void virtq_program(struct virtq *q, u64 desc, u64 driver, u64 device);

u8 virtio_config8(struct virtio_dev *d, u32 offset);
u16 virtio_config16(struct virtio_dev *d, u32 offset);
u32 virtio_config32(struct virtio_dev *d, u32 offset);
/* A field the device may change at any time: read again until ConfigGeneration is the same before and after. */
u32 virtio_config32_stable(struct virtio_dev *d, u32 offset);
/* Two 32-bit reads, retried like virtio_config32_stable. */
u64 virtio_config64(struct virtio_dev *d, u32 offset);
void virtio_config_write32(struct virtio_dev *d, u32 offset, u32 value);

/* Makes a chain of n buffers available; returns its head, or -1 when the queue has no room. */
int virtq_post(struct virtq *q, const struct vbuf *bufs, unsigned n, u64 token, unsigned flags);
/* virtq_post of a chain of one buffer. */
int virtq_post_buf(struct virtq *q, const void *addr, u32 len, bool writable, u64 token);
/* Notifies the device if it wants a notification for what was posted since the last kick. */
void virtq_kick(struct virtq *q);
/* Notifies the device unconditionally. */
void virtq_notify(struct virtq *q);
/* Takes one used entry if there is one, returning its chain's descriptors to the free list. */
bool virtq_get(struct virtq *q, struct virtq_done *done);
/* Used entries the device has published that virtq_get has not taken yet. */
u16 virtq_used_pending(struct virtq *q);
/*
 * With EVENT_IDX: the avail idx the device asks to be notified past, which a device that reads ahead moves along
 * with every chain it takes. Meaningless without EVENT_IDX.
 */
u16 virtq_avail_event(struct virtq *q);
/* virtq_get, polling until the TSC deadline. */
bool virtq_wait(struct virtq *q, u64 deadline, struct virtq_done *done);

enum virtq_outcome {
	VIRTQ_USED,
	VIRTQ_NEEDS_RESET,
	VIRTQ_TIMEOUT,
};
/* Polls for a used entry and, every millisecond, for DEVICE_NEEDS_RESET in Status. */
enum virtq_outcome virtq_wait_or_reset(struct virtq *q, u64 deadline, struct virtq_done *done);
/* virtq_wait and virtq_wait_or_reset for as long as virtio_timeout_ms says from now. */
bool virtq_wait_default(struct virtq *q, struct virtq_done *done);
enum virtq_outcome virtq_wait_or_reset_default(struct virtq *q, struct virtq_done *done);

/*
 * Raw access: write any descriptor, publish any head, set any avail idx. They bypass the free list, so a queue
 * used this way is set up again (after a device reset) before virtq_post is used on it. A used entry for a raw
 * head comes back from virtq_get with the token given here.
 */
void virtq_raw_desc(struct virtq *q, u16 index, u64 addr, u32 len, u16 flags, u16 next);
void virtq_raw_publish(struct virtq *q, u16 head, u64 token);
void virtq_raw_set_avail_idx(struct virtq *q, u16 idx);

/* The request timeout tests use: `timeout_ms=` on the cmdline, 10 s by default. */
u64 virtio_timeout_ms(void);

#endif
