/*
 * Unit tests for shared/uuid.c: v4 generation and strict canonical parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"
#include "uuid.h"

#define NGEN	1000

static int
is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void
assert_canonical(const char *u)
{
	size_t i;

	assert_int_equal(strlen(u), UUID_STR_LEN);
	for (i = 0; i < UUID_STR_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(u[i], '-');
		else
			assert_true(is_lower_hex(u[i]));
	}
}

static int
cmp_ids(const void *a, const void *b)
{
	return memcmp(a, b, UUID_STR_LEN + 1);
}

static void
test_v4_format_and_bits(void **state)
{
	char (*ids)[UUID_STR_LEN + 1];
	char back[UUID_STR_LEN + 1];
	int i;

	(void)state;
	ids = xcalloc(NGEN, sizeof(*ids));
	for (i = 0; i < NGEN; i++) {
		assert_int_equal(uuid_v4(ids[i]), 0);
		assert_canonical(ids[i]);
		/* Version nibble 4; variant bits 10 (8, 9, a or b). */
		assert_int_equal(ids[i][14], '4');
		assert_non_null(strchr("89ab", ids[i][19]));
		assert_int_equal(uuid_parse(ids[i], UUID_STR_LEN, back), 0);
		assert_string_equal(back, ids[i]);
	}
	qsort(ids, NGEN, sizeof(*ids), cmp_ids);
	for (i = 1; i < NGEN; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	free(ids);
}

static void
test_parse_accepts(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "123e4567-e89b-12d3-a456-426614174000",
		    "123e4567-e89b-12d3-a456-426614174000" },
		{ "123E4567-E89B-12D3-A456-426614174000",
		    "123e4567-e89b-12d3-a456-426614174000" },
		{ "AbCdEf01-2345-6789-aBcD-EF0123456789",
		    "abcdef01-2345-6789-abcd-ef0123456789" },
		{ "00000000-0000-0000-0000-000000000000",
		    "00000000-0000-0000-0000-000000000000" },
		{ "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
		    "ffffffff-ffff-ffff-ffff-ffffffffffff" },
	};
	char out[UUID_STR_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		memset(out, 'Z', sizeof(out));
		assert_int_equal(uuid_parse(cases[i].in, strlen(cases[i].in),
		    out), 0);
		assert_string_equal(out, cases[i].out);
	}
	/* Not NUL-terminated: only <len> bytes are looked at. */
	assert_int_equal(uuid_parse("123e4567-e89b-12d3-a456-426614174000xyz",
	    UUID_STR_LEN, out), 0);
	assert_string_equal(out, "123e4567-e89b-12d3-a456-426614174000");
}

/* <s> must be refused and the output buffer left untouched. */
static void
check_rejected(const char *s, size_t len)
{
	char out[UUID_STR_LEN + 1], sentinel[UUID_STR_LEN + 1];

	memset(sentinel, 'Z', sizeof(sentinel));
	memcpy(out, sentinel, sizeof(out));
	if (uuid_parse(s, len, out) != -1)
		fail_msg("accepted \"%.*s\"", (int)len, s);
	assert_memory_equal(out, sentinel, sizeof(out));
}

static void
test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		/* 35 and 37 characters */
		"123e4567-e89b-12d3-a456-42661417400",
		"123e4567-e89b-12d3-a456-4266141740000",
		"",
		/* hyphens moved or missing */
		"123e4567e-89b-12d3-a456-426614174000",
		"123e456-7e89b-12d3-a456-426614174000",
		"123e4567-e89b12d3--a456-426614174000",
		"123e4567-e89b-12d3-a4564-26614174000",
		"123e4567-e89b-12d3-a456+426614174000",
		"123e4567ae89bb12d3ca456d426614174000",
		/* not hex, or wrapped */
		"123e4567-e89b-12d3-a456-42661417400g",
		"g23e4567-e89b-12d3-a456-426614174000",
		"123e4567-e89b-12d3-a456-42661417 000",
		"123e4567-e89b-12d3-a456-4266141740-0",
		"{123e4567-e89b-12d3-a456-426614174000}",
		"urn:uuid:123e4567-e89b-12d3-a456-426614174000",
		"------------------------------------",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++)
		check_rejected(bad[i], strlen(bad[i]));
	/* A NUL inside the 36 bytes is not hex. */
	check_rejected("123e4567-e89b-12d3-a456-42661417\0" "000",
	    UUID_STR_LEN);
	/* The length given wins over the NUL position. */
	check_rejected("123e4567-e89b-12d3-a456-426614174000", 35);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_format_and_bits),
		cmocka_unit_test(test_parse_accepts),
		cmocka_unit_test(test_parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
