#include "guest.h"
#include "kernel.h"

#define LINE_MAX 512
#define CMDLINE_MAX 4096
#define XEN_HVM_START_MAGIC 0x336ec578
#define ASSUMED_TSC_KHZ 3000000ull

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

/* A line whose prefix names the current test: `tag` is a format with one %s for the name. */
static void emit_for_test(const char *tag, const char *fmt, va_list ap)
{
	char prefix[64];
	format(prefix, sizeof(prefix), tag, current_test_name);
	emit(prefix, fmt, ap, "\n");
}

void data(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit_for_test("TSVMM-DATA: %s ", fmt, ap);
	va_end(ap);
}

/* `exit=debug` on the cmdline: end through isa-debug-exit (QEMU with -device isa-debug-exit,iobase=0xf4). */
static __attribute__((noreturn)) void finish(bool failed)
{
	const char *how = cmdline_get("exit", NULL, 0);
	gate_call(GATE_EXIT, failed, how && str_eq(how, "debug"), 0);
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
	va_list ap;
	va_start(ap, fmt);
	emit_for_test("TSVMM-TEST: FAIL %s: ", fmt, ap);
	va_end(ap);
	finish(true);
}

const struct hvm_start_info *start_info_at(u64 paddr)
{
	const struct hvm_start_info *si = (const struct hvm_start_info *)paddr;
	if (paddr == 0 || paddr >= IDENTITY_MAP_END - sizeof(*si) || si->magic != XEN_HVM_START_MAGIC)
		return NULL;
	return si;
}

bool cmdline_load(u64 start_info_paddr)
{
	const struct hvm_start_info *si = start_info_at(start_info_paddr);
	if (!si)
		return false;
	u64 src = si->cmdline_paddr;
	size_t n = 0;
	if (src && src < IDENTITY_MAP_END - CMDLINE_MAX) {
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

/* struct pvclock_vcpu_time_info: KVM publishes the TSC rate as a multiplier and shift from TSC ticks to ns. */
struct pvclock {
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	int8_t tsc_shift;
	u8 flags;
	u8 pad[2];
} __attribute__((aligned(32)));

#define KVM_CPUID_SIGNATURE 0x40000000
#define KVM_CPUID_FEATURES 0x40000001
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)
#define TSC_FREQUENCY_LEAF 0x40000010
#define PVCLOCK_SPIN_LIMIT 100000000

static struct pvclock pvclock;

static void cpuid(u32 leaf, u32 subleaf, u32 out[4])
{
	gate_call(GATE_CPUID, leaf, subleaf, (u64)out);
}

static bool is_kvm(u32 *max_leaf)
{
	u32 r[4];
	cpuid(KVM_CPUID_SIGNATURE, 0, r);
	*max_leaf = r[0];
	return r[1] == 0x4b4d564b && r[2] == 0x564b4d56 && r[3] == 0x4d; /* "KVMKVMKVM\0\0\0" */
}

static u64 kvmclock_khz(void)
{
	u32 r[4];
	u32 max_leaf;
	if (!is_kvm(&max_leaf) || max_leaf < KVM_CPUID_FEATURES)
		return 0;
	cpuid(KVM_CPUID_FEATURES, 0, r);
	if (!(r[0] & KVM_FEATURE_CLOCKSOURCE2))
		return 0;
	gate_call(GATE_KVMCLOCK, (u64)&pvclock, 0, 0);
	const volatile struct pvclock *pv = &pvclock;
	for (u64 spins = 0; (pv->version == 0 || (pv->version & 1)) && spins < PVCLOCK_SPIN_LIMIT; spins++)
		cpu_relax();
	u32 mul = pv->tsc_to_system_mul;
	int shift = pv->tsc_shift;
	gate_call(GATE_KVMCLOCK, 0, 0, 0);
	if (mul == 0)
		return 0;
	/* ns per tick = mul * 2^shift / 2^32, so kHz = 10^6 * 2^32 / (mul * 2^shift). */
	u64 khz = (1000000ull << 32) / mul;
	return shift >= 0 ? khz >> shift : khz << -shift;
}

static const char *tsc_rate_source = "assumed";

static u64 probe_tsc_khz(void)
{
	u32 r[4];
	u32 max_leaf;
	/* VMware's leaf (some KVM setups publish it too), then KVM's clock, then Intel's leaf 0x15. */
	if (is_kvm(&max_leaf) && max_leaf >= TSC_FREQUENCY_LEAF) {
		cpuid(TSC_FREQUENCY_LEAF, 0, r);
		if (r[0]) {
			tsc_rate_source = "cpuid-40000010";
			return r[0];
		}
	}
	u64 khz = kvmclock_khz();
	if (khz) {
		tsc_rate_source = "kvmclock";
		return khz;
	}
	cpuid(0, 0, r);
	if (r[0] >= 0x15) {
		cpuid(0x15, 0, r);
		if (r[0] && r[1] && r[2]) {
			tsc_rate_source = "cpuid-15";
			return (u64)r[2] * r[1] / r[0] / 1000;
		}
	}
	return 0;
}

u64 tsc_khz(void)
{
	if (cached_tsc_khz == (u64)-1)
		cached_tsc_khz = probe_tsc_khz();
	return cached_tsc_khz;
}

const char *tsc_source(void)
{
	tsc_khz();
	return tsc_rate_source;
}

u64 deadline_ms(u64 ms)
{
	u64 khz = tsc_khz();
	return rdtsc() + ms * (khz ? khz : ASSUMED_TSC_KHZ);
}

void spin_ms(u64 ms)
{
	u64 deadline = deadline_ms(ms);
	while (!deadline_passed(deadline))
		cpu_relax();
}

u64 tsc_to_us(u64 ticks)
{
	u64 khz = tsc_khz();
	if (!khz)
		khz = ASSUMED_TSC_KHZ;
	/* Split to keep ticks * 1000 from overflowing for long intervals. */
	return ticks / khz * 1000 + ticks % khz * 1000 / khz;
}
