// Registration of the KVM-facing exports. Functions take file descriptors as plain numbers: the TypeScript side
// validates arguments and closes fds, and fds cross worker threads as numbers. What holds native memory is an
// object instead (SharedMapping, Vcpu) with an explicit close(), so that memory never outlives its machine and
// never goes while JavaScript can still reach it.
#pragma once
#include <napi.h>

namespace tsvmm {

void InitSystem(Napi::Env env, Napi::Object exports);
void InitVm(Napi::Env env, Napi::Object exports);
void InitVcpu(Napi::Env env, Napi::Object exports);
void InitMemory(Napi::Env env, Napi::Object exports);
void InitEventfd(Napi::Env env, Napi::Object exports);
void InitFdWatch(Napi::Env env, Napi::Object exports);
void InitSnapshot(Napi::Env env, Napi::Object exports);

// ioctl that retries on EINTR; returns the result or -errno.
long IoctlRetry(int fd, unsigned long request, void* arg);

}  // namespace tsvmm
