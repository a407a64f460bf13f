/*
 * Unit tests for shared/app.c: route matching, query parsing, and the
 * whole request path through app_worker_loop, spoken to in raw FastCGI
 * over a unix socket.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "app.h"
#include "buf.h"
#include "log.h"
#include "pool.h"
#include "util.h"

/* --- route matching --------------------------------------------------- */

static void
h_nop(struct app_req *r)
{
	(void)r;
}

static const struct app_route mroutes[] = {
	{ "GET", "/course/{courseId}", h_nop, APP_BODY_ANY },	/* 0 */
	{ "GET", "/course/enrollment/{userId}", h_nop, APP_BODY_ANY }, /* 1 */
	{ "GET", "/course/enrollment/{courseId}/{userId}", h_nop,
	    APP_BODY_ANY },					/* 2 */
	{ "GET", "/course/enrollment", h_nop, APP_BODY_ANY },	/* 3 */
	{ "DELETE", "/course/{courseId}", h_nop, APP_BODY_ANY }, /* 4 */
	{ "GET", "/course", h_nop, APP_BODY_ANY },		/* 5 */
	{ "POST", "/course", h_nop, APP_BODY_JSON },		/* 6 */
	{ "PUT", "/t/{x}", h_nop, APP_BODY_ANY },		/* 7 */
	{ "PUT", "/{y}/u", h_nop, APP_BODY_ANY },		/* 8 */
	{ "HEAD", "/h", h_nop, APP_BODY_ANY },			/* 9 */
	{ "GET", "/h", h_nop, APP_BODY_ANY },			/* 10 */
	{ "GET", "/", h_nop, APP_BODY_ANY },			/* 11 */
	{ "POST", "/course/update", h_nop, APP_BODY_JSON },	/* 12 */
};
static const struct app mapp = { mroutes, NITEMS(mroutes), 0, NULL };

/* Matches and returns the route index, or -1; captures go to <req>. */
static int
midx(const char *method, const char *path, struct app_req *req,
    int *known, char *allow, size_t allowlen)
{
	const struct app_route *rt;
	int k = -1;

	rt = app_match(&mapp, method, path, req, &k, allow, allowlen);
	assert_true(k == 0 || k == 1);
	if (known != NULL)
		*known = k;
	return rt == NULL ? -1 : (int)(rt - mroutes);
}

static void
test_match_literal_beats_capture(void **state)
{
	struct app_req req;

	(void)state;
	memset(&req, 0, sizeof(req));
	/* Capture route comes first in the table; literal still wins. */
	assert_int_equal(midx("GET", "/course/enrollment/u1", &req, NULL,
	    NULL, 0), 1);
	assert_int_equal(req.r_ncaps, 1);
	assert_string_equal(app_cap(&req, "userId"), "u1");
	assert_null(app_cap(&req, "courseId"));
	assert_int_equal(midx("GET", "/course/enrollment", &req, NULL, NULL,
	    0), 3);
	assert_int_equal(req.r_ncaps, 0);
	assert_int_equal(midx("GET", "/course/42", &req, NULL, NULL, 0), 0);
	assert_string_equal(app_cap(&req, "courseId"), "42");
	assert_int_equal(midx("GET", "/course/enrollment/c1/u2", &req, NULL,
	    NULL, 0), 2);
	assert_string_equal(app_cap(&req, "courseId"), "c1");
	assert_string_equal(app_cap(&req, "userId"), "u2");
	/* Method first: DELETE has only the capture route. */
	assert_int_equal(midx("DELETE", "/course/42", &req, NULL, NULL, 0),
	    4);
	assert_string_equal(app_cap(&req, "courseId"), "42");
	/* Equal literal counts: table order. */
	assert_int_equal(midx("PUT", "/t/u", &req, NULL, NULL, 0), 7);
	assert_string_equal(app_cap(&req, "x"), "u");
	assert_int_equal(midx("GET", "/", &req, NULL, NULL, 0), 11);
	app_req_release(&req);
}

