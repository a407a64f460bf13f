/*
 * Unit tests of the multipart/form-data parser (shared/mpart.c).
 *
 * Every body is fed whole, one byte per piece and cut in two at every
 * offset, the way a caller does it: unconsumed bytes are kept and the next
 * piece is appended. Before each call the unconsumed bytes are copied so
 * that they end right before a PROT_NONE page, so a read past <len> faults.
 * Each way must give the same event log (DATA spans concatenated) and the
 * same status.
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

#include "mpart.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define GUARD_SIZE	(64 * 1024)
#define LOG_MAX		(64 * 1024)
#define BND		"----elpBoundary7MA4YWxkTrZu0gW"

#include "guard.h"

static const struct mpart_limits lim_std = {
	.lim_head = 256,
	.lim_headers = 4,
	.lim_parts = 3,
};

/* What one way of feeding a body gave. */
struct run {
	char	log[LOG_MAX];
	size_t	n;
	int	end;		/* END seen */
	int	status;		/* status after MPART_BAD, else 0 */
};

static void
log_add(struct run *r, const void *p, size_t n)
{
	assert_true(n <= LOG_MAX - r->n);
	if (n == 0)
		return;
	memcpy(r->log + r->n, p, n);
	r->n += n;
}

static void
log_str(struct run *r, const char *s)
{
	log_add(r, s, strlen(s));
}

static void
log_param(struct run *r, const char *tag, struct str v)
{
	char	tmp[256];

	assert_true(mpart_copy(v, tmp, sizeof(tmp)) >= 0);
	log_str(r, tag);
	log_str(r, tmp);
}

static void
check_view(struct str v, const char *p, ssize_t n)
{
	if (v.len == 0)
		return;
	assert_true(v.p >= p && v.p + v.len <= p + n);
}

static void
log_event(struct run *r, const struct mpart_event *ev, const char *p,
    ssize_t n)
{
	switch (ev->type) {
	case MPART_EV_PART_BEGIN:
		check_view(ev->name, p, n);
		check_view(ev->filename, p, n);
		check_view(ev->content_type, p, n);
		log_param(r, "<B name=", ev->name);
		if (ev->flags & MPART_F_FILENAME)
			log_param(r, " fn=", ev->filename);
		log_str(r, " ct=");
		log_add(r, ev->content_type.p, ev->content_type.len);
		log_str(r, ">");
		break;
	case MPART_EV_DATA:
		assert_true(ev->data.p == p && (ssize_t)ev->data.len == n);
		assert_true(n > 0);
		log_add(r, ev->data.p, ev->data.len);
		break;
	case MPART_EV_PART_END:
		assert_int_equal(n, 0);
		log_str(r, "<E>");
		break;
	case MPART_EV_END:
		assert_true(n > 0);
		log_str(r, "<Z>");
		r->end++;
		break;
	default:
		assert_int_equal(ev->type, MPART_EV_NONE);
		assert_true(n > 0);
		break;
	}
}

/*
 * Feeds <in> as a first piece of <first> bytes, then pieces of <step>
 * bytes, into a fresh parser with <lim>; fills <r>.
 */
static void
feed(const char *in, size_t len, size_t first, size_t step,
    const struct mpart_limits *lim, struct run *r)
{
	struct mpart		mp;
	struct mpart_event	ev;
	size_t			start = 0, fed, calls = 0;
	ssize_t			got;
	char			*p;

	memset(r, 0, sizeof(*r));
	assert_int_equal(mpart_init(&mp, BND, lim), 0);
	fed = first < len ? first : len;
	for (;;) {
		assert_true(++calls < 4 * len + 100);
		p = at_guard(in + start, fed - start);
		got = mpart_run(&mp, p, fed - start, &ev);
		if (got == MPART_BAD) {
			assert_true(ev.status == 400 || ev.status == 413 ||
			    ev.status == 431);
			r->status = ev.status;
			/* Sticky. */
			assert_int_equal(mpart_run(&mp, p, fed - start, &ev),
			    MPART_BAD);
			assert_int_equal(ev.status, r->status);
			return;
		}
		if (got == MPART_AGAIN) {
			assert_int_equal(ev.type, MPART_EV_NONE);
			if (fed == len)
				return;
			fed += step < len - fed ? step : len - fed;
			continue;
		}
		assert_true((size_t)got <= fed - start);
		log_event(r, &ev, p, got);
		start += (size_t)got;
	}
}

