/*
 * pwrule: the password rule of the public API contract (docs/contract/api.md
 * 5.2), shared by every program that sets passwords.
 *
 * A password is valid iff it is valid UTF-8 of 8 to 128 code points, holds
 * no line terminator (LF, CR, U+0085, U+2028, U+2029), and holds at least
 * one ASCII uppercase letter, one lowercase letter, one digit and one of
 * the specials # ? ! @ $ % ^ & * -.
 */
#ifndef ELP_PWRULE_H
#define ELP_PWRULE_H

#define PWRULE_MIN	8	/* code points */
#define PWRULE_MAX	128	/* code points */

enum pwrule_err {
	PWRULE_OK = 0,
	PWRULE_E_EMPTY,		/* NULL or "" */
	PWRULE_E_ENCODING,	/* not valid UTF-8 */
	PWRULE_E_LENGTH,	/* under 8 or over 128 code points */
	PWRULE_E_NEWLINE,	/* a line terminator */
	PWRULE_E_CLASSES,	/* a character class is missing */
	PWRULE_E_COUNT
};

/* Checks NUL-terminated <pw> against the rule. Allocates nothing. */
enum pwrule_err	 pwrule_check(const char *pw);

/* One English sentence explaining <err> (static). */
const char	*pwrule_err_str(enum pwrule_err err);

#endif
