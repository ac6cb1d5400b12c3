/*
 * test=gpu: virtio-gpu 2D (virtio 1.2, section 5.7). Asks for the display, makes a gpu_w x gpu_h (default
 * 64 x 48) B8G8R8X8 resource backed by two separate runs of guest RAM, draws a pattern the host can compute
 * (blue = x, green = y, red = x ^ y, each & 0xff), sets it on scanout 0, transfers and flushes it, and says
 * "drawn frame=1". The host takes its screenshot, then sends one key on the keyboard (the input device this test
 * needs); the guest then changes mode: a second resource, half the size in each direction, with the pattern
 * inverted, on the same scanout ("drawn frame=2"). Between the frames it sends requests a device must refuse,
 * each answered with the spec's error. Every request is fenced, and the fence must come back.
 */
#include "../guest.h"
#include "../memory.h"
#include "../virtio.h"
#include "../virtio-input.h"

#define VIRTIO_ID_GPU 16
#define CMD_GET_DISPLAY_INFO 0x0100
#define CMD_RESOURCE_CREATE_2D 0x0101
#define CMD_RESOURCE_UNREF 0x0102
#define CMD_SET_SCANOUT 0x0103
#define CMD_RESOURCE_FLUSH 0x0104
#define CMD_TRANSFER_TO_HOST_2D 0x0105
#define CMD_RESOURCE_ATTACH_BACKING 0x0106
#define RESP_OK_NODATA 0x1100
#define RESP_OK_DISPLAY_INFO 0x1101
#define RESP_ERR_UNSPEC 0x1200
#define RESP_ERR_INVALID_SCANOUT_ID 0x1202
#define RESP_ERR_INVALID_RESOURCE_ID 0x1203
#define RESP_ERR_INVALID_PARAMETER 0x1205
#define FLAG_FENCE 1
#define FORMAT_B8G8R8X8 2
#define MAX_SCANOUTS 16
#define REQ_BYTES 512

struct gpu_hdr {
	u32 type;
	u32 flags;
	u64 fence_id;
	u32 ctx_id;
	u8 ring_idx;
	u8 padding[3];
};

struct gpu_rect {
	u32 x, y, width, height;
};

struct gpu_display_info {
	struct gpu_hdr hdr;
	struct {
		struct gpu_rect r;
		u32 enabled;
		u32 flags;
	} pmodes[MAX_SCANOUTS];
};

struct gpu_create_2d {
	struct gpu_hdr hdr;
	u32 resource_id, format, width, height;
};

struct gpu_attach {
	struct gpu_hdr hdr;
	u32 resource_id, nr_entries;
	struct {
		u64 addr;
		u32 length, padding;
	} entries[2];
};

struct gpu_set_scanout {
	struct gpu_hdr hdr;
	struct gpu_rect r;
	u32 scanout_id, resource_id;
};

struct gpu_flush {
	struct gpu_hdr hdr;
	struct gpu_rect r;
	u32 resource_id, padding;
};

struct gpu_transfer {
	struct gpu_hdr hdr;
	struct gpu_rect r;
	u64 offset;
	u32 resource_id, padding;
};

struct gpu_unref {
	struct gpu_hdr hdr;
	u32 resource_id, padding;
};

struct gpu {
	struct virtio_dev dev;
	struct virtq *controlq;
	u8 *req;
	u8 *resp;
	u64 next_fence;
};

/* One frame: its resource and the two runs of RAM behind it (rows split between them). */
struct frame {
	u32 id, width, height;
	u8 *runs[2];
	u32 run_bytes[2];
};

static const char *resp_name(u32 type)
{
	switch (type) {
	case RESP_OK_NODATA: return "OK_NODATA";
	case RESP_OK_DISPLAY_INFO: return "OK_DISPLAY_INFO";
	case RESP_ERR_UNSPEC: return "ERR_UNSPEC";
	case RESP_ERR_INVALID_SCANOUT_ID: return "ERR_INVALID_SCANOUT_ID";
	case RESP_ERR_INVALID_RESOURCE_ID: return "ERR_INVALID_RESOURCE_ID";
	case RESP_ERR_INVALID_PARAMETER: return "ERR_INVALID_PARAMETER";
	default: return "other";
	}
}

