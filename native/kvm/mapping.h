// A mapping of a file seen from JavaScript as an external ArrayBuffer. Exactly one of two unmaps it: an explicit
// close, which detaches the buffer first so that no JavaScript view can reach the pages afterwards, or, for a
// mapping nobody closed, the buffer's finalizer. Never both: by the time a late finalizer ran, the address could
// belong to a new mapping.
#pragma once
#include <napi.h>
#include <sys/types.h>

#include <cstdint>

#include <memory>
#include <mutex>

namespace tsvmm {

struct Mapping {
  void* addr = nullptr;
  size_t size = 0;
  // Held while unmapping when another thread may touch the pages (a kick writes kvm_run from any thread).
  std::mutex* lock = nullptr;
  bool unmapped = false;
  // Nonzero while the mapping is in the registry that ReadMapping serves (guest RAM only).
  uint32_t id = 0;

  void Unmap();
};

using MappingRef = std::shared_ptr<Mapping>;

// mmap(fd, size, offset) read-write, shared or (copy_on_write) private, as an ArrayBuffer that shares *out with its
// finalizer. On failure an errno Error is pending and the result is empty.
Napi::ArrayBuffer MapToBuffer(Napi::Env env, int fd, size_t size, off_t offset, std::mutex* lock, MappingRef* out,
                              bool copy_on_write = false);

// Puts m in the process-wide registry and returns its id. Another thread reads it by id through CopyFromMapping,
// so no address crosses threads; Unmap takes it out under the registry's lock before the pages go.
uint32_t RegisterMapping(const MappingRef& m);

// Copies [offset, offset + len) of registered mapping `id` into out; false when no such mapping is mapped now or
// the range is not inside it.
bool CopyFromMapping(uint32_t id, uint64_t offset, size_t len, uint8_t* out);

// Detaches buf, then unmaps. When the buffer cannot be detached a TypeError is pending and nothing is unmapped.
bool DetachAndUnmap(Napi::Env env, Napi::ArrayBuffer buf, const MappingRef& m);

}  // namespace tsvmm
