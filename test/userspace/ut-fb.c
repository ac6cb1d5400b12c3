/*
 * ut-fb: draws a known picture for the Linux user-space proofs of virtio-gpu. The host takes a screenshot while the
 * picture is up and recomputes every pixel, so both the fbdev path and a KMS mode change are checked pixel for pixel.
 *
 *   ut-fb fb SEED            write the pattern over the visible area of /dev/fb0 (32 bpp), using write(), not mmap:
 *                            fbdev emulation flushes the ranges a write() touches. Prints
 *                            "fb-pattern w=<xres> h=<yres> stride=<line_length> seed=<SEED>". The caller unbinds fbcon
 *                            first so the console stops drawing over it.
 *   ut-fb kms W H SEED       on /dev/dri/card0: dumb buffer W x H XRGB8888 holding the pattern, set on the first
 *                            connected connector with a W x H mode (the connector's own if it lists one, else a
 *                            generated one). Prints "kms-modes ...", "kms-mode w= h= crtc= connector= fb= mode=
 *                            from-list=", then "kms-holding", and waits for one line on stdin before exiting; closing
 *                            the device lets the kernel put the fbdev mode back.
 *
 * Pattern, for pixel (x, y) of a W x H frame (W, H >= 2), all integer arithmetic, division truncating:
 *   R = (x * 255 / (W - 1)) & 0xff
 *   G = (y * 255 / (H - 1)) & 0xff
 *   B = ((x ^ y) * 7 + SEED) & 0xff
 *   pixel = 0x00RRGGBB = (R << 16) | (G << 8) | B
 * SEED is 0..4294967295; only its low byte affects the picture.
 *
 * No libdrm or kernel DRM headers are needed: the few UAPI structures are declared below with the kernel's layout.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <linux/kd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* include/uapi/drm/drm_mode.h */
struct drm_mode_modeinfo {
  uint32_t clock;
  uint16_t hdisplay, hsync_start, hsync_end, htotal, hskew;
  uint16_t vdisplay, vsync_start, vsync_end, vtotal, vscan;
  uint32_t vrefresh, flags, type;
  char name[32];
};
struct drm_mode_card_res {
  uint64_t fb_id_ptr, crtc_id_ptr, connector_id_ptr, encoder_id_ptr;
  uint32_t count_fbs, count_crtcs, count_connectors, count_encoders;
  uint32_t min_width, max_width, min_height, max_height;
};
struct drm_mode_crtc {
  uint64_t set_connectors_ptr;
  uint32_t count_connectors, crtc_id, fb_id, x, y, gamma_size, mode_valid;
  struct drm_mode_modeinfo mode;
};
struct drm_mode_get_encoder {
  uint32_t encoder_id, encoder_type, crtc_id, possible_crtcs, possible_clones;
};
struct drm_mode_get_connector {
  uint64_t encoders_ptr, modes_ptr, props_ptr, prop_values_ptr;
  uint32_t count_modes, count_props, count_encoders;
  uint32_t encoder_id, connector_id, connector_type, connector_type_id;
  uint32_t connection, mm_width, mm_height, subpixel, pad;
};
struct drm_mode_fb_cmd {
  uint32_t fb_id, width, height, pitch, bpp, depth, handle;
};
struct drm_mode_fb_dirty_cmd {
  uint32_t fb_id, flags, color, num_clips;
  uint64_t clips_ptr;
};
struct drm_mode_create_dumb {
  uint32_t height, width, bpp, flags, handle, pitch;
  uint64_t size;
};
struct drm_mode_map_dumb {
  uint32_t handle, pad;
  uint64_t offset;
};
struct drm_mode_destroy_dumb {
  uint32_t handle;
};
_Static_assert(sizeof(struct drm_mode_modeinfo) == 68, "drm_mode_modeinfo");
_Static_assert(sizeof(struct drm_mode_card_res) == 64, "drm_mode_card_res");
_Static_assert(sizeof(struct drm_mode_crtc) == 104, "drm_mode_crtc");
_Static_assert(sizeof(struct drm_mode_get_encoder) == 20, "drm_mode_get_encoder");
_Static_assert(sizeof(struct drm_mode_get_connector) == 80, "drm_mode_get_connector");
_Static_assert(sizeof(struct drm_mode_fb_cmd) == 28, "drm_mode_fb_cmd");
_Static_assert(sizeof(struct drm_mode_fb_dirty_cmd) == 24, "drm_mode_fb_dirty_cmd");
_Static_assert(sizeof(struct drm_mode_create_dumb) == 32, "drm_mode_create_dumb");
_Static_assert(sizeof(struct drm_mode_map_dumb) == 16, "drm_mode_map_dumb");
_Static_assert(sizeof(struct drm_mode_destroy_dumb) == 4, "drm_mode_destroy_dumb");

