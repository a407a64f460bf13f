/*
 * h1: strict, incremental HTTP/1.1 request codec. See h1.h for the contract
 * and the table of rejections.
 *
 * The head parser is one left-to-right pass over the input with a table of
 * character classes. Every check depends only on the bytes before the one
 * being looked at, so the first offending byte decides the outcome, and a
 * head delivered in pieces answers exactly like the same head delivered
 * whole. Limits are applied by narrowing the window a scan may look at: a
 * scan that runs off the end of a window cut by a limit has broken that
 * limit, one that runs off the end of the input needs more bytes.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "h1.h"

#define CC_TCHAR	0x01	/* token (RFC 9110 5.6.2) */
#define CC_FVAL		0x02	/* field value: VCHAR, obs-text, SP, HTAB */
#define CC_TARGET	0x04	/* request-target: 0x21-0x7e except '#' */
#define CC_HEX		0x08	/* HEXDIG */
#define CC_HOST		0x10	/* uri-host, port, IP-literal, pct-encoded */
#define CC_QDTEXT	0x20	/* quoted-string text (RFC 9110 5.6.4) */

static const unsigned char cc[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 00 */
	0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 08 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 10 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* 18 */
	0x22, 0x37, 0x06, 0x23, 0x37, 0x37, 0x37, 0x37,	/* 20 */
	0x36, 0x36, 0x37, 0x37, 0x36, 0x37, 0x37, 0x26,	/* 28 */
	0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,	/* 30 */
	0x3f, 0x3f, 0x36, 0x36, 0x26, 0x36, 0x26, 0x26,	/* 38 */
	0x26, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37,	/* 40 */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,	/* 48 */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,	/* 50 */
	0x37, 0x37, 0x37, 0x36, 0x06, 0x36, 0x27, 0x37,	/* 58 */
	0x27, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37,	/* 60 */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,	/* 68 */
	0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,	/* 70 */
	0x37, 0x37, 0x37, 0x26, 0x27, 0x26, 0x37, 0x00,	/* 78 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 80 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 88 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 90 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* 98 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* a0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* a8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* b0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* b8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* c0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* c8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* d0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* d8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* e0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* e8 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* f0 */
	0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,	/* f8 */
};

#define IS(ch, cls)	(cc[(unsigned char)(ch)] & (cls))
#define IS_WS(ch)	((ch) == ' ' || (ch) == '\t')
#define MIN(a, b)	((a) < (b) ? (a) : (b))

/* One h1_parse_head() call. */
struct h1_ctx {
	const char		*s;
	size_t			 end;		/* min(len, lim_head) */
	int			 capped;	/* end is lim_head */
	size_t			 maxhdr;	/* header lines allowed */
	unsigned int		 lflags;	/* lim_flags */
	size_t			 lim_target;
	size_t			 lim_field;
	struct h1_req		*req;
	int			*status;
};

static const struct {
	const char	*name;
	size_t		 len;
	enum h1_method	 m;
} methods[] = {
	{ "GET", 3, H1_M_GET },
	{ "POST", 4, H1_M_POST },
	{ "HEAD", 4, H1_M_HEAD },
	{ "PUT", 3, H1_M_PUT },
	{ "DELETE", 6, H1_M_DELETE },
	{ "OPTIONS", 7, H1_M_OPTIONS },
	{ "PATCH", 5, H1_M_PATCH },
	{ "CONNECT", 7, H1_M_CONNECT },
	{ "TRACE", 5, H1_M_TRACE },
};

static const char *const method_names[H1_M_COUNT] = {
	"UNKNOWN", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT",
	"OPTIONS", "TRACE", "PATCH",
};

static inline unsigned char
lc(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch;
}

/* Compares <n> bytes of <a> and <b>, ignoring ASCII case. */
static int
ci_eq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
			return 0;
	return 1;
}

static int
str_ci(struct str a, const char *b, size_t n)
{
	return a.len == n && ci_eq(a.p, b, n);
}

/* Returns the first index in [<i>, <end>) whose byte is not in <cls>. */
static inline size_t
scan(const char *s, size_t i, size_t end, unsigned char cls)
{
	while (end - i >= 4) {
		if (!IS(s[i], cls))
			return i;
		if (!IS(s[i + 1], cls))
			return i + 1;
		if (!IS(s[i + 2], cls))
			return i + 2;
		if (!IS(s[i + 3], cls))
			return i + 3;
		i += 4;
	}
	while (i < end && IS(s[i], cls))
		i++;
	return i;
}

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

