/*
 * buf: the one growable byte buffer, and str, a view into one.
 *
 * Invariants of struct buf:
 *  - ptr is NULL until the first buf_reserve(); off == len == cap == 0 then.
 *  - off <= len <= cap. Bytes [off, len) are valid unconsumed data; bytes
 *    [len, cap) are free room at the tail.
 *  - Reading: buf_reserve(b, n) guarantees n free bytes at buf_tail(b);
 *    read() into it; buf_commit(b, got) makes them valid.
 *  - Consuming: buf_consume(b, n) advances off; buf_compact(b) moves the
 *    unconsumed bytes to the front. Compact once per read batch, not once per
 *    message. buf_reserve() and buf_compact() may move memory: every struct
 *    str view into the buffer is invalid afterwards.
 *  - The buffer is not NUL-terminated unless a caller appends a NUL.
 */
#ifndef ELP_BUF_H
#define ELP_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char	*ptr;	/* NULL until the first buf_reserve() */
	size_t	 off;	/* bytes consumed from the front */
	size_t	 len;	/* bytes valid from ptr; off <= len <= cap */
	size_t	 cap;	/* bytes allocated */
};

/* A view: <p> is not NUL-terminated and is borrowed from its owner. */
struct str {
	const char	*p;
	size_t		 len;
};

#define BUF_INIT	{ NULL, 0, 0, 0 }
#define STR_NULL	((struct str){ NULL, 0 })
#define STR_LIT(s)	((struct str){ (s), sizeof(s) - 1 })

void	 buf_init(struct buf *);
/*
 * Keeps up to <per_class> freed blocks of each size from 256 B to 16 KiB
 * for reuse by later buffers of this process (0: none, the default).
 * Single-threaded programs only. buf_cache_drop() frees the kept blocks.
 */
void	 buf_cache_enable(size_t per_class);
void	 buf_cache_drop(void);
/* Frees the storage; <b> is empty and reusable afterwards. */
void	 buf_release(struct buf *);
/* Ensures <n> free bytes at the tail. May move memory. */
void	 buf_reserve(struct buf *, size_t n);
/* Marks <n> bytes written at the tail as valid. */
void	 buf_commit(struct buf *, size_t n);
/* Appends <n> bytes. May move memory. */
void	 buf_append(struct buf *, const void *, size_t n);
void	 buf_append_str(struct buf *, const char *);
/* Appends <v> in decimal, without printf. May move memory. */
void	 buf_append_u64(struct buf *, uint64_t);
/* Appends formatted text (no NUL counted in len). May move memory. */
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_vprintf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
/* Drops <n> bytes from the front (n <= buf_avail). Resets when empty. */
void	 buf_consume(struct buf *, size_t n);
/* Moves unconsumed bytes to the front. May move memory. */
void	 buf_compact(struct buf *);
/* Empties the buffer, keeping its storage. */
void	 buf_reset(struct buf *);

static inline size_t
buf_avail(const struct buf *b)
{
	return b->len - b->off;
}

static inline char *
buf_data(const struct buf *b)
{
	return b->ptr + b->off;
}

static inline char *
buf_tail(const struct buf *b)
{
	return b->ptr + b->len;
}

static inline size_t
buf_room(const struct buf *b)
{
	return b->cap - b->len;
}

static inline struct str
str_make(const char *p, size_t len)
{
	struct str s = { p, len };
	return s;
}

static inline int
str_eq(struct str a, const char *lit)
{
	size_t n = strlen(lit);
	return a.len == n && memcmp(a.p, lit, n) == 0;
}

/* Case-insensitive ASCII comparison of a view and a C string. */
int	 str_caseeq(struct str, const char *);

#endif
