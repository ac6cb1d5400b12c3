/* The CPL3 runtime the tests use: output lines, the verdict, the command line, timeouts. */
#ifndef TSVMM_GUEST_GUEST_H
#define TSVMM_GUEST_GUEST_H

#include "lib.h"

/* One line "tsvmm-guest: <text>" on COM1. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line "TSVMM-DATA: <test> <text>": key=value results a harness can parse. */
void data(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "TSVMM-TEST: PASS <test>", then the machine exits. */
__attribute__((noreturn)) void pass(void);
/* "TSVMM-TEST: FAIL <test>: <reason>", then the machine exits. */
__attribute__((noreturn)) void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The first 4 GiB are identity-mapped; RAM the guest uses lies below MMIO_START, devices above it. */
#define IDENTITY_MAP_END 0x100000000ull
#define MMIO_START 0xc0000000ull

/* struct hvm_start_info, version 1 (Xen's arch-x86/hvm/start_info.h): the fields this guest reads. */
struct hvm_start_info {
	u32 magic;
	u32 version;
	u32 flags;
	u32 nr_modules;
	u64 modlist_paddr;
	u64 cmdline_paddr;
	u64 rsdp_paddr;
	u64 memmap_paddr;
	u32 memmap_entries;
	u32 reserved;
};

struct hvm_memmap_entry {
	u64 addr;
	u64 size;
	u32 type;
	u32 reserved;
};

#define MEMMAP_RAM 1

/* The start info at paddr, or NULL when there is none (no PVH boot). */
const struct hvm_start_info *start_info_at(u64 paddr);
/* Copies the command line out of the PVH start info; false if the start info is not one. */
bool cmdline_load(u64 start_info_paddr);
const char *cmdline_text(void);
/* The value of the first `key=value` word, or NULL; a bare `key` yields "". */
const char *cmdline_get(const char *key, char *buf, size_t cap);
u64 cmdline_number(const char *key, u64 fallback);
/* A word `key` or `key=<anything but 0>`. */
bool cmdline_flag(const char *key);
/* Calls fn(value) for each `key=value` word, in order. */
void cmdline_each(const char *key, void (*fn)(const char *value, void *ctx), void *ctx);

/* The TSC rate if the hypervisor or CPU tells it, else 0. */
u64 tsc_khz(void);
/* Where tsc_khz came from: "cpuid-40000010", "kvmclock", "cpuid-15" or "assumed". */
const char *tsc_source(void);
/* TSC ticks as microseconds (a 3 GHz TSC is assumed where the rate is unknown). */
u64 tsc_to_us(u64 ticks);
/* A TSC value ms milliseconds from now (a 3 GHz TSC is assumed where the rate is unknown). */
u64 deadline_ms(u64 ms);
static inline bool deadline_passed(u64 deadline)
{
	return (int64_t)(rdtsc() - deadline) > 0;
}
/* Polls the TSC for ms milliseconds. */
void spin_ms(u64 ms);

#endif
