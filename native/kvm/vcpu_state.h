#pragma once
#include <napi.h>

namespace tsvmm {
// Registers, segments, FPU, MSRs, CPUID, LAPIC, events and address translation of one vCPU.
void InitVcpuState(Napi::Env env, Napi::Object exports);
}  // namespace tsvmm
