/* virtio-mmio devices: discovery, registers, the init sequence, config space. */
#include "virtio.h"
#include "guest.h"

/* Where monitors put their windows when the cmdline does not say: tsvmm, then QEMU microvm. */
#define TSVMM_MMIO_BASE 0xd0000000ull
#define TSVMM_MMIO_STRIDE 0x1000
#define TSVMM_MMIO_SLOTS 19
#define QEMU_MMIO_BASE 0xfeb00000ull
#define QEMU_MMIO_STRIDE 0x200
#define QEMU_MMIO_SLOTS 24
#define DEFAULT_TIMEOUT_MS 10000

struct virtio_counts virtio_counts;

struct window_list {
	struct virtio_window *out;
	unsigned cap;
	unsigned n;
};

bool virtio_parse_window(const char *text, struct virtio_window *out)
{
	u64 size, base, irq;
	const char *p = parse_number(text, &size);
	if (!p || *p++ != '@')
		return false;
	p = parse_number(p, &base);
	if (!p || *p++ != ':')
		return false;
	p = parse_number(p, &irq);
	/* Only the top GiB of the identity map is uncached, so a window anywhere else cannot be used. */
	if (!p || (*p && *p != ':') || size < VIRTIO_MMIO_CONFIG || base < MMIO_START ||
	    base + size > IDENTITY_MAP_END)
		return false;
	*out = (struct virtio_window){ base, size, (u32)irq };
	return true;
}

static void add_cmdline_window(const char *value, void *ctx)
{
	struct window_list *list = ctx;
	struct virtio_window w;
	if (list->n < list->cap && virtio_parse_window(value, &w))
		list->out[list->n++] = w;
	else
		say("virtio: ignoring virtio_mmio.device=%s", value);
}

u32 virtio_peek32(u64 base, u32 offset)
{
	virtio_counts.register_accesses++;
	return *(volatile u32 *)(base + offset);
}

static void scan(struct window_list *list, u64 base, u64 stride, unsigned slots)
{
	for (unsigned i = 0; i < slots && list->n < list->cap; i++) {
		u64 at = base + i * stride;
		if (virtio_peek32(at, VIRTIO_MMIO_MAGIC) == VIRTIO_MMIO_MAGIC_VALUE)
			list->out[list->n++] = (struct virtio_window){ at, stride, 0 };
	}
}

unsigned virtio_discover(struct virtio_window *out, unsigned cap)
{
	struct window_list list = { out, cap, 0 };
	/* `virtio_scan=1` ignores the cmdline's windows, so the scan can be tested under monitors that write them. */
	if (!cmdline_flag("virtio_scan"))
		cmdline_each("virtio_mmio.device", add_cmdline_window, &list);
	if (list.n)
		return list.n;
	scan(&list, TSVMM_MMIO_BASE, TSVMM_MMIO_STRIDE, TSVMM_MMIO_SLOTS);
	if (!list.n)
		scan(&list, QEMU_MMIO_BASE, QEMU_MMIO_STRIDE, QEMU_MMIO_SLOTS);
	return list.n;
}

bool virtio_find(u32 device_id, unsigned nth, struct virtio_dev *dev)
{
	struct virtio_window windows[VIRTIO_MAX_WINDOWS];
	unsigned n = virtio_discover(windows, ARRAY_LEN(windows));
	for (unsigned i = 0; i < n; i++) {
		memset(dev, 0, sizeof(*dev));
		dev->win = windows[i];
		dev->regs = (volatile u8 *)windows[i].base;
		if (virtio_read32(dev, VIRTIO_MMIO_MAGIC) != VIRTIO_MMIO_MAGIC_VALUE)
			continue;
		u32 version = virtio_read32(dev, VIRTIO_MMIO_VERSION);
		dev->device_id = virtio_read32(dev, VIRTIO_MMIO_DEVICE_ID);
		if (dev->device_id != device_id)
			continue;
		if (version != 2) {
			say("virtio: device %u at 0x%lx has register layout %u; only 2 is supported", device_id,
			    windows[i].base, version);
			continue;
		}
		if (nth-- == 0)
			return true;
	}
	return false;
}

u32 virtio_read32(struct virtio_dev *d, u32 offset)
{
	virtio_counts.register_accesses++;
	return *(volatile u32 *)(d->regs + offset);
}

void virtio_write32(struct virtio_dev *d, u32 offset, u32 value)
{
	virtio_counts.register_accesses++;
	*(volatile u32 *)(d->regs + offset) = value;
}

u32 virtio_status(struct virtio_dev *d)
{
	return virtio_read32(d, VIRTIO_MMIO_STATUS);
}

bool virtio_needs_reset(struct virtio_dev *d)
{
	return (virtio_status(d) & VIRTIO_STATUS_NEEDS_RESET) != 0;
}

bool virtio_reset(struct virtio_dev *d)
{
	virtio_write32(d, VIRTIO_MMIO_STATUS, 0);
	d->nqueues = 0;
	d->features = 0;
	u64 deadline = deadline_ms(virtio_timeout_ms());
	while (virtio_status(d) != 0) {
		if (deadline_passed(deadline))
			return false;
		cpu_relax();
	}
	return true;
}

