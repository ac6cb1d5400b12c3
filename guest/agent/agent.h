/*
 * tsvmm-agent: the guest side of the sandbox protocol (docs/agent-protocol.md). One process, one thread, one
 * poll() loop: connections from the host, the pipes or terminals of the processes it runs, and a signalfd for
 * SIGCHLD. Every length the host sends is checked against the limits below before it is used.
 */
#ifndef TSVMM_AGENT_H
#define TSVMM_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROTOCOL_VERSION 1u
#define AGENT_NAME "tsvmm-agent 0.1.0"
#define DEFAULT_PORT 1024u

/* Limits (docs/agent-protocol.md lists them too). */
#define HEADER_SIZE 9u
#define MAX_PAYLOAD (1u << 20)
#define DATA_CHUNK (64u * 1024u)
#define INPUT_WINDOW (1u << 20)
#define OUTQ_HIGH (1u << 20)
#define MAX_CONNS 64
#define MAX_STREAMS 1024
#define MAX_ARGS 4096
#define MAX_ENV 4096
#define MAX_PATH_BYTES 4095u
#define HELLO_TIMEOUT_MS 10000
#define PTY_DRAIN_MS 2000

enum frame_type {
  F_HELLO = 0x01, F_HELLO_OK = 0x02, F_PING = 0x03, F_PONG = 0x04,
  F_EXEC = 0x10, F_STARTED = 0x11, F_EXIT = 0x12, F_SIGNAL = 0x13, F_RESIZE = 0x14,
  F_FILE_WRITE = 0x20, F_FILE_READ = 0x21, F_STAT = 0x22, F_LIST = 0x23, F_MKDIR = 0x24, F_REMOVE = 0x25,
  F_READY = 0x28, F_ENTRIES = 0x29, F_DONE = 0x2a,
  F_DATA_IN = 0x30, F_DATA_OUT = 0x31, F_DATA_ERR = 0x32, F_EOF_IN = 0x33, F_CREDIT = 0x34, F_CANCEL = 0x35,
  F_ERROR = 0x3f,
};

enum tag {
  T_VERSION = 1, T_NAME = 2, T_CAP = 3, T_MAX_FRAME = 4, T_MAX_STREAMS = 5,
  T_ARG = 10, T_ENV = 11, T_CWD = 12, T_UID = 13, T_GID = 14, T_PTY = 15, T_ROWS = 16, T_COLS = 17, T_WINDOW = 18,
  T_PID = 20, T_CODE = 21, T_SIGNO = 22, T_GROUP = 23,
  T_PATH = 30, T_MODE = 31, T_SIZE = 32, T_MTIME = 33, T_KIND = 34, T_ENTRY = 35, T_PARENTS = 36,
  T_RECURSIVE = 37, T_APPEND = 38, T_TARGET = 39, T_COUNT = 40,
  T_ERRNO = 50, T_MESSAGE = 51, T_STAGE = 52,
};

enum channel { CH_IN = 0, CH_OUT = 1, CH_ERR = 2 };

/* A queued outgoing frame (or any bytes): written from `off` to `len`. */
struct buf {
  struct buf *next;
  size_t len, off, cap;
  unsigned char data[];
};

/* A frame being built: header first, then fields. `failed` is set when it would pass MAX_PAYLOAD. */
struct frame {
  struct buf *b;
  int failed;
};

struct field {
  uint8_t tag;
  uint32_t len;
  const unsigned char *val;
};

/* A request's payload, walked field by field. */
struct fields {
  const unsigned char *p, *end;
};

enum stream_kind { S_EXEC, S_WRITE, S_READ };

struct conn;

struct stream {
  struct stream *next;
  struct conn *conn;
  uint32_t id;
  enum stream_kind kind;
  int dead;
  /* exec */
  pid_t pid;
  int exited, status, pty;
  int in_fd, out_fd, err_fd;
  uint32_t out_credit, err_credit;
  struct buf *inq, *inq_tail;
  size_t inq_bytes;
  int in_eof;             /* the host closed stdin: close the pipe once the queue is written */
  int eof_char_queued;    /* a terminal's EOF character is the last queued input byte */
  uint32_t in_allowed;    /* input bytes the host may still send (its credit) */
  long long drain_deadline;
  /* file read / write */
  int file_fd;
  uint64_t file_bytes;
};

