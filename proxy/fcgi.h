/*
 * fcgi: the gateway's FastCGI 1.0 client-side record codec.
 *
 * Pure code: no sockets, no logging, no allocation. Encoders write into a
 * caller-provided span (<out>, <room>) and return the bytes written, or 0
 * when the output does not fit (nothing useful was written then). Parsers
 * return the bytes consumed, FCGI_AGAIN (-2) for "need more bytes" or
 * FCGI_BAD (-1). Every struct str they produce is a view into the caller's
 * input and lives exactly as long as that input.
 *
 * Gateway to backend, one request:
 *	BEGIN_REQUEST, PARAMS..., empty PARAMS, STDIN..., empty STDIN
 * Backend to gateway:
 *	STDOUT... (CGI head then body), STDERR..., END_REQUEST
 */
#ifndef ELP_FCGI_H
#define ELP_FCGI_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define FCGI_VERSION_1		1
#define FCGI_HEADER_LEN		8
#define FCGI_MAX_CONTENT	65535	/* content bytes in one record */
#define FCGI_MAX_PADDING	255
#define FCGI_ALIGN		8	/* records are padded to this */
#define FCGI_NULL_REQUEST_ID	0	/* management records */
#define FCGI_MAX_PAIR_LEN	0x7fffffffU /* longest name or value */

/* Parser results besides a byte count. */
#define FCGI_BAD		(-1)
#define FCGI_AGAIN		(-2)

/* Record types. */
#define FCGI_BEGIN_REQUEST	1
#define FCGI_ABORT_REQUEST	2
#define FCGI_END_REQUEST	3
#define FCGI_PARAMS		4
#define FCGI_STDIN		5
#define FCGI_STDOUT		6
#define FCGI_STDERR		7
#define FCGI_DATA		8
#define FCGI_GET_VALUES		9
#define FCGI_GET_VALUES_RESULT	10
#define FCGI_UNKNOWN_TYPE	11

/* Roles in BEGIN_REQUEST. */
#define FCGI_RESPONDER		1
#define FCGI_AUTHORIZER		2
#define FCGI_FILTER		3

/* BEGIN_REQUEST flags. */
#define FCGI_KEEP_CONN		0x01	/* app keeps the connection open */

/* END_REQUEST protocol status. */
#define FCGI_REQUEST_COMPLETE	0
#define FCGI_CANT_MPX_CONN	1
#define FCGI_OVERLOADED		2
#define FCGI_UNKNOWN_ROLE	3

/* Variable names for GET_VALUES. */
#define FCGI_MAX_CONNS		"FCGI_MAX_CONNS"
#define FCGI_MAX_REQS		"FCGI_MAX_REQS"
#define FCGI_MPXS_CONNS		"FCGI_MPXS_CONNS"

/* FCGI_ALIGN zero bytes, for the padding iovec of a zero-copy record. */
extern const char fcgi_zero_pad[FCGI_ALIGN];

struct fcgi_header {
	uint8_t		 version;
	uint8_t		 type;
	uint16_t	 reqid;
	uint16_t	 content_len;
	uint8_t		 padding_len;
};

/* A name/value pair to encode. */
struct fcgi_pair {
	struct str	 name;
	struct str	 value;
};

/*
 * Streaming PARAMS writer over one output span. Pairs are coalesced into
 * as few PARAMS records as possible; a pair may straddle records. Members
 * are private to fcgi.c.
 */
struct fcgi_params {
	char		*pw_out;
	size_t		 pw_room;
	size_t		 pw_len;	/* bytes written to pw_out */
	size_t		 pw_hdr;	/* offset of the open record's header */
	size_t		 pw_content;	/* content bytes in the open record */
	uint16_t	 pw_reqid;
	int		 pw_open;	/* a record is open at pw_hdr */
};

/* --- encoders ---------------------------------------------------------- */

/* Padding that aligns <content_len> bytes of content to FCGI_ALIGN. */
size_t	 fcgi_padding(size_t content_len);

/*
 * Writes an 8-byte record header. Returns FCGI_HEADER_LEN, or 0 when <room>
 * is short or <content_len>/<padding_len> exceed the protocol maxima. An
 * empty PARAMS or STDIN record (content_len 0) ends that stream.
 */
size_t	 fcgi_put_header(char *out, size_t room, uint8_t type, uint16_t reqid,
	    size_t content_len, size_t padding_len);

/*
 * Writes a BEGIN_REQUEST record for the RESPONDER role, with FCGI_KEEP_CONN
 * set when <keep_conn> is non-zero. Returns 16, or 0 when it does not fit.
 */
size_t	 fcgi_put_begin(char *out, size_t room, uint16_t reqid, int keep_conn);

/* Writes an ABORT_REQUEST record. Returns 8, or 0 when it does not fit. */
size_t	 fcgi_put_abort(char *out, size_t room, uint16_t reqid);

