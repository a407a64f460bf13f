/*
 * Unit tests for proxy/fcgi.c: exact request encodings, the response
 * decoder fed whole, byte by byte and cut at every offset, and the CGI head
 * parser. Inputs end right before a PROT_NONE page to catch over-reads.
 */
#include <sys/mman.h>
#include <sys/types.h>

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
#include "fcgi.h"

#define MIN_SZ(a, b)	((a) < (b) ? (a) : (b))

/* --- guard page helpers -------------------------------------------------- */

struct guard {
	char	*g_base;	/* start of the readable area */
	size_t	 g_size;	/* readable bytes; a PROT_NONE page follows */
	size_t	 g_map;		/* whole mapping */
};

static void
guard_init(struct guard *g, size_t size)
{
	size_t	pg = (size_t)sysconf(_SC_PAGESIZE);
	void	*m;

	g->g_size = (size + pg - 1) / pg * pg;
	if (g->g_size == 0)
		g->g_size = pg;
	g->g_map = g->g_size + pg;
	m = mmap(NULL, g->g_map, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	g->g_base = m;
	assert_int_equal(mprotect(g->g_base + g->g_size, pg, PROT_NONE), 0);
}

static void
guard_release(struct guard *g)
{
	munmap(g->g_base, g->g_map);
	g->g_base = NULL;
}

/* Copies <n> bytes so that they end exactly at the guard page. */
static const char *
guard_place(struct guard *g, const void *src, size_t n)
{
	char	*p;

	assert_true(n <= g->g_size);
	p = g->g_base + g->g_size - n;
	if (n > 0)
		memcpy(p, src, n);
	return p;
}

/* --- encoders ------------------------------------------------------------ */

static void
test_padding(void **state)
{
	(void)state;
	assert_int_equal(fcgi_padding(0), 0);
	assert_int_equal(fcgi_padding(1), 7);
	assert_int_equal(fcgi_padding(7), 1);
	assert_int_equal(fcgi_padding(8), 0);
	assert_int_equal(fcgi_padding(9), 7);
	assert_int_equal(fcgi_padding(65535), 1);
}

static void
test_header(void **state)
{
	static const unsigned char	want[] = {
		1, FCGI_STDIN, 0x12, 0x34, 0xff, 0xff, 0xff, 0
	};
	char				out[16];

	(void)state;
	assert_int_equal(fcgi_put_header(out, sizeof(out), FCGI_STDIN,
	    0x1234, 65535, 255), 8);
	assert_memory_equal(out, want, 8);
	assert_int_equal(fcgi_put_header(out, 7, FCGI_STDIN, 1, 0, 0), 0);
	assert_int_equal(fcgi_put_header(out, 8, FCGI_STDIN, 1, 65536, 0), 0);
	assert_int_equal(fcgi_put_header(out, 8, FCGI_STDIN, 1, 0, 256), 0);
}

static void
test_begin(void **state)
{
	static const unsigned char	keep[] = {
		1, 1, 0x01, 0x02, 0, 8, 0, 0,
		0, 1, 1, 0, 0, 0, 0, 0
	};
	static const unsigned char	close[] = {
		1, 1, 0, 1, 0, 8, 0, 0,
		0, 1, 0, 0, 0, 0, 0, 0
	};
	char				out[16];

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(fcgi_put_begin(out, sizeof(out), 0x0102, 1), 16);
	assert_memory_equal(out, keep, 16);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(fcgi_put_begin(out, sizeof(out), 1, 0), 16);
	assert_memory_equal(out, close, 16);
	assert_int_equal(fcgi_put_begin(out, 15, 1, 1), 0);
}

static void
test_abort(void **state)
{
	static const unsigned char	want[] = { 1, 2, 0, 7, 0, 0, 0, 0 };
	char				out[8];

	(void)state;
	assert_int_equal(fcgi_put_abort(out, sizeof(out), 7), 8);
	assert_memory_equal(out, want, 8);
	assert_int_equal(fcgi_put_abort(out, 7, 7), 0);
}

static void
test_pair_short(void **state)
{
	static const char	want[] = "\x04\x03HOST" "a.b";
	char			out[32];

	(void)state;
	assert_int_equal(fcgi_pair_len(4, 3), 9);
	assert_int_equal(fcgi_put_pair(out, sizeof(out), STR_LIT("HOST"),
	    STR_LIT("a.b")), 9);
	assert_memory_equal(out, want, 9);
	assert_int_equal(fcgi_put_pair(out, 8, STR_LIT("HOST"),
	    STR_LIT("a.b")), 0);
	/* Empty value: names only, as in GET_VALUES. */
	assert_int_equal(fcgi_put_pair(out, sizeof(out), STR_LIT("X"),
	    STR_NULL), 3);
	assert_memory_equal(out, "\x01\x00X", 3);
}

static void
test_pair_long(void **state)
{
	char		name[128], value[127], out[300];
	struct str	n, v;
	size_t		got;

	(void)state;
	memset(name, 'n', sizeof(name));
	memset(value, 'v', sizeof(value));
	/* 128 needs the 4-byte form with the high bit; 127 still fits 1. */
	assert_int_equal(fcgi_pair_len(128, 127), 4 + 1 + 128 + 127);
	got = fcgi_put_pair(out, sizeof(out), str_make(name, 128),
	    str_make(value, 127));
	assert_int_equal(got, 260);
	assert_memory_equal(out, "\x80\x00\x00\x80\x7f", 5);
	assert_memory_equal(out + 5, name, 128);
	assert_memory_equal(out + 133, value, 127);
	assert_int_equal(fcgi_parse_pair(out, got, &n, &v), (ssize_t)got);
	assert_int_equal(n.len, 128);
	assert_int_equal(v.len, 127);
	assert_ptr_equal(n.p, out + 5);
	/* Every cut of the pair is "need more". */
	for (size_t i = 0; i < got; i++)
		assert_int_equal(fcgi_parse_pair(out, i, &n, &v), FCGI_AGAIN);
	assert_int_equal(fcgi_pair_len((size_t)FCGI_MAX_PAIR_LEN + 1, 0), 0);
}

static void
test_params_exact(void **state)
{
	static const char		want[] =
	    "\x01\x04\x00\x05\x00\x1a\x06\x00"		/* PARAMS, 26 + 6 */
	    "\x0b\x03" "SERVER_PORT" "443"		/* 16 */
	    "\x06\x02" "METHOD" "GE"			/* 10 */
	    "\0\0\0\0\0\0"				/* padding */
	    "\x01\x04\x00\x05\x00\x00\x00\x00";		/* terminator */
	const struct fcgi_pair	kv[] = {
		{ STR_LIT("SERVER_PORT"), STR_LIT("443") },
		{ STR_LIT("METHOD"), STR_LIT("GE") },
	};
	char				out[64];
	size_t				n = sizeof(want) - 1;

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(n, 48);
	assert_int_equal(fcgi_put_params(out, sizeof(out), 5, kv, 2), n);
	assert_memory_equal(out, want, n);
	/* Exactly enough room works; one byte less does not. */
	assert_int_equal(fcgi_put_params(out, n, 5, kv, 2), n);
	assert_int_equal(fcgi_put_params(out, n - 1, 5, kv, 2), 0);
	/* No pairs at all: just the terminator. */
	assert_int_equal(fcgi_put_params(out, 8, 5, kv, 0), 8);
	assert_memory_equal(out, want + 40, 8);
}

/*
 * Walks a PARAMS stream in <p>/<n>: checks every record's framing, stores
 * the concatenated content in <content> and returns the record count
 * (terminator excluded).
 */
static size_t
walk_params(const char *p, size_t n, uint16_t reqid, char *content,
    size_t *clen)
{
	struct fcgi_header	h;
	size_t			off = 0, records = 0;

	*clen = 0;
	for (;;) {
		assert_int_equal(fcgi_parse_header(p + off, n - off, &h), 8);
		assert_int_equal(h.type, FCGI_PARAMS);
		assert_int_equal(h.reqid, reqid);
		assert_int_equal(h.padding_len, fcgi_padding(h.content_len));
		off += 8;
		if (h.content_len == 0)
			break;
		assert_true(off + h.content_len + h.padding_len <= n);
		memcpy(content + *clen, p + off, h.content_len);
		*clen += h.content_len;
		off += h.content_len;
		for (size_t i = 0; i < h.padding_len; i++)
			assert_int_equal(p[off + i], 0);
		off += h.padding_len;
		records++;
	}
	assert_int_equal(off, n);
	return records;
}

/*
 * Pairs of every length class into rooms of every size around the exact
 * need: the writer fills the room to the byte or refuses the whole, and
 * what it writes decodes to the same pairs, whichever path wrote them.
 */
static void
test_params_room_sweep(void **state)
{
	static char out[2048], content[2048], val[300];
	struct fcgi_pair kv[6];
	struct str name, v;
	size_t n, room, clen, off, i;

	(void)state;
	memset(val, 'v', sizeof(val));
	kv[0] = (struct fcgi_pair){ STR_LIT("A"), STR_LIT("") };
	kv[1] = (struct fcgi_pair){ STR_LIT("REQUEST_METHOD"), STR_LIT("GET") };
	kv[2] = (struct fcgi_pair){ STR_LIT("LONG"), str_make(val, 127) };
	kv[3] = (struct fcgi_pair){ STR_LIT("LONGER"), str_make(val, 128) };
	kv[4] = (struct fcgi_pair){ STR_LIT("HTTP_X"), str_make(val, 300) };
	kv[5] = (struct fcgi_pair){ STR_LIT("Z"), STR_LIT("z") };
	n = fcgi_put_params(out, sizeof(out), 3, kv, 6);
	assert_true(n > 0);
	for (room = 0; room < n + 40; room++) {
		memset(out, 0x55, sizeof(out));
		if (room < n) {
			assert_int_equal(fcgi_put_params(out, room, 3, kv, 6),
			    0);
			continue;
		}
		assert_int_equal(fcgi_put_params(out, room, 3, kv, 6), n);
		walk_params(out, n, 3, content, &clen);
		for (off = 0, i = 0; i < 6; i++) {
			assert_int_equal(fcgi_parse_pair(content + off,
			    clen - off, &name, &v),
			    (ssize_t)fcgi_pair_len(kv[i].name.len,
			    kv[i].value.len));
			assert_int_equal(name.len, kv[i].name.len);
			assert_memory_equal(name.p, kv[i].name.p, name.len);
			assert_int_equal(v.len, kv[i].value.len);
			if (v.len > 0)
				assert_memory_equal(v.p, kv[i].value.p, v.len);
			off += fcgi_pair_len(kv[i].name.len, kv[i].value.len);
		}
		assert_int_equal(off, clen);
	}
}

static void
test_params_huge_pair(void **state)
{
	size_t			vlen = 70000, room, n, clen;
	char			*value, *out, *content;
	struct fcgi_pair	kv[2];
	struct str		name, v;

	(void)state;
	value = malloc(vlen);
	room = vlen + 1024;
	out = malloc(room);
	content = malloc(room);
	assert_non_null(value);
	assert_non_null(out);
	assert_non_null(content);
	for (size_t i = 0; i < vlen; i++)
		value[i] = (char)('a' + i % 26);
	kv[0] = (struct fcgi_pair){ STR_LIT("BIG"), str_make(value, vlen) };
	kv[1] = (struct fcgi_pair){ STR_LIT("A"), STR_LIT("b") };
	n = fcgi_put_params(out, room, 9, kv, 2);
	assert_true(n > 0);
	/* The pair straddles a full 65535-byte record and a second one. */
	assert_int_equal(walk_params(out, n, 9, content, &clen), 2);
	assert_int_equal(clen, fcgi_pair_len(3, vlen) + fcgi_pair_len(1, 1));
	assert_int_equal((unsigned char)out[4], 0xff);
	assert_int_equal((unsigned char)out[5], 0xff);
	assert_int_equal(out[6], 1);
	assert_int_equal(fcgi_parse_pair(content, clen, &name, &v),
	    (ssize_t)fcgi_pair_len(3, vlen));
	assert_true(str_eq(name, "BIG"));
	assert_int_equal(v.len, vlen);
	assert_memory_equal(v.p, value, vlen);
	/* Exact room boundary, with the split in play. */
	assert_int_equal(fcgi_put_params(out, n, 9, kv, 2), n);
	assert_int_equal(fcgi_put_params(out, n - 1, 9, kv, 2), 0);
	/* 8 + 65535 + 1 + 8 + 4473 + 7 + 8 */
	assert_int_equal(fcgi_params_need(3, vlen), 70040);
	assert_int_equal(fcgi_put_params(out, 70040, 9, kv, 1), 70040);
	assert_int_equal(fcgi_put_params(out, 70039, 9, kv, 1), 0);
	assert_int_equal(fcgi_params_need(4, 3), 8 + 9 + 7 + 8);
	free(content);
	free(value);
	free(out);
}

static void
test_params_many(void **state)
{
	struct fcgi_params	w;
	char			name[32], val[64], *out, *content;
	size_t			room = 300000, n, clen, off, i, count = 4000;
	struct str		pn, pv;
	ssize_t			r;

	(void)state;
	out = malloc(room);
	content = malloc(room);
	assert_non_null(out);
	assert_non_null(content);
	fcgi_params_init(&w, out, room, 3);
	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "HTTP_X_%zu", i);
		snprintf(val, sizeof(val), "value-%zu-%0*d", i, (int)(i % 50),
		    0);
		assert_int_equal(fcgi_params_add(&w, str_make(name,
		    strlen(name)), str_make(val, strlen(val))), 0);
	}
	n = fcgi_params_end(&w, 1);
	assert_true(n > 0);
	assert_true(walk_params(out, n, 3, content, &clen) >= 2);
	for (i = 0, off = 0; off < clen; i++) {
		r = fcgi_parse_pair(content + off, clen - off, &pn, &pv);
		assert_true(r > 0);
		snprintf(name, sizeof(name), "HTTP_X_%zu", i);
		assert_true(str_eq(pn, name));
		off += (size_t)r;
	}
	assert_int_equal(i, count);
	free(content);
	free(out);
}

