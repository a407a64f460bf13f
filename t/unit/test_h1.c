/*
 * Unit tests of the HTTP/1.1 request codec (proxy/h1.c).
 *
 * Every head is fed whole, as a growing prefix that ends on a guard page
 * (so a read past <len> faults), as a growing prefix at one address (the
 * resume path), and cut in two at every offset. Every chunked body is fed
 * whole, one byte per call and cut in two at every offset.
 */
#include <sys/mman.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "h1.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define GUARD_SIZE	(256 * 1024)

#include "guard.h"

static const struct h1_limits lim_std = {
	.lim_target = 64,
	.lim_field = 128,
	.lim_head = 1024,
	.lim_headers = 8,
	.lim_flags = 0,
};

static const struct h1_limits lim_all = {
	.lim_target = 64,
	.lim_field = 128,
	.lim_head = 1024,
	.lim_headers = 8,
	.lim_flags = H1_LIM_CONNECT | H1_LIM_TRACE,
};

/* A head and what parsing it must give. */
struct hcase {
	const char	*in;
	size_t		 len;
	ssize_t		 want;		/* consumed; 0 means len */
	int		 status;	/* 0 when accepted */
};

#define OK(s)		{ s, sizeof(s) - 1, 0, 0 }
#define OKN(s, n)	{ s, sizeof(s) - 1, n, 0 }
#define BAD(st, s)	{ s, sizeof(s) - 1, H1_BAD, st }

#define RL	"GET / HTTP/1.1\r\n"
#define H	"Host: a\r\n"

static const struct hcase good[] = {
	OK(RL H "\r\n"),
	OK("GET / HTTP/1.0\r\n\r\n"),
	OK("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
	OK("PUT /f HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n"),
	OK("DELETE /f/1 HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	OK("PATCH /f HTTP/1.1\r\nHost: a\r\n"
	   "Transfer-Encoding: chunked\r\n\r\n"),
	OK("\r\n" RL H "\r\n"),
	OK("\r\n\r\n\r\n\r\n" RL H "\r\n"),
	OK("GET /a/b?x=1&y=%20 HTTP/1.1\r\n" H "\r\n"),
	OK("GET /? HTTP/1.1\r\n" H "\r\n"),
	OK("GET //x//y HTTP/1.1\r\n" H "\r\n"),
	OK("GET http://example.com/p?q HTTP/1.1\r\n" H "\r\n"),
	OK("GET HTTPS://Example.com:8443 HTTP/1.1\r\n" H "\r\n"),
	OK("GET http://[::1]:80?x HTTP/1.1\r\n" H "\r\n"),
	OK(RL H "X:  v  \t\r\n\r\n"),
	OK(RL H "X:\r\n\r\n"),
	OK(RL H "X: \t \r\n\r\n"),
	OK(RL H "X: \x80\xff obs\ttext\r\n\r\n"),
	OK(RL H "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"),
	OK(RL H "X: 0123456789\tabcdefghij\t0123456789 \t\r\n\r\n"),
	OK(RL H "X: \x80\x81\x82\x83\x84\x85\x86\x87\x88\xfe\xff~ !\r\n\r\n"),
	OK(RL H "Transfer-Encoding: Chunked\r\n\r\n"),
	OK(RL H "Transfer-Encoding:   chunked  \r\n\r\n"),
	OK(RL H "Connection: Keep-Alive, Upgrade\r\n\r\n"),
	OK(RL H "Connection: ,,close,\r\n\r\n"),
	OK(RL H "Expect: 100-Continue\r\n\r\n"),
	OK(RL H "Content-Length: 18446744073709551615\r\n\r\n"),
	OK(RL H "Content-Length: 007\r\n\r\n"),
	OK(RL "Host: [::1]:8080\r\n\r\n"),
	OK(RL "Host:\r\n\r\n"),
	OK(RL "Host: a.b-c_d~e%41!$&'()*+,;=:1\r\n\r\n"),
	/* Host ports: *DIGIT up to 65535; empty means the default. */
	OK(RL "Host: a:65535\r\n\r\n"),
	OK(RL "Host: a:0\r\n\r\n"),
	OK(RL "Host: a:00080\r\n\r\n"),
	OK(RL "Host: a:\r\n\r\n"),
	OK(RL "Host: [::1]\r\n\r\n"),
	OK(RL "Host: [::1]:\r\n\r\n"),
	OK(RL "Host: [fe80::1%25eth0]:65535\r\n\r\n"),
	OK(RL "Host: 127.0.0.1:8080\r\n\r\n"),
	OK("GET http://a:65535/ HTTP/1.1\r\n" H "\r\n"),
	OK("GET http://a:/ HTTP/1.1\r\n" H "\r\n"),
	/* One Authorization, even an empty one. */
	OK(RL H "Authorization: Bearer abc\r\n\r\n"),
	OK(RL H "Authorization:\r\nProxy-Authorization: x\r\n\r\n"),
	OK("GET /" "0123456789012345678901234567890123456789"
	   "01234567890123456789012" " HTTP/1.1\r\n" H "\r\n"),
	OKN(RL H "\r\n" RL H "\r\n", sizeof(RL H "\r\n") - 1),
	OKN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
	    sizeof("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n")
	    - 1),
};

