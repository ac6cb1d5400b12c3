/*
 * A running process's side of its stream: output read within the host's credit, stdin written as the pipe takes
 * it (credit goes back to the host for each byte written, or dropped once the pipe is gone), signals, the
 * terminal's size, and the end: EXIT once the process has been reaped and its output drained.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void drop_input(struct stream *s) {
  while (s->inq != NULL) {
    struct buf *b = s->inq;
    s->inq = b->next;
    free(b);
  }
  s->inq_tail = NULL;
  s->inq_bytes = 0;
}

/* Closes what the agent holds of the process; with `kill_group`, a process still running is killed with its group. */
void exec_release(struct stream *s, int kill_group) {
  if (kill_group && s->pid > 0 && !s->exited) kill(-s->pid, SIGKILL);
  close_fd(&s->in_fd);
  close_fd(&s->out_fd);
  close_fd(&s->err_fd);
  drop_input(s);
  s->eof_char_queued = 0;
}

void exec_try_finish(struct stream *s) {
  if (s->dead || !s->exited || s->out_fd >= 0 || s->err_fd >= 0) return;
  struct frame f;
  frame_start(&f, F_EXIT, s->id);
  if (WIFEXITED(s->status)) frame_u32(&f, T_CODE, (uint32_t)WEXITSTATUS(s->status));
  else if (WIFSIGNALED(s->status)) frame_u32(&f, T_SIGNO, (uint32_t)WTERMSIG(s->status));
  frame_send(&f, s->conn);
  exec_release(s, 0);
  stream_end(s);
}

void exec_reaped(pid_t pid, int status) {
  struct stream *s = stream_by_pid(pid);
  if (s == NULL) return; /* an orphaned descendant, or a process whose connection has gone */
  s->exited = 1;
  s->status = status;
  close_fd(&s->in_fd);
  drop_input(s);
  if (s->pty) s->drain_deadline = now_ms() + PTY_DRAIN_MS;
  exec_try_finish(s);
}

/* One read of stdout or stderr, at most the credit left. */
void exec_read_output(struct stream *s, int channel) {
  int *fd = channel == CH_OUT ? &s->out_fd : &s->err_fd;
  uint32_t *credit = channel == CH_OUT ? &s->out_credit : &s->err_credit;
  if (*fd < 0 || *credit == 0) return;
  size_t want = *credit < DATA_CHUNK ? *credit : DATA_CHUNK;
  struct buf *b = buf_new(HEADER_SIZE + want);
  ssize_t r;
  do r = read(*fd, b->data + HEADER_SIZE, want); while (r < 0 && errno == EINTR);
  if (r > 0) {
    put_u32le(b->data, (uint32_t)r);
    b->data[4] = channel == CH_OUT ? F_DATA_OUT : F_DATA_ERR;
    put_u32le(b->data + 5, s->id);
    b->len = HEADER_SIZE + (size_t)r;
    *credit -= (uint32_t)r;
    conn_queue(s->conn, b);
    if (s->drain_deadline != 0) s->drain_deadline = now_ms() + PTY_DRAIN_MS;
    return;
  }
  free(b);
  /* A pipe found empty after the process was reaped holds nothing more of its own; a terminal ends with EIO. */
  int drained = r == 0 || errno != EAGAIN || (s->exited && !s->pty);
  if (drained) {
    close_fd(fd);
    exec_try_finish(s);
  }
}

/* After the process has been reaped, its pipes are read without waiting for poll (a descendant may hold them open). */
int exec_pump(struct stream *s) {
  if (!s->exited || s->pty || conn_backlogged(s->conn)) return 0;
  int again = 0;
  if (s->out_fd >= 0 && s->out_credit > 0) {
    exec_read_output(s, CH_OUT);
    again = 1;
  }
  if (!s->dead && s->err_fd >= 0 && s->err_credit > 0) {
    exec_read_output(s, CH_ERR);
    again = 1;
  }
  return again;
}