static void
test_params_full(void **state)
{
	struct fcgi_params	w;
	char			out[40];
	size_t			len;

	(void)state;
	fcgi_params_init(&w, out, sizeof(out) - 1, 1);
	/* 8 header + 12 pair + 4 pad + 8 terminator = 32 */
	assert_int_equal(fcgi_params_add(&w, STR_LIT("ABCDE"),
	    STR_LIT("12345")), 0);
	len = w.pw_len;
	/* Needs 8 + 4 + 8 more bytes, 19 are left: nothing written. */
	assert_int_equal(fcgi_params_add(&w, STR_LIT("XYZ"),
	    STR_LIT("abc")), -1);
	assert_int_equal(w.pw_len, len);
	/* Flush without terminator, as a caller that sends and resumes. */
	assert_int_equal(fcgi_params_end(&w, 0), 24);
	fcgi_params_init(&w, out, sizeof(out) - 1, 1);
	assert_int_equal(fcgi_params_add(&w, STR_LIT("XYZ"),
	    STR_LIT("abc")), 0);
	assert_int_equal(fcgi_params_end(&w, 1), 8 + 8 + 8);
	/* Not even the terminator fits. */
	fcgi_params_init(&w, out, 7, 1);
	assert_int_equal(fcgi_params_add(&w, STR_LIT("A"), STR_LIT("")), -1);
	assert_int_equal(fcgi_params_end(&w, 1), 0);
}

