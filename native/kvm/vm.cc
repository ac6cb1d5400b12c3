// VM-level ioctls: memory slots, the in-kernel irqchip and PIT, interrupt lines, irqfd / ioeventfd, vCPU creation.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "kvm/kvm.h"

namespace tsvmm {

static Napi::Value Fail(const Napi::CallbackInfo& info, long r, const char* name) {
  ThrowErrno(info.Env(), static_cast<int>(-r), name);
  return Napi::Value();
}

// setUserMemoryRegion(vmFd, slot, flags, gpa, arrayBuffer): the slot maps the whole buffer, so the host address
// never crosses into JavaScript.
static Napi::Value SetUserMemoryRegion(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t slot, flags;
  uint64_t gpa;
  void* data;
  size_t len;
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &slot) || !ArgU32(info, 2, &flags) || !ArgU64(info, 3, &gpa) ||
      !ArgArrayBuffer(info, 4, &data, &len))
    return Napi::Value();
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = len;
  region.userspace_addr = reinterpret_cast<uint64_t>(data);
  long r = IoctlRetry(fd, KVM_SET_USER_MEMORY_REGION, &region);
  if (r < 0) return Fail(info, r, "KVM_SET_USER_MEMORY_REGION");
  return info.Env().Undefined();
}

static Napi::Value CreateIrqchip(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  long r = IoctlRetry(fd, KVM_CREATE_IRQCHIP, nullptr);
  if (r < 0) return Fail(info, r, "KVM_CREATE_IRQCHIP");
  return info.Env().Undefined();
}

static Napi::Value CreatePit2(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t flags = 0;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  if (info.Length() > 1 && !ArgU32(info, 1, &flags)) return Napi::Value();
  kvm_pit_config cfg{};
  cfg.flags = flags;
  long r = IoctlRetry(fd, KVM_CREATE_PIT2, &cfg);
  if (r < 0) return Fail(info, r, "KVM_CREATE_PIT2");
  return info.Env().Undefined();
}

static Napi::Value SetTssAddr(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t addr;
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &addr)) return Napi::Value();
  long r = RetryEintr([&] { return ioctl(fd, KVM_SET_TSS_ADDR, static_cast<unsigned long>(addr)); });
  if (r < 0) return Fail(info, -errno, "KVM_SET_TSS_ADDR");
  return info.Env().Undefined();
}

static Napi::Value SetIdentityMapAddr(const Napi::CallbackInfo& info) {
  int fd;
  uint64_t addr;
  if (!ArgFd(info, 0, &fd) || !ArgU64(info, 1, &addr)) return Napi::Value();
  long r = IoctlRetry(fd, KVM_SET_IDENTITY_MAP_ADDR, &addr);
  if (r < 0) return Fail(info, r, "KVM_SET_IDENTITY_MAP_ADDR");
  return info.Env().Undefined();
}

// irqLine(vmFd, irq, level): safe from any thread, the vm fd serialises it in the kernel.
static Napi::Value IrqLine(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t irq, level;
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &irq) || !ArgU32(info, 2, &level)) return Napi::Value();
  kvm_irq_level l{};
  l.irq = irq;
  l.level = level;
  long r = IoctlRetry(fd, KVM_IRQ_LINE, &l);
  if (r < 0) return Fail(info, r, "KVM_IRQ_LINE");
  return info.Env().Undefined();
}

// irqfd(vmFd, eventFd, gsi, deassign)
static Napi::Value Irqfd(const Napi::CallbackInfo& info) {
  int fd, efd;
  uint32_t gsi;
  if (!ArgFd(info, 0, &fd) || !ArgFd(info, 1, &efd) || !ArgU32(info, 2, &gsi)) return Napi::Value();
  bool deassign = info.Length() > 3 && info[3].ToBoolean().Value();
  kvm_irqfd req{};
  req.fd = static_cast<uint32_t>(efd);
  req.gsi = gsi;
  req.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
  long r = IoctlRetry(fd, KVM_IRQFD, &req);
  if (r < 0) return Fail(info, r, "KVM_IRQFD");
  return info.Env().Undefined();
}

// ioeventfd(vmFd, eventFd, addr, len, datamatch | null, pio, deassign)
static Napi::Value Ioeventfd(const Napi::CallbackInfo& info) {
  int fd, efd;
  uint64_t addr;
  uint32_t len;
  if (!ArgFd(info, 0, &fd) || !ArgFd(info, 1, &efd) || !ArgU64(info, 2, &addr) || !ArgU32(info, 3, &len))
    return Napi::Value();
  kvm_ioeventfd req{};
  req.fd = efd;
  req.addr = addr;
  req.len = len;
  if (info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined()) {
    uint64_t match;
    if (!ValueU64(info.Env(), info[4], "datamatch", &match)) return Napi::Value();
    req.datamatch = match;
    req.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
  }
  if (info.Length() > 5 && info[5].ToBoolean().Value()) req.flags |= KVM_IOEVENTFD_FLAG_PIO;
  if (info.Length() > 6 && info[6].ToBoolean().Value()) req.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
  long r = IoctlRetry(fd, KVM_IOEVENTFD, &req);
  if (r < 0) return Fail(info, r, "KVM_IOEVENTFD");
  return info.Env().Undefined();
}

static Napi::Value CreateVcpu(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t id;
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &id)) return Napi::Value();
  long r = RetryEintr([&] { return ioctl(fd, KVM_CREATE_VCPU, static_cast<unsigned long>(id)); });
  if (r < 0) return Fail(info, -errno, "KVM_CREATE_VCPU");
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

void InitVm(Napi::Env env, Napi::Object exports) {
  exports.Set("setUserMemoryRegion", Napi::Function::New(env, SetUserMemoryRegion));
  exports.Set("createIrqchip", Napi::Function::New(env, CreateIrqchip));
  exports.Set("createPit2", Napi::Function::New(env, CreatePit2));
  exports.Set("setTssAddr", Napi::Function::New(env, SetTssAddr));
  exports.Set("setIdentityMapAddr", Napi::Function::New(env, SetIdentityMapAddr));
  exports.Set("irqLine", Napi::Function::New(env, IrqLine));
  exports.Set("irqfd", Napi::Function::New(env, Irqfd));
  exports.Set("ioeventfd", Napi::Function::New(env, Ioeventfd));
  exports.Set("createVcpu", Napi::Function::New(env, CreateVcpu));
}

}  // namespace tsvmm
