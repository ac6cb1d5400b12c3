// The addon's entry point: it only registers the exports of each part.
#include <napi.h>

#include "fs/fs.h"
#include "kvm/kvm.h"
#include "net/net.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tsvmm::InitSystem(env, exports);
  tsvmm::InitVm(env, exports);
  tsvmm::InitVcpu(env, exports);
  tsvmm::InitMemory(env, exports);
  tsvmm::InitEventfd(env, exports);
  tsvmm::InitFdWatch(env, exports);
  tsvmm::InitSnapshot(env, exports);
  tsvmm::InitTap(env, exports);
  tsvmm::InitFrameIo(env, exports);
  tsvmm::InitFsNames(env, exports);
  tsvmm::InitFsMeta(env, exports);
  return exports;
}

NODE_API_MODULE(tsvmm_native, Init)