/* include/uapi/drm/drm.h */
#define DRM_IOCTL_SET_MASTER _IO('d', 0x1e)
#define DRM_IOCTL_MODE_GETRESOURCES _IOWR('d', 0xA0, struct drm_mode_card_res)
#define DRM_IOCTL_MODE_SETCRTC _IOWR('d', 0xA2, struct drm_mode_crtc)
#define DRM_IOCTL_MODE_GETENCODER _IOWR('d', 0xA6, struct drm_mode_get_encoder)
#define DRM_IOCTL_MODE_GETCONNECTOR _IOWR('d', 0xA7, struct drm_mode_get_connector)
#define DRM_IOCTL_MODE_ADDFB _IOWR('d', 0xAE, struct drm_mode_fb_cmd)
#define DRM_IOCTL_MODE_DIRTYFB _IOWR('d', 0xB1, struct drm_mode_fb_dirty_cmd)
#define DRM_IOCTL_MODE_CREATE_DUMB _IOWR('d', 0xB2, struct drm_mode_create_dumb)
#define DRM_IOCTL_MODE_MAP_DUMB _IOWR('d', 0xB3, struct drm_mode_map_dumb)
#define DRM_IOCTL_MODE_DESTROY_DUMB _IOWR('d', 0xB4, struct drm_mode_destroy_dumb)

#define DRM_MODE_CONNECTED 1
#define DRM_MODE_TYPE_USERDEF (1 << 5)
#define DRM_MODE_FLAG_NHSYNC (1 << 1)
#define DRM_MODE_FLAG_PVSYNC (1 << 2)

static void die(const char *what) {
  fprintf(stderr, "ut-fb: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail(const char *msg) {
  fprintf(stderr, "ut-fb: %s\n", msg);
  exit(1);
}

/* The host mirrors this exactly; keep it to 32-bit unsigned integer operations. */
static uint32_t pattern_pixel(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t seed) {
  uint32_t r = (x * 255 / (w - 1)) & 0xff;
  uint32_t g = (y * 255 / (h - 1)) & 0xff;
  uint32_t b = ((x ^ y) * 7 + seed) & 0xff;
  return (r << 16) | (g << 8) | b;
}

static uint32_t parse_u32(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 0);
  if (errno || end == s || *end || v > 0xffffffffUL || s[0] == '-') {
    fprintf(stderr, "ut-fb: bad %s: %s\n", what, s);
    exit(2);
  }
  return (uint32_t)v;
}

static void xioctl(int fd, unsigned long req, void *arg, const char *what) {
  int r;
  do r = ioctl(fd, req, arg);
  while (r < 0 && (errno == EINTR || errno == EAGAIN));
  if (r < 0) die(what);
}

