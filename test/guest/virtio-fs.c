#include "virtio-fs.h"
#include "guest.h"
#include "memory.h"

#define HIPRIO_QUEUE 0
#define REQUEST_QUEUE 1
#define CONFIG_TAG 0
#define CONFIG_NUM_QUEUES 36
#define TAG_BYTES 36
#define MAX_BUFS (VIRTQ_INDIRECT_MAX - 4)
#define ERRNO_MAX 4095

static const struct virtio_setup vfs_setup = {
	.wanted = VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX,
	.queue_sizes = { [HIPRIO_QUEUE] = 16, [REQUEST_QUEUE] = 64 },
};

bool vfs_restart(struct vfs *fs, const char **why)
{
	/* A reset device holds no nodes: there is nothing left to forget. */
	fs->nnodes = 0;
	return virtio_init(&fs->dev, &vfs_setup, why);
}

void vfs_open(struct vfs *fs)
{
	memset(fs, 0, sizeof(*fs));
	virtio_open(&fs->dev, VIRTIO_ID_FS, 0, &vfs_setup);
	fs->hiprio = &fs->dev.queues[HIPRIO_QUEUE];
	fs->req = &fs->dev.queues[REQUEST_QUEUE];
	for (unsigned i = 0; i < TAG_BYTES; i++)
		fs->tag[i] = (char)virtio_config8(&fs->dev, CONFIG_TAG + i);
	if (virtio_config32(&fs->dev, CONFIG_NUM_QUEUES) == 0)
		fail("num_request_queues is 0");
	vfs_slot_init(&fs->slot, VFS_ARG_BYTES);
	fs->reply = alloc(VFS_REPLY_BYTES, 4096);
}

void vfs_slot_init(struct vfs_slot *slot, u32 args_cap)
{
	slot->in = alloc(sizeof(*slot->in), 64);
	slot->out = alloc(sizeof(*slot->out), 64);
	slot->args = alloc(args_cap, 64);
	slot->args_cap = args_cap;
}

/* fuse_in_header and the arguments: the header in a buffer of its own, the arguments in a second one. */
static unsigned request_bufs(struct vfs *fs, struct vfs_slot *slot, const struct vfs_req *r, struct vbuf *bufs)
{
	const char *names[2] = { r->name, r->name2 };
	if (r->arg_len > slot->args_cap)
		fail("fs: %u argument bytes for opcode %u", r->arg_len, r->opcode);
	if (r->arg_len)
		memcpy(slot->args, r->arg, r->arg_len);
	u32 n = r->arg_len;
	for (unsigned i = 0; i < 2 && names[i]; i++) {
		u32 len = (u32)strlen(names[i]) + 1;
		if (n + len > slot->args_cap)
			fail("fs: the arguments of opcode %u do not fit the driver's buffer", r->opcode);
		memcpy(slot->args + n, names[i], len);
		n += len;
	}
	u32 data = 0;
	for (unsigned i = 0; i < r->ndata; i++)
		data += r->data[i].len;
	slot->unique = ++fs->unique;
	*slot->in = (struct fuse_in_header){ (u32)sizeof(*slot->in) + n + data, r->opcode, slot->unique, r->nodeid, 0, 0,
					     1, 0 };
	unsigned count = 0;
	bufs[count++] = (struct vbuf){ slot->in, sizeof(*slot->in), false };
	if (n)
		bufs[count++] = (struct vbuf){ slot->args, n, false };
	return count;
}

/* The answer must be for this request, fit what was offered and carry an errno or a body, never both. */
static int check_reply(struct vfs *fs, const struct vfs_slot *slot, u32 used)
{
	const struct fuse_out_header *o = slot->out;
	const struct vfs_req *r = slot->req;
	if (used != o->len || o->len < sizeof(*o) || o->len - sizeof(*o) > slot->room)
		fail("fs: opcode %u answered with length %u, used length %u, room %u", r->opcode, o->len, used,
		     slot->room + (u32)sizeof(*o));
	if (o->unique != slot->unique)
		fail("fs: opcode %u answered for unique %lu, sent %lu", r->opcode, o->unique, slot->unique);
	if (o->error > 0 || o->error < -ERRNO_MAX || (o->error && o->len != sizeof(*o)))
		fail("fs: opcode %u answered error %d with length %u", r->opcode, o->error, o->len);
	if (o->error) {
		fs->errors++;
		return o->error;
	}
	u32 body = o->len - (u32)sizeof(*o);
	if (r->opcode == FUSE_READ)
		fs->read_bytes += body;
	if (r->opcode == FUSE_WRITE && body >= 4)
		fs->written_bytes += *(const u32 *)(r->nbody ? r->body[0].addr : fs->reply);
	return (int)body;
}

