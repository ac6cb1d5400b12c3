// vCPU ioctls and the blocking run call. run() is made from the vCPU's own worker thread, which then reads the exit
// straight out of the mmapped kvm_run (an external ArrayBuffer) and answers it in TypeScript on the same thread.
// kick() may come from any thread: it sets immediate_exit and signals the thread inside KVM_RUN.
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "errors.h"
#include "kvm/kvm.h"
#include "kvm/vcpu_state.h"

namespace tsvmm {

namespace {

struct RunSlot {
  kvm_run* run = nullptr;
  size_t size = 0;
  pthread_t thread{};
  bool running = false;
};

std::mutex gMutex;
std::unordered_map<int, RunSlot> gSlots;
int gKickSignal = 0;

void OnKick(int) {}  // only there so the signal interrupts KVM_RUN with EINTR instead of killing the process

void InstallKickSignal() {
  gKickSignal = SIGRTMIN + 5;
  struct sigaction sa {};
  sa.sa_handler = OnKick;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must come back
  sigaction(gKickSignal, &sa, nullptr);
}

struct MapHint {
  int fd;
  size_t size;
};

void UnmapRun(Napi::Env, void* data, MapHint* hint) {
  {
    std::lock_guard<std::mutex> lock(gMutex);
    auto it = gSlots.find(hint->fd);
    if (it != gSlots.end() && it->second.run == data) gSlots.erase(it);
  }
  munmap(data, hint->size);
  delete hint;
}

}  // namespace

// mmapRun(vcpuFd, size) -> ArrayBuffer over struct kvm_run.
static Napi::Value MmapRun(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t size;
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &size)) return Napi::Value();
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    ThrowErrno(info.Env(), errno, "mmap");
    return Napi::Value();
  }
  {
    std::lock_guard<std::mutex> lock(gMutex);
    RunSlot& slot = gSlots[fd];
    slot.run = static_cast<kvm_run*>(p);
    slot.size = size;
  }
  return Napi::ArrayBuffer::New(info.Env(), p, size, UnmapRun, new MapHint{fd, size});
}

// run(vcpuFd) -> exit reason, or -1 when interrupted by kick() / a signal (immediate_exit is left for the caller).
static Napi::Value Run(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  kvm_run* run;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    auto it = gSlots.find(fd);
    if (it == gSlots.end()) {
      ThrowRange(info.Env(), "vCPU fd has no mapped kvm_run: call mmapRun first");
      return Napi::Value();
    }
    it->second.thread = pthread_self();
    it->second.running = true;
    run = it->second.run;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, gKickSignal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  int r = ioctl(fd, KVM_RUN, 0);
  int err = errno;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    auto it = gSlots.find(fd);
    if (it != gSlots.end()) it->second.running = false;
  }
  if (r < 0) {
    if (err == EINTR || err == EAGAIN) return Napi::Number::New(info.Env(), -1);
    ThrowErrno(info.Env(), err, "KVM_RUN");
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), run->exit_reason);
}

// kick(vcpuFd): make the vCPU's current or next KVM_RUN return at once.
static Napi::Value Kick(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gSlots.find(fd);
  if (it != gSlots.end() && it->second.run != nullptr) {
    __atomic_store_n(&it->second.run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (it->second.running) pthread_kill(it->second.thread, gKickSignal);
  }
  return info.Env().Undefined();
}

void InitVcpu(Napi::Env env, Napi::Object exports) {
  InstallKickSignal();
  exports.Set("mmapRun", Napi::Function::New(env, MmapRun));
  exports.Set("run", Napi::Function::New(env, Run));
  exports.Set("kick", Napi::Function::New(env, Kick));
  InitVcpuState(env, exports);
}

}  // namespace tsvmm
