/*
 * mail: RFC 5322 messages, RFC 2047 headers, quoted-printable bodies and
 * retry delays (see mail.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "buf.h"
#include "mail.h"

#define MAIL_HDR_MAX	998	/* RFC 5322 line limit, without CRLF */
#define MAIL_EW_OVERHEAD 12	/* "=?UTF-8?B?" + "?=" */
#define MAIL_MSGID_MAX	250

static const char mail_specials[] = " <>(),;:\"\\[]";

int
mail_addr_ok(const char *addr)
{
	const char *at = NULL, *p;
	size_t n = strlen(addr);

	if (n < 3 || n > MAIL_ADDR_MAX)
		return 0;
	for (p = addr; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f || strchr(mail_specials, *p))
			return 0;
		if (*p == '@') {
			if (at != NULL)
				return 0;
			at = p;
		}
	}
	return at != NULL && at != addr && at[1] != '\0';
}

int
mail_msgid_ok(const char *id)
{
	size_t n = strlen(id), i;
	const char *at;

	if (n < 5 || n > MAIL_MSGID_MAX || id[0] != '<' || id[n - 1] != '>')
		return 0;
	for (i = 1; i + 1 < n; i++)
		if (id[i] <= ' ' || id[i] >= 0x7f || id[i] == '<' ||
		    id[i] == '>')
			return 0;
	at = strchr(id, '@');
	return at != NULL && at > id + 1 && at < id + n - 2;
}

void
mail_date(time_t t, char out[MAIL_DATE_LEN + 1])
{
	static const char *const day[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	char tmp[64];

	gmtime_r(&t, &tm);
	/* Years past 9999 would not fit: the date is ours, never input. */
	snprintf(tmp, sizeof(tmp), "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    day[tm.tm_wday % 7], tm.tm_mday, mon[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	memcpy(out, tmp, MAIL_DATE_LEN);
	out[MAIL_DATE_LEN] = '\0';
}

/* Whether <s> is printable ASCII apart from CR and LF. */
static int
mail_plain(const char *s)
{
	for (; *s != '\0'; s++)
		if ((*s < ' ' && *s != '\r' && *s != '\n') || *s >= 0x7f)
			return 0;
	return 1;
}

/*
 * Bytes of <s> (<len> left) that fit in one encoded word with <room>
 * base64 characters, cut before a UTF-8 continuation byte.
 */
static size_t
mail_ew_take(const unsigned char *s, size_t len, size_t room)
{
	size_t n = room / 4 * 3;

	if (n >= len)
		return len;
	while (n > 1 && (s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/*
 * Appends <text> as encoded words after <used> bytes of the current
 * line, folding as needed. CR and LF are encoded as spaces.
 */
static void
mail_put_words(struct buf *out, const char *text, size_t used)
{
	unsigned char in[64], b64[96];
	const unsigned char *s = (const unsigned char *)text;
	size_t len = strlen(text), n, i, room;

	while (len > 0) {
		room = MAIL_LINE_MAX - used - MAIL_EW_OVERHEAD;
		n = mail_ew_take(s, len, room);
		for (i = 0; i < n; i++)
			in[i] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
		EVP_EncodeBlock(b64, in, (int)n);
		buf_printf(out, "=?UTF-8?B?%s?=", (const char *)b64);
		s += n;
		len -= n;
		if (len > 0) {
			buf_append_str(out, "\r\n ");
			used = 1;
		}
	}
}

void
mail_put_text(struct buf *out, const char *name, const char *text)
{
	size_t used = strlen(name) + 2;
	const char *p;

	buf_printf(out, "%s: ", name);
	if (mail_plain(text) && used + strlen(text) <= MAIL_HDR_MAX) {
		for (p = text; *p != '\0'; p++)
			buf_append(out, *p == '\r' || *p == '\n' ? " " : p, 1);
	} else
		mail_put_words(out, text, used);
	buf_append_str(out, "\r\n");
}

void
mail_put_mailbox(struct buf *out, const char *name, const char *dname,
    const char *addr)
{
	buf_printf(out, "%s: ", name);
	if (dname != NULL && dname[0] != '\0') {
		if (mail_plain(dname) && strpbrk(dname, "\"\\\r\n") == NULL &&
		    strlen(dname) < 200)
			buf_printf(out, "\"%s\"", dname);
		else
			mail_put_words(out, dname, strlen(name) + 2);
		buf_append_str(out, " ");
	}
	buf_printf(out, "<%s>\r\n", addr);
}

/* Appends one QP token of <n> bytes, with a soft break before it when the
 * line would grow past MAIL_LINE_MAX (the '=' of the break included). */
static void
mail_qp_tok(struct buf *out, size_t *col, const char *tok, size_t n)
{
	if (*col + n > MAIL_LINE_MAX - 1) {
		buf_append_str(out, "=\r\n");
		*col = 0;
	}
	buf_append(out, tok, n);
	*col += n;
}

/* Whether position <i> of <t> (<len>) is just before a line end. */
static int
mail_at_eol(const char *t, size_t len, size_t i)
{
	return i + 1 == len || t[i + 1] == '\n' ||
	    (t[i + 1] == '\r' && i + 2 < len && t[i + 2] == '\n');
}

void
mail_put_qp(struct buf *out, const char *text, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	char esc[3];
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		c = (unsigned char)text[i];
		if (c == '\n' || (c == '\r' && i + 1 < len &&
		    text[i + 1] == '\n')) {
			if (c == '\r')
				i++;
			buf_append_str(out, "\r\n");
			col = 0;
			continue;
		}
		if ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !mail_at_eol(text, len, i))) {
			mail_qp_tok(out, &col, (const char *)&text[i], 1);
			continue;
		}
		esc[0] = '=';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 0xf];
		mail_qp_tok(out, &col, esc, 3);
	}
	buf_append_str(out, "\r\n");
}

int
mail_format(struct buf *out, const struct mail_msg *m)
{
	char date[MAIL_DATE_LEN + 1];

	if (!mail_addr_ok(m->mm_from) || !mail_addr_ok(m->mm_to) ||
	    !mail_msgid_ok(m->mm_msgid))
		return -1;
	mail_date(m->mm_date, date);
	buf_printf(out, "Date: %s\r\n", date);
	mail_put_mailbox(out, "From", m->mm_from_name, m->mm_from);
	mail_put_mailbox(out, "To", NULL, m->mm_to);
	mail_put_text(out, "Subject", m->mm_subject);
	buf_printf(out, "Message-ID: %s\r\n", m->mm_msgid);
	buf_append_str(out, "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	mail_put_qp(out, m->mm_body, strlen(m->mm_body));
	return 0;
}

uint64_t
mail_backoff(uint64_t base, uint64_t max, unsigned attempts, uint32_t rnd)
{
	uint64_t d = base, half;
	unsigned i;

	for (i = 1; i < attempts && d < max; i++)
		d = d > max / 2 ? max : d * 2;
	if (d > max)
		d = max;
	half = d / 2;
	return half + (uint64_t)rnd % (half + 1);
}
