/*
 * Unit tests for shared/pwrule.c: the password rule of docs/contract/api.md
 * 5.2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pwrule.h"

static void
test_valid(void **state)
{
	(void)state;
	assert_int_equal(pwrule_check("Passw0rd!"), PWRULE_OK);
	assert_int_equal(pwrule_check("aB3#aaaa"), PWRULE_OK);
	/* Other characters are allowed in addition; counted as code
	 * points, so 7 ASCII + one 2-byte letter is 8. */
	assert_int_equal(pwrule_check("aB3-aa\xc3\xa9x"), PWRULE_OK);
	assert_int_equal(pwrule_check("Aa1$ x\xe2\x82\xac\xe2\x82\xac"),
	    PWRULE_OK);
}

static void
test_missing_classes(void **state)
{
	(void)state;
	assert_int_equal(pwrule_check("password1!"), PWRULE_E_CLASSES);
	assert_int_equal(pwrule_check("PASSWORD1!"), PWRULE_E_CLASSES);
	assert_int_equal(pwrule_check("Password!!"), PWRULE_E_CLASSES);
	assert_int_equal(pwrule_check("Password12"), PWRULE_E_CLASSES);
	/* '+' and '_' are not among the specials. */
	assert_int_equal(pwrule_check("Password1+_"), PWRULE_E_CLASSES);
}

static void
test_length(void **state)
{
	char pw[200];

	(void)state;
	assert_int_equal(pwrule_check(NULL), PWRULE_E_EMPTY);
	assert_int_equal(pwrule_check(""), PWRULE_E_EMPTY);
	assert_int_equal(pwrule_check("aB3#aaa"), PWRULE_E_LENGTH);
	/* 7 code points although 9 bytes. */
	assert_int_equal(pwrule_check("aB3#a\xc3\xa9\xc3\xa9"),
	    PWRULE_E_LENGTH);
	memset(pw, 'a', sizeof(pw));
	memcpy(pw, "A1#", 3);
	pw[128] = '\0';
	assert_int_equal(pwrule_check(pw), PWRULE_OK);
	pw[128] = 'a';
	pw[129] = '\0';
	assert_int_equal(pwrule_check(pw), PWRULE_E_LENGTH);
}

static void
test_line_terminators(void **state)
{
	(void)state;
	assert_int_equal(pwrule_check("Passw0rd!\n"), PWRULE_E_NEWLINE);
	assert_int_equal(pwrule_check("Pass\rw0rd!"), PWRULE_E_NEWLINE);
	assert_int_equal(pwrule_check("Passw0rd!\xc2\x85"), PWRULE_E_NEWLINE);
	assert_int_equal(pwrule_check("Passw0rd!\xe2\x80\xa8"),
	    PWRULE_E_NEWLINE);
	assert_int_equal(pwrule_check("Passw0rd!\xe2\x80\xa9"),
	    PWRULE_E_NEWLINE);
}

static void
test_encoding(void **state)
{
	(void)state;
	assert_int_equal(pwrule_check("Passw0rd!\xff"), PWRULE_E_ENCODING);
	assert_int_equal(pwrule_check("Passw0rd!\xc0\xaf"), PWRULE_E_ENCODING);
	assert_int_equal(pwrule_check("Passw0rd!\xed\xa0\x80"),
	    PWRULE_E_ENCODING);
	assert_int_equal(pwrule_check("Passw0rd!\xe2\x82"), PWRULE_E_ENCODING);
	assert_non_null(strstr(pwrule_err_str(PWRULE_E_CLASSES), "digit"));
	assert_non_null(pwrule_err_str(PWRULE_E_COUNT));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_missing_classes),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_line_terminators),
		cmocka_unit_test(test_encoding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
