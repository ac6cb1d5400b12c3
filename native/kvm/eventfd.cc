// eventfds: the currency of the fast paths (ioeventfd for queue notifies, irqfd for interrupts).
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"
#include "kvm/kvm.h"

namespace tsvmm {

// eventfdCreate() -> nonblocking, close-on-exec eventfd
static Napi::Value EventfdCreate(const Napi::CallbackInfo& info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(info.Env(), errno, "eventfd");
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), fd);
}

// eventfdWrite(fd, n = 1): callable from any thread (an irqfd raise from a vCPU worker).
static Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  int fd;
  uint64_t v = 1;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  if (info.Length() > 1 && !ArgU64(info, 1, &v)) return Napi::Value();
  long r = RetryEintr([&] { return write(fd, &v, sizeof v); });
  // EAGAIN means the counter is saturated: the reader has a wakeup pending anyway.
  if (r < 0 && errno != EAGAIN) {
    ThrowErrno(info.Env(), errno, "write");
    return Napi::Value();
  }
  return info.Env().Undefined();
}

// eventfdRead(fd) -> count as a number, 0 when nothing was pending.
static Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  uint64_t v = 0;
  long r = RetryEintr([&] { return read(fd, &v, sizeof v); });
  if (r < 0) {
    if (errno == EAGAIN) return Napi::Number::New(info.Env(), 0);
    ThrowErrno(info.Env(), errno, "read");
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(v));
}

void InitEventfd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfdCreate", Napi::Function::New(env, EventfdCreate));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead));
}

}  // namespace tsvmm
