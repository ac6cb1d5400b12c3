// Guest RAM: a memfd mapped MAP_SHARED and handed to JavaScript as an external ArrayBuffer, so TypeScript sees the
// same bytes KVM maps into the guest, and balloon / snapshot work can act on the memfd.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "errors.h"
#include "kvm/kvm.h"
#include "kvm/mapping.h"

namespace tsvmm {

// memfdCreate(name, size) -> fd, sized with ftruncate.
static Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(info.Env(), "memfd name must be a string");
    return Napi::Value();
  }
  uint64_t size;
  if (!ArgU64(info, 1, &size)) return Napi::Value();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(info.Env(), errno, "memfd_create");
    return Napi::Value();
  }
  if (ftruncate(fd, static_cast<off_t>(size)) < 0) {
    int err = errno;
    close(fd);
    ThrowErrno(info.Env(), err, "ftruncate");
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), fd);
}

namespace {

// new SharedMapping(fd, size, offset, copyOnWrite): .buffer over a MAP_SHARED (or MAP_PRIVATE) mapping of the fd,
// unmapped by close() at once (the buffer is detached, so a later access is a TypeError in JavaScript and never a
// fault) or, unclosed, by the GC. .id names it to readMapping on any thread of the process: a private mapping
// cannot be mapped again elsewhere with the same contents, and no pointer ever crosses threads or reaches
// JavaScript.
class SharedMapping : public Napi::ObjectWrap<SharedMapping> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SharedMapping",
                       {InstanceAccessor<&SharedMapping::Buffer>("buffer"),
                        InstanceAccessor<&SharedMapping::Id>("id"),
                        InstanceMethod<&SharedMapping::Close>("close")});
  }

  explicit SharedMapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SharedMapping>(info) {
    int fd;
    uint64_t size, offset = 0;
    if (!ArgFd(info, 0, &fd) || !ArgU64(info, 1, &size)) return;
    if (info.Length() > 2 && !info[2].IsUndefined() && !ArgU64(info, 2, &offset)) return;
    bool copy_on_write = info.Length() > 3 && info[3].ToBoolean().Value();
    if (size == 0) {
      ThrowRange(info.Env(), "mapping size must be positive");
      return;
    }
    Napi::ArrayBuffer buf =
        MapToBuffer(info.Env(), fd, size, static_cast<off_t>(offset), nullptr, &mapping_, copy_on_write);
    if (buf.IsEmpty()) return;
    id_ = RegisterMapping(mapping_);
    // Guest memory is private to this VM: keep it out of core dumps of the VMM.
    madvise(mapping_->addr, size, MADV_DONTDUMP);
    buffer_ = Napi::Persistent(buf);
  }

 private:
  Napi::Value Buffer(const Napi::CallbackInfo& info) {
    return buffer_.IsEmpty() ? info.Env().Undefined() : buffer_.Value();
  }

  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!buffer_.IsEmpty() && DetachAndUnmap(info.Env(), buffer_.Value(), mapping_)) buffer_.Reset();
    return info.Env().Undefined();
  }

  MappingRef mapping_;
  uint32_t id_ = 0;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
};

}  // namespace

// readMapping(id, offset, length) -> Buffer: a copy of a SharedMapping's bytes, from any thread; a vCPU thread reads
// guest instructions this way. Throws RangeError when the mapping is gone or the range is not inside it.
static Napi::Value ReadMapping(const Napi::CallbackInfo& info) {
  uint32_t id, len;
  uint64_t off;
  if (!ArgU32(info, 0, &id) || !ArgU64(info, 1, &off) || !ArgU32(info, 2, &len)) return Napi::Value();
  if (len > 4096) {
    ThrowRange(info.Env(), "readMapping reads at most 4096 bytes");
    return Napi::Value();
  }
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(info.Env(), len);
  if (!CopyFromMapping(id, off, len, out.Data())) {
    ThrowRange(info.Env(), "no such mapping, or the range is outside it");
    return Napi::Value();
  }
  return out;
}

