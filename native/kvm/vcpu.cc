// vCPU ioctls and the blocking run call. run() is made from the vCPU's own worker thread, which then reads the exit
// straight out of the mmapped kvm_run (an external ArrayBuffer) and answers it in TypeScript on the same thread.
// kick() may come from any thread: it sets immediate_exit and signals the thread inside KVM_RUN.
//
// A few MMIO registers are answered here without returning to JavaScript at all: the virtio-mmio InterruptStatus
// read and InterruptACK write, which a Linux driver does on every interrupt. Their value is a word in the device's
// SharedArrayBuffer register file, updated with the same atomics JavaScript's Atomics use.
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "errors.h"
#include "kvm/kvm.h"
#include "kvm/vcpu_state.h"

namespace tsvmm {

namespace {

enum FastKind : uint32_t { kFastReadWord = 0, kFastAndNotWord = 1 };

struct FastMmio {
  uint64_t gpa;
  uint32_t kind;
  int32_t* word;
};

// Owned by one vCPU thread: set once before its first run() and only read by that thread afterwards. The buffers
// the pointers point into are kept alive by that thread's JavaScript (the register models hold them).
struct FastTable {
  std::vector<FastMmio> entries;
  double* counter = nullptr;
};

struct RunSlot {
  kvm_run* run = nullptr;
  size_t size = 0;
  pthread_t thread{};
  bool running = false;
  std::shared_ptr<FastTable> fast;
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
    slot = RunSlot{};  // an fd number can come back for a new vCPU: nothing of the old one may survive
    slot.run = static_cast<kvm_run*>(p);
    slot.size = size;
  }
  return Napi::ArrayBuffer::New(info.Env(), p, size, UnmapRun, new MapHint{fd, size});
}

// True when the exit was one of the registered registers and has been answered (the caller re-enters the guest).
static bool AnswerFast(FastTable& table, kvm_run* run) {
  if (run->exit_reason != KVM_EXIT_MMIO || run->mmio.len != 4) return false;
  for (const FastMmio& e : table.entries) {
    if (e.gpa != run->mmio.phys_addr) continue;
    if (e.kind == kFastReadWord && !run->mmio.is_write) {
      uint32_t v = static_cast<uint32_t>(__atomic_load_n(e.word, __ATOMIC_SEQ_CST));
      memcpy(run->mmio.data, &v, 4);
    } else if (e.kind == kFastAndNotWord && run->mmio.is_write) {
      uint32_t v;
      memcpy(&v, run->mmio.data, 4);
      __atomic_fetch_and(e.word, static_cast<int32_t>(~v), __ATOMIC_SEQ_CST);
    } else {
      return false;  // the other direction: let the register model count it as a bad access
    }
    if (table.counter != nullptr) *table.counter += 1;
    return true;
  }
  return false;
}

// setFastMmio(vcpuFd, entries: {gpa, kind, words: Int32Array, index}[], counters: Float64Array, counterIndex)
// Replaces the vCPU's table of registers answered natively. Call it from the thread that will call run().
static Napi::Value SetFastMmio(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  uint32_t counterIndex;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  if (info.Length() < 4 || !info[1].IsArray() || !info[2].IsTypedArray() || !ArgU32(info, 3, &counterIndex)) {
    ThrowType(env, "setFastMmio(vcpuFd, entries[], counters: Float64Array, counterIndex)");
    return Napi::Value();
  }
  auto table = std::make_shared<FastTable>();
  Napi::TypedArray counters = info[2].As<Napi::TypedArray>();
  if (counters.TypedArrayType() != napi_float64_array || counterIndex >= counters.ElementLength()) {
    ThrowRange(env, "counters must be a Float64Array with the counter index inside it");
    return Napi::Value();
  }
  table->counter = counters.As<Napi::Float64Array>().Data() + counterIndex;
  Napi::Array entries = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Value v = entries.Get(i);
    if (!v.IsObject()) {
      ThrowType(env, "fast MMIO entry " + std::to_string(i) + " must be an object");
      return Napi::Value();
    }
    Napi::Object o = v.As<Napi::Object>();
    uint64_t gpa;
    if (!ValueU64(env, o.Get("gpa"), "gpa", &gpa)) return Napi::Value();
    Napi::Value words = o.Get("words");
    Napi::Value index = o.Get("index");
    Napi::Value kind = o.Get("kind");
    if (!words.IsTypedArray() || words.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
        !index.IsNumber() || !kind.IsNumber()) {
      ThrowType(env, "fast MMIO entry " + std::to_string(i) + " needs words: Int32Array, index and kind");
      return Napi::Value();
    }
    Napi::Int32Array w = words.As<Napi::Int32Array>();
    uint32_t at = index.As<Napi::Number>().Uint32Value();
    uint32_t k = kind.As<Napi::Number>().Uint32Value();
    if (at >= w.ElementLength() || k > kFastAndNotWord) {
      ThrowRange(env, "fast MMIO entry " + std::to_string(i) + ": index or kind out of range");
      return Napi::Value();
    }
    table->entries.push_back(FastMmio{gpa, k, w.Data() + at});
  }
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gSlots.find(fd);
  if (it == gSlots.end()) {
    ThrowRange(env, "vCPU fd has no mapped kvm_run: call mmapRun first");
    return Napi::Value();
  }
  it->second.fast = table->entries.empty() ? nullptr : table;
  return env.Undefined();
}

// run(vcpuFd) -> exit reason, or -1 when interrupted by kick() / a signal (immediate_exit is left for the caller).
static Napi::Value Run(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  kvm_run* run;
  FastTable* fast = nullptr;
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
    fast = it->second.fast.get();
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, gKickSignal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  int r;
  int err;
  do {
    r = ioctl(fd, KVM_RUN, 0);
    err = errno;
  } while (r == 0 && fast != nullptr && AnswerFast(*fast, run));
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
  exports.Set("setFastMmio", Napi::Function::New(env, SetFastMmio));
  Napi::Object kinds = Napi::Object::New(env);
  kinds.Set("READ_WORD", static_cast<uint32_t>(kFastReadWord));
  kinds.Set("AND_NOT_WORD", static_cast<uint32_t>(kFastAndNotWord));
  exports.Set("FAST_MMIO", kinds);
  InitVcpuState(env, exports);
}

}  // namespace tsvmm