/*
 * Feeds <in> whole, byte by byte and cut at every offset; every way must
 * give what the whole feed gave, which is returned in <whole>.
 */
static void
feed_all(const char *in, size_t len, const struct mpart_limits *lim,
    struct run *whole)
{
	struct run	*r;
	size_t		 k;

	r = malloc(sizeof(*r));
	assert_non_null(r);
	feed(in, len, len, len, lim, whole);
	feed(in, len, 1, 1, lim, r);
	assert_int_equal(r->status, whole->status);
	assert_int_equal(r->end, whole->end);
	assert_int_equal(r->n, whole->n);
	assert_memory_equal(r->log, whole->log, r->n);
	for (k = 0; k <= len; k++) {
		feed(in, len, k, len, lim, r);
		assert_int_equal(r->status, whole->status);
		assert_int_equal(r->end, whole->end);
		assert_int_equal(r->n, whole->n);
		assert_memory_equal(r->log, whole->log, r->n);
	}
	free(r);
}

struct part {
	const char	*head;		/* raw head lines, CRLF-ended */
	const char	*want;		/* expected "<B ...>" log text */
	const char	*data;
	size_t		 dlen;
};

/* Builds a body from <parts> into <b>, expected log into <w>. */
static size_t
build(const struct part *parts, size_t n, const char *pre, const char *post,
    char *b, struct run *w)
{
	size_t	i, len = 0;

#define ADD(s, l)	do { memcpy(b + len, (s), (l)); len += (l); } while (0)
#define ADDS(s)		ADD(s, strlen(s))
	memset(w, 0, sizeof(*w));
	ADDS(pre);
	ADDS(*pre != '\0' ? "\r\n--" BND : "--" BND);
	for (i = 0; i < n; i++) {
		ADDS("\r\n");
		ADDS(parts[i].head);
		ADDS("\r\n");
		ADD(parts[i].data, parts[i].dlen);
		ADDS("\r\n--" BND);
		log_str(w, parts[i].want);
		log_add(w, parts[i].data, parts[i].dlen);
		log_str(w, "<E>");
	}
	ADDS("--");
	ADDS(post);
	log_str(w, "<Z>");
	w->end = 1;
	return len;
#undef ADDS
#undef ADD
}

static const char bin[] =
    "\r\n--\r\n-\r\r\n--" "----elpBoundary7MA4YWxkTrZu0g" "X"
    "\r\n--" "----elpBoundary7MA4" "\r\n" "x--" BND "\n--" BND "\r\r\n"
    "\0\x01\x7f\x80\xff" "\r\n--" "----elpBoundary7MA4YWxkTrZu0g\r\n";

static const struct part three[] = {
	{ "Content-Disposition: form-data; name=\"title\"\r\n",
	  "<B name=title ct=>", "Intro to C", 10 },
	{ "content-DISPOSITION:form-data;name=\"up\";"
	  " filename=\"a \\\"b\\\".bin\"\r\n"
	  "Content-Type: application/octet-stream \r\n"
	  "X-Other: ignored\r\n",
	  "<B name=up fn=a \"b\".bin ct=application/octet-stream>",
	  bin, sizeof(bin) - 1 },
	{ "Content-Disposition: form-data; name=empty; filename=\"\"\r\n",
	  "<B name=empty fn= ct=>", "", 0 },
};

static void
check_good(const struct part *parts, size_t n, const char *pre,
    const char *post)
{
	static char	body[8192];
	struct run	*want, *got;
	size_t		len;

	want = malloc(sizeof(*want));
	got = malloc(sizeof(*got));
	assert_true(want != NULL && got != NULL);
	len = build(parts, n, pre, post, body, want);
	feed_all(body, len, &lim_std, got);
	assert_int_equal(got->status, 0);
	assert_int_equal(got->end, 1);
	assert_int_equal(got->n, want->n);
	assert_memory_equal(got->log, want->log, got->n);
	free(want);
	free(got);
}

static void
test_one_part(void **state)
{
	(void)state;
	check_good(three, 1, "", "");
	check_good(three + 1, 1, "", "\r\n");
}