static void
test_get_values(void **state)
{
	char			out[64];
	struct fcgi_header	h;
	struct str		n, v;
	size_t			off = 8;
	ssize_t			r;
	int			i;

	(void)state;
	assert_int_equal(fcgi_put_get_values(out, sizeof(out)), 56);
	assert_int_equal(fcgi_parse_header(out, 56, &h), 8);
	assert_int_equal(h.type, FCGI_GET_VALUES);
	assert_int_equal(h.reqid, 0);
	assert_int_equal(h.content_len, 48);
	assert_int_equal(h.padding_len, 0);
	for (i = 0; i < 3; i++) {
		r = fcgi_parse_pair(out + off, 56 - off, &n, &v);
		assert_true(r > 0);
		assert_int_equal(v.len, 0);
		off += (size_t)r;
	}
	assert_int_equal(off, 56);
	assert_true(str_eq(n, FCGI_MPXS_CONNS));
	assert_int_equal(fcgi_put_get_values(out, 55), 0);
}

static void
test_stdin(void **state)
{
	static const unsigned char	hdr[] = {
		1, 5, 0, 2, 0x01, 0x2c, 4, 0
	};
	static const unsigned char	end[] = { 1, 5, 0, 2, 0, 0, 0, 0 };
	char				out[64], data[100];
	size_t				used;

	(void)state;
	memset(data, 'd', sizeof(data));
	assert_int_equal(fcgi_put_stdin_header(out, 8, 2, 300), 8);
	assert_memory_equal(out, hdr, 8);
	assert_int_equal(fcgi_put_stdin_header(out, 8, 2, 0), 8);
	assert_memory_equal(out, end, 8);
	assert_int_equal(fcgi_put_stdin_header(out, 8, 2, 65536), 0);
	/* Copy variant: 5 bytes + 3 padding. */
	assert_int_equal(fcgi_put_stdin(out, sizeof(out), 2, data, 5, &used),
	    16);
	assert_int_equal(used, 5);
	assert_int_equal(out[6], 3);
	assert_memory_equal(out + 13, fcgi_zero_pad, 3);
	/* Room limits the payload to an aligned 48 bytes. */
	assert_int_equal(fcgi_put_stdin(out, 63, 2, data, 100, &used), 56);
	assert_int_equal(used, 48);
	assert_int_equal(out[6], 0);
	assert_int_equal(fcgi_put_stdin(out, 15, 2, data, 100, &used), 0);
	assert_int_equal(used, 0);
	assert_int_equal(fcgi_put_stdin(out, 64, 2, data, 0, &used), 0);
}

