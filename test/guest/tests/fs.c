/*
 * test=fs: a FUSE client over virtio-fs. Checks the tag, negotiates FUSE 7.31, reads the host's pattern file, then
 * on a writable share: CREATE, WRITE (data over several descriptors, direct and indirect), FLUSH, RELEASE, LOOKUP,
 * GETATTR, OPEN + READ back byte for byte, MKDIR, RENAME into it, READDIR and READDIRPLUS, SETATTR (truncate),
 * UNLINK, RMDIR, and one file left behind for the host to check; on a read-only one every mutation must fail with
 * EROFS while reads work. Then the escape attempts (fs-escape.c), STATFS, FORGET of every node looked up, and a
 * device reset with READs in flight (fs-reset.c).
 *   fs_tag=<tag>            the tag the device must carry (checked when given)
 *   fs_pattern_bytes=<n>    the size of the host's pattern.bin (required)
 *   fs_readonly=1           the share is read-only
 *   fs_break=1              also break the ring's rules, twice (see fs-reset.c)
 * The share must hold pattern.bin and the symlinks named in fs.h.
 */
#include "../guest.h"
#include "../memory.h"
#include "fs.h"

#define FILE_BYTES (20 * 1024 + 123)
#define APPEND_BYTES 3000
#define FILE_SEED 2
#define LEFT_NAME "guest-wrote.bin"
#define LEFT_BYTES 12345
#define LEFT_SEED 3
#define DIR_ROOM 512
#define CHUNK (32 * 1024)
#define INIT_FLAGS (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES)

static struct vfs fs;
static u8 *data_buf, *back_buf;

void fs_expect(const char *what, int got, int want)
{
	if (got != want)
		fail("%s: %s (%d), expected %s", what, errno_name(got), got, want ? errno_name(want) : "success");
}

static void fill(u8 *buf, u32 seed, u64 from, u32 len)
{
	for (u32 i = 0; i < len; i++)
		buf[i] = fs_pattern(seed, from + i);
}

static void compare(const char *what, const u8 *buf, u32 seed, u64 from, u32 len)
{
	for (u32 i = 0; i < len; i++) {
		if (buf[i] != fs_pattern(seed, from + i))
			fail("%s: byte %lu reads 0x%x, expected 0x%x", what, from + i, buf[i], fs_pattern(seed, from + i));
	}
}

/* Three writable pieces of [buf, buf + len), cut at odd places; the reply data lands in them in order. */
static int read_split(struct vfs *v, u64 nodeid, u64 fh, u64 offset, u8 *buf, u32 len, unsigned flags)
{
	u32 a = len / 3 | 1, b = len / 2 + 7;
	struct vbuf body[3] = { { buf, a, true }, { buf + a, b - a, true }, { buf + b, len - b, true } };
	struct fuse_io_in in = { .fh = fh, .offset = offset, .size = len };
	return vfs_call(v, &(struct vfs_req){ .opcode = FUSE_READ, .nodeid = nodeid, .arg = &in, .arg_len = sizeof(in),
					     .body = body, .nbody = 3, .flags = flags });
}

void fs_check_pattern(struct vfs *v, u64 nodeid, u32 seed, u64 bytes)
{
	u64 fh;
	fs_expect("OPEN for reading", vfs_open_node(v, nodeid, O_RDONLY, false, &fh), 0);
	u64 at = 0;
	for (unsigned i = 0;; i++) {
		int got = read_split(v, nodeid, fh, at, back_buf, CHUNK, i & 1 ? VIRTQ_POST_INDIRECT : 0);
		if (got < 0)
			fs_expect("READ", got, 0);
		u64 want = bytes - at < CHUNK ? bytes - at : CHUNK;
		if ((u64)got != want)
			fail("READ at %lu: %d bytes, expected %lu", at, got, want);
		compare("READ back", back_buf, seed, at, (u32)got);
		at += (u64)got;
		if (got == 0)
			break;
	}
	fs_expect("RELEASE", vfs_release(v, nodeid, fh, false), 0);
}

