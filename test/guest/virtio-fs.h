/*
 * virtio-fs (virtio 1.2, section 5.11) on top of the driver in virtio.h: FUSE requests (protocol 7.31, the layouts
 * of include/uapi/linux/fuse.h on x86-64) posted one at a time and polled for. Every reply is checked against the
 * request it answers before a caller sees it: its unique, a length that fits what was offered and matches the used
 * length, and an errno that is one.
 */
#ifndef TSVMM_GUEST_VIRTIO_FS_H
#define TSVMM_GUEST_VIRTIO_FS_H

#include "virtio.h"

#define FUSE_LOOKUP 1
#define FUSE_FORGET 2
#define FUSE_GETATTR 3
#define FUSE_SETATTR 4
#define FUSE_READLINK 5
#define FUSE_SYMLINK 6
#define FUSE_MKNOD 8
#define FUSE_MKDIR 9
#define FUSE_UNLINK 10
#define FUSE_RMDIR 11
#define FUSE_RENAME 12
#define FUSE_LINK 13
#define FUSE_OPEN 14
#define FUSE_READ 15
#define FUSE_WRITE 16
#define FUSE_STATFS 17
#define FUSE_RELEASE 18
#define FUSE_FLUSH 25
#define FUSE_INIT 26
#define FUSE_OPENDIR 27
#define FUSE_READDIR 28
#define FUSE_RELEASEDIR 29
#define FUSE_CREATE 35
#define FUSE_BATCH_FORGET 42
#define FUSE_READDIRPLUS 44
#define FUSE_RENAME2 45

#define FUSE_ROOT_ID 1
#define FUSE_KERNEL_VERSION 7
#define FUSE_KERNEL_MINOR_VERSION 31

#define FUSE_ASYNC_READ (1u << 0)
#define FUSE_BIG_WRITES (1u << 5)
#define FUSE_DO_READDIRPLUS (1u << 13)
#define FUSE_PARALLEL_DIROPS (1u << 18)
#define FUSE_MAX_PAGES (1u << 22)

#define FATTR_MODE (1u << 0)
#define FATTR_SIZE (1u << 3)
#define FATTR_MTIME (1u << 5)
#define FATTR_FH (1u << 6)
#define RENAME_WHITEOUT 4

/* Linux x86-64 open flags, file types and errnos as they travel in FUSE. */
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_EXCL 0200
#define O_TRUNC 01000
#define S_IFMT 0170000
#define S_IFCHR 0020000
#define S_IFDIR 0040000
#define S_IFREG 0100000
#define S_IFLNK 0120000
#define DT_DIR 4
#define DT_REG 8
#define DT_LNK 10

#define EPERM 1
#define ENOENT 2
#define EIO 5
#define EBADF 9
#define EEXIST 17
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define EFBIG 27
#define EROFS 30
#define ERANGE 34
#define ENOSYS 38
#define ENAMETOOLONG 36
#define ENOTEMPTY 39
#define ELOOP 40
#define EPROTO 71
#define EOPNOTSUPP 95
#define ESTALE 116

struct fuse_in_header {
	u32 len;
	u32 opcode;
	u64 unique;
	u64 nodeid;
	u32 uid;
	u32 gid;
	u32 pid;
	u32 padding;
};

struct fuse_out_header {
	u32 len;
	int32_t error;
	u64 unique;
};

struct fuse_attr {
	u64 ino;
	u64 size;
	u64 blocks;
	u64 atime;
	u64 mtime;
	u64 ctime;
	u32 atimensec;
	u32 mtimensec;
	u32 ctimensec;
	u32 mode;
	u32 nlink;
	u32 uid;
	u32 gid;
	u32 rdev;
	u32 blksize;
	u32 padding;
};

struct fuse_entry_out {
	u64 nodeid;
	u64 generation;
	u64 entry_valid;
	u64 attr_valid;
	u32 entry_valid_nsec;
	u32 attr_valid_nsec;
	struct fuse_attr attr;
};

struct fuse_attr_out {
	u64 attr_valid;
	u32 attr_valid_nsec;
	u32 dummy;
	struct fuse_attr attr;
};

struct fuse_init_in {
	u32 major;
	u32 minor;
	u32 max_readahead;
	u32 flags;
};

struct fuse_init_out {
	u32 major;
	u32 minor;
	u32 max_readahead;
	u32 flags;
	u16 max_background;
	u16 congestion_threshold;
	u32 max_write;
	u32 time_gran;
	u16 max_pages;
	u16 map_alignment;
	u32 unused[8];
};

struct fuse_open_out {
	u64 fh;
	u32 open_flags;
	u32 padding;
};

/* fuse_read_in and fuse_write_in share this layout. */
struct fuse_io_in {
	u64 fh;
	u64 offset;
	u32 size;
	u32 io_flags;
	u64 lock_owner;
	u32 flags;
	u32 padding;
};

struct fuse_setattr_in {
	u32 valid;
	u32 padding;
	u64 fh;
	u64 size;
	u64 lock_owner;
	u64 atime;
	u64 mtime;
	u64 ctime;
	u32 atimensec;
	u32 mtimensec;
	u32 ctimensec;
	u32 mode;
	u32 unused4;
	u32 uid;
	u32 gid;
	u32 unused5;
};