/* --- decoder ------------------------------------------------------------- */

struct collect {
	char		out[8192];
	size_t		nout;
	char		err[1024];
	size_t		nerr;
	char		values[256];
	size_t		nvalues;
	int		values_end;
	int		unknown;
	int		ends;
	uint32_t	app_status;
	uint8_t		proto_status;
	enum fcgi_err	error;
	int		failed;
};

static size_t
put_record(char *p, uint8_t type, uint16_t reqid, const char *data,
    size_t len, size_t pad)
{
	assert_int_equal(fcgi_put_header(p, 8, type, reqid, len, pad), 8);
	if (len > 0)
		memcpy(p + 8, data, len);
	memset(p + 8 + len, 0x5a, pad);	/* padding content is not zero */
	return 8 + len + pad;
}

static size_t
put_end(char *p, uint16_t reqid, uint32_t app, uint8_t proto, size_t pad)
{
	unsigned char	body[8] = { 0 };

	body[0] = app >> 24;
	body[1] = app >> 16;
	body[2] = app >> 8;
	body[3] = app;
	body[4] = proto;
	return put_record(p, FCGI_END_REQUEST, reqid, (char *)body, 8, pad);
}

/* Runs the decoder over one piece, checking the span invariants. */
static void
feed(struct fcgi_dec *d, const char *p, size_t n, struct collect *c)
{
	struct fcgi_event	ev;
	size_t			off = 0;
	ssize_t			r;

	for (;;) {
		r = fcgi_dec_run(d, p + off, n - off, &ev);
		if (r == FCGI_BAD) {
			assert_int_equal(ev.ev_type, FCGI_EV_ERROR);
			c->error = ev.ev_err;
			c->failed = 1;
			return;
		}
		assert_true(r >= 0 && (size_t)r <= n - off);
		if (ev.ev_data.len > 0) {
			assert_true(ev.ev_data.p >= p + off);
			assert_true(ev.ev_data.p + ev.ev_data.len <=
			    p + off + (size_t)r);
		}
		off += (size_t)r;
		switch (ev.ev_type) {
		case FCGI_EV_NONE:
			assert_int_equal(off, n);
			return;
		case FCGI_EV_STDOUT:
			assert_true(c->nout + ev.ev_data.len <= sizeof(c->out));
			memcpy(c->out + c->nout, ev.ev_data.p, ev.ev_data.len);
			c->nout += ev.ev_data.len;
			break;
		case FCGI_EV_STDERR:
			assert_true(c->nerr + ev.ev_data.len <= sizeof(c->err));
			memcpy(c->err + c->nerr, ev.ev_data.p, ev.ev_data.len);
			c->nerr += ev.ev_data.len;
			break;
		case FCGI_EV_VALUES:
			assert_true(c->nvalues + ev.ev_data.len <=
			    sizeof(c->values));
			memcpy(c->values + c->nvalues, ev.ev_data.p,
			    ev.ev_data.len);
			c->nvalues += ev.ev_data.len;
			break;
		case FCGI_EV_VALUES_END:
			c->values_end++;
			break;
		case FCGI_EV_UNKNOWN:
			c->unknown = ev.ev_unknown_type;
			break;
		case FCGI_EV_END:
			c->ends++;
			c->app_status = ev.ev_app_status;
			c->proto_status = ev.ev_proto_status;
			break;
		default:
			fail_msg("unexpected event %s",
			    fcgi_ev_str(ev.ev_type));
		}
	}
}