struct conn {
  struct conn *next;
  int fd;
  int dead, closing, hello;
  long long deadline;      /* before HELLO: when to give up on it; closing: when to stop waiting for the flush */
  unsigned char hdr[HEADER_SIZE];
  uint32_t hdr_got;
  unsigned char *payload;
  uint32_t plen, pgot;
  struct buf *outq, *outq_tail;
  size_t outq_bytes;
  struct stream *streams;
  int nstreams;
};

/* wire.c */
struct buf *buf_new(size_t cap);
void frame_start(struct frame *f, uint8_t type, uint32_t stream);
void frame_u32(struct frame *f, uint8_t tag, uint32_t v);
void frame_u64(struct frame *f, uint8_t tag, uint64_t v);
void frame_bytes(struct frame *f, uint8_t tag, const void *p, size_t n);
void frame_str(struct frame *f, uint8_t tag, const char *s);
void frame_flag(struct frame *f, uint8_t tag);
size_t frame_payload_len(const struct frame *f);
void frame_send(struct frame *f, struct conn *c);
void frame_drop(struct frame *f);
void conn_queue(struct conn *c, struct buf *b);
void send_simple(struct conn *c, uint8_t type, uint32_t stream);
void send_credit(struct conn *c, uint32_t stream, uint8_t channel, uint32_t bytes);
void send_error(struct conn *c, uint32_t stream, int err, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void fields_init(struct fields *fs, const unsigned char *p, size_t n);
int fields_next(struct fields *fs, struct field *f);
int field_u32(const struct field *f, uint32_t *v);
int field_cstr(const struct field *f, char **out, size_t max);
int fields_valid(const unsigned char *p, size_t n);
int fields_find_u32(const unsigned char *p, size_t n, uint8_t tag, uint32_t *v);
int fields_has(const unsigned char *p, size_t n, uint8_t tag);
int fields_find_cstr(const unsigned char *p, size_t n, uint8_t tag, char **out);
uint32_t get_u32le(const unsigned char *p);
void put_u32le(unsigned char *p, uint32_t v);
const char *errno_name(int err);

/* main.c */
long long now_ms(void);
struct stream *stream_new(struct conn *c, uint32_t id, enum stream_kind kind);
struct stream *stream_find(struct conn *c, uint32_t id);
void stream_end(struct stream *s);
int conn_backlogged(const struct conn *c);
void conn_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct stream *stream_by_pid(pid_t pid);

/* conn.c */
void conn_read(struct conn *c);
void conn_flush(struct conn *c);
void conn_close(struct conn *c);

/* exec.c */
void exec_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n);
void exec_signal(struct stream *s, const unsigned char *p, size_t n);
void exec_resize(struct stream *s, const unsigned char *p, size_t n);
void exec_input(struct stream *s, const unsigned char *p, size_t n);
void exec_input_eof(struct stream *s);
void exec_credit(struct stream *s, uint8_t channel, uint32_t bytes);
void exec_reaped(pid_t pid, int status);
int exec_pump(struct stream *s);
void exec_read_output(struct stream *s, int channel);
void exec_write_input(struct stream *s);
void exec_release(struct stream *s, int kill_group);
void exec_try_finish(struct stream *s);

/* files.c */
void file_write_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n);
void file_read_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n);
void file_stat_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n);
void file_list_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n);
void file_mkdir_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n);
void file_remove_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n);
void file_input(struct stream *s, const unsigned char *p, size_t n);
void file_input_eof(struct stream *s);
void file_credit(struct stream *s, uint32_t bytes);
int file_pump(struct stream *s);
void file_release(struct stream *s);

/* files-meta.c */
char *file_request_path(struct conn *c, uint32_t id, const unsigned char *p, size_t n);
void file_error(struct conn *c, uint32_t id, const char *stage, const char *path);
int mkdir_all(char *path, mode_t mode);

#endif
