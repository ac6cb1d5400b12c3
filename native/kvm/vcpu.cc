// The vCPU's run loop, as a native object made on the thread that runs it: new Vcpu(vcpuFd, runSize) maps struct
// kvm_run (runBuffer, an external ArrayBuffer the worker reads each exit from), run() blocks in KVM_RUN, close()
// unmaps at once. kick(vcpuFd) may come from any thread: it sets immediate_exit and signals the thread inside KVM_RUN.
//
// A few MMIO registers are answered here without returning to JavaScript at all: the virtio-mmio InterruptStatus
// read and InterruptACK write, which a Linux driver does on every interrupt. Their value is a word in the device's
// SharedArrayBuffer register file, updated with the same atomics JavaScript's Atomics use. The object holds a
// reference to every typed array its table points into, so none can be collected while the table is in use.
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "errors.h"
#include "kvm/kvm.h"
#include "kvm/mapping.h"
#include "kvm/vcpu_state.h"

namespace tsvmm {

namespace {

enum FastKind : uint32_t { kFastReadWord = 0, kFastAndNotWord = 1 };

struct FastMmio {
  uint64_t gpa;
  uint32_t kind;
  int32_t* word;
};

// What kick() needs from another thread. The object that owns it registers it under its fd and removes it on
// close or collection; gMutex guards the registry, the fields, and the unmapping of kvm_run.
struct KickTarget {
  MappingRef run;
  pthread_t thread{};
  bool running = false;
};

std::mutex gMutex;
std::unordered_map<int, std::shared_ptr<KickTarget>> gKick;
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

// True when the exit was one of the registered registers and has been answered (the caller re-enters the guest).
bool AnswerFast(const std::vector<FastMmio>& table, double* counter, kvm_run* run) {
  if (run->exit_reason != KVM_EXIT_MMIO || run->mmio.len != 4) return false;
  for (const FastMmio& e : table) {
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
    if (counter != nullptr) *counter += 1;
    return true;
  }
  return false;
}

// The Int32Array of one table entry; empty with a pending exception when the entry is malformed.
Napi::Int32Array EntryWords(Napi::Env env, Napi::Value v, uint32_t i, FastMmio* out) {
  std::string which = "fast MMIO entry " + std::to_string(i);
  if (!v.IsObject()) {
    ThrowType(env, which + " must be an object");
    return Napi::Int32Array();
  }
  Napi::Object o = v.As<Napi::Object>();
  if (!ValueU64(env, o.Get("gpa"), "gpa", &out->gpa)) return Napi::Int32Array();
  Napi::Value words = o.Get("words");
  Napi::Value index = o.Get("index");
  Napi::Value kind = o.Get("kind");
  if (!words.IsTypedArray() || words.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      !index.IsNumber() || !kind.IsNumber()) {
    ThrowType(env, which + " needs words: Int32Array, index and kind");
    return Napi::Int32Array();
  }
  Napi::Int32Array w = words.As<Napi::Int32Array>();
  uint32_t at = index.As<Napi::Number>().Uint32Value();
  out->kind = kind.As<Napi::Number>().Uint32Value();
  if (at >= w.ElementLength() || out->kind > kFastAndNotWord) {
    ThrowRange(env, which + ": index or kind out of range");
    return Napi::Int32Array();
  }
  out->word = w.Data() + at;
  return w;
}

class Vcpu : public Napi::ObjectWrap<Vcpu> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Vcpu",
                       {InstanceAccessor<&Vcpu::RunBuffer>("runBuffer"), InstanceMethod<&Vcpu::Run>("run"),
                        InstanceMethod<&Vcpu::SetFastMmio>("setFastMmio"), InstanceMethod<&Vcpu::Close>("close")});
  }

  explicit Vcpu(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Vcpu>(info) {
    uint32_t size;
    if (!ArgFd(info, 0, &fd_) || !ArgU32(info, 1, &size)) return;
    auto target = std::make_shared<KickTarget>();
    Napi::ArrayBuffer buf = MapToBuffer(info.Env(), fd_, size, 0, &gMutex, &target->run);
    if (buf.IsEmpty()) return;
    runBuffer_ = Napi::Persistent(buf);
    target_ = target;
    std::lock_guard<std::mutex> lock(gMutex);
    gKick[fd_] = target;  // an fd number can come back for a new vCPU: the newest object is the one to kick
  }

  ~Vcpu() override { Release(); }

 private:
  // Ends kicks and drops the table with the references that kept its arrays alive; the mapping stays for close()
  // or, when the object is collected unclosed, for the buffer's finalizer.
  void Release() {
    if (target_ != nullptr) {
      std::lock_guard<std::mutex> lock(gMutex);
      auto it = gKick.find(fd_);
      if (it != gKick.end() && it->second == target_) gKick.erase(it);
    }
    table_.clear();
    counter_ = nullptr;
    held_.clear();
  }

  bool Closed(Napi::Env env) {
    if (target_ != nullptr) return false;
    ThrowType(env, "the vCPU is closed");
    return true;
  }

  Napi::Value RunBuffer(const Napi::CallbackInfo& info) {
    return runBuffer_.IsEmpty() ? info.Env().Undefined() : runBuffer_.Value();
  }

  Napi::Value SetFastMmio(const Napi::CallbackInfo& info);
  Napi::Value Run(const Napi::CallbackInfo& info);

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (target_ == nullptr) return info.Env().Undefined();
    Release();
    if (!DetachAndUnmap(info.Env(), runBuffer_.Value(), target_->run)) return Napi::Value();
    runBuffer_.Reset();
    target_ = nullptr;
    return info.Env().Undefined();
  }

  int fd_ = -1;
  std::shared_ptr<KickTarget> target_;  // null once closed
  Napi::Reference<Napi::ArrayBuffer> runBuffer_;
  std::vector<FastMmio> table_;
  double* counter_ = nullptr;
  std::vector<Napi::Reference<Napi::TypedArray>> held_;
};

