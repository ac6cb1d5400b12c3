// The state a snapshot saves, as opaque blobs: each KVM struct copied out into a Buffer as the kernel wrote it, and
// back in unchanged. What a blob means, which ones a snapshot needs and in which order they go back is decided in
// TypeScript (src/vmm/snapshot); sizes are checked here only so that no ioctl ever reads past a Buffer.
//
// The vCPU calls take a vCPU fd from any thread of the process: KVM serialises them on the vCPU's own mutex, and
// they are made only while the vCPU is out of KVM_RUN (paused, or not started yet).
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstring>
#include <vector>

#include "errors.h"
#include "kvm/kvm.h"
#include "kvm/uapi.h"

namespace tsvmm {

namespace {

// kvm_xsave and kvm_msr_list end in a flexible array (see uapi.h): their ioctl numbers are built from the C sizes.
constexpr size_t kXsaveLegacyBytes = 4096;
constexpr unsigned long kGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, kXsaveLegacyBytes);
constexpr unsigned long kSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, kXsaveLegacyBytes);
constexpr unsigned long kGetXsave2 = _IOC(_IOC_READ, KVMIO, 0xcf, kXsaveLegacyBytes);
constexpr unsigned long kGetMsrIndexList = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x02, sizeof(uint32_t));

struct BlobKind {
  const char* name;
  unsigned long get;
  unsigned long set;
  size_t bytes;
  int32_t chip;  // KVM_GET_IRQCHIP's chip_id, or -1
};

// Fixed-size vCPU state; the index is the kind TypeScript passes.
const BlobKind kVcpuKinds[] = {
    {"regs", KVM_GET_REGS, KVM_SET_REGS, sizeof(kvm_regs), -1},
    {"sregs", KVM_GET_SREGS, KVM_SET_SREGS, sizeof(kvm_sregs), -1},
    {"xcrs", KVM_GET_XCRS, KVM_SET_XCRS, sizeof(kvm_xcrs), -1},
    {"lapic", KVM_GET_LAPIC, KVM_SET_LAPIC, sizeof(kvm_lapic_state), -1},
    {"events", KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, sizeof(kvm_vcpu_events), -1},
    {"mpState", KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(kvm_mp_state), -1},
    {"debugRegs", KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, sizeof(kvm_debugregs), -1},
};

// VM-wide state: the two PICs and the IOAPIC (one struct, told apart by chip_id), the PIT and kvmclock.
const BlobKind kVmKinds[] = {
    {"picMaster", KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, sizeof(kvm_irqchip), KVM_IRQCHIP_PIC_MASTER},
    {"picSlave", KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, sizeof(kvm_irqchip), KVM_IRQCHIP_PIC_SLAVE},
    {"ioapic", KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, sizeof(kvm_irqchip), KVM_IRQCHIP_IOAPIC},
    {"pit", KVM_GET_PIT2, KVM_SET_PIT2, sizeof(kvm_pit_state2), -1},
    {"clock", KVM_GET_CLOCK, KVM_SET_CLOCK, sizeof(kvm_clock_data), -1},
};

template <size_t N>
const BlobKind* KindArg(const Napi::CallbackInfo& info, size_t i, const BlobKind (&kinds)[N]) {
  uint32_t k;
  if (!ArgU32(info, i, &k)) return nullptr;
  if (k >= N) {
    ThrowRange(info.Env(), "unknown state kind " + std::to_string(k));
    return nullptr;
  }
  return &kinds[k];
}

Napi::Value Fail(const Napi::CallbackInfo& info, long r, const char* name) {
  ThrowErrno(info.Env(), static_cast<int>(-r), name);
  return Napi::Value();
}

Napi::Value GetBlob(const Napi::CallbackInfo& info, const BlobKind* kind) {
  int fd;
  if (kind == nullptr || !ArgFd(info, 0, &fd)) return Napi::Value();
  std::vector<uint8_t> buf(kind->bytes, 0);
  if (kind->chip >= 0) reinterpret_cast<kvm_irqchip*>(buf.data())->chip_id = static_cast<uint32_t>(kind->chip);
  long r = IoctlRetry(fd, kind->get, buf.data());
  if (r < 0) return Fail(info, r, kind->name);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), buf.data(), buf.size());
}

