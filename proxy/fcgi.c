/*
 * FastCGI 1.0 client-side record codec: request encoders, the incremental
 * response decoder and the CGI response head parser. See fcgi.h for the
 * conventions; nothing here allocates, logs or touches a socket.
 */
#include <sys/types.h>

#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "fcgi.h"

#define MIN(a, b)	((a) < (b) ? (a) : (b))

/* Body of BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE records. */
#define FCGI_BODY_LEN	8

const char fcgi_zero_pad[FCGI_ALIGN] = { 0 };

static void
put16(unsigned char *p, size_t v)
{
	p[0] = (v >> 8) & 0xff;
	p[1] = v & 0xff;
}

static void
put32(unsigned char *p, size_t v)
{
	p[0] = (v >> 24) & 0xff;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* --- encoders ------------------------------------------------------------ */

size_t
fcgi_padding(size_t content_len)
{
	return (FCGI_ALIGN - content_len % FCGI_ALIGN) % FCGI_ALIGN;
}

size_t
fcgi_put_header(char *out, size_t room, uint8_t type, uint16_t reqid,
    size_t content_len, size_t padding_len)
{
	unsigned char	*p = (unsigned char *)out;

	if (room < FCGI_HEADER_LEN || content_len > FCGI_MAX_CONTENT ||
	    padding_len > FCGI_MAX_PADDING)
		return 0;
	p[0] = FCGI_VERSION_1;
	p[1] = type;
	put16(p + 2, reqid);
	put16(p + 4, content_len);
	p[6] = (unsigned char)padding_len;
	p[7] = 0;
	return FCGI_HEADER_LEN;
}

size_t
fcgi_put_begin(char *out, size_t room, uint16_t reqid, int keep_conn)
{
	unsigned char	*p = (unsigned char *)out;

	if (room < FCGI_HEADER_LEN + FCGI_BODY_LEN)
		return 0;
	fcgi_put_header(out, room, FCGI_BEGIN_REQUEST, reqid, FCGI_BODY_LEN,
	    0);
	p += FCGI_HEADER_LEN;
	memset(p, 0, FCGI_BODY_LEN);
	put16(p, FCGI_RESPONDER);
	p[2] = keep_conn ? FCGI_KEEP_CONN : 0;
	return FCGI_HEADER_LEN + FCGI_BODY_LEN;
}

size_t
fcgi_put_abort(char *out, size_t room, uint16_t reqid)
{
	return fcgi_put_header(out, room, FCGI_ABORT_REQUEST, reqid, 0, 0);
}

size_t
fcgi_put_get_values(char *out, size_t room)
{
	static const char	*names[] = {
		FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS
	};
	size_t			 i, n, content = 0, pad;

	if (room < FCGI_HEADER_LEN)
		return 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		n = fcgi_put_pair(out + FCGI_HEADER_LEN + content,
		    room - FCGI_HEADER_LEN - content,
		    str_make(names[i], strlen(names[i])), STR_NULL);
		if (n == 0)
			return 0;
		content += n;
	}
	pad = fcgi_padding(content);
	if (room - FCGI_HEADER_LEN - content < pad)
		return 0;
	memset(out + FCGI_HEADER_LEN + content, 0, pad);
	fcgi_put_header(out, room, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID,
	    content, pad);
	return FCGI_HEADER_LEN + content + pad;
}

/* Bytes of the length prefix for a name or value of <n> bytes. */
static size_t
pair_len_size(size_t n)
{
	return n < 128 ? 1 : 4;
}

/* Writes the length prefix for <n>; returns its size. */
static size_t
pair_put_len(unsigned char *p, size_t n)
{
	if (n < 128) {
		p[0] = (unsigned char)n;
		return 1;
	}
	put32(p, n | 0x80000000U);
	return 4;
}

size_t
fcgi_pair_len(size_t name_len, size_t value_len)
{
	if (name_len > FCGI_MAX_PAIR_LEN || value_len > FCGI_MAX_PAIR_LEN)
		return 0;
	return pair_len_size(name_len) + pair_len_size(value_len) +
	    name_len + value_len;
}

