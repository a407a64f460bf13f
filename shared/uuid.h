/*
 * uuid: version 4 UUIDs from OpenSSL's RAND, and strict parsing of the
 * canonical 8-4-4-4-12 text form.
 */
#ifndef ELP_UUID_H
#define ELP_UUID_H

#include <stddef.h>

#define UUID_STR_LEN	36	/* without the NUL */

/*
 * Writes a new random (version 4, variant 1) UUID in lowercase canonical
 * form plus NUL to <out>. Returns 0, or -1 when the CSPRNG fails.
 */
int	 uuid_v4(char out[UUID_STR_LEN + 1]);

/*
 * Validates <s> (<len> bytes, not necessarily NUL-terminated) as a UUID in
 * canonical 8-4-4-4-12 hex form, any case. On success writes the lowercase
 * form plus NUL to <out> and returns 0; otherwise returns -1 and leaves
 * <out> untouched.
 */
int	 uuid_parse(const char *s, size_t len, char out[UUID_STR_LEN + 1]);

#endif
