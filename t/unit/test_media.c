/*
 * Unit tests for shared/media.c: stored-file names (docs/contract/api.md 4.5.1)
 * and the type table (4.5.2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "media.h"

static void
test_names_accepted(void **state)
{
	static const char *const ok[] = {
		"a", "0", "dummy-video-1.mp4", "0123456789abcdef0123456789abcdef.jpg",
		"A_b-C.d", "x.y.z", "9.", "file-", "a.b_c-d",
	};
	char max[MEDIA_NAME_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(media_name_ok(ok[i]));
	memset(max, 'a', MEDIA_NAME_MAX);
	max[MEDIA_NAME_MAX] = '\0';
	assert_true(media_name_ok(max));
}

static void
test_names_refused(void **state)
{
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "-x", "_x", "a..b", "..jpg", "a/b",
		"/etc", "a\\b", "a b", "a%2fb", "a\tb", "caf\xc3\xa9.jpg",
		"a:b", "a\r\n", "x~", "a*b",
	};
	char over[MEDIA_NAME_MAX + 2];
	size_t i;

	(void)state;
	assert_false(media_name_ok(NULL));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(media_name_ok(bad[i]));
	memset(over, 'a', MEDIA_NAME_MAX + 1);
	over[MEDIA_NAME_MAX + 1] = '\0';
	assert_false(media_name_ok(over));
}

static void
test_types(void **state)
{
	const struct media_type *mt;
	size_t i;

	(void)state;
	assert_int_equal(media_ntypes, 7);
	for (i = 0; i < media_ntypes; i++) {
		mt = media_type_find(media_types[i].mt_mime);
		assert_ptr_equal(mt, &media_types[i]);
		/* An extension makes a valid name after 32 hex digits. */
		assert_true(strlen(mt->mt_ext) >= 3 && strlen(mt->mt_ext) <= 4);
	}
	assert_string_equal(media_type_find("image/jpeg")->mt_ext, "jpg");
	assert_string_equal(media_type_find("video/ogg")->mt_ext, "ogg");
	assert_null(media_type_find("audio/ogg"));
	assert_null(media_type_find("IMAGE/JPEG"));
	assert_null(media_type_find("text/html"));
	assert_null(media_type_find(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_accepted),
		cmocka_unit_test(test_names_refused),
		cmocka_unit_test(test_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
