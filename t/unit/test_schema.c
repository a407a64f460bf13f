/*
 * Unit tests for shared/schema.c: which migration a database lacks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "schema.h"
#include "util.h"

static const struct schema_mig migs[] = {
	{ 1, "0001-schema.sql" },
	{ 2, "0002-index.sql" },
	{ 3, "0003-outbox.sql" },
};

static const struct schema_set set = { migs, NITEMS(migs) };

static void
test_all_applied(void **state)
{
	const long long have[] = { 3, 1, 2 };
	size_t n = 99;

	(void)state;
	assert_null(schema_missing(&set, have, NITEMS(have), &n));
	assert_int_equal(n, 0);
}

static void
test_last_missing(void **state)
{
	const long long have[] = { 1, 2 };
	const struct schema_mig *m;
	size_t n;

	(void)state;
	m = schema_missing(&set, have, NITEMS(have), &n);
	assert_non_null(m);
	assert_string_equal(m->sm_name, "0003-outbox.sql");
	assert_int_equal(n, 1);
}

static void
test_gap_named_first(void **state)
{
	const long long have[] = { 1, 3 };
	const struct schema_mig *m;
	size_t n;

	(void)state;
	m = schema_missing(&set, have, NITEMS(have), &n);
	assert_non_null(m);
	assert_int_equal(m->sm_version, 2);
	assert_int_equal(n, 1);
	/* Nothing applied: all missing, the first named. */
	m = schema_missing(&set, NULL, 0, &n);
	assert_non_null(m);
	assert_int_equal(m->sm_version, 1);
	assert_int_equal(n, 3);
}

static void
test_newer_and_empty(void **state)
{
	const long long have[] = { 1, 2, 3, 4, 77 };
	const struct schema_set none = { NULL, 0 };
	size_t n;

	(void)state;
	/* Migrations the program does not know are no reason to refuse. */
	assert_null(schema_missing(&set, have, NITEMS(have), &n));
	assert_null(schema_missing(&none, have, NITEMS(have), &n));
	assert_int_equal(n, 0);
}

static void
test_state_str(void **state)
{
	(void)state;
	assert_string_equal(schema_state_str(SCHEMA_OK), "ok");
	assert_string_equal(schema_state_str(SCHEMA_OLD), "old");
	assert_string_equal(schema_state_str(SCHEMA_COUNT), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_applied),
		cmocka_unit_test(test_last_missing),
		cmocka_unit_test(test_gap_named_first),
		cmocka_unit_test(test_newer_and_empty),
		cmocka_unit_test(test_state_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
