/*
 * libFuzzer target for the FastCGI params builder (proxy/params.c), with
 * the HTTP/1.1 head parser (proxy/h1.c) in front and the FastCGI codec
 * (proxy/fcgi.c) behind it.
 *
 * Byte 0 picks the route's rewrite, the content length and whether there
 * are claims; byte 1 the length of the route's prefix; the rest is parsed
 * as a request head. When it parses, its params are built and decoded
 * back: the records must be framed right and end with the empty PARAMS
 * record, every pair must decode whole, no name may come twice, each
 * forwarded header must arrive with its values joined as params.h says,
 * and the arena must be left as it was. Any violation aborts.
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "buf.h"
#include "fcgi.h"
#include "h1.h"
#include "params.h"

#define CHECK(c)							\
	do {								\
		if (!(c)) {						\
			fprintf(stderr, "%s:%d: %s\n", __FILE__,	\
			    __LINE__, #c);				\
			abort();					\
		}							\
	} while (0)

#define MAX_PAIRS	512

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct pairs {
	size_t		n;
	struct str	name[MAX_PAIRS];
	struct str	value[MAX_PAIRS];
};

static const struct h1_limits lim = {
	.lim_target = 4096,
	.lim_field = 8192,
	.lim_head = 65536,
	.lim_headers = H1_MAX_HEADERS,
	.lim_flags = H1_LIM_CONNECT | H1_LIM_TRACE,
};

static int
view_eq(struct str a, const char *s)
{
	return a.len == strlen(s) && memcmp(a.p, s, a.len) == 0;
}

/* Records from <p>/<n>: BEGIN_REQUEST, PARAMS up to the empty one, which
 * ends the input. The PARAMS content goes to <content>. */
static void
walk(const char *p, size_t n, struct buf *content)
{
	static const char begin[] = "\x01\x01\x00\x01\x00\x08\x00\x00"
	    "\x00\x01\x01\x00\x00\x00\x00\x00";
	struct fcgi_header h;
	size_t off = 16, i;

	CHECK(n >= 16 && memcmp(p, begin, 16) == 0);
	for (;;) {
		CHECK(fcgi_parse_header(p + off, n - off, &h) == 8);
		CHECK(h.type == FCGI_PARAMS && h.reqid == PARAMS_REQID);
		CHECK(h.padding_len == fcgi_padding(h.content_len));
		off += 8;
		if (h.content_len == 0)
			break;
		CHECK(n - off >= (size_t)h.content_len + h.padding_len);
		buf_append(content, p + off, h.content_len);
		off += h.content_len;
		for (i = 0; i < h.padding_len; i++)
			CHECK(p[off + i] == 0);
		off += h.padding_len;
	}
	CHECK(off == n);
}

static void
split(const struct buf *content, struct pairs *pv)
{
	size_t	off, i;
	ssize_t	r;

	pv->n = 0;
	for (off = 0; off < buf_avail(content); off += (size_t)r) {
		CHECK(pv->n < MAX_PAIRS);
		r = fcgi_parse_pair(buf_data(content) + off,
		    buf_avail(content) - off, &pv->name[pv->n],
		    &pv->value[pv->n]);
		CHECK(r > 0);
		CHECK(pv->name[pv->n].len > 0);
		for (i = 0; i < pv->n; i++)
			CHECK(pv->name[i].len != pv->name[pv->n].len ||
			    memcmp(pv->name[i].p, pv->name[pv->n].p,
			    pv->name[i].len) != 0);
		pv->n++;
	}
}

static const struct str *
find(const struct pairs *pv, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < pv->n; i++)
		if (pv->name[i].len == len &&
		    memcmp(pv->name[i].p, name, len) == 0)
			return &pv->value[i];
	return NULL;
}

/* The join of params.h restated: non-empty values of <name>, in order. */
static void
join(const struct h1_req *r, struct str name, const char *sep,
    struct buf *out)
{
	size_t i, n = 0;

	for (i = 0; i < r->nheaders; i++)
		n += r->headers[i].name.len == name.len &&
		    strncasecmp(r->headers[i].name.p, name.p, name.len) == 0;
	for (i = 0; i < r->nheaders; i++) {
		if (r->headers[i].name.len != name.len ||
		    strncasecmp(r->headers[i].name.p, name.p, name.len) != 0)
			continue;
		if (n == 1 || r->headers[i].value.len > 0) {
			if (buf_avail(out) > 0)
				buf_append(out, sep, strlen(sep));
			buf_append(out, r->headers[i].value.p,
			    r->headers[i].value.len);
		}
	}
}

