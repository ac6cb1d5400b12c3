/*
 * Frames and fields. A frame is a 9-byte header (u32 payload length, u8 type, u32 stream id; little-endian)
 * and its payload; a control payload is a run of fields (u8 tag, u32 length, value). Parsing trusts nothing:
 * a field that runs past its payload makes the whole payload invalid.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

uint32_t get_u32le(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void put_u32le(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

struct buf *buf_new(size_t cap) {
  struct buf *b = malloc(sizeof *b + cap);
  if (b == NULL) {
    perror("tsvmm-agent: out of memory");
    abort();
  }
  b->next = NULL;
  b->len = 0;
  b->off = 0;
  b->cap = cap;
  return b;
}

void frame_start(struct frame *f, uint8_t type, uint32_t stream) {
  f->b = buf_new(256);
  f->failed = 0;
  f->b->len = HEADER_SIZE;
  f->b->data[4] = type;
  put_u32le(f->b->data + 5, stream);
}

/* Room for `n` more bytes, growing the buffer; fails (once, for good) past the payload limit. */
static unsigned char *frame_room(struct frame *f, size_t n) {
  if (f->failed) return NULL;
  if (f->b->len - HEADER_SIZE + n > MAX_PAYLOAD) {
    f->failed = 1;
    return NULL;
  }
  if (f->b->len + n > f->b->cap) {
    size_t cap = f->b->cap * 2;
    while (cap < f->b->len + n) cap *= 2;
    struct buf *grown = realloc(f->b, sizeof *grown + cap);
    if (grown == NULL) {
      perror("tsvmm-agent: out of memory");
      abort();
    }
    grown->cap = cap;
    f->b = grown;
  }
  unsigned char *p = f->b->data + f->b->len;
  f->b->len += n;
  return p;
}

void frame_bytes(struct frame *f, uint8_t tag, const void *val, size_t n) {
  unsigned char *p = frame_room(f, 5 + n);
  if (p == NULL) return;
  p[0] = tag;
  put_u32le(p + 1, (uint32_t)n);
  if (n > 0) memcpy(p + 5, val, n);
}

void frame_u32(struct frame *f, uint8_t tag, uint32_t v) {
  unsigned char le[4];
  put_u32le(le, v);
  frame_bytes(f, tag, le, 4);
}

void frame_u64(struct frame *f, uint8_t tag, uint64_t v) {
  unsigned char le[8];
  put_u32le(le, (uint32_t)v);
  put_u32le(le + 4, (uint32_t)(v >> 32));
  frame_bytes(f, tag, le, 8);
}

void frame_str(struct frame *f, uint8_t tag, const char *s) { frame_bytes(f, tag, s, strlen(s)); }

void frame_flag(struct frame *f, uint8_t tag) { frame_bytes(f, tag, NULL, 0); }

size_t frame_payload_len(const struct frame *f) { return f->b->len - HEADER_SIZE; }

void frame_drop(struct frame *f) {
  free(f->b);
  f->b = NULL;
}

void frame_send(struct frame *f, struct conn *c) {
  put_u32le(f->b->data, (uint32_t)(f->b->len - HEADER_SIZE));
  conn_queue(c, f->b);
  f->b = NULL;
}

void conn_queue(struct conn *c, struct buf *b) {
  if (c->dead) {
    free(b);
    return;
  }
  b->next = NULL;
  if (c->outq_tail != NULL) c->outq_tail->next = b;
  else c->outq = b;
  c->outq_tail = b;
  c->outq_bytes += b->len - b->off;
}

void send_simple(struct conn *c, uint8_t type, uint32_t stream) {
  struct frame f;
  frame_start(&f, type, stream);
  frame_send(&f, c);
}

void send_credit(struct conn *c, uint32_t stream, uint8_t channel, uint32_t bytes) {
  struct frame f;
  frame_start(&f, F_CREDIT, stream);
  unsigned char *p = frame_room(&f, 5);
  p[0] = channel;
  put_u32le(p + 1, bytes);
  frame_send(&f, c);
}

