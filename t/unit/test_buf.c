/*
 * Unit tests for shared/buf.c and shared/util.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "util.h"

static void
test_buf_append_consume(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_null(b.ptr);
	buf_append(&b, "hello ", 6);
	buf_append_str(&b, "world");
	assert_int_equal(buf_avail(&b), 11);
	assert_memory_equal(buf_data(&b), "hello world", 11);
	buf_consume(&b, 6);
	assert_int_equal(buf_avail(&b), 5);
	assert_memory_equal(buf_data(&b), "world", 5);
	buf_compact(&b);
	assert_int_equal(b.off, 0);
	assert_memory_equal(b.ptr, "world", 5);
	buf_consume(&b, 5);
	/* Empty after consuming everything: offsets reset. */
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 0);
	buf_release(&b);
	assert_null(b.ptr);
	assert_int_equal(b.cap, 0);
}

static void
test_buf_reserve_commit(void **state)
{
	struct buf b = BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < 10000; i++) {
		buf_reserve(&b, 3);
		assert_true(buf_room(&b) >= 3);
		memcpy(buf_tail(&b), "abc", 3);
		buf_commit(&b, 3);
	}
	assert_int_equal(buf_avail(&b), 30000);
	assert_memory_equal(buf_data(&b) + 29997, "abc", 3);
	assert_true(b.off <= b.len && b.len <= b.cap);
	buf_release(&b);
}

static void
test_buf_reserve_reclaims_consumed(void **state)
{
	struct buf b = BUF_INIT;
	size_t cap;

	(void)state;
	buf_reserve(&b, 100);
	cap = b.cap;
	buf_append(&b, "x", 1);
	memset(buf_tail(&b), 'y', buf_room(&b));
	buf_commit(&b, buf_room(&b));
	buf_consume(&b, cap - 10);
	/* Enough consumed space at the front: compacts instead of growing. */
	buf_reserve(&b, 50);
	assert_int_equal(b.cap, cap);
	assert_int_equal(b.off, 0);
	assert_int_equal(buf_avail(&b), 10);
	buf_release(&b);
}

static void
test_buf_printf(void **state)
{
	struct buf b = BUF_INIT;
	char big[1000];

	(void)state;
	buf_printf(&b, "%d-%s", 42, "x");
	assert_int_equal(buf_avail(&b), 4);
	assert_memory_equal(buf_data(&b), "42-x", 4);
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_printf(&b, "[%s]", big);
	assert_int_equal(buf_avail(&b), 4 + 1001);
	assert_int_equal(buf_data(&b)[buf_avail(&b) - 1], ']');
	buf_reset(&b);
	assert_int_equal(buf_avail(&b), 0);
	buf_release(&b);
}

static void
test_str(void **state)
{
	struct str s = STR_LIT("Content-Length");

	(void)state;
	assert_true(str_eq(s, "Content-Length"));
	assert_false(str_eq(s, "content-length"));
	assert_true(str_caseeq(s, "content-LENGTH"));
	assert_false(str_caseeq(s, "Content-Lengt"));
	assert_false(str_caseeq(str_make("ab", 2), "abc"));
}

static void
test_str_caseeq_ascii(void **state)
{
	(void)state;
	assert_true(str_caseeq(str_make("", 0), ""));
	assert_false(str_caseeq(str_make("", 0), "a"));
	assert_false(str_caseeq(str_make("a", 1), ""));
	assert_true(str_caseeq(str_make("X-Request-Id", 12), "x-request-ID"));
	/* ASCII only: bytes above 127 and '@' vs '`' never fold. */
	assert_false(str_caseeq(str_make("\xc4", 1), "\xe4"));
	assert_false(str_caseeq(str_make("@", 1), "`"));
	/* A view stops where its length says, NUL or not. */
	assert_false(str_caseeq(str_make("ab\0", 3), "ab"));
	assert_true(str_caseeq(str_make("abc", 2), "AB"));
}

static void
test_buf_append_u64(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	buf_append_u64(&b, 0);
	buf_append(&b, " ", 1);
	buf_append_u64(&b, 200);
	buf_append(&b, " ", 1);
	buf_append_u64(&b, UINT64_MAX);
	assert_int_equal(buf_avail(&b), strlen("0 200 18446744073709551615"));
	assert_memory_equal(buf_data(&b), "0 200 18446744073709551615",
	    buf_avail(&b));
	buf_release(&b);
}