/*
 * Writes a GET_VALUES management record asking for FCGI_MAX_CONNS,
 * FCGI_MAX_REQS and FCGI_MPXS_CONNS. Returns 56, or 0 when it does not fit.
 */
size_t	 fcgi_put_get_values(char *out, size_t room);

/*
 * Bytes that fcgi_put_pair() writes for a pair of these lengths, or 0 when
 * a length exceeds FCGI_MAX_PAIR_LEN.
 */
size_t	 fcgi_pair_len(size_t name_len, size_t value_len);

/*
 * Writes the body of one name/value pair (lengths, name, value), without
 * any record header. Returns fcgi_pair_len(), or 0 when it does not fit.
 */
size_t	 fcgi_put_pair(char *out, size_t room, struct str name,
	    struct str value);

/*
 * Room a freshly started PARAMS writer needs to accept one pair of these
 * lengths and still end the stream: record headers, padding and the empty
 * terminator included. Returns 0 when a length exceeds FCGI_MAX_PAIR_LEN.
 */
size_t	 fcgi_params_need(size_t name_len, size_t value_len);

/* Starts a PARAMS writer for request <reqid> over <out>/<room>. */
void	 fcgi_params_init(struct fcgi_params *, char *out, size_t room,
	    uint16_t reqid);

/*
 * Appends one pair. Returns 0, or -1 when the pair (plus the padding and
 * the terminating empty record that fcgi_params_end() may need) does not
 * fit; nothing is written then, so the caller may fcgi_params_end(w, 0),
 * send, and restart with a fresh span. Room for ending is always kept.
 */
int	 fcgi_params_add(struct fcgi_params *, struct str name,
	    struct str value);

/*
 * Closes the open record (fills its header, writes its padding) and, when
 * <last> is non-zero, appends the empty PARAMS record that ends the stream.
 * Returns the total bytes written into the span since fcgi_params_init(),
 * or 0 when even the terminator does not fit.
 */
size_t	 fcgi_params_end(struct fcgi_params *, int last);

/*
 * Encodes the <n> pairs of <kv> as a complete PARAMS stream (records plus
 * the empty terminator). Returns the bytes written, or 0 when it does not
 * fit.
 */
size_t	 fcgi_put_params(char *out, size_t room, uint16_t reqid,
	    const struct fcgi_pair *kv, size_t n);

/*
 * Writes the header of a STDIN record carrying <len> payload bytes; the
 * caller then sends the payload itself (copy or writev) followed by
 * fcgi_padding(len) bytes of fcgi_zero_pad. <len> 0 ends the body.
 * Returns 8, or 0 when <room> is short or <len> > FCGI_MAX_CONTENT.
 */
size_t	 fcgi_put_stdin_header(char *out, size_t room, uint16_t reqid,
	    size_t len);

/*
 * Copying variant: writes one complete STDIN record holding as much of
 * <data>/<len> as fits in <room> (at most FCGI_MAX_CONTENT), padding
 * included, and stores the payload bytes taken in <*used>. Returns the
 * record's size, or 0 when not even one payload byte fits (or <len> is 0:
 * use fcgi_put_stdin_header(out, room, reqid, 0) to end the body).
 */
size_t	 fcgi_put_stdin(char *out, size_t room, uint16_t reqid,
	    const char *data, size_t len, size_t *used);

/* --- decoders ---------------------------------------------------------- */

/*
 * Parses one record header from <in>. Returns FCGI_HEADER_LEN, FCGI_AGAIN
 * when <len> < 8, or FCGI_BAD when the version is not 1.
 */
ssize_t	 fcgi_parse_header(const char *in, size_t len, struct fcgi_header *);

/*
 * Parses one name/value pair (PARAMS or GET_VALUES_RESULT content) from
 * <in>. Returns the bytes consumed, or FCGI_AGAIN when the pair is cut
 * (inside a complete record content, that means the content is malformed).
 * <name> and <value> are views into <in>.
 */
ssize_t	 fcgi_parse_pair(const char *in, size_t len, struct str *name,
	    struct str *value);

enum fcgi_dec_state {
	FCGI_DEC_HEADER = 0,	/* reading a record header */
	FCGI_DEC_CONTENT,	/* inside a record's content */
	FCGI_DEC_PADDING,	/* skipping a record's padding */
	FCGI_DEC_DONE,		/* END_REQUEST seen */
	FCGI_DEC_ERROR,		/* sticky; see d_err */
	FCGI_DEC_COUNT
};

enum fcgi_err {
	FCGI_ERR_NONE = 0,
	FCGI_ERR_VERSION,	/* version is not 1 */
	FCGI_ERR_REQID,		/* request id not the expected one */
	FCGI_ERR_TYPE,		/* unknown type or one a backend never sends */
	FCGI_ERR_LENGTH,	/* END_REQUEST/UNKNOWN_TYPE content not 8 */
	FCGI_ERR_AFTER_END,	/* bytes after END_REQUEST */
	FCGI_ERR_COUNT
};

