// Watches a file descriptor from the Node event loop (uv_poll), so an ioeventfd that fires on a queue notify, or a
// tap that has a frame, calls device code on the main thread without any thread of ours waiting on it. poll(events)
// changes what is watched (readable 1, writable 2, 0 pauses), so a device that cannot take more work stops being
// woken rather than spinning the loop.
#include <unistd.h>
#include <uv.h>

#include <cerrno>

#include "errors.h"
#include "kvm/kvm.h"

namespace tsvmm {

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {InstanceMethod("close", &FdWatcher::Close), InstanceMethod("ref", &FdWatcher::RefLoop),
                        InstanceMethod("unref", &FdWatcher::UnrefLoop), InstanceMethod("poll", &FdWatcher::Poll)});
  }

  // new FdWatcher(fd, callback(count, events), drainEventfd)
  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    if (!ArgFd(info, 0, &fd_)) return;
    if (info.Length() < 2 || !info[1].IsFunction()) {
      ThrowType(env, "callback must be a function");
      return;
    }
    drain_ = info.Length() > 2 && info[2].ToBoolean().Value();
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      ThrowType(env, "no event loop");
      return;
    }
    poll_ = new uv_poll_t;
    int r = uv_poll_init(loop, poll_, fd_);
    if (r < 0) {
      delete poll_;
      poll_ = nullptr;
      ThrowErrno(env, -r, "uv_poll_init");
      return;
    }
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, OnEvent);
    Ref();  // the watcher lives while it polls, whether or not JavaScript holds it
  }

  ~FdWatcher() override { Stop(); }

 private:
  static void OnEvent(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    double count = 1;
    if (self->drain_ && (events & UV_READABLE)) {
      uint64_t v = 0;
      ssize_t r = read(self->fd_, &v, sizeof v);
      if (r < 0 && errno == EAGAIN) return;  // another reader took it
      count = r == sizeof v ? static_cast<double>(v) : 0;
    }
    Napi::Value arg = status < 0 ? Napi::Number::New(env, status) : Napi::Number::New(env, count);
    self->callback_.MakeCallback(env.Global(), {arg, Napi::Number::New(env, events)});
  }

  void Stop() {
    if (poll_ == nullptr) return;
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) {
      Stop();
      callback_.Reset();
      Unref();
    }
    return info.Env().Undefined();
  }

  // poll(events): 0 stops watching without closing; otherwise a mask of UV_READABLE (1) and UV_WRITABLE (2).
  Napi::Value Poll(const Napi::CallbackInfo& info) {
    uint32_t events;
    if (!ArgU32(info, 0, &events)) return Napi::Value();
    if (events > (UV_READABLE | UV_WRITABLE)) {
      ThrowRange(info.Env(), "events must be a mask of 1 (readable) and 2 (writable)");
      return Napi::Value();
    }
    if (poll_ == nullptr) return info.Env().Undefined();
    int r = events == 0 ? uv_poll_stop(poll_) : uv_poll_start(poll_, static_cast<int>(events), OnEvent);
    if (r < 0) {
      ThrowErrno(info.Env(), -r, "uv_poll_start");
      return Napi::Value();
    }
    return info.Env().Undefined();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }

  int fd_ = -1;
  bool drain_ = false;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference callback_;
};

void InitFdWatch(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
}

}  // namespace tsvmm