Napi::Value SetBlob(const Napi::CallbackInfo& info, const BlobKind* kind) {
  int fd;
  uint8_t* data;
  size_t len;
  if (kind == nullptr || !ArgFd(info, 0, &fd) || !ArgBuffer(info, 2, &data, &len)) return Napi::Value();
  if (len != kind->bytes) {
    ThrowRange(info.Env(), std::string(kind->name) + " state must be " + std::to_string(kind->bytes) + " bytes");
    return Napi::Value();
  }
  std::vector<uint8_t> buf(data, data + len);  // the ioctl never sees JavaScript's memory
  long r = IoctlRetry(fd, kind->set, buf.data());
  if (r < 0) return Fail(info, r, kind->name);
  return info.Env().Undefined();
}

// getVcpuState(vcpuFd, kind) -> Buffer
Napi::Value GetVcpuState(const Napi::CallbackInfo& info) { return GetBlob(info, KindArg(info, 1, kVcpuKinds)); }
// setVcpuState(vcpuFd, kind, buffer)
Napi::Value SetVcpuState(const Napi::CallbackInfo& info) { return SetBlob(info, KindArg(info, 1, kVcpuKinds)); }
// getVmState(vmFd, kind) -> Buffer
Napi::Value GetVmState(const Napi::CallbackInfo& info) { return GetBlob(info, KindArg(info, 1, kVmKinds)); }
// setVmState(vmFd, kind, buffer)
Napi::Value SetVmState(const Napi::CallbackInfo& info) { return SetBlob(info, KindArg(info, 1, kVmKinds)); }

// getXsave(vcpuFd, size) -> Buffer of `size` bytes: KVM_GET_XSAVE2 when size is KVM_CAP_XSAVE2's answer on the VM,
// KVM_GET_XSAVE (4096 bytes) when size is 4096 and the kernel has no XSAVE2. The caller passes the VM's size:
// KVM writes exactly that many bytes.
Napi::Value GetXsave(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t size;
  bool legacy = info.Length() > 2 && info[2].ToBoolean().Value();
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &size)) return Napi::Value();
  if (size < kXsaveLegacyBytes || size % 4 != 0 || (legacy && size != kXsaveLegacyBytes)) {
    ThrowRange(info.Env(), "XSAVE size must be a multiple of 4 of at least 4096 (exactly 4096 without XSAVE2)");
    return Napi::Value();
  }
  std::vector<uint8_t> buf(size, 0);
  long r = IoctlRetry(fd, legacy ? kGetXsave : kGetXsave2, buf.data());
  if (r < 0) return Fail(info, r, legacy ? "KVM_GET_XSAVE" : "KVM_GET_XSAVE2");
  return Napi::Buffer<uint8_t>::Copy(info.Env(), buf.data(), buf.size());
}

// setXsave(vcpuFd, buffer): KVM_SET_XSAVE reads as many bytes as KVM_CAP_XSAVE2 says (4096 without it), so the
// buffer must be exactly the VM's size; TypeScript pads a smaller snapshot's area with zeros first.
Napi::Value SetXsave(const Napi::CallbackInfo& info) {
  int fd;
  uint8_t* data;
  size_t len;
  if (!ArgFd(info, 0, &fd) || !ArgBuffer(info, 1, &data, &len)) return Napi::Value();
  if (len < kXsaveLegacyBytes || len % 4 != 0) {
    ThrowRange(info.Env(), "XSAVE state must be a multiple of 4 of at least 4096 bytes");
    return Napi::Value();
  }
  std::vector<uint8_t> buf(data, data + len);
  long r = IoctlRetry(fd, kSetXsave, buf.data());
  if (r < 0) return Fail(info, r, "KVM_SET_XSAVE");
  return info.Env().Undefined();
}

