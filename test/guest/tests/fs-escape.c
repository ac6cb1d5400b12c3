/*
 * test=fs, the hostile part: names that are not one component, symlinks that point out of the share (LOOKUP
 * finds them as symlinks; nothing opens, creates, truncates, changes or lists what they point at), node ids and
 * file handles the device never gave, a READ far larger than its buffer, requests no kernel would send (device
 * nodes, RENAME_WHITEOUT, sizes past 2^53), chains too short for a header or for a reply header. Each attempt must
 * end with the errno the device answers for it (EROFS for every change on a read-only share); the results go out
 * as data lines.
 */
#include "../guest.h"
#include "fs.h"

#define LINE_ROOM 200
#define HUGE_ROOM 100
#define GUARD_BYTES 64
#define GUARD_BYTE 0xa5
#define LINK_MTIME 1000000000ull

static char line[LINE_ROOM + 64];
static size_t used;
static unsigned part, attempts;
static u8 buf[HUGE_ROOM + GUARD_BYTES];

static void flush_line(void)
{
	if (!used)
		return;
	data("escape_part=%u%s", part++, line);
	used = 0;
}

void fs_record(const char *key, const char *outcome)
{
	if (used > LINE_ROOM)
		flush_line();
	used += format(line + used, sizeof(line) - used, " %s=%s", key, outcome);
	attempts++;
}

void fs_attempt(const char *key, int got, int want)
{
	if (got != want)
		fail("escape %s: %s (%d), expected %s", key, errno_name(got), got, want ? errno_name(want) : "success");
	fs_record(key, errno_name(got));
}

void fs_escapes_done(void)
{
	flush_line();
	data("escape_attempts=%u", attempts);
}

/* A host symlink: LOOKUP and GETATTR show the link itself, READLINK its target's length in bytes. */
static u64 link_node(struct vfs *fs, const char *name)
{
	struct fuse_entry_out e;
	struct fuse_attr a;
	fs_expect(name, vfs_lookup(fs, FUSE_ROOT_ID, name, &e), 0);
	fs_expect(name, vfs_getattr(fs, e.nodeid, &a), 0);
	int target = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_READLINK, .nodeid = e.nodeid });
	if ((e.attr.mode & S_IFMT) != S_IFLNK || (a.mode & S_IFMT) != S_IFLNK || a.ino != e.attr.ino ||
	    target != (int)a.size || target <= 0)
		fail("%s: mode 0x%x (GETATTR 0x%x) ino %lu size %lu, READLINK %d", name, e.attr.mode, a.mode, e.attr.ino,
		     a.size, target);
	data("link=%s ino=%lu size=%lu mode=0x%x", name, a.ino, a.size, a.mode);
	return e.nodeid;
}

