/*
 * util: allocation that aborts on OOM, and small helpers every program uses.
 * The real guard against unbounded memory is the explicit limits on every
 * input (see buf.h); these wrappers only make OOM a clean, logged abort.
 */
#ifndef ELP_UTIL_H
#define ELP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* Abort with a message when the allocator fails. Never return NULL. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
/* May move memory: pointers into the old block are invalid afterwards. */
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* asprintf() that aborts on failure. */
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC). */
uint64_t	 util_now_ms(void);

/*
 * Parses a duration such as "250ms", "2s", "5m", "1h" or a bare number of
 * seconds into milliseconds in <out>. Returns 0, or -1 on syntax error or
 * overflow.
 */
int	 util_parse_duration(const char *, uint64_t *out);

/*
 * Parses a size such as "512", "64k", "1m", "2g" (powers of 1024, suffix
 * case-insensitive, optional trailing "b") into bytes in <out>. Returns 0,
 * or -1 on syntax error or overflow.
 */
int	 util_parse_size(const char *, uint64_t *out);

/*
 * Reads a whole small file (at most <max> bytes) into a NUL-terminated heap
 * string in <out> (caller frees), length in <lenp> if not NULL. Returns 0,
 * or -1 with errno set (EFBIG when larger than <max>).
 */
int	 util_read_file(const char *, size_t max, char **out, size_t *lenp);

/*
 * <path> with its directory part resolved (symbolic links, "." and ".."),
 * the last component kept as is, so it may name something not created
 * yet: "/a/conf/../run/x.sock" -> "/a/run/x.sock". A heap string; the
 * path unchanged when the directory cannot be resolved.
 */
char	*util_real_path(const char *path);

#endif
