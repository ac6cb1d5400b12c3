/*
 * ut-pcm: plays and captures PCM for the Linux user-space tests of virtio-snd, talking to the kernel's ALSA PCM
 * ioctls directly (the initramfs carries no alsa-lib). Playback sends a tone that the host writes into its WAV file;
 * capture reads what the host plays from a WAV file so the two sides can be compared by checksum.
 *
 *   ut-pcm play DEV SECONDS FREQ RATE CHANNELS
 *       S16_LE sine, sample n = round(16383 * sin(2*pi*FREQ*n/RATE)), the same in every channel, for exactly
 *       SECONDS*RATE frames; then drains. stdout: pcm-play frames=N period=P buffer=B xruns=X fnv=HEX
 *       (an underrun is counted and the stream restarted, not fatal; the host's copy then has a gap).
 *   ut-pcm capture DEV FRAMES RATE CHANNELS
 *       exactly FRAMES frames of S16_LE, raw, to stdout. stderr: pcm-capture frames=N period=P buffer=B fnv=HEX
 *       (an overrun is an error: data would be missing).
 *
 * DEV is /dev/snd/pcmC<card>D<dev>p or ...c. The buffer is the longest the driver allows, in 8 periods. fnv is
 * FNV-1a 64 over the bytes moved. The math library is not linked, so the sine is computed here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sound/asound.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PERIODS 8

static void die(const char *what) {
  fprintf(stderr, "ut-pcm: %s: %s\n", what, strerror(errno));
  exit(1);
}

static unsigned long arg_num(const char *s, const char *name) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || v == 0) {
    fprintf(stderr, "ut-pcm: bad %s '%s'\n", name, s);
    exit(2);
  }
  return v;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n--) h = (h ^ *b++) * 0x100000001b3ULL;
  return h;
}

/* Series for |x| <= pi/4, where the first omitted term is below 1e-16. */
static double sin_small(double x) {
  double x2 = x * x, t = 1;
  for (int k = 15; k >= 3; k -= 2) t = 1 - x2 / ((k - 1) * k) * t;
  return x * t;
}

static double cos_small(double x) {
  double x2 = x * x, t = 1;
  for (int k = 16; k >= 2; k -= 2) t = 1 - x2 / ((k - 1) * k) * t;
  return t;
}

/* sin(2*pi*phase/rate) for phase < rate. The quadrant and the offset into it are found in integers, so the
 * series only ever sees an angle of at most pi/4. */
static double sin_turn(unsigned long long phase, unsigned long long rate) {
  const double half_pi = 1.57079632679489661923;
  unsigned quadrant = (unsigned)(4 * phase / rate);
  unsigned long long r = 4 * phase - quadrant * rate; /* offset into the quadrant, in units of (pi/2)/rate */
  /* Past pi/4 into a quadrant, sin and cos trade places around pi/2, keeping the series' argument small. */
  int low = 2 * r <= rate, use_sin = low ^ (quadrant & 1);
  unsigned long long k = low ? r : rate - r;
  double a = half_pi * (double)k / (double)rate;
  double s = use_sin ? sin_small(a) : cos_small(a);
  /* sin(pi/6) is the one angle here whose sample is a rounding tie (8191.5); give it the exact value so the tie
   * goes away from zero rather than whichever way the last bit of the series falls. */
  if (use_sin && 3 * k == rate) s = 0.5;
  return quadrant >= 2 ? -s : s;
}

/* Round half away from zero; v - trunc(v) is exact for these magnitudes. */
static int16_t to_sample(double v) {
  long t = (long)v;
  double frac = v - (double)t;
  if (frac >= 0.5) t++;
  else if (frac <= -0.5) t--;
  return (int16_t)t;
}

static struct snd_mask *mask(struct snd_pcm_hw_params *p, int k) {
  return &p->masks[k - SNDRV_PCM_HW_PARAM_FIRST_MASK];
}

static struct snd_interval *ival(struct snd_pcm_hw_params *p, int k) {
  return &p->intervals[k - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL];
}

static void mask_only(struct snd_pcm_hw_params *p, int k, unsigned bit) {
  struct snd_mask *m = mask(p, k);
  memset(m, 0, sizeof *m);
  m->bits[bit / 32] = 1u << (bit % 32);
}

static void ival_only(struct snd_pcm_hw_params *p, int k, unsigned v) {
  *ival(p, k) = (struct snd_interval){.min = v, .max = v, .integer = 1};
}

/* Opens DEV and sets S16_LE interleaved, the given rate and channels, and the longest buffer in 8 periods; returns the
 * period and buffer sizes the kernel settled on. */
