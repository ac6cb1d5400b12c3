/*
 * One host connection: frames in (header, then payload, each checked against the limits before any memory is
 * taken), frames out (a queue written as the socket accepts it), and the streams the connection's requests opened.
 * A host that breaks the framing gets one ERROR on stream 0 and the connection is closed; its processes are killed.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

static const char *const CAPS[] = {"exec", "pty", "signal-group", "files", "ping"};

int conn_backlogged(const struct conn *c) { return c->outq_bytes >= OUTQ_HIGH; }

struct stream *stream_new(struct conn *c, uint32_t id, enum stream_kind kind) {
  struct stream *s = calloc(1, sizeof *s);
  if (s == NULL) {
    perror("tsvmm-agent: out of memory");
    abort();
  }
  s->conn = c;
  s->id = id;
  s->kind = kind;
  s->in_fd = s->out_fd = s->err_fd = s->file_fd = -1;
  s->next = c->streams;
  c->streams = s;
  c->nstreams++;
  return s;
}

struct stream *stream_find(struct conn *c, uint32_t id) {
  for (struct stream *s = c->streams; s != NULL; s = s->next) {
    if (s->id == id && !s->dead) return s;
  }
  return NULL;
}

/* The stream's last frame has been queued: its id is free again. Freed by the loop's sweep. */
void stream_end(struct stream *s) {
  if (s->dead) return;
  s->dead = 1;
  s->conn->nstreams--;
}

static void stream_release(struct stream *s) {
  if (s->kind == S_EXEC) exec_release(s, 1);
  else file_release(s);
  stream_end(s);
}

/* Ends the connection at once: queued frames are dropped, its processes killed, its files closed. */
void conn_close(struct conn *c) {
  if (c->dead) return;
  for (struct stream *s = c->streams; s != NULL; s = s->next) {
    if (!s->dead) stream_release(s);
  }
  c->dead = 1;
  close(c->fd);
  c->fd = -1;
  while (c->outq != NULL) {
    struct buf *b = c->outq;
    c->outq = b->next;
    free(b);
  }
  c->outq_tail = NULL;
  c->outq_bytes = 0;
  free(c->payload);
  c->payload = NULL;
}

/* The host broke the protocol: say why on stream 0, stop reading, close once that is written (or soon anyway). */
void conn_fail(struct conn *c, const char *fmt, ...) {
  if (c->dead || c->closing) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "tsvmm-agent: closing a connection: %s\n", msg);
  for (struct stream *s = c->streams; s != NULL; s = s->next) {
    if (!s->dead) stream_release(s);
  }
  send_error(c, 0, EPROTO, NULL, "%s", msg);
  c->closing = 1;
  c->deadline = now_ms() + 2000;
}

static void hello(struct conn *c, const unsigned char *p, size_t n) {
  uint32_t version = 0;
  if (fields_find_u32(p, n, T_VERSION, &version) != 1) {
    conn_fail(c, "HELLO without a four-byte VERSION field");
    return;
  }
  if (version != PROTOCOL_VERSION) {
    struct frame f;
    frame_start(&f, F_ERROR, 0);
    frame_str(&f, T_ERRNO, "EPROTONOSUPPORT");
    char msg[128];
    snprintf(msg, sizeof msg, "protocol version %u is not supported (this agent speaks %u)", version, PROTOCOL_VERSION);
    frame_str(&f, T_MESSAGE, msg);
    frame_u32(&f, T_VERSION, PROTOCOL_VERSION);
    frame_send(&f, c);
    c->closing = 1;
    c->deadline = now_ms() + 2000;
    return;
  }
  struct frame f;
  frame_start(&f, F_HELLO_OK, 0);
  frame_u32(&f, T_VERSION, PROTOCOL_VERSION);
  frame_str(&f, T_NAME, AGENT_NAME);
  for (size_t i = 0; i < sizeof CAPS / sizeof CAPS[0]; i++) frame_str(&f, T_CAP, CAPS[i]);
  frame_u32(&f, T_MAX_FRAME, MAX_PAYLOAD);
  frame_u32(&f, T_MAX_STREAMS, MAX_STREAMS);
  frame_send(&f, c);
  c->hello = 1;
  c->deadline = 0;
}

static int is_request(uint8_t type) {
  switch (type) {
  case F_PING: case F_EXEC: case F_FILE_WRITE: case F_FILE_READ: case F_STAT: case F_LIST: case F_MKDIR:
  case F_REMOVE:
    return 1;
  default:
    return 0;
  }
}

static void request(struct conn *c, uint8_t type, uint32_t id, const unsigned char *p, size_t n) {
  if (id == 0) {
    conn_fail(c, "request type 0x%02x on stream 0", type);
  } else if (stream_find(c, id) != NULL) {
    conn_fail(c, "request type 0x%02x on stream %u, which is in use", type, id);
  } else if (!fields_valid(p, n)) {
    send_error(c, id, EPROTO, NULL, "a field runs past the end of the request");
  } else if (c->nstreams >= MAX_STREAMS) {
    send_error(c, id, EAGAIN, NULL, "too many open streams on this connection (at most %d)", MAX_STREAMS);
  } else if (type == F_PING) {
    send_simple(c, F_PONG, id);
  } else if (type == F_EXEC) {
    exec_request(c, id, p, n);
  } else if (type == F_FILE_WRITE) {
    file_write_request(c, id, p, n);
  } else if (type == F_FILE_READ) {
    file_read_request(c, id, p, n);
  } else if (type == F_STAT) {
    file_stat_request(c, id, p, n);
  } else if (type == F_LIST) {
    file_list_request(c, id, p, n);
  } else if (type == F_MKDIR) {
    file_mkdir_request(c, id, p, n);
  } else if (type == F_REMOVE) {
    file_remove_request(c, id, p, n);
  }
}

