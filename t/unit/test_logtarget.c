/*
 * Unit tests for alog_target() (proxy/conn.c): bearer tokens in a
 * query (RFC 6750 section 2.3) never reach the access log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy.h"

static void
check(const char *in, const char *want)
{
	char out[600];

	alog_target(in, out, sizeof(out));
	assert_string_equal(out, want);
}

static void
test_redacted(void **state)
{
	(void)state;
	check("/a?access_token=eyJ.x.y", "/a?access_token=REDACTED");
	check("/a?x=1&access_token=eyJ.x.y&b=2",
	    "/a?x=1&access_token=REDACTED&b=2");
	check("/a?access_token=1&access_token=2",
	    "/a?access_token=REDACTED&access_token=REDACTED");
	check("/a?access_token=", "/a?access_token=REDACTED");
}

static void
test_kept(void **state)
{
	(void)state;
	check("/a/b", "/a/b");
	check("/access_token=x", "/access_token=x");
	check("/a?my_access_token=x", "/a?my_access_token=x");
	check("/a?x=access_token=y", "/a?x=access_token=y");
	check("", "");
}

static void
test_bounded(void **state)
{
	char in[2000], out[16];

	(void)state;
	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	alog_target(in, out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	alog_target("/?access_token=secret", out, sizeof(out));
	assert_null(strstr(out, "secret"));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	alog_target("/?access_token=secret", out, 1);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redacted),
		cmocka_unit_test(test_kept),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
