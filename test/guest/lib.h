/* Freestanding helpers for code at either privilege level: strings, formatting, the command line, timing. */
#ifndef TSVMM_GUEST_LIB_H
#define TSVMM_GUEST_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define barrier() __asm__ volatile("" ::: "memory")
#define full_fence() __asm__ volatile("mfence" ::: "memory")

void *memset(void *dst, int value, size_t len);
void *memcpy(void *dst, const void *src, size_t len);
int memcmp(const void *a, const void *b, size_t len);
size_t strlen(const char *s);
bool str_eq(const char *a, const char *b);

/* printf subset: %s %c %d %u %x %ld %lu %lx %p, with a zero-pad width (%08lx) and %%. */
size_t vformat(char *out, size_t cap, const char *fmt, va_list ap);
size_t format(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether `name` is one of the words of a comma-separated list. */
bool list_contains(const char *list, const char *name);

/* A hex digit's value (either case), or 99 for anything else. */
int digit_value(char c);

/* Parses a decimal or 0x-prefixed hex number with an optional K/M/G suffix; returns the end or NULL. */
const char *parse_number(const char *s, u64 *value);

#define FNV1A_INIT 0xcbf29ce484222325ull
/* 64-bit FNV-1a over `len` bytes, continuing from `hash` (FNV1A_INIT to start). */
u64 fnv1a(u64 hash, const void *data, size_t len);
/* The next pseudo-random number of a xorshift64* sequence kept in *state. */
u64 random_next(u64 *state);

static inline unsigned bit_count8(u8 v)
{
	v = (u8)(v - ((v >> 1) & 0x55));
	v = (u8)((v & 0x33) + ((v >> 2) & 0x33));
	return (v + (v >> 4)) & 0x0f;
}

static inline u64 align_up(u64 value, u64 align)
{
	return (value + align - 1) & ~(align - 1);
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

#endif