static void
test_three_parts(void **state)
{
	(void)state;
	check_good(three, 3, "", "\r\n");
	check_good(three, 3, "preamble text\r\n-- not it\r\n", "\r\nepi");
	check_good(three, 3, "\r\n--" "----elpBoundary7MA4YWxkTrZu0g" "X",
	    "");
}

/* Bytes that might start a delimiter are held back, and only those. */
static void
test_holdback(void **state)
{
	static const struct {
		const char	*tail;
		size_t		 data;	/* DATA bytes before MPART_AGAIN */
	} c[] = {
		{ "abc", 3 }, { "abc\r", 3 }, { "abc\r\n--", 3 },
		{ "abc\r\n--" "----elpBoundary7MA4YWxkTrZu0gW", 3 },
		{ "abc\r\n--" "----elpBoundary7MA4YWxkTrZu0gW ", 3 },
		{ "abc\rx", 5 }, { "abc\r\n-x", 7 }, { "\r\r", 1 },
	};
	static const char	head[] = "--" BND "\r\n"
	    "Content-Disposition: form-data; name=a\r\n\r\n";
	struct mpart		mp;
	struct mpart_event	ev;
	char			buf[256];
	size_t			i, len, data;
	ssize_t			got;

	(void)state;
	for (i = 0; i < NITEMS(c); i++) {
		len = (size_t)snprintf(buf, sizeof(buf), "%s%s", head,
		    c[i].tail);
		assert_int_equal(mpart_init(&mp, BND, &lim_std), 0);
		got = mpart_run(&mp, at_guard(buf, len), len, &ev);
		assert_int_equal(got, sizeof(head) - 1);
		assert_int_equal(ev.type, MPART_EV_PART_BEGIN);
		data = 0;
		while ((got = mpart_run(&mp, at_guard(buf + sizeof(head) - 1 +
		    data, len - sizeof(head) + 1 - data),
		    len - sizeof(head) + 1 - data, &ev)) > 0) {
			assert_int_equal(ev.type, MPART_EV_DATA);
			data += (size_t)got;
		}
		assert_int_equal(got, MPART_AGAIN);
		assert_int_equal(data, c[i].data);
	}
}

/* A malformed body and the status every way of feeding it must give. */
struct bcase {
	const char	*in;
	size_t		 len;
	int		 status;	/* 0: no error */
	int		 end;		/* END expected */
};

#define CD	"Content-Disposition: form-data; name=a\r\n"
#define OPEN	"--" BND "\r\n"
#define NEXT	"\r\n--" BND "\r\n"
#define CLOSE	"\r\n--" BND "--\r\n"
#define B(st, s)	{ s, sizeof(s) - 1, st, 0 }
#define G(s)		{ s, sizeof(s) - 1, 0, 1 }