static int pcm_open(const char *dev, int capture, unsigned rate, unsigned channels, unsigned long *period,
                    unsigned long *buffer) {
  int fd = open(dev, O_RDWR | O_CLOEXEC);
  if (fd < 0) die(dev);

  /* Start from the whole configuration space, as alsa-lib does, and let the driver narrow it. */
  struct snd_pcm_hw_params hw;
  memset(&hw, 0, sizeof hw);
  for (int k = SNDRV_PCM_HW_PARAM_FIRST_MASK; k <= SNDRV_PCM_HW_PARAM_LAST_MASK; k++)
    memset(mask(&hw, k), 0xff, sizeof(struct snd_mask));
  for (int k = SNDRV_PCM_HW_PARAM_FIRST_INTERVAL; k <= SNDRV_PCM_HW_PARAM_LAST_INTERVAL; k++)
    *ival(&hw, k) = (struct snd_interval){.min = 0, .max = UINT_MAX};
  hw.rmask = ~0u;
  if (ioctl(fd, SNDRV_PCM_IOCTL_HW_REFINE, &hw) < 0) die("SNDRV_PCM_IOCTL_HW_REFINE");

  mask_only(&hw, SNDRV_PCM_HW_PARAM_ACCESS, (unsigned)SNDRV_PCM_ACCESS_RW_INTERLEAVED);
  mask_only(&hw, SNDRV_PCM_HW_PARAM_FORMAT, (unsigned)SNDRV_PCM_FORMAT_S16_LE);
  mask_only(&hw, SNDRV_PCM_HW_PARAM_SUBFORMAT, (unsigned)SNDRV_PCM_SUBFORMAT_STD);
  ival_only(&hw, SNDRV_PCM_HW_PARAM_CHANNELS, channels);
  ival_only(&hw, SNDRV_PCM_HW_PARAM_RATE, rate);
  ival_only(&hw, SNDRV_PCM_HW_PARAM_PERIODS, PERIODS);
  hw.rmask = ~0u;
  if (ioctl(fd, SNDRV_PCM_IOCTL_HW_REFINE, &hw) < 0) die("SNDRV_PCM_IOCTL_HW_REFINE (format)");
  /* The longest buffer the driver allows for this format (Linux's virtio-snd: 160 ms at the stream's largest
   * format), cut into PERIODS periods: a guest under emulation is late now and then. */
  unsigned long most = ival(&hw, SNDRV_PCM_HW_PARAM_BUFFER_SIZE)->max;
  if (most < PERIODS) {
    fprintf(stderr, "ut-pcm: %s: the driver allows no buffer of %d periods\n", dev, PERIODS);
    exit(1);
  }
  ival_only(&hw, SNDRV_PCM_HW_PARAM_PERIOD_SIZE, (unsigned)(most / PERIODS));
  hw.rmask = ~0u;
  hw.cmask = 0;
  if (ioctl(fd, SNDRV_PCM_IOCTL_HW_PARAMS, &hw) < 0) die("SNDRV_PCM_IOCTL_HW_PARAMS");
  *period = ival(&hw, SNDRV_PCM_HW_PARAM_PERIOD_SIZE)->min;
  *buffer = ival(&hw, SNDRV_PCM_HW_PARAM_BUFFER_SIZE)->min;
  if (*period == 0 || *buffer < *period) {
    fprintf(stderr, "ut-pcm: HW_PARAMS left period=%lu buffer=%lu\n", *period, *buffer);
    exit(1);
  }

  /* Playback waits for a full buffer so the first periods go out back to back; capture runs from the start. */
  struct snd_pcm_sw_params sw;
  memset(&sw, 0, sizeof sw);
  sw.tstamp_mode = SNDRV_PCM_TSTAMP_NONE;
  sw.period_step = 1;
  sw.avail_min = *period;
  sw.xfer_align = 1;
  sw.start_threshold = capture ? 1 : *buffer;
  sw.stop_threshold = *buffer;
  if (ioctl(fd, SNDRV_PCM_IOCTL_SW_PARAMS, &sw) < 0) die("SNDRV_PCM_IOCTL_SW_PARAMS");
  if (ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) < 0) die("SNDRV_PCM_IOCTL_PREPARE");
  return fd;
}

