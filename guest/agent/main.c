/*
 * tsvmm-agent: serves the sandbox protocol (docs/agent-protocol.md) on a vsock port, or, for tests on the host,
 * on a unix socket. Usage:
 *
 *   tsvmm-agent [--port N]          listen on vsock port N (default: tsvmm.agent_port= on the kernel command
 *                                   line, else 1024)
 *   tsvmm-agent --listen-unix PATH  listen on a unix socket instead (the same serving code, without vsock)
 *   --no-signalfd                   learn of children's ends through a signal handler and a pipe, as on a kernel
 *                                   without signalfd (for tests)
 *
 * Run by busybox init (respawned if it dies) or as PID 1 itself: then it mounts /proc, /sys, /dev, /dev/pts and
 * /tmp first (and /run and /var/tmp when the root is read-only). Either way it is a child subreaper, so it reaps every descendant that its processes orphan.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static struct conn *conns;
static int nconns;
static int listen_fd = -1;
static int sig_fd = -1;

long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct stream *stream_by_pid(pid_t pid) {
  for (struct conn *c = conns; c != NULL; c = c->next) {
    for (struct stream *s = c->streams; s != NULL; s = s->next) {
      if (!s->dead && s->kind == S_EXEC && s->pid == pid) return s;
    }
  }
  return NULL;
}

/* tsvmm.agent_port=N on the kernel command line, or 0. */
static unsigned port_from_cmdline(void) {
  char line[4096];
  FILE *f = fopen("/proc/cmdline", "re");
  if (f == NULL) return 0;
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = 0;
  const char *key = "tsvmm.agent_port=";
  for (char *p = strstr(line, key); p != NULL; p = strstr(p + 1, key)) {
    if (p != line && p[-1] != ' ') continue;
    char *end;
    unsigned long v = strtoul(p + strlen(key), &end, 10);
    if (end != p + strlen(key) && v > 0 && v <= 0xffffffffUL) return (unsigned)v;
  }
  return 0;
}

/* A process started with fd 0, 1 or 2 closed would hand those numbers to its pipes, and dup2 onto them is a no-op. */
static void ensure_stdio(void) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0 && null != fd) {
      dup2(null, fd);
      close(null);
    }
  }
}

/* A directory on another device than its parent is a mount point (a file system mounted twice would stack). */
static int is_mount_point(const char *dir) {
  char parent[256];
  struct stat a, b;
  snprintf(parent, sizeof parent, "%s/..", dir);
  return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static void mount_if_missing(const char *type, const char *dir, const char *options) {
  mkdir(dir, 0755);
  if (is_mount_point(dir)) return;
  if (mount(type, dir, type, MS_NOSUID, options) < 0) {
    fprintf(stderr, "tsvmm-agent: mount %s on %s: %s\n", type, dir, strerror(errno));
  }
}

/* The bytes `tsvmm.tmp_size=` on the kernel command line gives the tmpfs mounts (the host's diskSize), or 0. */
static unsigned long long tmp_size_param(void) {
  char line[4096];
  FILE *f = fopen("/proc/cmdline", "r");
  if (f == NULL) return 0;
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = '\0';
  const char *key = "tsvmm.tmp_size=";
  for (char *p = strstr(line, key); p != NULL; p = strstr(p + 1, key)) {
    if (p != line && p[-1] != ' ') continue;
    return strtoull(p + strlen(key), NULL, 10);
  }
  return 0;
}

static void mount_tmpfs(const char *dir, const char *mode, unsigned long long size) {
  char options[64];
  if (size > 0) snprintf(options, sizeof options, "mode=%s,size=%llu", mode, size);
  else snprintf(options, sizeof options, "mode=%s", mode);
  mount_if_missing("tmpfs", dir, options);
}

static void pid1_setup(void) {
  mount_if_missing("proc", "/proc", NULL);
  mount_if_missing("sysfs", "/sys", NULL);
  mount_if_missing("devtmpfs", "/dev", NULL);
  mount_if_missing("devpts", "/dev/pts", "mode=0620,ptmxmode=0666");
  unsigned long long size = tmp_size_param();
  mount_tmpfs("/tmp", "1777", size);
  /* A read-only root (an image that many sandboxes share) leaves commands nowhere else to write: /run and /var/tmp
   * get a tmpfs too. A writable root keeps its own. */
  struct statvfs root;
  if (statvfs("/", &root) == 0 && (root.f_flag & ST_RDONLY)) {
    mount_tmpfs("/run", "0755", size);
    mount_tmpfs("/var/tmp", "1777", size);
  }
}

static int listen_vsock(unsigned port) {
  int announced = 0;
  for (;;) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 64) == 0) return fd;
    /* The vsock driver may not have probed yet: wait for it rather than exit (init would respawn us anyway). */
    if (!announced) fprintf(stderr, "tsvmm-agent: vsock port %u not ready (%s); retrying\n", port, strerror(errno));
    announced = 1;
    if (fd >= 0) close(fd);
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
}