static void
test_buf_cache(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT, c = BUF_INIT, d = BUF_INIT;
	char *pa, *pb;
	size_t i;

	(void)state;
	buf_cache_enable(1);
	buf_reserve(&a, 10);		/* 256 bytes */
	assert_int_equal(a.cap, 256);
	pa = a.ptr;
	buf_release(&a);
	assert_null(a.ptr);
	/* The next buffer of that class gets the kept block. */
	buf_reserve(&b, 100);
	assert_ptr_equal(b.ptr, pa);
	/* Growth keeps the bytes, and the old block is kept in turn. */
	for (i = 0; i < 1000; i++)
		buf_append(&b, "x", 1);
	assert_int_equal(b.cap, 1024);
	for (i = 0; i < 1000; i++)
		assert_int_equal(b.ptr[i], 'x');
	buf_reserve(&c, 1);
	assert_ptr_equal(c.ptr, pa);
	/* One per class: a second freed 1 KiB block goes to free(). */
	pb = b.ptr;
	buf_reserve(&d, 1000);
	assert_int_equal(d.cap, 1024);
	buf_release(&b);
	buf_release(&d);
	buf_reserve(&a, 600);
	assert_ptr_equal(a.ptr, pb);
	/* Beyond 16 KiB nothing is kept; a drop empties the cache. */
	buf_release(&a);
	buf_release(&c);
	buf_cache_drop();
	buf_reserve(&a, 40000);
	assert_int_equal(a.cap, 65536);
	buf_release(&a);
	buf_cache_enable(0);
	buf_reserve(&a, 10);
	buf_release(&a);
	assert_null(a.ptr);
}

static void
test_util_duration(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(util_parse_duration("250ms", &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(util_parse_duration("2s", &v), 0);
	assert_int_equal(v, 2000);
	assert_int_equal(util_parse_duration("3", &v), 0);
	assert_int_equal(v, 3000);
	assert_int_equal(util_parse_duration("5m", &v), 0);
	assert_int_equal(v, 300000);
	assert_int_equal(util_parse_duration("1h", &v), 0);
	assert_int_equal(v, 3600000);
	assert_int_equal(util_parse_duration("", &v), -1);
	assert_int_equal(util_parse_duration("s", &v), -1);
	assert_int_equal(util_parse_duration("2 s", &v), -1);
	assert_int_equal(util_parse_duration("-2s", &v), -1);
	assert_int_equal(util_parse_duration("2x", &v), -1);
	assert_int_equal(util_parse_duration("99999999999999999999", &v), -1);
	assert_int_equal(util_parse_duration("18446744073709552s", &v), -1);
}

static void
test_util_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(util_parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(util_parse_size("64k", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(util_parse_size("64KB", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(util_parse_size("1m", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(util_parse_size("2g", &v), 0);
	assert_int_equal(v, 2147483648ULL);
	assert_int_equal(util_parse_size("10b", &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(util_parse_size("1t", &v), -1);
	assert_int_equal(util_parse_size("k", &v), -1);
	assert_int_equal(util_parse_size("1kk", &v), -1);
	assert_int_equal(util_parse_size("17179869184g", &v), -1);
}

static void
test_util_read_file(void **state)
{
	char path[] = "/tmp/elp-test-XXXXXX", *p;
	size_t len;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "secret\n", 7), 7);
	close(fd);
	assert_int_equal(util_read_file(path, 100, &p, &len), 0);
	assert_int_equal(len, 7);
	assert_string_equal(p, "secret\n");
	free(p);
	assert_int_equal(util_read_file(path, 3, &p, &len), -1);
	assert_int_equal(errno, EFBIG);
	unlink(path);
	assert_int_equal(util_read_file(path, 100, &p, &len), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_util_alloc(void **state)
{
	char *s;

	(void)state;
	s = xasprintf("%s-%d", "a", 7);
	assert_string_equal(s, "a-7");
	free(s);
	s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	assert_true(util_now_ms() > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append_consume),
		cmocka_unit_test(test_buf_reserve_commit),
		cmocka_unit_test(test_buf_reserve_reclaims_consumed),
		cmocka_unit_test(test_buf_printf),
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_str_caseeq_ascii),
		cmocka_unit_test(test_buf_append_u64),
		cmocka_unit_test(test_buf_cache),
		cmocka_unit_test(test_util_duration),
		cmocka_unit_test(test_util_size),
		cmocka_unit_test(test_util_read_file),
		cmocka_unit_test(test_util_alloc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