size_t
fcgi_put_pair(char *out, size_t room, struct str name, struct str value)
{
	unsigned char	*p = (unsigned char *)out;
	size_t		 need, off;

	need = fcgi_pair_len(name.len, value.len);
	if (need == 0 || need > room)
		return 0;
	off = pair_put_len(p, name.len);
	off += pair_put_len(p + off, value.len);
	if (name.len > 0)
		memcpy(p + off, name.p, name.len);
	off += name.len;
	if (value.len > 0)
		memcpy(p + off, value.p, value.len);
	return off + value.len;
}

void
fcgi_params_init(struct fcgi_params *w, char *out, size_t room,
    uint16_t reqid)
{
	memset(w, 0, sizeof(*w));
	w->pw_out = out;
	w->pw_room = room;
	w->pw_reqid = reqid;
}

/*
 * Bytes needed to append <n> content bytes to the stream in <w>, then close
 * the last record and terminate the stream. Mirrors params_write().
 */
static size_t
params_need(const struct fcgi_params *w, size_t n)
{
	size_t	need = 0, c = w->pw_content, take;

	if (!w->pw_open) {
		need += FCGI_HEADER_LEN;
		c = 0;
	}
	for (;;) {
		take = MIN(n, FCGI_MAX_CONTENT - c);
		need += take;
		c += take;
		n -= take;
		if (n == 0)
			break;
		need += fcgi_padding(c) + FCGI_HEADER_LEN;
		c = 0;
	}
	return need + fcgi_padding(c) + FCGI_HEADER_LEN;
}

static void
params_open(struct fcgi_params *w)
{
	w->pw_hdr = w->pw_len;
	w->pw_len += FCGI_HEADER_LEN;
	w->pw_content = 0;
	w->pw_open = 1;
}

/* Fills in the open record's header and writes its padding. */
static void
params_close(struct fcgi_params *w)
{
	size_t	pad = fcgi_padding(w->pw_content);

	fcgi_put_header(w->pw_out + w->pw_hdr, FCGI_HEADER_LEN, FCGI_PARAMS,
	    w->pw_reqid, w->pw_content, pad);
	memset(w->pw_out + w->pw_len, 0, pad);
	w->pw_len += pad;
	w->pw_open = 0;
}

/* Appends content bytes, starting records as needed; room was checked. */
static void
params_write(struct fcgi_params *w, const void *src, size_t n)
{
	const char	*p = src;
	size_t		 take;

	while (n > 0) {
		if (w->pw_open && w->pw_content == FCGI_MAX_CONTENT)
			params_close(w);
		if (!w->pw_open)
			params_open(w);
		take = MIN(n, FCGI_MAX_CONTENT - w->pw_content);
		memcpy(w->pw_out + w->pw_len, p, take);
		w->pw_len += take;
		w->pw_content += take;
		p += take;
		n -= take;
	}
}

size_t
fcgi_params_need(size_t name_len, size_t value_len)
{
	struct fcgi_params	w;
	size_t			plen;

	if ((plen = fcgi_pair_len(name_len, value_len)) == 0)
		return 0;
	fcgi_params_init(&w, NULL, 0, 0);
	return params_need(&w, plen);
}

int
fcgi_params_add(struct fcgi_params *w, struct str name, struct str value)
{
	unsigned char	lens[8];
	size_t		plen, n;

	plen = fcgi_pair_len(name.len, value.len);
	if (plen == 0)
		return -1;
	/* The common case: the open record takes the pair whole, and the
	 * room left still closes it (padding < 8) and ends the stream. */
	if (w->pw_open && plen <= FCGI_MAX_CONTENT - w->pw_content &&
	    plen + FCGI_ALIGN + 2 * FCGI_HEADER_LEN <= w->pw_room - w->pw_len) {
		n = pair_put_len((unsigned char *)w->pw_out + w->pw_len,
		    name.len);
		n += pair_put_len((unsigned char *)w->pw_out + w->pw_len + n,
		    value.len);
		if (name.len > 0)
			memcpy(w->pw_out + w->pw_len + n, name.p, name.len);
		if (value.len > 0)
			memcpy(w->pw_out + w->pw_len + n + name.len, value.p,
			    value.len);
		w->pw_len += plen;
		w->pw_content += plen;
		return 0;
	}
	if (params_need(w, plen) > w->pw_room - w->pw_len)
		return -1;
	n = pair_put_len(lens, name.len);
	n += pair_put_len(lens + n, value.len);
	params_write(w, lens, n);
	params_write(w, name.p, name.len);
	params_write(w, value.p, value.len);
	return 0;
}

