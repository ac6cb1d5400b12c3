/*
 * A polling virtio-input driver (virtio 1.2, section 5.8) for the tests: the config space's select/subsel
 * queries, and the event queue kept full of 8-byte event buffers.
 */
#ifndef TSVMM_GUEST_VIRTIO_INPUT_H
#define TSVMM_GUEST_VIRTIO_INPUT_H
#include "virtio.h"

#define VIRTIO_ID_INPUT 18
#define VIRTIO_INPUT_CFG_ID_NAME 0x01
#define VIRTIO_INPUT_CFG_ID_DEVIDS 0x03
#define VIRTIO_INPUT_CFG_EV_BITS 0x11
#define VIRTIO_INPUT_CFG_ABS_INFO 0x12
#define INPUT_EV_SYN 0
#define INPUT_EV_KEY 1
#define INPUT_EV_ABS 3
#define INPUT_EVENT_BUFS 32

struct input_event_wire {
	u16 type;
	u16 code;
	u32 value;
};

struct vinput {
	struct virtio_dev dev;
	struct virtq *eventq;
	struct input_event_wire *events;
	u64 received;
};

/* The nth input device, brought up with every event buffer posted. */
void vinput_open(struct vinput *in, unsigned nth);
/* Selects (select, subsel) and copies up to cap bytes of the answer; returns the size the device gave. */
u8 vinput_query(struct vinput *in, u8 select, u8 subsel, u8 *out, u8 cap);
/* The next event, reposting its buffer; false if none came before virtio_timeout_ms. */
bool vinput_next(struct vinput *in, struct input_event_wire *ev);

#endif
