/*
 * libFuzzer target for proxy/fcgi.c.
 *
 * Input layout: byte 0 seeds the piece sizes, bytes 1-2 are the expected
 * request id, the rest is a backend stream. The stream is decoded whole and
 * in pieces (each piece in its own exact-size heap block, so ASan sees any
 * over-read); both runs must agree. The same bytes go to the CGI head
 * parser and the pair parser, and are re-encoded as PARAMS to check the
 * writer's framing. Any broken invariant aborts.
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fcgi.h"

#define CHECK(c)							\
	do {								\
		if (!(c)) {						\
			fprintf(stderr, "%s:%d: %s\n", __FILE__,	\
			    __LINE__, #c);				\
			abort();					\
		}							\
	} while (0)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct trace {
	char		*data[3];	/* STDOUT, STDERR, VALUES content */
	size_t		 ndata[3];
	int		 ends;
	int		 values_end;
	int		 failed;
	enum fcgi_err	 err;
	uint32_t	 app_status;
};

static void
span_in(struct str s, const char *p, size_t n)
{
	if (s.len == 0)
		return;
	CHECK(s.p >= p && s.len <= n && s.p + s.len <= p + n);
}

/* Feeds one piece until it is consumed or the decoder fails. */
static void
feed(struct fcgi_dec *d, const char *p, size_t n, struct trace *t)
{
	struct fcgi_event	ev;
	size_t			off = 0, i;
	ssize_t			r;

	while (!t->failed) {
		r = fcgi_dec_run(d, p + off, n - off, &ev);
		if (r == FCGI_BAD) {
			CHECK(ev.ev_type == FCGI_EV_ERROR);
			CHECK(ev.ev_err > FCGI_ERR_NONE &&
			    ev.ev_err < FCGI_ERR_COUNT);
			t->failed = 1;
			t->err = ev.ev_err;
			/* Errors are sticky. */
			CHECK(fcgi_dec_run(d, p, n, &ev) == FCGI_BAD);
			CHECK(ev.ev_err == t->err);
			return;
		}
		CHECK(r >= 0 && (size_t)r <= n - off);
		span_in(ev.ev_data, p + off, (size_t)r);
		off += (size_t)r;
		switch (ev.ev_type) {
		case FCGI_EV_NONE:
			CHECK(off == n);
			return;
		case FCGI_EV_STDOUT:
		case FCGI_EV_STDERR:
		case FCGI_EV_VALUES:
			CHECK(ev.ev_data.len > 0);
			i = ev.ev_type - FCGI_EV_STDOUT;
			memcpy(t->data[i] + t->ndata[i], ev.ev_data.p,
			    ev.ev_data.len);
			t->ndata[i] += ev.ev_data.len;
			break;
		case FCGI_EV_VALUES_END:
			t->values_end++;
			break;
		case FCGI_EV_UNKNOWN:
			break;
		case FCGI_EV_END:
			CHECK(t->ends == 0);
			t->ends++;
			t->app_status = ev.ev_app_status;
			break;
		default:
			CHECK(!"unexpected event");
		}
	}
}

/*
 * Decodes <in>/<len> in pieces of pseudo-random sizes from <seed> (0 means
 * whole). Data spans are concatenated per type so that any two splits
 * compare equal.
 */
static void
decode(const char *in, size_t len, uint16_t reqid, unsigned seed,
    struct trace *t)
{
	struct fcgi_dec	d;
	size_t		off = 0, n, i;
	char		*piece;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < 3; i++) {
		t->data[i] = malloc(len + 1);
		CHECK(t->data[i] != NULL);
	}
	fcgi_dec_init(&d, reqid);
	while (off < len && !t->failed) {
		if (seed == 0)
			n = len;
		else {
			seed = seed * 1103515245U + 12345U;
			n = 1 + (seed >> 16) % (seed & 0x100 ? 3 : 97);
		}
		if (n > len - off)
			n = len - off;
		piece = malloc(n);
		CHECK(piece != NULL);
		memcpy(piece, in + off, n);
		feed(&d, piece, n, t);
		free(piece);
		off += n;
	}
	if (!t->failed)
		feed(&d, "", 0, t);
}


static void
trace_release(struct trace *t)
{
	size_t	i;

	for (i = 0; i < 3; i++) {
		free(t->data[i]);
		t->data[i] = NULL;
	}
}

static void
check_decoder(const char *in, size_t len, uint16_t reqid, unsigned seed)
{
	struct trace	whole, split;
	size_t		i;

	decode(in, len, reqid, 0, &whole);
	decode(in, len, reqid, seed | 1, &split);
	CHECK(whole.failed == split.failed);
	CHECK(whole.err == split.err);
	CHECK(whole.ends == split.ends);
	CHECK(whole.app_status == split.app_status);
	CHECK(whole.values_end == split.values_end);
	for (i = 0; i < 3; i++) {
		CHECK(whole.ndata[i] == split.ndata[i]);
		CHECK(memcmp(whole.data[i], split.data[i],
		    whole.ndata[i]) == 0);
	}
	trace_release(&whole);
	trace_release(&split);
}