/*
 * Nonzero when one of the 8 bytes in <x> is a control byte (below 0x20, or
 * 0x7f). Exact as to whether there is one, not as to where: callers find
 * the byte with scan().
 */
static inline uint64_t
swar_ctl(uint64_t x)
{
	uint64_t d = x ^ (ONES * 0x7f);

	return (((x - ONES * 0x20) & ~x) | ((d - ONES) & ~d)) & HIGHS;
}

/*
 * scan() for CC_FVAL, 8 bytes at a time where no control byte shows up:
 * field values are most of a head.
 */
static inline size_t
scan_value(const char *s, size_t i, size_t end)
{
	uint64_t	x;
	size_t		j, w;

	for (;;) {
		while (end - i >= 8) {
			memcpy(&x, s + i, sizeof(x));
			if (swar_ctl(x) != 0)
				break;
			i += 8;
		}
		w = MIN(i + 8, end);
		if ((j = scan(s, i, w, CC_FVAL)) < w || w == end)
			return j;
		i = j;
	}
}

/* End of a window of <lim> + 1 bytes at <off>, saturating. */
static inline size_t
win(size_t off, size_t lim)
{
	return lim >= SIZE_MAX - off ? SIZE_MAX : off + lim + 1;
}

static ssize_t
bad(struct h1_ctx *c, int status)
{
	*c->status = status;
	return H1_BAD;
}

/*
 * A scan reached c->end. When the window of a line or target limit ended
 * there (<wend> <= c->end), that limit is broken and <status> answers;
 * when the head limit cut c->end, 431; else the input is just short.
 */
static ssize_t
more(struct h1_ctx *c, size_t wend, int status)
{
	if (wend <= c->end)
		return bad(c, status);
	if (c->capped)
		return bad(c, 431);
	return H1_AGAIN;
}

static struct str
view(const struct h1_ctx *c, size_t off, size_t len)
{
	return str_make(c->s + off, len);
}

/* Skips the empty lines a request may start with. */
static ssize_t
skip_empty(struct h1_ctx *c, size_t off)
{
	int n;

	for (n = 0;; n++) {
		if (off >= c->end)
			return more(c, SIZE_MAX, 0);
		if (c->s[off] != '\r')
			return off;
		if (n == H1_MAX_EMPTY_LINES)
			return bad(c, 400);
		if (off + 1 >= c->end)
			return more(c, SIZE_MAX, 0);
		if (c->s[off + 1] != '\n')
			return bad(c, 400);
		off += 2;
	}
}

static enum h1_method
method_byname(struct str m)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (m.len == methods[i].len &&
		    memcmp(m.p, methods[i].name, m.len) == 0)
			return methods[i].m;
	return H1_M_UNKNOWN;
}

static ssize_t
parse_method(struct h1_ctx *c, size_t off)
{
	struct h1_req	*r = c->req;
	size_t		 wend = win(off, H1_METHOD_MAX), w, e;

	w = MIN(wend, c->end);
	e = scan(c->s, off, w, CC_TCHAR);
	if (e == w)
		return more(c, wend, 501);
	if (c->s[e] != ' ' || e == off)
		return bad(c, 400);
	r->method_str = view(c, off, e - off);
	r->method = method_byname(r->method_str);
	if (r->method == H1_M_UNKNOWN ||
	    (r->method == H1_M_CONNECT && !(c->lflags & H1_LIM_CONNECT)) ||
	    (r->method == H1_M_TRACE && !(c->lflags & H1_LIM_TRACE)))
		return bad(c, 501);
	return e + 1;
}

static void
split_query(struct h1_req *r, const char *p, size_t n)
{
	const char *q;

	q = memchr(p, '?', n);
	if (q == NULL) {
		r->path = str_make(p, n);
		r->query = str_make(p + n, 0);
	} else {
		r->path = str_make(p, q - p);
		r->query = str_make(q + 1, n - (q - p) - 1);
	}
}

#define AUTH_NEED_HOST	0x01	/* the host must not be empty */
#define AUTH_NEED_PORT	0x02	/* ":" and one digit at least */