/*
 * Decodes <in> in pieces: <first> bytes (if non-zero), then <step>-byte
 * pieces; every piece ends on a guard page.
 */
static void
decode(const char *in, size_t len, uint16_t reqid, size_t step,
    size_t first, struct collect *c)
{
	struct fcgi_dec	d;
	struct guard	g;
	size_t		off = 0, n;

	memset(c, 0, sizeof(*c));
	guard_init(&g, len);
	fcgi_dec_init(&d, reqid);
	while (off < len && !c->failed) {
		n = off == 0 && first > 0 ? first : step;
		n = MIN_SZ(n, len - off);
		feed(&d, guard_place(&g, in + off, n), n, c);
		off += n;
	}
	if (!c->failed)
		feed(&d, guard_place(&g, "", 0), 0, c);
	guard_release(&g);
}

static const char body_text[] =
    "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n"
    "{\"data\":[1,2,3],\"meta\":{\"page\":1}}";

/* A response: STDOUT in records with assorted paddings, STDERR, END. */
static size_t
build_response(char *p, uint16_t reqid, const char **stdout_data,
    size_t *stdout_len)
{
	size_t	off = 0, n = sizeof(body_text) - 1, a = 5, b = 17;

	*stdout_data = body_text;
	*stdout_len = n;
	off += put_record(p + off, FCGI_STDOUT, reqid, body_text, a, 3);
	off += put_record(p + off, FCGI_STDERR, reqid, "warn: x\n", 8, 0);
	off += put_record(p + off, FCGI_STDOUT, reqid, body_text + a, b,
	    255);
	off += put_record(p + off, FCGI_STDOUT, reqid, NULL, 0, 7);
	off += put_record(p + off, FCGI_STDOUT, reqid, body_text + a + b,
	    n - a - b, fcgi_padding(n - a - b));
	off += put_record(p + off, FCGI_STDERR, reqid, "oops", 4, 4);
	off += put_record(p + off, FCGI_STDOUT, reqid, NULL, 0, 0);
	off += put_record(p + off, FCGI_STDERR, reqid, NULL, 0, 0);
	off += put_end(p + off, reqid, 0x01020304, FCGI_REQUEST_COMPLETE, 2);
	return off;
}

static void
check_response(const struct collect *c, const char *want, size_t n)
{
	assert_false(c->failed);
	assert_int_equal(c->nout, n);
	assert_memory_equal(c->out, want, n);
	assert_int_equal(c->nerr, 12);
	assert_memory_equal(c->err, "warn: x\noops", 12);
	assert_int_equal(c->ends, 1);
	assert_int_equal(c->app_status, 0x01020304);
	assert_int_equal(c->proto_status, FCGI_REQUEST_COMPLETE);
}

static void
test_dec_whole_and_bytes(void **state)
{
	char		stream[2048];
	const char	*want;
	size_t		len, n;
	struct collect	*c;

	(void)state;
	c = malloc(sizeof(*c));
	assert_non_null(c);
	len = build_response(stream, 42, &want, &n);
	decode(stream, len, 42, len, 0, c);
	check_response(c, want, n);
	decode(stream, len, 42, 1, 0, c);
	check_response(c, want, n);
	decode(stream, len, 42, 3, 0, c);
	check_response(c, want, n);
	free(c);
}

static void
test_dec_every_cut(void **state)
{
	char		stream[2048];
	const char	*want;
	size_t		len, n, cut;
	struct collect	*c;

	(void)state;
	c = malloc(sizeof(*c));
	assert_non_null(c);
	len = build_response(stream, 7, &want, &n);
	for (cut = 1; cut < len; cut++) {
		decode(stream, len, 7, len, cut, c);
		check_response(c, want, n);
	}
	free(c);
}

static void
test_dec_management(void **state)
{
	char		stream[512], values[64];
	size_t		len = 0, vlen;
	struct collect	*c;
	struct str	name, value;
	unsigned char	ut[8] = { 77, 0, 0, 0, 0, 0, 0, 0 };

	(void)state;
	c = malloc(sizeof(*c));
	assert_non_null(c);
	vlen = fcgi_put_pair(values, sizeof(values), STR_LIT(FCGI_MAX_CONNS),
	    STR_LIT("10"));
	len += put_record(stream, FCGI_GET_VALUES_RESULT, 0, values, vlen,
	    fcgi_padding(vlen));
	len += put_record(stream + len, FCGI_UNKNOWN_TYPE, 0, (char *)ut, 8,
	    0);
	len += put_end(stream + len, 1, 0, FCGI_OVERLOADED, 0);
	for (size_t step = 1; step <= len; step++) {
		decode(stream, len, 1, step, 0, c);
		assert_false(c->failed);
		assert_int_equal(c->values_end, 1);
		assert_int_equal(c->nvalues, vlen);
		assert_int_equal(fcgi_parse_pair(c->values, c->nvalues, &name,
		    &value), (ssize_t)vlen);
		assert_true(str_eq(name, FCGI_MAX_CONNS));
		assert_true(str_eq(value, "10"));
		assert_int_equal(c->unknown, 77);
		assert_int_equal(c->ends, 1);
		assert_int_equal(c->proto_status, FCGI_OVERLOADED);
	}
	free(c);
}