void exec_credit(struct stream *s, uint8_t channel, uint32_t bytes) {
  uint32_t *credit = channel == CH_OUT ? &s->out_credit : &s->err_credit;
  *credit = bytes > UINT32_MAX - *credit ? UINT32_MAX : *credit + bytes;
}

void exec_input(struct stream *s, const unsigned char *p, size_t n) {
  if (n == 0) return;
  if (s->in_fd < 0 || s->in_eof) {
    /* Nobody reads stdin any more: the bytes are dropped, and credited so the host does not stall. */
    s->in_allowed += (uint32_t)n;
    send_credit(s->conn, s->id, CH_IN, (uint32_t)n);
    return;
  }
  struct buf *b = buf_new(n);
  memcpy(b->data, p, n);
  b->len = n;
  if (s->inq_tail != NULL) s->inq_tail->next = b;
  else s->inq = b;
  s->inq_tail = b;
  s->inq_bytes += n;
  exec_write_input(s);
}

/* On a terminal, end of input is the EOF character (^D) at the start of a line; on a pipe, closing it. */
void exec_input_eof(struct stream *s) {
  if (s->in_eof || s->in_fd < 0) return;
  if (s->pty) {
    struct termios t;
    unsigned char eof = tcgetattr(s->in_fd, &t) == 0 ? t.c_cc[VEOF] : 4;
    struct buf *b = buf_new(1);
    b->data[0] = eof;
    b->len = 1;
    s->eof_char_queued = 1; /* this byte is ours, not the host's: it gets no credit back */
    if (s->inq_tail != NULL) s->inq_tail->next = b;
    else s->inq = b;
    s->inq_tail = b;
    s->inq_bytes += 1;
  }
  s->in_eof = 1;
  exec_write_input(s);
}

void exec_write_input(struct stream *s) {
  uint32_t written = 0;
  while (s->inq != NULL && s->in_fd >= 0) {
    struct buf *b = s->inq;
    ssize_t w = write(s->in_fd, b->data + b->off, b->len - b->off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) break;
    if (w < 0) {
      /* EPIPE: the process closed stdin. What is queued is dropped, and credited. */
      written += (uint32_t)s->inq_bytes;
      drop_input(s);
      close_fd(&s->in_fd);
      break;
    }
    b->off += (size_t)w;
    s->inq_bytes -= (size_t)w;
    written += (uint32_t)w;
    if (b->off < b->len) continue;
    s->inq = b->next;
    if (s->inq == NULL) s->inq_tail = NULL;
    free(b);
  }
  if (s->eof_char_queued && s->inq == NULL) {
    s->eof_char_queued = 0;
    written -= 1;
  }
  if (written > 0) {
    s->in_allowed += written;
    send_credit(s->conn, s->id, CH_IN, written);
  }
  if (s->in_eof && s->inq == NULL) close_fd(&s->in_fd);
}

void exec_signal(struct stream *s, const unsigned char *p, size_t n) {
  uint32_t signo = 0;
  if (fields_find_u32(p, n, T_SIGNO, &signo) != 1 || signo == 0 || signo > 64) {
    conn_fail(s->conn, "SIGNAL on stream %u without a SIGNO from 1 to 64", s->id);
    return;
  }
  int group = fields_has(p, n, T_GROUP);
  /* After the process was reaped its pid may belong to someone else; its group lives on while a member does. */
  if (group) kill(-s->pid, (int)signo);
  else if (!s->exited) kill(s->pid, (int)signo);
}

void exec_resize(struct stream *s, const unsigned char *p, size_t n) {
  uint32_t rows = 0, cols = 0;
  if (fields_find_u32(p, n, T_ROWS, &rows) != 1 || fields_find_u32(p, n, T_COLS, &cols) != 1 || rows > 65535 ||
      cols > 65535) {
    conn_fail(s->conn, "RESIZE on stream %u needs ROWS and COLS up to 65535", s->id);
    return;
  }
  if (!s->pty || s->out_fd < 0) return;
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  ioctl(s->out_fd, TIOCSWINSZ, &ws);
}