static void
test_match_404_405(void **state)
{
	char allow[64];
	int known;

	(void)state;
	strcpy(allow, "junk");
	assert_int_equal(midx("GET", "/nothing", NULL, &known, allow,
	    sizeof(allow)), -1);
	assert_int_equal(known, 0);
	assert_string_equal(allow, "");
	assert_int_equal(midx("PATCH", "/course/42", NULL, &known, allow,
	    sizeof(allow)), -1);
	assert_int_equal(known, 1);
	assert_string_equal(allow, "GET, DELETE, HEAD");
	assert_int_equal(midx("PUT", "/course", NULL, &known, allow,
	    sizeof(allow)), -1);
	assert_int_equal(known, 1);
	assert_string_equal(allow, "GET, POST, HEAD");
	/* A HEAD route in the table is listed once, where it stands. */
	assert_int_equal(midx("POST", "/h", NULL, &known, allow,
	    sizeof(allow)), -1);
	assert_string_equal(allow, "HEAD, GET");
	/* Truncated, still terminated. */
	assert_int_equal(midx("PATCH", "/course/42", NULL, &known, allow, 5),
	    -1);
	assert_string_equal(allow, "GET,");
	/* Method-aware: a literal route of another method owns the path,
	 * however its capture routes would match (docs/contract/api.md
	 * 4.1.8). */
	assert_int_equal(midx("GET", "/course/update", NULL, &known, allow,
	    sizeof(allow)), -1);
	assert_int_equal(known, 1);
	assert_string_equal(allow, "POST");
	assert_int_equal(midx("DELETE", "/course/enrollment", NULL, &known,
	    allow, sizeof(allow)), -1);
	assert_string_equal(allow, "GET, HEAD");
	assert_int_equal(midx("HEAD", "/course/update", NULL, &known, NULL,
	    0), -1);
	assert_int_equal(midx("POST", "/course/update", NULL, &known, NULL,
	    0), 12);
	/* A capture never matches an empty segment. */
	assert_int_equal(midx("GET", "/course//x", NULL, &known, NULL, 0),
	    -1);
	assert_int_equal(known, 0);
}

static void
test_match_head(void **state)
{
	(void)state;
	assert_int_equal(midx("HEAD", "/course/1", NULL, NULL, NULL, 0), 0);
	assert_int_equal(midx("HEAD", "/h", NULL, NULL, NULL, 0), 9);
	assert_int_equal(midx("HEAD", "/t/x", NULL, NULL, NULL, 0), -1);
}

static void
test_match_captures_decoded(void **state)
{
	struct app_req req;
	int known;

	(void)state;
	memset(&req, 0, sizeof(req));
	assert_int_equal(midx("GET", "/course/a%20b%2Fc", &req, NULL, NULL,
	    0), 0);
	assert_string_equal(app_cap(&req, "courseId"), "a b/c");
	/* '+' is literal in a path. */
	assert_int_equal(midx("GET", "/course/a+b", &req, NULL, NULL, 0), 0);
	assert_string_equal(app_cap(&req, "courseId"), "a+b");
	app_req_release(&req);
	assert_int_equal(req.r_ncaps, 0);
	/* Malformed escapes and %00 do not match at all. */
	assert_int_equal(midx("GET", "/course/%zz", &req, &known, NULL, 0),
	    -1);
	assert_int_equal(known, 0);
	assert_int_equal(midx("GET", "/course/%4", &req, NULL, NULL, 0), -1);
	assert_int_equal(midx("GET", "/course/a%00", &req, NULL, NULL, 0),
	    -1);
	assert_int_equal(req.r_ncaps, 0);
	/* Literals are compared raw, not decoded. */
	assert_int_equal(midx("GET", "/cours%65", &req, &known, NULL, 0), -1);
	app_req_release(&req);
}

static void
test_match_trailing_slash(void **state)
{
	struct app_req req;

	(void)state;
	memset(&req, 0, sizeof(req));
	/* One trailing slash is ignored ... */
	assert_int_equal(midx("GET", "/course/", &req, NULL, NULL, 0), 5);
	assert_int_equal(midx("GET", "/course/42/", &req, NULL, NULL, 0), 0);
	assert_string_equal(app_cap(&req, "courseId"), "42");
	/* ... but not two, and the path must be absolute. */
	assert_int_equal(midx("GET", "/course//", &req, NULL, NULL, 0), -1);
	assert_int_equal(midx("GET", "course", &req, NULL, NULL, 0), -1);
	assert_int_equal(midx("GET", "", &req, NULL, NULL, 0), -1);
	app_req_release(&req);
}