void vfs_post(struct vfs *fs, struct vfs_slot *slot, const struct vfs_req *r)
{
	struct vbuf bufs[VIRTQ_INDIRECT_MAX];
	unsigned n = request_bufs(fs, slot, r, bufs);
	if (r->ndata + r->nbody > MAX_BUFS)
		fail("fs: a request of %u buffers", r->ndata + r->nbody);
	for (unsigned i = 0; i < r->ndata; i++)
		bufs[n++] = r->data[i];
	slot->req = r;
	slot->room = 0;
	if (!(r->flags & VFS_NO_REPLY)) {
		memset(slot->out, 0xff, sizeof(*slot->out));
		bufs[n++] = (struct vbuf){ slot->out, sizeof(*slot->out), true };
		for (unsigned i = 0; i < r->nbody; i++) {
			bufs[n++] = r->body[i];
			slot->room += r->body[i].len;
		}
		if (!r->nbody) {
			slot->room = r->room ? r->room : VFS_REPLY_BYTES;
			bufs[n++] = (struct vbuf){ fs->reply, slot->room, true };
		}
	}
	struct virtq *q = r->flags & VFS_HIPRIO ? fs->hiprio : fs->req;
	if (virtq_post(q, bufs, n, (u64)slot, r->flags & VIRTQ_POST_INDIRECT) < 0)
		fail("fs: queue %u is full", q->index);
}

struct vfs_slot *vfs_reap(struct vfs *fs, bool hiprio)
{
	struct virtq_done done;
	enum virtq_outcome o = virtq_wait_or_reset_default(hiprio ? fs->hiprio : fs->req, &done);
	if (o != VIRTQ_USED)
		fail("fs: %s", o == VIRTQ_NEEDS_RESET ? "a request made the device need a reset" : "a request was not answered");
	struct vfs_slot *slot = (struct vfs_slot *)done.token;
	fs->calls++;
	if (slot->req->flags & VFS_NO_REPLY) {
		if (done.len != 0)
			fail("fs: opcode %u has no reply, yet the used length is %u", slot->req->opcode, done.len);
		slot->result = 0;
	} else {
		slot->result = check_reply(fs, slot, done.len);
	}
	return slot;
}

int vfs_call(struct vfs *fs, const struct vfs_req *r)
{
	vfs_post(fs, &fs->slot, r);
	virtq_kick(r->flags & VFS_HIPRIO ? fs->hiprio : fs->req);
	if (vfs_reap(fs, (r->flags & VFS_HIPRIO) != 0) != &fs->slot)
		fail("fs: opcode %u: the answer is for another request", r->opcode);
	return fs->slot.result;
}

int vfs_init(struct vfs *fs, u32 flags)
{
	struct fuse_init_in in = { FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION, 128 * 1024, flags };
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_INIT, .arg = &in, .arg_len = sizeof(in) });
	if (got < 0)
		return got;
	if ((u32)got != sizeof(fs->init))
		fail("fs: INIT answered %d bytes, expected %u (fuse_init_out of 7.23 and later)", got,
		     (unsigned)sizeof(fs->init));
	memcpy(&fs->init, fs->reply, sizeof(fs->init));
	return 0;
}

void vfs_counted(struct vfs *fs, u64 nodeid)
{
	if (nodeid == 0)
		return;
	for (unsigned i = 0; i < fs->nnodes; i++) {
		if (fs->nodes[i].nodeid == nodeid) {
			fs->nodes[i].lookups++;
			return;
		}
	}
	if (fs->nnodes == VFS_MAX_NODES)
		fail("fs: more than %u nodes looked up", VFS_MAX_NODES);
	fs->nodes[fs->nnodes++] = (struct vfs_node){ nodeid, 1 };
}

/* Copies an entry reply out and counts its lookup. */
static int entry_reply(struct vfs *fs, int got, struct fuse_entry_out *e, u32 want)
{
	if (got < 0)
		return got;
	if ((u32)got != want)
		fail("fs: an entry reply of %d bytes, expected %u", got, want);
	memcpy(e, fs->reply, sizeof(*e));
	vfs_counted(fs, e->nodeid);
	return 0;
}

int vfs_lookup(struct vfs *fs, u64 parent, const char *name, struct fuse_entry_out *e)
{
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_LOOKUP, .nodeid = parent, .name = name });
	return entry_reply(fs, got, e, sizeof(*e));
}

int vfs_getattr(struct vfs *fs, u64 nodeid, struct fuse_attr *a)
{
	u8 in[16] = { 0 };
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_GETATTR, .nodeid = nodeid, .arg = in, .arg_len = 16 });
	if (got < 0)
		return got;
	if ((u32)got != sizeof(struct fuse_attr_out))
		fail("fs: GETATTR answered %d bytes", got);
	memcpy(a, &((struct fuse_attr_out *)fs->reply)->attr, sizeof(*a));
	return 0;
}

