// The *at system calls the shared-directory device needs and Node does not offer. Each is a thin wrapper: names
// arrive as bytes (host file names need not be UTF-8), results are numbers or filled typed arrays, and failures
// throw errno-carrying Errors. Every decision about what the guest may do is made in TypeScript.
#pragma once
#include <napi.h>

#include <cerrno>

#include <string>

#include "errors.h"

namespace tsvmm {

void InitFsNames(Napi::Env env, Napi::Object exports);
void InitFsMeta(Napi::Env env, Napi::Object exports);

// A file name argument: a Uint8Array or a string. A NUL inside it throws EINVAL (a name the kernel would cut short).
bool ArgName(const Napi::CallbackInfo& info, size_t i, const char* syscall, std::string* out);

// Runs a syscall that returns -1 and sets errno, again while it fails with EINTR.
template <typename F>
long RetryEintr(F f) {
  long r;
  do {
    r = f();
  } while (r < 0 && errno == EINTR);
  return r;
}

// r as a number, or the errno of a failed call thrown.
inline Napi::Value Result(const Napi::CallbackInfo& info, long r, const char* syscall) {
  if (r < 0) {
    ThrowErrno(info.Env(), errno, syscall);
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

}  // namespace tsvmm