static int play(const char *dev, unsigned long seconds, unsigned long freq, unsigned long rate, unsigned channels) {
  unsigned long period, buffer;
  int fd = pcm_open(dev, 0, (unsigned)rate, channels, &period, &buffer);
  int16_t *buf = malloc(period * channels * sizeof *buf);
  if (!buf) die("malloc");
  unsigned long long total = (unsigned long long)seconds * rate, n = 0;
  uint64_t h = 0xcbf29ce484222325ULL;
  unsigned xruns = 0;
  while (n < total) {
    unsigned long chunk = total - n < period ? (unsigned long)(total - n) : period;
    for (unsigned long i = 0; i < chunk; i++) {
      int16_t s = to_sample(16383.0 * sin_turn((unsigned long long)freq * (n + i) % rate, rate));
      for (unsigned c = 0; c < channels; c++) buf[i * channels + c] = s;
    }
    h = fnv1a(h, buf, chunk * channels * sizeof *buf);
    /* The kernel may take part of a chunk before an underrun stops the stream; finish the rest after it. */
    for (unsigned long done = 0; done < chunk;) {
      struct snd_xferi x = {.buf = buf + done * channels, .frames = chunk - done};
      if (ioctl(fd, SNDRV_PCM_IOCTL_WRITEI_FRAMES, &x) < 0) {
        if (errno == EINTR) continue;
        if (errno != EPIPE) die("SNDRV_PCM_IOCTL_WRITEI_FRAMES");
        xruns++;
        if (ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) < 0) die("SNDRV_PCM_IOCTL_PREPARE (after underrun)");
        continue;
      }
      if (x.result <= 0 || (unsigned long)x.result > chunk - done) {
        fprintf(stderr, "ut-pcm: SNDRV_PCM_IOCTL_WRITEI_FRAMES: result %ld of %lu frames\n", (long)x.result,
                chunk - done);
        return 1;
      }
      done += (unsigned long)x.result;
    }
    n += chunk;
  }
  if (ioctl(fd, SNDRV_PCM_IOCTL_DRAIN) < 0) die("SNDRV_PCM_IOCTL_DRAIN");
  if (close(fd) < 0) die("close");
  printf("pcm-play frames=%llu period=%lu buffer=%lu xruns=%u fnv=%016llx\n", n, period, buffer, xruns,
         (unsigned long long)h);
  if (fflush(stdout) != 0) die("stdout");
  free(buf);
  return 0;
}

static int capture(const char *dev, unsigned long frames, unsigned long rate, unsigned channels) {
  unsigned long period, buffer;
  int fd = pcm_open(dev, 1, (unsigned)rate, channels, &period, &buffer);
  size_t frame_bytes = channels * sizeof(int16_t);
  char *buf = malloc(period * frame_bytes);
  if (!buf) die("malloc");
  if (ioctl(fd, SNDRV_PCM_IOCTL_START) < 0) die("SNDRV_PCM_IOCTL_START");
  uint64_t h = 0xcbf29ce484222325ULL;
  unsigned long n = 0;
  while (n < frames) {
    struct snd_xferi x = {.buf = buf, .frames = frames - n < period ? frames - n : period};
    if (ioctl(fd, SNDRV_PCM_IOCTL_READI_FRAMES, &x) < 0) {
      if (errno == EINTR) continue;
      die(errno == EPIPE ? "SNDRV_PCM_IOCTL_READI_FRAMES (overrun)" : "SNDRV_PCM_IOCTL_READI_FRAMES");
    }
    if (x.result <= 0 || (unsigned long)x.result > x.frames) {
      fprintf(stderr, "ut-pcm: SNDRV_PCM_IOCTL_READI_FRAMES: result %ld of %lu frames\n", (long)x.result,
              (unsigned long)x.frames);
      return 1;
    }
    size_t len = (size_t)x.result * frame_bytes;
    h = fnv1a(h, buf, len);
    for (size_t off = 0; off < len;) {
      ssize_t w = write(STDOUT_FILENO, buf + off, len - off);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) die("write (stdout)");
      off += (size_t)w;
    }
    n += (unsigned long)x.result;
  }
  if (ioctl(fd, SNDRV_PCM_IOCTL_DROP) < 0) die("SNDRV_PCM_IOCTL_DROP");
  if (close(fd) < 0) die("close");
  fprintf(stderr, "pcm-capture frames=%lu period=%lu buffer=%lu fnv=%016llx\n", n, period, buffer,
          (unsigned long long)h);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "play") == 0)
    return play(argv[2], arg_num(argv[3], "seconds"), arg_num(argv[4], "frequency"), arg_num(argv[5], "rate"),
                (unsigned)arg_num(argv[6], "channels"));
  if (argc == 6 && strcmp(argv[1], "capture") == 0)
    return capture(argv[2], arg_num(argv[3], "frames"), arg_num(argv[4], "rate"),
                   (unsigned)arg_num(argv[5], "channels"));
  fprintf(stderr, "usage: ut-pcm play DEV SECONDS FREQ RATE CHANNELS\n"
                  "       ut-pcm capture DEV FRAMES RATE CHANNELS\n");
  return 2;
}
