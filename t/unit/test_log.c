/*
 * Unit tests for shared/log.c: format, levels, request id, reopening.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "util.h"

static char	logpath[] = "/tmp/elp-log-XXXXXX";
static int	saved_stderr = -1;

static int
setup(void **state)
{
	int fd;

	(void)state;
	saved_stderr = dup(STDERR_FILENO);
	if ((fd = mkstemp(logpath)) == -1)
		return -1;
	close(fd);
	unsetenv("JOURNAL_STREAM");
	log_init("elp-test", LOG_LVL_INFO);
	return log_open(logpath);
}

static int
teardown(void **state)
{
	(void)state;
	log_open(NULL);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unlink(logpath);
	return 0;
}

static char *
slurp(void)
{
	char *p;

	if (util_read_file(logpath, 1 << 20, &p, NULL) == -1)
		return xstrdup("");
	return p;
}

static void
test_levels_and_format(void **state)
{
	char *s;

	(void)state;
	if (truncate(logpath, 0) == -1)
		fail();
	log_info("hello %d", 1);
	log_debug("hidden");
	log_warnx("careful");
	s = slurp();
	assert_non_null(strstr(s, " elp-test["));
	assert_non_null(strstr(s, "] info: hello 1\n"));
	assert_non_null(strstr(s, "] warn: careful\n"));
	assert_null(strstr(s, "hidden"));
	/* ISO-8601 UTC timestamp with milliseconds leads each line. */
	assert_int_equal(s[4], '-');
	assert_int_equal(s[10], 'T');
	assert_int_equal(s[23], 'Z');
	free(s);
	log_set_level(LOG_LVL_DEBUG);
	log_debug("now visible");
	s = slurp();
	assert_non_null(strstr(s, "debug: now visible"));
	free(s);
	log_set_level(LOG_LVL_INFO);
}

static void
test_reqid_and_errno(void **state)
{
	char *s;

	(void)state;
	if (truncate(logpath, 0) == -1)
		fail();
	log_set_reqid("abc123");
	log_info("in request");
	log_set_reqid(NULL);
	log_info("outside");
	errno = 2;
	log_warn("open x");
	s = slurp();
	assert_non_null(strstr(s, "info: [rid=abc123] in request\n"));
	assert_non_null(strstr(s, "info: outside\n"));
	assert_non_null(strstr(s, "warn: open x: No such file or directory\n"));
	free(s);
}

static void
test_long_line_truncated(void **state)
{
	char *big, *s;

	(void)state;
	if (truncate(logpath, 0) == -1)
		fail();
	big = xmalloc(10000);
	memset(big, 'q', 9999);
	big[9999] = '\0';
	log_info("%s", big);
	s = slurp();
	/* One line, bounded, newline-terminated. */
	assert_true(strlen(s) <= 4096);
	assert_int_equal(s[strlen(s) - 1], '\n');
	assert_ptr_equal(strchr(s, '\n'), s + strlen(s) - 1);
	free(s);
	free(big);
}

static void
test_level_parse(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("debug"), LOG_LVL_DEBUG);
	assert_int_equal(log_level_parse("warn"), LOG_LVL_WARN);
	assert_int_equal(log_level_parse("verbose"), -1);
	assert_string_equal(log_level_str(LOG_LVL_ERROR), "error");
}

static void
test_reopen(void **state)
{
	char *s;

	(void)state;
	unlink(logpath);	/* as logrotate does */
	assert_int_equal(log_reopen(), 0);
	log_info("after rotate");
	s = slurp();
	assert_string_not_equal(s, "");
	assert_non_null(strstr(s, "after rotate"));
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels_and_format),
		cmocka_unit_test(test_reqid_and_errno),
		cmocka_unit_test(test_long_line_truncated),
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test(test_reopen),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
