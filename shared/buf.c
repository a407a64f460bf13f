/*
 * buf: the growable byte buffer (invariants in buf.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

/*
 * The block cache (buf_cache_enable()): freed blocks of 256 B to 16 KiB,
 * by size class, wait for the next buffer of that size instead of going
 * back to malloc. A gateway worker takes and frees several such blocks
 * per request (the request's read buffer, its FastCGI params, the answer);
 * here that is a pointer pushed and popped. Off unless the program turns
 * it on; one per process, without locks (for single-threaded programs).
 */
#define BUF_CACHE_MIN	8	/* log2 of the smallest class: 256 B */
#define BUF_CACHE_MAX	14	/* log2 of the largest: 16 KiB */
#define BUF_CACHE_NCLASS	(BUF_CACHE_MAX - BUF_CACHE_MIN + 1)

static char	**buf_cache[BUF_CACHE_NCLASS];
static size_t	  buf_cache_n[BUF_CACHE_NCLASS];
static size_t	  buf_cache_max;	/* blocks per class; 0: off */

/* The class of a block of <cap> bytes, or -1 when none fits it. */
static int
buf_cache_class(size_t cap)
{
	int k;

	if (cap == 0 || (cap & (cap - 1)) != 0)
		return -1;
	for (k = 0; k < BUF_CACHE_NCLASS; k++)
		if (cap == (size_t)1 << (k + BUF_CACHE_MIN))
			return k;
	return -1;
}

void
buf_cache_enable(size_t per_class)
{
	int k;

	buf_cache_drop();
	for (k = 0; k < BUF_CACHE_NCLASS; k++) {
		free(buf_cache[k]);
		buf_cache[k] = per_class > 0 ?
		    xcalloc(per_class, sizeof(char *)) : NULL;
	}
	buf_cache_max = per_class;
}

void
buf_cache_drop(void)
{
	int k;

	for (k = 0; k < BUF_CACHE_NCLASS; k++)
		while (buf_cache_n[k] > 0)
			free(buf_cache[k][--buf_cache_n[k]]);
}

/* A block of <cap> bytes: a cached one, or a new one. */
static char *
buf_cache_get(size_t cap)
{
	int k = buf_cache_class(cap);

	if (k >= 0 && buf_cache_n[k] > 0)
		return buf_cache[k][--buf_cache_n[k]];
	return xmalloc(cap);
}

/* Gives block <p> of <cap> bytes back: cached while its class has room. */
static void
buf_cache_put(char *p, size_t cap)
{
	int k = buf_cache_class(cap);

	if (p == NULL)
		return;
	if (k >= 0 && buf_cache_n[k] < buf_cache_max)
		buf_cache[k][buf_cache_n[k]++] = p;
	else
		free(p);
}

void
buf_init(struct buf *b)
{
	b->ptr = NULL;
	b->off = b->len = b->cap = 0;
}

void
buf_release(struct buf *b)
{
	if (buf_cache_max > 0)
		buf_cache_put(b->ptr, b->cap);
	else
		free(b->ptr);
	buf_init(b);
}

void
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;
	char *p;

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
	if (buf_cache_max == 0)
		b->ptr = xrealloc(b->ptr, cap);
	else {
		p = buf_cache_get(cap);
		if (b->len > 0)
			memcpy(p, b->ptr, b->len);
		buf_cache_put(b->ptr, b->cap);
		b->ptr = p;
	}
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
buf_append_u64(struct buf *b, uint64_t v)
{
	char d[20], *p = d + sizeof(d);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	buf_append(b, p, (size_t)(d + sizeof(d) - p));
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

static inline unsigned char
buf_lower(char ch)
{
	unsigned char c = (unsigned char)ch;

	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

int
str_caseeq(struct str s, const char *lit)
{
	size_t i;

	/* ASCII only, whatever the locale (header names, tokens); the
	 * first byte that differs ends it, without a strlen() first. */
	for (i = 0; i < s.len; i++)
		if (lit[i] == '\0' || buf_lower(s.p[i]) != buf_lower(lit[i]))
			return 0;
	return lit[i] == '\0';
}