/* Whether the <n> bytes at <p> are "%" HEXDIG HEXDIG wherever a '%' is. */
static int
pct_ok(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == '%' && (n - i < 3 || !IS(p[i + 1], CC_HEX) ||
		    !IS(p[i + 2], CC_HEX)))
			return 0;
	return 1;
}

/*
 * Checks that the <n> bytes at <p>, all CC_HOST, are uri-host [ ":" port ]
 * (RFC 9110 7.2, RFC 3986 3.2.2-3.2.3): uri-host is an IP-literal in
 * brackets or a name without brackets or colons, with sound percent
 * escapes; port = *DIGIT, at most 65535. An empty port is allowed (RFC
 * 3986 6.2.3: same as none) unless <need> has AUTH_NEED_PORT. Returns 0,
 * or -1 when it is not.
 */
static int
authority_ok(const char *p, size_t n, unsigned int need)
{
	size_t		i = 0, h;
	uint32_t	port = 0;

	if (n > 0 && p[0] == '[') {
		while (++i < n && p[i] != ']')
			if (p[i] == '[')
				return -1;
		if (i == n || i == 1)
			return -1;
		i++;
	} else
		for (; i < n && p[i] != ':'; i++)
			if (p[i] == '[' || p[i] == ']')
				return -1;
	h = i;
	if ((h == 0 && (need & AUTH_NEED_HOST)) || !pct_ok(p, h))
		return -1;
	if (i < n && p[i++] != ':')
		return -1;
	if (i == n)		/* no port, or an empty one */
		return (need & AUTH_NEED_PORT) ? -1 : 0;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		port = port * 10 + (uint32_t)(p[i] - '0');
		if (port > 65535)
			return -1;
	}
	return 0;
}

/* http(s)://authority[/path][?query], no userinfo. */
static int
absolute_form(struct h1_req *r)
{
	const char	*t = r->target.p;
	size_t		 n = r->target.len, a, e;

	if (n > 7 && ci_eq(t, "http://", 7))
		a = 7;
	else if (n > 8 && ci_eq(t, "https://", 8))
		a = 8;
	else
		return -1;
	e = scan(t, a, n, CC_HOST);
	if (e == a || (e < n && t[e] != '/' && t[e] != '?') ||
	    authority_ok(t + a, e - a, AUTH_NEED_HOST) == -1)
		return -1;
	r->form = H1_FORM_ABSOLUTE;
	r->scheme = str_make(t, a - 3);
	r->authority = str_make(t + a, e - a);
	split_query(r, t + e, n - e);
	return 0;
}

/* host ":" port, as CONNECT requires. */
static int
authority_form(struct h1_req *r)
{
	const char	*t = r->target.p;
	size_t		 n = r->target.len;

	if (scan(t, 0, n, CC_HOST) != n ||
	    authority_ok(t, n, AUTH_NEED_HOST | AUTH_NEED_PORT) == -1)
		return -1;
	r->form = H1_FORM_AUTHORITY;
	r->authority = r->target;
	r->path = str_make(t + n, 0);
	r->query = str_make(t + n, 0);
	return 0;
}

/* Classifies the target; returns 0 or -1 when its form is not allowed. */
static int
target_form(struct h1_req *r)
{
	const char *t = r->target.p;

	if (r->method == H1_M_CONNECT)
		return authority_form(r);
	if (t[0] == '/') {
		r->form = H1_FORM_ORIGIN;
		split_query(r, t, r->target.len);
		return 0;
	}
	if (t[0] == '*' && r->target.len == 1) {
		if (r->method != H1_M_OPTIONS)
			return -1;
		r->form = H1_FORM_ASTERISK;
		r->path = r->target;
		r->query = str_make(t + 1, 0);
		return 0;
	}
	return absolute_form(r);
}

static ssize_t
parse_target(struct h1_ctx *c, size_t off)
{
	struct h1_req	*r = c->req;
	size_t		 wend = win(off, c->lim_target), w, e;

	w = MIN(wend, c->end);
	e = scan(c->s, off, w, CC_TARGET);
	if (e == w)
		return more(c, wend, 414);
	if (c->s[e] != ' ' || e == off)
		return bad(c, 400);
	r->target = view(c, off, e - off);
	if (target_form(r) == -1)
		return bad(c, 400);
	return e + 1;
}

