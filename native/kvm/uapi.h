// Layouts of the KVM structs that end in a flexible array. Debian's UAPI headers declare those arrays with
// __DECLARE_FLEX_ARRAY, which in C++ inserts an empty struct (one byte, padded) before the array: sizeof and the
// array offset then differ from the kernel's, and so do the ioctl numbers built from sizeof. These are the C
// layouts, written out.
#pragma once
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace tsvmm {

struct CpuidHeader {  // struct kvm_cpuid2 without its entries
  uint32_t nent;
  uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8, "kvm_cpuid2 header is 8 bytes");

struct MsrsHeader {  // struct kvm_msrs without its entries
  uint32_t nmsrs;
  uint32_t pad;
};
static_assert(sizeof(MsrsHeader) == 8, "kvm_msrs header is 8 bytes");

constexpr unsigned long kGetSupportedCpuid = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x05, sizeof(CpuidHeader));
constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, sizeof(CpuidHeader));
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, sizeof(MsrsHeader));
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, sizeof(MsrsHeader));

template <typename Entry, typename Header>
Entry* EntriesAfter(Header* h) {
  return reinterpret_cast<Entry*>(reinterpret_cast<uint8_t*>(h) + sizeof(Header));
}

}  // namespace tsvmm
