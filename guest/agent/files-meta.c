/* File requests that answer at once: stat, list, mkdir, remove. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define LIST_FRAME_BYTES (60u * 1024u)

static char kind_of(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISCHR(m)) return 'c';
  if (S_ISBLK(m)) return 'b';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISSOCK(m)) return 's';
  return '?';
}

static uint64_t mtime_ms(const struct stat *st) {
  return (uint64_t)st->st_mtim.tv_sec * 1000u + (uint64_t)st->st_mtim.tv_nsec / 1000000u;
}

/* The fields every stat answer and list entry have. */
static void stat_fields(struct frame *f, const struct stat *st) {
  char kind = kind_of(st->st_mode);
  frame_bytes(f, T_KIND, &kind, 1);
  frame_u32(f, T_MODE, st->st_mode & 07777);
  frame_u64(f, T_SIZE, (uint64_t)st->st_size);
  frame_u64(f, T_MTIME, mtime_ms(st));
  frame_u32(f, T_UID, st->st_uid);
  frame_u32(f, T_GID, st->st_gid);
}

void file_error(struct conn *c, uint32_t id, const char *stage, const char *path) {
  int err = errno;
  send_error(c, id, err, stage, "%s %s: %s", stage, path, strerror(err));
}

char *file_request_path(struct conn *c, uint32_t id, const unsigned char *p, size_t n) {
  char *path = NULL;
  if (fields_find_cstr(p, n, T_PATH, &path) != 1 || path[0] == 0) {
    free(path);
    send_error(c, id, EINVAL, NULL, "no PATH field, or one that is empty, holds a NUL or passes %u bytes", MAX_PATH_BYTES);
    return NULL;
  }
  return path;
}

void file_stat_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n) {
  char *path = file_request_path(c, id, p, n);
  if (path == NULL) return;
  struct stat st;
  if (lstat(path, &st) < 0) {
    file_error(c, id, "stat", path);
    free(path);
    return;
  }
  struct frame f;
  frame_start(&f, F_DONE, id);
  stat_fields(&f, &st);
  if (S_ISLNK(st.st_mode)) {
    char target[MAX_PATH_BYTES + 1];
    ssize_t len = readlink(path, target, sizeof target);
    if (len >= 0 && (size_t)len <= MAX_PATH_BYTES) frame_bytes(&f, T_TARGET, target, (size_t)len);
  }
  frame_send(&f, c);
  free(path);
}

/* One directory entry as a nested run of fields; 0 when the entry vanished under us. */
static int entry_frame(struct frame *e, int dirfd, const char *name) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return 0;
  frame_start(e, 0, 0);
  frame_str(e, T_NAME, name);
  stat_fields(e, &st);
  return 1;
}

void file_list_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n) {
  char *path = file_request_path(c, id, p, n);
  if (path == NULL) return;
  DIR *d = opendir(path);
  if (d == NULL) {
    file_error(c, id, "opendir", path);
    free(path);
    return;
  }
  struct frame f;
  frame_start(&f, F_ENTRIES, id);
  uint32_t count = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    struct frame e;
    if (!entry_frame(&e, dirfd(d), de->d_name)) continue;
    if (frame_payload_len(&f) + 5 + frame_payload_len(&e) > LIST_FRAME_BYTES) {
      frame_send(&f, c);
      frame_start(&f, F_ENTRIES, id);
    }
    frame_bytes(&f, T_ENTRY, e.b->data + HEADER_SIZE, frame_payload_len(&e));
    frame_drop(&e);
    count++;
  }
  closedir(d);
  if (frame_payload_len(&f) > 0) frame_send(&f, c);
  else frame_drop(&f);
  frame_start(&f, F_DONE, id);
  frame_u32(&f, T_COUNT, count);
  frame_send(&f, c);
  free(path);
}

int mkdir_all(char *path, mode_t mode) {
  for (char *slash = strchr(path + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
    *slash = 0;
    struct stat st;
    int bad = mkdir(path, mode) < 0 && !(errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    *slash = '/';
    if (bad) return -1;
  }
  struct stat st;
  if (mkdir(path, mode) < 0 && !(errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) return -1;
  return 0;
}

void file_mkdir_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n) {
  char *path = file_request_path(c, id, p, n);
  if (path == NULL) return;
  uint32_t mode = 0755;
  if (fields_find_u32(p, n, T_MODE, &mode) != 1) mode = 0755;
  int r = fields_has(p, n, T_PARENTS) ? mkdir_all(path, mode & 07777) : mkdir(path, mode & 07777);
  if (r < 0) file_error(c, id, "mkdir", path);
  else send_simple(c, F_DONE, id);
  free(path);
}

static int remove_errno;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  int r = flag == FTW_DP ? rmdir(path) : unlink(path);
  if (r < 0 && remove_errno == 0) remove_errno = errno;
  return 0;
}

void file_remove_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n) {
  char *path = file_request_path(c, id, p, n);
  if (path == NULL) return;
  struct stat st;
  int r;
  if (lstat(path, &st) < 0) {
    r = -1;
  } else if (!S_ISDIR(st.st_mode)) {
    r = unlink(path);
  } else if (!fields_has(p, n, T_RECURSIVE)) {
    r = rmdir(path);
  } else {
    /* Depth first, not following links, not crossing into other mounts (a /proc under the tree stays). */
    remove_errno = 0;
    r = nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (r == 0 && remove_errno != 0) {
      errno = remove_errno;
      r = -1;
    }
  }
  if (r < 0) file_error(c, id, "remove", path);
  else send_simple(c, F_DONE, id);
  free(path);
}