void send_error(struct conn *c, uint32_t stream, int err, const char *stage, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct frame f;
  frame_start(&f, F_ERROR, stream);
  frame_str(&f, T_ERRNO, errno_name(err));
  frame_str(&f, T_MESSAGE, msg);
  if (stage != NULL) frame_str(&f, T_STAGE, stage);
  frame_send(&f, c);
}

void fields_init(struct fields *fs, const unsigned char *p, size_t n) {
  fs->p = p;
  fs->end = p + n;
}

/* 1: `f` holds the next field; 0: the payload ended; -1: a field runs past the payload. */
int fields_next(struct fields *fs, struct field *f) {
  size_t left = (size_t)(fs->end - fs->p);
  if (left == 0) return 0;
  if (left < 5) return -1;
  f->tag = fs->p[0];
  f->len = get_u32le(fs->p + 1);
  if (f->len > left - 5) return -1;
  f->val = fs->p + 5;
  fs->p += 5 + f->len;
  return 1;
}

int fields_valid(const unsigned char *p, size_t n) {
  struct fields fs;
  struct field f;
  int r;
  fields_init(&fs, p, n);
  while ((r = fields_next(&fs, &f)) == 1) {}
  return r == 0;
}

int field_u32(const struct field *f, uint32_t *v) {
  if (f->len != 4) return -1;
  *v = get_u32le(f->val);
  return 0;
}

/* A NUL-terminated copy of a text field; -1 when it is longer than `max` or holds a NUL. */
int field_cstr(const struct field *f, char **out, size_t max) {
  if (f->len > max || memchr(f->val, 0, f->len) != NULL) return -1;
  char *s = malloc(f->len + 1);
  if (s == NULL) return -1;
  memcpy(s, f->val, f->len);
  s[f->len] = 0;
  *out = s;
  return 0;
}

/* The first field with `tag`: 1 found, 0 absent, -1 malformed. */
static int fields_find(const unsigned char *p, size_t n, uint8_t tag, struct field *out) {
  struct fields fs;
  int r;
  fields_init(&fs, p, n);
  while ((r = fields_next(&fs, out)) == 1) {
    if (out->tag == tag) return 1;
  }
  return r;
}

int fields_has(const unsigned char *p, size_t n, uint8_t tag) {
  struct field f;
  return fields_find(p, n, tag, &f) == 1;
}

/* 1 found (and *v set), 0 absent, -1 malformed or not four bytes. */
int fields_find_u32(const unsigned char *p, size_t n, uint8_t tag, uint32_t *v) {
  struct field f;
  int r = fields_find(p, n, tag, &f);
  if (r != 1) return r;
  return field_u32(&f, v) == 0 ? 1 : -1;
}

int fields_find_cstr(const unsigned char *p, size_t n, uint8_t tag, char **out) {
  struct field f;
  int r = fields_find(p, n, tag, &f);
  if (r != 1) return r;
  return field_cstr(&f, out, MAX_PATH_BYTES) == 0 ? 1 : -1;
}

const char *errno_name(int err) {
  switch (err) {
  case ENOENT: return "ENOENT";
  case EACCES: return "EACCES";
  case EPERM: return "EPERM";
  case EEXIST: return "EEXIST";
  case ENOTDIR: return "ENOTDIR";
  case EISDIR: return "EISDIR";
  case ENOTEMPTY: return "ENOTEMPTY";
  case EINVAL: return "EINVAL";
  case ENOSPC: return "ENOSPC";
  case EROFS: return "EROFS";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case ELOOP: return "ELOOP";
  case ENOEXEC: return "ENOEXEC";
  case E2BIG: return "E2BIG";
  case ENOMEM: return "ENOMEM";
  case EMFILE: return "EMFILE";
  case ENFILE: return "ENFILE";
  case EAGAIN: return "EAGAIN";
  case EBUSY: return "EBUSY";
  case EIO: return "EIO";
  case EFBIG: return "EFBIG";
  case ETXTBSY: return "ETXTBSY";
  case EBADF: return "EBADF";
  case ESRCH: return "ESRCH";
  case EPROTO: return "EPROTO";
  case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
  case EXDEV: return "EXDEV";
  case ECANCELED: return "ECANCELED";
  case ENXIO: return "ENXIO";
  default: return "EOTHER";
  }
}
