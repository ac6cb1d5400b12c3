/*
 * test=input: the first virtio-input device (virtio 1.2, section 5.8). Reads its name, its device IDs and whether
 * it has EV_KEY and EV_ABS bits (and ABS_X's range when it has), says "ready", then prints every event the host
 * sends as "event type=T code=C value=V" until input_events (default 4) have come.
 */
#include "../guest.h"
#include "../virtio-input.h"

void test_input(void)
{
	struct vinput in;
	vinput_open(&in, 0);
	u8 key_bits = vinput_query(&in, VIRTIO_INPUT_CFG_EV_BITS, INPUT_EV_KEY, NULL, 0);
	u8 abs_bits = vinput_query(&in, VIRTIO_INPUT_CFG_EV_BITS, INPUT_EV_ABS, NULL, 0);
	char name[129];
	u8 n = vinput_query(&in, VIRTIO_INPUT_CFG_ID_NAME, 0, (u8 *)name, 128);
	name[n < 128 ? n : 128] = 0;
	data("name=\"%s\" key_bits=%u abs_bits=%u", name, key_bits, abs_bits);
	if (abs_bits) {
		u32 info[5];
		if (vinput_query(&in, VIRTIO_INPUT_CFG_ABS_INFO, 0, (u8 *)info, sizeof(info)) < sizeof(info))
			fail("input: ABS_INFO for ABS_X is shorter than min, max, fuzz, flat and res");
		data("abs_x min=%u max=%u", info[0], info[1]);
	}
	u64 wanted = cmdline_number("input_events", 4);
	data("ready");
	for (u64 i = 0; i < wanted; i++) {
		struct input_event_wire ev;
		if (!vinput_next(&in, &ev))
			fail("input: %lu of %lu events came", i, wanted);
		data("event type=%u code=%u value=%u", ev.type, ev.code, ev.value);
	}
}
