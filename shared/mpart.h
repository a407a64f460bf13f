/*
 * mpart: pure, incremental multipart/form-data parser (RFC 7578, framing
 * of RFC 2046 section 5.1.1).
 *
 * Pure: no I/O, no logging, no allocation. Input is never assumed to be
 * NUL-terminated and is never read past <len>.
 *
 * The caller owns one input buffer. Each mpart_run() call looks at the
 * unconsumed bytes (all of them, oldest first) and returns one of:
 *
 *	>= 0		that many bytes consumed, <ev> says what they were
 *	MPART_AGAIN	nothing consumed: keep every unconsumed byte, append
 *			more input and call again with the whole lot
 *	MPART_BAD	the body is rejected; ev->status is 400, 413 or 431
 *
 * Events (ev->type):
 *
 *	MPART_EV_NONE		bytes of the preamble or the epilogue were
 *				skipped; the return value is > 0
 *	MPART_EV_PART_BEGIN	a delimiter line and a complete part head were
 *				consumed; name, filename and content_type are
 *				views into <in>
 *	MPART_EV_DATA		ev->data is a span of the current part's body,
 *				a view into <in>; the return value is its
 *				length. A part's body may come in any number
 *				of DATA events, or none when it is empty
 *	MPART_EV_PART_END	the current part ended; 0 bytes consumed (the
 *				delimiter that follows is consumed by the next
 *				PART_BEGIN or END)
 *	MPART_EV_END		the close delimiter "--boundary--" was
 *				consumed. Later bytes are the epilogue
 *
 * Views are valid only until the caller moves or overwrites the bytes of
 * <in>, which in practice means until the next call: copy name, filename
 * and content_type (mpart_copy() removes the quoting) before calling again.
 * A part head is never split: PART_BEGIN comes only once the delimiter line
 * and the whole head are in one <in>. Body bytes that could be the start
 * of a delimiter ("\r\n--boundary") are held back (MPART_AGAIN when
 * nothing else is left), so DATA never carries a byte of a delimiter.
 *
 * A caller whose buffer can hold MPART_BUF_MIN(lim) bytes never stalls: a
 * call with that many unconsumed bytes never returns MPART_AGAIN.
 *
 * The end of the input is not signalled to the parser: a body that ends
 * without the close delimiter (truncated upload, wrong boundary) simply
 * never yields MPART_EV_END. The caller answers 400 when its input ends
 * (Content-Length reached, chunked body done, peer closed) without END.
 *
 * Rejections (MPART_BAD; later calls repeat the same status). Whether the
 * input comes whole or in pieces, the same body gives the same status:
 *
 *	400  a delimiter "--boundary" not followed by "--" (close) or by up
 *	     to MPART_PAD_MAX spaces or tabs and CRLF; a preamble or epilogue
 *	     longer than MPART_SKIP_MAX bytes;
 *	     a head line with a bare LF or CR, an obs-fold, an empty name, a
 *	     name that is not a token, a control byte (NUL included) other
 *	     than HTAB in a value; a second Content-Disposition or
 *	     Content-Type; a Content-Disposition that is not
 *	     form-data *( ";" param ) with a token or quoted-string value
 *	     per param, lacks the name parameter or repeats name or
 *	     filename; a head without Content-Disposition
 *	413  a delimiter line that would open part lim_parts + 1
 *	431  a part head (its lines and the empty line that ends it) longer
 *	     than lim_head bytes, reported as soon as byte lim_head + 1 is
 *	     seen without the head ending; more than lim_headers head lines
 *
 * XXX Browsers do not backslash-escape quoted parameter values (the HTML
 * standard percent-encodes '"', CR and LF instead), so a filename with a
 * literal backslash comes back without it from mpart_copy(). The raw view
 * is kept in ev->filename for callers that want the browser reading.
 */
#ifndef ELP_MPART_H
#define ELP_MPART_H

#include <sys/types.h>

#include <stddef.h>

#include "buf.h"

#define MPART_BAD		(-1)	/* reject; ev->status says how */
#define MPART_AGAIN		(-2)	/* need more bytes */