size_t
fcgi_params_end(struct fcgi_params *w, int last)
{
	size_t	n;

	if (w->pw_open)
		params_close(w);
	if (last) {
		n = fcgi_put_header(w->pw_out + w->pw_len,
		    w->pw_room - w->pw_len, FCGI_PARAMS, w->pw_reqid, 0, 0);
		if (n == 0)
			return 0;
		w->pw_len += n;
	}
	return w->pw_len;
}

size_t
fcgi_put_params(char *out, size_t room, uint16_t reqid,
    const struct fcgi_pair *kv, size_t n)
{
	struct fcgi_params	w;
	size_t			i;

	fcgi_params_init(&w, out, room, reqid);
	for (i = 0; i < n; i++)
		if (fcgi_params_add(&w, kv[i].name, kv[i].value) == -1)
			return 0;
	return fcgi_params_end(&w, 1);
}

size_t
fcgi_put_stdin_header(char *out, size_t room, uint16_t reqid, size_t len)
{
	return fcgi_put_header(out, room, FCGI_STDIN, reqid, len,
	    fcgi_padding(len));
}

size_t
fcgi_put_stdin(char *out, size_t room, uint16_t reqid, const char *data,
    size_t len, size_t *used)
{
	size_t	take, pad, avail;

	*used = 0;
	if (len == 0 || room <= FCGI_HEADER_LEN)
		return 0;
	avail = room - FCGI_HEADER_LEN;
	take = MIN(len, FCGI_MAX_CONTENT);
	if (take + fcgi_padding(take) > avail)
		take = avail - avail % FCGI_ALIGN;	/* padding 0 then */
	if (take == 0)
		return 0;
	pad = fcgi_padding(take);
	fcgi_put_stdin_header(out, room, reqid, take);
	memcpy(out + FCGI_HEADER_LEN, data, take);
	memset(out + FCGI_HEADER_LEN + take, 0, pad);
	*used = take;
	return FCGI_HEADER_LEN + take + pad;
}

/* --- record decoder ------------------------------------------------------ */

ssize_t
fcgi_parse_header(const char *in, size_t len, struct fcgi_header *h)
{
	const unsigned char	*p = (const unsigned char *)in;

	/* The version byte comes first: reject garbage without waiting. */
	if (len >= 1 && p[0] != FCGI_VERSION_1)
		return FCGI_BAD;
	if (len < FCGI_HEADER_LEN)
		return FCGI_AGAIN;
	h->version = p[0];
	h->type = p[1];
	h->reqid = get16(p + 2);
	h->content_len = get16(p + 4);
	h->padding_len = p[6];
	return FCGI_HEADER_LEN;
}

/* Reads one pair length prefix; returns its size or FCGI_AGAIN. */
static ssize_t
pair_get_len(const unsigned char *p, size_t len, size_t *out)
{
	if (len < 1)
		return FCGI_AGAIN;
	if (p[0] < 128) {
		*out = p[0];
		return 1;
	}
	if (len < 4)
		return FCGI_AGAIN;
	*out = get32(p) & FCGI_MAX_PAIR_LEN;
	return 4;
}

ssize_t
fcgi_parse_pair(const char *in, size_t len, struct str *name,
    struct str *value)
{
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 nl, vl, off;
	ssize_t			 r;

	if ((r = pair_get_len(p, len, &nl)) < 0)
		return r;
	off = (size_t)r;
	if ((r = pair_get_len(p + off, len - off, &vl)) < 0)
		return r;
	off += (size_t)r;
	if (nl > len - off || vl > len - off - nl)
		return FCGI_AGAIN;
	*name = str_make(in + off, nl);
	*value = str_make(in + off + nl, vl);
	return (ssize_t)(off + nl + vl);
}

void
fcgi_dec_init(struct fcgi_dec *d, uint16_t reqid)
{
	memset(d, 0, sizeof(*d));
	d->d_state = FCGI_DEC_HEADER;
	d->d_reqid = reqid;
}