/* "HTTP/" DIGIT "." DIGIT CRLF */
static ssize_t
parse_version(struct h1_ctx *c, size_t off)
{
	static const char	 pat[] = "HTTP/9.9\r\n";
	const char		*v = c->s + off;
	size_t			 i;

	for (i = 0; i < sizeof(pat) - 1; i++) {
		if (off + i >= c->end)
			return more(c, SIZE_MAX, 0);
		if (pat[i] == '9' ? (v[i] < '0' || v[i] > '9') :
		    v[i] != pat[i])
			return bad(c, 400);
	}
	if (v[5] != '1' || v[7] > '1')
		return bad(c, 505);
	c->req->minor = v[7] - '0';
	return off + sizeof(pat) - 1;
}

static ssize_t
parse_reqline(struct h1_ctx *c, size_t off)
{
	ssize_t n;

	if ((n = skip_empty(c, off)) < 0 ||
	    (n = parse_method(c, n)) < 0 ||
	    (n = parse_target(c, n)) < 0)
		return n;
	return parse_version(c, n);
}

/* Content-Length: 1*DIGIT, once, never with Transfer-Encoding. */
static int
hdr_length(struct h1_req *r, struct str v)
{
	uint64_t	n = 0;
	size_t		i;
	unsigned int	d;

	if ((r->flags & (H1_F_LENGTH | H1_F_CHUNKED)) || v.len == 0)
		return 400;
	for (i = 0; i < v.len; i++) {
		d = (unsigned char)v.p[i] - '0';
		if (d > 9 || n > (UINT64_MAX - d) / 10)
			return 400;
		n = n * 10 + d;
	}
	r->content_length = n;
	r->flags |= H1_F_LENGTH;
	return 0;
}

/*
 * Calls <fn> on each member of the comma-separated list <v>, OWS trimmed.
 * Stops at the first non-zero return of <fn> and returns it.
 */
static int
list_each(struct str v, int (*fn)(struct str, void *), void *arg)
{
	size_t	i = 0, b, e;
	int	rv;

	for (;;) {
		while (i < v.len && IS_WS(v.p[i]))
			i++;
		b = i;
		while (i < v.len && v.p[i] != ',')
			i++;
		e = i;
		while (e > b && IS_WS(v.p[e - 1]))
			e--;
		if ((rv = fn(str_make(v.p + b, e - b), arg)) != 0)
			return rv;
		if (i++ == v.len)
			return 0;
	}
}

/* State of a Transfer-Encoding list walk. */
struct te_walk {
	int	chunked;	/* "chunked" seen */
	int	others;		/* other codings seen before it */
};

static int
te_member(struct str m, void *arg)
{
	struct te_walk *w = arg;

	if (m.len == 0 || w->chunked)
		return 400;
	if (str_ci(m, "chunked", 7))
		w->chunked = 1;
	else
		w->others = 1;
	return 0;
}

/* Transfer-Encoding: only "chunked", only in 1.1, never with a length. */
static int
hdr_te(struct h1_req *r, struct str v)
{
	struct te_walk	w = { 0, 0 };
	int		rv;

	if (r->minor == 0 || (r->flags & (H1_F_LENGTH | H1_F_CHUNKED)))
		return 400;
	if ((rv = list_each(v, te_member, &w)) != 0)
		return rv;
	if (!w.chunked)
		return 400;
	if (w.others)
		return 501;
	r->flags |= H1_F_CHUNKED;
	return 0;
}

static int
conn_member(struct str m, void *arg)
{
	struct h1_req *r = arg;

	if (str_ci(m, "close", 5))
		r->flags |= H1_F_CONN_CLOSE;
	else if (str_ci(m, "keep-alive", 10))
		r->flags |= H1_F_CONN_KA;
	return 0;
}

static int
hdr_host(struct h1_req *r, struct str v)
{
	/* RFC 9112 3.2: an empty Host is what a client sends when the
	 * target URI has no authority. */
	if ((r->flags & H1_F_HOST) || scan(v.p, 0, v.len, CC_HOST) != v.len ||
	    (v.len > 0 && authority_ok(v.p, v.len, AUTH_NEED_HOST) == -1))
		return 400;
	r->host = v;
	r->flags |= H1_F_HOST;
	return 0;
}

/* Authorization: two credentials leave it open which one counts. */
static int
hdr_auth(struct h1_req *r)
{
	if (r->flags & H1_F_AUTH)
		return 400;
	r->flags |= H1_F_AUTH;
	return 0;
}

