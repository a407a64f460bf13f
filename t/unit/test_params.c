/*
 * Unit tests of the FastCGI params builder (proxy/params.c).
 *
 * Each case parses a real head with h1_parse_head(), builds the records
 * with params_build() and params_finish(), then decodes them with the
 * FastCGI codec (record framing checked record by record) and asserts the
 * exact pairs that came out.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "fcgi.h"
#include "h1.h"
#include "params.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_PAIRS	256

static const struct h1_limits lim = {
	.lim_target = 8192,
	.lim_field = 1 << 20,
	.lim_head = 1 << 21,
	.lim_headers = H1_MAX_HEADERS,
	.lim_flags = 0,
};

/* The decoded stream: pairs in order, as NUL-terminated copies. */
struct decoded {
	size_t	 npairs;
	char	*name[MAX_PAIRS];
	char	*value[MAX_PAIRS];
	size_t	 vlen[MAX_PAIRS];
	size_t	 records;	/* PARAMS records with content */
	struct buf content;
};

static struct h1_req	req;
static struct decoded	dec;

static void
dec_release(struct decoded *d)
{
	size_t i;

	for (i = 0; i < d->npairs; i++) {
		free(d->name[i]);
		free(d->value[i]);
	}
	buf_release(&d->content);
	memset(d, 0, sizeof(*d));
}

static char *
dup_view(struct str s)
{
	char *p = malloc(s.len + 1);

	assert_non_null(p);
	memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	return p;
}

/* BEGIN_REQUEST for PARAMS_REQID, RESPONDER, keep-conn: 16 bytes. */
static size_t
check_begin(const char *p, size_t n)
{
	static const char want[] = "\x01\x01\x00\x01\x00\x08\x00\x00"
	    "\x00\x01\x01\x00\x00\x00\x00\x00";

	assert_true(n >= 16);
	assert_memory_equal(p, want, 16);
	return 16;
}

/*
 * Decodes <p>/<n>: BEGIN_REQUEST, then PARAMS records up to the empty one,
 * which must end the input; every record framed right, every pair whole.
 */
static void
decode(const char *p, size_t n, struct decoded *d)
{
	struct fcgi_header	h;
	struct str		name, value;
	size_t			off, i;
	ssize_t			r;

	dec_release(d);
	off = check_begin(p, n);
	for (;;) {
		assert_int_equal(fcgi_parse_header(p + off, n - off, &h), 8);
		assert_int_equal(h.type, FCGI_PARAMS);
		assert_int_equal(h.reqid, PARAMS_REQID);
		assert_int_equal(h.padding_len, fcgi_padding(h.content_len));
		off += 8;
		if (h.content_len == 0)
			break;
		assert_true(off + h.content_len + h.padding_len <= n);
		buf_append(&d->content, p + off, h.content_len);
		off += h.content_len;
		for (i = 0; i < h.padding_len; i++)
			assert_int_equal(p[off + i], 0);
		off += h.padding_len;
		d->records++;
	}
	assert_int_equal(off, n);
	for (off = 0; off < buf_avail(&d->content); off += (size_t)r) {
		r = fcgi_parse_pair(buf_data(&d->content) + off,
		    buf_avail(&d->content) - off, &name, &value);
		assert_true(r > 0);
		assert_true(d->npairs < MAX_PAIRS);
		d->name[d->npairs] = dup_view(name);
		d->value[d->npairs] = dup_view(value);
		d->vlen[d->npairs] = value.len;
		d->npairs++;
	}
}

static void
in_default(struct params_in *in)
{
	memset(in, 0, sizeof(*in));
	in->pi_req = &req;
	in->pi_rewrite = STR_NULL;
	in->pi_peer = "127.0.0.1";
	in->pi_peer_port = "5555";
	in->pi_server = "api";
	in->pi_reqid = "rid1";
	in->pi_scheme = "http";
}

/* Parses <head> (must be a whole head) into req. */
static void
parse(const char *head, size_t len)
{
	int st;

	h1_req_init(&req);
	assert_int_equal(h1_parse_head(head, len, &lim, &req, &st),
	    (ssize_t)len);
	assert_int_equal(st, 0);
}

/* Parses <head>, builds and finishes its params, decodes them into dec. */
static void
run(const char *head, const struct params_in *in, json_t *claims,
    int64_t length)
{
	struct buf out = BUF_INIT, arena = BUF_INIT;

	parse(head, strlen(head));
	params_build(&out, &arena, in);
	params_finish(&out, claims, length);
	decode(buf_data(&out), buf_avail(&out), &dec);
	buf_release(&out);
	buf_release(&arena);
}