/* A WRITE whose data is cut into four descriptors. */
static void write_split(u64 nodeid, u64 fh, u64 offset, const u8 *buf, u32 len, unsigned flags)
{
	u32 a = len / 7 | 1, b = len / 2 + 3, c = len - 5;
	struct vbuf data[4] = { { buf, a, false }, { buf + a, b - a, false }, { buf + b, c - b, false },
				{ buf + c, len - c, false } };
	struct fuse_io_in in = { .fh = fh, .offset = offset, .size = len };
	int got = vfs_call(&fs, &(struct vfs_req){ .opcode = FUSE_WRITE, .nodeid = nodeid, .arg = &in,
						  .arg_len = sizeof(in), .data = data, .ndata = 4, .room = 8, .flags = flags });
	if (got < 0)
		fs_expect("WRITE", got, 0);
	u32 done = *(u32 *)fs.reply;
	if (got != 8 || done != len)
		fail("WRITE of %u bytes at %lu: reply of %d bytes saying %u", len, offset, got, done);
}

static void expect_attr(const char *what, const struct fuse_attr *a, u32 mode, u64 size)
{
	if (a->mode != mode || ((mode & S_IFMT) == S_IFREG && a->size != size))
		fail("%s: mode 0x%x size %lu, expected mode 0x%x size %lu", what, a->mode, a->size, mode, size);
}

static void check_tag_and_init(void)
{
	char want[40];
	if (cmdline_get("fs_tag", want, sizeof(want)) && !str_eq(fs.tag, want))
		fail("tag \"%s\", expected \"%s\"", fs.tag, want);
	fs_attempt("before_init", vfs_getattr(&fs, FUSE_ROOT_ID, &(struct fuse_attr){ 0 }), -EIO);
	fs_expect("INIT", vfs_init(&fs, INIT_FLAGS), 0);
	fs_attempt("init_again", vfs_init(&fs, INIT_FLAGS), -EPROTO);
	const struct fuse_init_out *i = &fs.init;
	if (i->major != FUSE_KERNEL_VERSION || i->minor != FUSE_KERNEL_MINOR_VERSION || (i->flags & ~INIT_FLAGS) ||
	    i->max_write < FILE_BYTES)
		fail("INIT answered %u.%u flags 0x%x max_write %u", i->major, i->minor, i->flags, i->max_write);
	data("tag=%s major=%u minor=%u flags=0x%x max_write=%u max_pages=%u", fs.tag, i->major, i->minor, i->flags,
	     i->max_write, i->max_pages);
}

/* Lists a directory with READDIR or READDIRPLUS in replies of DIR_ROOM bytes; returns the entries seen. */
static unsigned find_entry(u64 dir, const char *name, bool plus, struct fuse_entry_out *found, u32 *type)
{
	u64 fh, offset = 0;
	unsigned entries = 0, dots = 0;
	bool seen = false;
	fs_expect("OPENDIR", vfs_open_node(&fs, dir, 0, true, &fh), 0);
	for (;;) {
		struct fuse_io_in in = { .fh = fh, .offset = offset, .size = DIR_ROOM };
		int got = vfs_call(&fs, &(struct vfs_req){ .opcode = plus ? FUSE_READDIRPLUS : FUSE_READDIR, .nodeid = dir,
							  .arg = &in, .arg_len = sizeof(in), .room = DIR_ROOM });
		if (got < 0)
			fs_expect(plus ? "READDIRPLUS" : "READDIR", got, 0);
		if (got == 0)
			break;
		for (u32 at = 0; at < (u32)got;) {
			const struct fuse_entry_out *e = (const void *)(fs.reply + at);
			const struct fuse_dirent *d = (const void *)(fs.reply + at + (plus ? sizeof(*e) : 0));
			u32 size = (u32)((plus ? sizeof(*e) : 0) + align_up(sizeof(*d) + d->namelen, 8));
			if (d->namelen == 0 || d->namelen > 255 || at + size > (u32)got)
				fail("a directory entry of %u name bytes at %u of %d", d->namelen, at, got);
			if (plus)
				vfs_counted(&fs, e->nodeid);
			bool dot = (d->namelen == 1 && d->name[0] == '.') ||
				   (d->namelen == 2 && d->name[0] == '.' && d->name[1] == '.');
			if (dot && plus && e->nodeid != 0)
				fail("READDIRPLUS gave \".\" or \"..\" node %lu", e->nodeid);
			dots += dot;
			if (d->namelen == strlen(name) && memcmp(d->name, name, d->namelen) == 0) {
				seen = true;
				*type = d->type;
				if (plus)
					*found = *e;
				else
					found->attr.ino = d->ino;
			}
			offset = d->off;
			entries++;
			at += size;
		}
	}
	fs_expect("RELEASEDIR", vfs_release(&fs, dir, fh, true), 0);
	if (!seen || dots != 2)
		fail("%s: \"%s\" %s, %u of the dot entries", plus ? "READDIRPLUS" : "READDIR", name,
		     seen ? "found" : "not found", dots);
	return entries;
}

