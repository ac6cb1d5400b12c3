/* The tests `test=<name>` selects. Each lives in its own file here and has one row in table.c. */
#ifndef TSVMM_GUEST_TESTS_H
#define TSVMM_GUEST_TESTS_H

#include "../lib.h"

struct guest_test {
	const char *name;
	/* Returns to pass; calls fail() (which does not return) otherwise. */
	void (*run)(void);
};

extern const struct guest_test guest_tests[];
extern const unsigned guest_test_count;

#endif
