// Conversions between KVM's vCPU state structs and plain JavaScript objects (64-bit values as bigint).
#include "kvm/vcpu_state.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstring>
#include <vector>

#include "errors.h"
#include "kvm/kvm.h"
#include "kvm/uapi.h"

namespace tsvmm {

namespace {

Napi::Value Fail(const Napi::CallbackInfo& info, long r, const char* name) {
  ThrowErrno(info.Env(), static_cast<int>(-r), name);
  return Napi::Value();
}

bool GetObj(const Napi::CallbackInfo& info, size_t i, Napi::Object* out) {
  if (i >= info.Length() || !info[i].IsObject()) {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " must be an object");
    return false;
  }
  *out = info[i].As<Napi::Object>();
  return true;
}

bool FieldU64(Napi::Object o, const char* name, uint64_t* out) {
  return ValueU64(o.Env(), o.Get(name), name, out);
}

template <typename T>
bool FieldUint(Napi::Object o, const char* name, T* out) {
  uint64_t v;
  if (!FieldU64(o, name, &v)) return false;
  *out = static_cast<T>(v);
  return true;
}

#define REGS_FIELDS(X) \
  X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) X(r8) X(r9) X(r10) X(r11) X(r12) X(r13) X(r14) X(r15) X(rip) X(rflags)

Napi::Object SegmentToJs(Napi::Env env, const kvm_segment& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("base", U64(env, s.base));
  o.Set("limit", s.limit);
  o.Set("selector", s.selector);
  o.Set("type", s.type);
  o.Set("present", s.present);
  o.Set("dpl", s.dpl);
  o.Set("db", s.db);
  o.Set("s", s.s);
  o.Set("l", s.l);
  o.Set("g", s.g);
  o.Set("avl", s.avl);
  o.Set("unusable", s.unusable);
  return o;
}

bool SegmentFromJs(Napi::Object parent, const char* name, kvm_segment* s) {
  Napi::Value v = parent.Get(name);
  if (!v.IsObject()) {
    ThrowType(parent.Env(), std::string("sregs.") + name + " must be an object");
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  return FieldU64(o, "base", reinterpret_cast<uint64_t*>(&s->base)) && FieldUint(o, "limit", &s->limit) &&
         FieldUint(o, "selector", &s->selector) && FieldUint(o, "type", &s->type) &&
         FieldUint(o, "present", &s->present) && FieldUint(o, "dpl", &s->dpl) && FieldUint(o, "db", &s->db) &&
         FieldUint(o, "s", &s->s) && FieldUint(o, "l", &s->l) && FieldUint(o, "g", &s->g) &&
         FieldUint(o, "avl", &s->avl) && FieldUint(o, "unusable", &s->unusable);
}

Napi::Object DtableToJs(Napi::Env env, const kvm_dtable& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("base", U64(env, d.base));
  o.Set("limit", d.limit);
  return o;
}

bool DtableFromJs(Napi::Object parent, const char* name, kvm_dtable* d) {
  Napi::Value v = parent.Get(name);
  if (!v.IsObject()) {
    ThrowType(parent.Env(), std::string("sregs.") + name + " must be an object");
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  return FieldU64(o, "base", reinterpret_cast<uint64_t*>(&d->base)) && FieldUint(o, "limit", &d->limit);
}

}  // namespace

static Napi::Value GetRegs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  kvm_regs regs{};
  long r = IoctlRetry(fd, KVM_GET_REGS, &regs);
  if (r < 0) return Fail(info, r, "KVM_GET_REGS");
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#define X(f) o.Set(#f, U64(env, regs.f));
  REGS_FIELDS(X)
#undef X
  return o;
}

