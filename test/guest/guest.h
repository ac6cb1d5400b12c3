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
/* A TSC value ms milliseconds from now (a 3 GHz TSC is assumed where the rate is unknown). */
u64 deadline_ms(u64 ms);
static inline bool deadline_passed(u64 deadline)
{
	return (int64_t)(rdtsc() - deadline) > 0;
}

#endif
