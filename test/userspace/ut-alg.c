// ut-alg: one symmetric cipher operation through the kernel's AF_ALG sockets, for the Linux user-space proof of
// virtio-crypto. The algorithm is named by its driver (for example virtio_crypto_aes_cbc), so the kernel cannot
// quietly pick its generic software implementation instead, and the host compares the result with node:crypto.
//
//   ut-alg <driver> enc|dec <key-hex> <iv-hex> <data-hex>
//
// Prints the result as one line of hex on stdout.
#include <errno.h>
#include <linux/if_alg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

#define MAX_BYTES 4096

static void die(const char *what) {
  fprintf(stderr, "ut-alg: %s: %s\n", what, strerror(errno));
  exit(1);
}

static size_t unhex(const char *s, unsigned char *out, size_t cap, const char *what) {
  size_t n = strlen(s);
  if (n % 2 != 0 || n / 2 > cap) {
    fprintf(stderr, "ut-alg: %s: odd length or longer than %zu bytes\n", what, cap);
    exit(2);
  }
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) {
      fprintf(stderr, "ut-alg: %s: not hex at %zu\n", what, 2 * i);
      exit(2);
    }
    out[i] = (unsigned char)v;
  }
  return n / 2;
}

int main(int argc, char **argv) {
  if (argc != 6 || (strcmp(argv[2], "enc") != 0 && strcmp(argv[2], "dec") != 0)) {
    fprintf(stderr, "usage: ut-alg <driver> enc|dec <key-hex> <iv-hex> <data-hex>\n");
    return 2;
  }
  static unsigned char key[64], iv[32], data[MAX_BYTES], out[MAX_BYTES];
  size_t keylen = unhex(argv[3], key, sizeof key, "key");
  size_t ivlen = unhex(argv[4], iv, sizeof iv, "iv");
  size_t len = unhex(argv[5], data, sizeof data, "data");

  struct sockaddr_alg sa = { .salg_family = AF_ALG };
  strcpy((char *)sa.salg_type, "skcipher");
  if (strlen(argv[1]) >= sizeof sa.salg_name) { fprintf(stderr, "ut-alg: driver name too long\n"); return 2; }
  strcpy((char *)sa.salg_name, argv[1]);
  int tfm = socket(AF_ALG, SOCK_SEQPACKET, 0);
  if (tfm < 0) die("socket(AF_ALG)");
  if (bind(tfm, (struct sockaddr *)&sa, sizeof sa) != 0) die("bind (is the driver registered?)");
  if (setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, (socklen_t)keylen) != 0) die("ALG_SET_KEY");
  int op = accept(tfm, NULL, 0);
  if (op < 0) die("accept");

  // One message: the operation, the IV (struct af_alg_iv: a length, then the bytes), and the data.
  char cbuf[CMSG_SPACE(sizeof(__u32)) + CMSG_SPACE(sizeof(struct af_alg_iv) + sizeof iv)];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec io = { .iov_base = data, .iov_len = len };
  struct msghdr msg = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = cbuf,
    .msg_controllen = CMSG_SPACE(sizeof(__u32)) + CMSG_SPACE(sizeof(struct af_alg_iv) + ivlen) };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_ALG;
  c->cmsg_type = ALG_SET_OP;
  c->cmsg_len = CMSG_LEN(sizeof(__u32));
  *(__u32 *)CMSG_DATA(c) = strcmp(argv[2], "enc") == 0 ? ALG_OP_ENCRYPT : ALG_OP_DECRYPT;
  c = CMSG_NXTHDR(&msg, c);
  c->cmsg_level = SOL_ALG;
  c->cmsg_type = ALG_SET_IV;
  c->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + ivlen);
  struct af_alg_iv *aiv = (struct af_alg_iv *)CMSG_DATA(c);
  aiv->ivlen = (__u32)ivlen;
  memcpy(aiv->iv, iv, ivlen);

  ssize_t sent = sendmsg(op, &msg, 0);
  if (sent < 0) die("sendmsg");
  if ((size_t)sent != len) { fprintf(stderr, "ut-alg: sendmsg took %zd of %zu bytes\n", sent, len); return 1; }
  size_t got = 0;
  while (got < len) {
    ssize_t r = read(op, out + got, len - got);
    if (r < 0) die("read");
    if (r == 0) { fprintf(stderr, "ut-alg: end of data after %zu of %zu bytes\n", got, len); return 1; }
    got += (size_t)r;
  }
  for (size_t i = 0; i < len; i++) printf("%02x", out[i]);
  printf("\n");
  close(op);
  close(tfm);
  return 0;
}