static Napi::Value SetRegs(const Napi::CallbackInfo& info) {
  int fd;
  Napi::Object o;
  if (!ArgFd(info, 0, &fd) || !GetObj(info, 1, &o)) return Napi::Value();
  kvm_regs regs{};
#define X(f) \
  if (!FieldU64(o, #f, reinterpret_cast<uint64_t*>(&regs.f))) return Napi::Value();
  REGS_FIELDS(X)
#undef X
  long r = IoctlRetry(fd, KVM_SET_REGS, &regs);
  if (r < 0) return Fail(info, r, "KVM_SET_REGS");
  return info.Env().Undefined();
}

#define SEGS(X) X(cs) X(ds) X(es) X(fs) X(gs) X(ss) X(tr) X(ldt)
#define CREGS(X) X(cr0) X(cr2) X(cr3) X(cr4) X(cr8) X(efer)

static Napi::Value GetSregs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  kvm_sregs s{};
  long r = IoctlRetry(fd, KVM_GET_SREGS, &s);
  if (r < 0) return Fail(info, r, "KVM_GET_SREGS");
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#define X(f) o.Set(#f, SegmentToJs(env, s.f));
  SEGS(X)
#undef X
#define X(f) o.Set(#f, U64(env, s.f));
  CREGS(X)
#undef X
  o.Set("gdt", DtableToJs(env, s.gdt));
  o.Set("idt", DtableToJs(env, s.idt));
  o.Set("apicBase", U64(env, s.apic_base));
  return o;
}

// setSregs reads the current state first so the interrupt bitmap KVM keeps is written back unchanged.
static Napi::Value SetSregs(const Napi::CallbackInfo& info) {
  int fd;
  Napi::Object o;
  if (!ArgFd(info, 0, &fd) || !GetObj(info, 1, &o)) return Napi::Value();
  kvm_sregs s{};
  long r = IoctlRetry(fd, KVM_GET_SREGS, &s);
  if (r < 0) return Fail(info, r, "KVM_GET_SREGS");
#define X(f) \
  if (!SegmentFromJs(o, #f, &s.f)) return Napi::Value();
  SEGS(X)
#undef X
#define X(f) \
  if (!FieldU64(o, #f, reinterpret_cast<uint64_t*>(&s.f))) return Napi::Value();
  CREGS(X)
#undef X
  if (!DtableFromJs(o, "gdt", &s.gdt) || !DtableFromJs(o, "idt", &s.idt)) return Napi::Value();
  if (!FieldU64(o, "apicBase", reinterpret_cast<uint64_t*>(&s.apic_base))) return Napi::Value();
  r = IoctlRetry(fd, KVM_SET_SREGS, &s);
  if (r < 0) return Fail(info, r, "KVM_SET_SREGS");
  return info.Env().Undefined();
}

static Napi::Value SetFpu(const Napi::CallbackInfo& info) {
  int fd;
  Napi::Object o;
  if (!ArgFd(info, 0, &fd) || !GetObj(info, 1, &o)) return Napi::Value();
  kvm_fpu fpu{};
  if (!FieldUint(o, "fcw", &fpu.fcw) || !FieldUint(o, "mxcsr", &fpu.mxcsr)) return Napi::Value();
  long r = IoctlRetry(fd, KVM_SET_FPU, &fpu);
  if (r < 0) return Fail(info, r, "KVM_SET_FPU");
  return info.Env().Undefined();
}

// setMsrs(fd, [{index, data}]) -> how many KVM accepted (it stops at the first one it refuses).
static Napi::Value SetMsrs(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  if (info.Length() < 2 || !info[1].IsArray()) {
    ThrowType(info.Env(), "msrs must be an array");
    return Napi::Value();
  }
  Napi::Array arr = info[1].As<Napi::Array>();
  uint32_t n = arr.Length();
  std::vector<uint8_t> buf(sizeof(MsrsHeader) + n * sizeof(kvm_msr_entry));
  auto* msrs = reinterpret_cast<MsrsHeader*>(buf.data());
  auto* entries = EntriesAfter<kvm_msr_entry>(msrs);
  msrs->nmsrs = n;
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) {
      ThrowType(info.Env(), "each msr must be {index, data}");
      return Napi::Value();
    }
    Napi::Object e = v.As<Napi::Object>();
    if (!FieldUint(e, "index", &entries[i].index) ||
        !FieldU64(e, "data", reinterpret_cast<uint64_t*>(&entries[i].data)))
      return Napi::Value();
  }
  long r = IoctlRetry(fd, kSetMsrs, msrs);
  if (r < 0) return Fail(info, r, "KVM_SET_MSRS");
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

static Napi::Value SetCpuid2(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  if (info.Length() < 2 || !info[1].IsArray()) {
    ThrowType(info.Env(), "cpuid entries must be an array");
    return Napi::Value();
  }
  Napi::Array arr = info[1].As<Napi::Array>();
  uint32_t n = arr.Length();
  std::vector<uint8_t> buf(sizeof(CpuidHeader) + n * sizeof(kvm_cpuid_entry2));
  auto* cpuid = reinterpret_cast<CpuidHeader*>(buf.data());
  auto* entries = EntriesAfter<kvm_cpuid_entry2>(cpuid);
  cpuid->nent = n;
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) {
      ThrowType(info.Env(), "each cpuid entry must be an object");
      return Napi::Value();
    }
    Napi::Object e = v.As<Napi::Object>();
    kvm_cpuid_entry2& c = entries[i];
    if (!FieldUint(e, "function", &c.function) || !FieldUint(e, "index", &c.index) ||
        !FieldUint(e, "flags", &c.flags) || !FieldUint(e, "eax", &c.eax) || !FieldUint(e, "ebx", &c.ebx) ||
        !FieldUint(e, "ecx", &c.ecx) || !FieldUint(e, "edx", &c.edx))
      return Napi::Value();
  }
  long r = IoctlRetry(fd, kSetCpuid2, cpuid);
  if (r < 0) return Fail(info, r, "KVM_SET_CPUID2");
  return info.Env().Undefined();
}

static Napi::Value GetLapic(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  kvm_lapic_state st{};
  long r = IoctlRetry(fd, KVM_GET_LAPIC, &st);
  if (r < 0) return Fail(info, r, "KVM_GET_LAPIC");
  return Napi::Buffer<uint8_t>::Copy(info.Env(), reinterpret_cast<uint8_t*>(st.regs), sizeof st.regs);
}

// The vCPU's run state (KVM_MP_STATE_*): HALTED while it sits in an in-kernel HLT, which user space cannot see
// any other way. Meaningful only while the vCPU is out of KVM_RUN.
static Napi::Value GetMpState(const Napi::CallbackInfo& info) {
  int fd;
  if (!ArgFd(info, 0, &fd)) return Napi::Value();
  kvm_mp_state st{};
  long r = IoctlRetry(fd, KVM_GET_MP_STATE, &st);
  if (r < 0) return Fail(info, r, "KVM_GET_MP_STATE");
  return Napi::Number::New(info.Env(), st.mp_state);
}

static Napi::Value SetLapic(const Napi::CallbackInfo& info) {
  int fd;
  uint8_t* data;
  size_t len;
  if (!ArgFd(info, 0, &fd) || !ArgBuffer(info, 1, &data, &len)) return Napi::Value();
  kvm_lapic_state st{};
  if (len != sizeof st.regs) {
    ThrowRange(info.Env(), "LAPIC state must be 1024 bytes");
    return Napi::Value();
  }
  memcpy(st.regs, data, len);
  long r = IoctlRetry(fd, KVM_SET_LAPIC, &st);
  if (r < 0) return Fail(info, r, "KVM_SET_LAPIC");
  return info.Env().Undefined();
}

// injectException(fd, {nr, hasErrorCode, errorCode}): queue an exception for the next entry.
static Napi::Value InjectException(const Napi::CallbackInfo& info) {
  int fd;
  Napi::Object o;
  if (!ArgFd(info, 0, &fd) || !GetObj(info, 1, &o)) return Napi::Value();
  kvm_vcpu_events ev{};
  long r = IoctlRetry(fd, KVM_GET_VCPU_EVENTS, &ev);
  if (r < 0) return Fail(info, r, "KVM_GET_VCPU_EVENTS");
  uint32_t nr, err;
  if (!FieldUint(o, "nr", &nr) || !FieldUint(o, "errorCode", &err)) return Napi::Value();
  ev.exception.injected = 1;
  ev.exception.nr = static_cast<uint8_t>(nr);
  ev.exception.has_error_code = o.Get("hasErrorCode").ToBoolean().Value() ? 1 : 0;
  ev.exception.error_code = err;
  ev.flags = 0;
  r = IoctlRetry(fd, KVM_SET_VCPU_EVENTS, &ev);
  if (r < 0) return Fail(info, r, "KVM_SET_VCPU_EVENTS");
  return info.Env().Undefined();
}

// translate(fd, gva) -> {physical: bigint, valid: boolean}
static Napi::Value Translate(const Napi::CallbackInfo& info) {
  int fd;
  uint64_t gva;
  if (!ArgFd(info, 0, &fd) || !ArgU64(info, 1, &gva)) return Napi::Value();
  kvm_translation t{};
  t.linear_address = gva;
  long r = IoctlRetry(fd, KVM_TRANSLATE, &t);
  if (r < 0) return Fail(info, r, "KVM_TRANSLATE");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("physical", U64(info.Env(), t.physical_address));
  o.Set("valid", Napi::Boolean::New(info.Env(), t.valid != 0));
  return o;
}

void InitVcpuState(Napi::Env env, Napi::Object exports) {
  exports.Set("getRegs", Napi::Function::New(env, GetRegs));
  exports.Set("setRegs", Napi::Function::New(env, SetRegs));
  exports.Set("getSregs", Napi::Function::New(env, GetSregs));
  exports.Set("setSregs", Napi::Function::New(env, SetSregs));
  exports.Set("setFpu", Napi::Function::New(env, SetFpu));
  exports.Set("setMsrs", Napi::Function::New(env, SetMsrs));
  exports.Set("setCpuid2", Napi::Function::New(env, SetCpuid2));
  exports.Set("getLapic", Napi::Function::New(env, GetLapic));
  exports.Set("setLapic", Napi::Function::New(env, SetLapic));
  exports.Set("getMpState", Napi::Function::New(env, GetMpState));
  exports.Set("injectException", Napi::Function::New(env, InjectException));
  exports.Set("translate", Napi::Function::New(env, Translate));
}

}  // namespace tsvmm