static const struct bcase bad[] = {
	/* no close delimiter: the caller sees no END at its EOF */
	B(0, OPEN CD "\r\nabc"),
	B(0, OPEN CD "\r\nabc\r\n--" BND),
	B(0, "preamble only"),
	B(0, ""),
	/* delimiter lines */
	B(400, OPEN CD "\r\nabc\r\n--" BND "X\r\n"),
	B(400, "--" BND "-x"),
	B(400, "--" BND "\rx"),
	B(400, "x\r\n--" BND " \t x\r\n"),
	B(400, "--" BND "                                 \r\n"),
	/* head lines */
	B(400, OPEN "Content-Disposition form-data; name=a\r\n\r\n" CLOSE),
	B(400, OPEN CD "X: bare lf\n\r\n" CLOSE),
	B(400, OPEN CD "X: bare \r cr\r\n\r\n" CLOSE),
	B(400, OPEN "\n" CLOSE),
	B(400, OPEN CD " folded\r\n\r\n" CLOSE),
	B(400, OPEN ": no name\r\n" CD "\r\n" CLOSE),
	B(400, OPEN "X Y: v\r\n" CD "\r\n" CLOSE),
	B(400, OPEN "Content-Disp\0osition: form-data; name=a\r\n\r\n"
	    CLOSE),
	B(400, OPEN "Content-Disposition: form-data; name=\"a\0b\"\r\n\r\n"
	    CLOSE),
	B(400, OPEN CD "X: \x7f\r\n\r\n" CLOSE),
	/* Content-Disposition */
	B(400, OPEN "\r\n" CLOSE),
	B(400, OPEN "Content-Type: text/plain\r\n\r\n" CLOSE),
	B(400, OPEN "Content-Disposition: attachment; name=a\r\n\r\n"
	    CLOSE),
	B(400, OPEN "Content-Disposition: form-data\r\n\r\n" CLOSE),
	B(400, OPEN "Content-Disposition: form-data; filename=f\r\n\r\n"
	    CLOSE),
	B(400, OPEN "Content-Disposition: form-data; name=a; name=b\r\n\r\n"
	    CLOSE),
	B(400, OPEN "Content-Disposition: form-data; name=a; filename=b;"
	    " filename=c\r\n\r\n" CLOSE),
	B(400, OPEN "Content-Disposition: form-data; name=\"a\r\n\r\n"
	    CLOSE),
	B(400, OPEN "Content-Disposition: form-data; name=\"a\\\"\r\n\r\n"
	    CLOSE),
	B(400, OPEN "Content-Disposition: form-data; name=a;\r\n\r\n"
	    CLOSE),
	B(400, OPEN "Content-Disposition: form-data; name=\r\n\r\n" CLOSE),
	B(400, OPEN "Content-Disposition: form-data; name=a b\r\n\r\n"
	    CLOSE),
	B(400, OPEN CD CD "\r\n" CLOSE),
	B(400, OPEN CD "Content-Type: a\r\ncontent-type: b\r\n\r\n" CLOSE),
	/* limits: 4 head lines, 256 head bytes, 3 parts */
	G(OPEN CD "A: 1\r\nB: 2\r\nC: 3\r\n\r\nx" CLOSE),
	B(431, OPEN CD "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\nx" CLOSE),
	G(OPEN CD "X: "
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "01234567890123456"
	    "\r\n\r\nx" CLOSE),
	B(431, OPEN CD "X: "
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "012345678901234567"
	    "\r\n\r\nx" CLOSE),
	B(431, OPEN CD "X: "
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "0123456789012345678901234567890123456789012345678901234567890123"),
	G(OPEN CD "\r\n1" NEXT CD "\r\n2" NEXT CD "\r\n3" CLOSE),
	B(413, OPEN CD "\r\n1" NEXT CD "\r\n2" NEXT CD "\r\n3" NEXT CD
	    "\r\n4" CLOSE),
	/* padding after a delimiter, and an empty form */
	G("--" BND " \t \r\n" CD "\r\n" CLOSE),
	G("--" BND "--"),
};

static void
test_malformed(void **state)
{
	struct run	*r;
	size_t		 i;

	(void)state;
	r = malloc(sizeof(*r));
	assert_non_null(r);
	for (i = 0; i < NITEMS(bad); i++) {
		feed_all(bad[i].in, bad[i].len, &lim_std, r);
		if (r->status != bad[i].status)
			fail_msg("case %zu: status %d, want %d", i, r->status,
			    bad[i].status);
		assert_int_equal(r->end, bad[i].end);
	}
	free(r);
}

/* Preamble and epilogue are skipped, up to MPART_SKIP_MAX bytes each. */
static void
test_skip_limit(void **state)
{
	static char	body[MPART_SKIP_MAX + 512];
	static const char tail[] = "\r\n--" BND "--";
	struct run	*r;
	size_t		 n;

	(void)state;
	r = malloc(sizeof(*r));
	assert_non_null(r);
	for (n = MPART_SKIP_MAX; n <= MPART_SKIP_MAX + 1; n++) {
		memset(body, 'p', n);
		memcpy(body + n, tail, sizeof(tail) - 1);
		feed(body, n + sizeof(tail) - 1, n + sizeof(tail) - 1,
		    1, &lim_std, r);
		assert_int_equal(r->status, n > MPART_SKIP_MAX ? 400 : 0);
		feed(body, n + sizeof(tail) - 1, 7, 1000, &lim_std, r);
		assert_int_equal(r->status, n > MPART_SKIP_MAX ? 400 : 0);
		memcpy(body, tail + 2, sizeof(tail) - 3);
		memset(body + sizeof(tail) - 3, 'e', n);
		feed(body, n + sizeof(tail) - 3, 5, 999, &lim_std, r);
		assert_int_equal(r->end, 1);
		assert_int_equal(r->status, n > MPART_SKIP_MAX ? 400 : 0);
	}
	free(r);
}