/* Each forwarded header arrives once, as the join of its values. */
static void
check_headers(const struct h1_req *r, const struct pairs *pv)
{
	struct buf		 want = BUF_INIT;
	const struct str	*got;
	char			 var[300];
	size_t			 i, k;

	for (i = 0; i < r->nheaders; i++) {
		struct str name = r->headers[i].name;

		if (params_header_dropped(name) || name.len + 5 > 256)
			continue;
		memcpy(var, "HTTP_", 5);
		for (k = 0; k < name.len; k++)
			var[5 + k] = name.p[k] == '-' ? '_' :
			    (char)(name.p[k] >= 'a' && name.p[k] <= 'z' ?
			    name.p[k] - 32 : name.p[k]);
		got = find(pv, var, name.len + 5);
		CHECK(got != NULL);
		buf_reset(&want);
		if (name.len == 4 && strncasecmp(name.p, "host", 4) == 0)
			buf_append(&want, r->host.p, r->host.len);
		else
			join(r, name, name.len == 6 && strncasecmp(name.p,
			    "cookie", 6) == 0 ? "; " : ", ", &want);
		CHECK(got->len == buf_avail(&want));
		CHECK(got->len == 0 || memcmp(got->p, buf_data(&want),
		    got->len) == 0);
	}
	buf_release(&want);
}

static void
check_params(const struct h1_req *r, const struct pairs *pv,
    int64_t length, int claims)
{
	const struct str *script, *uri, *cl, *method;
	char num[32];

	script = find(pv, "SCRIPT_NAME", 11);
	uri = find(pv, "REQUEST_URI", 11);
	CHECK(script != NULL && uri != NULL);
	CHECK(script->len <= uri->len &&
	    memcmp(script->p, uri->p, script->len) == 0);
	method = find(pv, "REQUEST_METHOD", 14);
	CHECK(method != NULL && method->len == r->method_str.len &&
	    memcmp(method->p, r->method_str.p, method->len) == 0);
	cl = find(pv, "CONTENT_LENGTH", 14);
	if (length < 0)
		CHECK(cl == NULL);
	else {
		snprintf(num, sizeof(num), "%lld", (long long)length);
		CHECK(cl != NULL && view_eq(*cl, num));
	}
	CHECK((find(pv, "AUTH_ROLES", 10) != NULL) == claims);
	check_headers(r, pv);
}

static json_t *
make_claims(const char *p, size_t len)
{
	json_t *c;

	c = json_pack("{s:s,s:{s:[s,i,s]},s:i}", "email", "a@b.c",
	    "realm_access", "roles", "A", 1, "B", "family_name", 3);
	CHECK(c != NULL);
	json_object_set_new(c, "sub", json_stringn_nocheck(p, len));
	return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct h1_req	 req;
	static const char	*const rewrites[] = { "", "/", "/r", "/a/b" };
	struct params_in	 in;
	struct buf		 out = BUF_INIT, arena = BUF_INIT;
	struct buf		 content = BUF_INIT;
	static struct pairs	 pv;
	json_t			*claims = NULL;
	const char		*p = (const char *)data + 2;
	int64_t			 length;
	ssize_t			 n;
	int			 sel, st;

	if (size < 2)
		return 0;
	sel = data[0];
	h1_req_init(&req);
	n = h1_parse_head(p, size - 2, &lim, &req, &st);
	if (n < 0)
		return 0;
	memset(&in, 0, sizeof(in));
	in.pi_req = &req;
	in.pi_rewrite = str_make(rewrites[sel & 3], strlen(rewrites[sel & 3]));
	in.pi_prefix_len = data[1] % (req.path.len + 1);
	in.pi_peer = "::1";
	in.pi_peer_port = "65535";
	in.pi_server = "api";
	in.pi_reqid = "0123456789abcdef";
	in.pi_scheme = "http";
	length = (sel & 4) ? -1 : (sel & 8) ? INT64_MAX : (int64_t)n;
	if (sel & 16)
		claims = make_claims(p, (size_t)n);
	buf_append(&arena, "arena", 5);
	params_build(&out, &arena, &in);
	CHECK(buf_avail(&arena) == 5 && memcmp(buf_data(&arena), "arena",
	    5) == 0);
	params_finish(&out, claims, length);
	walk(buf_data(&out), buf_avail(&out), &content);
	split(&content, &pv);
	check_params(&req, &pv, length, claims != NULL);
	json_decref(claims);
	buf_release(&content);
	buf_release(&arena);
	buf_release(&out);
	return 0;
}
