/*
 * test=fs, the end: a device reset with READs in flight, after which the device starts again, answers nothing for
 * the old requests and knows none of the old nodes or handles. With fs_break=1, also chains that break the ring's
 * rules (a readable buffer after a writable one, a reply buffer in the device's own register window): each costs
 * the driver its device (DEVICE_NEEDS_RESET), which then starts again and serves.
 */
#include "../guest.h"
#include "../memory.h"
#include "fs.h"

#define RESET_READS 8
#define RESET_READ_BYTES 8192
#define QUIET_MS 20

static void restart(struct vfs *fs, const char *after)
{
	const char *why;
	if (!vfs_restart(fs, &why))
		fail("restart after %s: %s", after, why);
	fs_expect("INIT after a reset", vfs_init(fs, 0), 0);
}

/* Nothing may come back on either queue for requests made before the reset. */
static void expect_quiet(struct vfs *fs)
{
	struct virtq_done done;
	u64 deadline = deadline_ms(QUIET_MS);
	while (!deadline_passed(deadline)) {
		if (virtq_get(fs->req, &done) || virtq_get(fs->hiprio, &done))
			fail("a request from before the reset was answered after it (head %u)", done.head);
		cpu_relax();
	}
}

/* A driver of a newer major version gets the device's version alone, and nothing works until it sends INIT again. */
static void newer_major(struct vfs *fs)
{
	struct fuse_init_in in = { FUSE_KERNEL_VERSION + 1, 0, 0, 0 };
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_INIT, .arg = &in, .arg_len = sizeof(in) });
	const u32 *version = (const u32 *)fs->reply;
	if (got != 8 || version[0] != FUSE_KERNEL_VERSION || version[1] != FUSE_KERNEL_MINOR_VERSION)
		fail("INIT for FUSE 8: %s (%d bytes), version %u.%u", errno_name(got), got, version[0], version[1]);
	fs_record("init_major8", "7.31");
	fs_attempt("getattr_before_init", vfs_getattr(fs, FUSE_ROOT_ID, &(struct fuse_attr){ 0 }), -EIO);
}

void fs_resets(struct vfs *fs, u64 pattern_bytes)
{
	static struct vfs_slot slots[RESET_READS];
	static struct vfs_req reqs[RESET_READS];
	static struct fuse_io_in io[RESET_READS];
	static struct vbuf bodies[RESET_READS];
	static u8 *area;
	struct fuse_entry_out e;
	struct fuse_attr a;
	u64 fh;
	if (!(fs->dev.features & VIRTIO_F_EVENT_IDX))
		fail("reset with READs in flight: without EVENT_IDX the driver cannot see the device take them");
	if (!area)
		area = alloc(RESET_READS * RESET_READ_BYTES, 4096);
	fs_expect("LOOKUP " SHARE_PATTERN, vfs_lookup(fs, FUSE_ROOT_ID, SHARE_PATTERN, &e), 0);
	fs_expect("OPEN for reading", vfs_open_node(fs, e.nodeid, O_RDONLY, false, &fh), 0);
	for (unsigned i = 0; i < RESET_READS; i++) {
		if (!slots[i].in)
			vfs_slot_init(&slots[i], sizeof(struct fuse_io_in));
		io[i] = (struct fuse_io_in){ .fh = fh, .offset = i * (pattern_bytes / RESET_READS), .size = RESET_READ_BYTES };
		bodies[i] = (struct vbuf){ area + i * RESET_READ_BYTES, RESET_READ_BYTES, true };
		reqs[i] = (struct vfs_req){ .opcode = FUSE_READ, .nodeid = e.nodeid, .arg = &io[i], .arg_len = sizeof(io[i]),
					    .body = &bodies[i], .nbody = 1 };
		vfs_post(fs, &slots[i], &reqs[i]);
	}
	virtq_kick(fs->req);
	/* avail_event follows every chain the device takes: once it has taken all of them, reset. */
	u64 deadline = deadline_ms(virtio_timeout_ms());
	while (virtq_avail_event(fs->req) != fs->req->avail_idx) {
		if (deadline_passed(deadline))
			fail("the device took %u of %u READs",
			     (u16)(virtq_avail_event(fs->req) - (fs->req->avail_idx - RESET_READS)), RESET_READS);
		cpu_relax();
	}
	/* How many it had answered by then: the rest were still on the host's thread pool. */
	u16 answered = virtq_used_pending(fs->req);
	const char *why;
	if (!vfs_restart(fs, &why))
		fail("restart after READs in flight: %s", why);
	expect_quiet(fs);
	newer_major(fs);
	fs_expect("INIT after a reset", vfs_init(fs, 0), 0);
	fs_attempt("node_after_reset", vfs_getattr(fs, e.nodeid, &a), -ENOENT);
	fs_attempt("fh_after_reset", vfs_read(fs, FUSE_ROOT_ID, fh, 0, 64, area), -EBADF);
	fs_expect("LOOKUP after a reset", vfs_lookup(fs, FUSE_ROOT_ID, SHARE_PATTERN, &e), 0);
	fs_check_pattern(fs, e.nodeid, SHARE_PATTERN_SEED, pattern_bytes);
	data("reset_reads=%u answered_before_reset=%u", RESET_READS, answered);
}

/* Posts a chain the queue must refuse; the device has to ask for a reset. */
static void broken(struct vfs *fs, const char *key, const struct vbuf *bufs, unsigned n)
{
	struct virtq_done done;
	*fs->slot.in = (struct fuse_in_header){ sizeof(struct fuse_in_header), FUSE_GETATTR, ++fs->unique,
						FUSE_ROOT_ID, 0, 0, 1, 0 };
	if (virtq_post(fs->req, bufs, n, 0, 0) < 0)
		fail("%s: the queue is full", key);
	virtq_kick(fs->req);
	enum virtq_outcome o = virtq_wait_or_reset_default(fs->req, &done);
	if (o != VIRTQ_NEEDS_RESET)
		fail("%s: %s, expected DEVICE_NEEDS_RESET", key, o == VIRTQ_USED ? "answered" : "no answer");
	fs_record(key, "NEEDS_RESET");
	restart(fs, key);
	struct fuse_attr a;
	fs_expect("GETATTR / after a reset", vfs_getattr(fs, FUSE_ROOT_ID, &a), 0);
}

void fs_breaks(struct vfs *fs)
{
	u8 getattr_in[16] = { 0 };
	struct vbuf after[3] = { { fs->slot.in, sizeof(struct fuse_in_header), false },
				 { fs->slot.out, sizeof(struct fuse_out_header), true }, { getattr_in, 16, false } };
	broken(fs, "readable_after_writable", after, 3);
	struct vbuf window[3] = { { fs->slot.in, sizeof(struct fuse_in_header), false }, { getattr_in, 16, false },
				  { (void *)fs->dev.win.base, sizeof(struct fuse_out_header) + 104, true } };
	broken(fs, "reply_in_mmio_window", window, 3);
}
