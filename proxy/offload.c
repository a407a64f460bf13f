/*
 * off: the pieces of file offload that do not touch a connection: opening
 * a file a backend named (X-Accel-Redirect) safely beneath the route's
 * offload root, and the pure parsers and formatters of its validators
 * (ETag, Last-Modified) and of the Range header. The transfer itself is
 * conn.c's (sendfile paced by writability).
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/openat2.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"

#define OFF_HTTP_DATE	"%a, %d %b %Y %H:%M:%S GMT"

/* Whether each component of <rel> is a plain name: no "..", none longer
 * than NAME_MAX. Empty components ("a//b") and "." are harmless. */
static int
off_components_ok(const char *rel)
{
	const char *p = rel;
	size_t len;

	while (*p != '\0') {
		len = strcspn(p, "/");
		if (len > NAME_MAX)
			return 0;
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += len;
		p += strspn(p, "/");
	}
	return 1;
}

int
off_open(int rootfd, struct str rel, struct stat *st, const char **why)
{
	char path[PATH_MAX];
	struct open_how how;
	int fd;

	/* A leading "/" means the root, not the file system's. */
	while (rel.len > 0 && rel.p[0] == '/') {
		rel.p++;
		rel.len--;
	}
	*why = "empty or over-long name";
	if (rel.len == 0 || rel.len >= sizeof(path))
		return -1;
	*why = "NUL byte in the name";
	if (memchr(rel.p, '\0', rel.len) != NULL)
		return -1;
	memcpy(path, rel.p, rel.len);
	path[rel.len] = '\0';
	*why = "\"..\" or an over-long component in the name";
	if (!off_components_ok(path))
		return -1;
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd == -1) {
		/* XXX no fallback without openat2 (Linux < 5.6): refusing
		 * is the only answer that cannot escape the root. */
		*why = errno == ENOSYS ? "openat2 unsupported" :
		    errno == ELOOP || errno == EXDEV ? "symlink or escape" :
		    "cannot open";
		return -1;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		*why = "not a regular file";
		close(fd);
		return -1;
	}
	return fd;
}

void
off_etag(const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "\"%llx-%llx-%llx\"",
	    (unsigned long long)st->st_ino, (unsigned long long)st->st_size,
	    (unsigned long long)st->st_mtime);
}

void
off_date(time_t t, char *out, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, OFF_HTTP_DATE, &tm);
}

int
off_date_parse(const char *s, time_t *t)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, OFF_HTTP_DATE, &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}

/* The next entity-tag of a comma list at *<p>, without "W/"; advances
 * *<p>. Returns 0 at the end of the list. */
static int
off_etag_next(const char **p, struct str *tag, int *weak)
{
	const char *s = *p;
	size_t len;

	s += strspn(s, " \t,");
	if (*s == '\0')
		return 0;
	*weak = strncmp(s, "W/", 2) == 0;
	if (*weak)
		s += 2;
	len = strcspn(s, ",");
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	*tag = str_make(s, len);
	*p = s + strcspn(s, ",");
	return 1;
}

int
off_etag_match(const char *list, const char *etag, int strong)
{
	struct str tag;
	const char *p = list;
	int weak;

	if (!strong && strcmp(list + strspn(list, " \t"), "*") == 0)
		return 1;
	while (off_etag_next(&p, &tag, &weak))
		if ((!strong || !weak) && str_eq(tag, etag))
			return 1;
	return 0;
}

/* Parses the decimal digits at *<p> into <v> (at most 18 of them, so no
 * overflow); advances *<p>. Returns 0, or -1 when there are none. */
static int
off_num(const char **p, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	while (*s >= '0' && *s <= '9' && s - *p < 18)
		*v = *v * 10 + (uint64_t)(*s++ - '0');
	if (s == *p || (*s >= '0' && *s <= '9'))
		return -1;
	*p = s;
	return 0;
}

enum off_range
off_range_parse(const char *spec, uint64_t size, uint64_t *start,
    uint64_t *end)
{
	const char *p = spec;
	uint64_t a, b;

	if (strncasecmp(p, "bytes=", 6) != 0)
		return OFF_RANGE_IGNORE;
	p += 6;
	p += strspn(p, " \t");
	if (*p == '-') {
		p++;
		if (off_num(&p, &b) == -1)
			return OFF_RANGE_IGNORE;
		if (b == 0 || size == 0)
			goto unsat;
		a = b >= size ? 0 : size - b;
		b = size - 1;
	} else {
		if (off_num(&p, &a) == -1 || *p++ != '-')
			return OFF_RANGE_IGNORE;
		if (*p >= '0' && *p <= '9') {
			if (off_num(&p, &b) == -1 || b < a)
				return OFF_RANGE_IGNORE;
		} else
			b = UINT64_MAX;
		if (a >= size)
			goto unsat;
		if (b >= size)
			b = size - 1;
	}
	/* Only the first of several ranges is served (contract 4.6.2), but
	 * the rest must still look like a range list. */
	p += strspn(p, " \t");
	if (*p != '\0' && *p != ',')
		return OFF_RANGE_IGNORE;
	*start = a;
	*end = b + 1;
	return OFF_RANGE_OK;
unsat:
	p += strspn(p, " \t");
	return *p == '\0' || *p == ',' ? OFF_RANGE_UNSAT : OFF_RANGE_IGNORE;
}
