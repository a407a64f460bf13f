/*
 * Unit tests for shared/env.c: status names and reasons, the envelope shapes of
 * docs/contract/api.md §2.1, and env_error_write() against env_error().
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
#include "env.h"
#include "util.h"

static void
test_status_names_contract(void **state)
{
	/* docs/contract/api.md §2.2, verbatim. */
	static const struct {
		int		 code;
		const char	*name;
	} names[] = {
		{ 200, "OK" }, { 201, "CREATED" }, { 400, "BAD_REQUEST" },
		{ 401, "UNAUTHORIZED" }, { 403, "FORBIDDEN" },
		{ 404, "NOT_FOUND" }, { 405, "METHOD_NOT_ALLOWED" },
		{ 409, "CONFLICT" }, { 413, "PAYLOAD_TOO_LARGE" },
		{ 415, "UNSUPPORTED_MEDIA_TYPE" },
		{ 416, "REQUESTED_RANGE_NOT_SATISFIABLE" },
		{ 417, "EXPECTATION_FAILED" }, { 500, "INTERNAL_SERVER_ERROR" },
		/* Spring HttpStatus names the gateway produces. */
		{ 100, "CONTINUE" }, { 204, "NO_CONTENT" },
		{ 206, "PARTIAL_CONTENT" }, { 304, "NOT_MODIFIED" },
		{ 408, "REQUEST_TIMEOUT" }, { 411, "LENGTH_REQUIRED" },
		{ 414, "URI_TOO_LONG" }, { 429, "TOO_MANY_REQUESTS" },
		{ 431, "REQUEST_HEADER_FIELDS_TOO_LARGE" },
		{ 501, "NOT_IMPLEMENTED" }, { 502, "BAD_GATEWAY" },
		{ 503, "SERVICE_UNAVAILABLE" }, { 504, "GATEWAY_TIMEOUT" },
		{ 505, "HTTP_VERSION_NOT_SUPPORTED" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(names); i++)
		assert_string_equal(env_status_name(names[i].code),
		    names[i].name);
	assert_string_equal(env_status_name(299), "UNKNOWN");
	assert_string_equal(env_status_name(0), "UNKNOWN");
	assert_string_equal(env_status_name(-404), "UNKNOWN");
	assert_string_equal(env_status_name(1000), "UNKNOWN");
}

static void
test_reasons(void **state)
{
	(void)state;
	assert_string_equal(env_reason(200), "OK");
	assert_string_equal(env_reason(201), "Created");
	assert_string_equal(env_reason(404), "Not Found");
	assert_string_equal(env_reason(413), "Content Too Large");
	assert_string_equal(env_reason(416), "Range Not Satisfiable");
	assert_string_equal(env_reason(431),
	    "Request Header Fields Too Large");
	assert_string_equal(env_reason(500), "Internal Server Error");
	assert_string_equal(env_reason(503), "Service Unavailable");
	assert_string_equal(env_reason(505), "HTTP Version Not Supported");
	assert_string_equal(env_reason(299), "Unknown");
}

/* Every known code has both a name and a reason, and names are CONSTANTS. */
static void
test_table_consistent(void **state)
{
	const char *name, *p;
	int code, known = 0;

	(void)state;
	for (code = 0; code < 1000; code++) {
		name = env_status_name(code);
		if (strcmp(name, "UNKNOWN") == 0) {
			assert_string_equal(env_reason(code), "Unknown");
			continue;
		}
		known++;
		assert_true(code >= 100 && code <= 599);
		assert_string_not_equal(env_reason(code), "Unknown");
		for (p = name; *p != '\0'; p++)
			assert_true((*p >= 'A' && *p <= 'Z') || *p == '_');
	}
	assert_true(known >= 50);
}

static void
assert_json(json_t *got, const char *want_text)
{
	json_error_t err;
	json_t *want = json_loads(want_text, 0, &err);
	char *dump;

	assert_non_null(want);
	assert_non_null(got);
	if (!json_equal(got, want)) {
		dump = json_dumps(got, JSON_SORT_KEYS);
		fail_msg("got %s, want %s", dump, want_text);
	}
	json_decref(want);
}

static void
test_ok_shape(void **state)
{
	json_t *body = json_pack("{s:s, s:n}", "message", "done", "imageUrl");
	json_t *env;

	(void)state;
	env = env_ok(200, body);
	assert_json(env, "{\"httpStatus\":\"OK\",\"responseBody\":"
	    "{\"message\":\"done\",\"imageUrl\":null}}");
	assert_int_equal(json_object_size(env), 2);
	assert_null(json_object_get(env, "errorBody"));
	json_decref(env);

	/* NULL body: an empty object, never null. */
	env = env_ok(201, NULL);
	assert_json(env, "{\"httpStatus\":\"CREATED\",\"responseBody\":{}}");
	assert_true(json_is_object(json_object_get(env, "responseBody")));
	json_decref(env);
}