static int
hdr_expect(struct h1_req *r, struct str v)
{
	if (!str_ci(v, "100-continue", 12))
		return 417;
	/* RFC 9110 10.1.1: a 1.0 client cannot expect an interim answer. */
	if (r->minor == 1)
		r->flags |= H1_F_CONTINUE;
	return 0;
}

/* Applies the fields the codec interprets; returns 0 or a status. */
static int
hdr_apply(struct h1_req *r, const struct h1_header *h)
{
	const char *n = h->name.p;

	switch (h->name.len) {
	case 4:
		return ci_eq(n, "host", 4) ? hdr_host(r, h->value) : 0;
	case 6:
		return ci_eq(n, "expect", 6) ? hdr_expect(r, h->value) : 0;
	case 10:
		return ci_eq(n, "connection", 10) ?
		    list_each(h->value, conn_member, r) : 0;
	case 13:
		return ci_eq(n, "authorization", 13) ? hdr_auth(r) : 0;
	case 14:
		return ci_eq(n, "content-length", 14) ?
		    hdr_length(r, h->value) : 0;
	case 17:
		return ci_eq(n, "transfer-encoding", 17) ?
		    hdr_te(r, h->value) : 0;
	}
	return 0;
}

/*
 * Parses the field line at <s>, which does not start with CR, SP or HTAB,
 * into the next free header. Returns the offset of the next line.
 */
static ssize_t
parse_field(struct h1_ctx *c, size_t s)
{
	struct h1_header	*h = &c->req->headers[c->req->nheaders];
	size_t			 wend = win(s, c->lim_field), w, ne, v, cr;
	int			 st;

	w = MIN(wend, c->end);
	ne = scan(c->s, s, w, CC_TCHAR);
	if (ne == w)
		return more(c, wend, 431);
	if (c->s[ne] != ':' || ne == s)
		return bad(c, 400);
	for (v = ne + 1; v < w && IS_WS(c->s[v]); v++)
		;
	cr = scan_value(c->s, v, w);
	if (cr == w)
		return more(c, wend, 431);
	if (c->s[cr] != '\r')
		return bad(c, 400);
	if (cr + 1 >= c->end)
		return more(c, SIZE_MAX, 0);
	if (c->s[cr + 1] != '\n')
		return bad(c, 400);
	h->name = view(c, s, ne - s);
	h->value = view(c, v, cr - v);
	while (h->value.len > 0 && IS_WS(h->value.p[h->value.len - 1]))
		h->value.len--;
	c->req->nheaders++;
	if ((st = hdr_apply(c->req, h)) != 0)
		return bad(c, st);
	return cr + 2;
}

/* Checks done once the whole head is in. */
static ssize_t
finish(struct h1_ctx *c, size_t off)
{
	struct h1_req *r = c->req;

	if (r->minor == 1 && !(r->flags & H1_F_HOST))
		return bad(c, 400);
	if (r->form == H1_FORM_ABSOLUTE)
		r->host = r->authority;
	if (!(r->flags & H1_F_CONN_CLOSE) &&
	    (r->minor == 1 || (r->flags & H1_F_CONN_KA)))
		r->flags |= H1_F_KEEPALIVE;
	return off;
}

/*
 * Parses field lines from <off> up to and including the empty line,
 * recording in h_off where each finished line ends so that a later call
 * may resume there.
 */
static ssize_t
parse_fields(struct h1_ctx *c, size_t off)
{
	struct h1_req	*r = c->req;
	ssize_t		 n;

	for (;;) {
		r->h_off = off;
		if (off >= c->end)
			return more(c, SIZE_MAX, 0);
		if (c->s[off] == '\r') {
			if (off + 1 >= c->end)
				return more(c, SIZE_MAX, 0);
			if (c->s[off + 1] != '\n')
				return bad(c, 400);
			return finish(c, off + 2);
		}
		if (IS_WS(c->s[off]))
			return bad(c, 400);	/* obs-fold */
		if (r->nheaders == c->maxhdr)
			return bad(c, 431);
		if ((n = parse_field(c, off)) < 0)
			return n;
		off = n;
	}
}

