/*
 * util: OOM-aborting allocation, monotonic time, size/duration parsing and
 * small file reading.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void __attribute__((noreturn))
util_oom(size_t n)
{
	/* No log module here: it may itself allocate. */
	fprintf(stderr, "out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		util_oom(n);
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);

	if (p == NULL)
		util_oom(n * sz);
	return p;
}

void *
xrealloc(void *old, size_t n)
{
	void *p = realloc(old, n ? n : 1);

	if (p == NULL)
		util_oom(n);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		util_oom(strlen(s) + 1);
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		util_oom(n + 1);
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n == -1)
		util_oom(0);
	return p;
}

uint64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Parses the leading decimal digits of <s> into <out>; returns a pointer to
 * the first byte after them, or NULL when there are none or on overflow.
 */
static const char *
util_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return NULL;
	*out = v;
	return p;
}

static int
util_scale(uint64_t v, uint64_t mul, uint64_t *out)
{
	if (mul != 0 && v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
util_parse_duration(const char *s, uint64_t *out)
{
	static const struct {
		const char	*unit;
		uint64_t	 mul;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	const char *p;
	uint64_t v;
	size_t i;

	if ((p = util_parse_u64(s, &v)) == NULL)
		return -1;
	for (i = 0; i < NITEMS(units); i++)
		if (strcmp(p, units[i].unit) == 0)
			return util_scale(v, units[i].mul, out);
	return -1;
}

int
util_parse_size(const char *s, uint64_t *out)
{
	const char *p;
	uint64_t v, mul = 1;

	if ((p = util_parse_u64(s, &v)) == NULL)
		return -1;
	switch (tolower((unsigned char)*p)) {
	case '\0':
		return util_scale(v, 1, out);
	case 'b':
		mul = 1;
		break;
	case 'k':
		mul = 1024;
		break;
	case 'm':
		mul = 1024 * 1024;
		break;
	case 'g':
		mul = 1024ULL * 1024 * 1024;
		break;
	default:
		return -1;
	}
	p++;
	if (mul != 1 && tolower((unsigned char)*p) == 'b')
		p++;
	if (*p != '\0')
		return -1;
	return util_scale(v, mul, out);
}

int
util_read_file(const char *path, size_t max, char **out, size_t *lenp)
{
	struct stat st;
	char *p = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if ((uint64_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	p = xmalloc(max + 1);
	while (len < max && (n = read(fd, p + len, max - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		len += (size_t)n;
	}
	p[len] = '\0';
	close(fd);
	*out = p;
	if (lenp != NULL)
		*lenp = len;
	return 0;
fail:
	saved = errno;
	free(p);
	close(fd);
	errno = saved;
	return -1;
}

char *
util_real_path(const char *path)
{
	char dir[PATH_MAX], *slash, *out;
	size_t n;

	slash = strrchr(path, '/');
	if (slash == NULL || slash == path)
		return xstrdup(path);
	n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return xstrdup(path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	if ((out = realpath(dir, NULL)) == NULL)
		return xstrdup(path);
	slash = xasprintf("%s%s%s", out, strcmp(out, "/") == 0 ? "" : "/",
	    slash + 1);
	free(out);
	return slash;
}