static void
test_error_shape(void **state)
{
	json_t *env, *eb;

	(void)state;
	env = env_error(404, "No course found for this course id!");
	assert_json(env, "{\"httpStatus\":\"NOT_FOUND\",\"errorBody\":"
	    "{\"errorCode\":\"404\",\"errorMessage\":"
	    "\"No course found for this course id!\"}}");
	assert_int_equal(json_object_size(env), 2);
	assert_null(json_object_get(env, "responseBody"));
	eb = json_object_get(env, "errorBody");
	assert_int_equal(json_object_size(eb), 2);
	assert_true(json_is_string(json_object_get(eb, "errorCode")));
	json_decref(env);

	env = env_error(500, NULL);
	assert_json(env, "{\"httpStatus\":\"INTERNAL_SERVER_ERROR\","
	    "\"errorBody\":{\"errorCode\":\"500\",\"errorMessage\":\"\"}}");
	json_decref(env);

	/* Invalid UTF-8 is repaired rather than making jansson fail. */
	env = env_error(400, "bad \xff byte");
	assert_json(env, "{\"httpStatus\":\"BAD_REQUEST\",\"errorBody\":"
	    "{\"errorCode\":\"400\",\"errorMessage\":"
	    "\"bad \\ufffd byte\"}}");
	json_decref(env);
}

static void
test_write_exact(void **state)
{
	static const char want[] = "{\"httpStatus\":\"NOT_FOUND\","
	    "\"errorBody\":{\"errorCode\":\"404\",\"errorMessage\":"
	    "\"say \\\"hi\\\" \\\\ \\u000a\\u0001\\u001f\\u007f \xc3\xa9\"}}";
	struct buf out = BUF_INIT;
	size_t n;

	(void)state;
	buf_append_str(&out, "prefix");
	n = env_error_write(&out, 404, "say \"hi\" \\ \n\x01\x1f\x7f \xc3\xa9");
	assert_int_equal(n, sizeof(want) - 1);
	assert_int_equal(buf_avail(&out), 6 + n);
	assert_memory_equal(buf_data(&out), "prefix", 6);
	assert_memory_equal(buf_data(&out) + 6, want, n);
	buf_release(&out);
}

/*
 * Checks that env_error_write() output for <msg> is valid JSON (jansson
 * rejects invalid UTF-8 too) equal to env_error(), and, if <text> is not
 * NULL, that errorMessage decodes to it.
 */
static void
check_same(int status, const char *msg, const char *text)
{
	struct buf out = BUF_INIT;
	json_error_t err;
	json_t *a, *b;
	size_t n;

	n = env_error_write(&out, status, msg);
	assert_int_equal(n, buf_avail(&out));
	a = json_loadb(buf_data(&out), n, 0, &err);
	if (a == NULL)
		fail_msg("invalid JSON (%s): %.*s", err.text, (int)n,
		    buf_data(&out));
	b = env_error(status, msg);
	assert_non_null(b);
	assert_true(json_equal(a, b));
	if (text != NULL)
		assert_string_equal(json_string_value(json_object_get(
		    json_object_get(a, "errorBody"), "errorMessage")), text);
	json_decref(a);
	json_decref(b);
	buf_release(&out);
}

static void
test_write_matches_jansson(void **state)
{
	static const struct {
		const char	*msg;
		const char	*text;
	} cases[] = {
		{ "plain", "plain" },
		{ "", "" },
		{ "tab\tnl\ncr\r", "tab\tnl\ncr\r" },
		{ "\"\\/", "\"\\/" },
		{ "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80",
		    "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80" },
		{ "\xe2\x80\xa8", "\xe2\x80\xa8" },
		{ "a\xff" "b", "a\xef\xbf\xbd" "b" },
		{ "\x80", "\xef\xbf\xbd" },
		{ "cut \xc3", "cut \xef\xbf\xbd" },
		{ "\xe2\x82x", "\xef\xbf\xbd\xef\xbf\xbdx" },
		/* overlong '/', surrogate, above U+10FFFF */
		{ "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
		    "\xef\xbf\xbd" },
		{ "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },
		{ "\xed\x9f\xbf", "\xed\x9f\xbf" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++)
		check_same(400, cases[i].msg, cases[i].text);
	check_same(503, NULL, "");
	check_same(299, "unknown status", NULL);
}

/* Every byte value, then random byte strings, agree between both paths. */
static void
test_write_all_bytes(void **state)
{
	char msg[256];
	int i, j, len;

	(void)state;
	for (i = 1; i < 256; i++)
		msg[i - 1] = (char)i;
	msg[255] = '\0';
	check_same(400, msg, NULL);
	srand(42);
	for (i = 0; i < 2000; i++) {
		len = rand() % 24;
		for (j = 0; j < len; j++)
			msg[j] = (char)(rand() % 255 + 1);
		msg[len] = '\0';
		check_same(500, msg, NULL);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names_contract),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_table_consistent),
		cmocka_unit_test(test_ok_shape),
		cmocka_unit_test(test_error_shape),
		cmocka_unit_test(test_write_exact),
		cmocka_unit_test(test_write_matches_jansson),
		cmocka_unit_test(test_write_all_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