static void
req_reset(struct h1_req *r)
{
	r->method = H1_M_UNKNOWN;
	r->method_str = STR_NULL;
	r->target = STR_NULL;
	r->form = H1_FORM_ORIGIN;
	r->scheme = STR_NULL;
	r->authority = STR_NULL;
	r->path = STR_NULL;
	r->query = STR_NULL;
	r->minor = 1;
	r->nheaders = 0;
	r->content_length = 0;
	r->host = STR_NULL;
	r->flags = 0;
	r->h_base = NULL;
	r->h_off = 0;
}

/* Clears <req>, resume state included. */
void
h1_req_init(struct h1_req *req)
{
	req_reset(req);
}

/*
 * Parses the head at <buf> within <lim> into <req>; see h1.h for the
 * outcomes. Resumes at req->h_off when the previous call on <req> ended in
 * H1_AGAIN on the same <buf>, else starts over with the request line.
 */
ssize_t
h1_parse_head(const char *buf, size_t len, const struct h1_limits *lim,
    struct h1_req *req, int *status)
{
	struct h1_ctx	c;
	ssize_t		n;

	*status = 0;
	c.s = buf;
	c.capped = len >= lim->lim_head;
	c.end = c.capped ? lim->lim_head : len;
	c.maxhdr = MIN(lim->lim_headers, H1_MAX_HEADERS);
	c.lflags = lim->lim_flags;
	c.lim_target = lim->lim_target;
	c.lim_field = lim->lim_field;
	c.req = req;
	c.status = status;
	if (req->h_off != 0 && req->h_base == buf && req->h_off <= len)
		n = req->h_off;
	else {
		req_reset(req);
		n = parse_reqline(&c, 0);
	}
	if (n >= 0)
		n = parse_fields(&c, n);
	if (n == H1_AGAIN)
		req->h_base = buf;
	else
		req->h_off = 0;
	return n;
}

/* Returns the name of <m>, "UNKNOWN" for anything out of range. */
const char *
h1_method_str(enum h1_method m)
{
	if ((unsigned int)m >= H1_M_COUNT)
		m = H1_M_UNKNOWN;
	return method_names[m];
}

/* Returns the first header of <req> named <name>, or NULL. */
const struct h1_header *
h1_header_find(const struct h1_req *req, const char *name, size_t namelen)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (str_ci(req->headers[i].name, name, namelen))
			return &req->headers[i];
	return NULL;
}

/* The host part of an authority: without ":port", brackets kept. */
static struct str
authority_host(struct str a)
{
	size_t i;

	if (a.len > 0 && a.p[0] == '[') {
		for (i = 0; i < a.len && a.p[i] != ']'; i++)
			;
		return str_make(a.p, i < a.len ? i + 1 : a.len);
	}
	for (i = 0; i < a.len && a.p[i] != ':'; i++)
		;
	return str_make(a.p, i);
}

/*
 * Returns 1 unless <req> has an absolute-form target whose host is none
 * of <hosts>.
 */
int
h1_absolute_ok(const struct h1_req *req, const char *const *hosts)
{
	struct str	h;
	size_t		i;

	if (req->form != H1_FORM_ABSOLUTE)
		return 1;
	h = authority_host(req->authority);
	for (i = 0; hosts[i] != NULL; i++)
		if (str_ci(h, hosts[i], strlen(hosts[i])))
			return 1;
	return 0;
}

/*
 * Chunked body decoder. States of struct h1_chunk's ch_state; the names
 * follow RFC 9112 section 7.1:
 *
 *	chunk-size [ chunk-ext ] CRLF chunk-data CRLF ... last-chunk
 *	trailer-section CRLF
 *	chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 */
enum ch_state {
	CH_SIZE0 = 0,	/* first hex digit of a chunk size */
	CH_SIZE,	/* more digits, or what may follow a size */
	CH_EXT_BWS,	/* BWS after an item: only ';' may end it */
	CH_EXT_NAME0,	/* BWS after ';', then an extension name */
	CH_EXT_NAME,	/* in an extension name */
	CH_EXT_NAME_BWS, /* BWS after a name: '=' or ';' */
	CH_EXT_VAL0,	/* BWS after '=', then a token or a quote */
	CH_EXT_TOKEN,	/* in a token value */
	CH_EXT_QS,	/* in a quoted-string value */
	CH_EXT_QP,	/* after a backslash in a quoted string */
	CH_EXT_QS_END,	/* after the closing quote */
	CH_SIZE_LF,	/* LF ending the chunk-size line */
	CH_DATA,	/* ch_left bytes of chunk data */
	CH_DATA_CR,	/* CRLF after chunk data */
	CH_DATA_LF,
	CH_TRL0,	/* start of a trailer line, or the final CRLF */
	CH_TRL_NAME,	/* in a trailer field name */
	CH_TRL_VALUE,	/* in a trailer field value */
	CH_TRL_LF,	/* LF ending a trailer line */
	CH_END_LF,	/* LF ending the body */
	CH_DONE,
	CH_ERROR,
	CH_COUNT
};