static void
run_default(const char *head)
{
	struct params_in in;

	in_default(&in);
	run(head, &in, NULL, -1);
}

/* How many pairs are named <name>. */
static size_t
count(const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < dec.npairs; i++)
		n += strcmp(dec.name[i], name) == 0;
	return n;
}

/* The value of the one pair named <name>. */
static const char *
value_of(const char *name)
{
	size_t i;

	assert_int_equal(count(name), 1);
	for (i = 0; i < dec.npairs; i++)
		if (strcmp(dec.name[i], name) == 0)
			return dec.value[i];
	return NULL;
}

/* The pairs from <first> on are exactly <want> (name, value, ...). */
static void
assert_pairs(size_t first, const char *const *want, size_t n)
{
	size_t i;

	assert_int_equal(dec.npairs, first + n / 2);
	for (i = 0; i < n / 2; i++) {
		assert_string_equal(dec.name[first + i], want[2 * i]);
		assert_string_equal(dec.value[first + i], want[2 * i + 1]);
	}
}

static int
teardown(void **state)
{
	(void)state;
	dec_release(&dec);
	return 0;
}

/* Over TLS: the scheme everywhere, HTTPS=on; the X-Forwarded-For the
 * caller built goes as it is, REMOTE_ADDR the client it named. */
static void
test_https_xff(void **state)
{
	struct params_in in;

	(void)state;
	in_default(&in);
	in.pi_scheme = "https";
	in.pi_peer = "203.0.113.7";
	in.pi_peer_port = "";
	in.pi_xff = "203.0.113.7, 127.0.0.1";
	run("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\n"
	    "X-Forwarded-Proto: http\r\n\r\n", &in, NULL, -1);
	assert_string_equal(value_of("HTTPS"), "on");
	assert_string_equal(value_of("REQUEST_SCHEME"), "https");
	assert_string_equal(value_of("HTTP_X_FORWARDED_PROTO"), "https");
	assert_string_equal(value_of("HTTP_X_FORWARDED_FOR"),
	    "203.0.113.7, 127.0.0.1");
	assert_string_equal(value_of("REMOTE_ADDR"), "203.0.113.7");
	assert_string_equal(value_of("REMOTE_PORT"), "");
	dec_release(&dec);
	run_default("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(count("HTTPS"), 0);
	assert_string_equal(value_of("REQUEST_SCHEME"), "http");
}

static void
test_exact(void **state)
{
	static const char *const want[] = {
		"GATEWAY_INTERFACE", "CGI/1.1",
		"SERVER_SOFTWARE", "elp-gateway",
		"SERVER_PROTOCOL", "HTTP/1.1",
		"REQUEST_METHOD", "GET",
		"SCRIPT_NAME", "/course/x",
		"PATH_INFO", "",
		"DOCUMENT_URI", "/course/x",
		"QUERY_STRING", "q=1&r",
		"REQUEST_URI", "/course/x?q=1&r",
		"REMOTE_ADDR", "127.0.0.1",
		"REMOTE_PORT", "5555",
		"SERVER_NAME", "api",
		"REQUEST_ID", "rid1",
		"HTTP_X_REQUEST_ID", "rid1",
		"HTTP_X_FORWARDED_FOR", "127.0.0.1",
		"HTTP_X_FORWARDED_PROTO", "http",
		"REQUEST_SCHEME", "http",
		"HTTP_HOST", "a.example:8080",
		"HTTP_USER_AGENT", "t/1",
		"HTTP_ACCEPT", "",
	};
	struct params_in in;

	(void)state;
	in_default(&in);
	in.pi_rewrite = STR_LIT("/course");
	in.pi_prefix_len = 4;
	run("GET /api/x?q=1&r HTTP/1.1\r\nHost: a.example:8080\r\n"
	    "User-Agent: t/1\r\nAccept:\r\n\r\n", &in, NULL, -1);
	assert_pairs(0, want, NITEMS(want));
	/* All in one record; params_finish() added just the empty one. */
	assert_int_equal(dec.records, 1);
}

static void
test_joined(void **state)
{
	static const char *const want[] = {
		"HTTP_COOKIE", "a=1; b=2; c=3",
		"HTTP_X_FOO", "1, 2, 3",
		"HTTP_ACCEPT", "text/html, application/json",
		"HTTP_X_EMPTY", "",
		"HTTP_X_ONE", "",
		"HTTP_HOST", "h",
	};

	(void)state;
	/* Case differs between the lines of one field; empty values do
	 * not leave stray separators. */
	run_default("GET / HTTP/1.1\r\nCookie: a=1\r\nX-Foo: 1\r\n"
	    "Accept: text/html\r\ncookie: b=2\r\nx-foo: 2\r\n"
	    "X-Empty:\r\nX-FOO:\r\nX-Empty:\r\nCOOKIE: c=3\r\nX-One:\r\n"
	    "X-Foo: 3\r\nAccept: application/json\r\nCookie:\r\n"
	    "Host: h\r\n\r\n");
	assert_pairs(17, want, NITEMS(want));
}

static void
test_dropped(void **state)
{
	char		head[1024], name[300];
	size_t		n;

	(void)state;
	run_default("POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n"
	    "Keep-Alive: 5\r\nProxy-Connection: x\r\nTE: trailers\r\n"
	    "Trailer: x\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\n"
	    "Expect: 100-continue\r\nProxy: evil\r\n"
	    "X-Request-Id: spoof\r\nX-Forwarded-For: 6.6.6.6\r\n"
	    "x-forwarded-proto: https\r\nX-Real-IP: 6.6.6.6\r\n"
	    "Forwarded: for=6.6.6.6\r\nX_Foo: u\r\nAuth_Sub: root\r\n"
	    "Content-Type: a/b\r\nContent-Type: c/d\r\nX-Kept: k\r\n\r\n");
	assert_int_equal(count("HTTP_CONNECTION"), 0);
	assert_int_equal(count("HTTP_KEEP_ALIVE"), 0);
	assert_int_equal(count("HTTP_PROXY_CONNECTION"), 0);
	assert_int_equal(count("HTTP_TE"), 0);
	assert_int_equal(count("HTTP_TRAILER"), 0);
	assert_int_equal(count("HTTP_TRANSFER_ENCODING"), 0);
	assert_int_equal(count("HTTP_UPGRADE"), 0);
	assert_int_equal(count("HTTP_EXPECT"), 0);
	assert_int_equal(count("HTTP_PROXY"), 0);
	assert_int_equal(count("HTTP_X_REAL_IP"), 0);
	assert_int_equal(count("HTTP_FORWARDED"), 0);
	assert_int_equal(count("HTTP_X_FOO"), 0);
	assert_int_equal(count("HTTP_AUTH_SUB"), 0);
	assert_int_equal(count("HTTP_CONTENT_TYPE"), 0);
	assert_int_equal(count("CONTENT_LENGTH"), 0);
	assert_string_equal(value_of("HTTP_X_REQUEST_ID"), "rid1");
	assert_string_equal(value_of("HTTP_X_FORWARDED_FOR"), "127.0.0.1");
	assert_string_equal(value_of("HTTP_X_FORWARDED_PROTO"), "http");
	assert_string_equal(value_of("CONTENT_TYPE"), "a/b, c/d");
	assert_string_equal(value_of("HTTP_X_KEPT"), "k");
	assert_string_equal(value_of("HTTP_HOST"), "h");
	assert_int_equal(dec.npairs, 17 + 3);

	/* HTTP_ plus a name of 251 bytes fits the name buffer; 252 not. */
	for (n = 251; n <= 252; n++) {
		memset(name, 'n', n);
		name[n] = '\0';
		snprintf(head, sizeof(head), "GET / HTTP/1.0\r\n%s: v\r\n\r\n",
		    name);
		run_default(head);
		assert_int_equal(dec.npairs, n == 251 ? 18 : 17);
	}
	assert_string_equal(dec.value[2], "HTTP/1.0");
}

/* One rewrite case: target, prefix length, rewrite, what comes out. */
struct rcase {
	const char	*target;
	size_t		 prefix_len;
	const char	*rewrite;	/* NULL: none */
	const char	*script;	/* SCRIPT_NAME and DOCUMENT_URI */
	const char	*query;
	const char	*uri;		/* REQUEST_URI */
	const char	*host;		/* HTTP_HOST */
};

static void
test_rewrite(void **state)
{
	static const struct rcase cases[] = {
		{ "/course-management-api/x?y=1", 22, "/course",
		    "/course/x", "y=1", "/course/x?y=1", "h" },
		{ "/course-management-api", 22, "/course", "/course", "",
		    "/course", "h" },
		{ "/e", 2, "/", "/", "", "/", "h" },
		{ "/e/echo?", 2, "/", "/echo", "", "/echo", "h" },
		{ "/abc", 1, "/", "/abc", "", "/abc", "h" },
		{ "/abc", 1, "/x", "/xabc", "", "/xabc", "h" },
		{ "/h/a/b", 2, "/health", "/health/a/b", "", "/health/a/b",
		    "h" },
		{ "/a//b?%20", 0, NULL, "/a//b", "%20", "/a//b?%20", "h" },
		{ "http://localhost:9/p/q?z", 2, "/r", "/r/q", "z",
		    "/r/q?z", "localhost:9" },
		{ "http://LocalHost?z", 0, NULL, "", "z", "?z",
		    "LocalHost" },
	};
	struct params_in	in;
	char			head[256];
	size_t			i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		in_default(&in);
		if (cases[i].rewrite != NULL)
			in.pi_rewrite = str_make(cases[i].rewrite,
			    strlen(cases[i].rewrite));
		in.pi_prefix_len = cases[i].prefix_len;
		snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: h\r\n"
		    "\r\n", cases[i].target);
		run(head, &in, NULL, -1);
		assert_string_equal(value_of("SCRIPT_NAME"), cases[i].script);
		assert_string_equal(value_of("DOCUMENT_URI"),
		    cases[i].script);
		assert_string_equal(value_of("QUERY_STRING"), cases[i].query);
		assert_string_equal(value_of("REQUEST_URI"), cases[i].uri);
		/* RFC 9112 3.2.2: the target's authority wins over Host. */
		assert_string_equal(value_of("HTTP_HOST"), cases[i].host);
	}
}