static const struct hcase rejected[] = {
	/* request line */
	BAD(400, "GET  / HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET /  HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET / HTTP/1.1 \r\n" H "\r\n"),
	BAD(400, " GET / HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "\tGET / HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "\nGET / HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "\r\n\r\n\r\n\r\n\r\n" RL H "\r\n"),
	BAD(400, "\r\r\n" RL H "\r\n"),
	BAD(400, "GET / HTTP/1.1\n" H "\r\n"),
	BAD(400, "GET / HTTP/1.1\rX" H "\r\n"),
	BAD(400, "GET /\r HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET /a b HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET /\x01 HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET /\x7f HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET /\x80 HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET /\0 HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET /p#frag HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET / http/1.1\r\n" H "\r\n"),
	BAD(400, "GET / HTTP/1.x\r\n" H "\r\n"),
	BAD(400, "GET / HTTP/11.1\r\n" H "\r\n"),
	BAD(400, "GET / HTTP/1\r\n" H "\r\n"),
	BAD(400, "GET / HTTP/1.1x\r\n" H "\r\n"),
	BAD(400, "GET /\r\n\r\n"),
	BAD(400, "G(T / HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "G\0T / HTTP/1.1\r\n" H "\r\n"),
	BAD(400, " / HTTP/1.1\r\n" H "\r\n"),
	/* target forms */
	BAD(400, "GET * HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "OPTIONS *x HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET example.com:80 HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET x HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET ftp://x/ HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET http:///p HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET http:// HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET http://u@h/ HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET http:/x/ HTTP/1.1\r\n" H "\r\n"),
	/* header lines */
	BAD(400, RL H "X: a\r\n b\r\n\r\n"),
	BAD(400, RL H "X: a\r\n\tb\r\n\r\n"),
	BAD(400, RL " Host: a\r\n\r\n"),
	BAD(400, RL "Host : a\r\n\r\n"),
	BAD(400, RL "Host\t: a\r\n\r\n"),
	BAD(400, RL H ": v\r\n\r\n"),
	BAD(400, RL H "X\r\n\r\n"),
	BAD(400, RL H "X(y: v\r\n\r\n"),
	BAD(400, RL H "X\x80: v\r\n\r\n"),
	BAD(400, RL H "X: a\0b\r\n\r\n"),
	BAD(400, RL H "X: a\x01\r\n\r\n"),
	BAD(400, RL H "X: a\x7f\r\n\r\n"),
	BAD(400, RL H "X: 0123456789abcdefghij\x7f" "0123456789\r\n\r\n"),
	BAD(400, RL H "X: 0123456789abcdefghij\x1f" "0123\r\n\r\n"),
	BAD(400, RL H "X: 0123456789abcdefghij\n" "0123\r\n\r\n"),
	BAD(400, RL H "X: 0123456789abcdefghijklmn\0\r\n\r\n"),
	BAD(400, RL H "X: a\rb\r\n\r\n"),
	BAD(400, RL H "X: a\n\r\n"),
	BAD(400, RL H "\n"),
	BAD(400, RL H "\r\r\n"),
	BAD(400, RL H "\rX"),
	/* Content-Length */
	BAD(400, RL H "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"),
	BAD(400, RL H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"),
	BAD(400, RL H "Content-Length: 5, 5\r\n\r\n"),
	BAD(400, RL H "Content-Length: +5\r\n\r\n"),
	BAD(400, RL H "Content-Length: -1\r\n\r\n"),
	BAD(400, RL H "Content-Length: 0x10\r\n\r\n"),
	BAD(400, RL H "Content-Length: 1 2\r\n\r\n"),
	BAD(400, RL H "Content-Length:\r\n\r\n"),
	BAD(400, RL H "Content-Length: 18446744073709551616\r\n\r\n"),
	BAD(400, RL H "Content-Length: 99999999999999999999\r\n\r\n"),
	/* Transfer-Encoding */
	BAD(400, RL H "Transfer-Encoding: chunked\r\n"
	    "Content-Length: 1\r\n\r\n"),
	BAD(400, RL H "Content-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"),
	BAD(400, RL H "Transfer-Encoding: gzip\r\n\r\n"),
	BAD(400, RL H "Transfer-Encoding: identity\r\n\r\n"),
	BAD(400, RL H "Transfer-Encoding: chunked, gzip\r\n\r\n"),
	BAD(400, RL H "Transfer-Encoding: chunked, chunked\r\n\r\n"),
	BAD(400, RL H "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"),
	BAD(400, RL H "Transfer-Encoding: chunked,\r\n\r\n"),
	BAD(400, RL H "Transfer-Encoding: ,chunked\r\n\r\n"),
	BAD(400, RL H "Transfer-Encoding:\r\n\r\n"),
	BAD(400, RL H "Transfer-Encoding: xchunked\r\n\r\n"),
	BAD(400, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	BAD(501, RL H "Transfer-Encoding: gzip, chunked\r\n\r\n"),
	BAD(501, RL H "Transfer-Encoding: gzip;q=1 , Chunked\r\n\r\n"),
	/* Host */
	BAD(400, RL "\r\n"),
	BAD(400, RL "X: a\r\n\r\n"),
	BAD(400, "GET http://a/ HTTP/1.1\r\n\r\n"),
	BAD(400, RL H H "\r\n"),
	BAD(400, RL "Host: a\r\nhost: b\r\n\r\n"),
	BAD(400, RL "Host: a b\r\n\r\n"),
	BAD(400, RL "Host: a/b\r\n\r\n"),
	BAD(400, RL "Host: u@h\r\n\r\n"),
	BAD(400, RL "Host: a\x80\r\n\r\n"),
	BAD(400, RL "Host: a:65536\r\n\r\n"),
	BAD(400, RL "Host: a:99999\r\n\r\n"),
	BAD(400, RL "Host: a:18446744073709551696\r\n\r\n"),
	BAD(400, RL "Host: a:8o\r\n\r\n"),
	BAD(400, RL "Host: a:-1\r\n\r\n"),
	BAD(400, RL "Host: a:+80\r\n\r\n"),
	BAD(400, RL "Host: a:http\r\n\r\n"),
	BAD(400, RL "Host: a:1:2\r\n\r\n"),
	BAD(400, RL "Host: a::1\r\n\r\n"),
	BAD(400, RL "Host: ::1\r\n\r\n"),
	BAD(400, RL "Host: :80\r\n\r\n"),
	BAD(400, RL "Host: :\r\n\r\n"),
	BAD(400, RL "Host: [::1\r\n\r\n"),
	BAD(400, RL "Host: [::1]x\r\n\r\n"),
	BAD(400, RL "Host: [::1]:x\r\n\r\n"),
	BAD(400, RL "Host: [::1]:65536\r\n\r\n"),
	BAD(400, RL "Host: []\r\n\r\n"),
	BAD(400, RL "Host: [[::1]]\r\n\r\n"),
	BAD(400, RL "Host: a]\r\n\r\n"),
	BAD(400, RL "Host: a[b\r\n\r\n"),
	BAD(400, RL "Host: a%4\r\n\r\n"),
	BAD(400, RL "Host: a%zz\r\n\r\n"),
	BAD(400, "GET http://a:65536/ HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET http://a:x/ HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET http://:80/ HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET http://[::1/ HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "GET http://a:1:2?q HTTP/1.1\r\n" H "\r\n"),
	/* Authorization */
	BAD(400, RL H "Authorization: Bearer a\r\n"
	    "Authorization: Bearer b\r\n\r\n"),
	BAD(400, RL H "Authorization: x\r\nX: y\r\n"
	    "authorization: x\r\n\r\n"),
	BAD(400, RL H "AUTHORIZATION:\r\nAuthorization: Basic eA==\r\n\r\n"),
	/* Expect */
	BAD(417, RL H "Expect: 100-continuex\r\n\r\n"),
	BAD(417, RL H "Expect: foo\r\n\r\n"),
	BAD(417, RL H "Expect:\r\n\r\n"),
	/* methods and versions */
	BAD(501, "FOO / HTTP/1.1\r\n" H "\r\n"),
	BAD(501, "get / HTTP/1.1\r\n" H "\r\n"),
	BAD(501, "GETS / HTTP/1.1\r\n" H "\r\n"),
	BAD(501, "CONNECT a:443 HTTP/1.1\r\n" H "\r\n"),
	BAD(501, "TRACE / HTTP/1.1\r\n" H "\r\n"),
	BAD(501, "ABCDEFGHIJKLMNOPQ"),
	BAD(501, "ABCDEFGHIJKLMNOP / HTTP/1.1\r\n"),
	BAD(505, "GET / HTTP/2.0\r\n" H "\r\n"),
	BAD(505, "GET / HTTP/1.2\r\n" H "\r\n"),
	BAD(505, "GET / HTTP/0.9\r\n" H "\r\n"),
	BAD(505, "GET / HTTP/9.1\r\n\r\n"),
	/* limits of lim_std */
	BAD(414, "GET /" "0123456789012345678901234567890123456789"
	    "012345678901234567890123" " HTTP/1.1\r\n" H "\r\n"),
	BAD(414, "GET /" "0123456789012345678901234567890123456789"
	    "012345678901234567890123"),
	BAD(431, RL H "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n"
	    "G: 7\r\nH: 8\r\n\r\n"),
	BAD(431, RL H "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n"
	    "G: 7\r\nH"),
};

/* With CONNECT and TRACE allowed (lim_all). */
static const struct hcase extended[] = {
	OK("CONNECT a.b:443 HTTP/1.1\r\n" H "\r\n"),
	OK("CONNECT [::1]:8443 HTTP/1.1\r\n" H "\r\n"),
	OK("TRACE / HTTP/1.1\r\n" H "\r\n"),
	OK("CONNECT a.b:65535 HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT a.b:65536 HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT a:b:1 HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT [::1]x:1 HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT [::1]: HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT a.b HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT :443 HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT a.b: HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT / HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT http://a:1/ HTTP/1.1\r\n" H "\r\n"),
	BAD(400, "CONNECT a/b:1 HTTP/1.1\r\n" H "\r\n"),
};

static void
assert_str_same(struct str a, struct str b)
{
	assert_int_equal(a.len, b.len);
	if (a.len > 0)
		assert_memory_equal(a.p, b.p, a.len);
}

/* Two parses of the same bytes, at different addresses, agree. */
static void
assert_req_same(const struct h1_req *a, const struct h1_req *b)
{
	size_t i;

	assert_int_equal(a->method, b->method);
	assert_str_same(a->target, b->target);
	assert_str_same(a->path, b->path);
	assert_str_same(a->query, b->query);
	assert_str_same(a->authority, b->authority);
	assert_str_same(a->host, b->host);
	assert_int_equal(a->form, b->form);
	assert_int_equal(a->minor, b->minor);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->content_length, b->content_length);
	assert_int_equal(a->nheaders, b->nheaders);
	for (i = 0; i < a->nheaders; i++) {
		assert_str_same(a->headers[i].name, b->headers[i].name);
		assert_str_same(a->headers[i].value, b->headers[i].value);
	}
}

/* Views of a parsed head lie inside its consumed bytes. */
static void
assert_inside(struct str v, const char *p, ssize_t n)
{
	if (v.len == 0)
		return;
	assert_true(v.p >= p && v.p + v.len <= p + n);
}

static void
assert_views_inside(const struct h1_req *r, const char *p, ssize_t n)
{
	size_t i;

	assert_inside(r->method_str, p, n);
	assert_inside(r->target, p, n);
	assert_inside(r->path, p, n);
	assert_inside(r->query, p, n);
	assert_inside(r->host, p, n);
	for (i = 0; i < r->nheaders; i++) {
		assert_inside(r->headers[i].name, p, n);
		assert_inside(r->headers[i].value, p, n);
	}
}

/* The expected outcome of a prefix or split whose result is <got>. */
static void
assert_outcome(ssize_t got, int st, ssize_t want, int wantst)
{
	assert_int_equal(got, want);
	assert_int_equal(st, want == H1_BAD ? wantst : 0);
}

static void
feed_whole(const char *in, size_t len, const struct h1_limits *lim,
    ssize_t want, int wantst, struct h1_req *out)
{
	const char	*p = at_guard(in, len);
	int		 st = -1;
	ssize_t		 n;

	h1_req_init(out);
	n = h1_parse_head(p, len, lim, out, &st);
	assert_outcome(n, st, want, wantst);
	if (n >= 0)
		assert_views_inside(out, p, n);
	/* The guard area is reused: keep views into <in> for comparisons. */
	h1_req_init(out);
	assert_int_equal(h1_parse_head(in, len, lim, out, &st), n);
}

/*
 * Growing prefixes: at the guard page (a new address each time, so the
 * parser restarts) when <resume> is 0, else at one address.
 */
static void
feed_prefix(const char *in, size_t len, const struct h1_limits *lim,
    ssize_t want, int wantst, const struct h1_req *whole, int resume)
{
	static struct h1_req	 req;
	const char		*p = resume ? at_guard(in, len) : NULL;
	size_t			 k;
	int			 st, decided = 0;
	ssize_t			 n;

	h1_req_init(&req);
	for (k = 0; k <= len; k++) {
		n = h1_parse_head(resume ? p : at_guard(in, k), k, lim, &req,
		    &st);
		if (n == H1_AGAIN && !decided) {
			assert_int_equal(st, 0);
			continue;
		}
		decided = 1;
		assert_outcome(n, st, want, wantst);
		if (n >= 0)
			assert_req_same(&req, whole);
	}
	assert_true(decided || want == H1_AGAIN);
}

/* Cut in two at every offset; the second call resumes. */
static void
feed_cut(const char *in, size_t len, const struct h1_limits *lim,
    ssize_t want, int wantst, const struct h1_req *whole)
{
	static struct h1_req	 req;
	const char		*p = at_guard(in, len);
	size_t			 k;
	int			 st;
	ssize_t			 n;

	for (k = 0; k <= len; k++) {
		h1_req_init(&req);
		n = h1_parse_head(p, k, lim, &req, &st);
		if (n == H1_AGAIN)
			n = h1_parse_head(p, len, lim, &req, &st);
		assert_outcome(n, st, want, wantst);
		if (n >= 0)
			assert_req_same(&req, whole);
	}
}

static void
check_head(const char *in, size_t len, const struct h1_limits *lim,
    ssize_t want, int wantst)
{
	static struct h1_req whole;

	if (want == 0)
		want = len;
	feed_whole(in, len, lim, want, wantst, &whole);
	feed_prefix(in, len, lim, want, wantst, &whole, 0);
	feed_prefix(in, len, lim, want, wantst, &whole, 1);
	feed_cut(in, len, lim, want, wantst, &whole);
}

static void
check_table(const struct hcase *t, size_t n, const struct h1_limits *lim)
{
	size_t i;

	for (i = 0; i < n; i++)
		check_head(t[i].in, t[i].len, lim, t[i].want, t[i].status);
}

static void
test_good(void **state)
{
	(void)state;
	check_table(good, NITEMS(good), &lim_std);
}

static void
test_rejected(void **state)
{
	(void)state;
	check_table(rejected, NITEMS(rejected), &lim_std);
}

static void
test_extended(void **state)
{
	(void)state;
	check_table(extended, NITEMS(extended), &lim_all);
}

/* Parses a head that must be accepted whole; returns the request. */
static const struct h1_req *
parse_ok(const char *in)
{
	static struct h1_req	 req;
	size_t			 len = strlen(in);
	int			 st;

	h1_req_init(&req);
	assert_int_equal(h1_parse_head(at_guard(in, len), len, &lim_all, &req,
	    &st), (ssize_t)len);
	return &req;
}

static void
assert_str_eq(struct str v, const char *s)
{
	assert_int_equal(v.len, strlen(s));
	assert_memory_equal(v.p, s, v.len);
}

static void
test_fields(void **state)
{
	const struct h1_req *r;

	(void)state;
	r = parse_ok("POST /a/b?x=1&y HTTP/1.1\r\nHost: ex.org:81\r\n"
	    "X-Empty:\r\nX-Pad: \t a b \t\r\nContent-Length: 42\r\n\r\n");
	assert_int_equal(r->method, H1_M_POST);
	assert_str_eq(r->method_str, "POST");
	assert_string_equal(h1_method_str(r->method), "POST");
	assert_str_eq(r->target, "/a/b?x=1&y");
	assert_str_eq(r->path, "/a/b");
	assert_str_eq(r->query, "x=1&y");
	assert_int_equal(r->form, H1_FORM_ORIGIN);
	assert_int_equal(r->minor, 1);
	assert_int_equal(r->nheaders, 4);
	assert_str_eq(r->headers[1].name, "X-Empty");
	assert_str_eq(r->headers[1].value, "");
	assert_str_eq(r->headers[2].value, "a b");
	assert_str_eq(r->host, "ex.org:81");
	assert_true(r->flags & H1_F_LENGTH);
	assert_false(r->flags & H1_F_CHUNKED);
	assert_int_equal(r->content_length, 42);
	assert_non_null(h1_header_find(r, "x-pad", 5));
	assert_null(h1_header_find(r, "x-pa", 4));
	assert_int_equal(h1_absolute_ok(r, (const char *const[]){ NULL }), 1);

	r = parse_ok("PATCH / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	assert_true(r->flags & H1_F_CHUNKED);
	assert_true(r->flags & H1_F_CONTINUE);
	assert_false(r->flags & H1_F_LENGTH);

	r = parse_ok("GET / HTTP/1.1\r\nHost: a\r\nauthorization: x\r\n\r\n");
	assert_true(r->flags & H1_F_AUTH);
	assert_str_eq(h1_header_find(r, "Authorization", 13)->value, "x");

	r = parse_ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
	assert_false(r->flags & H1_F_AUTH);
	assert_false(r->flags & H1_F_CONTINUE);
	assert_int_equal(r->minor, 0);
	assert_str_eq(r->host, "");
	assert_string_equal(h1_method_str(H1_M_COUNT), "UNKNOWN");
}

static void
test_forms(void **state)
{
	static const char *const hosts[] = { "api.example.com", "[::1]",
	    NULL };
	const struct h1_req *r;

	(void)state;
	r = parse_ok("GET hTTp://API.example.com:8080/p/q?z HTTP/1.1\r\n"
	    "Host: other\r\n\r\n");
	assert_int_equal(r->form, H1_FORM_ABSOLUTE);
	assert_str_eq(r->scheme, "hTTp");
	assert_str_eq(r->authority, "API.example.com:8080");
	assert_str_eq(r->host, "API.example.com:8080");
	assert_str_eq(r->path, "/p/q");
	assert_str_eq(r->query, "z");
	assert_int_equal(h1_absolute_ok(r, hosts), 1);

	r = parse_ok("GET https://[::1]:443?a HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_str_eq(r->scheme, "https");
	assert_str_eq(r->path, "");
	assert_str_eq(r->query, "a");
	assert_int_equal(h1_absolute_ok(r, hosts), 1);

	r = parse_ok("GET http://evil.example.com/ HTTP/1.1\r\n"
	    "Host: x\r\n\r\n");
	assert_int_equal(h1_absolute_ok(r, hosts), 0);
	r = parse_ok("GET http://api.example.co/ HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(h1_absolute_ok(r, hosts), 0);

	r = parse_ok("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(r->form, H1_FORM_ASTERISK);
	assert_str_eq(r->path, "*");

	r = parse_ok("CONNECT db:3306 HTTP/1.1\r\nHost: db:3306\r\n\r\n");
	assert_int_equal(r->form, H1_FORM_AUTHORITY);
	assert_int_equal(r->method, H1_M_CONNECT);
	assert_str_eq(r->authority, "db:3306");
	assert_str_eq(r->path, "");
}

static void
test_keepalive(void **state)
{
	static const struct {
		const char	*in;
		int		 keep;
	} t[] = {
		{ RL H "\r\n", 1 },
		{ RL H "Connection: close\r\n\r\n", 0 },
		{ RL H "Connection: Keep-Alive, CLOSE\r\n\r\n", 0 },
		{ RL H "Connection: closed\r\n\r\n", 1 },
		{ RL H "Connection: keep-alive\r\nConnection: close\r\n\r\n",
		    0 },
		{ RL H "Connection: upgrade , \tclose\t\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: foo,KEEP-ALIVE\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
		    0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive-x\r\n\r\n", 0 },
	};
	const struct h1_req	*r;
	size_t			 i;

	(void)state;
	for (i = 0; i < NITEMS(t); i++) {
		r = parse_ok(t[i].in);
		assert_int_equal(!!(r->flags & H1_F_KEEPALIVE), t[i].keep);
	}
}

static void
test_pipelined(void **state)
{
	static const char	 in[] = RL H "\r\n" "GET /2 HTTP/1.0\r\n\r\n"
	    "POST /3 HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n";
	static struct h1_req	 req;
	const char		*p = at_guard(in, sizeof(in) - 1);
	size_t			 len = sizeof(in) - 1, off = 0;
	ssize_t			 n;
	int			 st, i;
	static const char *const paths[] = { "/", "/2", "/3" };

	(void)state;
	h1_req_init(&req);
	for (i = 0; i < 3; i++) {
		n = h1_parse_head(p + off, len - off, &lim_std, &req, &st);
		assert_true(n > 0);
		assert_str_eq(req.path, paths[i]);
		off += n;
	}
	assert_int_equal(off, len);
	assert_int_equal(sizeof(RL H "\r\n") - 1,
	    h1_parse_head(p, len, &lim_std, &req, &st));
}

/* Fills <dst> with <n> copies of <c>; returns the end. */
static char *
fill(char *dst, int c, size_t n)
{
	memset(dst, c, n);
	return dst + n;
}

static char *
put(char *dst, const char *s)
{
	size_t n = strlen(s);

	memcpy(dst, s, n);
	return dst + n;
}

/* Target, field and count limits are exact, and fire early. */
static void
test_limits(void **state)
{
	static char	 b[4096];
	char		*e;

	(void)state;
	e = fill(put(b, "GET /"), 'a', 63);
	check_head(b, e - b, &lim_std, H1_AGAIN, 0);
	e = put(e, " HTTP/1.1\r\nHost: a\r\n\r\n");
	check_head(b, e - b, &lim_std, 0, 0);
	e = fill(put(b, "GET /"), 'a', 64);
	check_head(b, e - b, &lim_std, H1_BAD, 414);	/* no SP yet */

	e = fill(put(b, RL H "X: "), 'v', 125);
	check_head(b, e - b, &lim_std, H1_AGAIN, 0);
	e = put(e, "\r\n\r\n");
	check_head(b, e - b, &lim_std, 0, 0);
	e = fill(put(b, RL H "X: "), 'v', 126);
	check_head(b, e - b, &lim_std, H1_BAD, 431);
	e = fill(put(b, RL H "X: "), ' ', 126);
	check_head(b, e - b, &lim_std, H1_BAD, 431);
	e = fill(put(b, RL H), 'N', 129);
	check_head(b, e - b, &lim_std, H1_BAD, 431);

	e = put(b, RL H "1: \r\n2: \r\n3: \r\n4: \r\n5: \r\n6: \r\n7: \r\n"
	    "\r\n");
	check_head(b, e - b, &lim_std, 0, 0);
	e = put(b, RL H "1: \r\n2: \r\n3: \r\n4: \r\n5: \r\n6: \r\n7: \r\n8");
	check_head(b, e - b, &lim_std, H1_BAD, 431);
}

/* The head limit counts everything, leading CRLFs included. */
static void
test_head_limit(void **state)
{
	static const struct h1_limits lim = {
		.lim_target = 1024,
		.lim_field = 1024,
		.lim_head = 1024,
		.lim_headers = H1_MAX_HEADERS + 50,
	};
	static char	 b[4096];
	char		*e;
	size_t		 fixed = sizeof("\r\n" RL H "X: \r\n\r\n") - 1;

	(void)state;
	e = fill(put(b, "\r\n" RL H "X: "), 'v', 1024 - fixed);
	e = put(e, "\r\n\r\n");
	assert_int_equal(e - b, 1024);
	check_head(b, e - b, &lim, 0, 0);
	e = fill(put(b, "\r\n" RL H "X: "), 'v', 1024 - fixed + 1);
	e = put(e, "\r\n\r\n");
	check_head(b, e - b, &lim, H1_BAD, 431);

	/* the compile-time cap wins over a larger lim_headers */
	e = put(b, RL);
	while (e - b < 900)
		e = put(e, "h:\r\n");
	e = put(e, "\r\n");
	check_head(b, e - b, &lim, H1_BAD, 431);
}

/* Resuming at one address, and restarting when the bytes moved. */
static void
test_resume(void **state)
{
	static const char	 in[] = RL H "X-A: 1\r\nX-B: 2\r\n\r\n";
	static char		 other[sizeof(in)];
	static struct h1_req	 req;
	size_t			 len = sizeof(in) - 1;
	int			 st;

	(void)state;
	h1_req_init(&req);
	assert_int_equal(h1_parse_head(in, len - 5, &lim_std, &req, &st),
	    H1_AGAIN);
	assert_int_equal(req.nheaders, 2);
	memcpy(other, in, sizeof(in));
	assert_int_equal(h1_parse_head(other, len, &lim_std, &req, &st),
	    (ssize_t)len);
	assert_int_equal(req.nheaders, 3);
	assert_ptr_equal(req.headers[0].name.p, other + sizeof(RL) - 1);
	assert_int_equal(h1_parse_head(in, len - 5, &lim_std, &req, &st),
	    H1_AGAIN);
	assert_int_equal(h1_parse_head(in, len, &lim_std, &req, &st),
	    (ssize_t)len);
	assert_ptr_equal(req.headers[0].name.p, in + sizeof(RL) - 1);
	assert_int_equal(req.nheaders, 3);
}

/* A chunked body and what decoding it must give. */
struct ccase {
	const char	*in;
	size_t		 len;
	const char	*payload;
	size_t		 plen;
	int		 status;	/* 0 done, H1_AGAIN short, or 4xx */
	size_t		 left;		/* bytes after the body */
};

#define COK(s, pl)	{ s, sizeof(s) - 1, pl, sizeof(pl) - 1, 0, 0 }
#define CREST(s, pl, n)	{ s, sizeof(s) - 1, pl, sizeof(pl) - 1, 0, n }
#define CSHORT(s, pl)	{ s, sizeof(s) - 1, pl, sizeof(pl) - 1, H1_AGAIN, 0 }
#define CBAD(st, s)	{ s, sizeof(s) - 1, NULL, 0, st, 0 }

static const struct ccase chunks[] = {
	COK("5\r\nhello\r\n0\r\n\r\n", "hello"),
	COK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
	COK("A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
	COK("a\r\n0123456789\r\n1\r\n\0\r\n0\r\n\r\n", "0123456789\0"),
	COK("000005\r\nhello\r\n0000\r\n\r\n", "hello"),
	COK("0\r\n\r\n", ""),
	COK("5;a=b\r\nhello\r\n0;x\r\n\r\n", "hello"),
	COK("5 ;a\t=\t\"q\\\"x;\" ; b ;c=d\r\nhello\r\n0\r\n\r\n", "hello"),
	COK("5;a=\"\x80\t\\\x80\"\r\nhello\r\n0\r\n\r\n", "hello"),
	COK("0\r\nX-T: v\r\nY:\r\nZ: \x80 a\t\r\n\r\n", ""),
	CREST("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abc", 16),
	CSHORT("5\r\nhel", "hel"),
	CSHORT("5\r\nhello\r\n0\r\nX: y\r\n", "hello"),
	CBAD(400, "\r\n"),
	CBAD(400, "+5\r\nhello\r\n0\r\n\r\n"),
	CBAD(400, "-5\r\n"),
	CBAD(400, " 5\r\n"),
	CBAD(400, "0x5\r\n"),
	CBAD(400, "5 \r\nhello\r\n0\r\n\r\n"),
	CBAD(400, "5\nhello\r\n0\r\n\r\n"),
	CBAD(400, "5\rhello"),
	CBAD(400, "5\r\nhelloX\r\n0\r\n\r\n"),
	CBAD(400, "5\r\nhello\n0\r\n\r\n"),
	CBAD(400, "5\r\nhello\r\r"),
	CBAD(400, "5\r\nhello\n\n0\r\n\r\n"),
	CBAD(400, "5\r\nhelloX\n0\r\n\r\n"),
	CBAD(400, "5\0\r\nhello\r\n0\r\n\r\n"),
	CBAD(400, "5;a\0\r\n"),
	CBAD(400, "5\0;a\r\nhello\r\n0\r\n\r\n"),
	CBAD(400, "5;a=b\0\r\n"),
	CBAD(400, "5;a=\"\0\"\r\n"),
	CBAD(400, "5\r\nhello\r\n\r\n"),
	CBAD(400, "g\r\n"),
	CBAD(400, "5;\r\nhello\r\n0\r\n\r\n"),
	CBAD(400, "5;a=\r\n"),
	CBAD(400, "5;a=\"x\r\n"),
	CBAD(400, "5;a b\r\n"),
	CBAD(400, "5;@\r\n"),
	CBAD(400, "5;a=b c\r\n"),
	CBAD(400, "5;a=\"x\"y\r\n"),
	CBAD(400, "5;a=\"\\\x01\"\r\n"),
	CBAD(400, "5;a=\"\x7f\"\r\n"),
	CBAD(400, "5;;a\r\n"),
	CBAD(400, "5 =a\r\n"),
	CBAD(400, "0\r\nX: a\r\n b\r\n\r\n"),
	CBAD(400, "0\r\n X: a\r\n\r\n"),
	CBAD(400, "0\r\nX a\r\n\r\n"),
	CBAD(400, "0\r\n: a\r\n\r\n"),
	CBAD(400, "0\r\nX: \x01\r\n\r\n"),
	CBAD(400, "0\r\nX: a\n\r\n"),
	CBAD(400, "0\r\n\r\r"),
	CBAD(400, "0\r\n\n"),
	CBAD(413, "401\r\n"),
	CBAD(413, "ffffffffffffffff\r\n"),
	CBAD(413, "200\r\n"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	    "\r\n201\r\n"),
	CBAD(431, "0\r\nX: 0123456789012345678901234567890123456789"
	    "0123456789012345678\r\n\r\n"),
};

#define CH_MAX_BODY	1024
#define CH_MAX_TRAILER	64

/*
 * Decodes <in> arriving in pieces: first <first> bytes, then <step> bytes
 * at a time, each call's input copied to end at the guard page. Returns
 * the status as in struct ccase, the payload in <out> and the bytes left
 * after the body in <left>.
 */
static int
decode(const char *in, size_t len, size_t first, size_t step,
    struct h1_chunk *ch, char *out, size_t *outlen, size_t *left)
{
	size_t		 avail = first < len ? first : len, off = 0;
	struct str	 d;
	const char	*p;
	ssize_t		 n;

	*outlen = 0;
	for (;;) {
		if (off == avail && !h1_chunk_done(ch)) {
			if (avail == len)
				break;
			avail = avail + step < len ? avail + step : len;
		}
		p = at_guard(in + off, avail - off);
		n = h1_chunk_decode(ch, p, avail - off, &d);
		if (n == H1_BAD)
			return ch->ch_status;
		assert_true(n >= 0 && (size_t)n <= avail - off);
		assert_true(d.len == 0 ||
		    (d.p >= p && d.p + d.len <= p + n));
		memcpy(out + *outlen, d.p, d.len);
		*outlen += d.len;
		off += n;
		if (h1_chunk_done(ch))
			break;
	}
	*left = len - off;
	return h1_chunk_done(ch) ? 0 : H1_AGAIN;
}

static void
check_chunked(const struct ccase *c, size_t first, size_t step)
{
	static char		out[4096];
	struct h1_chunk		ch;
	size_t			outlen, left;
	int			st;

	h1_chunk_init(&ch, CH_MAX_BODY, CH_MAX_TRAILER);
	st = decode(c->in, c->len, first, step, &ch, out, &outlen, &left);
	assert_int_equal(st, c->status);
	if (st > 0) {
		assert_int_equal(h1_chunk_decode(&ch, "0\r\n\r\n", 5,
		    &(struct str){ NULL, 0 }), H1_BAD);
		return;
	}
	assert_int_equal(outlen, c->plen);
	assert_memory_equal(out, c->payload, outlen);
	if (st == 0) {
		assert_int_equal(left, c->left);
		assert_int_equal(h1_chunk_decode(&ch, "x", 1,
		    &(struct str){ NULL, 0 }), 0);
	}
}

static void
test_chunked(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < NITEMS(chunks); i++) {
		check_chunked(&chunks[i], chunks[i].len, 1);
		check_chunked(&chunks[i], 1, 1);
		for (k = 0; k <= chunks[i].len; k++)
			check_chunked(&chunks[i], k, chunks[i].len);
	}
}

/* Size-line, trailer and body limits are exact. */
static void
test_chunked_limits(void **state)
{
	static char	 b[4096], out[4096];
	struct h1_chunk	 ch;
	size_t		 outlen, left;
	char		*e;

	(void)state;
	e = fill(put(b, "1;a="), 'x', H1_CHUNK_LINE_MAX - 4);
	e = put(e, "\r\nz\r\n0\r\n\r\n");
	h1_chunk_init(&ch, 1, 2);
	assert_int_equal(decode(b, e - b, 1, 1, &ch, out, &outlen, &left), 0);
	assert_int_equal(outlen, 1);
	assert_int_equal(out[0], 'z');
	h1_chunk_init(&ch, 1, 1);
	assert_int_equal(decode(b, e - b, e - b, 1, &ch, out, &outlen, &left),
	    431);
	e = fill(put(b, "1;a="), 'x', H1_CHUNK_LINE_MAX - 3);
	h1_chunk_init(&ch, 1, 2);
	assert_int_equal(decode(b, e - b, e - b, 1, &ch, out, &outlen, &left),
	    400);

	e = put(b, "400\r\n");
	e = fill(e, 'b', 1024);
	e = put(e, "\r\n0\r\nX: 12345678\r\n\r\n");
	h1_chunk_init(&ch, 1024, 15);
	assert_int_equal(decode(b, e - b, 7, 5, &ch, out, &outlen, &left), 0);
	assert_int_equal(outlen, 1024);
	h1_chunk_init(&ch, 1023, 15);
	assert_int_equal(decode(b, e - b, 7, 5, &ch, out, &outlen, &left), 413);
	h1_chunk_init(&ch, 1024, 14);
	assert_int_equal(decode(b, e - b, 7, 5, &ch, out, &outlen, &left), 431);
	h1_chunk_init(&ch, UINT64_MAX, 16);
	e = put(b, "ffffffffffffffff\r\n");
	assert_int_equal(decode(b, e - b, 7, 5, &ch, out, &outlen, &left),
	    H1_AGAIN);
	h1_chunk_init(&ch, UINT64_MAX, 16);
	e = put(b, "10000000000000000\r\n");
	assert_int_equal(decode(b, e - b, 7, 5, &ch, out, &outlen, &left),
	    400);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_extended),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_head_limit),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_limits),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
