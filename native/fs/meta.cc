// Metadata operations on fds the caller already holds: stat, chmod, chown, times, statfs, and directory reads.
// Where a call cannot take an O_PATH fd, TypeScript passes its /proc/self/fd directory and the fd's number as
// the name; that path can only lead back to the inode the fd already pins.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"
#include "fs/fs.h"

namespace tsvmm {

static bool ArgBigInt64Array(const Napi::CallbackInfo& info, size_t i, size_t need, int64_t** out) {
  if (i >= info.Length() || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_bigint64_array ||
      info[i].As<Napi::TypedArray>().ElementLength() < need) {
    ThrowType(info.Env(), "argument " + std::to_string(i) + " must be a BigInt64Array of " + std::to_string(need));
    return false;
  }
  Napi::TypedArray ta = info[i].As<Napi::TypedArray>();
  *out = reinterpret_cast<int64_t*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
  return true;
}

// fstatat(dirfd, name, flags, out[16]): dev ino mode nlink uid gid rdev size blocks blksize
// atime atime_ns mtime mtime_ns ctime ctime_ns.
static Napi::Value Fstatat(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  uint32_t flags;
  int64_t* out;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "fstatat", &name) || !ArgU32(info, 2, &flags) ||
      !ArgBigInt64Array(info, 3, 16, &out))
    return Napi::Value();
  struct stat st;
  if (RetryEintr([&] { return fstatat(dirfd, name.c_str(), &st, static_cast<int>(flags)); }) < 0) {
    ThrowErrno(info.Env(), errno, "fstatat");
    return Napi::Value();
  }
  const int64_t v[16] = {
      static_cast<int64_t>(st.st_dev), static_cast<int64_t>(st.st_ino), st.st_mode, static_cast<int64_t>(st.st_nlink),
      st.st_uid, st.st_gid, static_cast<int64_t>(st.st_rdev), st.st_size, st.st_blocks, st.st_blksize,
      st.st_atim.tv_sec, st.st_atim.tv_nsec, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec,
      st.st_ctim.tv_nsec};
  for (int k = 0; k < 16; k++) out[k] = v[k];
  return info.Env().Undefined();
}

// fchmodat(dirfd, name, mode)
static Napi::Value Fchmodat(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  uint32_t mode;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "fchmodat", &name) || !ArgU32(info, 2, &mode))
    return Napi::Value();
  return Result(info, RetryEintr([&] { return fchmodat(dirfd, name.c_str(), mode, 0); }), "fchmodat");
}

// fchownat(dirfd, name, uid, gid, flags): 0xffffffff leaves an id as it is.
static Napi::Value Fchownat(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  uint32_t uid, gid, flags;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "fchownat", &name) || !ArgU32(info, 2, &uid) ||
      !ArgU32(info, 3, &gid) || !ArgU32(info, 4, &flags))
    return Napi::Value();
  long r = RetryEintr([&] {
    return fchownat(dirfd, name.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid), static_cast<int>(flags));
  });
  return Result(info, r, "fchownat");
}

// utimensat(dirfd, name, atimeSec, atimeNsec, mtimeSec, mtimeNsec, flags); nsec may be UTIME_NOW or UTIME_OMIT.
static Napi::Value Utimensat(const Napi::CallbackInfo& info) {
  int dirfd;
  std::string name;
  int64_t as, an, ms, mn;
  uint32_t flags;
  if (!ArgFd(info, 0, &dirfd) || !ArgName(info, 1, "utimensat", &name) || !ArgI64(info, 2, &as) ||
      !ArgI64(info, 3, &an) || !ArgI64(info, 4, &ms) || !ArgI64(info, 5, &mn) || !ArgU32(info, 6, &flags))
    return Napi::Value();
  struct timespec ts[2] = {{static_cast<time_t>(as), static_cast<long>(an)},
                           {static_cast<time_t>(ms), static_cast<long>(mn)}};
  return Result(info, RetryEintr([&] { return utimensat(dirfd, name.c_str(), ts, static_cast<int>(flags)); }),
                "utimensat");
}

