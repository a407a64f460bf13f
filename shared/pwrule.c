/*
 * pwrule: the password rule of docs/contract/api.md section 5.2.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pwrule.h"

#define PW_UPPER	0x01
#define PW_LOWER	0x02
#define PW_DIGIT	0x04
#define PW_SPECIAL	0x08
#define PW_ALL		0x0f

/*
 * Decodes one UTF-8 sequence at <s>; stores the code point in <cp> and
 * returns its length, or 0 when the sequence is invalid (overlong,
 * surrogate, beyond U+10FFFF, truncated).
 */
static size_t
pwrule_utf8(const unsigned char *s, uint32_t *cp)
{
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4;
	else
		return 0;
	*cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min[n] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/* The PW_* class bit of ASCII code point <cp>, or 0. */
static int
pwrule_class(uint32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return PW_UPPER;
	if (cp >= 'a' && cp <= 'z')
		return PW_LOWER;
	if (cp >= '0' && cp <= '9')
		return PW_DIGIT;
	if (cp != 0 && cp < 0x80 && strchr("#?!@$%^&*-", (int)cp) != NULL)
		return PW_SPECIAL;
	return 0;
}

enum pwrule_err
pwrule_check(const char *pw)
{
	const unsigned char *s = (const unsigned char *)pw;
	size_t n, count = 0;
	uint32_t cp;
	int seen = 0;

	if (pw == NULL || pw[0] == '\0')
		return PWRULE_E_EMPTY;
	while (*s != '\0') {
		if ((n = pwrule_utf8(s, &cp)) == 0)
			return PWRULE_E_ENCODING;
		if (cp == '\n' || cp == '\r' || cp == 0x85 || cp == 0x2028 ||
		    cp == 0x2029)
			return PWRULE_E_NEWLINE;
		seen |= pwrule_class(cp);
		count++;
		s += n;
	}
	if (count < PWRULE_MIN || count > PWRULE_MAX)
		return PWRULE_E_LENGTH;
	if (seen != PW_ALL)
		return PWRULE_E_CLASSES;
	return PWRULE_OK;
}

const char *
pwrule_err_str(enum pwrule_err err)
{
	static const char *const text[PWRULE_E_COUNT] = {
		"Password is valid",
		"Password must not be empty",
		"Password must be valid UTF-8",
		"Password must be 8 to 128 characters long",
		"Password must not contain line breaks",
		"Password must contain an uppercase letter, a lowercase "
		    "letter, a digit and one of #?!@$%^&*-",
	};

	if ((int)err < 0 || err >= PWRULE_E_COUNT)
		return "Password is invalid";
	return text[err];
}
