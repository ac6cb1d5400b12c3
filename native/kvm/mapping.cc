#include "kvm/mapping.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "errors.h"

namespace tsvmm {

namespace {
std::mutex gRegistryMutex;
std::unordered_map<uint32_t, Mapping*> gRegistry;
uint32_t gNextId = 1;
}  // namespace

void Mapping::Unmap() {
  std::unique_lock<std::mutex> held;
  if (lock != nullptr) held = std::unique_lock<std::mutex>(*lock);
  // Held across munmap, so a CopyFromMapping on another thread either finishes first or finds no mapping.
  std::unique_lock<std::mutex> registry;
  if (id != 0) {
    registry = std::unique_lock<std::mutex>(gRegistryMutex);
    gRegistry.erase(id);
    id = 0;
  }
  if (unmapped) return;
  munmap(addr, size);
  unmapped = true;
}

uint32_t RegisterMapping(const MappingRef& m) {
  std::lock_guard<std::mutex> held(gRegistryMutex);
  uint32_t id = gNextId++;
  if (gNextId == 0) gNextId = 1;
  gRegistry[id] = m.get();
  m->id = id;
  return id;
}

bool CopyFromMapping(uint32_t id, uint64_t offset, size_t len, uint8_t* out) {
  std::lock_guard<std::mutex> held(gRegistryMutex);
  auto it = gRegistry.find(id);
  if (it == gRegistry.end() || it->second->unmapped) return false;
  Mapping* m = it->second;
  if (offset > m->size || len > m->size - offset) return false;
  std::memcpy(out, static_cast<uint8_t*>(m->addr) + offset, len);
  return true;
}

static void FinalizeBuffer(Napi::Env, void*, MappingRef* hint) {
  (*hint)->Unmap();
  delete hint;
}

Napi::ArrayBuffer MapToBuffer(Napi::Env env, int fd, size_t size, off_t offset, std::mutex* lock, MappingRef* out,
                              bool copy_on_write) {
  // A private mapping of a read-only file is still writable: the guest's writes land in anonymous copies of the
  // pages and never reach the file, which other machines may map too.
  int flags = (copy_on_write ? MAP_PRIVATE : MAP_SHARED) | MAP_NORESERVE;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd, offset);
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
