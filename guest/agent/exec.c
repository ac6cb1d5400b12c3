/*
 * Processes: started with fork and exec in a session of their own (so the host can signal the whole group), their
 * stdin, stdout and stderr on pipes, or all three on a pseudo-terminal. Output is read only as far as the host
 * has granted credit; stdin is queued up to the credit the agent granted. EXIT goes out after the process has
 * been reaped and its output drained: read until the pipes are empty (or, for a terminal, until its other side
 * closes); what descendants write after that is not delivered.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

static const char *const BASE_ENV[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"};

/* What a request asks for, owned until the process has started (or failed to). */
struct spawn {
  char **argv, **envp;
  int argc, envc;
  char *cwd;
  int set_uid, set_gid, pty;
  uint32_t uid, gid, rows, cols, window;
};

/* What the child reports through its close-on-exec pipe when a step before exec fails. */
struct child_failure {
  int stage;
  int err;
};

static const char *const STAGES[] = {"setsid", "pty", "setgid", "setuid", "chdir", "exec"};
enum { ST_SETSID, ST_PTY, ST_SETGID, ST_SETUID, ST_CHDIR, ST_EXEC };

static void spawn_free(struct spawn *sp) {
  for (int i = 0; i < sp->argc; i++) free(sp->argv[i]);
  for (int i = 0; i < sp->envc; i++) free(sp->envp[i]);
  free(sp->argv);
  free(sp->envp);
  free(sp->cwd);
}

/* Sets `entry` (KEY=VALUE) in the environment being built, replacing the same key. */
static void env_set(struct spawn *sp, char *entry) {
  size_t key = (size_t)(strchr(entry, '=') - entry);
  for (int i = 0; i < sp->envc; i++) {
    if (strncmp(sp->envp[i], entry, key + 1) == 0) {
      free(sp->envp[i]);
      sp->envp[i] = entry;
      return;
    }
  }
  sp->envp[sp->envc++] = entry;
}

static int parse_field(struct spawn *sp, const struct field *f, const char **why) {
  char *text = NULL;
  switch (f->tag) {
  case T_ARG:
    if (sp->argc >= MAX_ARGS) return *why = "too many ARG fields", -1;
    if (field_cstr(f, &text, MAX_PAYLOAD) < 0) return *why = "an ARG holds a NUL byte", -1;
    sp->argv[sp->argc++] = text;
    return 0;
  case T_ENV:
    if (sp->envc >= MAX_ENV) return *why = "too many ENV fields", -1;
    if (field_cstr(f, &text, MAX_PAYLOAD) < 0 || strchr(text, '=') == NULL || text[0] == '=') {
      free(text);
      return *why = "an ENV field is not KEY=VALUE", -1;
    }
    env_set(sp, text);
    return 0;
  case T_CWD:
    free(sp->cwd);
    sp->cwd = NULL;
    return field_cstr(f, &sp->cwd, MAX_PATH_BYTES) < 0 ? (*why = "CWD is too long or holds a NUL", -1) : 0;
  case T_UID: sp->set_uid = 1; return field_u32(f, &sp->uid) < 0 ? (*why = "UID is not four bytes", -1) : 0;
  case T_GID: sp->set_gid = 1; return field_u32(f, &sp->gid) < 0 ? (*why = "GID is not four bytes", -1) : 0;
  case T_PTY: sp->pty = 1; return 0;
  case T_ROWS: return field_u32(f, &sp->rows) < 0 ? (*why = "ROWS is not four bytes", -1) : 0;
  case T_COLS: return field_u32(f, &sp->cols) < 0 ? (*why = "COLS is not four bytes", -1) : 0;
  case T_WINDOW: return field_u32(f, &sp->window) < 0 ? (*why = "WINDOW is not four bytes", -1) : 0;
  default: return 0; /* a field this version does not know: ignored, so newer hosts can add optional ones */
  }
}

static int parse_spawn(struct spawn *sp, const unsigned char *p, size_t n, const char **why) {
  memset(sp, 0, sizeof *sp);
  sp->argv = calloc(MAX_ARGS + 1, sizeof *sp->argv);
  sp->envp = calloc(MAX_ENV + 4, sizeof *sp->envp);
  if (sp->argv == NULL || sp->envp == NULL) return *why = "out of memory", -1;
  for (size_t i = 0; i < sizeof BASE_ENV / sizeof BASE_ENV[0]; i++) sp->envp[sp->envc++] = strdup(BASE_ENV[i]);
  struct fields fs;
  struct field f;
  fields_init(&fs, p, n);
  while (fields_next(&fs, &f) == 1) {
    if (parse_field(sp, &f, why) < 0) return -1;
  }
  if (sp->argc == 0) return *why = "no ARG field (argv is empty)", -1;
  if (sp->pty) {
    int has_term = 0;
    for (int i = 0; i < sp->envc; i++) has_term |= strncmp(sp->envp[i], "TERM=", 5) == 0;
    if (!has_term) sp->envp[sp->envc++] = strdup("TERM=xterm");
  }
  return 0;
}

static void child_fail(int report, int stage) {
  struct child_failure cf = {stage, errno};
  ssize_t w = write(report, &cf, sizeof cf);
  (void)w;
  _exit(127);
}

