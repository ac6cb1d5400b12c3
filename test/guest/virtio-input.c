#include "virtio-input.h"
#include "guest.h"
#include "memory.h"

#define CFG_SELECT 0
#define CFG_SUBSEL 1
#define CFG_SIZE 2
#define CFG_DATA 8

static void post(struct vinput *in, unsigned slot)
{
	memset(&in->events[slot], 0, sizeof(in->events[slot]));
	if (virtq_post_buf(in->eventq, &in->events[slot], sizeof(in->events[slot]), true, slot) < 0)
		fail("input: the event queue has no room");
}

void vinput_open(struct vinput *in, unsigned nth)
{
	memset(in, 0, sizeof(*in));
	struct virtio_setup setup = { .queue_sizes = { INPUT_EVENT_BUFS, 8 }, .defer_driver_ok = true };
	virtio_open(&in->dev, VIRTIO_ID_INPUT, nth, &setup);
	in->eventq = &in->dev.queues[0];
	in->events = alloc(sizeof(*in->events) * INPUT_EVENT_BUFS, 64);
	for (unsigned i = 0; i < INPUT_EVENT_BUFS; i++)
		post(in, i);
	virtio_driver_ok(&in->dev);
	virtq_kick(in->eventq);
}

u8 vinput_query(struct vinput *in, u8 select, u8 subsel, u8 *out, u8 cap)
{
	/* The config space is byte-wide here: select and subsel are single bytes, and so is size. */
	volatile u8 *cfg = in->dev.regs + VIRTIO_MMIO_CONFIG;
	cfg[CFG_SELECT] = select;
	cfg[CFG_SUBSEL] = subsel;
	u8 size = cfg[CFG_SIZE];
	for (u8 i = 0; i < size && i < cap; i++)
		out[i] = cfg[CFG_DATA + i];
	return size;
}

bool vinput_next(struct vinput *in, struct input_event_wire *ev)
{
	struct virtq_done done;
	if (!virtq_wait_default(in->eventq, &done))
		return false;
	if (done.token >= INPUT_EVENT_BUFS)
		fail("input: a used entry for token %lu, which was never posted", done.token);
	if (done.len != sizeof(*ev))
		fail("input: an event of %u bytes, not %u", done.len, (unsigned)sizeof(*ev));
	*ev = in->events[done.token];
	in->received++;
	post(in, (unsigned)done.token);
	virtq_kick(in->eventq);
	return true;
}