static void links(struct vfs *fs, bool ro)
{
	struct fuse_entry_out e;
	struct fuse_attr a;
	u64 fh;
	const int rofs = -EROFS;
	u64 abs = link_node(fs, LINK_ABS), rel = link_node(fs, LINK_REL), up = link_node(fs, LINK_UP);
	u64 etc = link_node(fs, LINK_ETC);
	link_node(fs, LINK_PLANT);
	fs_attempt("below_abs", vfs_lookup(fs, abs, "x", &e), -ENOTDIR);
	fs_attempt("below_etc", vfs_lookup(fs, etc, "passwd", &e), -ENOTDIR);
	fs_attempt("below_up", vfs_lookup(fs, up, "etc", &e), -ENOTDIR);
	fs_attempt("open_abs", vfs_open_node(fs, abs, O_RDONLY, false, &fh), -ELOOP);
	fs_attempt("open_rel", vfs_open_node(fs, rel, O_RDONLY, false, &fh), -ELOOP);
	fs_attempt("open_abs_write", vfs_open_node(fs, abs, O_WRONLY, false, &fh), ro ? rofs : -ELOOP);
	fs_attempt("opendir_etc", vfs_open_node(fs, etc, 0, true, &fh), -ENOTDIR);
	fs_attempt("opendir_up", vfs_open_node(fs, up, 0, true, &fh), -ENOTDIR);
	fs_attempt("create_plant", vfs_create(fs, FUSE_ROOT_ID, LINK_PLANT, O_WRONLY | O_CREAT, S_IFREG | 0644, &e, &fh),
		ro ? rofs : -ELOOP);
	fs_attempt("create_trunc_abs", vfs_create(fs, FUSE_ROOT_ID, LINK_ABS, O_WRONLY | O_CREAT | O_TRUNC, S_IFREG | 0644,
					       &e, &fh), ro ? rofs : -ELOOP);
	fs_attempt("create_excl_abs", vfs_create(fs, FUSE_ROOT_ID, LINK_ABS, O_WRONLY | O_CREAT | O_EXCL, S_IFREG | 0644,
					      &e, &fh), ro ? rofs : -EEXIST);
	fs_attempt("create_below_up", vfs_create(fs, up, "planted", O_WRONLY | O_CREAT, S_IFREG | 0644, &e, &fh),
		ro ? rofs : -ENOTDIR);
	fs_attempt("mkdir_below_etc", vfs_mkdir(fs, etc, "planted", S_IFDIR | 0755, &e), ro ? rofs : -ENOTDIR);
	struct fuse_setattr_in trunc = { .valid = FATTR_SIZE }, chmod = { .valid = FATTR_MODE, .mode = 0777 };
	struct fuse_setattr_in touch = { .valid = FATTR_MTIME, .mtime = LINK_MTIME };
	fs_attempt("truncate_abs", vfs_setattr(fs, abs, &trunc, &a), ro ? rofs : -ELOOP);
	/* Linux refuses to change a symlink's mode (EOPNOTSUPP); where a host allows it, only the link may change. */
	int got = vfs_setattr(fs, abs, &chmod, &a);
	if (got == 0 && (a.mode & S_IFMT) != S_IFLNK)
		fail("escape chmod_abs: changed mode 0x%x", a.mode);
	fs_attempt("chmod_abs", got, ro ? rofs : got == 0 ? 0 : -EOPNOTSUPP);
	/* Times belong to the link itself. */
	got = vfs_setattr(fs, abs, &touch, &a);
	if (got == 0 && ((a.mode & S_IFMT) != S_IFLNK || a.mtime != LINK_MTIME))
		fail("escape touch_abs: mode 0x%x mtime %lu", a.mode, a.mtime);
	fs_attempt("touch_abs", got, ro ? rofs : 0);
	u64 into = up;
	fs_attempt("rename_below_up", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_RENAME, .nodeid = FUSE_ROOT_ID,
		.arg = &into, .arg_len = 8, .name = SHARE_PATTERN, .name2 = "escaped" }), ro ? rofs : -ENOTDIR);
	into = FUSE_ROOT_ID;
	fs_attempt("rename_dotdot", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_RENAME, .nodeid = FUSE_ROOT_ID,
		.arg = &into, .arg_len = 8, .name = SHARE_PATTERN, .name2 = ".." }), ro ? rofs : -EPERM);
}

/* LINK of an outward symlink links the symlink; SYMLINK makes one the guest cannot open either. */
static void guest_links(struct vfs *fs, bool ro)
{
	struct fuse_entry_out e, abs;
	u64 fh, old;
	fs_expect(LINK_ABS, vfs_lookup(fs, FUSE_ROOT_ID, LINK_ABS, &abs), 0);
	old = abs.nodeid;
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_LINK, .nodeid = FUSE_ROOT_ID, .arg = &old, .arg_len = 8,
						 .name = "abs-link-2" });
	fs_attempt("link_abs", got < 0 ? got : 0, ro ? -EROFS : 0);
	if (got >= 0) {
		memcpy(&e, fs->reply, sizeof(e));
		vfs_counted(fs, e.nodeid);
		if (e.nodeid != abs.nodeid || (e.attr.mode & S_IFMT) != S_IFLNK || e.attr.nlink != 2)
			fail("escape link_abs: node %lu mode 0x%x nlink %u, expected node %lu, a symlink with 2 links",
			     e.nodeid, e.attr.mode, e.attr.nlink, abs.nodeid);
		fs_expect("UNLINK abs-link-2", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_UNLINK,
			.nodeid = FUSE_ROOT_ID, .name = "abs-link-2" }), 0);
	}
	got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_SYMLINK, .nodeid = FUSE_ROOT_ID, .name = "guest-link",
					     .name2 = "/etc/passwd" });
	fs_attempt("symlink_out", got < 0 ? got : 0, ro ? -EROFS : 0);
	if (got >= 0) {
		memcpy(&e, fs->reply, sizeof(e));
		vfs_counted(fs, e.nodeid);
		if ((e.attr.mode & S_IFMT) != S_IFLNK || e.attr.size != 11)
			fail("escape symlink_out: mode 0x%x size %lu", e.attr.mode, e.attr.size);
		fs_attempt("open_guest_link", vfs_open_node(fs, e.nodeid, O_RDONLY, false, &fh), -ELOOP);
		fs_expect("UNLINK guest-link", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_UNLINK,
			.nodeid = FUSE_ROOT_ID, .name = "guest-link" }), 0);
	}
}

