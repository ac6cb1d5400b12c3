/* Split virtqueues (virtio 1.2, section 2.7) in memory from the bump allocator, driven by polling. */
#include "virtio.h"
#include "guest.h"
#include "memory.h"

#define STATUS_POLL_MS 1
/* With EVENT_IDX, used_event is kept this far ahead of what was consumed: the device never needs to interrupt. */
#define USED_EVENT_AHEAD 0x7fff

void virtq_program(struct virtq *q, u64 desc, u64 driver, u64 device)
{
	struct virtio_dev *d = q->dev;
	virtio_write32(d, VIRTIO_MMIO_QUEUE_SEL, q->index);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_NUM, q->size);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)desc);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (u32)(desc >> 32));
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (u32)driver);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (u32)(driver >> 32));
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (u32)device);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (u32)(device >> 32));
	virtio_write32(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

static u16 queue_size(u32 max, u16 wanted)
{
	u32 size = wanted < max ? wanted : max;
	while (size & (size - 1))
		size &= size - 1;
	return (u16)size;
}

/* The fields after the rings: used_event ends the driver area, avail_event the device area. */
static volatile u16 *used_event(struct virtq *q)
{
	return &q->avail->ring[q->size];
}

static volatile u16 *avail_event(struct virtq *q)
{
	return (volatile u16 *)(void *)&q->used->ring[q->size];
}

u16 virtq_avail_event(struct virtq *q)
{
	return *avail_event(q);
}

static u16 used_idx(struct virtq *q)
{
	return *(volatile u16 *)&q->used->idx;
}

u16 virtq_used_pending(struct virtq *q)
{
	return (u16)(used_idx(q) - q->last_used);
}

static void virtq_clear(struct virtq *q)
{
	memset(q->desc, 0, sizeof(struct virtq_desc) * q->size);
	memset(q->avail, 0, sizeof(struct virtq_avail) + sizeof(u16) * (q->size + 1u));
	memset(q->used, 0, sizeof(struct virtq_used) + sizeof(struct virtq_used_elem) * q->size + sizeof(u16));
	memset(q->chain_len, 0, sizeof(u16) * q->size);
	for (u16 i = 0; i < q->size; i++)
		q->desc[i].next = (u16)(i + 1);
	q->free_head = 0;
	q->num_free = q->size;
	q->avail_idx = q->last_used = q->kicked_idx = 0;
}

static void virtq_alloc(struct virtq *q, u16 size)
{
	q->size = size;
	q->desc = alloc(sizeof(struct virtq_desc) * size, 4096);
	q->avail = alloc(sizeof(struct virtq_avail) + sizeof(u16) * (size + 1u), 4096);
	q->used = alloc(sizeof(struct virtq_used) + sizeof(struct virtq_used_elem) * size + sizeof(u16), 4096);
	q->tokens = alloc(sizeof(u64) * size, 8);
	q->chain_len = alloc(sizeof(u16) * size, 2);
	q->indirect_tables = NULL;
}

static bool indirect_negotiated(const struct virtq *q)
{
	return (q->dev->features & VIRTIO_F_INDIRECT_DESC) != 0;
}

struct virtq *virtq_create(struct virtio_dev *d, unsigned index, u16 size, const char **why)
{
	if (index >= VIRTIO_MAX_QUEUES) {
		*why = "queue index beyond this driver's limit";
		return NULL;
	}
	virtio_write32(d, VIRTIO_MMIO_QUEUE_SEL, index);
	if (virtio_read32(d, VIRTIO_MMIO_QUEUE_READY)) {
		*why = "the queue is already ready after a reset";
		return NULL;
	}
	u32 max = virtio_read32(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (max == 0 || size == 0) {
		*why = "the queue is not available (QueueNumMax 0)";
		return NULL;
	}
	struct virtq *q = &d->queues[index];
	u16 n = queue_size(max, size);
	/* After a reset the rings of the same size are reused, so a test that re-initializes often does not leak. */
	if (!q->desc || q->size != n)
		virtq_alloc(q, n);
	q->dev = d;
	if (indirect_negotiated(q) && !q->indirect_tables)
		q->indirect_tables = alloc(sizeof(struct virtq_desc) * n * VIRTQ_INDIRECT_MAX, 16);
	virtq_clear(q);
	q->index = (u16)index;
	/* A polling driver wants no interrupts: NO_INTERRUPT without EVENT_IDX, a far used_event with it. */
	if (d->features & VIRTIO_F_EVENT_IDX)
		*used_event(q) = USED_EVENT_AHEAD;
	else
		q->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	if (d->nqueues <= index)
		d->nqueues = index + 1;
	return q;
}

struct virtq *virtq_setup(struct virtio_dev *d, unsigned index, u16 size, const char **why)
{
	struct virtq *q = virtq_create(d, index, size, why);
	if (q)
		virtq_program(q, (u64)q->desc, (u64)q->avail, (u64)q->used);
	return q;
}

static void fill_desc(struct virtq_desc *desc, const struct vbuf *b, bool more)
{
	desc->addr = (u64)b->addr;
	desc->len = b->len;
	desc->flags = (u16)((b->writable ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0));
}

/* Writes the chain into the head's own indirect table; the head descriptor points at it. */
static void post_indirect(struct virtq *q, u16 head, const struct vbuf *bufs, unsigned n)
{
	struct virtq_desc *table = q->indirect_tables + (u64)head * VIRTQ_INDIRECT_MAX;
	for (unsigned i = 0; i < n; i++) {
		fill_desc(&table[i], &bufs[i], i + 1 < n);
		table[i].next = (u16)(i + 1);
	}
	q->desc[head].addr = (u64)table;
	q->desc[head].len = (u32)(n * sizeof(struct virtq_desc));
	q->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
	q->free_head = q->desc[head].next;
}

/* The free list is linked through next, so n free descriptors taken in order already form a chain. */
static void post_direct(struct virtq *q, u16 head, const struct vbuf *bufs, unsigned n)
{
	u16 at = head;
	for (unsigned i = 0; i < n; i++) {
		fill_desc(&q->desc[at], &bufs[i], i + 1 < n);
		at = q->desc[at].next;
	}
	q->free_head = at;
}

static void publish(struct virtq *q, u16 head)
{
	q->avail->ring[q->avail_idx % q->size] = head;
	barrier();
	q->avail_idx++;
	*(volatile u16 *)&q->avail->idx = q->avail_idx;
}

int virtq_post(struct virtq *q, const struct vbuf *bufs, unsigned n, u64 token, unsigned flags)
{
	bool indirect = (flags & VIRTQ_POST_INDIRECT) != 0;
	if (n == 0 || (indirect && (!indirect_negotiated(q) || n > VIRTQ_INDIRECT_MAX)))
		fail("virtq_post: a chain of %u buffers cannot be posted%s", n,
		     indirect ? " indirectly (INDIRECT_DESC not negotiated, or too long)" : "");
	u16 needed = indirect ? 1 : (u16)n;
	if (q->num_free < needed)
		return -1;
	u16 head = q->free_head;
	if (indirect)
		post_indirect(q, head, bufs, n);
	else
		post_direct(q, head, bufs, n);
	q->num_free = (u16)(q->num_free - needed);
	q->chain_len[head] = needed;
	q->tokens[head] = token;
	publish(q, head);
	virtio_counts.chains++;
	return head;
}

int virtq_post_buf(struct virtq *q, const void *addr, u32 len, bool writable, u64 token)
{
	struct vbuf b = { addr, len, writable };
	return virtq_post(q, &b, 1, token, 0);
}

static bool need_event(u16 event, u16 new_idx, u16 old_idx)
{
	return (u16)(new_idx - event - 1) < (u16)(new_idx - old_idx);
}

void virtq_notify(struct virtq *q)
{
	virtio_counts.notifies++;
	*(volatile u32 *)(q->dev->regs + VIRTIO_MMIO_QUEUE_NOTIFY) = q->index;
}

void virtq_kick(struct virtq *q)
{
	/* The new avail idx must be visible before the device's wishes are read. */
	full_fence();
	u16 old_idx = q->kicked_idx;
	q->kicked_idx = q->avail_idx;
	if (q->dev->features & VIRTIO_F_EVENT_IDX) {
		if (!need_event(*avail_event(q), q->avail_idx, old_idx))
			return;
	} else if (*(volatile u16 *)&q->used->flags & VIRTQ_USED_F_NO_NOTIFY) {
		return;
	}
	virtq_notify(q);
}

static void free_chain(struct virtq *q, u16 head)
{
	u16 last = head;
	for (u16 i = 1; i < q->chain_len[head]; i++)
		last = q->desc[last].next;
	q->desc[last].next = q->free_head;
	q->free_head = head;
	q->num_free = (u16)(q->num_free + q->chain_len[head]);
	q->chain_len[head] = 0;
}

bool virtq_get(struct virtq *q, struct virtq_done *done)
{
	if (used_idx(q) == q->last_used)
		return false;
	barrier();
	struct virtq_used_elem e = q->used->ring[q->last_used % q->size];
	if (e.id >= q->size || q->chain_len[e.id] == 0)
		fail("virtio: device %u queue %u returned head %u, which is not in flight", q->dev->device_id, q->index,
		     e.id);
	done->token = q->tokens[e.id];
	done->len = e.len;
	done->head = (u16)e.id;
	free_chain(q, (u16)e.id);
	q->last_used++;
	if (q->dev->features & VIRTIO_F_EVENT_IDX)
		*used_event(q) = (u16)(q->last_used + USED_EVENT_AHEAD);
	return true;
}

bool virtq_wait(struct virtq *q, u64 deadline, struct virtq_done *done)
{
	while (!virtq_get(q, done)) {
		if (deadline_passed(deadline))
			return virtq_get(q, done);
		cpu_relax();
	}
	return true;
}

enum virtq_outcome virtq_wait_or_reset(struct virtq *q, u64 deadline, struct virtq_done *done)
{
	u64 next_status = 0;
	for (;;) {
		if (virtq_get(q, done))
			return VIRTQ_USED;
		u64 now = rdtsc();
		if ((int64_t)(now - next_status) >= 0) {
			if (virtio_needs_reset(q->dev))
				return VIRTQ_NEEDS_RESET;
			next_status = deadline_ms(STATUS_POLL_MS);
		}
		if ((int64_t)(now - deadline) > 0)
			return virtq_get(q, done) ? VIRTQ_USED : VIRTQ_TIMEOUT;
		cpu_relax();
	}
}

bool virtq_wait_default(struct virtq *q, struct virtq_done *done)
{
	return virtq_wait(q, deadline_ms(virtio_timeout_ms()), done);
}

enum virtq_outcome virtq_wait_or_reset_default(struct virtq *q, struct virtq_done *done)
{
	return virtq_wait_or_reset(q, deadline_ms(virtio_timeout_ms()), done);
}

void virtq_raw_desc(struct virtq *q, u16 index, u64 addr, u32 len, u16 flags, u16 next)
{
	struct virtq_desc *d = &q->desc[index % q->size];
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

void virtq_raw_publish(struct virtq *q, u16 head, u64 token)
{
	if (head < q->size) {
		q->chain_len[head] = 1;
		q->tokens[head] = token;
	}
	publish(q, head);
}

void virtq_raw_set_avail_idx(struct virtq *q, u16 idx)
{
	q->avail_idx = idx;
	barrier();
	*(volatile u16 *)&q->avail->idx = idx;
}