/* Sends one fenced command of len bytes; the response (resp_len bytes) lands in g->resp. Returns its type. */
static u32 gpu_command(struct gpu *g, const void *cmd, u32 len, u32 resp_len)
{
	if (len > REQ_BYTES || resp_len > REQ_BYTES)
		fail("gpu: a %u-byte command with a %u-byte response does not fit", len, resp_len);
	memcpy(g->req, cmd, len);
	struct gpu_hdr *h = (struct gpu_hdr *)g->req;
	h->flags = FLAG_FENCE;
	h->fence_id = ++g->next_fence;
	memset(g->resp, 0xee, resp_len);
	struct vbuf chain[2] = { { g->req, len, false }, { g->resp, resp_len, true } };
	if (virtq_post(g->controlq, chain, 2, 1, 0) < 0)
		fail("gpu: the control queue is full with nothing in flight");
	virtq_kick(g->controlq);
	struct virtq_done done;
	enum virtq_outcome got = virtq_wait_or_reset_default(g->controlq, &done);
	if (got != VIRTQ_USED)
		fail("gpu: command 0x%x %s", h->type,
		     got == VIRTQ_NEEDS_RESET ? "set DEVICE_NEEDS_RESET" : "was not answered in time");
	const struct gpu_hdr *r = (const struct gpu_hdr *)g->resp;
	if (done.len < sizeof(*r) || done.len > resp_len)
		fail("gpu: command 0x%x: used length %u for a %u-byte response", h->type, done.len, resp_len);
	if (!(r->flags & FLAG_FENCE) || r->fence_id != g->next_fence)
		fail("gpu: command 0x%x: fence %lu not echoed (flags %u, fence %lu)", h->type, g->next_fence, r->flags,
		     r->fence_id);
	return r->type;
}

static void expect(struct gpu *g, const char *what, const void *cmd, u32 len, u32 want)
{
	u32 got = gpu_command(g, cmd, len, sizeof(struct gpu_hdr));
	if (got != want)
		fail("gpu: %s: response 0x%x (%s), expected 0x%x (%s)", what, got, resp_name(got), want,
		     resp_name(want));
}

static struct gpu_hdr hdr(u32 type)
{
	return (struct gpu_hdr){ .type = type };
}

static u32 pixel(const struct frame *f, u32 x, u32 y)
{
	u32 b = x & 0xff, g = y & 0xff, r = (x ^ y) & 0xff;
	u32 v = b | g << 8 | r << 16 | 0xffu << 24;
	return f->id == 2 ? ~v | 0xffu << 24 : v;
}

/* Fills the frame's runs with its pattern: the first half of the rows in one run, the rest in the other. */
static void draw(struct frame *f)
{
	u32 stride = f->width * 4;
	u32 first_rows = f->height / 2;
	f->run_bytes[0] = first_rows * stride;
	f->run_bytes[1] = (f->height - first_rows) * stride;
	for (unsigned i = 0; i < 2; i++)
		f->runs[i] = alloc(f->run_bytes[i], 4096);
	for (u32 y = 0; y < f->height; y++) {
		u32 *row = (u32 *)(y < first_rows ? f->runs[0] + y * stride : f->runs[1] + (y - first_rows) * stride);
		for (u32 x = 0; x < f->width; x++)
			row[x] = pixel(f, x, y);
	}
}

static void show(struct gpu *g, struct frame *f)
{
	struct gpu_create_2d c = { hdr(CMD_RESOURCE_CREATE_2D), f->id, FORMAT_B8G8R8X8, f->width, f->height };
	expect(g, "create", &c, sizeof(c), RESP_OK_NODATA);
	struct gpu_attach a = { hdr(CMD_RESOURCE_ATTACH_BACKING), f->id, 2,
				{ { (u64)f->runs[0], f->run_bytes[0], 0 }, { (u64)f->runs[1], f->run_bytes[1], 0 } } };
	expect(g, "attach-backing", &a, sizeof(a), RESP_OK_NODATA);
	struct gpu_rect all = { 0, 0, f->width, f->height };
	struct gpu_set_scanout s = { hdr(CMD_SET_SCANOUT), all, 0, f->id };
	expect(g, "set-scanout", &s, sizeof(s), RESP_OK_NODATA);
	struct gpu_transfer t = { hdr(CMD_TRANSFER_TO_HOST_2D), all, 0, f->id, 0 };
	expect(g, "transfer", &t, sizeof(t), RESP_OK_NODATA);
	struct gpu_flush fl = { hdr(CMD_RESOURCE_FLUSH), all, f->id, 0 };
	expect(g, "flush", &fl, sizeof(fl), RESP_OK_NODATA);
	data("drawn frame=%u width=%u height=%u", f->id, f->width, f->height);
}