// getMsrIndexList(kvmFd) -> Uint32Array of the MSRs KVM saves and restores for a vCPU.
Napi::Value GetMsrIndexList(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  uint32_t count = 256;
  for (int tries = 0; tries < 4; tries++) {
    std::vector<uint32_t> buf(1 + count, 0);
    buf[0] = count;
    long r = IoctlRetry(fd, kGetMsrIndexList, buf.data());
    if (r == -E2BIG && buf[0] > count) {  // the kernel said how many there are
      count = buf[0];
      continue;
    }
    if (r < 0) return Fail(info, r, "KVM_GET_MSR_INDEX_LIST");
    Napi::Uint32Array out = Napi::Uint32Array::New(info.Env(), buf[0]);
    memcpy(out.Data(), buf.data() + 1, buf[0] * sizeof(uint32_t));
    return out;
  }
  ThrowRange(info.Env(), "KVM_GET_MSR_INDEX_LIST kept growing");
  return Napi::Value();
}

// getMsrs / setMsrs on kvm_msr_entry records (index u32, reserved u32, data u64; 16 bytes each), in place: the
// count KVM handled, which stops at the first MSR it refuses. The caller decides what a short count means.
Napi::Value MsrEntries(const Napi::CallbackInfo& info, unsigned long request, const char* name) {
  int fd;
  uint8_t* data;
  size_t len;
  if (!ArgFd(info, 0, &fd) || !ArgBuffer(info, 1, &data, &len)) return Napi::Value();
  if (len % sizeof(kvm_msr_entry) != 0) {
    ThrowRange(info.Env(), "MSR entries must be 16 bytes each");
    return Napi::Value();
  }
  size_t n = len / sizeof(kvm_msr_entry);
  std::vector<uint8_t> buf(sizeof(MsrsHeader) + len);
  reinterpret_cast<MsrsHeader*>(buf.data())->nmsrs = static_cast<uint32_t>(n);
  memcpy(buf.data() + sizeof(MsrsHeader), data, len);
  long r = IoctlRetry(fd, request, buf.data());
  if (r < 0) return Fail(info, r, name);
  memcpy(data, buf.data() + sizeof(MsrsHeader), len);
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

Napi::Value GetMsrEntries(const Napi::CallbackInfo& info) { return MsrEntries(info, kGetMsrs, "KVM_GET_MSRS"); }
Napi::Value SetMsrEntries(const Napi::CallbackInfo& info) { return MsrEntries(info, kSetMsrs, "KVM_SET_MSRS"); }

template <size_t N>
Napi::Object Kinds(Napi::Env env, const BlobKind (&kinds)[N]) {
  Napi::Object o = Napi::Object::New(env);
  for (size_t i = 0; i < N; i++) {
    Napi::Object k = Napi::Object::New(env);
    k.Set("id", static_cast<uint32_t>(i));
    k.Set("bytes", static_cast<uint32_t>(kinds[i].bytes));
    o.Set(kinds[i].name, k);
  }
  return o;
}

}  // namespace

void InitSnapshot(Napi::Env env, Napi::Object exports) {
  exports.Set("getVcpuState", Napi::Function::New(env, GetVcpuState));
  exports.Set("setVcpuState", Napi::Function::New(env, SetVcpuState));
  exports.Set("getVmState", Napi::Function::New(env, GetVmState));
  exports.Set("setVmState", Napi::Function::New(env, SetVmState));
  exports.Set("getXsave", Napi::Function::New(env, GetXsave));
  exports.Set("setXsave", Napi::Function::New(env, SetXsave));
  exports.Set("getMsrIndexList", Napi::Function::New(env, GetMsrIndexList));
  exports.Set("getMsrEntries", Napi::Function::New(env, GetMsrEntries));
  exports.Set("setMsrEntries", Napi::Function::New(env, SetMsrEntries));
  Napi::Object kinds = Napi::Object::New(env);
  kinds.Set("vcpu", Kinds(env, kVcpuKinds));
  kinds.Set("vm", Kinds(env, kVmKinds));
  exports.Set("STATE_KINDS", kinds);
}

}  // namespace tsvmm