static int cmd_fb(uint32_t seed) {
  struct fb_var_screeninfo var;
  struct fb_fix_screeninfo fix;
  /* The console in graphics mode: fbcon stops drawing (text, cursor) on the screen, as for any program that owns
   * it, and leaves the framebuffer to us. The mode stays after we exit. */
  int tty = open("/dev/tty0", O_RDWR | O_CLOEXEC);
  if (tty < 0) die("open /dev/tty0");
  if (ioctl(tty, KDSETMODE, KD_GRAPHICS) < 0) die("KDSETMODE KD_GRAPHICS");
  close(tty);
  int fd = open("/dev/fb0", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/fb0");
  xioctl(fd, FBIOGET_VSCREENINFO, &var, "FBIOGET_VSCREENINFO");
  xioctl(fd, FBIOGET_FSCREENINFO, &fix, "FBIOGET_FSCREENINFO");
  if (var.bits_per_pixel != 32) fail("/dev/fb0 is not 32 bpp");
  /* The pattern is defined as XRGB8888; any other channel layout would make the comparison meaningless. */
  if (var.red.offset != 16 || var.green.offset != 8 || var.blue.offset != 0 || var.red.length != 8 ||
      var.green.length != 8 || var.blue.length != 8)
    fail("/dev/fb0 is not XRGB8888");
  if (var.xres < 2 || var.yres < 2) fail("/dev/fb0 is smaller than 2x2");
  uint64_t base = (uint64_t)var.yoffset * fix.line_length + (uint64_t)var.xoffset * 4;
  if ((uint64_t)fix.line_length < (uint64_t)var.xres * 4 ||
      base + (uint64_t)(var.yres - 1) * fix.line_length + (uint64_t)var.xres * 4 > fix.smem_len)
    fail("/dev/fb0 visible area lies outside its memory");

  /* The whole picture in one write, rows at the framebuffer's stride. Not a row per write: Linux 6.1's DRM fbdev
   * turns a write of exactly one whole scanline into a damage rectangle of width 0, so nothing would be flushed. */
  size_t bytes = (size_t)(var.yres - 1) * fix.line_length + (size_t)var.xres * 4;
  char *frame = calloc(1, bytes);
  if (!frame) die("calloc");
  for (uint32_t y = 0; y < var.yres; y++) {
    uint32_t *row = (uint32_t *)(frame + (size_t)y * fix.line_length);
    for (uint32_t x = 0; x < var.xres; x++) row[x] = pattern_pixel(x, y, var.xres, var.yres, seed);
  }
  /* Between rows the write also covers the stride's padding, which lies off screen. */
  const char *p = frame;
  size_t left = bytes;
  off_t at = (off_t)base;
  while (left > 0) {
    ssize_t n = pwrite(fd, p, left, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("pwrite /dev/fb0");
    if (n == 0) fail("pwrite /dev/fb0: wrote nothing");
    p += n;
    at += n;
    left -= (size_t)n;
  }
  free(frame);
  if (close(fd) < 0) die("close /dev/fb0");
  printf("fb-pattern w=%u h=%u stride=%u seed=%u\n", var.xres, var.yres, fix.line_length, seed);
  return 0;
}

/* The kernel reports counts first; a second call fills arrays of that size. Retry if a count grew in between. */
static void get_resources(int fd, struct drm_mode_card_res *res, uint32_t **crtcs, uint32_t **conns) {
  for (;;) {
    memset(res, 0, sizeof *res);
    xioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, res, "DRM_IOCTL_MODE_GETRESOURCES (counts)");
    uint32_t ncrtc = res->count_crtcs, nconn = res->count_connectors;
    *crtcs = calloc(ncrtc + 1, sizeof **crtcs);
    *conns = calloc(nconn + 1, sizeof **conns);
    if (!*crtcs || !*conns) die("calloc");
    memset(res, 0, sizeof *res);
    res->count_crtcs = ncrtc;
    res->crtc_id_ptr = (uintptr_t)*crtcs;
    res->count_connectors = nconn;
    res->connector_id_ptr = (uintptr_t)*conns;
    xioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, res, "DRM_IOCTL_MODE_GETRESOURCES");
    if (res->count_crtcs <= ncrtc && res->count_connectors <= nconn) return;
    free(*crtcs);
    free(*conns);
  }
}

