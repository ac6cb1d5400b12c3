#include "kvm/mapping.h"

#include <sys/mman.h>

#include <cerrno>

#include "errors.h"

namespace tsvmm {

void Mapping::Unmap() {
  std::unique_lock<std::mutex> held;
  if (lock != nullptr) held = std::unique_lock<std::mutex>(*lock);
  if (unmapped) return;
  munmap(addr, size);
  unmapped = true;
}

static void FinalizeBuffer(Napi::Env, void*, MappingRef* hint) {
  (*hint)->Unmap();
  delete hint;
}

Napi::ArrayBuffer MapToBuffer(Napi::Env env, int fd, size_t size, off_t offset, std::mutex* lock, MappingRef* out) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, offset);
  if (p == MAP_FAILED) {
    ThrowErrno(env, errno, "mmap");
    return Napi::ArrayBuffer();
  }
  auto m = std::make_shared<Mapping>();
  m->addr = p;
  m->size = size;
  m->lock = lock;
  *out = m;
  return Napi::ArrayBuffer::New(env, p, size, FinalizeBuffer, new MappingRef(m));
}

bool DetachAndUnmap(Napi::Env env, Napi::ArrayBuffer buf, const MappingRef& m) {
  if (!buf.IsDetached()) {
    buf.Detach();
    if (env.IsExceptionPending()) return false;
  }
  m->Unmap();
  return true;
}

}  // namespace tsvmm
