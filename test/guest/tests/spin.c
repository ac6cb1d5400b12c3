/*
 * test=spin: a guest that does not end by itself, for lifecycle tests (pause / resume, stop while busy, several
 * machines at once). It counts in a tight CPL3 loop and prints "TSVMM-DATA: spin tick=N loops=M" every spin_ms
 * milliseconds (default 100), so a host sees it make progress, and sees that progress stop while it is paused.
 * spin_ticks=N makes it return (and so pass) after N ticks; without it (or 0) it runs until the host ends it.
 */
#include "../guest.h"

void test_spin(void)
{
	u64 period = cmdline_number("spin_ms", 100);
	u64 ticks = cmdline_number("spin_ticks", 0);
	if (period == 0)
		fail("spin_ms must be positive");
	u64 loops = 0;
	for (u64 tick = 1; ticks == 0 || tick <= ticks; tick++) {
		u64 until = deadline_ms(period);
		while (!deadline_passed(until)) {
			loops++;
			cpu_relax();
		}
		data("tick=%lu loops=%lu", tick, loops);
	}
}