/* Resets <ch> for a new body with the given limits. */
void
h1_chunk_init(struct h1_chunk *ch, uint64_t max_body, size_t max_trailer)
{
	memset(ch, 0, sizeof(*ch));
	ch->ch_state = CH_SIZE0;
	ch->ch_max_body = max_body;
	ch->ch_max_trailer = max_trailer;
}

/* Returns 1 once the body has ended. */
int
h1_chunk_done(const struct h1_chunk *ch)
{
	return ch->ch_state == CH_DONE;
}

static int
ch_fail(struct h1_chunk *ch, int status)
{
	ch->ch_status = status;
	return -1;
}

static int
ch_to(struct h1_chunk *ch, int state)
{
	ch->ch_state = state;
	return 0;
}

/* What may follow a chunk size, an extension token or a quoted string. */
static int
ch_item_end(struct h1_chunk *ch, unsigned char c)
{
	if (c == ';')
		return ch_to(ch, CH_EXT_NAME0);
	if (c == '\r')
		return ch_to(ch, CH_SIZE_LF);
	if (IS_WS(c))
		return ch_to(ch, CH_EXT_BWS);
	return ch_fail(ch, 400);
}

static int
ch_size(struct h1_chunk *ch, unsigned char c)
{
	unsigned int d;

	if (!IS(c, CC_HEX)) {
		if (ch->ch_state == CH_SIZE0)
			return ch_fail(ch, 400);
		return ch_item_end(ch, c);
	}
	d = c <= '9' ? c - '0' : lc(c) - 'a' + 10;
	if (ch->ch_left > (UINT64_MAX >> 4))
		return ch_fail(ch, 400);
	ch->ch_left = (ch->ch_left << 4) | d;
	if (ch->ch_left > ch->ch_max_body - ch->ch_total)
		return ch_fail(ch, 413);
	return ch_to(ch, CH_SIZE);
}

static int
ch_name(struct h1_chunk *ch, unsigned char c)
{
	if (IS(c, CC_TCHAR))
		return 0;
	if (c == '=')
		return ch_to(ch, CH_EXT_VAL0);
	if (IS_WS(c))
		return ch_to(ch, CH_EXT_NAME_BWS);
	return ch_item_end(ch, c);
}

/*
 * The BWS states: whitespace stays; what may end it depends on the state
 * (';' after an item or a name, '=' after a name, the first byte of a name
 * after ';', of a value after '=').
 */
static int
ch_bws(struct h1_chunk *ch, unsigned char c)
{
	if (IS_WS(c))
		return 0;
	if (c == ';' && ch->ch_state != CH_EXT_VAL0 &&
	    ch->ch_state != CH_EXT_NAME0)
		return ch_to(ch, CH_EXT_NAME0);
	if (c == '=' && ch->ch_state == CH_EXT_NAME_BWS)
		return ch_to(ch, CH_EXT_VAL0);
	if (IS(c, CC_TCHAR) && ch->ch_state == CH_EXT_NAME0)
		return ch_to(ch, CH_EXT_NAME);
	if (IS(c, CC_TCHAR) && ch->ch_state == CH_EXT_VAL0)
		return ch_to(ch, CH_EXT_TOKEN);
	if (c == '"' && ch->ch_state == CH_EXT_VAL0)
		return ch_to(ch, CH_EXT_QS);
	return ch_fail(ch, 400);
}

static int
ch_quoted(struct h1_chunk *ch, unsigned char c)
{
	if (ch->ch_state == CH_EXT_QP)
		return IS(c, CC_FVAL) ? ch_to(ch, CH_EXT_QS) : ch_fail(ch, 400);
	if (c == '"')
		return ch_to(ch, CH_EXT_QS_END);
	if (c == '\\')
		return ch_to(ch, CH_EXT_QP);
	return IS(c, CC_QDTEXT) ? 0 : ch_fail(ch, 400);
}

