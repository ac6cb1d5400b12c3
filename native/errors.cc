#include "errors.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <uv.h>

namespace tsvmm {

void ThrowErrno(Napi::Env env, int err, const char* syscall) {
  const char* code = uv_err_name(-err);
  std::string msg = std::string(syscall) + " failed: " + strerror(err) + " (" + code + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  e.ThrowAsJavaScriptException();
}

void ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
}

void ThrowRange(Napi::Env env, const std::string& msg) {
  Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
}

bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* fd) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " must be a file descriptor");
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 0x7fffffff || std::floor(d) != d) {
    ThrowRange(info.Env(), "argument " + std::to_string(i) + " is not a valid file descriptor");
    return false;
  }
  *fd = static_cast<int>(d);
  return true;
}

bool ArgU32(const Napi::CallbackInfo& info, size_t i, uint32_t* out) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " must be a number");
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 4294967295.0 || std::floor(d) != d) {
    ThrowRange(info.Env(), "argument " + std::to_string(i) + " must be a 32-bit unsigned integer");
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

bool ValueU64(Napi::Env env, Napi::Value v, const char* what, uint64_t* out) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) {
      ThrowRange(env, std::string(what) + " does not fit in 64 bits");
      return false;
    }
    *out = x;
    return true;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 0 || d > 9007199254740991.0 || std::floor(d) != d) {
      ThrowRange(env, std::string(what) + " must be a non-negative safe integer or a bigint");
      return false;
    }
    *out = static_cast<uint64_t>(d);
    return true;
  }
  ThrowType(env, std::string(what) + " must be a number or a bigint");
  return false;
}

bool ArgU64(const Napi::CallbackInfo& info, size_t i, uint64_t* out) {
  std::string what = "argument " + std::to_string(i);
  if (i >= info.Length()) {
    ThrowType(info.Env(), what + " is missing");
    return false;
  }
  return ValueU64(info.Env(), info[i], what.c_str(), out);
}

bool ArgI64(const Napi::CallbackInfo& info, size_t i, int64_t* out) {
  if (i < info.Length() && info[i].IsBigInt()) {
    bool lossless = false;
    *out = info[i].As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless) return true;
  } else if (i < info.Length() && info[i].IsNumber()) {
    double d = info[i].As<Napi::Number>().DoubleValue();
    if (std::fabs(d) <= 9007199254740991.0 && std::floor(d) == d) {
      *out = static_cast<int64_t>(d);
      return true;
    }
  }
  ThrowRange(info.Env(), "argument " + std::to_string(i) + " must be a 64-bit signed integer");
  return false;
}

bool ArgArrayBuffer(const Napi::CallbackInfo& info, size_t i, void** data, size_t* len) {
  if (i >= info.Length() || !info[i].IsArrayBuffer()) {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " must be an ArrayBuffer");
    return false;
  }
  Napi::ArrayBuffer ab = info[i].As<Napi::ArrayBuffer>();
  // A detached buffer is memory that was closed: its address could belong to a newer mapping by now.
  if (ab.IsDetached()) {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " is a detached (closed) ArrayBuffer");
    return false;
  }
  *data = ab.Data();
  *len = ab.ByteLength();
  return true;
}

bool ArgBuffer(const Napi::CallbackInfo& info, size_t i, uint8_t** data, size_t* len) {
  if (i >= info.Length() || !info[i].IsTypedArray()) {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " must be a Uint8Array");
    return false;
  }
  Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
  if (ta.TypedArrayType() != napi_uint8_array) {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " must be a Uint8Array");
    return false;
  }
  Napi::Uint8Array u8 = ta.As<Napi::Uint8Array>();
  *data = u8.Data();
  *len = u8.ByteLength();
  return true;
}

Napi::BigInt U64(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

Napi::Value Result(const Napi::CallbackInfo& info, long r, const char* syscall) {
  if (r < 0) {
    ThrowErrno(info.Env(), errno, syscall);
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(r));
}

}  // namespace tsvmm
