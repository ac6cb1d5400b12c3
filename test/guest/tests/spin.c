/*
 * test=spin: a guest that does not end by itself, for lifecycle tests (pause / resume, stop while busy, several
 * machines at once). It counts in a tight CPL3 loop and prints "TSVMM-DATA: spin tick=N loops=M" every spin_ms
 * milliseconds (default 100), so a host sees it make progress, and sees that progress stop while it is paused.
 * spin_ticks=N makes it return (and so pass) after N ticks; without it (or 0) it runs until the host ends it.
 *
 * spin_touch=BYTES first fills that much RAM with a pattern no page of which is zero ("touched=BYTES sum=S"), then
 * reads all of it again every tick and adds " sum=S" to the tick line: machines cloned from one snapshot each read
 * the whole of it, which a host can watch them share, and a wrong sum says a clone saw other bytes.
 */
#include "../guest.h"
#include "../memory.h"

/* A word per position that differs from its neighbours and is never zero. */
static u64 pattern(u64 i)
{
	u64 x = (i + 1) * 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return x | 1;
}

static u64 sum_words(const u64 *words, u64 count)
{
	u64 sum = 0;
	for (u64 i = 0; i < count; i++)
		sum += words[i] * (i | 1);
	return sum;
}

void test_spin(void)
{
	u64 period = cmdline_number("spin_ms", 100);
	u64 ticks = cmdline_number("spin_ticks", 0);
	u64 touch = cmdline_number("spin_touch", 0) / 8;
	if (period == 0)
		fail("spin_ms must be positive");
	u64 *words = touch ? alloc(touch * 8, 4096) : NULL;
	for (u64 i = 0; i < touch; i++)
		words[i] = pattern(i);
	if (touch)
		data("touched=%lu sum=%lx", touch * 8, sum_words(words, touch));
	u64 loops = 0;
	for (u64 tick = 1; ticks == 0 || tick <= ticks; tick++) {
		u64 until = deadline_ms(period);
		while (!deadline_passed(until)) {
			loops++;
			cpu_relax();
		}
		if (touch)
			data("tick=%lu loops=%lu sum=%lx", tick, loops, sum_words(words, touch));
		else
			data("tick=%lu loops=%lu", tick, loops);
	}
}