struct fuse_kstatfs {
	u64 blocks;
	u64 bfree;
	u64 bavail;
	u64 files;
	u64 ffree;
	u32 bsize;
	u32 namelen;
	u32 frsize;
	u32 padding;
	u32 spare[6];
};

struct fuse_dirent {
	u64 ino;
	u64 off;
	u32 namelen;
	u32 type;
	char name[];
};

/* The most nodes the driver counts lookups of (to FORGET them at the end). */
#define VFS_MAX_NODES 64
/* The most argument bytes (fixed part and names) and reply bytes of one request into the driver's own buffers. */
#define VFS_ARG_BYTES 4096
#define VFS_REPLY_BYTES 65536

struct vfs_node {
	u64 nodeid;
	u64 lookups;
};

struct vfs_req;

/* A request's own memory while it is in flight: its header, arguments and reply header. */
struct vfs_slot {
	struct fuse_in_header *in;
	u8 *args;
	u32 args_cap;
	struct fuse_out_header *out;
	const struct vfs_req *req;
	u32 room;
	u64 unique;
	/* Once answered: the reply body's length, or a negative errno. */
	int result;
};

struct vfs {
	struct virtio_dev dev;
	struct virtq *hiprio;
	struct virtq *req;
	char tag[37];
	struct fuse_init_out init;
	u64 unique;
	/* The slot vfs_call uses. */
	struct vfs_slot slot;
	/* Where a reply body goes when the caller names no buffers of its own. */
	u8 *reply;
	struct vfs_node nodes[VFS_MAX_NODES];
	unsigned nnodes;
	/* Requests answered, and how many of them with an errno. */
	u64 calls;
	u64 errors;
	/* Data moved by READ and WRITE replies. */
	u64 read_bytes;
	u64 written_bytes;
};

/* One request. Arguments are `arg` then the NUL-terminated names; WRITE data follows as readable buffers. */
struct vfs_req {
	u32 opcode;
	u64 nodeid;
	const void *arg;
	u32 arg_len;
	const char *name;
	const char *name2;
	const struct vbuf *data;
	unsigned ndata;
	/* The reply body's buffers (writable); without them, `room` bytes (VFS_REPLY_BYTES if 0) of fs->reply. */
	const struct vbuf *body;
	unsigned nbody;
	u32 room;
	/* VIRTQ_POST_INDIRECT, VFS_HIPRIO, VFS_NO_REPLY */
	unsigned flags;
};
#define VFS_HIPRIO 0x100
#define VFS_NO_REPLY 0x200

/* Finds the first virtio-fs device, starts it with its two queues, reads the tag; else the test fails. */
void vfs_open(struct vfs *fs);
/* Resets the device and starts it again (FUSE_INIT comes next); every node and handle is gone. */
bool vfs_restart(struct vfs *fs, const char **why);
/* Sends a request and waits for its answer: the reply body's length, or a negative errno. */
int vfs_call(struct vfs *fs, const struct vfs_req *r);
/* Memory for a slot with room for `args_cap` argument bytes. */
void vfs_slot_init(struct vfs_slot *slot, u32 args_cap);
/* Makes r available through `slot` (r stays the caller's until it is answered); the caller kicks the queue. */
void vfs_post(struct vfs *fs, struct vfs_slot *slot, const struct vfs_req *r);
/* Waits for the next answer on the request (or hiprio) queue and returns its slot, with the result set. */
struct vfs_slot *vfs_reap(struct vfs *fs, bool hiprio);
/* FUSE_INIT for 7.31 with `flags`; the answer lands in fs->init. */
int vfs_init(struct vfs *fs, u32 flags);

/* Counts one lookup of a node the device returned (LOOKUP, CREATE, MKDIR, LINK, SYMLINK, READDIRPLUS). */
void vfs_counted(struct vfs *fs, u64 nodeid);
int vfs_lookup(struct vfs *fs, u64 parent, const char *name, struct fuse_entry_out *e);
int vfs_getattr(struct vfs *fs, u64 nodeid, struct fuse_attr *a);
/* OPEN (or OPENDIR) with `flags`; *fh is the handle. */
int vfs_open_node(struct vfs *fs, u64 nodeid, u32 flags, bool dir, u64 *fh);
int vfs_release(struct vfs *fs, u64 nodeid, u64 fh, bool dir);
int vfs_create(struct vfs *fs, u64 parent, const char *name, u32 flags, u32 mode, struct fuse_entry_out *e, u64 *fh);
int vfs_mkdir(struct vfs *fs, u64 parent, const char *name, u32 mode, struct fuse_entry_out *e);
/* READ of `size` bytes at `offset` into buf (the reply's data in one buffer): bytes read or a negative errno. */
int vfs_read(struct vfs *fs, u64 nodeid, u64 fh, u64 offset, u32 size, void *buf);
int vfs_setattr(struct vfs *fs, u64 nodeid, const struct fuse_setattr_in *in, struct fuse_attr *a);
/* Takes back every lookup counted: one FORGET on the hiprio queue for the first node, a BATCH_FORGET for the rest. */
void vfs_forget_all(struct vfs *fs);

/* "EPERM", "ENOENT", ... or "E<n>"; "OK" for 0. A negative errno is named as its positive. */
const char *errno_name(int err);
/* The byte at `index` of a pattern file: the same formula in the host's tests. */
static inline u8 fs_pattern(u32 seed, u64 index)
{
	return (u8)(index * 131 + (index >> 8) * 7 + seed);
}

#endif
