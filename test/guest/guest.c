#include "guest.h"
#include "kernel.h"

#define LINE_MAX 512
#define CMDLINE_MAX 4096
#define XEN_HVM_START_MAGIC 0x336ec578
#define ASSUMED_TSC_KHZ 3000000ull

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

static char cmdline[CMDLINE_MAX];
static u64 cached_tsc_khz = (u64)-1;

static void emit(const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	char line[LINE_MAX];
	size_t n = format(line, sizeof(line), "%s", prefix);
	n += vformat(line + n, sizeof(line) - n, fmt, ap);
	n += format(line + n, sizeof(line) - n, "%s", suffix);
	if (n == sizeof(line) - 1)
		line[n - 1] = '\n';
	gate_call(GATE_WRITE, (u64)line, n, 0);
}

void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit("tsvmm-guest: ", fmt, ap, "\n");
	va_end(ap);
}

void data(const char *fmt, ...)
{
	char prefix[64];
	format(prefix, sizeof(prefix), "TSVMM-DATA: %s ", current_test_name);
	va_list ap;
	va_start(ap, fmt);
	emit(prefix, fmt, ap, "\n");
	va_end(ap);
}

static __attribute__((noreturn)) void finish(bool failed)
{
	gate_call(GATE_EXIT, failed, cmdline_get("exit", NULL, 0) && str_eq(cmdline_get("exit", NULL, 0), "debug"),
		  0);
	for (;;)
		;
}

void pass(void)
{
	char line[LINE_MAX];
	size_t n = format(line, sizeof(line), "TSVMM-TEST: PASS %s\n", current_test_name);
	gate_call(GATE_WRITE, (u64)line, n, 0);
	finish(false);
}

void fail(const char *fmt, ...)
{
	char prefix[64];
	format(prefix, sizeof(prefix), "TSVMM-TEST: FAIL %s: ", current_test_name);
	va_list ap;
	va_start(ap, fmt);
	emit(prefix, fmt, ap, "\n");
	va_end(ap);
	finish(true);
}

bool cmdline_load(u64 start_info_paddr)
{
	const struct hvm_start_info *si = (const struct hvm_start_info *)start_info_paddr;
	if (start_info_paddr == 0 || start_info_paddr >= 0x100000000ull - sizeof(*si) ||
	    si->magic != XEN_HVM_START_MAGIC)
		return false;
	u64 src = si->cmdline_paddr;
	size_t n = 0;
	if (src && src < 0x100000000ull - CMDLINE_MAX) {
		const char *text = (const char *)src;
		while (n < CMDLINE_MAX - 1 && text[n]) {
			cmdline[n] = text[n];
			n++;
		}
	}
	cmdline[n] = '\0';
	return true;
}

const char *cmdline_text(void)
{
	return cmdline;
}

/* Finds the next word starting at *pos that is `key` or `key=...`; returns its value (or "" for a bare key). */
static const char *next_match(const char **pos, const char *key, size_t *value_len)
{
	size_t key_len = strlen(key);
	const char *p = *pos;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *word = p;
		while (*p && *p != ' ')
			p++;
		if ((size_t)(p - word) >= key_len && memcmp(word, key, key_len) == 0 &&
		    (word[key_len] == '=' || word + key_len == p)) {
			*pos = p;
			const char *value = word[key_len] == '=' ? word + key_len + 1 : p;
			*value_len = (size_t)(p - value);
			return value;
		}
	}
	*pos = p;
	return NULL;
}

/* Without a buffer, returns a pointer into a shared scratch copy, valid until the next call. */
const char *cmdline_get(const char *key, char *buf, size_t cap)
{
	static char scratch[256];
	if (!buf) {
		buf = scratch;
		cap = sizeof(scratch);
	}
	const char *pos = cmdline;
	size_t len;
	const char *value = next_match(&pos, key, &len);
	if (!value)
		return NULL;
	if (len >= cap)
		len = cap - 1;
	memcpy(buf, value, len);
	buf[len] = '\0';
	return buf;
}

u64 cmdline_number(const char *key, u64 fallback)
{
	const char *text = cmdline_get(key, NULL, 0);
	u64 value;
	if (!text || !*text)
		return fallback;
	const char *end = parse_number(text, &value);
	if (!end || *end)
		fail("cmdline: %s=%s is not a number", key, text);
	return value;
}

bool cmdline_flag(const char *key)
{
	const char *text = cmdline_get(key, NULL, 0);
	return text && !str_eq(text, "0");
}

void cmdline_each(const char *key, void (*fn)(const char *value, void *ctx), void *ctx)
{
	char value[256];
	const char *pos = cmdline;
	size_t len;
	const char *found;
	while ((found = next_match(&pos, key, &len))) {
		if (len >= sizeof(value))
			len = sizeof(value) - 1;
		memcpy(value, found, len);
		value[len] = '\0';
		fn(value, ctx);
	}
}

static u64 probe_tsc_khz(void)
{
	u32 r[4];
	/* KVM and VMware publish the rate in leaf 0x40000010; Intel CPUs describe it in leaf 0x15. */
	gate_call(GATE_CPUID, 0x40000000, 0, (u64)r);
	if (r[0] >= 0x40000010 && r[0] < 0x40000100) {
		gate_call(GATE_CPUID, 0x40000010, 0, (u64)r);
		if (r[0])
			return r[0];
	}
	gate_call(GATE_CPUID, 0, 0, (u64)r);
	if (r[0] >= 0x15) {
		gate_call(GATE_CPUID, 0x15, 0, (u64)r);
		if (r[0] && r[1] && r[2])
			return (u64)r[2] * r[1] / r[0] / 1000;
	}
	return 0;
}

u64 tsc_khz(void)
{
	if (cached_tsc_khz == (u64)-1)
		cached_tsc_khz = probe_tsc_khz();
	return cached_tsc_khz;
}

u64 deadline_ms(u64 ms)
{
	u64 khz = tsc_khz();
	return rdtsc() + ms * (khz ? khz : ASSUMED_TSC_KHZ);
}