static void
test_boundary(void **state)
{
	static const struct {
		const char	*ct;
		const char	*want;	/* NULL: -1 */
	} c[] = {
		{ "multipart/form-data; boundary=abc", "abc" },
		{ "Multipart/Form-Data ;BOUNDARY = \"a b'()+_,-./:=?\"",
		  "a b'()+_,-./:=?" },
		{ "multipart/form-data; charset=utf-8; boundary=\"x\\yz\"",
		  "xyz" },
		{ "multipart/form-data; boundary=" BND "; x=\"y\"", BND },
		{ "multipart/form-data; boundary=0123456789012345678901234567"
		  "890123456789012345678901234567890123456789",
		  "0123456789012345678901234567890123456789012345678901234567"
		  "890123456789" },
		{ "multipart/form-data; boundary=0123456789012345678901234567"
		  "8901234567890123456789012345678901234567890", NULL },
		{ "multipart/mixed; boundary=abc", NULL },
		{ "multipart/form-data-x; boundary=abc", NULL },
		{ "text/plain; boundary=abc", NULL },
		{ "multipart/form-data", NULL },
		{ "multipart/form-data;", NULL },
		{ "multipart/form-data; boundary=", NULL },
		{ "multipart/form-data; boundary=\"\"", NULL },
		{ "multipart/form-data; boundary=\"ab \"", NULL },
		{ "multipart/form-data; boundary=\"a;b\"", NULL },
		{ "multipart/form-data; boundary=\"a\"b", NULL },
		{ "multipart/form-data; boundary=a*b", NULL },
		{ "multipart/form-data; boundary=\"a\0b\"", NULL },
		{ "multipart/form-data; boundary=a; boundary=a", NULL },
		{ "multipart/form-data; boundary=\"abc", NULL },
		{ "", NULL },
	};
	char	out[MPART_BOUNDARY_MAX + 1], small[4];
	size_t	i, len;
	int	got;

	(void)state;
	for (i = 0; i < NITEMS(c); i++) {
		len = strlen(c[i].ct);
		if (i == 17)
			len = sizeof("multipart/form-data; boundary=\"a\0b\"") -
			    1;
		got = mpart_boundary(str_make(at_guard(c[i].ct, len), len),
		    out, sizeof(out));
		if (c[i].want == NULL) {
			if (got != -1)
				fail_msg("case %zu: got %d", i, got);
			continue;
		}
		assert_int_equal(got, strlen(c[i].want));
		assert_string_equal(out, c[i].want);
	}
	assert_int_equal(mpart_boundary(STR_LIT("multipart/form-data;"
	    " boundary=abc"), small, sizeof(small)), 3);
	assert_int_equal(mpart_boundary(STR_LIT("multipart/form-data;"
	    " boundary=abcd"), small, sizeof(small)), -1);
}

static void
test_init_copy(void **state)
{
	struct mpart	mp;
	char		out[8], b71[72];

	(void)state;
	memset(b71, 'b', 71);
	b71[71] = '\0';
	assert_int_equal(mpart_init(&mp, "", &lim_std), -1);
	assert_int_equal(mpart_init(&mp, b71, &lim_std), -1);
	b71[70] = '\0';
	assert_int_equal(mpart_init(&mp, b71, &lim_std), 0);
	assert_int_equal(mpart_copy(STR_LIT("a\\\\b\\\"c"), out,
	    sizeof(out)), 5);
	assert_string_equal(out, "a\\b\"c");
	assert_int_equal(mpart_copy(STR_LIT("1234567"), out, sizeof(out)),
	    7);
	assert_int_equal(mpart_copy(STR_LIT("12345678"), out, sizeof(out)),
	    -1);
	assert_int_equal(mpart_copy(STR_NULL, out, 0), -1);
	assert_string_equal(mpart_ev_str(MPART_EV_DATA), "DATA");
	assert_string_equal(mpart_ev_str(MPART_EV_COUNT), "UNKNOWN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_part),
		cmocka_unit_test(test_three_parts),
		cmocka_unit_test(test_holdback),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_skip_limit),
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_init_copy),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