/* In the child: never returns. `fds` are the ends it keeps: stdin, stdout, stderr (or the terminal's name). */
static void child(struct spawn *sp, int fds[3], const char *tty, int report) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  if (setsid() < 0) child_fail(report, ST_SETSID);
  if (tty != NULL) {
    int t = open(tty, O_RDWR);
    if (t < 0 || ioctl(t, TIOCSCTTY, 0) < 0) child_fail(report, ST_PTY);
    fds[0] = fds[1] = fds[2] = t;
  }
  for (int i = 0; i < 3; i++) {
    if (dup2(fds[i], i) < 0) child_fail(report, ST_PTY);
  }
  if (sp->set_gid) {
    gid_t g = sp->gid;
    if (setgroups(1, &g) < 0 && errno != EPERM) child_fail(report, ST_SETGID);
    if (setgid(g) < 0) child_fail(report, ST_SETGID);
  }
  if (sp->set_uid && setuid(sp->uid) < 0) child_fail(report, ST_SETUID);
  if (sp->cwd != NULL && chdir(sp->cwd) < 0) child_fail(report, ST_CHDIR);
  environ = sp->envp;
  execvp(sp->argv[0], sp->argv);
  child_fail(report, ST_EXEC);
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static void close_all(int *fds, int n) {
  for (int i = 0; i < n; i++) {
    if (fds[i] >= 0) close(fds[i]);
    fds[i] = -1;
  }
}

/* Opens the pipes (or the terminal): parent[] are the agent's ends (stdin, stdout, stderr), kid[] the child's. */
static int open_stdio(struct spawn *sp, int parent[3], int kid[3], char *tty, size_t ttylen) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  if (sp->pty) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, tty, ttylen) != 0) {
      if (m >= 0) close(m);
      return -1;
    }
    struct winsize ws = {.ws_row = (unsigned short)(sp->rows ? sp->rows : 24), .ws_col = (unsigned short)(sp->cols ? sp->cols : 80)};
    ioctl(m, TIOCSWINSZ, &ws);
    parent[0] = fcntl(m, F_DUPFD_CLOEXEC, 3);
    parent[1] = m;
    parent[2] = -1;
    kid[0] = kid[1] = kid[2] = -1;
    return parent[0] < 0 ? (close(m), -1) : 0;
  }
  if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
    int all[6] = {in[0], in[1], out[0], out[1], err[0], err[1]};
    close_all(all, 6);
    return -1;
  }
  parent[0] = in[1];
  parent[1] = out[0];
  parent[2] = err[0];
  kid[0] = in[0];
  kid[1] = out[1];
  kid[2] = err[1];
  return 0;
}

/* Forks and execs; 0 with the pid, or -1 with the failing stage in *stage and errno set. */
static int start(struct spawn *sp, int parent[3], pid_t *pid, int *stage) {
  int kid[3];
  char tty[128];
  int report[2];
  *stage = ST_PTY;
  if (open_stdio(sp, parent, kid, tty, sizeof tty) < 0) return -1;
  if (pipe2(report, O_CLOEXEC) < 0) {
    close_all(parent, 3);
    close_all(kid, 3);
    return -1;
  }
  *pid = fork();
  if (*pid == 0) child(sp, kid, sp->pty ? tty : NULL, report[1]);
  int fork_errno = errno;
  close(report[1]);
  close_all(kid, 3);
  if (*pid < 0) {
    close(report[0]);
    close_all(parent, 3);
    *stage = ST_EXEC;
    errno = fork_errno;
    return -1;
  }
  struct child_failure cf;
  ssize_t r;
  do r = read(report[0], &cf, sizeof cf); while (r < 0 && errno == EINTR);
  close(report[0]);
  if (r != (ssize_t)sizeof cf) return 0;
  /* It failed before exec and has exited (or is about to): reap it here, the loop will not see it. */
  while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR) {}
  close_all(parent, 3);
  *stage = cf.stage >= 0 && cf.stage <= ST_EXEC ? cf.stage : ST_EXEC;
  errno = cf.err;
  return -1;
}

void exec_request(struct conn *c, uint32_t id, const unsigned char *p, size_t n) {
  struct spawn sp;
  const char *why = NULL;
  if (parse_spawn(&sp, p, n, &why) < 0) {
    send_error(c, id, EINVAL, NULL, "EXEC: %s", why);
    spawn_free(&sp);
    return;
  }
  int parent[3] = {-1, -1, -1};
  pid_t pid = -1;
  int stage = ST_EXEC;
  if (start(&sp, parent, &pid, &stage) < 0) {
    int err = errno;
    const char *what = stage == ST_CHDIR && sp.cwd != NULL ? sp.cwd : sp.argv[0];
    send_error(c, id, err, STAGES[stage], "%s %s: %s", STAGES[stage], what, strerror(err));
    spawn_free(&sp);
    return;
  }
  struct stream *s = stream_new(c, id, S_EXEC);
  s->pid = pid;
  s->pty = sp.pty;
  s->in_fd = parent[0];
  s->out_fd = parent[1];
  s->err_fd = parent[2];
  for (int i = 0; i < 3; i++) {
    if (parent[i] >= 0) set_nonblock(parent[i]);
  }
  s->out_credit = s->err_credit = sp.window;
  s->in_allowed = INPUT_WINDOW;
  struct frame f;
  frame_start(&f, F_STARTED, id);
  frame_u32(&f, T_PID, (uint32_t)pid);
  frame_u32(&f, T_WINDOW, INPUT_WINDOW);
  frame_send(&f, c);
  spawn_free(&sp);
}