/* Decodes <in> whole and byte by byte; both must fail with <err>. */
static void
expect_error(const char *in, size_t len, enum fcgi_err err)
{
	struct collect	*c;
	size_t		step;

	c = malloc(sizeof(*c));
	assert_non_null(c);
	for (step = 1; step <= len; step += len - 1) {
		decode(in, len, 1, step, 0, c);
		assert_true(c->failed);
		assert_int_equal(c->error, err);
		if (len == 1)
			break;
	}
	free(c);
}

static void
test_dec_errors(void **state)
{
	char			s[256];
	size_t			n;
	struct fcgi_dec		d;
	struct fcgi_event	ev;

	(void)state;
	/* Version 2 and plain garbage fail at the first byte. */
	n = put_record(s, FCGI_STDOUT, 1, "x", 1, 0);
	s[0] = 2;
	expect_error(s, n, FCGI_ERR_VERSION);
	expect_error("HTTP/1.1 200 OK\r\n", 17, FCGI_ERR_VERSION);
	/* Wrong request id, on data and on END. */
	n = put_record(s, FCGI_STDOUT, 2, "x", 1, 0);
	expect_error(s, n, FCGI_ERR_REQID);
	n = put_end(s, 3, 0, 0, 0);
	expect_error(s, n, FCGI_ERR_REQID);
	/* Management records must carry request id 0. */
	n = put_record(s, FCGI_GET_VALUES_RESULT, 1, "", 0, 0);
	expect_error(s, n, FCGI_ERR_REQID);
	/* Truncated END_REQUEST content. */
	n = put_record(s, FCGI_END_REQUEST, 1, "\0\0\0\0", 4, 0);
	expect_error(s, n, FCGI_ERR_LENGTH);
	n = put_record(s, FCGI_UNKNOWN_TYPE, 0, "\0\0\0\0\0\0\0\0\0", 9, 0);
	expect_error(s, n, FCGI_ERR_LENGTH);
	/* Types a backend never sends, and undefined ones. */
	n = put_record(s, FCGI_BEGIN_REQUEST, 1, "\0\0\0\0\0\0\0\0", 8, 0);
	expect_error(s, n, FCGI_ERR_TYPE);
	n = put_record(s, FCGI_STDIN, 1, "", 0, 0);
	expect_error(s, n, FCGI_ERR_TYPE);
	n = put_record(s, 0, 1, "", 0, 0);
	expect_error(s, n, FCGI_ERR_TYPE);
	n = put_record(s, 200, 1, "", 0, 0);
	expect_error(s, n, FCGI_ERR_TYPE);
	/* A record after END_REQUEST. */
	n = put_end(s, 1, 0, 0, 0);
	n += put_record(s + n, FCGI_STDOUT, 1, "late", 4, 4);
	expect_error(s, n, FCGI_ERR_AFTER_END);
	/* The error is sticky. */
	fcgi_dec_init(&d, 1);
	assert_int_equal(fcgi_dec_run(&d, "\x07", 1, &ev), FCGI_BAD);
	assert_int_equal(ev.ev_err, FCGI_ERR_VERSION);
	assert_int_equal(fcgi_dec_run(&d, "\x01", 1, &ev), FCGI_BAD);
	assert_int_equal(ev.ev_type, FCGI_EV_ERROR);
	assert_int_equal(ev.ev_err, FCGI_ERR_VERSION);
	assert_string_equal(fcgi_err_str(FCGI_ERR_AFTER_END),
	    "record after END_REQUEST");
	assert_string_equal(fcgi_dec_state_str(FCGI_DEC_ERROR), "error");
}

static void
test_dec_keepalive(void **state)
{
	char			s[128];
	size_t			n;
	struct fcgi_dec		d;
	struct fcgi_event	ev;

	(void)state;
	n = put_end(s, 1, 0, 0, 0);
	n += put_record(s + n, FCGI_STDOUT, 2, "next", 4, 4);
	fcgi_dec_init(&d, 1);
	assert_int_equal(fcgi_dec_run(&d, s, n, &ev), 16);
	assert_int_equal(ev.ev_type, FCGI_EV_END);
	/* Same connection, next request: the caller re-inits. */
	fcgi_dec_init(&d, 2);
	assert_int_equal(fcgi_dec_run(&d, s + 16, n - 16, &ev), 12);
	assert_int_equal(ev.ev_type, FCGI_EV_STDOUT);
	assert_ptr_equal(ev.ev_data.p, s + 24);
	assert_int_equal(ev.ev_data.len, 4);
	assert_int_equal(fcgi_dec_run(&d, s + 28, n - 28, &ev), 4);
	assert_int_equal(ev.ev_type, FCGI_EV_NONE);
	assert_int_equal(fcgi_parse_header(s, 0, &(struct fcgi_header){ 0 }),
	    FCGI_AGAIN);
}

/* --- CGI head ------------------------------------------------------------ */

static const struct fcgi_head_limits	lim = { 4096, 8 };

/*
 * The mapping behind the last parsed head: the views in a fcgi_cgi_head
 * point into it, so it lives until the next parse or head_done().
 */
static struct guard	head_guard;

static void
head_done(void)
{
	if (head_guard.g_base != NULL)
		guard_release(&head_guard);
}

/* Parses <text> whole under <l>, ending on a guard page. */
static ssize_t
head_lim(const char *text, const struct fcgi_head_limits *l,
    struct fcgi_cgi_head *h)
{
	size_t	n = strlen(text);