/* Node ids and handles the device never handed out, and handles of the wrong kind. */
static void bogus(struct vfs *fs, bool ro, u64 pattern)
{
	struct fuse_entry_out e;
	struct fuse_attr a;
	u64 fh, dirfh;
	fs_attempt("getattr_bogus", vfs_getattr(fs, 0xdeadbeef, &a), -ENOENT);
	fs_attempt("lookup_node0", vfs_lookup(fs, 0, "x", &e), -ENOENT);
	fs_attempt("open_node_max", vfs_open_node(fs, ~0ull, O_RDONLY, false, &fh), -ENOENT);
	u64 nlookup = 1;
	fs_attempt("forget_bogus", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_FORGET, .nodeid = 0xdeadbeef,
		.arg = &nlookup, .arg_len = 8, .flags = VFS_HIPRIO | VFS_NO_REPLY }), 0);
	fs_attempt("read_bogus_fh", vfs_read(fs, pattern, 0xdeadbeef, 0, 64, buf), -EBADF);
	fs_attempt("read_fh_max", vfs_read(fs, pattern, ~0ull, 0, 64, buf), -EBADF);
	u64 in[3] = { 0xdeadbeef, 0, 0 };
	fs_attempt("flush_bogus_fh", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_FLUSH, .nodeid = pattern, .arg = in,
								 .arg_len = sizeof(in) }), -EBADF);
	fs_attempt("release_bogus_fh", vfs_release(fs, pattern, 0xdeadbeef, false), -EBADF);
	struct fuse_io_in w = { .fh = 0xdeadbeef, .size = 8 };
	struct vbuf d = { buf, 8, false };
	fs_attempt("write_bogus_fh", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_WRITE, .nodeid = pattern, .arg = &w,
		.arg_len = sizeof(w), .data = &d, .ndata = 1 }), ro ? -EROFS : -EBADF);
	fs_expect("OPENDIR /", vfs_open_node(fs, FUSE_ROOT_ID, 0, true, &dirfh), 0);
	fs_expect("OPEN " SHARE_PATTERN, vfs_open_node(fs, pattern, O_RDONLY, false, &fh), 0);
	fs_attempt("read_dir_fh", vfs_read(fs, pattern, dirfh, 0, 64, buf), -EISDIR);
	struct fuse_io_in r = { .fh = fh, .size = 4096 };
	fs_attempt("readdir_file_fh", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_READDIR, .nodeid = FUSE_ROOT_ID,
		.arg = &r, .arg_len = sizeof(r) }), -ENOTDIR);
	fs_expect("RELEASEDIR", vfs_release(fs, FUSE_ROOT_ID, dirfh, true), 0);
	fs_expect("RELEASE", vfs_release(fs, pattern, fh, false), 0);
}

