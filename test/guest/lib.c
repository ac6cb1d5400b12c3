#include "lib.h"

/* String instructions: fast at CPL3 where the bulk work runs, and the emulator of the hosts that emulate CPL0 knows them. */
void *memset(void *dst, int value, size_t len)
{
	void *d = dst;
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(len) : "a"(value) : "memory");
	return dst;
}

void *memcpy(void *dst, const void *src, size_t len)
{
	void *d = dst;
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(len) : : "memory");
	return dst;
}

int memcmp(const void *a, const void *b, size_t len)
{
	const u8 *x = a, *y = b;
	for (size_t i = 0; i < len; i++) {
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	}
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

bool str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

bool list_contains(const char *list, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = list; *p;) {
		const char *end = p;
		while (*end && *end != ',')
			end++;
		if ((size_t)(end - p) == len && memcmp(p, name, len) == 0)
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

struct sink {
	char *out;
	size_t cap;
	size_t len;
};

static void put(struct sink *s, char c)
{
	if (s->len + 1 < s->cap)
		s->out[s->len] = c;
	s->len++;
}

static void put_number(struct sink *s, u64 value, unsigned base, unsigned width, char pad, bool negative)
{
	char digits[24];
	unsigned n = 0;
	do {
		unsigned d = (unsigned)(value % base);
		digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		value /= base;
	} while (value);
	if (negative)
		digits[n++] = '-';
	while (width > n) {
		put(s, pad);
		width--;
	}
	while (n)
		put(s, digits[--n]);
}

static void put_signed(struct sink *s, int64_t value, unsigned width, char pad)
{
	bool negative = value < 0;
	put_number(s, negative ? (u64)0 - (u64)value : (u64)value, 10, width, pad, negative);
}

/* One conversion after the '%' (and width); returns the format position after it. */
static const char *convert(struct sink *s, const char *f, va_list *ap, unsigned width, char pad)
{
	bool is_long = false;
	while (*f == 'l') {
		is_long = true;
		f++;
	}
	switch (*f) {
	case 'd':
		put_signed(s, is_long ? va_arg(*ap, int64_t) : va_arg(*ap, int), width, pad);
		break;
	case 'u':
		put_number(s, is_long ? va_arg(*ap, u64) : va_arg(*ap, unsigned), 10, width, pad, false);
		break;
	case 'x':
		put_number(s, is_long ? va_arg(*ap, u64) : va_arg(*ap, unsigned), 16, width, pad, false);
		break;
	case 'p':
		put(s, '0');
		put(s, 'x');
		put_number(s, (u64)(uintptr_t)va_arg(*ap, void *), 16, width, pad, false);
		break;
	case 'c':
		put(s, (char)va_arg(*ap, int));
		break;
	case 's': {
		const char *str = va_arg(*ap, const char *);
		for (str = str ? str : "(null)"; *str; str++)
			put(s, *str);
		break;
	}
	case '%':
		put(s, '%');
		break;
	default:
		put(s, '?');
		return *f ? f + 1 : f;
	}
	return f + 1;
}

size_t vformat(char *out, size_t cap, const char *fmt, va_list ap)
{
	struct sink s = { out, cap, 0 };
	va_list args;
	va_copy(args, ap);
	while (*fmt) {
		if (*fmt != '%') {
			put(&s, *fmt++);
			continue;
		}
		fmt++;
		char pad = ' ';
		unsigned width = 0;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		fmt = convert(&s, fmt, &args, width, pad);
	}
	va_end(args);
	if (cap)
		out[s.len < cap ? s.len : cap - 1] = '\0';
	return s.len < cap ? s.len : (cap ? cap - 1 : 0);
}

size_t format(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = vformat(out, cap, fmt, ap);
	va_end(ap);
	return n;
}

int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

const char *parse_number(const char *s, u64 *value)
{
	unsigned base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	u64 v = 0;
	const char *start = s;
	for (int d; (d = digit_value(*s)) < (int)base; s++) {
		if (v > (UINT64_MAX - (u64)d) / base)
			return NULL;
		v = v * base + (u64)d;
	}
	if (s == start)
		return NULL;
	unsigned shift = 0;
	if (*s == 'K' || *s == 'k')
		shift = 10;
	else if (*s == 'M' || *s == 'm')
		shift = 20;
	else if (*s == 'G' || *s == 'g')
		shift = 30;
	if (shift) {
		if (v > (UINT64_MAX >> shift))
			return NULL;
		v <<= shift;
		s++;
	}
	*value = v;
	return s;
}

u64 random_next(u64 *state)
{
	/* xorshift64*: enough for test patterns and benchmark offsets. */
	u64 x = *state ? *state : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

u64 fnv1a(u64 hash, const void *data, size_t len)
{
	const u8 *p = data;
	for (size_t i = 0; i < len; i++) {
		hash ^= p[i];
		hash *= 0x100000001b3ull;
	}
	return hash;
}
