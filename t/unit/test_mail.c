/*
 * Unit tests for shared/mail.c: addresses and Message-IDs, dates, RFC 2047
 * headers (decoded back and checked for length and UTF-8 boundaries),
 * quoted-printable bodies (decoded back, line lengths), whole messages,
 * and the retry backoff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "buf.h"
#include "mail.h"
#include "util.h"

/* The NUL-terminated text of <b> (a copy the caller frees). */
static char *
text(const struct buf *b)
{
	return xstrndup(buf_data(b), buf_avail(b));
}

/* Every line of <s> (CRLF separated) is at most <max> bytes. */
static void
assert_lines_within(const char *s, size_t max)
{
	const char *p = s, *e;

	while ((e = strstr(p, "\r\n")) != NULL) {
		assert_true((size_t)(e - p) <= max);
		p = e + 2;
	}
	assert_true(strlen(p) <= max);
}

static void
test_addr(void **state)
{
	(void)state;
	assert_true(mail_addr_ok("a@b.c"));
	assert_true(mail_addr_ok("first.last+tag@example.com"));
	assert_false(mail_addr_ok("a@"));
	assert_false(mail_addr_ok("@b.c"));
	assert_false(mail_addr_ok("ab.c"));
	assert_false(mail_addr_ok("a@b@c"));
	assert_false(mail_addr_ok("a b@c.d"));
	assert_false(mail_addr_ok("a@c.d>\r\nBcc: x@y.z"));
	assert_false(mail_addr_ok("<a@b.c>"));
	assert_false(mail_addr_ok("a\xc3\xa9@b.c"));
	assert_true(mail_msgid_ok("<0f0e@elp>"));
	assert_false(mail_msgid_ok("0f0e@elp"));
	assert_false(mail_msgid_ok("<0f0e elp@x>"));
	assert_false(mail_msgid_ok("<@x>"));
	assert_false(mail_msgid_ok("<x@>"));
}

static void
test_date(void **state)
{
	char d[MAIL_DATE_LEN + 1];

	(void)state;
	mail_date(0, d);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
	mail_date(1751364000, d);
	assert_string_equal(d, "Tue, 01 Jul 2025 10:00:00 +0000");
}

/* Decodes the encoded words of header value <v> into <out>. */
static void
decode_words(const char *v, struct buf *out)
{
	unsigned char dec[128];
	const char *p = v, *s, *e;
	int n;

	while ((s = strstr(p, "=?UTF-8?B?")) != NULL) {
		s += 10;
		e = strstr(s, "?=");
		assert_non_null(e);
		assert_true(e - s + 12 <= 75);
		n = EVP_DecodeBlock(dec, (const unsigned char *)s, (int)(e - s));
		assert_true(n >= 0);
		/* EVP_DecodeBlock counts the padding as zero bytes. */
		while (n > 0 && e > s && e[-1] == '=') {
			n--;
			e--;
		}
		/* A word never ends inside a UTF-8 sequence. */
		if (n > 0)
			assert_true((dec[n - 1] & 0xc0) != 0xc0);
		buf_append(out, dec, (size_t)n);
		p = strstr(s, "?=") + 2;
	}
}

static void
test_header_plain_and_encoded(void **state)
{
	const char *subj = "Inscription confirm\xc3\xa9""e: \xe2\x9c\x93 "
	    "cours \xc2\xabIntroduction \xc3\xa0 Spring Boot\xc2\xbb, "
	    "tr\xc3\xa8s long sujet qui d\xc3\xa9passe la ligne";
	struct buf b, dec;
	char *t, *d;

	(void)state;
	buf_init(&b);
	mail_put_text(&b, "Subject", "Plain\r\nsubject");
	t = text(&b);
	assert_string_equal(t, "Subject: Plain  subject\r\n");
	free(t);
	buf_reset(&b);
	mail_put_text(&b, "Subject", subj);
	t = text(&b);
	assert_true(strncmp(t, "Subject: =?UTF-8?B?", 19) == 0);
	assert_non_null(strstr(t, "\r\n =?UTF-8?B?"));	/* folded */
	assert_lines_within(t, MAIL_LINE_MAX);
	buf_init(&dec);
	decode_words(t, &dec);
	d = text(&dec);
	assert_string_equal(d, subj);
	free(d);
	free(t);
	buf_release(&dec);
	buf_reset(&b);
	mail_put_mailbox(&b, "From", "ELP", "a@b.c");
	t = text(&b);
	assert_string_equal(t, "From: \"ELP\" <a@b.c>\r\n");
	free(t);
	buf_reset(&b);
	mail_put_mailbox(&b, "From", "Ren\xc3\xa9", "a@b.c");
	t = text(&b);
	assert_string_equal(t, "From: =?UTF-8?B?UmVuw6k=?= <a@b.c>\r\n");
	free(t);
	buf_release(&b);
}

