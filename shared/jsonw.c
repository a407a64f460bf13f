/*
 * jsonw: JSON text without a tree, identical to jansson's compact output
 * (jansson 2.14 dump.c: dump_string() escapes '"', '\', \b \f \n \r \t
 * by name and other control characters as \u00XX with upper-case hex; it
 * copies everything else, '/' and non-ASCII included; integers are
 * "%lld").
 */
#include <string.h>

#include "buf.h"
#include "jsonw.h"

/* jansson's utf8_check_first/_full, in one (contract in jsonw.h). */
size_t
jsonw_utf8_len(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* The second byte's range excludes overlongs and surrogates. */
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* Appends the escape of ASCII byte <c> ('"', '\' or a control). */
static void
jsonw_escape(struct buf *out, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[6] = { '\\', 'u', '0', '0', 0, 0 };

	switch (c) {
	case '"':
	case '\\':
		e[1] = (char)c;
		break;
	case '\b':
		e[1] = 'b';
		break;
	case '\f':
		e[1] = 'f';
		break;
	case '\n':
		e[1] = 'n';
		break;
	case '\r':
		e[1] = 'r';
		break;
	case '\t':
		e[1] = 't';
		break;
	default:
		e[4] = hex[c >> 4];
		e[5] = hex[c & 0xf];
		buf_append(out, e, 6);
		return;
	}
	buf_append(out, e, 2);
}

int
jsonw_str(struct buf *out, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0, n;

	buf_reserve(out, len + 2);
	buf_append(out, "\"", 1);
	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' &&
		    s[i] != '\\') {
			i++;
			continue;
		}
		if (s[i] >= 0x80) {
			if ((n = jsonw_utf8_len(s + i, len - i)) == 0)
				return -1;
			i += n;
			continue;
		}
		buf_append(out, s + run, i - run);
		jsonw_escape(out, s[i]);
		run = ++i;
	}
	buf_append(out, s + run, i - run);
	buf_append(out, "\"", 1);
	return 0;
}

void
jsonw_int(struct buf *out, long long n)
{
	char d[24], *p = d + sizeof(d);
	unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n :
	    (unsigned long long)n;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (n < 0)
		*--p = '-';
	buf_append(out, p, (size_t)(d + sizeof(d) - p));
}

void
jsonw_bool(struct buf *out, int b)
{
	if (b)
		buf_append(out, "true", 4);
	else
		buf_append(out, "false", 5);
}

void
jsonw_null(struct buf *out)
{
	buf_append(out, "null", 4);
}

void
jsonw_key(struct buf *out, const char *key)
{
	size_t n = strlen(key);

	buf_reserve(out, n + 3);
	buf_append(out, "\"", 1);
	buf_append(out, key, n);
	buf_append(out, "\":", 2);
}
