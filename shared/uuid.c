/*
 * uuid: version 4 UUIDs from OpenSSL's CSPRNG and strict parsing of the
 * canonical 8-4-4-4-12 form (RFC 9562).
 */
#include <stddef.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "log.h"
#include "uuid.h"

/* Offsets of the hyphens in the canonical text form. */
static int
uuid_is_hyphen_pos(size_t i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

/* Returns the value of hex digit <c> (any case), or -1. */
static int
uuid_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
uuid_v4(char out[UUID_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	unsigned long e;
	size_t i, o = 0;

	if (RAND_bytes(b, sizeof(b)) != 1) {
		while ((e = ERR_get_error()) != 0)
			log_warnx("%s: RAND_bytes: %s", __func__,
			    ERR_error_string(e, NULL));
		return -1;
	}
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* variant 10xx (RFC 9562) */
	for (i = 0; i < sizeof(b); i++) {
		if (uuid_is_hyphen_pos(o))
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
	return 0;
}

int
uuid_parse(const char *s, size_t len, char out[UUID_STR_LEN + 1])
{
	char tmp[UUID_STR_LEN + 1];
	size_t i;
	int v;

	if (len != UUID_STR_LEN)
		return -1;
	/* Build aside: <out> stays untouched on failure. */
	for (i = 0; i < UUID_STR_LEN; i++) {
		if (uuid_is_hyphen_pos(i)) {
			if (s[i] != '-')
				return -1;
			tmp[i] = '-';
		} else {
			if ((v = uuid_hexval(s[i])) == -1)
				return -1;
			tmp[i] = "0123456789abcdef"[v];
		}
	}
	tmp[UUID_STR_LEN] = '\0';
	memcpy(out, tmp, sizeof(tmp));
	return 0;
}
