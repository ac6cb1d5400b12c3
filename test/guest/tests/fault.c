/*
 * test=fault: reads an address outside the identity map at CPL3. The page fault goes to the CPL0 fault reporter,
 * which prints a FAIL line naming exception 14 and ends the machine: this test never passes, and is there to
 * show that a crashing test is reported rather than lost.
 */
#include "../guest.h"

#define UNMAPPED ((u64)1 << 40)

void test_fault(void)
{
	say("fault: reading 0x%lx", UNMAPPED);
	u64 value = *(volatile u64 *)UNMAPPED;
	fail("reading 0x%lx did not fault (read 0x%lx)", UNMAPPED, value);
}