static void list_moved(u64 dir, const struct fuse_entry_out *file, u64 size)
{
	struct fuse_entry_out e;
	u32 type = 0;
	unsigned n = find_entry(dir, "tsvmm-moved", false, &e, &type);
	if (type != DT_REG || e.attr.ino != file->attr.ino)
		fail("READDIR: type %u ino %lu, expected %u and %lu", type, e.attr.ino, DT_REG, file->attr.ino);
	n += find_entry(dir, "tsvmm-moved", true, &e, &type);
	if (type != DT_REG || e.nodeid != file->nodeid || e.attr.size != size)
		fail("READDIRPLUS: node %lu size %lu, expected %lu and %lu", e.nodeid, e.attr.size, file->nodeid, size);
	data("dir_entries=%u", n);
}

static void truncate_to(u64 nodeid, u64 size)
{
	struct fuse_setattr_in in = { .valid = FATTR_SIZE, .size = size };
	struct fuse_attr a;
	fs_expect("SETATTR size", vfs_setattr(&fs, nodeid, &in, &a), 0);
	if (a.size != size)
		fail("SETATTR to %lu bytes answered size %lu", size, a.size);
	fs_expect("GETATTR after SETATTR", vfs_getattr(&fs, nodeid, &a), 0);
	if (a.size != size)
		fail("GETATTR after truncating to %lu: size %lu", size, a.size);
	fs_check_pattern(&fs, nodeid, FILE_SEED, size);
}

static void write_new(const char *name, u32 seed, u32 len, struct fuse_entry_out *e)
{
	u64 fh;
	fs_expect("CREATE", vfs_create(&fs, FUSE_ROOT_ID, name, O_RDWR | O_CREAT | O_EXCL, S_IFREG | 0640, e, &fh), 0);
	expect_attr("CREATE", &e->attr, S_IFREG | 0640, 0);
	fill(data_buf, seed, 0, len);
	u32 first = len > APPEND_BYTES ? len - APPEND_BYTES : len;
	write_split(e->nodeid, fh, 0, data_buf, first, 0);
	if (first < len)
		write_split(e->nodeid, fh, first, data_buf + first, len - first, VIRTQ_POST_INDIRECT);
	u64 flush[3] = { fh, 0, 0 };
	fs_expect("FLUSH", vfs_call(&fs, &(struct vfs_req){ .opcode = FUSE_FLUSH, .nodeid = e->nodeid, .arg = flush,
							  .arg_len = sizeof(flush) }), 0);
	fs_expect("RELEASE", vfs_release(&fs, e->nodeid, fh, false), 0);
}