static void
test_content_length(void **state)
{
	static const int64_t	lens[] = { 0, 5, 12345, INT64_MAX };
	static const char	*const want[] = {
		"0", "5", "12345", "9223372036854775807",
	};
	struct params_in	in;
	size_t			i;

	(void)state;
	in_default(&in);
	for (i = 0; i < NITEMS(lens); i++) {
		run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
		    &in, NULL, lens[i]);
		/* Last, after everything the head decides. */
		assert_string_equal(dec.name[dec.npairs - 1],
		    "CONTENT_LENGTH");
		assert_string_equal(value_of("CONTENT_LENGTH"), want[i]);
	}
	run("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", &in,
	    NULL, -1);
	assert_int_equal(count("CONTENT_LENGTH"), 0);
	assert_int_equal(count("HTTP_CONTENT_LENGTH"), 0);
	run("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
	    &in, NULL, -1);
	assert_int_equal(count("CONTENT_LENGTH"), 0);
}

static void
test_claims(void **state)
{
	static const char *const want[] = {
		"CONTENT_LENGTH", "7",
		"AUTH_SUB", "u-1",
		"AUTH_ROLES", "ADMIN,STUDENT",
		"AUTH_EMAIL", "a@b.c",
		"AUTH_USERNAME", "ann",
		"AUTH_GIVEN_NAME", "Ann",
		"AUTH_CLIENT", "spa-client",
		"AUTH_SCOPE", "openid email",
		"AUTH_SID", "s-9",
	};
	static const char *const want_empty[] = { "AUTH_ROLES", "" };
	struct params_in	in;
	json_t			*claims;
	json_error_t		err;

	(void)state;
	claims = json_loads("{\"sub\":\"u-1\",\"realm_access\":{\"roles\":"
	    "[\"ADMIN\",7,\"STUDENT\",null]},\"email\":\"a@b.c\","
	    "\"preferred_username\":\"ann\",\"given_name\":\"Ann\","
	    "\"family_name\":42,\"azp\":\"spa-client\",\"scope\":"
	    "\"openid email\",\"sid\":\"s-9\",\"exp\":1}", 0, &err);
	assert_non_null(claims);
	in_default(&in);
	run("GET / HTTP/1.1\r\nHost: h\r\nAuth-Sub: spoof\r\n\r\n", &in,
	    claims, 7);
	assert_pairs(19, want, NITEMS(want));
	assert_string_equal(value_of("HTTP_AUTH_SUB"), "spoof");
	json_decref(claims);

	claims = json_object();
	run("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &in, claims, -1);
	assert_pairs(18, want_empty, NITEMS(want_empty));
	json_decref(claims);

	run("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &in, NULL, -1);
	assert_int_equal(dec.npairs, 18);
	assert_int_equal(count("AUTH_ROLES"), 0);
}

/* Fills <n> bytes at <p> with a pattern that shows misplaced bytes. */
static void
pattern(char *p, size_t n, int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)('a' + (i * 7 + (size_t)seed) % 26);
}

static void
test_long_values(void **state)
{
	const size_t	 big = 70000, half = 40000;
	struct buf	 head = BUF_INIT, want = BUF_INIT;
	char		*v;
	json_t		*claims;
	struct params_in in;

	(void)state;
	v = malloc(big + 1);
	assert_non_null(v);
	buf_append_str(&head, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
	pattern(v, big, 1);
	buf_append(&head, v, big);
	buf_append_str(&head, "\r\nCookie: ");
	pattern(v, half, 2);
	buf_append(&head, v, half);
	buf_append(&want, v, half);
	buf_append_str(&head, "\r\nCookie: ");
	pattern(v, half, 3);
	buf_append(&head, v, half);
	buf_append_str(&want, "; ");
	buf_append(&want, v, half);
	buf_append_str(&head, "\r\n\r\n");
	buf_append(&head, "", 1);

	pattern(v, big, 4);
	v[big] = '\0';
	claims = json_pack("{s:s}", "sub", v);
	assert_non_null(claims);
	in_default(&in);
	run(buf_data(&head), &in, claims, 1);
	/* Three values over one record's 65535 bytes: several records. */
	assert_true(dec.records >= 4);
	pattern(v, big, 1);
	assert_int_equal(strlen(value_of("HTTP_X_BIG")), big);
	assert_memory_equal(value_of("HTTP_X_BIG"), v, big);
	assert_int_equal(strlen(value_of("HTTP_COOKIE")), buf_avail(&want));
	assert_memory_equal(value_of("HTTP_COOKIE"), buf_data(&want),
	    buf_avail(&want));
	pattern(v, big, 4);
	assert_memory_equal(value_of("AUTH_SUB"), v, big);
	assert_string_equal(value_of("CONTENT_LENGTH"), "1");
	json_decref(claims);
	buf_release(&head);
	buf_release(&want);
	free(v);
}

/* params_build() appends to <out> and leaves the arena as it found it. */
static void
test_buffers(void **state)
{
	static const char	 head[] = "GET /e/x HTTP/1.1\r\nHost: h\r\n"
	    "A: 1\r\nA: 2\r\n\r\n";
	struct buf		 out = BUF_INIT, arena = BUF_INIT;
	struct params_in	 in;

	(void)state;
	buf_append_str(&out, "prev");
	buf_append_str(&arena, "kept");
	parse(head, sizeof(head) - 1);
	in_default(&in);
	in.pi_rewrite = STR_LIT("/r");
	in.pi_prefix_len = 2;
	params_build(&out, &arena, &in);
	assert_int_equal(buf_avail(&arena), 4);
	assert_memory_equal(buf_data(&arena), "kept", 4);
	params_finish(&out, NULL, -1);
	assert_memory_equal(buf_data(&out), "prev", 4);
	decode(buf_data(&out) + 4, buf_avail(&out) - 4, &dec);
	assert_string_equal(value_of("SCRIPT_NAME"), "/r/x");
	assert_string_equal(value_of("HTTP_A"), "1, 2");
	buf_release(&out);
	buf_release(&arena);
}

static void
test_dropped_names(void **state)
{
	(void)state;
	assert_int_equal(params_header_dropped(STR_LIT("connection")), 1);
	assert_int_equal(params_header_dropped(STR_LIT("X-A_B")), 1);
	assert_int_equal(params_header_dropped(STR_LIT("Cookie")), 0);
	assert_int_equal(params_header_dropped(STR_LIT("Authorization")), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_exact, teardown),
		cmocka_unit_test_teardown(test_https_xff, teardown),
		cmocka_unit_test_teardown(test_joined, teardown),
		cmocka_unit_test_teardown(test_dropped, teardown),
		cmocka_unit_test_teardown(test_rewrite, teardown),
		cmocka_unit_test_teardown(test_content_length, teardown),
		cmocka_unit_test_teardown(test_claims, teardown),
		cmocka_unit_test_teardown(test_long_values, teardown),
		cmocka_unit_test_teardown(test_buffers, teardown),
		cmocka_unit_test(test_dropped_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