/* Requests a device must refuse, with frame 1's resource in place. */
static void refusals(struct gpu *g, const struct frame *f)
{
	struct gpu_create_2d again = { hdr(CMD_RESOURCE_CREATE_2D), f->id, FORMAT_B8G8R8X8, 8, 8 };
	expect(g, "create-existing-id", &again, sizeof(again), RESP_ERR_INVALID_RESOURCE_ID);
	struct gpu_create_2d zero = { hdr(CMD_RESOURCE_CREATE_2D), 0, FORMAT_B8G8R8X8, 8, 8 };
	expect(g, "create-id-0", &zero, sizeof(zero), RESP_ERR_INVALID_RESOURCE_ID);
	struct gpu_create_2d format = { hdr(CMD_RESOURCE_CREATE_2D), 90, 999, 8, 8 };
	expect(g, "create-unknown-format", &format, sizeof(format), RESP_ERR_INVALID_PARAMETER);
	struct gpu_transfer outside = { hdr(CMD_TRANSFER_TO_HOST_2D), { f->width - 4, 0, 8, 8 }, 0, f->id, 0 };
	expect(g, "transfer-outside", &outside, sizeof(outside), RESP_ERR_INVALID_PARAMETER);
	struct gpu_set_scanout unknown = { hdr(CMD_SET_SCANOUT), { 0, 0, 8, 8 }, 0, 77 };
	expect(g, "scanout-unknown-resource", &unknown, sizeof(unknown), RESP_ERR_INVALID_RESOURCE_ID);
	struct gpu_set_scanout bad_scanout = { hdr(CMD_SET_SCANOUT), { 0, 0, 8, 8 }, MAX_SCANOUTS, f->id };
	expect(g, "scanout-out-of-range", &bad_scanout, sizeof(bad_scanout), RESP_ERR_INVALID_SCANOUT_ID);
	struct gpu_hdr nothing = hdr(0x0fff);
	expect(g, "unknown-command", &nothing, sizeof(nothing), RESP_ERR_UNSPEC);
	data("refusals=7");
}

static void display_info(struct gpu *g, u32 *w, u32 *h)
{
	struct gpu_hdr q = hdr(CMD_GET_DISPLAY_INFO);
	u32 got = gpu_command(g, &q, sizeof(q), sizeof(struct gpu_display_info));
	if (got != RESP_OK_DISPLAY_INFO)
		fail("gpu: GET_DISPLAY_INFO answered 0x%x", got);
	const struct gpu_display_info *d = (const struct gpu_display_info *)g->resp;
	u32 scanouts = virtio_config32(&g->dev, 8);
	*w = d->pmodes[0].r.width;
	*h = d->pmodes[0].r.height;
	data("display scanouts=%u width=%u height=%u enabled=%u", scanouts, *w, *h, d->pmodes[0].enabled);
	if (scanouts == 0 || scanouts > MAX_SCANOUTS || !d->pmodes[0].enabled)
		fail("gpu: %u scanouts, the first %s", scanouts, d->pmodes[0].enabled ? "enabled" : "disabled");
}

static void wait_key(struct vinput *kbd)
{
	struct input_event_wire ev;
	do {
		if (!vinput_next(kbd, &ev))
			fail("gpu: no key from the host after frame 1");
	} while (ev.type != INPUT_EV_KEY);
	data("key code=%u value=%u", ev.code, ev.value);
}

void test_gpu(void)
{
	struct gpu g = { 0 };
	virtio_open(&g.dev, VIRTIO_ID_GPU, 0, &(struct virtio_setup){ .queue_sizes = { 16, 16 } });
	g.controlq = &g.dev.queues[0];
	g.req = alloc(REQ_BYTES, 64);
	g.resp = alloc(REQ_BYTES, 64);
	struct vinput kbd;
	vinput_open(&kbd, 0);
	u32 dw, dh;
	display_info(&g, &dw, &dh);
	struct frame one = { .id = 1, .width = (u32)cmdline_number("gpu_w", 64), .height = (u32)cmdline_number("gpu_h", 48) };
	draw(&one);
	show(&g, &one);
	refusals(&g, &one);
	wait_key(&kbd);
	struct frame two = { .id = 2, .width = one.width / 2, .height = one.height / 2 };
	draw(&two);
	show(&g, &two);
	struct gpu_unref u = { hdr(CMD_RESOURCE_UNREF), one.id, 0 };
	expect(&g, "unref", &u, sizeof(u), RESP_OK_NODATA);
}
