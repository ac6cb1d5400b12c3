/*
 * test=exits: exits_count= (default 20000) reads of a virtio-mmio register the monitor answers in user space
 * (QueueNumMax of queue 0), the same number of InterruptStatus reads and, where the device has a config space
 * (blk), of its first config byte. Each read is one exit; the data lines give their rate as the guest sees it.
 * `exits_device=<virtio device id>` picks the device (default: the first one found).
 */
#include "../guest.h"
#include "../virtio.h"

enum reg_kind { REG32, CONFIG8 };

static void measure(struct virtio_dev *d, const char *name, enum reg_kind kind, u32 offset, u64 n)
{
	u64 sink = 0;
	u64 start = rdtsc();
	for (u64 i = 0; i < n; i++)
		sink += kind == REG32 ? virtio_read32(d, offset) : virtio_config8(d, offset);
	u64 us = tsc_to_us(rdtsc() - start);
	u64 ns_per_exit = n ? us * 1000 / n : 0;
	data("reg=%s n=%lu us=%lu ns_per_exit=%lu exits_per_s=%lu tsc_khz=%lu tsc_source=%s value=%lu", name, n, us,
	     ns_per_exit, us ? n * 1000000 / us : 0, tsc_khz(), tsc_source(), n ? sink / n : 0);
}

static bool find_device(struct virtio_dev *d)
{
	u64 id = cmdline_number("exits_device", 0);
	if (id)
		return virtio_find((u32)id, 0, d);
	struct virtio_window windows[VIRTIO_MAX_WINDOWS];
	unsigned n = virtio_discover(windows, ARRAY_LEN(windows));
	for (unsigned i = 0; i < n; i++) {
		u32 device_id = virtio_peek32(windows[i].base, VIRTIO_MMIO_DEVICE_ID);
		if (device_id && virtio_find(device_id, 0, d))
			return true;
	}
	return false;
}

void test_exits(void)
{
	struct virtio_dev d;
	u64 n = cmdline_number("exits_count", 20000);
	if (!find_device(&d))
		fail("no virtio device to read registers from");
	tsc_khz();
	virtio_write32(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
	measure(&d, "queue_num_max", REG32, VIRTIO_MMIO_QUEUE_NUM_MAX, n);
	measure(&d, "interrupt_status", REG32, VIRTIO_MMIO_INTERRUPT_STATUS, n);
	if (d.device_id == VIRTIO_ID_BLOCK)
		measure(&d, "config8", CONFIG8, 0, n);
}
