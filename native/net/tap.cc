// Tap devices for virtio-net: attach to (or create) a tap through /dev/net/tun with a virtio-net header in front
// of every frame, so the guest's checksum and segmentation offloads pass through the host kernel untouched.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "kvm/kvm.h"
#include "net/net.h"

namespace tsvmm {

// tapOpen(name, vnetHeaderBytes) -> { fd, name }: nonblocking, close-on-exec, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR.
// A name with %d makes the kernel pick the number; the name it chose comes back.
static Napi::Value TapOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowType(env, "tap name must be a string");
    return Napi::Value();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  uint32_t hdr;
  if (!ArgU32(info, 1, &hdr)) return Napi::Value();
  if (name.empty() || name.size() >= IFNAMSIZ) {
    ThrowRange(env, "tap name must be 1 to 15 bytes");
    return Napi::Value();
  }
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, errno, "open /dev/net/tun");
    return Napi::Value();
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  long r = IoctlRetry(fd, TUNSETIFF, &ifr);
  const char* failed = "TUNSETIFF";
  if (r == 0) {
    int size = static_cast<int>(hdr);
    r = IoctlRetry(fd, TUNSETVNETHDRSZ, &size);
    failed = "TUNSETVNETHDRSZ";
  }
  if (r < 0) {
    close(fd);
    ThrowErrno(env, static_cast<int>(-r), failed);
    return Napi::Value();
  }
  ifr.ifr_name[IFNAMSIZ - 1] = '\0';
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  return out;
}

// tapSetOffload(fd, flags): the TUN_F_* offloads the reader (the guest) accepts in frames the tap hands us.
static Napi::Value TapSetOffload(const Napi::CallbackInfo& info) {
  int fd;
  uint32_t flags;
  if (!ArgFd(info, 0, &fd) || !ArgU32(info, 1, &flags)) return Napi::Value();
  long r = IoctlRetry(fd, TUNSETOFFLOAD, reinterpret_cast<void*>(static_cast<unsigned long>(flags)));
  if (r < 0) {
    ThrowErrno(info.Env(), static_cast<int>(-r), "TUNSETOFFLOAD");
    return Napi::Value();
  }
  return info.Env().Undefined();
}

void InitTap(Napi::Env env, Napi::Object exports) {
  exports.Set("tapOpen", Napi::Function::New(env, TapOpen));
  exports.Set("tapSetOffload", Napi::Function::New(env, TapSetOffload));
  Napi::Value existing = exports.Get("constants");
  Napi::Object c = existing.IsObject() ? existing.As<Napi::Object>() : Napi::Object::New(env);
  c.Set("TUN_F_CSUM", TUN_F_CSUM);
  c.Set("TUN_F_TSO4", TUN_F_TSO4);
  c.Set("TUN_F_TSO6", TUN_F_TSO6);
  c.Set("TUN_F_TSO_ECN", TUN_F_TSO_ECN);
  c.Set("TUN_F_UFO", TUN_F_UFO);
  exports.Set("constants", c);
}

}  // namespace tsvmm
