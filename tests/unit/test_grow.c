// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Unit tests of pnm_grow: the first capacity, doubling, no growth when
 * there is room, zero, and sizes that would overflow. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "grow.h"

/* A realloc of nearly SIZE_MAX bytes fails here as it would anywhere,
 * rather than stop the test (the sanitizers' default). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

/* Empty: first elements, or need when more; full: doubled until need fits;
 * the elements kept. */
static void growth(void **state)
{
	uint32_t *a = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(pnm_grow(&a, &cap, 1, sizeof(*a), 4), 0);
	assert_non_null(a);
	assert_int_equal(cap, 4);
	for (uint32_t i = 0; i < 4; i++)
		a[i] = i;
	assert_int_equal(pnm_grow(&a, &cap, 4, sizeof(*a), 4), 0);
	assert_int_equal(cap, 4); /* room enough: unchanged */
	assert_int_equal(pnm_grow(&a, &cap, 5, sizeof(*a), 4), 0);
	assert_int_equal(cap, 8);
	assert_int_equal(pnm_grow(&a, &cap, 33, sizeof(*a), 4), 0);
	assert_int_equal(cap, 64);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(a[i], i);
	a[63] = 63; /* the whole capacity is there (ASan says otherwise) */
	free(a);

	a = NULL;
	cap = 0;
	assert_int_equal(pnm_grow(&a, &cap, 100, sizeof(*a), 16), 0);
	assert_int_equal(cap, 128); /* first, doubled until need fits */
	a[127] = 1;
	free(a);
}

/* Nothing needed: nothing allocated; a first capacity of 0 is 1. */
static void zero(void **state)
{
	char *a = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(pnm_grow(&a, &cap, 0, 1, 16), 0);
	assert_null(a);
	assert_int_equal(cap, 0);
	assert_int_equal(pnm_grow(&a, &cap, 1, 1, 0), 0);
	assert_int_equal(cap, 1);
	assert_int_equal(pnm_grow(&a, &cap, 2, 1, 0), 0);
	assert_int_equal(cap, 2);
	free(a);
	a = NULL;
	cap = 0;
	assert_int_equal(pnm_grow(&a, &cap, 1, 0, 16), -ENOMEM);
	assert_null(a);
	assert_int_equal(cap, 0);
}

/* A size past SIZE_MAX: -ENOMEM, the array and its capacity untouched. */
static void overflow(void **state)
{
	uint64_t *a = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(pnm_grow(&a, &cap, 2, sizeof(*a), 2), 0);
	a[0] = 42;
	assert_int_equal(pnm_grow(&a, &cap, SIZE_MAX / sizeof(*a) + 1, sizeof(*a), 2), -ENOMEM);
	assert_int_equal(pnm_grow(&a, &cap, SIZE_MAX, sizeof(*a), 2), -ENOMEM);
	assert_int_equal(cap, 2);
	assert_int_equal(a[0], 42);
	free(a);
	/* The doubling stops at the largest size, not past it; realloc
	 * refuses that much. */
	a = NULL;
	cap = 0;
	assert_int_equal(pnm_grow(&a, &cap, SIZE_MAX / sizeof(*a), sizeof(*a), 2), -ENOMEM);
	assert_null(a);
	assert_int_equal(cap, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(growth),
		cmocka_unit_test(zero),
		cmocka_unit_test(overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
