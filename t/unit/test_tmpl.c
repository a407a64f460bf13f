/*
 * Unit tests for shared/tmpl.c: the template shape, placeholder checks
 * with their line numbers, rendering, and loading from a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "tmpl.h"
#include "util.h"

static const char *const names[] = { "userName", "courseName", "amount" };

/* Parses <s>; returns its result with <err> filled on failure. */
static int
parse(const char *s, struct tmpl *t, struct tmpl_err *err)
{
	memset(err, 0, sizeof(*err));
	return tmpl_parse(t, s, strlen(s), names, 3, err);
}

static void
test_parse_ok(void **state)
{
	struct tmpl_err err;
	struct tmpl t;

	(void)state;
	assert_int_equal(parse("Subject: Hi {{userName}}\n\nBody {{amount}}\n"
	    "{ not a placeholder } {x}\n", &t, &err), 0);
	assert_string_equal(t.tp_subject, "Hi {{userName}}");
	assert_string_equal(t.tp_body, "Body {{amount}}\n"
	    "{ not a placeholder } {x}\n");
	tmpl_release(&t);
	assert_null(t.tp_subject);
	/* CRLF files too; an empty body is fine. */
	assert_int_equal(parse("Subject: x\r\n\r\n", &t, &err), 0);
	assert_string_equal(t.tp_subject, "x");
	assert_string_equal(t.tp_body, "");
	tmpl_release(&t);
}

static void
test_parse_errors(void **state)
{
	static const struct {
		const char	*in;
		int		 line;
		const char	*msg;
	} bad[] = {
		{ "Hello\n\nbody", 1, "the first line must be" },
		{ "Subject: \n\nbody", 1, "the subject is empty" },
		{ "Subject: x\nbody", 2, "followed by an empty line" },
		{ "Subject: x", 2, "followed by an empty line" },
		{ "Subject: {{nope}}\n\n", 1, "unknown placeholder {{nope}}" },
		{ "Subject: x\n\nline 3\nline 4 {{courseName}}\n{{usrName}}",
		    5, "unknown placeholder {{usrName}}" },
		{ "Subject: x\n\n\n\n{{userName", 5, "malformed placeholder" },
		{ "Subject: x\n\n{{}}", 3, "malformed placeholder" },
		{ "Subject: x\n\n{{user name}}", 3, "malformed placeholder" },
	};
	struct tmpl_err err;
	struct tmpl t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].in, &t, &err), -1);
		assert_int_equal(err.te_line, bad[i].line);
		assert_non_null(strstr(err.te_msg, bad[i].msg));
		assert_null(t.tp_subject);
		assert_null(t.tp_body);
	}
	memset(&err, 0, sizeof(err));
	assert_int_equal(tmpl_parse(&t, "Subject: a\0b\n\n", 14, names, 3,
	    &err), -1);
	assert_non_null(strstr(err.te_msg, "NUL"));
}

static void
test_render(void **state)
{
	const char *vals[] = { "Alice", "Spring {{amount}}", NULL };
	struct buf b;

	(void)state;
	buf_init(&b);
	tmpl_render(&b, "Hi {{userName}}: {{courseName}} for {{amount}}. "
	    "{{other}} {{ {x} }}", names, vals, 3);
	buf_append(&b, "", 1);
	/* Values are not rendered again; NULL and unknown are empty. */
	assert_string_equal(buf_data(&b),
	    "Hi Alice: Spring {{amount}} for .  {{ {x} }}");
	buf_release(&b);
}

static void
test_load(void **state)
{
	char path[] = "/tmp/test_tmpl.XXXXXX";
	struct tmpl_err err;
	struct tmpl t;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd != -1);
	f = fdopen(fd, "w");
	fputs("Subject: Welcome {{userName}}\n\nHello {{bogus}}\n", f);
	fclose(f);
	memset(&err, 0, sizeof(err));
	assert_int_equal(tmpl_load(&t, path, names, 3, &err), -1);
	assert_int_equal(err.te_line, 3);
	unlink(path);
	memset(&err, 0, sizeof(err));
	assert_int_equal(tmpl_load(&t, path, names, 3, &err), -1);
	assert_int_equal(err.te_line, 0);
	assert_non_null(strstr(err.te_msg, "No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