/* Checks a complete header against what a backend may send us. */
static enum fcgi_err
dec_check(const struct fcgi_dec *d)
{
	const struct fcgi_header	*h = &d->d_hdr;

	switch (h->type) {
	case FCGI_STDOUT:
	case FCGI_STDERR:
		return h->reqid == d->d_reqid ? FCGI_ERR_NONE : FCGI_ERR_REQID;
	case FCGI_END_REQUEST:
		if (h->reqid != d->d_reqid)
			return FCGI_ERR_REQID;
		return h->content_len == FCGI_BODY_LEN ? FCGI_ERR_NONE :
		    FCGI_ERR_LENGTH;
	case FCGI_UNKNOWN_TYPE:
		if (h->reqid != FCGI_NULL_REQUEST_ID)
			return FCGI_ERR_REQID;
		return h->content_len == FCGI_BODY_LEN ? FCGI_ERR_NONE :
		    FCGI_ERR_LENGTH;
	case FCGI_GET_VALUES_RESULT:
		return h->reqid == FCGI_NULL_REQUEST_ID ? FCGI_ERR_NONE :
		    FCGI_ERR_REQID;
	default:
		return FCGI_ERR_TYPE;
	}
}

static ssize_t
dec_fail(struct fcgi_dec *d, struct fcgi_event *ev, enum fcgi_err err)
{
	d->d_state = FCGI_DEC_ERROR;
	d->d_err = err;
	ev->ev_type = FCGI_EV_ERROR;
	ev->ev_err = err;
	ev->ev_data = STR_NULL;
	return FCGI_BAD;
}

/* Accumulates header bytes in d_raw; validates once all 8 are in. */
static ssize_t
dec_header(struct fcgi_dec *d, const char *in, size_t len,
    struct fcgi_event *ev)
{
	size_t		take;
	ssize_t		r;
	enum fcgi_err	err;

	take = MIN(len, FCGI_HEADER_LEN - d->d_got);
	memcpy(d->d_raw + d->d_got, in, take);
	d->d_got += take;
	r = fcgi_parse_header((const char *)d->d_raw, d->d_got, &d->d_hdr);
	if (r == FCGI_BAD)
		return dec_fail(d, ev, FCGI_ERR_VERSION);
	if (r == FCGI_AGAIN)
		return (ssize_t)take;
	d->d_got = 0;
	if ((err = dec_check(d)) != FCGI_ERR_NONE)
		return dec_fail(d, ev, err);
	d->d_content = d->d_hdr.content_len;
	d->d_padding = d->d_hdr.padding_len;
	d->d_state = FCGI_DEC_CONTENT;
	return (ssize_t)take;
}

/* Yields stream content as a view; buffers fixed 8-byte bodies. */
static ssize_t
dec_content(struct fcgi_dec *d, const char *in, size_t len,
    struct fcgi_event *ev)
{
	size_t	take = MIN(len, d->d_content);

	switch (d->d_hdr.type) {
	case FCGI_STDOUT:
		ev->ev_type = FCGI_EV_STDOUT;
		break;
	case FCGI_STDERR:
		ev->ev_type = FCGI_EV_STDERR;
		break;
	case FCGI_GET_VALUES_RESULT:
		ev->ev_type = FCGI_EV_VALUES;
		break;
	default:
		/* dec_check() bounded this content to FCGI_BODY_LEN. */
		memcpy(d->d_raw + d->d_got, in, take);
		d->d_got += take;
		break;
	}
	if (ev->ev_type != FCGI_EV_NONE)
		ev->ev_data = str_make(in, take);
	d->d_content -= take;
	return (ssize_t)take;
}

static ssize_t
dec_padding(struct fcgi_dec *d, size_t len)
{
	size_t	take = MIN(len, d->d_padding);

	d->d_padding -= take;
	return (ssize_t)take;
}

/* A record is complete, padding included: report what it carried. */
static void
dec_finish(struct fcgi_dec *d, struct fcgi_event *ev)
{
	d->d_state = FCGI_DEC_HEADER;
	switch (d->d_hdr.type) {
	case FCGI_END_REQUEST:
		ev->ev_type = FCGI_EV_END;
		ev->ev_app_status = get32(d->d_raw);
		ev->ev_proto_status = d->d_raw[4];
		d->d_state = FCGI_DEC_DONE;
		break;
	case FCGI_UNKNOWN_TYPE:
		ev->ev_type = FCGI_EV_UNKNOWN;
		ev->ev_unknown_type = d->d_raw[0];
		break;
	case FCGI_GET_VALUES_RESULT:
		ev->ev_type = FCGI_EV_VALUES_END;
		break;
	default:
		break;
	}
	d->d_got = 0;
}

