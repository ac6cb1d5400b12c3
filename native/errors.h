// Helpers shared by every native file: errors shaped like Node's own (code, errno, syscall) and argument checks.
// Functions that fail throw a pending JS exception and return false / an empty value; callers return at once.
#pragma once
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <string>

namespace tsvmm {

// Throws an Error whose message is "<syscall> failed: <strerror> (<CODE>)" with code/errno/syscall properties.
void ThrowErrno(Napi::Env env, int err, const char* syscall);
void ThrowType(Napi::Env env, const std::string& msg);
void ThrowRange(Napi::Env env, const std::string& msg);

// Argument readers: false means a TypeError/RangeError is pending.
bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* fd);
bool ArgU32(const Napi::CallbackInfo& info, size_t i, uint32_t* out);
bool ArgU64(const Napi::CallbackInfo& info, size_t i, uint64_t* out);  // number (safe integer) or bigint
bool ArgI64(const Napi::CallbackInfo& info, size_t i, int64_t* out);   // signed: bigint or safe integer
bool ValueU64(Napi::Env env, Napi::Value v, const char* what, uint64_t* out);
bool ArgArrayBuffer(const Napi::CallbackInfo& info, size_t i, void** data, size_t* len);
bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len);

Napi::BigInt U64(Napi::Env env, uint64_t v);

// Runs a call that returns a negative value and sets errno on failure, again while it fails with EINTR.
template <typename F>
long RetryEintr(F f) {
  long r;
  do {
    r = f();
  } while (r < 0 && errno == EINTR);
  return r;
}

// r as a number, or, when negative, the errno of the call that returned it thrown.
Napi::Value Result(const Napi::CallbackInfo& info, long r, const char* syscall);

}  // namespace tsvmm
