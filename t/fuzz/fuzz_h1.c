/*
 * libFuzzer target for the HTTP/1.1 request codec (proxy/h1.c).
 *
 * The first input byte picks the limits and the piece size; the rest is
 * fed to h1_parse_head() whole and in pieces at one address (the resume
 * path), then whatever follows the head (or everything, when the head is
 * rejected) goes to the chunked decoder, whole and in pieces. Both ways
 * must agree, and every view must lie inside the bytes consumed; any
 * violation aborts.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "h1.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)

static void
check_view(struct str v, const char *p, ssize_t n)
{
	if (v.len == 0)
		return;
	CHECK(v.p >= p && v.len <= (size_t)n && v.p - p <= n - (ssize_t)v.len);
}

/* Independent, slow restatement of the byte rules for accepted heads. */
static void
check_bytes(const struct h1_req *r)
{
	size_t		i, j;
	unsigned char	c;

	for (j = 0; j < r->target.len; j++) {
		c = r->target.p[j];
		CHECK(c > 0x20 && c < 0x7f && c != '#');
	}
	for (i = 0; i < r->nheaders; i++) {
		for (j = 0; j < r->headers[i].name.len; j++) {
			c = r->headers[i].name.p[j];
			CHECK(c > 0x20 && c < 0x7f && c != ':' && c != '"');
		}
		for (j = 0; j < r->headers[i].value.len; j++) {
			c = r->headers[i].value.p[j];
			CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
		}
	}
}

/* Independent restatement of uri-host [":" port] for accepted hosts. */
static void
check_host(struct str h)
{
	const char	*e, *q;
	unsigned long	 port = 0;

	if (h.len == 0)
		return;
	e = h.p + h.len;
	if (h.p[0] == '[') {
		q = memchr(h.p, ']', h.len);
		CHECK(q != NULL && q > h.p + 1);
		q++;
	} else {
		q = memchr(h.p, ':', h.len);
		q = q != NULL ? q : e;
		CHECK(q > h.p);
	}
	CHECK(q == e || *q == ':');
	for (q += q < e; q < e; q++) {
		CHECK(*q >= '0' && *q <= '9');
		port = port * 10 + (unsigned long)(*q - '0');
		CHECK(port <= 65535);
	}
}

static void
check_req(const struct h1_req *r, const char *p, ssize_t n)
{
	size_t i, nauth = 0;

	check_bytes(r);
	check_host(r->host);
	for (i = 0; i < r->nheaders; i++)
		nauth += r->headers[i].name.len == 13 &&
		    strncasecmp(r->headers[i].name.p, "authorization", 13) == 0;
	CHECK(nauth <= 1 && (nauth == 1) == ((r->flags & H1_F_AUTH) != 0));

	CHECK(r->nheaders <= H1_MAX_HEADERS);
	CHECK(r->minor == 0 || r->minor == 1);
	CHECK(r->method > H1_M_UNKNOWN && r->method < H1_M_COUNT);
	check_view(r->method_str, p, n);
	check_view(r->target, p, n);
	check_view(r->scheme, p, n);
	check_view(r->authority, p, n);
	check_view(r->path, p, n);
	check_view(r->query, p, n);
	check_view(r->host, p, n);
	for (i = 0; i < r->nheaders; i++) {
		check_view(r->headers[i].name, p, n);
		check_view(r->headers[i].value, p, n);
		CHECK(r->headers[i].name.len > 0);
	}
	CHECK(!((r->flags & H1_F_LENGTH) && (r->flags & H1_F_CHUNKED)));
}

static void
check_result(ssize_t n, int st, size_t len)
{
	if (n >= 0)
		CHECK((size_t)n <= len && st == 0);
	else if (n == H1_AGAIN)
		CHECK(st == 0);
	else
		CHECK(n == H1_BAD && (st == 400 || st == 414 || st == 417 ||
		    st == 431 || st == 501 || st == 505));
}

/* Growing prefixes at one address must end like the whole parse. */
static void
head_pieces(const char *p, size_t len, const struct h1_limits *lim,
    size_t step, ssize_t want, int wantst)
{
	static struct h1_req	req;
	size_t			k = 0;
	ssize_t			n;
	int			st;

	h1_req_init(&req);
	for (;;) {
		k = len - k < step ? len : k + step;
		n = h1_parse_head(p, k, lim, &req, &st);
		check_result(n, st, k);
		if (n != H1_AGAIN || k == len)
			break;
	}
	CHECK(n == want && st == wantst);
}