static void
check_head_views(const struct fcgi_cgi_head *h, const char *p, size_t n)
{
	size_t				 i;
	CHECK(h->ch_status >= 200 && h->ch_status <= 599);
	CHECK(h->ch_nhdrs <= FCGI_CGI_MAX_HEADERS);
	span_in(h->ch_reason, p, n);
	span_in(h->ch_location, p, n);
	const struct fcgi_cgi_hdr	*f;

	for (i = 0; i < h->ch_nhdrs; i++) {
		CHECK(h->ch_hdrs[i].name.len > 0);
		span_in(h->ch_hdrs[i].name, p, n);
		span_in(h->ch_hdrs[i].value, p, n);
	}
	f = fcgi_cgi_header_find(h, "x-sendfile");
	CHECK(f == NULL || (f >= h->ch_hdrs && f < h->ch_hdrs + h->ch_nhdrs));
	CHECK(f == NULL || f->name.len == 10);
}

/* The head parser on <in>, and on a prefix, which must agree. */
static void
check_head(const char *in, size_t len, size_t max_bytes)
{
	static struct fcgi_cgi_head	h;
	struct fcgi_head_limits		lim = { max_bytes, 16 };
	char				*p;
	ssize_t				r, r2;

	p = malloc(len + 1);
	CHECK(p != NULL);
	memcpy(p, in, len);
	r = fcgi_parse_cgi_head(p, len, &lim, &h);
	CHECK(r == FCGI_BAD || r == FCGI_AGAIN || (r > 0 && (size_t)r <= len));
	if (r > 0) {
		CHECK((size_t)r <= max_bytes);
		check_head_views(&h, p, (size_t)r);
		/* The head alone parses the same; one byte less is short. */
		CHECK(fcgi_parse_cgi_head(p, (size_t)r, &lim, &h) == r);
		r2 = fcgi_parse_cgi_head(p, (size_t)r - 1, &lim, &h);
		CHECK(r2 == FCGI_AGAIN);
	} else if (r == FCGI_AGAIN && len > 0) {
		r2 = fcgi_parse_cgi_head(p, len - 1, &lim, &h);
		CHECK(r2 == FCGI_AGAIN);
	}
	free(p);
}

static void
check_pairs(const char *in, size_t len)
{
	struct str	n, v;
	size_t		off = 0, pfx;
	ssize_t		r;

	while (off < len) {
		r = fcgi_parse_pair(in + off, len - off, &n, &v);
		if (r == FCGI_AGAIN)
			break;
		CHECK(r > 0 && (size_t)r <= len - off);
		span_in(n, in + off, (size_t)r);
		span_in(v, in + off, (size_t)r);
		/* Lengths under 128 may still use the 4-byte form. */
		pfx = (size_t)r - n.len - v.len;
		CHECK(pfx == 2 || pfx == 5 || pfx == 8);
		CHECK(pfx >= fcgi_pair_len(n.len, v.len) - n.len - v.len);
		off += (size_t)r;
	}
}

/*
 * Re-encodes pairs cut from <in> (at 0xff bytes) with the PARAMS writer into
 * a span of <room> bytes, then walks the records and parses the pairs back.
 */
static void
check_params(const char *in, size_t len, size_t room)
{
	struct fcgi_params	w;
	struct fcgi_header	h;
	struct str		name, value, pn, pv;
	char			*out, *content;
	const char		*p = in, *e = in + len, *cut;
	size_t			total, off = 0, clen = 0, added = 0, i;
	ssize_t			r;

	out = malloc(room + 1);
	content = malloc(room + 1);
	CHECK(out != NULL && content != NULL);
	fcgi_params_init(&w, out, room, 0x0101);
	while (p < e) {
		cut = memchr(p, 0xff, (size_t)(e - p));
		name = str_make(p, cut != NULL ? (size_t)(cut - p) :
		    (size_t)(e - p));
		value = str_make(p, (size_t)(e - p) / 2);
		if (fcgi_params_add(&w, name, value) == -1)
			break;
		added++;
		p = cut != NULL ? cut + 1 : e;
	}
	total = fcgi_params_end(&w, 1);
	CHECK(total <= room);
	CHECK(total > 0 || room < FCGI_HEADER_LEN);
	while (off < total) {
		CHECK(fcgi_parse_header(out + off, total - off, &h) == 8);
		CHECK(h.type == FCGI_PARAMS && h.reqid == 0x0101);
		CHECK(h.padding_len == fcgi_padding(h.content_len));
		off += 8;
		CHECK(off + h.content_len + h.padding_len <= total);
		memcpy(content + clen, out + off, h.content_len);
		clen += h.content_len;
		off += h.content_len + h.padding_len;
		if (h.content_len == 0)
			CHECK(off == total);
	}
	for (i = 0, off = 0; off < clen; i++) {
		r = fcgi_parse_pair(content + off, clen - off, &pn, &pv);
		CHECK(r > 0);
		off += (size_t)r;
	}
	CHECK(i == added);
	free(content);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*in = (const char *)data + 3;
	size_t		 len;
	uint16_t	 reqid;

	if (size < 3)
		return 0;
	len = size - 3;
	reqid = (uint16_t)(data[1] << 8 | data[2]);
	check_decoder(in, len, reqid, data[0]);
	check_head(in, len, 64 + (size_t)data[0] * 16);
	check_pairs(in, len);
	check_params(in, len, (size_t)(data[1] << 8 | data[2]) % 4096);
	return 0;
}