/* A READ asking for 4 GiB - 1 into 100 bytes gets 100 bytes, and not one byte past them. */
static void sizes(struct vfs *fs, u64 pattern)
{
	u64 fh;
	fs_expect("OPEN " SHARE_PATTERN, vfs_open_node(fs, pattern, O_RDONLY, false, &fh), 0);
	memset(buf, GUARD_BYTE, sizeof(buf));
	struct fuse_io_in in = { .fh = fh, .offset = 0, .size = 0xffffffffu };
	struct vbuf body = { buf, HUGE_ROOM, true };
	int got = vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_READ, .nodeid = pattern, .arg = &in,
						 .arg_len = sizeof(in), .body = &body, .nbody = 1 });
	fs_attempt("read_huge", got < 0 ? got : 0, 0);
	if (got != HUGE_ROOM)
		fail("escape read_huge: %d bytes into a buffer of %u", got, HUGE_ROOM);
	for (unsigned i = 0; i < sizeof(buf); i++) {
		u8 want = i < HUGE_ROOM ? fs_pattern(SHARE_PATTERN_SEED, i) : GUARD_BYTE;
		if (buf[i] != want)
			fail("escape read_huge: byte %u is 0x%x, expected 0x%x", i, buf[i], want);
	}
	fs_attempt("read_far", vfs_read(fs, pattern, fh, 1ull << 62, 64, buf), 0);
	fs_expect("RELEASE", vfs_release(fs, pattern, fh, false), 0);
	u8 getattr_in[16] = { 0 };
	fs_attempt("reply_too_small", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_GETATTR, .nodeid = pattern,
		.arg = getattr_in, .arg_len = 16, .room = 40 }), -ERANGE);
	fs_attempt("unknown_opcode", vfs_call(fs, &(struct vfs_req){ .opcode = 9999, .nodeid = FUSE_ROOT_ID }), -ENOSYS);
	fs_attempt("readlink_file", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_READLINK, .nodeid = pattern }), -EINVAL);
}

/* Requests no kernel would send: wrong kinds of nodes, device nodes, unknown rename flags, sizes past 2^53. */
static void odd(struct vfs *fs, bool ro, u64 pattern)
{
	struct fuse_entry_out e;
	struct fuse_attr a;
	u64 fh;
	fs_attempt("lookup_below_file", vfs_lookup(fs, pattern, "x", &e), -ENOTDIR);
	fs_attempt("open_dir_as_file", vfs_open_node(fs, FUSE_ROOT_ID, O_RDONLY, false, &fh), -EISDIR);
	u32 chardev[4] = { S_IFCHR | 0666, 1 << 8 | 3, 0, 0 };
	fs_attempt("mknod_chardev", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_MKNOD, .nodeid = FUSE_ROOT_ID,
		.arg = chardev, .arg_len = sizeof(chardev), .name = "null" }), ro ? -EROFS : -EPERM);
	u64 whiteout[2] = { FUSE_ROOT_ID, RENAME_WHITEOUT };
	fs_attempt("rename_whiteout", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_RENAME2, .nodeid = FUSE_ROOT_ID,
		.arg = whiteout, .arg_len = sizeof(whiteout), .name = SHARE_PATTERN, .name2 = "whiteout" }),
		ro ? -EROFS : -EINVAL);
	struct fuse_setattr_in huge = { .valid = FATTR_SIZE, .size = 1ull << 60 };
	fs_attempt("truncate_huge", vfs_setattr(fs, pattern, &huge, &a), ro ? -EROFS : -EFBIG);
	u64 forget[3] = { 1000, 0xdeadbeef, 1 }, forget_root = 1ull << 40;
	fs_attempt("batch_forget_overcount", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_BATCH_FORGET,
		.arg = forget, .arg_len = sizeof(forget), .flags = VFS_HIPRIO | VFS_NO_REPLY }), 0);
	fs_attempt("forget_root", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_FORGET, .nodeid = FUSE_ROOT_ID,
		.arg = &forget_root, .arg_len = 8, .flags = VFS_HIPRIO | VFS_NO_REPLY }), 0);
	if (ro)
		return;
	/* The host's file opened for writing: neither WRITE may change a byte of it. */
	fs_expect("OPEN for writing", vfs_open_node(fs, pattern, O_WRONLY, false, &fh), 0);
	struct fuse_io_in far = { .fh = fh, .offset = 1ull << 60, .size = 8 }, longer = { .fh = fh, .size = 100 };
	struct vbuf d = { buf, 8, false };
	fs_attempt("write_far", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_WRITE, .nodeid = pattern, .arg = &far,
		.arg_len = sizeof(far), .data = &d, .ndata = 1 }), -EFBIG);
	fs_attempt("write_short_data", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_WRITE, .nodeid = pattern,
		.arg = &longer, .arg_len = sizeof(longer), .data = &d, .ndata = 1 }), -EINVAL);
	fs_expect("RELEASE", vfs_release(fs, pattern, fh, false), 0);
}

