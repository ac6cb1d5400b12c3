// The *at system calls the shared-directory device needs and Node does not offer. Each is a thin wrapper: names
// arrive as bytes (host file names need not be UTF-8), results are numbers or filled typed arrays, and failures
// throw errno-carrying Errors. Every decision about what the guest may do is made in TypeScript.
#pragma once
#include <napi.h>

#include <string>

#include "errors.h"

namespace tsvmm {

void InitFsNames(Napi::Env env, Napi::Object exports);
void InitFsMeta(Napi::Env env, Napi::Object exports);

// A file name argument: a Uint8Array or a string. A NUL inside it throws EINVAL (a name the kernel would cut short).
bool ArgName(const Napi::CallbackInfo& info, size_t i, const char* syscall, std::string* out);

}  // namespace tsvmm
