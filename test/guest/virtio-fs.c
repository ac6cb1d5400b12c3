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

bool vfs_open(struct vfs *fs, const char **why)
{
	memset(fs, 0, sizeof(*fs));
	if (!virtio_find(VIRTIO_ID_FS, 0, &fs->dev)) {
		*why = "no virtio-fs device";
		return false;
	}
	if (!virtio_start(&fs->dev, 0, VIRTIO_F_INDIRECT_DESC | VIRTIO_F_EVENT_IDX, why) ||
	    !(fs->hiprio = virtq_setup(&fs->dev, HIPRIO_QUEUE, 16, why)) ||
	    !(fs->req = virtq_setup(&fs->dev, REQUEST_QUEUE, 64, why)))
		return false;
	virtio_driver_ok(&fs->dev);
	for (unsigned i = 0; i < TAG_BYTES; i++)
		fs->tag[i] = (char)virtio_config8(&fs->dev, CONFIG_TAG + i);
	if (virtio_config32(&fs->dev, CONFIG_NUM_QUEUES) == 0) {
		*why = "num_request_queues is 0";
		return false;
	}
	fs->in = alloc(sizeof(*fs->in), 64);
	fs->args = alloc(VFS_ARG_BYTES, 64);
	fs->out = alloc(sizeof(*fs->out), 64);
	fs->reply = alloc(VFS_REPLY_BYTES, 4096);
	return true;
}

/* fuse_in_header and the arguments: the header in a buffer of its own, the arguments in a second one. */
static unsigned request_bufs(struct vfs *fs, const struct vfs_req *r, struct vbuf *bufs)
{
	const char *names[2] = { r->name, r->name2 };
	if (r->arg_len > VFS_ARG_BYTES)
		fail("fs: %u argument bytes for opcode %u", r->arg_len, r->opcode);
	if (r->arg_len)
		memcpy(fs->args, r->arg, r->arg_len);
	u32 n = r->arg_len;
	for (unsigned i = 0; i < 2 && names[i]; i++) {
		const char *name = names[i];
		u32 len = (u32)strlen(name) + 1;
		if (n + len > VFS_ARG_BYTES)
			fail("fs: the arguments of opcode %u do not fit the driver's buffer", r->opcode);
		memcpy(fs->args + n, name, len);
		n += len;
	}
	u32 data = 0;
	for (unsigned i = 0; i < r->ndata; i++)
		data += r->data[i].len;
	*fs->in = (struct fuse_in_header){ (u32)sizeof(*fs->in) + n + data, r->opcode, ++fs->unique, r->nodeid, 0, 0, 1, 0 };
	unsigned count = 0;
	bufs[count++] = (struct vbuf){ fs->in, sizeof(*fs->in), false };
	if (n)
		bufs[count++] = (struct vbuf){ fs->args, n, false };
	return count;
}

/* The answer must be for this request, fit what was offered and carry an errno or a body, never both. */
static int check_reply(struct vfs *fs, const struct vfs_req *r, u32 used, u32 room)
{
	const struct fuse_out_header *o = fs->out;
	if (used != o->len || o->len < sizeof(*o) || o->len - sizeof(*o) > room)
		fail("fs: opcode %u answered with length %u, used length %u, room %u", r->opcode, o->len, used,
		     room + (u32)sizeof(*o));
	if (o->unique != fs->unique)
		fail("fs: opcode %u answered for unique %lu, sent %lu", r->opcode, o->unique, fs->unique);
	if (o->error > 0 || o->error < -ERRNO_MAX || (o->error && o->len != sizeof(*o)))
		fail("fs: opcode %u answered error %d with length %u", r->opcode, o->error, o->len);
	fs->calls++;
	if (o->error) {
		fs->errors++;
		return o->error;
	}
	u32 body = o->len - (u32)sizeof(*o);
	if (r->opcode == FUSE_READ)
		fs->read_bytes += body;
	if (r->opcode == FUSE_WRITE && body >= 4 && !r->nbody)
		fs->written_bytes += *(const u32 *)fs->reply;
	return (int)body;
}

int vfs_call(struct vfs *fs, const struct vfs_req *r)
{
	struct vbuf bufs[VIRTQ_INDIRECT_MAX];
	unsigned n = request_bufs(fs, r, bufs);
	if (r->ndata + r->nbody > MAX_BUFS)
		fail("fs: a request of %u buffers", r->ndata + r->nbody);
	for (unsigned i = 0; i < r->ndata; i++)
		bufs[n++] = r->data[i];
	u32 room = 0;
	if (!(r->flags & VFS_NO_REPLY)) {
		memset(fs->out, 0xff, sizeof(*fs->out));
		bufs[n++] = (struct vbuf){ fs->out, sizeof(*fs->out), true };
		if (r->nbody) {
			for (unsigned i = 0; i < r->nbody; i++) {
				bufs[n++] = r->body[i];
				room += r->body[i].len;
			}
		} else {
			room = r->room ? r->room : VFS_REPLY_BYTES;
			bufs[n++] = (struct vbuf){ fs->reply, room, true };
		}
	}
	struct virtq *q = r->flags & VFS_HIPRIO ? fs->hiprio : fs->req;
	if (virtq_post(q, bufs, n, fs->unique, r->flags & VIRTQ_POST_INDIRECT) < 0)
		fail("fs: queue %u is full", q->index);
	virtq_kick(q);
	struct virtq_done done;
	enum virtq_outcome o = virtq_wait_or_reset(q, deadline_ms(virtio_timeout_ms()), &done);
	if (o != VIRTQ_USED)
		fail("fs: opcode %u %s", r->opcode, o == VIRTQ_NEEDS_RESET ? "made the device need a reset" : "was not answered");
	if (r->flags & VFS_NO_REPLY) {
		if (done.len != 0)
			fail("fs: opcode %u has no reply, yet the used length is %u", r->opcode, done.len);
		fs->calls++;
		return 0;
	}
	return check_reply(fs, r, done.len, room);
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
		{ EBADF, "EBADF" },   { EEXIST, "EEXIST" }, { ENOTDIR, "ENOTDIR" },	{ EISDIR, "EISDIR" },
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