	head_done();
	guard_init(&head_guard, n);
	return fcgi_parse_cgi_head(guard_place(&head_guard, text, n), n, l,
	    h);
}

static int
head_teardown(void **state)
{
	(void)state;
	head_done();
	return 0;
}

static ssize_t
head(const char *text, struct fcgi_cgi_head *h)
{
	return head_lim(text, &lim, h);
}

static void
test_cgi_status(void **state)
{
	static struct fcgi_cgi_head	h;

	(void)state;
	assert_int_equal(head("Status: 404 Not Found\r\n"
	    "Content-Type: text/plain\r\n\r\nbody", &h), 51);
	assert_int_equal(h.ch_status, 404);
	assert_int_equal(h.ch_reason.len, 9);
	assert_memory_equal(h.ch_reason.p, "Not Found", 9);
	assert_int_equal(h.ch_nhdrs, 1);
	assert_true(str_eq(h.ch_hdrs[0].name, "Content-Type"));
	assert_true(str_eq(h.ch_hdrs[0].value, "text/plain"));
	assert_int_equal(h.ch_content_length, -1);
	assert_int_equal(head("Status: 201\r\n\r\n", &h), 15);
	assert_int_equal(h.ch_status, 201);
	assert_int_equal(h.ch_reason.len, 0);
	assert_int_equal(head("status:503   Busy  \n\n", &h), 21);
	assert_int_equal(h.ch_status, 503);
	assert_true(str_eq(h.ch_reason, "Busy"));
	assert_int_equal(head("Content-Type: a/b\n\n", &h), 19);
	assert_int_equal(h.ch_status, 200);
	assert_int_equal(head("Status: 20\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Status: 2000\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Status: 20x OK\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Status: 099\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Status: 100 Continue\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Status: 600\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Status: 404Not Found\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Status:\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Status: 200\nStatus: 200\n\n", &h), FCGI_BAD);
}

static void
test_cgi_location(void **state)
{
	static struct fcgi_cgi_head	h;

	(void)state;
	assert_int_equal(head("Location: https://example.org/x\r\n\r\n", &h),
	    35);
	assert_int_equal(h.ch_status, 302);
	assert_true(str_eq(h.ch_location, "https://example.org/x"));
	assert_int_equal(h.ch_nhdrs, 0);
	assert_null(fcgi_cgi_header_find(&h, "location"));
	assert_true(head("Status: 301 Moved\r\nLocation: http://a/\r\n\r\n",
	    &h) > 0);
	assert_int_equal(h.ch_status, 301);
	assert_true(head("Location: /local\n\n", &h) > 0);
	assert_int_equal(h.ch_status, 302);
	assert_int_equal(head("Location:\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Location: http://a/\nLocation: http://b/\n\n",
	    &h), FCGI_BAD);
}

static void
test_cgi_line_endings(void **state)
{
	static struct fcgi_cgi_head	h;
	const struct fcgi_cgi_hdr	*x;

	(void)state;
	assert_int_equal(head("A: 1\nB: 2\r\nC:3\n\r\nrest", &h), 17);
	assert_int_equal(h.ch_nhdrs, 3);
	assert_true(str_eq(h.ch_hdrs[2].name, "C"));
	assert_true(str_eq(h.ch_hdrs[2].value, "3"));
	assert_int_equal(head("\r\nbody", &h), 2);
	assert_int_equal(head("\nbody", &h), 1);
	assert_int_equal(h.ch_status, 200);
	assert_int_equal(head("X-Accel-Redirect: /files/a.pdf\n"
	    "X-Empty:\n\n", &h), 41);
	x = fcgi_cgi_header_find(&h, "x-accel-REDIRECT");
	assert_non_null(x);
	assert_true(str_eq(x->value, "/files/a.pdf"));
	x = fcgi_cgi_header_find(&h, "X-Empty");
	assert_non_null(x);
	assert_int_equal(x->value.len, 0);
	assert_null(fcgi_cgi_header_find(&h, "X-Sendfile"));
	assert_null(fcgi_cgi_header_find(&h, "X-Accel-Redirec"));
}

static void
test_cgi_content_length(void **state)
{
	static struct fcgi_cgi_head	h;

	(void)state;
	assert_true(head("Content-Length: 1234\n\n", &h) > 0);
	assert_int_equal(h.ch_content_length, 1234);
	assert_int_equal(h.ch_nhdrs, 0);
	assert_true(head("Content-Length: 0\nContent-Length: 0\n\n", &h) > 0);
	assert_int_equal(h.ch_content_length, 0);
	assert_true(head("Content-Length: 9223372036854775807\n\n", &h) > 0);
	assert_int_equal(h.ch_content_length, INT64_MAX);
	assert_int_equal(head("Content-Length: 9223372036854775808\n\n", &h),
	    FCGI_BAD);
	assert_int_equal(head("Content-Length: 5\nContent-Length: 6\n\n", &h),
	    FCGI_BAD);
	assert_int_equal(head("Content-Length: +5\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Content-Length: -1\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Content-Length: 5 5\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Content-Length: 5,5\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Content-Length:\n\n", &h), FCGI_BAD);
	assert_int_equal(head("Content-Length: 0x10\n\n", &h), FCGI_BAD);
}