/* <c> is the LF that ends the chunk-size line. */
static int
ch_size_lf(struct h1_chunk *ch, unsigned char c)
{
	if (c != '\n')
		return ch_fail(ch, 400);
	if (ch->ch_left == 0)
		return ch_to(ch, CH_TRL0);
	ch->ch_total += ch->ch_left;
	return ch_to(ch, CH_DATA);
}

/* Trailer lines: checked like header lines, then dropped. */
static int
ch_trailer(struct h1_chunk *ch, unsigned char c)
{
	if (++ch->ch_trailer > ch->ch_max_trailer)
		return ch_fail(ch, 431);
	switch (ch->ch_state) {
	case CH_TRL0:
		if (c == '\r')
			return ch_to(ch, CH_END_LF);
		return IS(c, CC_TCHAR) ? ch_to(ch, CH_TRL_NAME) :
		    ch_fail(ch, 400);
	case CH_TRL_NAME:
		if (c == ':')
			return ch_to(ch, CH_TRL_VALUE);
		return IS(c, CC_TCHAR) ? 0 : ch_fail(ch, 400);
	case CH_TRL_VALUE:
		if (c == '\r')
			return ch_to(ch, CH_TRL_LF);
		return IS(c, CC_FVAL) ? 0 : ch_fail(ch, 400);
	case CH_TRL_LF:
		return c == '\n' ? ch_to(ch, CH_TRL0) : ch_fail(ch, 400);
	default:
		return c == '\n' ? ch_to(ch, CH_DONE) : ch_fail(ch, 400);
	}
}

/* Expects exactly <want>, then moves to <next>. */
static int
ch_expect(struct h1_chunk *ch, unsigned char c, unsigned char want,
    int next)
{
	return c == want ? ch_to(ch, next) : ch_fail(ch, 400);
}

/* Feeds one framing byte; returns 0, or -1 with ch_status set. */
static int
ch_byte(struct h1_chunk *ch, unsigned char c)
{
	if (ch->ch_state < CH_SIZE_LF && c != '\r' &&
	    ++ch->ch_line > H1_CHUNK_LINE_MAX)
		return ch_fail(ch, 400);
	switch (ch->ch_state) {
	case CH_SIZE0:
	case CH_SIZE:
		return ch_size(ch, c);
	case CH_EXT_NAME:
		return ch_name(ch, c);
	case CH_EXT_BWS:
	case CH_EXT_NAME0:
	case CH_EXT_NAME_BWS:
	case CH_EXT_VAL0:
		return ch_bws(ch, c);
	case CH_EXT_TOKEN:
		return IS(c, CC_TCHAR) ? 0 : ch_item_end(ch, c);
	case CH_EXT_QS:
	case CH_EXT_QP:
		return ch_quoted(ch, c);
	case CH_EXT_QS_END:
		return ch_item_end(ch, c);
	case CH_SIZE_LF:
		return ch_size_lf(ch, c);
	case CH_DATA_CR:
		return ch_expect(ch, c, '\r', CH_DATA_LF);
	case CH_DATA_LF:
		ch->ch_line = 0;
		return ch_expect(ch, c, '\n', CH_SIZE0);
	default:
		return ch_trailer(ch, c);
	}
}

/*
 * Runs framing bytes of <in> through the state machine until a payload
 * span, the end of the body or the end of <in>; see h1.h for the outcomes.
 * Payload is never copied: <data> points into <in>.
 */
ssize_t
h1_chunk_decode(struct h1_chunk *ch, const char *in, size_t len,
    struct str *data)
{
	size_t i, n;

	*data = str_make(in, 0);
	if (ch->ch_state == CH_ERROR)
		return H1_BAD;
	for (i = 0; i < len && ch->ch_state != CH_DONE; i++) {
		if (ch->ch_state == CH_DATA) {
			n = len - i;
			if (n > ch->ch_left)
				n = ch->ch_left;
			*data = str_make(in + i, n);
			ch->ch_left -= n;
			if (ch->ch_left == 0)
				ch->ch_state = CH_DATA_CR;
			return i + n;
		}
		if (ch_byte(ch, (unsigned char)in[i]) == -1) {
			ch->ch_state = CH_ERROR;
			return H1_BAD;
		}
	}
	return i;
}