#define MPART_BOUNDARY_MAX	70	/* RFC 2046 */
#define MPART_PAD_MAX		32	/* blanks after a delimiter */
#define MPART_SKIP_MAX		16384	/* preamble, and epilogue */
/* Longest delimiter line: CRLF "--" boundary padding CRLF. */
#define MPART_LINE_MAX		(4 + MPART_BOUNDARY_MAX + MPART_PAD_MAX + 2)
#define MPART_BUF_MIN(lim)	(MPART_LINE_MAX + (lim)->lim_head)

/* Limits, exact and inclusive: the limit passes, one more fails. */
struct mpart_limits {
	size_t	lim_head;	/* bytes of one part head, the empty line
				   that ends it included; 431 */
	size_t	lim_headers;	/* head lines per part; 431 */
	size_t	lim_parts;	/* parts per body; 413 */
};

enum mpart_ev {
	MPART_EV_NONE = 0,
	MPART_EV_PART_BEGIN,
	MPART_EV_DATA,
	MPART_EV_PART_END,
	MPART_EV_END,
	MPART_EV_COUNT
};

struct mpart_event {
	enum mpart_ev	 type;
	int		 status;	/* HTTP status after MPART_BAD, else 0 */
	struct str	 name;		/* PART_BEGIN: name parameter, raw:
					   without the quotes, escapes kept */
	struct str	 filename;	/* PART_BEGIN: same, when
					   MPART_F_FILENAME; may be empty */
	struct str	 content_type;	/* PART_BEGIN: Content-Type value, OWS
					   stripped; empty when absent (which
					   means text/plain) */
	struct str	 data;		/* DATA: body bytes */
	unsigned int	 flags;
#define MPART_F_FILENAME 0x01		/* a filename parameter was present */
};

/* Parser state; private to mpart.c after mpart_init(). */
struct mpart {
	int			mp_state;
	int			mp_status;	/* status after MPART_BAD */
	size_t			mp_parts;	/* parts opened so far */
	size_t			mp_skip;	/* preamble/epilogue skipped */
	size_t			mp_dlen;	/* bytes of mp_delim */
	struct mpart_limits	mp_lim;
	char			mp_delim[4 + MPART_BOUNDARY_MAX];
					/* CRLF "--" boundary, no NUL */
};

/*
 * Extracts the boundary parameter of a Content-Type field value <ct> into
 * <out> (<outlen> bytes), NUL-terminated, with the quoting of a
 * quoted-string removed. The type must be multipart/form-data (any case),
 * the parameter name "boundary" (any case) must appear exactly once, and
 * its value must be 1 to 70 bytes of the RFC 2046 bchars set, not ending
 * in a space. Other parameters are skipped. Returns the boundary length,
 * or -1 when <ct> is not multipart/form-data, is malformed, has no or an
 * invalid boundary, or the boundary does not fit in <outlen> - 1 bytes.
 */
int		 mpart_boundary(struct str ct, char *out, size_t outlen);

/*
 * Makes <mp> ready to parse a body delimited by <boundary>, a
 * NUL-terminated string as mpart_boundary() gives it, under the limits
 * <lim> (copied). Returns 0, or -1 when <boundary> is empty or longer than
 * MPART_BOUNDARY_MAX. <mp> holds no resources; it may be initialised again
 * at any time.
 */
int		 mpart_init(struct mpart *mp, const char *boundary,
		    const struct mpart_limits *lim);

/*
 * Parses the unconsumed body bytes <in> (<len> bytes) and reports one
 * event in <ev>, which is cleared first. Returns the bytes consumed,
 * MPART_AGAIN or MPART_BAD, as described at the top of this file.
 */
ssize_t		 mpart_run(struct mpart *mp, const char *in, size_t len,
		    struct mpart_event *ev);

/*
 * Copies the raw parameter view <v> (ev->name or ev->filename) into <out>
 * (<outlen> bytes) with each backslash escape replaced by the byte it
 * quotes, and NUL-terminates it. Returns the length copied, or -1 when
 * it does not fit in <outlen> - 1 bytes.
 */
ssize_t		 mpart_copy(struct str v, char *out, size_t outlen);

/* Returns the name of event type <t>, or "UNKNOWN". */
const char	*mpart_ev_str(enum mpart_ev t);

#endif