/* Decodes quoted-printable <s> into <out> (CRLF line breaks kept as LF). */
static void
qp_decode(const char *s, struct buf *out)
{
	char hex[3] = { 0, 0, 0 };

	while (*s != '\0') {
		if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
			s += 3;
		} else if (s[0] == '=') {
			hex[0] = s[1];
			hex[1] = s[2];
			buf_printf(out, "%c", (char)strtol(hex, NULL, 16));
			s += 3;
		} else if (s[0] == '\r' && s[1] == '\n') {
			buf_append(out, "\n", 1);
			s += 2;
		} else
			buf_append(out, s++, 1);
	}
}

static void
test_qp(void **state)
{
	char in[600], *t, *d;
	struct buf b, dec;
	size_t i;

	(void)state;
	buf_init(&b);
	mail_put_qp(&b, "a=b \nc\t\r\nd\xc3\xa9", 12);
	t = text(&b);
	assert_string_equal(t, "a=3Db=20\r\nc=09\r\nd=C3=A9\r\n");
	free(t);
	/* Long lines get soft breaks; decoding gives the text back. */
	for (i = 0; i < sizeof(in) - 1; i++)
		in[i] = i % 97 == 0 ? '\n' : (i % 5 == 0 ? '=' : 'x');
	in[sizeof(in) - 1] = '\0';
	buf_reset(&b);
	mail_put_qp(&b, in, strlen(in));
	t = text(&b);
	assert_lines_within(t, MAIL_LINE_MAX);
	buf_init(&dec);
	qp_decode(t, &dec);
	buf_append(&dec, "", 1);
	d = buf_data(&dec);
	assert_int_equal(strlen(d), strlen(in) + 1);	/* final line end */
	assert_memory_equal(d, in, strlen(in));
	free(t);
	buf_release(&dec);
	buf_release(&b);
}

static void
test_format(void **state)
{
	struct mail_msg m;
	struct buf b;
	char *t;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.mm_from = "noreply@elp.test";
	m.mm_from_name = "E-Learning Platform";
	m.mm_to = "alice@example.com";
	m.mm_subject = "Welcome";
	m.mm_msgid = "<1234@elp.test>";
	m.mm_date = 1751364000;
	m.mm_body = "Hello\n.\nBye\n";
	buf_init(&b);
	assert_int_equal(mail_format(&b, &m), 0);
	t = text(&b);
	assert_string_equal(t,
	    "Date: Tue, 01 Jul 2025 10:00:00 +0000\r\n"
	    "From: \"E-Learning Platform\" <noreply@elp.test>\r\n"
	    "To: <alice@example.com>\r\n"
	    "Subject: Welcome\r\n"
	    "Message-ID: <1234@elp.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "Hello\r\n.\r\nBye\r\n\r\n");
	free(t);
	buf_reset(&b);
	m.mm_to = "evil@example.com>\r\nBcc: x@y.z";
	assert_int_equal(mail_format(&b, &m), -1);
	assert_int_equal(buf_avail(&b), 0);
	m.mm_to = "alice@example.com";
	m.mm_msgid = "no-brackets@x";
	assert_int_equal(mail_format(&b, &m), -1);
	buf_release(&b);
}

static void
test_backoff(void **state)
{
	(void)state;
	/* rnd 0: the lower end (half), rnd max: the upper end. */
	assert_int_equal(mail_backoff(1000, 60000, 1, 0), 500);
	assert_int_equal(mail_backoff(1000, 60000, 1, UINT32_MAX - 1), 500 +
	    (UINT32_MAX - 1) % 501);
	assert_int_equal(mail_backoff(1000, 60000, 3, 0), 2000);
	assert_int_equal(mail_backoff(1000, 60000, 3, 2000), 4000);
	/* Capped at max, however many attempts; never overflows. */
	assert_int_equal(mail_backoff(1000, 60000, 7, 30000), 60000);
	assert_int_equal(mail_backoff(1000, 60000, 1000, 0), 30000);
	assert_int_equal(mail_backoff(UINT64_MAX / 2, UINT64_MAX / 2, 64, 0),
	    UINT64_MAX / 4);
	assert_true(mail_backoff(30000, 3600000, 5, 12345) >= 240000);
	assert_true(mail_backoff(30000, 3600000, 5, 12345) <= 480000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_header_plain_and_encoded),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