/* Same two-call pattern; the first call (count_modes 0) also makes the kernel probe the connector. */
static void get_connector(int fd, uint32_t id, struct drm_mode_get_connector *c, struct drm_mode_modeinfo **modes,
                          uint32_t **encs) {
  for (;;) {
    memset(c, 0, sizeof *c);
    c->connector_id = id;
    xioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, c, "DRM_IOCTL_MODE_GETCONNECTOR (counts)");
    uint32_t nmodes = c->count_modes, nencs = c->count_encoders;
    *modes = calloc(nmodes + 1, sizeof **modes);
    *encs = calloc(nencs + 1, sizeof **encs);
    if (!*modes || !*encs) die("calloc");
    memset(c, 0, sizeof *c);
    c->connector_id = id;
    c->count_modes = nmodes;
    c->modes_ptr = (uintptr_t)*modes;
    c->count_encoders = nencs;
    c->encoders_ptr = (uintptr_t)*encs;
    xioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, c, "DRM_IOCTL_MODE_GETCONNECTOR");
    if (c->count_modes <= nmodes && c->count_encoders <= nencs) return;
    free(*modes);
    free(*encs);
  }
}

/* A plain progressive mode at 60 Hz; the blanking only has to be non-empty, nothing real scans it out. */
static void make_mode(struct drm_mode_modeinfo *m, uint32_t w, uint32_t h) {
  memset(m, 0, sizeof *m);
  m->hdisplay = (uint16_t)w;
  m->hsync_start = (uint16_t)(w + 48);
  m->hsync_end = (uint16_t)(w + 80);
  m->htotal = (uint16_t)(w + 160);
  m->vdisplay = (uint16_t)h;
  m->vsync_start = (uint16_t)(h + 3);
  m->vsync_end = (uint16_t)(h + 9);
  m->vtotal = (uint16_t)(h + 30);
  m->clock = (uint32_t)(((uint64_t)m->htotal * m->vtotal * 60 + 999) / 1000);
  m->vrefresh = 60;
  m->flags = DRM_MODE_FLAG_NHSYNC | DRM_MODE_FLAG_PVSYNC;
  m->type = DRM_MODE_TYPE_USERDEF;
  snprintf(m->name, sizeof m->name, "%ux%u", w, h);
}