static void
test_match_limits(void **state)
{
	static const struct app_route lr[] = {
		{ "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
		    h_nop, APP_BODY_ANY },
		{ "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}",
		    h_nop, APP_BODY_ANY },
		{ "GET", "/x/{abcdefghijklmnopqrstuvwxyz012345}",
		    h_nop, APP_BODY_ANY },
		{ "GET", "/y/{abcdefghijklmnopqrstuvwxyz01234}",
		    h_nop, APP_BODY_ANY },
	};
	static const struct app la = { lr, NITEMS(lr), 0, NULL };
	struct app_req req;
	int known;

	(void)state;
	memset(&req, 0, sizeof(req));
	/* Nine captures: over APP_MAX_CAPS, never matches. */
	assert_null(app_match(&la, "GET", "/1/2/3/4/5/6/7/8/9", &req, &known,
	    NULL, 0));
	assert_int_equal(known, 0);
	assert_ptr_equal(app_match(&la, "GET", "/1/2/3/4/5/6/7/8", &req,
	    &known, NULL, 0), &lr[1]);
	assert_int_equal(req.r_ncaps, 8);
	assert_string_equal(app_cap(&req, "h"), "8");
	/* Capture names: 31 bytes fit, 32 do not. */
	assert_null(app_match(&la, "GET", "/x/1", &req, &known, NULL, 0));
	assert_ptr_equal(app_match(&la, "GET", "/y/1", &req, &known, NULL, 0),
	    &lr[3]);
	assert_string_equal(app_cap(&req, "abcdefghijklmnopqrstuvwxyz01234"),
	    "1");
	app_req_release(&req);
}

/* --- query parsing ---------------------------------------------------- */

static void
test_query_get(void **state)
{
	char v[8];

	(void)state;
	assert_int_equal(app_query_get("a=1&b=2", "c", v, sizeof(v)), 0);
	assert_int_equal(app_query_get("", "a", v, sizeof(v)), 0);
	assert_int_equal(app_query_get(NULL, "a", v, sizeof(v)), 0);
	assert_int_equal(app_query_get("a=1&b=2", "b", v, sizeof(v)), 1);
	assert_string_equal(v, "2");
	assert_int_equal(app_query_get("a=&b", "a", v, sizeof(v)), 1);
	assert_string_equal(v, "");
	assert_int_equal(app_query_get("a=&b", "b", v, sizeof(v)), 1);
	assert_string_equal(v, "");
	assert_int_equal(app_query_get("q=a%20b%2B+c", "q", v, sizeof(v)), 1);
	assert_string_equal(v, "a b+ c");
	assert_int_equal(app_query_get("my%20k=v", "my k", v, sizeof(v)), 1);
	assert_string_equal(v, "v");
	assert_int_equal(app_query_get("qq=1&q=2", "q", v, sizeof(v)), 1);
	assert_string_equal(v, "2");
	assert_int_equal(app_query_get("q=1&q=2", "q", v, sizeof(v)), 1);
	assert_string_equal(v, "1");
	/* A bad pair elsewhere does not matter. */
	assert_int_equal(app_query_get("x=%zz&%zz=1&q=3", "q", v, sizeof(v)),
	    1);
	assert_string_equal(v, "3");
	assert_int_equal(app_query_get("q=%zz", "q", v, sizeof(v)), -1);
	assert_int_equal(app_query_get("q=%4", "q", v, sizeof(v)), -1);
	assert_int_equal(app_query_get("q=a%00", "q", v, sizeof(v)), -1);
	/* Fits exactly with its NUL, then one too many. */
	assert_int_equal(app_query_get("q=abcdefg", "q", v, sizeof(v)), 1);
	assert_string_equal(v, "abcdefg");
	assert_int_equal(app_query_get("q=abcdefgh", "q", v, sizeof(v)), -1);
	assert_int_equal(app_query_get("q=%41%41%41%41%41%41%41", "q", v,
	    sizeof(v)), 1);
	assert_string_equal(v, "AAAAAAA");
}

static int
qint(const char *query, long long *out)
{
	struct app_req req;

	memset(&req, 0, sizeof(req));
	req.r_query = query;
	return app_query_int(&req, "n", 17, out);
}