/* Takes the transitions that need no input. */
static void
dec_settle(struct fcgi_dec *d, struct fcgi_event *ev)
{
	if (d->d_state == FCGI_DEC_CONTENT && d->d_content == 0)
		d->d_state = FCGI_DEC_PADDING;
	if (d->d_state == FCGI_DEC_PADDING && d->d_padding == 0)
		dec_finish(d, ev);
}

ssize_t
fcgi_dec_run(struct fcgi_dec *d, const char *in, size_t len,
    struct fcgi_event *ev)
{
	size_t	off = 0;
	ssize_t	r;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		if (d->d_state == FCGI_DEC_ERROR)
			return dec_fail(d, ev, d->d_err);
		dec_settle(d, ev);
		if (ev->ev_type != FCGI_EV_NONE || off == len)
			return (ssize_t)off;
		switch (d->d_state) {
		case FCGI_DEC_HEADER:
			r = dec_header(d, in + off, len - off, ev);
			break;
		case FCGI_DEC_CONTENT:
			r = dec_content(d, in + off, len - off, ev);
			break;
		case FCGI_DEC_PADDING:
			r = dec_padding(d, len - off);
			break;
		default:
			r = dec_fail(d, ev, FCGI_ERR_AFTER_END);
			break;
		}
		if (r < 0)
			return r;
		off += (size_t)r;
		if (ev->ev_type != FCGI_EV_NONE)
			return (ssize_t)off;
	}
}

const char *
fcgi_err_str(enum fcgi_err err)
{
	static const char	*names[FCGI_ERR_COUNT] = {
		"no error",
		"bad FastCGI version",
		"unexpected request id",
		"unexpected record type",
		"bad END_REQUEST or UNKNOWN_TYPE length",
		"record after END_REQUEST",
	};

	if ((unsigned)err >= FCGI_ERR_COUNT)
		return "unknown error";
	return names[err];
}

const char *
fcgi_ev_str(enum fcgi_ev ev)
{
	static const char	*names[FCGI_EV_COUNT] = {
		"none", "stdout", "stderr", "values", "values-end",
		"unknown-type", "end", "error",
	};

	if ((unsigned)ev >= FCGI_EV_COUNT)
		return "unknown";
	return names[ev];
}

const char *
fcgi_dec_state_str(enum fcgi_dec_state st)
{
	static const char	*names[FCGI_DEC_COUNT] = {
		"header", "content", "padding", "done", "error",
	};

	if ((unsigned)st >= FCGI_DEC_COUNT)
		return "unknown";
	return names[st];
}

/* --- CGI response head --------------------------------------------------- */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* ASCII case-insensitive comparison of a view and a C string. */
static int
caseeq(struct str a, const char *lit)
{
	size_t	i;

	for (i = 0; i < a.len; i++)
		if (lit[i] == '\0' || lower((unsigned char)a.p[i]) !=
		    lower((unsigned char)lit[i]))
			return 0;
	return lit[i] == '\0';
}

/* RFC 9110 tchar: the bytes allowed in a header name. */
static int
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field value bytes: HTAB, visible ASCII, SP and obs-text. */
static int
is_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses "NNN" or "NNN reason" into <head>. Returns 0 or -1. */
static int
cgi_status(struct str v, struct fcgi_cgi_head *head)
{
	size_t	i;
	int	status = 0;

	if (head->ch_status != 0 || v.len < 3)
		return -1;
	for (i = 0; i < 3; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		status = status * 10 + (v.p[i] - '0');
	}
	/* A CGI head describes the final response: no 1xx. */
	if (status < 200 || status > 599)
		return -1;
	if (v.len > 3 && !is_blank(v.p[3]))
		return -1;
	for (i = 3; i < v.len && is_blank(v.p[i]); i++)
		continue;
	head->ch_status = status;
	head->ch_reason = str_make(v.p + i, v.len - i);
	return 0;
}