static void round_trip(void)
{
	const u64 size = FILE_BYTES + APPEND_BYTES;
	struct fuse_entry_out file, again, dir;
	struct fuse_attr a;
	write_new("tsvmm-file", FILE_SEED, size, &file);
	fs_expect("LOOKUP", vfs_lookup(&fs, FUSE_ROOT_ID, "tsvmm-file", &again), 0);
	if (again.nodeid != file.nodeid)
		fail("LOOKUP found node %lu, CREATE made %lu", again.nodeid, file.nodeid);
	expect_attr("LOOKUP", &again.attr, S_IFREG | 0640, size);
	fs_expect("GETATTR", vfs_getattr(&fs, file.nodeid, &a), 0);
	expect_attr("GETATTR", &a, S_IFREG | 0640, size);
	fs_check_pattern(&fs, file.nodeid, FILE_SEED, size);
	fs_expect("MKDIR", vfs_mkdir(&fs, FUSE_ROOT_ID, "tsvmm-dir", S_IFDIR | 0750, &dir), 0);
	expect_attr("MKDIR", &dir.attr, S_IFDIR | 0750, 0);
	u64 newdir = dir.nodeid;
	fs_expect("RENAME", vfs_call(&fs, &(struct vfs_req){ .opcode = FUSE_RENAME, .nodeid = FUSE_ROOT_ID, .arg = &newdir,
							   .arg_len = 8, .name = "tsvmm-file", .name2 = "tsvmm-moved" }), 0);
	fs_expect("LOOKUP of the old name", vfs_lookup(&fs, FUSE_ROOT_ID, "tsvmm-file", &again), -ENOENT);
	fs_expect("LOOKUP of the new name", vfs_lookup(&fs, dir.nodeid, "tsvmm-moved", &again), 0);
	if (again.nodeid != file.nodeid)
		fail("the renamed file is node %lu, it was %lu", again.nodeid, file.nodeid);
	list_moved(dir.nodeid, &file, size);
	fs_expect("RMDIR of a full directory", vfs_call(&fs, &(struct vfs_req){ .opcode = FUSE_RMDIR,
		.nodeid = FUSE_ROOT_ID, .name = "tsvmm-dir" }), -ENOTEMPTY);
	truncate_to(file.nodeid, 1000);
	fs_expect("UNLINK", vfs_call(&fs, &(struct vfs_req){ .opcode = FUSE_UNLINK, .nodeid = dir.nodeid,
							   .name = "tsvmm-moved" }), 0);
	fs_expect("LOOKUP after UNLINK", vfs_lookup(&fs, dir.nodeid, "tsvmm-moved", &again), -ENOENT);
	/* The node stays valid until it is forgotten, its file without a name. */
	fs_expect("GETATTR after UNLINK", vfs_getattr(&fs, file.nodeid, &a), 0);
	if (a.nlink != 0)
		fail("GETATTR after UNLINK: nlink %u", a.nlink);
	fs_expect("RMDIR", vfs_call(&fs, &(struct vfs_req){ .opcode = FUSE_RMDIR, .nodeid = FUSE_ROOT_ID,
							  .name = "tsvmm-dir" }), 0);
	fs_expect("LOOKUP after RMDIR", vfs_lookup(&fs, FUSE_ROOT_ID, "tsvmm-dir", &again), -ENOENT);
	write_new(LEFT_NAME, LEFT_SEED, LEFT_BYTES, &file);
}

#define FLIGHT_READS 8
#define FLIGHT (FLIGHT_READS + 2)
#define FLIGHT_BYTES 4096

/*
 * READs in flight together with a RELEASE of their handle behind them and one more READ after that, all under one
 * notify: each READ gets its own data (the handle's file stays open until they are done), the late one EBADF.
 * Answers may come in any order.
 */
