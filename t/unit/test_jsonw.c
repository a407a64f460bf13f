/*
 * Unit tests for shared/jsonw.c: every value it writes is compared with
 * what jansson's json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) writes for
 * the same value, byte for byte, and text jansson refuses as a string is
 * refused too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "jsonw.h"
#include "util.h"

#define DUMP_FLAGS	(JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/* Asserts that <out> holds exactly jansson's text of <j> (consumed). */
static void
assert_as_jansson(struct buf *out, json_t *j)
{
	char *want;

	assert_non_null(j);
	want = json_dumps(j, DUMP_FLAGS);
	assert_non_null(want);
	json_decref(j);
	if (buf_avail(out) != strlen(want) ||
	    memcmp(buf_data(out), want, strlen(want)) != 0)
		fail_msg("jsonw [%.*s] jansson [%s]", (int)buf_avail(out),
		    buf_data(out), want);
	free(want);
}

/*
 * Checks jsonw_str() on the <len> bytes at <s> against json_stringn():
 * the same text, or both refusing. Returns whether jansson accepted it.
 */
static int
check_str(const char *s, size_t len)
{
	struct buf out = BUF_INIT;
	json_t *j = json_stringn(s, len);
	int rc = jsonw_str(&out, s, len);

	if (j == NULL) {
		if (rc != -1)
			fail_msg("jsonw accepted what jansson refuses "
			    "(%zu bytes, first 0x%02x)", len,
			    len > 0 ? (unsigned char)s[0] : 0);
	} else {
		assert_int_equal(rc, 0);
		assert_as_jansson(&out, j);
	}
	buf_release(&out);
	return j != NULL;
}

static void
test_every_byte(void **state)
{
	char s[3];
	int c;

	(void)state;
	/* Alone, and between ASCII letters (a run before and after). */
	for (c = 0; c < 256; c++) {
		s[0] = (char)c;
		assert_int_equal(check_str(s, 1), c < 0x80);
		s[0] = 'a';
		s[1] = (char)c;
		s[2] = 'z';
		assert_int_equal(check_str(s, 3), c < 0x80);
	}
	assert_true(check_str("", 0));
}

static void
test_strings(void **state)
{
	static const char *const ok[] = {
		"Get ready for system design interviews",
		"say \"hi\" \\ / \b\f\n\r\t \x01\x1f\x7f",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf",
		"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80",
		"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xe2\x80\xa8\xe2\x80\xa9",
		"\\\\\"\"",
	};
	static const char *const bad[] = {
		"\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80",
		"\xed\xbf\xbf", "\xf0\x80\x80\xaf", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\xff", "\x80", "abc\xe2\x82",
		"\xe2\x28\xa1", "\xc3", "ok \xf0\x9f\x98",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(ok); i++)
		assert_true(check_str(ok[i], strlen(ok[i])));
	for (i = 0; i < NITEMS(bad); i++)
		assert_false(check_str(bad[i], strlen(bad[i])));
	/* A NUL inside the length is a character like any other. */
	assert_true(check_str("a\0b", 3));
}

/*
 * Random strings, biased to the bytes that matter (controls, quotes, lead
 * and continuation bytes): both writers agree on each.
 */
static void
test_random_strings(void **state)
{
	static const unsigned char pick[] = {
		0x00, 0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x1f, 0x20, '"',
		'\\', '/', 'a', 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc2, 0xc3,
		0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff,
	};
	unsigned int seed = 12345;
	char s[16];
	size_t len, i;
	int n, good = 0;

	(void)state;
	for (n = 0; n < 200000; n++) {
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(s);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			s[i] = (char)pick[(seed >> 16) % sizeof(pick)];
		}
		good += check_str(s, len);
	}
	/* Both outcomes were exercised. */
	assert_true(good > 1000 && good < 199000);
}

static void
test_scalars(void **state)
{
	static const long long ints[] = {
		0, 1, -1, 9, 10, -10, 10000, 2147483647, -2147483648LL,
		INT64_MAX, INT64_MIN, INT64_MIN + 1,
	};
	struct buf out = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(ints); i++) {
		buf_reset(&out);
		jsonw_int(&out, ints[i]);
		assert_as_jansson(&out, json_integer(ints[i]));
	}
	buf_reset(&out);
	jsonw_bool(&out, 1);
	assert_as_jansson(&out, json_true());
	buf_reset(&out);
	jsonw_bool(&out, 0);
	assert_as_jansson(&out, json_false());
	buf_reset(&out);
	jsonw_null(&out);
	assert_as_jansson(&out, json_null());
	buf_release(&out);
}

/* An object written by hand equals jansson's of the same pairs. */
static void
test_object(void **state)
{
	struct buf out = BUF_INIT;

	(void)state;
	buf_append_str(&out, "{");
	jsonw_key(&out, "totalCount");
	jsonw_int(&out, 3);
	buf_append_str(&out, ",");
	jsonw_key(&out, "courseName");
	assert_int_equal(jsonw_str(&out, "A \"B\"", 5), 0);
	buf_append_str(&out, ",");
	jsonw_key(&out, "enrollmentStatus");
	jsonw_null(&out);
	buf_append_str(&out, "}");
	assert_as_jansson(&out, json_pack("{s:I, s:s, s:n}", "totalCount",
	    (json_int_t)3, "courseName", "A \"B\"", "enrollmentStatus"));
	buf_release(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_random_strings),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