// madvise(arrayBuffer, offset, length, advice): MADV_POPULATE_WRITE makes guest RAM resident up front.
static Napi::Value Madvise(const Napi::CallbackInfo& info) {
  void* data;
  size_t len;
  uint64_t off, n;
  uint32_t advice;
  if (!ArgArrayBuffer(info, 0, &data, &len) || !ArgU64(info, 1, &off) || !ArgU64(info, 2, &n) ||
      !ArgU32(info, 3, &advice))
    return Napi::Value();
  long page = sysconf(_SC_PAGESIZE);
  if (off > len || n > len - off || off % page != 0) {
    ThrowRange(info.Env(), "madvise range outside the buffer or not page aligned");
    return Napi::Value();
  }
  if (madvise(static_cast<uint8_t*>(data) + off, n, static_cast<int>(advice)) < 0) {
    ThrowErrno(info.Env(), errno, "madvise");
    return Napi::Value();
  }
  return info.Env().Undefined();
}

// zeroPrivate(arrayBuffer, offset, length): replaces that page-aligned part of a private (copy-on-write) mapping
// with fresh anonymous pages, which read as zeros and take no memory until written. This is a copy-on-write RAM's
// way to give pages back: the file behind it is not the machine's to punch, and MADV_DONTNEED there would bring the
// file's bytes back instead of zeros. The addresses stay the same, so views of the buffer and KVM's slot go on
// (KVM drops its own mapping of the range through its MMU notifier).
static Napi::Value ZeroPrivate(const Napi::CallbackInfo& info) {
  void* data;
  size_t len;
  uint64_t off, n;
  if (!ArgArrayBuffer(info, 0, &data, &len) || !ArgU64(info, 1, &off) || !ArgU64(info, 2, &n)) return Napi::Value();
  long page = sysconf(_SC_PAGESIZE);
  if (off > len || n > len - off || off % page != 0 || n % page != 0) {
    ThrowRange(info.Env(), "zeroPrivate range outside the buffer or not page aligned");
    return Napi::Value();
  }
  if (n == 0) return info.Env().Undefined();
  void* at = static_cast<uint8_t*>(data) + off;
  void* p = mmap(at, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    ThrowErrno(info.Env(), errno, "mmap");
    return Napi::Value();
  }
  madvise(p, n, MADV_DONTDUMP);
  return info.Env().Undefined();
}

// fallocate(fd, mode, offset, length): punch holes (discard, balloon) and zero ranges (write zeroes).
static Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t mode;
  uint64_t off, n;
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &mode) || !ArgU64(info, 2, &off) || !ArgU64(info, 3, &n))
    return Napi::Value();
  long r = RetryEintr([&] { return fallocate(fd, static_cast<int>(mode), static_cast<off_t>(off), static_cast<off_t>(n)); });
  if (r < 0) {
    ThrowErrno(info.Env(), errno, "fallocate");
    return Napi::Value();
  }
  return info.Env().Undefined();
}

// memoryFence(): a full (store-load) fence. Guest RAM is an external ArrayBuffer, not a SharedArrayBuffer, so
// JavaScript's Atomics give no cross-thread ordering on it; the virtqueue calls this where a store to guest memory
// must be visible to the guest before a following load reads what the guest wrote (the EVENT_IDX wakeup checks).
// A call into the addon is also a point the JIT cannot move JavaScript loads or stores across.
static Napi::Value MemoryFence(const Napi::CallbackInfo& info) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return info.Env().Undefined();
}

void InitMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate));
  exports.Set("SharedMapping", SharedMapping::Define(env));
  exports.Set("readMapping", Napi::Function::New(env, ReadMapping));
  exports.Set("madvise", Napi::Function::New(env, Madvise));
  exports.Set("fallocate", Napi::Function::New(env, Fallocate));
  exports.Set("zeroPrivate", Napi::Function::New(env, ZeroPrivate));
  exports.Set("memoryFence", Napi::Function::New(env, MemoryFence));
  Napi::Object c = Napi::Object::New(env);
  c.Set("MADV_DONTNEED", MADV_DONTNEED);
  c.Set("MADV_REMOVE", MADV_REMOVE);
  c.Set("MADV_POPULATE_READ", MADV_POPULATE_READ);
  c.Set("MADV_POPULATE_WRITE", MADV_POPULATE_WRITE);
  c.Set("FALLOC_FL_KEEP_SIZE", FALLOC_FL_KEEP_SIZE);
  c.Set("FALLOC_FL_PUNCH_HOLE", FALLOC_FL_PUNCH_HOLE);
  c.Set("FALLOC_FL_ZERO_RANGE", FALLOC_FL_ZERO_RANGE);
  exports.Set("constants", c);
}

}  // namespace tsvmm