/*
 * Chains the device cannot answer: a header cut short, a reply buffer smaller than fuse_out_header. Both come back
 * with nothing written (used length 0), and the device goes on serving.
 */
static void unanswered(struct vfs *fs, const char *key, u32 in_len, u32 out_len)
{
	struct fuse_in_header *in = fs->slot.in;
	u8 *out = (u8 *)fs->slot.out;
	*in = (struct fuse_in_header){ sizeof(*in), FUSE_GETATTR, ++fs->unique, FUSE_ROOT_ID, 0, 0, 1, 0 };
	memset(out, 0xff, sizeof(struct fuse_out_header));
	struct vbuf bufs[2] = { { in, in_len, false }, { out, out_len, true } };
	struct virtq_done done;
	if (virtq_post(fs->req, bufs, 2, 0, 0) < 0)
		fail("escape %s: the queue is full", key);
	virtq_kick(fs->req);
	enum virtq_outcome o = virtq_wait_or_reset_default(fs->req, &done);
	if (o != VIRTQ_USED)
		fail("escape %s: %s", key, o == VIRTQ_NEEDS_RESET ? "the device needs a reset" : "no answer");
	for (unsigned i = 0; i < sizeof(struct fuse_out_header); i++) {
		if (out[i] != 0xff)
			fail("escape %s: the device wrote into the reply buffer", key);
	}
	if (done.len != 0)
		fail("escape %s: used length %u", key, done.len);
	fs->calls++;
	fs_record(key, "unanswered");
}

/* Names that are not one component of a path, or not a string. */
static void names(struct vfs *fs)
{
	struct fuse_entry_out e;
	static char long_name[257];
	memset(long_name, 'a', 256);
	fs_attempt("lookup_dotdot", vfs_lookup(fs, FUSE_ROOT_ID, "..", &e), -EPERM);
	fs_attempt("lookup_dot", vfs_lookup(fs, FUSE_ROOT_ID, ".", &e), -EPERM);
	fs_attempt("lookup_slash", vfs_lookup(fs, FUSE_ROOT_ID, "../outside", &e), -EINVAL);
	fs_attempt("lookup_path", vfs_lookup(fs, FUSE_ROOT_ID, LINK_ETC "/passwd", &e), -EINVAL);
	fs_attempt("lookup_empty", vfs_lookup(fs, FUSE_ROOT_ID, "", &e), -EINVAL);
	fs_attempt("lookup_long", vfs_lookup(fs, FUSE_ROOT_ID, long_name, &e), -ENAMETOOLONG);
	fs_attempt("lookup_no_nul", vfs_call(fs, &(struct vfs_req){ .opcode = FUSE_LOOKUP, .nodeid = FUSE_ROOT_ID,
		.arg = SHARE_PATTERN, .arg_len = 3 }), -EINVAL);
}

void fs_escapes(struct vfs *fs, bool ro, u64 pattern)
{
	names(fs);
	links(fs, ro);
	guest_links(fs, ro);
	bogus(fs, ro, pattern);
	sizes(fs, pattern);
	odd(fs, ro, pattern);
	unanswered(fs, "short_header", sizeof(struct fuse_in_header) / 2, sizeof(struct fuse_out_header));
	unanswered(fs, "reply_under_header", sizeof(struct fuse_in_header), sizeof(struct fuse_out_header) / 2);
	/* The device still answers. */
	struct fuse_attr a;
	fs_expect("GETATTR / after the malformed chains", vfs_getattr(fs, FUSE_ROOT_ID, &a), 0);
}
