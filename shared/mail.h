/*
 * mail: the pure parts of sending e-mail. Builds an RFC 5322 message
 * (text/plain, UTF-8, quoted-printable body, CRLF line ends) with RFC 2047
 * encoded headers where the text is not plain ASCII, checks addresses
 * before they reach a header or the SMTP envelope, and computes the retry
 * delay of a failed delivery. No I/O, no clock, no randomness of its own:
 * callers pass the time and the random bits, so unit tests can pin them.
 */
#ifndef ELP_MAIL_H
#define ELP_MAIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

#define MAIL_ADDR_MAX	254	/* bytes of an address (RFC 5321 path) */
#define MAIL_DATE_LEN	31	/* "Tue, 01 Jul 2025 10:00:00 +0000" */
#define MAIL_LINE_MAX	76	/* encoded lines are kept this short */

/* One message; every string is UTF-8 without NUL bytes. */
struct mail_msg {
	const char	*mm_from;	/* address */
	const char	*mm_from_name;	/* display name or NULL */
	const char	*mm_to;		/* address */
	const char	*mm_subject;	/* CR and LF become spaces */
	const char	*mm_msgid;	/* "<...@...>", already checked */
	time_t		 mm_date;	/* Date: header, UTC */
	const char	*mm_body;	/* lines end in LF or CRLF */
};

/*
 * Whether <addr> may be used as an envelope address and in a header:
 * 3..MAIL_ADDR_MAX bytes of printable ASCII, exactly one '@' with text on
 * both sides, and none of the characters that would end or split it
 * (space, '<', '>', '(', ')', ',', ';', ':', '"', '\\', '[', ']').
 */
int	 mail_addr_ok(const char *addr);

/*
 * Whether <id> is a Message-ID the message may carry: "<left@right>",
 * at most 250 bytes, printable ASCII without spaces or further '<' '>'.
 */
int	 mail_msgid_ok(const char *id);

/* Writes <t> as an RFC 5322 date in UTC to <out>. */
void	 mail_date(time_t t, char out[MAIL_DATE_LEN + 1]);

/*
 * Appends header <name> with the unstructured text <text>: as is when it
 * is printable ASCII (CR and LF replaced by spaces) and the line fits in
 * 998 bytes, otherwise as RFC 2047 "B" encoded words of UTF-8, each at
 * most 75 bytes, never splitting a UTF-8 sequence, folded with CRLF SP.
 * Ends the header with CRLF.
 */
void	 mail_put_text(struct buf *out, const char *name, const char *text);

/*
 * Appends header <name> with the mailbox <addr> and the optional display
 * <dname>: "name" <addr> for printable ASCII names without '"' or '\\',
 * an encoded word otherwise, plain <addr> without a name.
 */
void	 mail_put_mailbox(struct buf *out, const char *name, const char *dname,
	    const char *addr);

/*
 * Appends <len> bytes of <text> quoted-printable encoded (RFC 2045): LF
 * and CRLF become CRLF line breaks, '=', non-ASCII and control bytes are
 * escaped, spaces and tabs before a line break too, and soft breaks keep
 * every line within MAIL_LINE_MAX bytes. Ends with CRLF.
 */
void	 mail_put_qp(struct buf *out, const char *text, size_t len);

/*
 * Appends the whole message <m>: Date, From, To, Subject, Message-ID,
 * MIME-Version, Content-Type, Content-Transfer-Encoding, a blank line and
 * the body. Returns 0, or -1 (nothing appended) when an address or the
 * Message-ID is not acceptable.
 */
int	 mail_format(struct buf *out, const struct mail_msg *m);

/*
 * Delay in ms before attempt <attempts> + 1 after <attempts> failed ones
 * (attempts >= 1): d = min(<base> * 2^(attempts - 1), <max>), then "equal
 * jitter": d/2 plus <rnd> modulo (d/2 + 1), so the result is in
 * [d/2, d]. Never overflows.
 */
uint64_t mail_backoff(uint64_t base, uint64_t max, unsigned attempts,
	    uint32_t rnd);

#endif