enum fcgi_ev {
	FCGI_EV_NONE = 0,	/* all input consumed, nothing to report */
	FCGI_EV_STDOUT,		/* ev_data: STDOUT content */
	FCGI_EV_STDERR,		/* ev_data: STDERR content */
	FCGI_EV_VALUES,		/* ev_data: GET_VALUES_RESULT content */
	FCGI_EV_VALUES_END,	/* the GET_VALUES_RESULT record is complete */
	FCGI_EV_UNKNOWN,	/* UNKNOWN_TYPE reply; ev_unknown_type */
	FCGI_EV_END,		/* END_REQUEST; ev_*_status */
	FCGI_EV_ERROR,		/* protocol violation; ev_err */
	FCGI_EV_COUNT
};

struct fcgi_event {
	enum fcgi_ev	 ev_type;
	struct str	 ev_data;	/* view into the input of this call */
	uint32_t	 ev_app_status;
	uint8_t		 ev_proto_status;
	uint8_t		 ev_unknown_type;
	enum fcgi_err	 ev_err;
};

/* Incremental backend-to-gateway stream decoder. Members are private. */
struct fcgi_dec {
	enum fcgi_dec_state	 d_state;
	enum fcgi_err		 d_err;
	uint16_t		 d_reqid;	/* expected request id */
	struct fcgi_header	 d_hdr;		/* record being decoded */
	size_t			 d_got;		/* bytes in d_raw */
	size_t			 d_content;	/* content bytes left */
	size_t			 d_padding;	/* padding bytes left */
	unsigned char		 d_raw[FCGI_HEADER_LEN];
};

/* Readies <d> for the response to request <reqid>; reusable on keep-alive. */
void	 fcgi_dec_init(struct fcgi_dec *, uint16_t reqid);

/*
 * Decodes records from <in>/<len>, which may cut them anywhere, down to a
 * byte at a time; partial headers are kept in <d>. Returns the bytes of
 * <in> consumed (0..len) with one event in <ev>; FCGI_EV_NONE means all of
 * <in> was consumed and more is needed. Call again with the rest of <in>
 * after any other event, even an empty rest: VALUES_END may follow the
 * last VALUES span without more input. Data spans are views into <in>; a
 * record's content may arrive as several spans. END is reported once the
 * record's padding is consumed too; then any further byte is an error.
 * Returns FCGI_BAD with an FCGI_EV_ERROR event on a protocol violation, and
 * keeps failing after that.
 */
ssize_t	 fcgi_dec_run(struct fcgi_dec *, const char *in, size_t len,
	    struct fcgi_event *ev);

/* Constant text for an error, an event type or a decoder state. */
const char	*fcgi_err_str(enum fcgi_err);
const char	*fcgi_ev_str(enum fcgi_ev);
const char	*fcgi_dec_state_str(enum fcgi_dec_state);

/* --- CGI response head ------------------------------------------------- */

#define FCGI_CGI_MAX_HEADERS	100	/* capacity of fcgi_cgi_head.ch_hdrs */

struct fcgi_head_limits {
	size_t	 hl_max_bytes;		/* head size, blank line included */
	size_t	 hl_max_headers;	/* <= FCGI_CGI_MAX_HEADERS */
};

struct fcgi_cgi_hdr {
	struct str	 name;
	struct str	 value;		/* surrounding blanks trimmed */
};

struct fcgi_cgi_head {
	int			 ch_status;	/* 100..599 */
	struct str		 ch_reason;	/* empty when not given */
	struct str		 ch_location;	/* empty when absent */
	int64_t			 ch_content_length; /* -1 when absent */
	size_t			 ch_nhdrs;
	/* Other headers, in order; never Status, Location, Content-Length. */
	struct fcgi_cgi_hdr	 ch_hdrs[FCGI_CGI_MAX_HEADERS];
};

/*
 * Parses the CGI response head at the start of the STDOUT stream. Lines end
 * in LF or CRLF; a blank line ends the head. Extracts Status (default 200;
 * 302 when a Location is given without Status), Location and Content-Length
 * (strict digits; conflicting duplicates are bad), and keeps the rest as
 * views into <in>. Returns the bytes of the head (the body starts there),
 * FCGI_AGAIN when it is incomplete and still within <lim>, or FCGI_BAD on a
 * malformed head, a bad name, control bytes, obs-fold, or a limit exceeded.
 * Call again from the start of the stream with more bytes after FCGI_AGAIN.
 */
ssize_t	 fcgi_parse_cgi_head(const char *in, size_t len,
	    const struct fcgi_head_limits *lim, struct fcgi_cgi_head *head);

/*
 * Finds the first header named <name> (ASCII case-insensitive) among the
 * headers kept in <head>. Returns a pointer into <head>, or NULL.
 */
const struct fcgi_cgi_hdr *
	 fcgi_cgi_header_find(const struct fcgi_cgi_head *head,
	    const char *name);

#endif
