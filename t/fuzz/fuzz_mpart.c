/*
 * libFuzzer target for the multipart/form-data parser (shared/mpart.c).
 *
 * The first input byte picks the limits and the piece size; the rest is a
 * body with the fixed boundary "XyZ", fed the way a caller does it (the
 * unconsumed bytes stay, the next piece is appended): once whole and once
 * in pieces. Every view must lie inside the bytes passed, nothing may be
 * consumed beyond them, DATA must be exactly the bytes consumed, and both
 * ways must give the same events, body bytes and status; any violation
 * aborts.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mpart.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)

/* What one way of feeding gave: a hash of events and body bytes. */
struct out {
	uint64_t	hash;
	size_t		data;
	int		status;
	int		end;
};

static void
mix(struct out *o, const void *p, size_t n)
{
	const unsigned char	*b = p;
	size_t			 i;

	for (i = 0; i < n; i++)
		o->hash = (o->hash ^ b[i]) * 0x100000001b3ULL;
}

static void
check_view(struct str v, const char *p, ssize_t n)
{
	if (v.len == 0)
		return;
	CHECK(v.p >= p && v.len <= (size_t)n && v.p - p <= n - (ssize_t)v.len);
}

static void
event(struct out *o, const struct mpart_event *ev, const char *p, ssize_t n)
{
	unsigned char t = (unsigned char)ev->type;

	switch (ev->type) {
	case MPART_EV_PART_BEGIN:
		check_view(ev->name, p, n);
		check_view(ev->filename, p, n);
		check_view(ev->content_type, p, n);
		CHECK(ev->name.len > 0 || ev->name.p != NULL ||
		    ev->name.len == 0);
		mix(o, &t, 1);
		mix(o, ev->name.p, ev->name.len);
		mix(o, &ev->flags, sizeof(ev->flags));
		mix(o, ev->filename.p, ev->filename.len);
		mix(o, ev->content_type.p, ev->content_type.len);
		break;
	case MPART_EV_DATA:
		CHECK(n > 0 && ev->data.p == p && ev->data.len == (size_t)n);
		o->data += (size_t)n;
		mix(o, ev->data.p, ev->data.len);
		break;
	case MPART_EV_PART_END:
		CHECK(n == 0);
		mix(o, &t, 1);
		break;
	case MPART_EV_END:
		CHECK(n > 0 && !o->end);
		o->end = 1;
		mix(o, &t, 1);
		break;
	default:
		CHECK(ev->type == MPART_EV_NONE && n > 0);
		break;
	}
}

static void
feed(const char *in, size_t len, size_t step,
    const struct mpart_limits *lim, struct out *o)
{
	struct mpart		mp;
	struct mpart_event	ev;
	size_t			start = 0, fed, calls = 0;
	ssize_t			n;
	char			*p;

	memset(o, 0, sizeof(*o));
	o->hash = 0xcbf29ce484222325ULL;
	CHECK(mpart_init(&mp, "XyZ", lim) == 0);
	fed = step < len ? step : len;
	/* A fresh copy per call, so a read past the end is caught. */
	for (;;) {
		CHECK(++calls < 4 * len + 100);
		p = malloc(fed - start + 1);
		CHECK(p != NULL);
		memcpy(p, in + start, fed - start);
		n = mpart_run(&mp, p, fed - start, &ev);
		if (n >= 0) {
			CHECK((size_t)n <= fed - start);
			event(o, &ev, p, n);
			start += (size_t)n;
		}
		free(p);
		if (n == MPART_BAD) {
			CHECK(ev.status == 400 || ev.status == 413 ||
			    ev.status == 431);
			o->status = ev.status;
			return;
		}
		if (n == MPART_AGAIN) {
			CHECK(ev.type == MPART_EV_NONE);
			/* The promise of MPART_BUF_MIN. */
			CHECK(fed - start < MPART_BUF_MIN(lim));
			if (fed == len)
				return;
			fed += step < len - fed ? step : len - fed;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mpart_limits	lim;
	struct out		whole, cut;
	char			bnd[MPART_BOUNDARY_MAX + 1];
	size_t			step;

	if (size < 1)
		return 0;
	lim.lim_head = 16 + (size_t)(data[0] & 0x0f) * 16;
	lim.lim_headers = 1 + (data[0] >> 4 & 0x03);
	lim.lim_parts = 1 + (data[0] >> 6);
	step = 1 + (data[0] % 7);
	data++;
	size--;

	feed((const char *)data, size, size, &lim, &whole);
	feed((const char *)data, size, step, &lim, &cut);
	CHECK(whole.hash == cut.hash && whole.data == cut.data &&
	    whole.status == cut.status && whole.end == cut.end);
	CHECK(whole.data <= size);

	/* The Content-Type side: the result must be a valid boundary. */
	if (mpart_boundary(str_make((const char *)data, size), bnd,
	    sizeof(bnd)) > 0)
		CHECK(strlen(bnd) >= 1 && strlen(bnd) <= MPART_BOUNDARY_MAX);
	return 0;
}
