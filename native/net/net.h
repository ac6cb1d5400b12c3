// Registration of the network-facing exports: tap devices and nonblocking vectored I/O on frame-preserving fds.
#pragma once
#include <napi.h>

namespace tsvmm {

void InitTap(Napi::Env env, Napi::Object exports);
void InitFrameIo(Napi::Env env, Napi::Object exports);

}  // namespace tsvmm
