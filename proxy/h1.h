/*
 * h1: strict, incremental HTTP/1.1 request codec (RFC 9112).
 *
 * Pure: takes bytes and caller-owned structs, returns counts. No sockets,
 * no logging, no allocation. Parsed fields are struct str views into the
 * caller's input; they are valid as long as those bytes stay where they are.
 * Input is never assumed to be NUL-terminated and is never read past <len>.
 *
 * Parsers return the bytes consumed (>= 0), H1_AGAIN when more input is
 * needed, or H1_BAD with an HTTP status for the answer. After H1_BAD the
 * caller answers with that status and closes the connection: the framing
 * of anything that follows cannot be trusted.
 *
 * Rejections of h1_parse_head(), in input order (the first offending byte
 * decides, so a head fed whole, or in pieces, gives the same status):
 *
 *	400  malformed request line: bare LF or bare CR anywhere, more than
 *	     H1_MAX_EMPTY_LINES empty lines before it, a method that is not a
 *	     token, two spaces, an empty target, a target byte outside
 *	     0x21-0x7e or a '#', a version that is not HTTP/<d>.<d>;
 *	     target form not allowed for the method: "*" other than with
 *	     OPTIONS, a non-authority-form target with CONNECT, an absolute
 *	     form that is not http(s)://<authority>[/path][?query] or whose
 *	     authority is empty, holds userinfo or is not a good authority
 *	     (below), a CONNECT target that is not a good authority with a
 *	     non-empty port, or a target that is none of origin, absolute,
 *	     authority or asterisk form;
 *	     header lines: obs-fold (a line starting with SP or HTAB), an
 *	     empty name, a name that is not a token (including whitespace
 *	     before the colon), a control byte other than HTAB in a value;
 *	     Content-Length that is not 1*DIGIT, overflows 64 bits, is a list
 *	     ("5, 5"), or appears twice (even with identical values);
 *	     Transfer-Encoding together with Content-Length, twice, in
 *	     HTTP/1.0, with an empty list member, or whose final coding is not
 *	     "chunked";
 *	     Host twice, with a byte outside the uri-host[:port] set, not
 *	     empty and not a good authority, or missing in HTTP/1.1;
 *	     Authorization twice (which credentials count would be a guess).
 *	     A good authority is uri-host [":" port] (RFC 9110 7.2, RFC 3986
 *	     3.2.2-3.2.3): a non-empty host that is either "[...]" with no
 *	     other bracket or a name with no bracket and no colon, where every
 *	     '%' starts two hex digits; port = *DIGIT (empty means none) and
 *	     at most 65535.
 *	414  request target longer than lim_target (reported as soon as
 *	     lim_target + 1 target bytes are seen)
 *	417  Expect with any value other than 100-continue
 *	431  a header line (name, colon, value and whitespace, without CRLF)
 *	     longer than lim_field; more than lim_headers header lines; a head
 *	     longer than lim_head bytes (everything up to and including the
 *	     empty line, leading empty lines included). Each is reported as
 *	     soon as the byte that breaks the limit has arrived.
 *	501  a method token other than GET HEAD POST PUT DELETE OPTIONS PATCH
 *	     (CONNECT and TRACE too unless H1_LIM_CONNECT / H1_LIM_TRACE are
 *	     set in lim_flags; a token longer than H1_METHOD_MAX is reported
 *	     without waiting for its end); Transfer-Encoding that ends in
 *	     "chunked" but applies other codings first ("gzip, chunked")
 *	505  a well-formed HTTP/<d>.<d> other than HTTP/1.0 and HTTP/1.1
 *
 * h1_chunk_decode() answers 400 for malformed chunked framing, 413 when the
 * payload exceeds its max_body and 431 when the trailer section exceeds its
 * max_trailer.
 */
#ifndef ELP_H1_H
#define ELP_H1_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define H1_BAD			(-1)	/* reject; *status says how */
#define H1_AGAIN		(-2)	/* need more bytes */

#define H1_MAX_HEADERS		100	/* compile-time cap on lim_headers */
#define H1_MAX_EMPTY_LINES	4	/* CRLFs tolerated before a request */
#define H1_METHOD_MAX		16	/* longer method tokens get 501 */
#define H1_CHUNK_LINE_MAX	1024	/* chunk-size line with extensions */

enum h1_method {
	H1_M_UNKNOWN = 0,
	H1_M_GET,
	H1_M_HEAD,
	H1_M_POST,
	H1_M_PUT,
	H1_M_DELETE,
	H1_M_CONNECT,
	H1_M_OPTIONS,
	H1_M_TRACE,
	H1_M_PATCH,
	H1_M_COUNT
};

/* The four request-target forms of RFC 9112 section 3.2. */
enum h1_form {
	H1_FORM_ORIGIN = 0,	/* /path?query */
	H1_FORM_ABSOLUTE,	/* http://authority/path?query */
	H1_FORM_AUTHORITY,	/* host:port, CONNECT only */
	H1_FORM_ASTERISK,	/* *, OPTIONS only */
	H1_FORM_COUNT
};

/*
 * Limits, all exact and all inclusive: a value equal to the limit passes,
 * one byte (or one header) more fails with the status given.
 */
struct h1_limits {
	size_t		lim_target;	/* request-target bytes; 414 */
	size_t		lim_field;	/* one header line w/o CRLF; 431 */
	size_t		lim_head;	/* whole head incl. final CRLF; 431 */
	size_t		lim_headers;	/* header lines, capped at
					   H1_MAX_HEADERS; 431 */
	unsigned int	lim_flags;
#define H1_LIM_CONNECT	0x01		/* accept CONNECT (authority-form) */
#define H1_LIM_TRACE	0x02		/* accept TRACE */
};

