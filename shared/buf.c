/*
 * buf: the growable byte buffer (invariants in buf.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

void
buf_init(struct buf *b)
{
	b->ptr = NULL;
	b->off = b->len = b->cap = 0;
}

void
buf_release(struct buf *b)
{
	free(b->ptr);
	buf_init(b);
}

void
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;

	if (b->cap - b->len >= n)
		return;
	/* Reclaim consumed space first when that is enough. */
	if (b->off > 0 && b->cap - (b->len - b->off) >= n) {
		buf_compact(b);
		return;
	}
	need = b->len + n;
	if (need < b->len)
		abort();	/* size_t overflow: a caller skipped its limit */
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	b->ptr = xrealloc(b->ptr, cap);
	b->cap = cap;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->ptr + b->len, p, n);
	b->len += n;
}

void
buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	buf_reserve(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->ptr + b->len, b->cap - b->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n + 1);
		vsnprintf(b->ptr + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void
buf_compact(struct buf *b)
{
	if (b->off == 0)
		return;
	memmove(b->ptr, b->ptr + b->off, b->len - b->off);
	b->len -= b->off;
	b->off = 0;
}

void
buf_reset(struct buf *b)
{
	b->off = b->len = 0;
}

int
str_caseeq(struct str s, const char *lit)
{
	size_t i, n = strlen(lit);

	if (s.len != n)
		return 0;
	for (i = 0; i < n; i++)
		if (tolower((unsigned char)s.p[i]) !=
		    tolower((unsigned char)lit[i]))
			return 0;
	return 1;
}
