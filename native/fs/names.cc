// Name-level operations: open, create, link, remove and rename entries beneath a directory fd. The caller passes
// one path component at a time (TypeScript refuses '/', '.' and '..'), and openat2's RESOLVE_* flags make the
// kernel refuse any walk out of the directory even if a check were missed.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "fs/fs.h"

namespace tsvmm {

bool ArgName(const Napi::CallbackInfo& info, size_t i, const char* syscall, std::string* out) {
  if (i < info.Length() && info[i].IsString()) {
    *out = info[i].As<Napi::String>().Utf8Value();
  } else if (i < info.Length() && info[i].IsTypedArray() &&
             info[i].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array u8 = info[i].As<Napi::Uint8Array>();
    out->assign(reinterpret_cast<const char*>(u8.Data()), u8.ByteLength());
  } else {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " must be a name (Uint8Array or string)");
    return false;
  }
  if (out->find('\0') != std::string::npos) {
    ThrowErrno(info.Env(), EINVAL, syscall);
    return false;
  }
  return true;
}

// openat(dirfd, name, flags, mode) -> fd
static Napi::Value Openat(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  uint32_t flags, mode;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "openat", &name) || !ArgU32(info, 2, &flags) ||
      !ArgU32(info, 3, &mode))
    return Napi::Value();
  long r = RetryEintr([&] { return openat(dirfd, name.c_str(), static_cast<int>(flags) | O_CLOEXEC, mode); });
  return Result(info, r, "openat");
}

// openat2(dirfd, name, flags, mode, resolve) -> fd; ENOSYS where the host kernel predates it (Linux < 5.6).
static Napi::Value Openat2(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  uint32_t flags, mode, resolve;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "openat2", &name) || !ArgU32(info, 2, &flags) ||
      !ArgU32(info, 3, &mode) || !ArgU32(info, 4, &resolve))
    return Napi::Value();
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode : 0;
  how.resolve = resolve;
  long r = RetryEintr([&] { return syscall(SYS_openat2, dirfd, name.c_str(), &how, sizeof how); });
  return Result(info, r, "openat2");
}

// mkdirat(dirfd, name, mode)
static Napi::Value Mkdirat(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  uint32_t mode;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "mkdirat", &name) || !ArgU32(info, 2, &mode))
    return Napi::Value();
  return Result(info, RetryEintr([&] { return mkdirat(dirfd, name.c_str(), mode); }), "mkdirat");
}

// mknodat(dirfd, name, mode, dev)
static Napi::Value Mknodat(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  uint32_t mode, dev;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "mknodat", &name) || !ArgU32(info, 2, &mode) ||
      !ArgU32(info, 3, &dev))
    return Napi::Value();
  return Result(info, RetryEintr([&] { return mknodat(dirfd, name.c_str(), mode, dev); }), "mknodat");
}

// symlinkat(target, dirfd, name): the target is stored as data and never resolved here.
static Napi::Value Symlinkat(const Napi::CallbackInfo& info) {
  std::string target, name;
  int dirfd;
  if (!ArgName(info, 0, "symlinkat", &target) || !ArgFd(info, 1, &dirfd) || !ArgName(info, 2, "symlinkat", &name))
    return Napi::Value();
  return Result(info, RetryEintr([&] { return symlinkat(target.c_str(), dirfd, name.c_str()); }), "symlinkat");
}

// readlinkat(dirfd, name, buffer) -> bytes stored (the name may be "" for an O_PATH fd of the link itself)
static Napi::Value Readlinkat(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  uint8_t* buf;
  size_t len;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "readlinkat", &name) || !ArgBuffer(info, 2, &buf, &len))
    return Napi::Value();
  long r = RetryEintr([&] { return readlinkat(dirfd, name.c_str(), reinterpret_cast<char*>(buf), len); });
  return Result(info, r, "readlinkat");
}

// linkat(olddirfd, oldname, newdirfd, newname, flags)
static Napi::Value Linkat(const Napi::CallbackInfo& info) {
  int olddirfd, newdirfd;
  std::string oldname, newname;
  uint32_t flags;
  if (!ArgFd(info, 0, &olddirfd) || !ArgName(info, 1, "linkat", &oldname) || !ArgFd(info, 2, &newdirfd) ||
      !ArgName(info, 3, "linkat", &newname) || !ArgU32(info, 4, &flags))
    return Napi::Value();
  long r = RetryEintr(
      [&] { return linkat(olddirfd, oldname.c_str(), newdirfd, newname.c_str(), static_cast<int>(flags)); });
  return Result(info, r, "linkat");
}

// unlinkat(dirfd, name, flags)
static Napi::Value Unlinkat(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  uint32_t flags;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "unlinkat", &name) || !ArgU32(info, 2, &flags))
    return Napi::Value();
  return Result(info, RetryEintr([&] { return unlinkat(dirfd, name.c_str(), static_cast<int>(flags)); }), "unlinkat");
}

// renameat2(olddirfd, oldname, newdirfd, newname, flags)
static Napi::Value Renameat2(const Napi::CallbackInfo& info) {
  int olddirfd, newdirfd;
  std::string oldname, newname;
  uint32_t flags;
  if (!ArgFd(info, 0, &olddirfd) || !ArgName(info, 1, "renameat2", &oldname) || !ArgFd(info, 2, &newdirfd) ||
      !ArgName(info, 3, "renameat2", &newname) || !ArgU32(info, 4, &flags))
    return Napi::Value();
  long r =
      RetryEintr([&] { return syscall(SYS_renameat2, olddirfd, oldname.c_str(), newdirfd, newname.c_str(), flags); });
  return Result(info, r, "renameat2");
}

void InitFsNames(Napi::Env env, Napi::Object exports) {
  exports.Set("openat", Napi::Function::New(env, Openat));
  exports.Set("openat2", Napi::Function::New(env, Openat2));
  exports.Set("mkdirat", Napi::Function::New(env, Mkdirat));
  exports.Set("mknodat", Napi::Function::New(env, Mknodat));
  exports.Set("symlinkat", Napi::Function::New(env, Symlinkat));
  exports.Set("readlinkat", Napi::Function::New(env, Readlinkat));
  exports.Set("linkat", Napi::Function::New(env, Linkat));
  exports.Set("unlinkat", Napi::Function::New(env, Unlinkat));
  exports.Set("renameat2", Napi::Function::New(env, Renameat2));
}

}  // namespace tsvmm