/* Strict decimal Content-Length; equal duplicates are tolerated. */
static int
cgi_content_length(struct str v, struct fcgi_cgi_head *head)
{
	int64_t	n = 0;
	size_t	i;

	if (v.len == 0)
		return -1;
	for (i = 0; i < v.len; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return -1;
		if (n > (INT64_MAX - (v.p[i] - '0')) / 10)
			return -1;
		n = n * 10 + (v.p[i] - '0');
	}
	if (head->ch_content_length != -1 && head->ch_content_length != n)
		return -1;
	head->ch_content_length = n;
	return 0;
}

/* Files one validated header: special ones into fields, others kept. */
static int
cgi_field(struct str name, struct str value, size_t max_headers,
    struct fcgi_cgi_head *head)
{
	struct fcgi_cgi_hdr	*h;

	if (caseeq(name, "Status"))
		return cgi_status(value, head);
	if (caseeq(name, "Content-Length"))
		return cgi_content_length(value, head);
	if (caseeq(name, "Location")) {
		if (head->ch_location.p != NULL || value.len == 0)
			return -1;
		head->ch_location = value;
		return 0;
	}
	if (head->ch_nhdrs >= max_headers)
		return -1;
	h = &head->ch_hdrs[head->ch_nhdrs++];
	h->name = name;
	h->value = value;
	return 0;
}

/*
 * Validates one header line <p>/<n> (line ending removed) and files it.
 * Returns 0 or -1. A leading blank (obs-fold) fails the name check.
 */
static int
cgi_line(const char *p, size_t n, size_t max_headers,
    struct fcgi_cgi_head *head)
{
	const char	*colon;
	size_t		 i, nl, vs, ve;

	if ((colon = memchr(p, ':', n)) == NULL || colon == p)
		return -1;
	nl = (size_t)(colon - p);
	for (i = 0; i < nl; i++)
		if (!is_tchar((unsigned char)p[i]))
			return -1;
	for (i = nl + 1; i < n; i++)
		if (!is_vchar((unsigned char)p[i]))
			return -1;
	for (vs = nl + 1; vs < n && is_blank(p[vs]); vs++)
		continue;
	for (ve = n; ve > vs && is_blank(p[ve - 1]); ve--)
		continue;
	return cgi_field(str_make(p, nl), str_make(p + vs, ve - vs),
	    max_headers, head);
}

static void
cgi_head_reset(struct fcgi_cgi_head *head)
{
	head->ch_status = 0;
	head->ch_reason = STR_NULL;
	head->ch_location = STR_NULL;
	head->ch_content_length = -1;
	head->ch_nhdrs = 0;
}

static void
cgi_head_finish(struct fcgi_cgi_head *head)
{
	if (head->ch_status != 0)
		return;
	/*
	 * Location without Status is a redirect (RFC 3875 6.2.3).
	 * XXX local redirects (a path, no other header) are not done here;
	 * they are treated as client redirects too.
	 */
	head->ch_status = head->ch_location.p != NULL ? 302 : 200;
}

ssize_t
fcgi_parse_cgi_head(const char *in, size_t len,
    const struct fcgi_head_limits *lim, struct fcgi_cgi_head *head)
{
	const char	*lf;
	size_t		 off = 0, end, maxh;

	maxh = MIN(lim->hl_max_headers, FCGI_CGI_MAX_HEADERS);
	cgi_head_reset(head);
	for (;;) {
		lf = off < len ? memchr(in + off, '\n', len - off) : NULL;
		if (lf == NULL)
			return len >= lim->hl_max_bytes ? FCGI_BAD : FCGI_AGAIN;
		end = (size_t)(lf - in);
		if (end + 1 > lim->hl_max_bytes)
			return FCGI_BAD;
		if (end > off && in[end - 1] == '\r')
			end--;
		if (end == off) {
			cgi_head_finish(head);
			return (ssize_t)(lf - in + 1);
		}
		if (cgi_line(in + off, end - off, maxh, head) == -1)
			return FCGI_BAD;
		off = (size_t)(lf - in) + 1;
	}
}

const struct fcgi_cgi_hdr *
fcgi_cgi_header_find(const struct fcgi_cgi_head *head, const char *name)
{
	size_t	i;

	for (i = 0; i < head->ch_nhdrs; i++)
		if (caseeq(head->ch_hdrs[i].name, name))
			return &head->ch_hdrs[i];
	return NULL;
}
