/*
 * File requests: write (streamed in, within the agent's credit), read (streamed out, within the host's credit),
 * stat, list, mkdir and remove. Paths are the guest's own; symbolic links are not followed by stat, list and
 * remove. Only regular files are read, so a FIFO or a device cannot block the agent's single thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

static int mkdir_parents_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL || slash == path) return 0;
  char *dir = strndup(path, (size_t)(slash - path));
  if (dir == NULL) return -1;
  int r = mkdir_all(dir, 0755);
  free(dir);
  return r;
}

static uint32_t request_mode(const unsigned char *p, size_t n, uint32_t fallback) {
  uint32_t mode = fallback;
  if (fields_find_u32(p, n, T_MODE, &mode) != 1) mode = fallback;
  return mode & 07777;
}

void file_release(struct stream *s) {
  if (s->file_fd >= 0) close(s->file_fd);
  s->file_fd = -1;
}

void file_write_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n) {
  char *path = file_request_path(c, id, p, n);
  if (path == NULL) return;
  mode_t mode = request_mode(p, n, 0644);
  int append = fields_has(p, n, T_APPEND);
  if (fields_has(p, n, T_PARENTS) && mkdir_parents_of(path) < 0) {
    file_error(c, id, "mkdir", path);
    free(path);
    return;
  }
  /* O_NONBLOCK: opening a FIFO with no reader fails instead of blocking. */
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (append ? O_APPEND : O_TRUNC), mode);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    file_error(c, id, "open", path);
  } else if (!S_ISREG(st.st_mode)) {
    send_error(c, id, EINVAL, "open", "open %s: not a regular file", path);
  } else if (fchmod(fd, mode) < 0) {
    file_error(c, id, "chmod", path);
  } else {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct stream *s = stream_new(c, id, S_WRITE);
    s->file_fd = fd;
    s->in_allowed = INPUT_WINDOW;
    struct frame f;
    frame_start(&f, F_READY, id);
    frame_u32(&f, T_WINDOW, INPUT_WINDOW);
    frame_send(&f, c);
    free(path);
    return;
  }
  if (fd >= 0) close(fd);
  free(path);
}

void file_input(struct stream *s, const unsigned char *p, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(s->file_fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int err = w < 0 ? errno : EIO;
      send_error(s->conn, s->id, err, "write", "write after %llu bytes: %s", (unsigned long long)(s->file_bytes + done), strerror(err));
      file_release(s);
      stream_end(s);
      return;
    }
    done += (size_t)w;
  }
  s->file_bytes += n;
  s->in_allowed += (uint32_t)n;
  send_credit(s->conn, s->id, CH_IN, (uint32_t)n);
}

void file_input_eof(struct stream *s) {
  int r = close(s->file_fd);
  s->file_fd = -1;
  if (r < 0) {
    int err = errno;
    send_error(s->conn, s->id, err, "close", "close: %s", strerror(err));
  } else {
    struct frame f;
    frame_start(&f, F_DONE, s->id);
    frame_u64(&f, T_SIZE, s->file_bytes);
    frame_send(&f, s->conn);
  }
  stream_end(s);
}

void file_read_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n) {
  char *path = file_request_path(c, id, p, n);
  if (path == NULL) return;
  uint32_t window = 0;
  if (fields_find_u32(p, n, T_WINDOW, &window) != 1) window = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    file_error(c, id, "open", path);
  } else if (S_ISDIR(st.st_mode)) {
    send_error(c, id, EISDIR, "open", "open %s: is a directory", path);
  } else if (!S_ISREG(st.st_mode)) {
    send_error(c, id, EINVAL, "open", "open %s: not a regular file", path);
  } else {
    struct stream *s = stream_new(c, id, S_READ);
    s->file_fd = fd;
    s->out_credit = window;
    struct frame f;
    frame_start(&f, F_READY, id);
    frame_u64(&f, T_SIZE, (uint64_t)st.st_size);
    frame_u32(&f, T_MODE, st.st_mode & 07777);
    frame_send(&f, c);
    free(path);
    return;
  }
  if (fd >= 0) close(fd);
  free(path);
}

void file_credit(struct stream *s, uint32_t bytes) {
  s->out_credit = bytes > UINT32_MAX - s->out_credit ? UINT32_MAX : s->out_credit + bytes;
}

/* One chunk of a file being read, if the host has credit and the socket keeps up; 1 when there may be more. */
int file_pump(struct stream *s) {
  if (s->kind != S_READ || s->out_credit == 0 || conn_backlogged(s->conn)) return 0;
  size_t want = s->out_credit < DATA_CHUNK ? s->out_credit : DATA_CHUNK;
  struct buf *b = buf_new(HEADER_SIZE + want);
  ssize_t r;
  do r = read(s->file_fd, b->data + HEADER_SIZE, want); while (r < 0 && errno == EINTR);
  if (r > 0) {
    put_u32le(b->data, (uint32_t)r);
    b->data[4] = F_DATA_OUT;
    put_u32le(b->data + 5, s->id);
    b->len = HEADER_SIZE + (size_t)r;
    s->out_credit -= (uint32_t)r;
    s->file_bytes += (uint64_t)r;
    conn_queue(s->conn, b);
    return 1;
  }
  free(b);
  if (r < 0) {
    int err = errno;
    send_error(s->conn, s->id, err, "read", "read after %llu bytes: %s", (unsigned long long)s->file_bytes, strerror(err));
  } else {
    struct frame f;
    frame_start(&f, F_DONE, s->id);
    frame_u64(&f, T_SIZE, s->file_bytes);
    frame_send(&f, s->conn);
  }
  file_release(s);
  stream_end(s);
  return 0;
}
