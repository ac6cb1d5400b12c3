/* What test=fs (fs.c), its escape attempts (fs-escape.c) and its resets and broken chains (fs-reset.c) share. */
#ifndef TSVMM_GUEST_TESTS_FS_H
#define TSVMM_GUEST_TESTS_FS_H

#include "../virtio-fs.h"

/* What the host puts in the share: a pattern file (seed 1) and symlinks that point out of it. */
#define SHARE_PATTERN "pattern.bin"
#define SHARE_PATTERN_SEED 1
#define LINK_ABS "abs-link"   /* the absolute path of a file outside the share */
#define LINK_REL "rel-link"   /* ../ and the name of that file */
#define LINK_UP "up-link"     /* ../../.. */
#define LINK_ETC "etc-link"   /* /etc */
#define LINK_PLANT "plant-link" /* the absolute path of a file outside the share that does not exist */

/* Fails the test unless got (0 or a negative errno) is want. */
void fs_expect(const char *what, int got, int want);
/* OPEN, READ in pieces, compare with the pattern of `seed`, RELEASE; `bytes` must be the file's size. */
void fs_check_pattern(struct vfs *fs, u64 nodeid, u32 seed, u64 bytes);
/* The escape attempts: every one must fail (or stay inside the share) with the errno the device answers. */
void fs_escapes(struct vfs *fs, bool readonly, u64 pattern_node);
/* One hostile request's outcome, for the data lines: `key=<outcome>`. */
void fs_record(const char *key, const char *outcome);
/* Fails the test unless got is want; records it by its errno name. */
void fs_attempt(const char *key, int got, int want);
/* A reset with READs in flight; the device starts again knowing nothing of them. */
void fs_resets(struct vfs *fs, u64 pattern_bytes);
/* Chains that break the ring's rules, each costing the driver its device (fs_break=1). */
void fs_breaks(struct vfs *fs);
/* Prints what fs_record collected and how many attempts there were. */
void fs_escapes_done(void);

#endif
