// ut-ev: reads input events from an evdev node and prints them, for the Linux user-space proof of virtio-input.
// It names the device first, then prints every event but the SYN markers until it has <count> of them, or gives up
// after <seconds> without one and says how many it saw.
//
//   ut-ev /dev/input/eventN <count> <seconds>
//
// Output: `ev-name <name>` once, then `ev <type> <code> <value>` per event, then `ev-done <count>`.
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: ut-ev /dev/input/eventN <count> <seconds>\n");
    return 2;
  }
  int want = atoi(argv[2]);
  int seconds = atoi(argv[3]);
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) { fprintf(stderr, "ut-ev: open %s: %s\n", argv[1], strerror(errno)); return 1; }
  char name[256] = "";
  if (ioctl(fd, EVIOCGNAME(sizeof name - 1), name) < 0) { fprintf(stderr, "ut-ev: EVIOCGNAME: %s\n", strerror(errno)); return 1; }
  printf("ev-name %s\n", name);
  // The caller waits for this line before the host sends anything: evdev keeps no events for a reader that opens later.
  fflush(stdout);
  int seen = 0;
  while (seen < want) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int r = poll(&p, 1, seconds * 1000);
    if (r < 0) { fprintf(stderr, "ut-ev: poll: %s\n", strerror(errno)); return 1; }
    if (r == 0) { fprintf(stderr, "ut-ev: no event for %d s after %d of %d\n", seconds, seen, want); return 1; }
    struct input_event ev[64];
    ssize_t n = read(fd, ev, sizeof ev);
    if (n < 0) { fprintf(stderr, "ut-ev: read: %s\n", strerror(errno)); return 1; }
    if (n % (ssize_t)sizeof ev[0] != 0) { fprintf(stderr, "ut-ev: read %zd bytes, not whole events\n", n); return 1; }
    for (ssize_t i = 0; i < n / (ssize_t)sizeof ev[0] && seen < want; i++) {
      if (ev[i].type == EV_SYN) continue;
      printf("ev %u %u %d\n", ev[i].type, ev[i].code, ev[i].value);
      seen++;
    }
    fflush(stdout);
  }
  printf("ev-done %d\n", seen);
  close(fd);
  return 0;
}