// fstatfs(fd, out[8]): blocks bfree bavail files ffree bsize namelen frsize. Works on O_PATH fds.
static Napi::Value Fstatfs(const Napi::CallbackInfo& info) {
  int fd;
  int64_t* out;
  if (!ArgFd(info, 0, &fd) || !ArgBigInt64Array(info, 1, 8, &out)) return Napi::Value();
  struct statfs s;
  if (RetryEintr([&] { return fstatfs(fd, &s); }) < 0) {
    ThrowErrno(info.Env(), errno, "fstatfs");
    return Napi::Value();
  }
  const int64_t v[8] = {static_cast<int64_t>(s.f_blocks), static_cast<int64_t>(s.f_bfree),
                        static_cast<int64_t>(s.f_bavail), static_cast<int64_t>(s.f_files),
                        static_cast<int64_t>(s.f_ffree), s.f_bsize, s.f_namelen, s.f_frsize};
  for (int k = 0; k < 8; k++) out[k] = v[k];
  return info.Env().Undefined();
}

// getdents64(fd, buffer) -> bytes of linux_dirent64 records stored, 0 at the end of the directory.
static Napi::Value Getdents64(const Napi::CallbackInfo& info) {
  int fd;
  uint8_t* buf;
  size_t len;
  if (!ArgFd(info, 0, &fd) || !ArgBuffer(info, 1, &buf, &len)) return Napi::Value();
  return Result(info, RetryEintr([&] { return syscall(SYS_getdents64, fd, buf, len); }), "getdents64");
}

// lseek(fd, offset, whence) -> the new offset as a bigint (directory offsets are opaque 64-bit cookies).
static Napi::Value Lseek(const Napi::CallbackInfo& info) {
  int fd;
  int64_t off;
  uint32_t whence;
  if (!ArgFd(info, 0, &fd) || !ArgI64(info, 1, &off) || !ArgU32(info, 2, &whence)) return Napi::Value();
  off_t r = RetryEintr([&] { return lseek(fd, static_cast<off_t>(off), static_cast<int>(whence)); });
  if (r < 0) {
    ThrowErrno(info.Env(), errno, "lseek");
    return Napi::Value();
  }
  return Napi::BigInt::New(info.Env(), static_cast<int64_t>(r));
}

void InitFsMeta(Napi::Env env, Napi::Object exports) {
  exports.Set("fstatat", Napi::Function::New(env, Fstatat));
  exports.Set("fchmodat", Napi::Function::New(env, Fchmodat));
  exports.Set("fchownat", Napi::Function::New(env, Fchownat));
  exports.Set("utimensat", Napi::Function::New(env, Utimensat));
  exports.Set("fstatfs", Napi::Function::New(env, Fstatfs));
  exports.Set("getdents64", Napi::Function::New(env, Getdents64));
  exports.Set("lseek", Napi::Function::New(env, Lseek));
  Napi::Object c = Napi::Object::New(env);
  c.Set("O_PATH", O_PATH);
  c.Set("O_NOFOLLOW", O_NOFOLLOW);
  c.Set("O_DIRECTORY", O_DIRECTORY);
  c.Set("O_CREAT", O_CREAT);
  c.Set("O_EXCL", O_EXCL);
  c.Set("O_TRUNC", O_TRUNC);
  c.Set("O_APPEND", O_APPEND);
  c.Set("O_ACCMODE", O_ACCMODE);
  c.Set("O_RDONLY", O_RDONLY);
  c.Set("O_WRONLY", O_WRONLY);
  c.Set("O_SYNC", O_SYNC);
  c.Set("O_DSYNC", O_DSYNC);
  c.Set("O_NOATIME", O_NOATIME);
  c.Set("O_LARGEFILE", O_LARGEFILE);
  c.Set("AT_EMPTY_PATH", AT_EMPTY_PATH);
  c.Set("AT_SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW);
  c.Set("AT_SYMLINK_FOLLOW", AT_SYMLINK_FOLLOW);
  c.Set("AT_REMOVEDIR", AT_REMOVEDIR);
  c.Set("RESOLVE_BENEATH", static_cast<double>(RESOLVE_BENEATH));
  c.Set("RESOLVE_NO_MAGICLINKS", static_cast<double>(RESOLVE_NO_MAGICLINKS));
  c.Set("RESOLVE_NO_SYMLINKS", static_cast<double>(RESOLVE_NO_SYMLINKS));
  c.Set("UTIME_NOW", static_cast<double>(UTIME_NOW));
  c.Set("UTIME_OMIT", static_cast<double>(UTIME_OMIT));
  c.Set("SEEK_SET", SEEK_SET);
  exports.Set("fsConstants", c);
}

}  // namespace tsvmm