static int listen_unix(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    fprintf(stderr, "tsvmm-agent: --listen-unix path is longer than %zu bytes\n", sizeof sa.sun_path - 1);
    exit(2);
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
    fprintf(stderr, "tsvmm-agent: listening on %s: %s\n", path, strerror(errno));
    exit(1);
  }
  return fd;
}

static void accept_conns(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    if (nconns >= MAX_CONNS) {
      fprintf(stderr, "tsvmm-agent: refusing a connection: %d are open\n", nconns);
      close(fd);
      continue;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
      close(fd);
      return;
    }
    c->fd = fd;
    c->deadline = now_ms() + HELLO_TIMEOUT_MS;
    c->next = conns;
    conns = c;
    nconns++;
  }
}

static void reap(void) {
  /* Whole signalfd records, or any number of self-pipe bytes: either way, drained until empty. */
  struct signalfd_siginfo si[4];
  while (read(sig_fd, si, sizeof si) > 0) {}
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) exec_reaped(pid, status);
}

/* Work that no fd announces: draining an exited process's pipes, reading files. 1 when more is ready at once. */
static int pump(void) {
  int again = 0;
  for (struct conn *c = conns; c != NULL; c = c->next) {
    for (struct stream *s = c->streams; s != NULL && !c->dead; s = s->next) {
      if (s->dead) continue;
      again |= s->kind == S_EXEC ? exec_pump(s) : file_pump(s);
    }
  }
  return again;
}

static void expire(long long now) {
  for (struct conn *c = conns; c != NULL; c = c->next) {
    if (c->dead) continue;
    if (c->deadline != 0 && now >= c->deadline) {
      if (!c->hello) fprintf(stderr, "tsvmm-agent: closing a connection: no HELLO within %d ms\n", HELLO_TIMEOUT_MS);
      conn_close(c);
      continue;
    }
    for (struct stream *s = c->streams; s != NULL; s = s->next) {
      if (s->dead || s->kind != S_EXEC || s->drain_deadline == 0 || now < s->drain_deadline) continue;
      if (s->out_credit == 0 || conn_backlogged(c)) {
        /* Waiting for the host, not for the terminal: the output is there and must not be cut off. */
        s->drain_deadline = now + PTY_DRAIN_MS;
        continue;
      }
      /* A terminal whose other side something still holds open after the process ended: stop waiting for it. */
      if (s->out_fd >= 0) close(s->out_fd);
      s->out_fd = -1;
      exec_try_finish(s);
    }
  }
}

static long long next_deadline(void) {
  long long next = 0;
  for (struct conn *c = conns; c != NULL; c = c->next) {
    if (c->dead) continue;
    if (c->deadline != 0 && (next == 0 || c->deadline < next)) next = c->deadline;
    for (struct stream *s = c->streams; s != NULL; s = s->next) {
      if (!s->dead && s->drain_deadline != 0 && (next == 0 || s->drain_deadline < next)) next = s->drain_deadline;
    }
  }
  return next;
}

static void sweep(void) {
  for (struct conn **cp = &conns; *cp != NULL;) {
    struct conn *c = *cp;
    for (struct stream **sp = &c->streams; *sp != NULL;) {
      struct stream *s = *sp;
      if (s->dead || c->dead) {
        *sp = s->next;
        free(s);
      } else {
        sp = &s->next;
      }
    }
    if (c->dead) {
      *cp = c->next;
      free(c);
      nconns--;
    } else {
      cp = &c->next;
    }
  }
}

enum slot_kind { P_LISTEN, P_SIGNAL, P_CONN, P_OUT, P_ERR, P_IN };

struct slot {
  enum slot_kind kind;
  struct conn *c;
  struct stream *s;
};

static struct pollfd *pfds;
static struct slot *slots;
static size_t nslots, slots_cap;

static void watch(int fd, short events, enum slot_kind kind, struct conn *c, struct stream *s) {
  if (nslots == slots_cap) {
    slots_cap = slots_cap ? slots_cap * 2 : 64;
    pfds = realloc(pfds, slots_cap * sizeof *pfds);
    slots = realloc(slots, slots_cap * sizeof *slots);
    if (pfds == NULL || slots == NULL) {
      perror("tsvmm-agent: out of memory");
      abort();
    }
  }
  pfds[nslots] = (struct pollfd){.fd = fd, .events = events};
  slots[nslots] = (struct slot){.kind = kind, .c = c, .s = s};
  nslots++;
}