static void
test_cgi_malformed(void **state)
{
	static struct fcgi_cgi_head	h;

	(void)state;
	assert_int_equal(head("A: b\x01" "c\n\n", &h), FCGI_BAD);
	assert_int_equal(head("A: b\x7f\n\n", &h), FCGI_BAD);
	assert_int_equal(head("A: b\rc\n\n", &h), FCGI_BAD);
	assert_int_equal(head("A: b\r\r\n\r\n", &h), FCGI_BAD);
	assert_int_equal(head("A\x01: b\n\n", &h), FCGI_BAD);
	assert_int_equal(head("A: b\n folded\n\n", &h), FCGI_BAD);
	assert_int_equal(head("A: b\n\tfolded\n\n", &h), FCGI_BAD);
	assert_int_equal(head("A : b\n\n", &h), FCGI_BAD);
	assert_int_equal(head(": b\n\n", &h), FCGI_BAD);
	assert_int_equal(head("No colon\n\n", &h), FCGI_BAD);
	assert_int_equal(head("HTTP/1.1 200 OK\r\n\r\n", &h), FCGI_BAD);
	assert_int_equal(head("A(b): c\n\n", &h), FCGI_BAD);
	/* NUL inside a value. */
	{
		static const char	nul[] = "A: b\0c\n\n";
		struct guard		g;

		guard_init(&g, sizeof(nul) - 1);
		assert_int_equal(fcgi_parse_cgi_head(guard_place(&g, nul,
		    sizeof(nul) - 1), sizeof(nul) - 1, &lim, &h), FCGI_BAD);
		guard_release(&g);
	}
	/* obs-text and HTAB are fine. */
	assert_true(head("A: caf\xc3\xa9\tx\n\n", &h) > 0);
}

static void
test_cgi_limits(void **state)
{
	static struct fcgi_cgi_head	h;
	struct fcgi_head_limits		small = { 20, 2 };
	char				big[5000];

	(void)state;
	assert_true(head("A: 1\nB: 2\nC: 3\nD: 4\nE: 5\nF: 6\nG: 7\nH: 8\n\n",
	    &h) > 0);
	assert_int_equal(h.ch_nhdrs, 8);
	assert_int_equal(head("A: 1\nB: 2\nC: 3\nD: 4\nE: 5\nF: 6\nG: 7\nH: 8\n"
	    "I: 9\n\n", &h), FCGI_BAD);
	/* Specials do not count against the header limit. */
	assert_true(head_lim("Status: 200\nA: 1\nB: 2\n\n", &(struct
	    fcgi_head_limits){ 100, 2 }, &h) > 0);
	/* 20 bytes is the whole budget, blank line included. */
	assert_int_equal(head_lim("A: 12345678901234\n\n", &small, &h), 19);
	assert_int_equal(head_lim("A: 123456789012345\n\n", &small, &h), 20);
	assert_int_equal(head_lim("A: 1234567890123456\n\n", &small, &h),
	    FCGI_BAD);
	assert_int_equal(head_lim("A: 1234567890123456", &small, &h),
	    FCGI_AGAIN);
	assert_int_equal(head_lim("A: 12345678901234567", &small, &h),
	    FCGI_BAD);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "X: ", 3);
	assert_int_equal(head(big, &h), FCGI_BAD);
}

static void
test_cgi_incremental(void **state)
{
	static const char	text[] = "Status: 404 Not Found\r\n"
	    "Content-Type: application/json\n"
	    "Content-Length: 2\r\n"
	    "X-Sendfile: /srv/a\r\n"
	    "\r\n{}";
	static struct fcgi_cgi_head	h;
	size_t				n = sizeof(text) - 1, headlen = n - 2;
	struct guard			g;
	ssize_t				r;

	(void)state;
	guard_init(&g, n);
	for (size_t i = 0; i <= n; i++) {
		r = fcgi_parse_cgi_head(guard_place(&g, text, i), i, &lim, &h);
		if (i < headlen) {
			assert_int_equal(r, FCGI_AGAIN);
			continue;
		}
		assert_int_equal(r, (ssize_t)headlen);
		assert_int_equal(h.ch_status, 404);
		assert_int_equal(h.ch_content_length, 2);
		assert_int_equal(h.ch_nhdrs, 2);
		assert_non_null(fcgi_cgi_header_find(&h, "x-sendfile"));
	}
	guard_release(&g);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_begin),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_pair_short),
		cmocka_unit_test(test_pair_long),
		cmocka_unit_test(test_params_exact),
		cmocka_unit_test(test_params_room_sweep),
		cmocka_unit_test(test_params_huge_pair),
		cmocka_unit_test(test_params_many),
		cmocka_unit_test(test_params_full),
		cmocka_unit_test(test_get_values),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_dec_whole_and_bytes),
		cmocka_unit_test(test_dec_every_cut),
		cmocka_unit_test(test_dec_management),
		cmocka_unit_test(test_dec_errors),
		cmocka_unit_test(test_dec_keepalive),
		cmocka_unit_test_teardown(test_cgi_status, head_teardown),
		cmocka_unit_test_teardown(test_cgi_location, head_teardown),
		cmocka_unit_test_teardown(test_cgi_line_endings,
		    head_teardown),
		cmocka_unit_test_teardown(test_cgi_content_length,
		    head_teardown),
		cmocka_unit_test_teardown(test_cgi_malformed, head_teardown),
		cmocka_unit_test_teardown(test_cgi_limits, head_teardown),
		cmocka_unit_test(test_cgi_incremental),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
