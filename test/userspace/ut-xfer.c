/*
 * ut-xfer: moves bytes over TCP or vsock for the Linux user-space suite (busybox has no vsock client, and its nc
 * differs between builds in how it treats end of input). Static, no dependencies beyond libc.
 *
 *   ut-xfer send ADDR     stdin to the peer, then shut down our side and copy what the peer answers to stdout
 *   ut-xfer recv ADDR     what the peer sends, to stdout, until it closes
 *   ut-xfer echo PORT     accept one vsock connection on PORT and send every byte back until the peer shuts down
 *
 * ADDR is tcp:A.B.C.D:PORT or vsock:CID:PORT. Exit status 0 only when every byte was written whole.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "ut-xfer: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Copies in to out until in ends; returns the byte count, or -1 on an error. */
static long long pump(int in, int out) {
  static char buf[1 << 16];
  long long total = 0;
  for (;;) {
    ssize_t r = read(in, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return total;
    if (write_all(out, buf, (size_t)r) < 0) return -1;
    total += r;
  }
}

static int dial(const char *addr) {
  char host[64];
  unsigned port, cid;
  if (sscanf(addr, "vsock:%u:%u", &cid, &port) == 2) {
    struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) die("socket(AF_VSOCK)");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect (vsock)");
    return fd;
  }
  if (sscanf(addr, "tcp:%63[0-9.]:%u", host, &port) == 2) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) { errno = EINVAL; die(addr); }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket(AF_INET)");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect (tcp)");
    return fd;
  }
  errno = EINVAL;
  die(addr);
  return -1;
}

static int echo_once(unsigned port) {
  struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
  int ls = socket(AF_VSOCK, SOCK_STREAM, 0);
  if (ls < 0) die("socket(AF_VSOCK)");
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind (vsock)");
  if (listen(ls, 1) < 0) die("listen");
  printf("ut-xfer: listening on vsock port %u\n", port);
  fflush(stdout);
  int fd = accept(ls, NULL, NULL);
  if (fd < 0) die("accept");
  long long n = pump(fd, fd);
  if (n < 0) die("echo");
  printf("ut-xfer: echoed %lld bytes\n", n);
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ut-xfer send|recv ADDR | ut-xfer echo PORT\n");
    return 2;
  }
  if (strcmp(argv[1], "echo") == 0) return echo_once((unsigned)strtoul(argv[2], NULL, 10));
  int fd = dial(argv[2]);
  if (strcmp(argv[1], "send") == 0) {
    if (pump(0, fd) < 0) die("send");
    if (shutdown(fd, SHUT_WR) < 0) die("shutdown");
  } else if (strcmp(argv[1], "recv") != 0) {
    fprintf(stderr, "ut-xfer: unknown mode %s\n", argv[1]);
    return 2;
  }
  if (pump(fd, 1) < 0) die("receive");
  return 0;
}