/* What to wait for: a connection's output fds only while it has credit and the socket is keeping up. */
static void collect(void) {
  nslots = 0;
  watch(listen_fd, POLLIN, P_LISTEN, NULL, NULL);
  watch(sig_fd, POLLIN, P_SIGNAL, NULL, NULL);
  for (struct conn *c = conns; c != NULL; c = c->next) {
    if (c->dead) continue;
    int reading = !c->closing && !conn_backlogged(c);
    watch(c->fd, (short)((reading ? POLLIN : 0) | (c->outq != NULL ? POLLOUT : 0)), P_CONN, c, NULL);
    for (struct stream *s = c->streams; s != NULL; s = s->next) {
      if (s->dead || s->kind != S_EXEC) continue;
      if (s->in_fd >= 0 && s->inq != NULL) watch(s->in_fd, POLLOUT, P_IN, c, s);
      if (!reading) continue;
      if (s->out_fd >= 0 && s->out_credit > 0) watch(s->out_fd, POLLIN, P_OUT, c, s);
      if (s->err_fd >= 0 && s->err_credit > 0) watch(s->err_fd, POLLIN, P_ERR, c, s);
    }
  }
}

static void handle(size_t i) {
  short re = pfds[i].revents;
  struct slot *sl = &slots[i];
  int fd = pfds[i].fd;
  if (re == 0) return;
  switch (sl->kind) {
  case P_LISTEN: accept_conns(); return;
  case P_SIGNAL: reap(); return;
  case P_CONN:
    if (sl->c->dead || sl->c->fd != fd) return;
    if (re & (POLLIN | POLLHUP | POLLERR)) conn_read(sl->c);
    /* Not reading (closing, or the host is behind): a hangup shows up as a failed write. */
    if (!sl->c->dead && (re & (POLLOUT | POLLHUP | POLLERR))) conn_flush(sl->c);
    return;
  case P_OUT:
    if (!sl->s->dead && sl->s->out_fd == fd) exec_read_output(sl->s, CH_OUT);
    return;
  case P_ERR:
    if (!sl->s->dead && sl->s->err_fd == fd) exec_read_output(sl->s, CH_ERR);
    return;
  case P_IN:
    if (!sl->s->dead && sl->s->in_fd == fd) exec_write_input(sl->s);
    return;
  }
}

static void serve(void) {
  for (;;) {
    int busy = pump();
    collect();
    int timeout = -1;
    long long deadline = next_deadline();
    if (busy) {
      timeout = 0;
    } else if (deadline != 0) {
      long long wait = deadline - now_ms();
      timeout = wait < 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
    }
    int n = poll(pfds, (nfds_t)nslots, timeout);
    if (n < 0 && errno != EINTR) {
      perror("tsvmm-agent: poll");
      abort();
    }
    for (size_t i = 0; n > 0 && i < nslots; i++) handle(i);
    for (struct conn *c = conns; c != NULL; c = c->next) {
      if (!c->dead && c->outq != NULL) conn_flush(c);
    }
    expire(now_ms());
    sweep();
  }
}

/* The self-pipe's write end, for kernels built without signalfd (CONFIG_SIGNALFD is an EXPERT option). */
static int sig_pipe_w = -1;

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  ssize_t w = write(sig_pipe_w, "c", 1);
  (void)w;
  errno = saved;
}

/* SIGCHLD as something poll can watch: a signalfd, or where the kernel has none, a handler that writes to a pipe. */
static int child_signals(int use_signalfd) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  if (use_signalfd) {
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd >= 0) return fd;
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    fprintf(stderr, "tsvmm-agent: no signalfd (%s); children's ends come through a pipe\n", strerror(errno));
  }
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
    fprintf(stderr, "tsvmm-agent: pipe: %s\n", strerror(errno));
    exit(1);
  }
  sig_pipe_w = p[1];
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  return p[0];
}

int main(int argc, char **argv) {
  const char *unix_path = NULL;
  unsigned port = 0;
  int use_signalfd = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--listen-unix") == 0 && i + 1 < argc) {
      unix_path = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = (unsigned)strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--no-signalfd") == 0) {
      use_signalfd = 0; /* for tests: the path a kernel without signalfd takes */
    } else if (getpid() == 1) {
      /* The kernel hands init the command line's words it does not know: ending here would panic the guest. */
      fprintf(stderr, "tsvmm-agent: ignoring the argument %s\n", argv[i]);
    } else {
      fprintf(stderr, "usage: tsvmm-agent [--port N | --listen-unix PATH] [--no-signalfd]\n");
      return 2;
    }
  }
  if (getpid() == 1) pid1_setup();
  ensure_stdio();
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  /* An ignored SIGCHLD is inherited across exec (busybox init respawns us so): children would then be reaped by the
   * kernel, no SIGCHLD would come, and no exec would ever report its end. */
  signal(SIGCHLD, SIG_DFL);
  sig_fd = child_signals(use_signalfd);
  if (unix_path != NULL) {
    listen_fd = listen_unix(unix_path);
    fprintf(stderr, "tsvmm-agent: protocol %u, listening on %s\n", PROTOCOL_VERSION, unix_path);
  } else {
    if (port == 0) port = port_from_cmdline();
    if (port == 0) port = DEFAULT_PORT;
    listen_fd = listen_vsock(port);
    fprintf(stderr, "tsvmm-agent: protocol %u, listening on vsock port %u\n", PROTOCOL_VERSION, port);
  }
  serve();
  return 0;
}