static void in_flight(u64 pattern, u64 pattern_bytes)
{
	static struct vfs_slot slots[FLIGHT];
	static struct vfs_req reqs[FLIGHT];
	static struct fuse_io_in io[FLIGHT];
	static struct vbuf bodies[FLIGHT];
	u8 *area = data_buf;
	u64 fh, step = pattern_bytes / FLIGHT_READS;
	fs_expect("OPEN for reading", vfs_open_node(&fs, pattern, O_RDONLY, false, &fh), 0);
	for (unsigned i = 0; i < FLIGHT; i++) {
		if (!slots[i].in)
			vfs_slot_init(&slots[i], sizeof(struct fuse_io_in));
		bool read = i != FLIGHT_READS;
		/* The RELEASE reads fuse_release_in (fh, flags, release_flags, lock_owner) from the same memory. */
		io[i] = read ? (struct fuse_io_in){ .fh = fh, .offset = i < FLIGHT_READS ? i * step : 0, .size = FLIGHT_BYTES }
			     : (struct fuse_io_in){ .fh = fh };
		bodies[i] = (struct vbuf){ area + i * FLIGHT_BYTES, FLIGHT_BYTES, true };
		reqs[i] = (struct vfs_req){ .opcode = read ? FUSE_READ : FUSE_RELEASE, .nodeid = pattern, .arg = &io[i],
					    .arg_len = read ? sizeof(io[i]) : 24, .body = &bodies[i], .nbody = read };
		vfs_post(&fs, &slots[i], &reqs[i]);
	}
	virtq_kick(fs.req);
	unsigned out_of_order = 0;
	for (unsigned k = 0; k < FLIGHT; k++)
		out_of_order += vfs_reap(&fs, false) != &slots[k];
	for (unsigned i = 0; i < FLIGHT_READS; i++) {
		u64 want = pattern_bytes - io[i].offset < FLIGHT_BYTES ? pattern_bytes - io[i].offset : FLIGHT_BYTES;
		if (slots[i].result != (int)want)
			fail("READ %u in flight: %s (%d), expected %lu bytes", i, errno_name(slots[i].result),
			     slots[i].result, want);
		compare("READ in flight", area + i * FLIGHT_BYTES, SHARE_PATTERN_SEED, io[i].offset, (u32)want);
	}
	fs_expect("RELEASE behind READs in flight", slots[FLIGHT_READS].result, 0);
	fs_attempt("read_after_release", slots[FLIGHT_READS + 1].result, -EBADF);
	data("in_flight=%u out_of_order=%u", FLIGHT, out_of_order);
}

static unsigned refused;

static void refuse(const char *what, int got)
{
	fs_expect(what, got, -EROFS);
	refused++;
}

/* Every request that would change the share, on a read-only one: EROFS, before anything is looked at. */
static void refusals(u64 pattern)
{
	struct fuse_entry_out e;
	struct fuse_attr a;
	u64 fh;
	refuse("CREATE", vfs_create(&fs, FUSE_ROOT_ID, "ro-new", O_RDWR | O_CREAT, S_IFREG | 0644, &e, &fh));
	refuse("MKDIR", vfs_mkdir(&fs, FUSE_ROOT_ID, "ro-dir", S_IFDIR | 0755, &e));
	const u32 modes[] = { O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC };
	for (unsigned i = 0; i < ARRAY_LEN(modes); i++)
		refuse("OPEN for writing", vfs_open_node(&fs, pattern, modes[i], false, &fh));
	fs_expect("OPEN for reading", vfs_open_node(&fs, pattern, O_RDONLY, false, &fh), 0);
	struct fuse_io_in in = { .fh = fh, .size = 16 };
	struct vbuf d = { data_buf, 16, false };
	refuse("WRITE", vfs_call(&fs, &(struct vfs_req){ .opcode = FUSE_WRITE, .nodeid = pattern, .arg = &in,
						       .arg_len = sizeof(in), .data = &d, .ndata = 1 }));
	fs_expect("RELEASE", vfs_release(&fs, pattern, fh, false), 0);
	struct fuse_setattr_in size = { .valid = FATTR_SIZE }, mode = { .valid = FATTR_MODE, .mode = 0777 };
	refuse("SETATTR size", vfs_setattr(&fs, pattern, &size, &a));
	refuse("SETATTR mode", vfs_setattr(&fs, pattern, &mode, &a));
	u64 root = FUSE_ROOT_ID, mknod[2] = { S_IFREG | 0644, 0 };
	const struct vfs_req named[] = {
		{ .opcode = FUSE_RENAME, .nodeid = FUSE_ROOT_ID, .arg = &root, .arg_len = 8, .name = SHARE_PATTERN,
		  .name2 = "renamed" },
		{ .opcode = FUSE_UNLINK, .nodeid = FUSE_ROOT_ID, .name = SHARE_PATTERN },
		{ .opcode = FUSE_RMDIR, .nodeid = FUSE_ROOT_ID, .name = SHARE_PATTERN },
		{ .opcode = FUSE_SYMLINK, .nodeid = FUSE_ROOT_ID, .name = "ro-link", .name2 = SHARE_PATTERN },
		{ .opcode = FUSE_LINK, .nodeid = FUSE_ROOT_ID, .arg = &pattern, .arg_len = 8, .name = "ro-hard" },
		{ .opcode = FUSE_MKNOD, .nodeid = FUSE_ROOT_ID, .arg = mknod, .arg_len = 16, .name = "ro-node" },
	};
	for (unsigned i = 0; i < ARRAY_LEN(named); i++)
		refuse("a change to the read-only share", vfs_call(&fs, &named[i]));
	data("refused=%u", refused);
}