static void
test_query_int(void **state)
{
	static const char *const bad[] = {
		"n=", "n", "n=+5", "n=%205", "n=5%20", "n=5x", "n=-", "n=1.5",
		"n=0x10", "n=--1", "n=9223372036854775808",
		"n=-9223372036854775809", "n=99999999999999999999999",
		"n=000000000000000000000000000000000000001", "n=%zz",
	};
	long long v;
	size_t i;

	(void)state;
	assert_int_equal(qint("a=1", &v), 0);
	assert_int_equal(v, 17);
	assert_int_equal(qint("n=42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(qint("n=-7", &v), 0);
	assert_int_equal(v, -7);
	assert_int_equal(qint("n=007", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(qint("n=9223372036854775807", &v), 0);
	assert_true(v == LLONG_MAX);
	assert_int_equal(qint("n=-9223372036854775808", &v), 0);
	assert_true(v == LLONG_MIN);
	for (i = 0; i < NITEMS(bad); i++) {
		v = 5;
		if (qint(bad[i], &v) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(v, 5);
	}
}

/* --- end to end: a worker spoken to in raw FastCGI --------------------- */

#define FC_BEGIN	1
#define FC_END		3
#define FC_PARAMS	4
#define FC_STDIN	5
#define FC_STDOUT	6
#define FC_STDERR	7

static void
h_hello(struct app_req *r)
{
	app_ok(r, 200, json_pack("{s:s}", "msg", "hi"));
}

static void
h_echo(struct app_req *r)
{
	json_t *j = app_json_body(r);

	if (j != NULL)
		app_ok(r, 200, j);
}

static void
h_item(struct app_req *r)
{
	long long n;

	if (app_query_int(r, "n", 1, &n) == -1) {
		app_fail(r, 400, "n must be an integer");
		return;
	}
	app_ok(r, 200, json_pack("{s:s, s:I}", "id", app_cap(r, "id"), "n",
	    (json_int_t)n));
}

static void
h_double(struct app_req *r)
{
	app_ok(r, 200, NULL);
	app_fail(r, 500, "second answer");
}

static void
h_slow(struct app_req *r)
{
	struct timespec ts = { 0, 300 * 1000 * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
	app_ok(r, 200, NULL);
}

static void
h_hdr(struct app_req *r)
{
	app_header(r, "X-Test", "yes");
	app_header(r, "X-Bad", "a\r\nInjected: 1");
	app_header(r, "X\nBad", "a");
	app_header(r, "Content-Length", "5");
	app_send_raw(r, 201, "text/plain", "made", 4);
	app_header(r, "X-Late", "1");
}

static const struct app_route eroutes[] = {
	{ "GET", "/hello", h_hello, APP_BODY_ANY },
	{ "POST", "/echo", h_echo, APP_BODY_ANY },
	{ "GET", "/items/{id}", h_item, APP_BODY_ANY },
	{ "GET", "/noresp", h_nop, APP_BODY_ANY },
	{ "GET", "/double", h_double, APP_BODY_ANY },
	{ "GET", "/slow", h_slow, APP_BODY_ANY },
	{ "GET", "/hdr", h_hdr, APP_BODY_ANY },
	{ "POST", "/json", h_echo, APP_BODY_JSON },
	{ "POST", "/mp", h_hello, APP_BODY_MULTIPART },
};
static const struct app eapp = { eroutes, NITEMS(eroutes), 64, NULL };

struct srv {
	char	 dir[64];
	char	 sock[128];
	pid_t	 pid;
};

struct resp {
	int	 status;
	char	*raw;		/* all FCGI_STDOUT bytes, NUL-terminated */
	size_t	 rawlen;
	char	*body;		/* into raw */
	size_t	 blen;
	json_t	*json;		/* body parsed, or NULL */
};

/* Forks a worker serving eapp on a fresh socket in a temp dir. */
static void
srv_start(struct srv *s)
{
	int fd;

	strcpy(s->dir, "/tmp/test_app.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->sock, sizeof(s->sock), "unix:%s/s", s->dir);
	fd = pool_listen(s->sock, 16, 0600);
	assert_true(fd >= 0);
	s->pid = fork();
	assert_true(s->pid != -1);
	if (s->pid == 0)
		_exit(app_worker_loop(&eapp, fd));
	close(fd);
}

/* Waits up to <ms> for the worker to exit; returns its status or -1. */
static int
srv_wait(struct srv *s, int ms)
{
	int st, i;

	for (i = 0; i < ms; i += 10) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return st;
		}
		usleep(10 * 1000);
	}
	return -1;
}

static void
srv_stop(struct srv *s)
{
	char path[160];

	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	snprintf(path, sizeof(path), "%s/s", s->dir);
	unlink(path);
	rmdir(s->dir);
}

static int
srv_connect(const struct srv *s)
{
	struct sockaddr_un sun;
	struct timeval tv = { 3, 0 };
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->sock + 5);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	/* A broken server fails the test instead of hanging it. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
fc_rec(struct buf *b, int type, const void *p, size_t len)
{
	unsigned char h[8] = { 1, (unsigned char)type, 0, 1,
	    (unsigned char)(len >> 8), (unsigned char)len, 0, 0 };

	buf_append(b, h, sizeof(h));
	if (len > 0)
		buf_append(b, p, len);
}

static void
fc_len(struct buf *b, size_t n)
{
	unsigned char l[4] = { (unsigned char)(n >> 24 | 0x80),
	    (unsigned char)(n >> 16), (unsigned char)(n >> 8),
	    (unsigned char)n };

	if (n < 128)
		buf_append(b, &l[3], 1);
	else
		buf_append(b, l, 4);
}

/*
 * Sends one request: BEGIN_REQUEST with keep-conn, the NULL-terminated
 * name/value list <params>, and <in> as STDIN, all records at once.
 */
static void
fc_send(int fd, const char *const *params, const char *in, size_t inlen)
{
	static const unsigned char begin[8] = { 0, 1, 1, 0, 0, 0, 0, 0 };
	struct buf req = BUF_INIT, pv = BUF_INIT;
	size_t off, n;

	fc_rec(&req, FC_BEGIN, begin, sizeof(begin));
	for (; params[0] != NULL; params += 2) {
		fc_len(&pv, strlen(params[0]));
		fc_len(&pv, strlen(params[1]));
		buf_append_str(&pv, params[0]);
		buf_append_str(&pv, params[1]);
	}
	if (buf_avail(&pv) > 0)
		fc_rec(&req, FC_PARAMS, buf_data(&pv), buf_avail(&pv));
	fc_rec(&req, FC_PARAMS, NULL, 0);
	for (off = 0; off < inlen; off += n) {
		n = inlen - off > 65535 ? 65535 : inlen - off;
		fc_rec(&req, FC_STDIN, in + off, n);
	}
	fc_rec(&req, FC_STDIN, NULL, 0);
	assert_int_equal(write(fd, buf_data(&req), buf_avail(&req)),
	    (ssize_t)buf_avail(&req));
	buf_release(&req);
	buf_release(&pv);
}

static int
read_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		if ((r = read(fd, (char *)p + got, n - got)) <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Reads records up to END_REQUEST and splits the CGI response. */
static void
fc_recv(int fd, struct resp *r)
{
	unsigned char h[8], pad[256], content[65536];
	struct buf out = BUF_INIT;
	size_t clen;
	char *sep;

	memset(r, 0, sizeof(*r));
	for (;;) {
		assert_int_equal(read_full(fd, h, sizeof(h)), 0);
		assert_int_equal(h[0], 1);
		clen = (size_t)h[4] << 8 | h[5];
		assert_int_equal(read_full(fd, content, clen), 0);
		assert_int_equal(read_full(fd, pad, h[6]), 0);
		if (h[1] == FC_STDOUT)
			buf_append(&out, content, clen);
		else if (h[1] == FC_END)
			break;
		else
			assert_int_equal(h[1], FC_STDERR);
	}
	buf_append(&out, "", 1);
	r->raw = out.ptr;
	r->rawlen = out.len - 1;
	assert_int_equal(sscanf(r->raw, "Status: %d ", &r->status), 1);
	assert_non_null(sep = strstr(r->raw, "\r\n\r\n"));
	r->body = sep + 4;
	r->blen = r->rawlen - (size_t)(r->body - r->raw);
	r->json = json_loadb(r->body, r->blen, 0, NULL);
}

static void
resp_free(struct resp *r)
{
	json_decref(r->json);
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

/* Value of response header <name> (copied to <out>), or NULL. */
static const char *
resp_hdr(const struct resp *r, const char *name, char *out, size_t outlen)
{
	const char *p = r->raw, *eol;
	size_t n = strlen(name);

	while ((eol = strstr(p, "\r\n")) != NULL && eol != p) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			snprintf(out, outlen, "%.*s", (int)(eol - p - n - 2),
			    p + n + 2);
			return out;
		}
		p = eol + 2;
	}
	return NULL;
}

/* The envelope's errorBody.errorMessage, or "" when absent. */
static const char *
resp_msg(const struct resp *r)
{
	const char *s = json_string_value(json_object_get(
	    json_object_get(r->json, "errorBody"), "errorMessage"));

	return s != NULL ? s : "";
}

/* One request: <target> may carry "?query"; <body> NULL for none. */
static void
do_req(int fd, const char *method, const char *target, const char *body,
    struct resp *r)
{
	char path[4096], clen[32];
	const char *q = strchr(target, '?');
	const char *params[] = {
		"REQUEST_METHOD", method, "SCRIPT_NAME", path,
		"QUERY_STRING", q != NULL ? q + 1 : "", "REQUEST_ID", "rid-1",
		"CONTENT_LENGTH", clen, NULL, NULL,
	};

	snprintf(path, sizeof(path), "%.*s", (int)(q != NULL ?
	    (size_t)(q - target) : strlen(target)), target);
	snprintf(clen, sizeof(clen), "%zu", body != NULL ? strlen(body) : 0);
	if (body == NULL)
		params[8] = NULL;
	fc_send(fd, params, body, body != NULL ? strlen(body) : 0);
	fc_recv(fd, r);
}

/*
 * Sends POST <target> with Content-Type <ctype> (NULL: none) and <body>;
 * checks the status and the error message.
 */
static void
expect_ct(int fd, const char *target, const char *ctype, const char *body,
    int status, const char *msg)
{
	char clen[32];
	const char *params[] = {
		"REQUEST_METHOD", "POST", "SCRIPT_NAME", target,
		"REQUEST_ID", "rid-1", "CONTENT_LENGTH", clen,
		"CONTENT_TYPE", ctype, NULL, NULL,
	};
	struct resp r;

	snprintf(clen, sizeof(clen), "%zu", strlen(body));
	if (ctype == NULL)
		params[8] = NULL;
	fc_send(fd, params, body, strlen(body));
	fc_recv(fd, &r);
	if (r.status != status || strstr(resp_msg(&r), msg) == NULL)
		fail_msg("%s %s: got %d %s, want %d %s", target,
		    ctype != NULL ? ctype : "(none)", r.status, resp_msg(&r),
		    status, msg);
	resp_free(&r);
}

/* Sends a request and checks status and error message. */
static void
expect(int fd, const char *method, const char *target, const char *body,
    int status, const char *msg)
{
	struct resp r;

	do_req(fd, method, target, body, &r);
	if (r.status != status || strstr(resp_msg(&r), msg) == NULL)
		fail_msg("%s %s: got %d %s, want %d %s", method, target,
		    r.status, resp_msg(&r), status, msg);
	resp_free(&r);
}

static int
e2e_setup(void **state)
{
	struct srv *s = xcalloc(1, sizeof(*s));

	srv_start(s);
	*state = s;
	return 0;
}

static int
e2e_teardown(void **state)
{
	struct srv *s = *state;

	srv_stop(s);
	free(s);
	return 0;
}

static void
test_e2e_ok(void **state)
{
	struct resp r;
	char v[64];
	int fd = srv_connect(*state);

	do_req(fd, "GET", "/hello", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(strncmp(r.raw, "Status: 200 OK\r\n", 16) == 0);
	assert_string_equal(resp_hdr(&r, "Content-Type", v, sizeof(v)),
	    "application/json");
	assert_int_equal(atoi(resp_hdr(&r, "Content-Length", v, sizeof(v))),
	    (int)r.blen);
	assert_non_null(r.json);
	assert_string_equal(json_string_value(json_object_get(r.json,
	    "httpStatus")), "OK");
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(r.json, "responseBody"), "msg")), "hi");
	/* Compact: no space anywhere in this body. */
	assert_null(memchr(r.body, ' ', r.blen));
	resp_free(&r);
	close(fd);
	/* The worker left the closed connection and accepts again. */
	fd = srv_connect(*state);
	expect(fd, "GET", "/hello", NULL, 200, "");
	close(fd);
}

static void
test_e2e_keepalive(void **state)
{
	static const char in[] = "{\"b\":1,\"a\":[true,null],\"c\":\"x y\"}";
	struct resp r;
	char *s, *big, v[64];
	int fd = srv_connect(*state);

	do_req(fd, "POST", "/echo", in, &r);
	assert_int_equal(r.status, 200);
	s = json_dumps(json_object_get(r.json, "responseBody"),
	    JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(s, in);
	assert_non_null(strstr(r.body, in));
	free(s);
	resp_free(&r);
	/* A body nobody reads must not break the next request, also when
	 * it is larger than what libfcgi reads ahead. */
	expect(fd, "GET", "/nope", "{\"unread\":true}", 404, "No endpoint");
	big = xmalloc(100 * 1000 + 1);
	memset(big, ' ', 100 * 1000);
	big[100 * 1000] = '\0';
	expect(fd, "DELETE", "/hello", big, 405, "not allowed");
	expect(fd, "POST", "/echo", big, 413, "too large: 100000 bytes");
	free(big);
	do_req(fd, "GET", "/items/a%20b?x=1&n=-5", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(r.json, "responseBody"), "id")), "a b");
	assert_int_equal(json_integer_value(json_object_get(
	    json_object_get(r.json, "responseBody"), "n")), -5);
	resp_free(&r);
	do_req(fd, "HEAD", "/hello", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.blen, 0);
	assert_true(atoi(resp_hdr(&r, "Content-Length", v, sizeof(v))) > 0);
	resp_free(&r);
	expect(fd, "GET", "/hello/", NULL, 200, "");
	close(fd);
}

static void
test_e2e_errors(void **state)
{
	char big[101];
	int fd = srv_connect(*state);

	memset(big, 'x', 100);
	big[100] = '\0';
	expect(fd, "GET", "/nope", NULL, 404, "No endpoint GET /nope");
	expect(fd, "POST", "/echo", big, 413,
	    "Request body too large: 100 bytes, limit 64");
	expect(fd, "POST", "/echo", "{bad", 400, "line 1, column");
	expect(fd, "POST", "/echo", "[1]", 400,
	    "Request body must be a JSON object");
	expect(fd, "POST", "/echo", NULL, 400, "Request body is missing");
	expect(fd, "POST", "/echo", "", 400, "Request body is missing");
	expect(fd, "GET", "/noresp", NULL, 500, "Internal server error");
	expect(fd, "GET", "/items/x?n=abc", NULL, 400, "n must be an integer");
	expect(fd, "GET", "/items/%zz", NULL, 400, "Malformed request path");
	expect(fd, "GET", "/double", NULL, 200, "");
	expect(fd, "GET", "/hello", NULL, 200, "");
	close(fd);
}

static void
test_e2e_body_types(void **state)
{
	int fd = srv_connect(*state);

	expect_ct(fd, "/json", "application/json", "{}", 200, "");
	expect_ct(fd, "/json", "Application/JSON ; charset=UTF-8", "{}", 200,
	    "");
	expect_ct(fd, "/json", "application/json;charset=\"utf-8\"", "{}",
	    200, "");
	expect_ct(fd, "/json", "application/json; charset=utf-7", "{}", 415,
	    "read as UTF-8");
	expect_ct(fd, "/json", "application/json; charset=utf-16", "{}", 415,
	    "read as UTF-8");
	expect_ct(fd, "/json", "application/json; charset=\"utf-8", "{}", 415,
	    "read as UTF-8");
	expect_ct(fd, "/json", "application/json; boundary=x", "{}", 415,
	    "read as UTF-8");
	expect_ct(fd, "/json", "application/jsonx", "{}", 415,
	    "Content-Type application/jsonx is not supported");
	expect_ct(fd, "/json", "text/plain", "{}", 415,
	    "Content-Type text/plain is not supported: send the body as "
	    "application/json");
	expect_ct(fd, "/json", NULL, "{}", 415, "Content-Type is missing");
	expect_ct(fd, "/json", "", "{}", 415, "Content-Type is missing");
	/* No body, no type: the handler decides. */
	expect_ct(fd, "/json", NULL, "", 400, "Request body is missing");
	expect_ct(fd, "/mp", "multipart/form-data; boundary=abc", "x", 200,
	    "");
	expect_ct(fd, "/mp", "Multipart/Form-Data", "x", 400,
	    "has no boundary parameter");
	expect_ct(fd, "/mp", "multipart/form-data; boundary=", "x", 400,
	    "has no boundary parameter");
	expect_ct(fd, "/mp", "multipart/form-data; xboundary=a", "x", 400,
	    "has no boundary parameter");
	expect_ct(fd, "/mp", "text/plain", "x", 200, "");
	close(fd);
}

static void
test_e2e_405_and_headers(void **state)
{
	struct resp r;
	char v[64];
	int fd = srv_connect(*state);

	do_req(fd, "DELETE", "/hello", NULL, &r);
	assert_int_equal(r.status, 405);
	assert_true(strncmp(r.raw, "Status: 405 Method Not Allowed\r\n",
	    32) == 0);
	assert_string_equal(resp_hdr(&r, "Allow", v, sizeof(v)), "GET, HEAD");
	assert_string_equal(json_string_value(json_object_get(r.json,
	    "httpStatus")), "METHOD_NOT_ALLOWED");
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(r.json, "errorBody"), "errorCode")), "405");
	resp_free(&r);
	do_req(fd, "GET", "/hdr", NULL, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(resp_hdr(&r, "X-Test", v, sizeof(v)), "yes");
	assert_string_equal(resp_hdr(&r, "Content-Type", v, sizeof(v)),
	    "text/plain");
	assert_string_equal(resp_hdr(&r, "Content-Length", v, sizeof(v)),
	    "4");
	assert_null(resp_hdr(&r, "X-Bad", v, sizeof(v)));
	assert_null(resp_hdr(&r, "Injected", v, sizeof(v)));
	assert_null(resp_hdr(&r, "X-Late", v, sizeof(v)));
	assert_int_equal(r.blen, 4);
	assert_memory_equal(r.body, "made", 4);
	resp_free(&r);
	close(fd);
}