static void credit(struct conn *c, struct stream *s, const unsigned char *p, size_t n) {
  if (n != 5 || (p[0] != CH_OUT && p[0] != CH_ERR)) {
    conn_fail(c, "CREDIT must be 5 bytes for channel 1 or 2");
  } else if (s != NULL && s->kind == S_EXEC) {
    exec_credit(s, p[0], get_u32le(p + 1));
  } else if (s != NULL && s->kind == S_READ) {
    file_credit(s, get_u32le(p + 1));
  }
}

static void input(struct conn *c, struct stream *s, const unsigned char *p, size_t n) {
  if (s == NULL) return;
  if (s->kind == S_READ) {
    conn_fail(c, "DATA_IN on stream %u, a file read", s->id);
  } else if (n > s->in_allowed) {
    conn_fail(c, "DATA_IN of %zu bytes on stream %u past its credit of %u", n, s->id, s->in_allowed);
  } else {
    s->in_allowed -= (uint32_t)n;
    if (s->kind == S_EXEC) exec_input(s, p, n);
    else file_input(s, p, n);
  }
}

static void cancel(struct conn *c, struct stream *s) {
  if (s->kind == S_EXEC) {
    /* The stream still ends with EXIT, once the killed process has been reaped. */
    kill(-s->pid, SIGKILL);
    return;
  }
  file_release(s);
  send_error(c, s->id, ECANCELED, NULL, "cancelled by the host");
  stream_end(s);
}

/* Frames for an open stream. One for a stream that already ended is ignored: the host may not have seen its end. */
static void stream_frame(struct conn *c, uint8_t type, uint32_t id, const unsigned char *p, size_t n) {
  struct stream *s = stream_find(c, id);
  int exec = s != NULL && s->kind == S_EXEC;
  switch (type) {
  case F_DATA_IN: input(c, s, p, n); break;
  case F_EOF_IN:
    if (exec) exec_input_eof(s);
    else if (s != NULL && s->kind == S_WRITE) file_input_eof(s);
    break;
  case F_CREDIT: credit(c, s, p, n); break;
  case F_SIGNAL: if (exec) exec_signal(s, p, n); break;
  case F_RESIZE: if (exec) exec_resize(s, p, n); break;
  case F_CANCEL: if (s != NULL) cancel(c, s); break;
  default: conn_fail(c, "unknown frame type 0x%02x", type); break;
  }
}

static void dispatch(struct conn *c, uint8_t type, uint32_t id, const unsigned char *p, size_t n) {
  if (!c->hello) {
    if (type == F_HELLO && id == 0) hello(c, p, n);
    else conn_fail(c, "the first frame must be HELLO on stream 0 (got type 0x%02x)", type);
  } else if (type == F_HELLO) {
    conn_fail(c, "a second HELLO");
  } else if (is_request(type)) {
    request(c, type, id, p, n);
  } else {
    stream_frame(c, type, id, p, n);
  }
}

/* Reads what the socket has (a bounded amount per turn, so one busy host cannot starve the rest). */
void conn_read(struct conn *c) {
  size_t budget = 4u << 20;
  while (!c->dead && !c->closing && !conn_backlogged(c) && budget > 0) {
    ssize_t r;
    if (c->hdr_got < HEADER_SIZE) {
      r = read(c->fd, c->hdr + c->hdr_got, HEADER_SIZE - c->hdr_got);
    } else {
      r = read(c->fd, c->payload + c->pgot, c->plen - c->pgot);
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) {
      conn_close(c);
      return;
    }
    budget -= (size_t)r;
    if (c->hdr_got < HEADER_SIZE) {
      c->hdr_got += (uint32_t)r;
      if (c->hdr_got < HEADER_SIZE) continue;
      c->plen = get_u32le(c->hdr);
      if (c->plen > MAX_PAYLOAD) {
        conn_fail(c, "frame of %u bytes (at most %u)", c->plen, MAX_PAYLOAD);
        return;
      }
      c->pgot = 0;
      c->payload = c->plen > 0 ? malloc(c->plen) : NULL;
      if (c->plen > 0 && c->payload == NULL) {
        conn_fail(c, "out of memory for a %u-byte frame", c->plen);
        return;
      }
    } else {
      c->pgot += (uint32_t)r;
    }
    if (c->pgot < c->plen) continue;
    unsigned char *payload = c->payload;
    c->payload = NULL;
    c->hdr_got = 0;
    dispatch(c, c->hdr[4], get_u32le(c->hdr + 5), payload, c->plen);
    free(payload);
  }
}

/* Writes queued frames until the socket is full; a connection whose last words are out is closed. */
void conn_flush(struct conn *c) {
  while (!c->dead && c->outq != NULL) {
    struct buf *b = c->outq;
    ssize_t w = write(c->fd, b->data + b->off, b->len - b->off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w <= 0) {
      conn_close(c);
      return;
    }
    b->off += (size_t)w;
    c->outq_bytes -= (size_t)w;
    if (b->off < b->len) continue;
    c->outq = b->next;
    if (c->outq == NULL) c->outq_tail = NULL;
    free(b);
  }
  if (!c->dead && c->closing && c->outq == NULL) conn_close(c);
}