// setFastMmio(entries: {gpa, kind, words: Int32Array, index}[], counters: Float64Array, counterIndex)
// Replaces the table of registers answered natively; each answer adds 1 to counters[counterIndex].
Napi::Value Vcpu::SetFastMmio(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t counterIndex;
  if (Closed(env)) return Napi::Value();
  if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsTypedArray() || !ArgU32(info, 2, &counterIndex)) {
    ThrowType(env, "setFastMmio(entries[], counters: Float64Array, counterIndex)");
    return Napi::Value();
  }
  Napi::TypedArray counters = info[1].As<Napi::TypedArray>();
  if (counters.TypedArrayType() != napi_float64_array || counterIndex >= counters.ElementLength()) {
    ThrowRange(env, "counters must be a Float64Array with the counter index inside it");
    return Napi::Value();
  }
  Napi::Array entries = info[0].As<Napi::Array>();
  std::vector<FastMmio> table;
  std::vector<Napi::Reference<Napi::TypedArray>> held;
  held.push_back(Napi::Persistent(counters));
  for (uint32_t i = 0; i < entries.Length(); i++) {
    FastMmio e{};
    Napi::Int32Array words = EntryWords(env, entries.Get(i), i, &e);
    if (words.IsEmpty()) return Napi::Value();
    table.push_back(e);
    held.push_back(Napi::Persistent<Napi::TypedArray>(words));
  }
  table_ = std::move(table);
  held_ = std::move(held);
  counter_ = counters.As<Napi::Float64Array>().Data() + counterIndex;
  return env.Undefined();
}

// run() -> exit reason, or -1 when interrupted by kick() / a signal (immediate_exit is left for the caller).
Napi::Value Vcpu::Run(const Napi::CallbackInfo& info) {
  if (Closed(info.Env())) return Napi::Value();
  kvm_run* run = static_cast<kvm_run*>(target_->run->addr);
  {
    std::lock_guard<std::mutex> lock(gMutex);
    target_->thread = pthread_self();
    target_->running = true;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, gKickSignal);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  int r;
  int err;
  do {
    r = ioctl(fd_, KVM_RUN, 0);
    err = errno;
  } while (r == 0 && !table_.empty() && AnswerFast(table_, counter_, run));
  {
    std::lock_guard<std::mutex> lock(gMutex);
    target_->running = false;
  }
  if (r < 0) {
    if (err == EINTR || err == EAGAIN) return Napi::Number::New(info.Env(), -1);
    ThrowErrno(info.Env(), err, "KVM_RUN");
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), run->exit_reason);
}

// kick(vcpuFd): make the vCPU's current or next KVM_RUN return at once; nothing when no open vCPU has that fd.
Napi::Value Kick(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  std::lock_guard<std::mutex> lock(gMutex);
  auto it = gKick.find(fd);
  if (it != gKick.end() && !it->second->run->unmapped) {
    kvm_run* run = static_cast<kvm_run*>(it->second->run->addr);
    __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (it->second->running) pthread_kill(it->second->thread, gKickSignal);
  }
  return info.Env().Undefined();
}

}  // namespace

void InitVcpu(Napi::Env env, Napi::Object exports) {
  InstallKickSignal();
  exports.Set("Vcpu", Vcpu::Define(env));
  exports.Set("kick", Napi::Function::New(env, Kick));
  Napi::Object kinds = Napi::Object::New(env);
  kinds.Set("READ_WORD", static_cast<uint32_t>(kFastReadWord));
  kinds.Set("AND_NOT_WORD", static_cast<uint32_t>(kFastAndNotWord));
  exports.Set("FAST_MMIO", kinds);
  InitVcpuState(env, exports);
}

}  // namespace tsvmm