static void
test_e2e_params(void **state)
{
	static const char *const split[] = {
		"REQUEST_METHOD", "GET", "SCRIPT_NAME", "/items",
		"PATH_INFO", "/p%2Fq", NULL, NULL,
	};
	static const char *const shortin[] = {
		"REQUEST_METHOD", "POST", "SCRIPT_NAME", "/echo",
		"CONTENT_LENGTH", "10", NULL, NULL,
	};
	static const char *const badlen[] = {
		"REQUEST_METHOD", "POST", "SCRIPT_NAME", "/echo",
		"CONTENT_LENGTH", "1x", NULL, NULL,
	};
	char longpath[APP_MAX_PATH + 8];
	struct resp r;
	int fd = srv_connect(*state);

	fc_send(fd, split, NULL, 0);
	fc_recv(fd, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(r.json, "responseBody"), "id")), "p/q");
	resp_free(&r);
	fc_send(fd, shortin, "{}  ", 4);
	fc_recv(fd, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(resp_msg(&r), "incomplete: 4 of 10"));
	resp_free(&r);
	fc_send(fd, badlen, "{}", 2);
	fc_recv(fd, &r);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	longpath[0] = '/';
	memset(longpath + 1, 'a', APP_MAX_PATH);
	longpath[APP_MAX_PATH + 1] = '\0';
	expect(fd, "GET", longpath, NULL, 414, "Request path too long");
	longpath[APP_MAX_PATH] = '\0';
	expect(fd, "GET", longpath, NULL, 404, "No endpoint GET /aaa");
	close(fd);
}

