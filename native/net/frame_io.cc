// Vectored I/O that never blocks, between an fd and guest buffers. For frame-preserving fds (a tap, a datagram
// socket) one readv / writev moves one frame; for files, a positioned read with RWF_NOWAIT is served only from the
// page cache. These sit on per-frame and per-request paths, so failures come back as a negative errno rather than a
// thrown Error; only misuse (wrong argument types) throws.
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"
#include "net/net.h"

namespace tsvmm {

// Fills `iov` from an array of Uint8Arrays; false means a TypeError/RangeError is pending.
static bool ArgIovecs(const Napi::CallbackInfo& info, size_t i, struct iovec* iov, int* count) {
  if (i >= info.Length() || !info[i].IsArray()) {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " must be an array of Uint8Arrays");
    return false;
  }
  Napi::Array bufs = info[i].As<Napi::Array>();
  uint32_t n = bufs.Length();
  if (n > IOV_MAX) {
    ThrowRange(info.Env(), "at most " + std::to_string(IOV_MAX) + " buffers");
    return false;
  }
  for (uint32_t k = 0; k < n; k++) {
    Napi::Value v = bufs.Get(k);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowType(info.Env(), "buffer " + std::to_string(k) + " is not a Uint8Array");
      return false;
    }
    Napi::Uint8Array u8 = v.As<Napi::Uint8Array>();
    iov[k].iov_base = u8.Data();
    iov[k].iov_len = u8.ByteLength();
  }
  *count = static_cast<int>(n);
  return true;
}

template <ssize_t (*Op)(int, const struct iovec*, int)>
static Napi::Value TryVectored(const Napi::CallbackInfo& info) {
  int fd;
  int count;
  struct iovec iov[IOV_MAX];
  if (!ArgFd(info, 0, &fd) || !ArgIovecs(info, 1, iov, &count)) return Napi::Value();
  long r = RetryEintr([&] { return Op(fd, iov, count); });
  return Napi::Number::New(info.Env(), r < 0 ? -errno : static_cast<double>(r));
}

// tryReadv(fd, bufs) / tryWritev(fd, bufs) -> bytes moved, or -errno (e.g. -EAGAIN when the fd is not ready).
static ssize_t ReadvOp(int fd, const struct iovec* iov, int n) { return readv(fd, iov, n); }
static ssize_t WritevOp(int fd, const struct iovec* iov, int n) { return writev(fd, iov, n); }

// tryPreadv(fd, bufs, position) -> bytes read from the page cache, or -errno: -EAGAIN when the data is not cached
// (a read would wait for the disk), -EOPNOTSUPP where the file system cannot do it. A short count is a partly cached
// range. Never waits for I/O, so it may run on the event loop's thread.
static Napi::Value TryPreadvNowait(const Napi::CallbackInfo& info) {
  int fd;
  int count;
  uint64_t pos;
  struct iovec iov[IOV_MAX];
  if (!ArgFd(info, 0, &fd) || !ArgIovecs(info, 1, iov, &count) || !ArgU64(info, 2, &pos)) return Napi::Value();
  long r = RetryEintr([&] { return preadv2(fd, iov, count, static_cast<off_t>(pos), RWF_NOWAIT); });
  return Napi::Number::New(info.Env(), r < 0 ? -errno : static_cast<double>(r));
}

// socketpairCreate(seqpacket) -> [fd, fd]: a nonblocking, close-on-exec AF_UNIX pair that keeps message boundaries
// (SOCK_SEQPACKET, or SOCK_DGRAM when seqpacket is false), a stand-in for a tap where no root is at hand.
static Napi::Value SocketpairCreate(const Napi::CallbackInfo& info) {
  bool seqpacket = info.Length() < 1 || info[0].ToBoolean().Value();
  int fds[2];
  int type = (seqpacket ? SOCK_SEQPACKET : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
  if (socketpair(AF_UNIX, type, 0, fds) < 0) {
    ThrowErrno(info.Env(), errno, "socketpair");
    return Napi::Value();
  }
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), fds[0]));
  out.Set(1u, Napi::Number::New(info.Env(), fds[1]));
  return out;
}

void InitFrameIo(Napi::Env env, Napi::Object exports) {
  exports.Set("tryReadv", Napi::Function::New(env, TryVectored<ReadvOp>));
  exports.Set("tryWritev", Napi::Function::New(env, TryVectored<WritevOp>));
  exports.Set("tryPreadv", Napi::Function::New(env, TryPreadvNowait));
  exports.Set("socketpairCreate", Napi::Function::New(env, SocketpairCreate));
}

}  // namespace tsvmm