struct h1_header {
	struct str	name;	/* token, case as received */
	struct str	value;	/* OWS stripped on both sides; may be empty */
};

struct h1_req {
	enum h1_method	 method;
	struct str	 method_str;
	struct str	 target;	/* the request-target as received */
	enum h1_form	 form;
	struct str	 scheme;	/* absolute-form only, else empty */
	struct str	 authority;	/* absolute- and authority-form */
	struct str	 path;		/* target without query, raw (percent-
					   encoding neither checked nor
					   decoded); empty for authority-form
					   and for an absolute form without
					   path (which means "/") */
	struct str	 query;		/* after '?', without it; may be
					   empty */
	int		 minor;		/* HTTP/1.<minor>: 0 or 1 */
	size_t		 nheaders;
	struct h1_header headers[H1_MAX_HEADERS];
	uint64_t	 content_length;	/* when H1_F_LENGTH */
	struct str	 host;		/* Host, or the authority of an
					   absolute-form target (which wins,
					   RFC 9112 3.2.2); empty if neither */
	unsigned int	 flags;
#define H1_F_LENGTH	0x0001		/* Content-Length present */
#define H1_F_CHUNKED	0x0002		/* Transfer-Encoding: chunked */
#define H1_F_KEEPALIVE	0x0004		/* connection may be reused */
#define H1_F_CONTINUE	0x0008		/* Expect: 100-continue (1.1 only) */
#define H1_F_HOST	0x0010		/* a Host header was seen */
#define H1_F_CONN_CLOSE	0x0020		/* Connection has "close" */
#define H1_F_CONN_KA	0x0040		/* Connection has "keep-alive" */
#define H1_F_AUTH	0x0080		/* an Authorization header was seen */
	/* Resume state: private to h1.c. */
	const char	*h_base;	/* <buf> of the last H1_AGAIN call */
	size_t		 h_off;		/* next unparsed header line, or 0 */
};

/* Makes <req> ready for its first h1_parse_head() call. */
void		 h1_req_init(struct h1_req *req);

/*
 * Parses one request head from the start of <buf> (<len> bytes) within the
 * limits <lim>, filling <req>. Returns the bytes consumed, the whole head
 * including the empty line (bytes after it, such as a body or a pipelined
 * request, are not touched); H1_AGAIN when the head is incomplete and no
 * limit is broken yet; or H1_BAD with the status (see the table above) in
 * <status>. *status is set to 0 on the other outcomes.
 *
 * After H1_AGAIN, call again with more bytes and the same <req>: when <buf>
 * is the same pointer and its first <len> bytes are unchanged, parsing
 * resumes at the first unfinished header line; if the caller moved the
 * bytes, parsing restarts from the beginning. Either way the cost is linear
 * in the new bytes or in <len>. After a complete head or H1_BAD, the next
 * call starts a new request. h1_req_init() is needed only before the very
 * first call on a <req>.
 */
ssize_t		 h1_parse_head(const char *buf, size_t len,
		    const struct h1_limits *lim, struct h1_req *req,
		    int *status);

/* Returns the method name of <m>, or "UNKNOWN". */
const char	*h1_method_str(enum h1_method m);

/*
 * Returns a borrowed pointer to the first header of <req> named <name>
 * (<namelen> bytes, compared case-insensitively), or NULL.
 */
const struct h1_header *h1_header_find(const struct h1_req *req,
		    const char *name, size_t namelen);

/*
 * Returns 1 when <req> may be served by a server known as one of <hosts>
 * (a NULL-terminated array of host names, without port): always for a
 * target that is not in absolute form, otherwise when the host part of
 * its authority (the port is ignored) equals one of <hosts> ignoring
 * ASCII case. Returns 0 otherwise; the caller answers 400.
 */
int		 h1_absolute_ok(const struct h1_req *req,
		    const char *const *hosts);

/*
 * Incremental decoder of a chunked message body (RFC 9112 section 7.1).
 * Initialise with h1_chunk_init(); the struct is then private to h1.c.
 */
struct h1_chunk {
	int		ch_state;
	int		ch_status;	/* status after H1_BAD */
	uint64_t	ch_left;	/* size, then data bytes left, of
					   the current chunk */
	uint64_t	ch_total;	/* payload bytes so far */
	uint64_t	ch_max_body;	/* payload limit; 413 */
	size_t		ch_line;	/* bytes of the current line */
	size_t		ch_trailer;	/* bytes of the trailer section */
	size_t		ch_max_trailer;	/* trailer limit; 431 */
};

/*
 * Prepares <ch> for one body: at most <max_body> payload bytes (413 beyond)
 * and at most <max_trailer> bytes of trailer section, field lines and the
 * final CRLF included (431 beyond). A chunk-size line, extensions
 * included, may have up to H1_CHUNK_LINE_MAX bytes (400 beyond).
 */
void		 h1_chunk_init(struct h1_chunk *ch, uint64_t max_body,
		    size_t max_trailer);

/*
 * Consumes chunked framing from <in> (<len> bytes) and stops after the
 * first span of payload it meets, after the end of the body, or at the end
 * of <in>. Returns the bytes consumed, and in <data> the payload span, a
 * view into <in> inside the consumed bytes (empty if none). The input may
 * arrive in pieces of any size, one byte included; the caller calls again
 * with the unconsumed rest plus new bytes until h1_chunk_done(). Returns 0
 * once done; bytes after the body belong to the next request. Returns
 * H1_BAD with the status in ch_status (400, 413 or 431), and again on
 * every later call. Trailer fields are checked and discarded.
 */
ssize_t		 h1_chunk_decode(struct h1_chunk *ch, const char *in,
		    size_t len, struct str *data);

/* Returns 1 when the last chunk and the trailer section have been read. */
int		 h1_chunk_done(const struct h1_chunk *ch);

#endif