static void set_status(struct virtio_dev *d, u32 bits)
{
	virtio_write32(d, VIRTIO_MMIO_STATUS, virtio_status(d) | bits);
}

static u64 read_features(struct virtio_dev *d)
{
	virtio_write32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	u64 high = virtio_read32(d, VIRTIO_MMIO_DEVICE_FEATURES);
	virtio_write32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return high << 32 | virtio_read32(d, VIRTIO_MMIO_DEVICE_FEATURES);
}

bool virtio_start(struct virtio_dev *d, u64 required, u64 wanted, const char **why)
{
	static char reason[96];
	if (!virtio_reset(d)) {
		*why = "the device did not reset (Status never read 0)";
		return false;
	}
	set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	set_status(d, VIRTIO_STATUS_DRIVER);
	d->offered = read_features(d);
	u64 need = required | VIRTIO_F_VERSION_1;
	if ((d->offered & need) != need) {
		format(reason, sizeof(reason), "features 0x%lx required, 0x%lx offered", need, d->offered);
		*why = reason;
		set_status(d, VIRTIO_STATUS_FAILED);
		return false;
	}
	d->features = need | (d->offered & wanted);
	virtio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	virtio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES, (u32)(d->features >> 32));
	virtio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	virtio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES, (u32)d->features);
	set_status(d, VIRTIO_STATUS_FEATURES_OK);
	if (!(virtio_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
		*why = "the device did not accept the features (FEATURES_OK did not stick)";
		set_status(d, VIRTIO_STATUS_FAILED);
		return false;
	}
	return true;
}

void virtio_driver_ok(struct virtio_dev *d)
{
	set_status(d, VIRTIO_STATUS_DRIVER_OK);
}

bool virtio_init(struct virtio_dev *d, const struct virtio_setup *s, const char **why)
{
	if (!virtio_start(d, s->required, s->wanted, why))
		return false;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES && s->queue_sizes[i]; i++) {
		if (!virtq_setup(d, i, s->queue_sizes[i], why))
			return false;
	}
	if (!s->defer_driver_ok)
		virtio_driver_ok(d);
	return true;
}

static const char *device_name(u32 device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return "virtio-net";
	case VIRTIO_ID_BLOCK:
		return "virtio-blk";
	case VIRTIO_ID_CONSOLE:
		return "virtio-console";
	case VIRTIO_ID_RNG:
		return "virtio-rng";
	case VIRTIO_ID_BALLOON:
		return "virtio-balloon";
	case VIRTIO_ID_VSOCK:
		return "virtio-vsock";
	case VIRTIO_ID_IOMMU:
		return "virtio-iommu";
	case VIRTIO_ID_FS:
		return "virtio-fs";
	case VIRTIO_ID_SOUND:
		return "virtio-snd";
	default:
		return "such";
	}
}

void virtio_open(struct virtio_dev *d, u32 device_id, unsigned nth, const struct virtio_setup *s)
{
	const char *why;
	if (!virtio_find(device_id, nth, d))
		fail("no %s device", device_name(device_id));
	if (!virtio_init(d, s, &why))
		fail("%s", why);
}

u8 virtio_config8(struct virtio_dev *d, u32 offset)
{
	virtio_counts.register_accesses++;
	return *(volatile u8 *)(d->regs + VIRTIO_MMIO_CONFIG + offset);
}

u16 virtio_config16(struct virtio_dev *d, u32 offset)
{
	virtio_counts.register_accesses++;
	return *(volatile u16 *)(d->regs + VIRTIO_MMIO_CONFIG + offset);
}

u32 virtio_config32(struct virtio_dev *d, u32 offset)
{
	return virtio_read32(d, VIRTIO_MMIO_CONFIG + offset);
}

/* `words` 32-bit words from offset on, read again until ConfigGeneration is the same before and after. */
static void config_read_stable(struct virtio_dev *d, u32 offset, u32 *out, unsigned words)
{
	u32 before;
	do {
		before = virtio_read32(d, VIRTIO_MMIO_CONFIG_GENERATION);
		for (unsigned i = 0; i < words; i++)
			out[i] = virtio_config32(d, offset + 4 * i);
	} while (virtio_read32(d, VIRTIO_MMIO_CONFIG_GENERATION) != before);
}

u32 virtio_config32_stable(struct virtio_dev *d, u32 offset)
{
	u32 value;
	config_read_stable(d, offset, &value, 1);
	return value;
}

u64 virtio_config64(struct virtio_dev *d, u32 offset)
{
	u32 w[2];
	config_read_stable(d, offset, w, 2);
	return w[0] | (u64)w[1] << 32;
}

void virtio_config_write32(struct virtio_dev *d, u32 offset, u32 value)
{
	virtio_write32(d, VIRTIO_MMIO_CONFIG + offset, value);
}

u64 virtio_timeout_ms(void)
{
	static u64 timeout;
	if (!timeout)
		timeout = cmdline_number("timeout_ms", DEFAULT_TIMEOUT_MS);
	return timeout;
}