static void statfs(void)
{
	int got = vfs_call(&fs, &(struct vfs_req){ .opcode = FUSE_STATFS, .nodeid = FUSE_ROOT_ID });
	if (got != (int)sizeof(struct fuse_kstatfs))
		fail("STATFS answered %s (%d bytes)", got < 0 ? errno_name(got) : "OK", got);
	const struct fuse_kstatfs *s = (const void *)fs.reply;
	if (s->blocks == 0 || s->bsize == 0 || s->namelen == 0 || s->bfree > s->blocks)
		fail("STATFS: blocks %lu free %lu bsize %u namelen %u", s->blocks, s->bfree, s->bsize, s->namelen);
	data("statfs_blocks=%lu statfs_bsize=%u statfs_namelen=%u", s->blocks, s->bsize, s->namelen);
}

void test_fs(void)
{
	bool readonly = cmdline_flag("fs_readonly");
	u64 pattern_bytes = cmdline_number("fs_pattern_bytes", 0);
	if (!pattern_bytes)
		fail("fs_pattern_bytes= is required (the size of the host's %s)", SHARE_PATTERN);
	vfs_open(&fs);
	data_buf = alloc(FILE_BYTES + APPEND_BYTES, 4096);
	back_buf = alloc(CHUNK, 4096);
	check_tag_and_init();
	struct fuse_entry_out pattern;
	fs_expect("LOOKUP " SHARE_PATTERN, vfs_lookup(&fs, FUSE_ROOT_ID, SHARE_PATTERN, &pattern), 0);
	if ((pattern.attr.mode & S_IFMT) != S_IFREG || pattern.attr.size != pattern_bytes)
		fail(SHARE_PATTERN ": mode 0x%x size %lu, expected a file of %lu bytes", pattern.attr.mode,
		     pattern.attr.size, pattern_bytes);
	fs_check_pattern(&fs, pattern.nodeid, SHARE_PATTERN_SEED, pattern_bytes);
	in_flight(pattern.nodeid, pattern_bytes);
	if (readonly)
		refusals(pattern.nodeid);
	else
		round_trip();
	fs_escapes(&fs, readonly, pattern.nodeid);
	/* Nothing above may have changed the host's file. */
	fs_check_pattern(&fs, pattern.nodeid, SHARE_PATTERN_SEED, pattern_bytes);
	statfs();
	unsigned nodes = fs.nnodes;
	vfs_forget_all(&fs);
	/* A forgotten node is gone; the root never is. */
	struct fuse_attr a;
	fs_attempt("forgotten_node", vfs_getattr(&fs, pattern.nodeid, &a), -ENOENT);
	fs_attempt("root_after_forget", vfs_getattr(&fs, FUSE_ROOT_ID, &a), 0);
	fs_resets(&fs, pattern_bytes);
	if (cmdline_flag("fs_break"))
		fs_breaks(&fs);
	nodes += fs.nnodes;
	vfs_forget_all(&fs);
	fs_escapes_done();
	data("calls=%lu errors=%lu nodes_forgotten=%u written_bytes=%lu read_bytes=%lu readonly=%d", fs.calls, fs.errors,
	     nodes, fs.written_bytes, fs.read_bytes, readonly);
}
