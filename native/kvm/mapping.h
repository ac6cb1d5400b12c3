// A MAP_SHARED mapping seen from JavaScript as an external ArrayBuffer. Exactly one of two unmaps it: an explicit
// close, which detaches the buffer first so that no JavaScript view can reach the pages afterwards, or, for a
// mapping nobody closed, the buffer's finalizer. Never both: by the time a late finalizer ran, the address could
// belong to a new mapping.
#pragma once
#include <napi.h>
#include <sys/types.h>

#include <memory>
#include <mutex>

namespace tsvmm {

struct Mapping {
  void* addr = nullptr;
  size_t size = 0;
  // Held while unmapping when another thread may touch the pages (a kick writes kvm_run from any thread).
  std::mutex* lock = nullptr;
  bool unmapped = false;

  void Unmap();
};

using MappingRef = std::shared_ptr<Mapping>;

// mmap(fd, size, offset) read-write and shared, as an ArrayBuffer that shares *out with its finalizer.
// On failure an errno Error is pending and the result is empty.
Napi::ArrayBuffer MapToBuffer(Napi::Env env, int fd, size_t size, off_t offset, std::mutex* lock, MappingRef* out);

// Detaches buf, then unmaps. When the buffer cannot be detached a TypeError is pending and nothing is unmapped.
bool DetachAndUnmap(Napi::Env env, Napi::ArrayBuffer buf, const MappingRef& m);

}  // namespace tsvmm