/* A request in hand when SIGTERM comes is finished, then the worker
 * exits 0 and closes the kept connection. */
static void
test_e2e_term_busy(void **state)
{
	struct srv *s = *state;
	struct resp r;
	char c;
	int fd = srv_connect(s), st;

	do_req(fd, "GET", "/hello", NULL, &r);
	resp_free(&r);
	fc_send(fd, (const char *const[]){ "REQUEST_METHOD", "GET",
	    "SCRIPT_NAME", "/slow", NULL, NULL }, NULL, 0);
	usleep(100 * 1000);
	kill(s->pid, SIGTERM);
	fc_recv(fd, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	assert_int_equal(read(fd, &c, 1), 0);
	close(fd);
	st = srv_wait(s, 2000);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* Idle on a kept connection: SIGTERM ends the worker at once. */
static void
test_e2e_term_idle_conn(void **state)
{
	struct srv *s = *state;
	struct resp r;
	char c;
	int fd = srv_connect(s), st;

	do_req(fd, "GET", "/hello", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	usleep(50 * 1000);
	kill(s->pid, SIGTERM);
	assert_int_equal(read(fd, &c, 1), 0);
	close(fd);
	st = srv_wait(s, 1000);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* Idle in accept, after a connection came and went: SIGTERM ends the
 * worker at once. */
static void
test_e2e_term_idle_accept(void **state)
{
	struct srv *s = *state;
	int fd = srv_connect(s), st;

	expect(fd, "GET", "/hello", NULL, 200, "");
	close(fd);
	usleep(50 * 1000);
	kill(s->pid, SIGTERM);
	st = srv_wait(s, 1000);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_literal_beats_capture),
		cmocka_unit_test(test_match_404_405),
		cmocka_unit_test(test_match_head),
		cmocka_unit_test(test_match_captures_decoded),
		cmocka_unit_test(test_match_trailing_slash),
		cmocka_unit_test(test_match_limits),
		cmocka_unit_test(test_query_get),
		cmocka_unit_test(test_query_int),
		cmocka_unit_test_setup_teardown(test_e2e_ok, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_keepalive, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_errors, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_body_types, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_405_and_headers,
		    e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_params, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_term_busy, e2e_setup,
		    e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_term_idle_conn,
		    e2e_setup, e2e_teardown),
		cmocka_unit_test_setup_teardown(test_e2e_term_idle_accept,
		    e2e_setup, e2e_teardown),
	};

	log_init("test_app", LOG_LVL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