/* Payload digest and outcome of one chunked decode. */
struct digest {
	uint64_t	hash;
	uint64_t	bytes;
	size_t		used;
	int		status;
};

static void
chunk_run(const char *p, size_t len, size_t step, uint64_t max_body,
    struct digest *dg)
{
	struct h1_chunk	 ch;
	struct str	 d;
	size_t		 avail = 0, off = 0, i;
	ssize_t		 n;

	h1_chunk_init(&ch, max_body, 64);
	memset(dg, 0, sizeof(*dg));
	dg->hash = 14695981039346656037ULL;
	while (!h1_chunk_done(&ch)) {
		if (off == avail) {
			if (avail == len)
				break;
			avail = len - avail < step ? len : avail + step;
		}
		n = h1_chunk_decode(&ch, p + off, avail - off, &d);
		if (n == H1_BAD) {
			CHECK(ch.ch_status == 400 || ch.ch_status == 413 ||
			    ch.ch_status == 431);
			dg->status = ch.ch_status;
			break;
		}
		CHECK(n >= 0 && (size_t)n <= avail - off);
		CHECK(d.len == 0 || (d.p >= p + off &&
		    (size_t)(d.p - (p + off)) + d.len <= (size_t)n));
		for (i = 0; i < d.len; i++)
			dg->hash = (dg->hash ^ (unsigned char)d.p[i]) *
			    1099511628211ULL;
		dg->bytes += d.len;
		CHECK(dg->bytes <= max_body);
		off += n;
	}
	dg->used = off;
	if (dg->status == 0 && !h1_chunk_done(&ch))
		dg->status = H1_AGAIN;
}

static void
fuzz_chunked(const char *p, size_t len, size_t step, uint64_t max_body)
{
	struct digest a, b;

	chunk_run(p, len, len, max_body, &a);
	chunk_run(p, len, step, max_body, &b);
	CHECK(a.status == b.status);
	if (a.status == 400 || a.status == 413 || a.status == 431)
		return;
	CHECK(a.hash == b.hash && a.bytes == b.bytes && a.used == b.used);
}

/*
 * Parses one head at <p>, whole and in pieces. Returns its length, or -1
 * when there is no complete head.
 */
static ssize_t
fuzz_head(const char *p, size_t len, const struct h1_limits *lim,
    size_t step)
{
	static const char *const hosts[] = { "example.com", "[::1]", NULL };
	static struct h1_req	 req;
	ssize_t			 n;
	int			 st;

	h1_req_init(&req);
	n = h1_parse_head(p, len, lim, &req, &st);
	check_result(n, st, len);
	if (n >= 0) {
		check_req(&req, p, n);
		CHECK(h1_method_str(req.method) != NULL);
		CHECK((h1_header_find(&req, "HOST", 4) != NULL) ==
		    ((req.flags & H1_F_HOST) != 0));
		CHECK(h1_absolute_ok(&req, hosts) == 1 ||
		    req.form == H1_FORM_ABSOLUTE);
	}
	head_pieces(p, len, lim, len <= 1024 ? step : len / 128 + step, n,
	    st);
	return n >= 0 ? n : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h1_limits	 lim;
	const char		*p = (const char *)data + 1;
	size_t			 len, step;
	ssize_t			 n;
	int			 sel, i;

	if (size == 0)
		return 0;
	sel = data[0];
	len = size - 1;
	lim.lim_target = (sel & 1) ? 32 : 4096;
	lim.lim_field = (sel & 2) ? 64 : 8192;
	lim.lim_head = (sel & 4) ? 256 : 65536;
	lim.lim_headers = (sel & 8) ? 4 : H1_MAX_HEADERS;
	lim.lim_flags = (sel & 16) ? H1_LIM_CONNECT | H1_LIM_TRACE : 0;
	step = ((sel >> 5) & 7) + 1;

	/* Up to three pipelined heads, then the rest as a chunked body. */
	for (i = 0; i < 3; i++) {
		if ((n = fuzz_head(p, len, &lim, step)) == -1)
			break;
		p += n;
		len -= n;
	}
	fuzz_chunked(p, len, step, (sel & 4) ? 1000 : UINT64_MAX);
	return 0;
}