static int cmd_kms(uint32_t w, uint32_t h, uint32_t seed) {
  if (w < 2 || h < 2 || w > 16384 || h > 16384) fail("width and height must be 2..16384");
  int fd = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/dri/card0");
  /* The first opener is master already (then this is a no-op); probing and SETCRTC both need it. */
  xioctl(fd, DRM_IOCTL_SET_MASTER, NULL, "DRM_IOCTL_SET_MASTER");

  struct drm_mode_card_res res;
  uint32_t *crtcs, *conns;
  get_resources(fd, &res, &crtcs, &conns);
  if (res.count_crtcs == 0) fail("no CRTCs");
  if (w > res.max_width || h > res.max_height || w < res.min_width || h < res.min_height)
    fail("requested size is outside the device's framebuffer limits");

  struct drm_mode_get_connector conn;
  struct drm_mode_modeinfo *modes = NULL;
  uint32_t *encs = NULL;
  uint32_t i;
  for (i = 0; i < res.count_connectors; i++) {
    get_connector(fd, conns[i], &conn, &modes, &encs);
    if (conn.connection == DRM_MODE_CONNECTED) break;
    free(modes);
    free(encs);
  }
  if (i == res.count_connectors) fail("no connected connector");

  uint32_t crtc_id = 0;
  uint32_t enc_id = conn.encoder_id ? conn.encoder_id : (conn.count_encoders ? encs[0] : 0);
  if (enc_id) {
    struct drm_mode_get_encoder enc = {.encoder_id = enc_id};
    xioctl(fd, DRM_IOCTL_MODE_GETENCODER, &enc, "DRM_IOCTL_MODE_GETENCODER");
    crtc_id = enc.crtc_id;
    for (uint32_t k = 0; !crtc_id && k < res.count_crtcs && k < 32; k++)
      if (enc.possible_crtcs & (1u << k)) crtc_id = crtcs[k];
  }
  if (!crtc_id) crtc_id = crtcs[0];

  struct drm_mode_create_dumb cd = {.height = h, .width = w, .bpp = 32};
  xioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd, "DRM_IOCTL_MODE_CREATE_DUMB");
  struct drm_mode_map_dumb md = {.handle = cd.handle};
  xioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md, "DRM_IOCTL_MODE_MAP_DUMB");
  uint8_t *map = mmap(NULL, (size_t)cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
  if (map == MAP_FAILED) die("mmap dumb buffer");
  for (uint32_t y = 0; y < h; y++) {
    uint32_t *row = (uint32_t *)(map + (size_t)y * cd.pitch);
    for (uint32_t x = 0; x < w; x++) row[x] = pattern_pixel(x, y, w, h, seed);
  }

  struct drm_mode_fb_cmd fb = {.width = w, .height = h, .pitch = cd.pitch, .bpp = 32, .depth = 24,
                               .handle = cd.handle};
  xioctl(fd, DRM_IOCTL_MODE_ADDFB, &fb, "DRM_IOCTL_MODE_ADDFB");

  printf("kms-modes");
  for (i = 0; i < conn.count_modes && i < 16; i++) printf(" %ux%u", modes[i].hdisplay, modes[i].vdisplay);
  printf("\n");

  struct drm_mode_crtc set;
  memset(&set, 0, sizeof set);
  int from_list = 0;
  for (i = 0; i < conn.count_modes && !from_list; i++)
    if (modes[i].hdisplay == w && modes[i].vdisplay == h) {
      set.mode = modes[i];
      from_list = 1;
    }
  if (!from_list) make_mode(&set.mode, w, h);
  uint32_t conn_id = conn.connector_id;
  set.set_connectors_ptr = (uintptr_t)&conn_id;
  set.count_connectors = 1;
  set.crtc_id = crtc_id;
  set.fb_id = fb.fb_id;
  set.mode_valid = 1;
  xioctl(fd, DRM_IOCTL_MODE_SETCRTC, &set, "DRM_IOCTL_MODE_SETCRTC");
  set.mode.name[sizeof set.mode.name - 1] = '\0';
  printf("kms-mode w=%u h=%u crtc=%u connector=%u fb=%u mode=%s from-list=%d\n", w, h, crtc_id, conn_id, fb.fb_id,
         set.mode.name, from_list);

  /* SETCRTC already pushes the whole buffer; a full-frame dirty only makes sure. ENOSYS/EINVAL: no dirty support. */
  struct drm_mode_fb_dirty_cmd dirty = {.fb_id = fb.fb_id};
  int r;
  do r = ioctl(fd, DRM_IOCTL_MODE_DIRTYFB, &dirty);
  while (r < 0 && errno == EINTR);
  if (r < 0 && errno != ENOSYS && errno != EINVAL) die("DRM_IOCTL_MODE_DIRTYFB");

  printf("kms-holding\n");
  /* Any line, or the end of stdin, releases the picture. */
  for (;;) {
    char c;
    ssize_t n = read(0, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read stdin");
    if (n == 0 || c == '\n') break;
  }

  if (munmap(map, (size_t)cd.size) < 0) die("munmap");
  /* The framebuffer and the dumb buffer go away with the file; closing it as the last user restores fbdev. */
  if (close(fd) < 0) die("close /dev/dri/card0");
  return 0;
}

int main(int argc, char **argv) {
  /* Lines must reach a pipe while the program is still holding the picture. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 3 && strcmp(argv[1], "fb") == 0) return cmd_fb(parse_u32(argv[2], "seed"));
  if (argc == 5 && strcmp(argv[1], "kms") == 0)
    return cmd_kms(parse_u32(argv[2], "width"), parse_u32(argv[3], "height"), parse_u32(argv[4], "seed"));
  fprintf(stderr, "usage: ut-fb fb SEED | ut-fb kms WIDTH HEIGHT SEED\n");
  return 2;
}