int vfs_open_node(struct vfs *fs, u64 nodeid, u32 flags, bool dir, u64 *fh)
{
	u32 in[2] = { flags, 0 };
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = dir ? FUSE_OPENDIR : FUSE_OPEN, .nodeid = nodeid, .arg = in,
						 .arg_len = sizeof(in) });
	if (got < 0)
		return got;
	if ((u32)got != sizeof(struct fuse_open_out))
		fail("fs: OPEN answered %d bytes", got);
	*fh = ((struct fuse_open_out *)fs->reply)->fh;
	return 0;
}

int vfs_release(struct vfs *fs, u64 nodeid, u64 fh, bool dir)
{
	u64 in[3] = { fh, 0, 0 };
	return vfs_call(fs, &(struct vfs_req){ .opcode = dir ? FUSE_RELEASEDIR : FUSE_RELEASE, .nodeid = nodeid,
					      .arg = in, .arg_len = sizeof(in) });
}

int vfs_create(struct vfs *fs, u64 parent, const char *name, u32 flags, u32 mode, struct fuse_entry_out *e, u64 *fh)
{
	u32 in[4] = { flags, mode, 0, 0 };
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_CREATE, .nodeid = parent, .arg = in,
						 .arg_len = sizeof(in), .name = name });
	int err = entry_reply(fs, got, e, sizeof(*e) + sizeof(struct fuse_open_out));
	if (err == 0)
		*fh = ((struct fuse_open_out *)(fs->reply + sizeof(*e)))->fh;
	return err;
}

int vfs_mkdir(struct vfs *fs, u64 parent, const char *name, u32 mode, struct fuse_entry_out *e)
{
	u32 in[2] = { mode, 0 };
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_MKDIR, .nodeid = parent, .arg = in,
						 .arg_len = sizeof(in), .name = name });
	return entry_reply(fs, got, e, sizeof(*e));
}

int vfs_read(struct vfs *fs, u64 nodeid, u64 fh, u64 offset, u32 size, void *buf)
{
	struct fuse_io_in in = { .fh = fh, .offset = offset, .size = size };
	struct vbuf body = { buf, size, true };
	return vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_READ, .nodeid = nodeid, .arg = &in, .arg_len = sizeof(in),
					      .body = &body, .nbody = 1 });
}

int vfs_setattr(struct vfs *fs, u64 nodeid, const struct fuse_setattr_in *in, struct fuse_attr *a)
{
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_SETATTR, .nodeid = nodeid, .arg = in,
						 .arg_len = sizeof(*in) });
	if (got < 0)
		return got;
	if ((u32)got != sizeof(struct fuse_attr_out))
		fail("fs: SETATTR answered %d bytes", got);
	memcpy(a, &((struct fuse_attr_out *)fs->reply)->attr, sizeof(*a));
	return 0;
}

void vfs_forget_all(struct vfs *fs)
{
	if (fs->nnodes == 0)
		return;
	u64 one = fs->nodes[0].lookups;
	vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_FORGET, .nodeid = fs->nodes[0].nodeid, .arg = &one,
				       .arg_len = sizeof(one), .flags = VFS_HIPRIO | VFS_NO_REPLY });
	/* fuse_batch_forget_in, then one fuse_forget_one (nodeid, nlookup) per node. */
	u64 batch[1 + 2 * (VFS_MAX_NODES - 1)];
	batch[0] = fs->nnodes - 1;
	for (unsigned i = 1; i < fs->nnodes; i++) {
		batch[2 * i - 1] = fs->nodes[i].nodeid;
		batch[2 * i] = fs->nodes[i].lookups;
	}
	if (fs->nnodes > 1)
		vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_BATCH_FORGET, .arg = batch,
					       .arg_len = (u32)(sizeof(u64) * (2 * fs->nnodes - 1)),
					       .flags = VFS_HIPRIO | VFS_NO_REPLY });
	fs->nnodes = 0;
}

const char *errno_name(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
		{ 0, "OK" },	      { EPERM, "EPERM" },   { ENOENT, "ENOENT" },	{ EIO, "EIO" },
		{ EBADF, "EBADF" },   { EEXIST, "EEXIST" }, { EFBIG, "EFBIG" }, { ENOTDIR, "ENOTDIR" },	{ EISDIR, "EISDIR" },
		{ EINVAL, "EINVAL" }, { EROFS, "EROFS" },   { ERANGE, "ERANGE" },	{ ENOSYS, "ENOSYS" },
		{ ENAMETOOLONG, "ENAMETOOLONG" }, { ENOTEMPTY, "ENOTEMPTY" }, { ELOOP, "ELOOP" }, { EPROTO, "EPROTO" },
		{ EOPNOTSUPP, "EOPNOTSUPP" }, { ESTALE, "ESTALE" },
	};
	static char other[16];
	int e = err < 0 ? -err : err;
	for (unsigned i = 0; i < ARRAY_LEN(names); i++) {
		if (names[i].err == e)
			return names[i].name;
	}
	format(other, sizeof(other), "E%d", e);
	return other;
}
