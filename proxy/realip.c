/*
 * realip: the client's address when trusted proxies stand in front of the
 * gateway (nginx's set_real_ip_from with real_ip_recursive on): the
 * networks of <real-ip from>, and the walk of X-Forwarded-For from the
 * right that skips them. Pure: no sockets, no logging, no allocation.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define REALIP_TEXT_MAX	64	/* longer than any address literal */

/* Parses address literal <s>/<len> into <addr> (16 bytes); returns its
 * family or -1. */
static int
realip_addr(const char *s, size_t len, uint8_t *addr)
{
	char tmp[REALIP_TEXT_MAX];

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, tmp, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, tmp, addr) == 1)
		return AF_INET6;
	return -1;
}

/* Parses the decimal prefix length <s>/<len>, at most <max>. */
static int
realip_bits(const char *s, size_t len, int max)
{
	int v = 0;
	size_t i;

	if (len == 0 || len > 3)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* Whether the first <bits> bits of <a> and <b> are the same. */
static int
realip_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

/* Whether the bits of <a> past the first <bits> are all zero. */
static int
realip_host_zero(const uint8_t *a, int bits)
{
	int i;

	for (i = bits; i < 128; i++)
		if (a[i / 8] & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

int
realip_parse_net(const char *s, size_t len, struct realip_net *out)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - s) : len;
	int max;

	memset(out, 0, sizeof(*out));
	if (len == 5 && memcmp(s, "unix:", 5) == 0) {
		out->rn_family = AF_UNIX;
		return 0;
	}
	if ((out->rn_family = realip_addr(s, alen, out->rn_addr)) == -1)
		return -1;
	max = out->rn_family == AF_INET ? 32 : 128;
	out->rn_bits = max;
	if (slash != NULL && (out->rn_bits = realip_bits(slash + 1,
	    len - alen - 1, max)) == -1)
		return -1;
	/* "10.1.2.3/8" is most likely a mistake: refuse host bits. */
	return realip_host_zero(out->rn_addr, out->rn_bits) ? 0 : -1;
}

ssize_t
realip_parse_list(const char *text, struct realip_net *out, size_t max,
    struct str *bad)
{
	static const char sep[] = " \t\r\n,";
	size_t n = 0, len;

	for (;;) {
		text += strspn(text, sep);
		if (*text == '\0')
			return (ssize_t)n;
		len = strcspn(text, sep);
		if (n == max || realip_parse_net(text, len, &out[n]) == -1) {
			*bad = str_make(text, len);
			return -1;
		}
		n++;
		text += len;
	}
}

int
realip_trusted(const struct realip_net *nets, size_t n, struct str addr)
{
	uint8_t a[16];
	int fam;
	size_t i;

	if (addr.len == 4 && memcmp(addr.p, "unix", 4) == 0)
		fam = AF_UNIX;
	else if ((fam = realip_addr(addr.p, addr.len, a)) == -1)
		return 0;
	for (i = 0; i < n; i++) {
		if (nets[i].rn_family != fam)
			continue;
		if (fam == AF_UNIX ||
		    realip_prefix_eq(a, nets[i].rn_addr, nets[i].rn_bits))
			return 1;
	}
	return 0;
}

/* Trims blanks around <s>. */
static struct str
realip_trim(struct str s)
{
	while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
		s.len--;
	return s;
}

struct str
realip_client(const struct realip_net *nets, size_t n, struct str peer,
    struct str xff)
{
	struct str e, last = peer;
	uint8_t a[16];
	size_t end = xff.len, start;

	if (!realip_trusted(nets, n, peer))
		return peer;
	while (end > 0) {
		start = end;
		while (start > 0 && xff.p[start - 1] != ',')
			start--;
		e = realip_trim(str_make(xff.p + start, end - start));
		end = start > 0 ? start - 1 : 0;
		if (e.len == 0)
			continue;	/* "a,,b": an empty element */
		if (realip_addr(e.p, e.len, a) == -1)
			return peer;
		last = e;
		if (!realip_trusted(nets, n, e))
			return e;
	}
	return last;
}
