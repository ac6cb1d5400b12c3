/* user_main: where boot.S lands at CPL3. Sets up the runtime, then runs the test `test=<name>` names. */
#include "guest.h"
#include "kernel.h"
#include "memory.h"
#include "tests/tests.h"
#include "virtio.h"

#define TEST_NAME_MAX 32

extern char __bss_start[], __bss_end[];

void user_main(u64 start_info) __attribute__((noreturn));

static char test_name[TEST_NAME_MAX];

static const struct guest_test *find_test(const char *name)
{
	for (unsigned i = 0; i < guest_test_count; i++) {
		if (str_eq(guest_tests[i].name, name))
			return &guest_tests[i];
	}
	return NULL;
}

static void list_tests(char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (unsigned i = 0; i < guest_test_count; i++)
		n += format(out + n, cap - n, "%s%s", i ? " " : "", guest_tests[i].name);
}

void user_main(u64 start_info)
{
	/* The loader leaves the BSS as it finds it; at CPL3 this runs at native speed. */
	memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
	if (!cmdline_load(start_info))
		fail("no PVH start info at 0x%lx", start_info);
	const char *why;
	if (!memory_init(start_info, &why))
		fail("%s", why);
	if (!cmdline_get("test", test_name, sizeof(test_name)) || !test_name[0])
		fail("no test= on the command line");
	current_test_name = test_name;
	const struct guest_test *test = find_test(test_name);
	if (!test) {
		char known[256];
		list_tests(known, sizeof(known));
		fail("unknown test (known: %s)", known);
	}
	test->run();
	/* Register accesses are exits the monitor answers; a monitor with ioeventfd notifies adds none for notifies. */
	data("register_accesses=%lu notifies=%lu chains=%lu", virtio_counts.register_accesses, virtio_counts.notifies,
	     virtio_counts.chains);
	pass();
}
