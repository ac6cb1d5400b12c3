// /dev/kvm itself: open it, ask what it supports, create VMs.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "errors.h"
#include "kvm/kvm.h"
#include "kvm/uapi.h"

namespace tsvmm {

long IoctlRetry(int fd, unsigned long request, void* arg) {
  long r = RetryEintr([&] { return ioctl(fd, request, arg); });
  return r < 0 ? -errno : r;
}

static Napi::Value OpenKvm(const Napi::CallbackInfo& info) {
  std::string path = "/dev/kvm";
  if (info.Length() > 0 && info[0].IsString()) path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(info.Env(), errno, "open");
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), fd);
}

// ioctl(fd, request, int arg) -> result: KVM_GET_API_VERSION, KVM_CHECK_EXTENSION, KVM_GET_VCPU_MMAP_SIZE,
// KVM_CREATE_VM all share this shape.
static Napi::Value IntIoctl(const Napi::CallbackInfo& info, unsigned long request, const char* name, size_t argIndex) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  uint32_t arg = 0;
  if (argIndex != 0 && !ArgU32(info, argIndex, &arg)) return Napi::Value();
  long r = RetryEintr([&] { return ioctl(fd, request, static_cast<unsigned long>(arg)); });
  if (r < 0) {
    ThrowErrno(info.Env(), errno, name);
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

static Napi::Value GetApiVersion(const Napi::CallbackInfo& info) {
  return IntIoctl(info, KVM_GET_API_VERSION, "KVM_GET_API_VERSION", 0);
}
static Napi::Value CheckExtension(const Napi::CallbackInfo& info) {
  return IntIoctl(info, KVM_CHECK_EXTENSION, "KVM_CHECK_EXTENSION", 1);
}
static Napi::Value GetVcpuMmapSize(const Napi::CallbackInfo& info) {
  return IntIoctl(info, KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE", 0);
}
static Napi::Value CreateVm(const Napi::CallbackInfo& info) {
  return IntIoctl(info, KVM_CREATE_VM, "KVM_CREATE_VM", 0);
}

static Napi::Value GetSupportedCpuid(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  const int max = 256;
  std::vector<uint8_t> buf(sizeof(CpuidHeader) + max * sizeof(kvm_cpuid_entry2));
  auto* cpuid = reinterpret_cast<CpuidHeader*>(buf.data());
  auto* entries = EntriesAfter<kvm_cpuid_entry2>(cpuid);
  cpuid->nent = max;
  long r = IoctlRetry(fd, kGetSupportedCpuid, cpuid);
  if (r < 0) {
    ThrowErrno(info.Env(), static_cast<int>(-r), "KVM_GET_SUPPORTED_CPUID");
    return Napi::Value();
  }
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, cpuid->nent);
  for (uint32_t i = 0; i < cpuid->nent; i++) {
    const kvm_cpuid_entry2& e = entries[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("function", e.function);
    o.Set("index", e.index);
    o.Set("flags", e.flags);
    o.Set("eax", e.eax);
    o.Set("ebx", e.ebx);
    o.Set("ecx", e.ecx);
    o.Set("edx", e.edx);
    out.Set(i, o);
  }
  return out;
}

static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  if (close(fd) < 0 && errno != EINTR) {
    ThrowErrno(info.Env(), errno, "close");
    return Napi::Value();
  }
  return info.Env().Undefined();
}

void InitSystem(Napi::Env env, Napi::Object exports) {
  exports.Set("openKvm", Napi::Function::New(env, OpenKvm));
  exports.Set("getApiVersion", Napi::Function::New(env, GetApiVersion));
  exports.Set("checkExtension", Napi::Function::New(env, CheckExtension));
  exports.Set("getVcpuMmapSize", Napi::Function::New(env, GetVcpuMmapSize));
  exports.Set("createVm", Napi::Function::New(env, CreateVm));
  exports.Set("getSupportedCpuid", Napi::Function::New(env, GetSupportedCpuid));
  exports.Set("close", Napi::Function::New(env, CloseFd));
}

}  // namespace tsvmm
