/*
 * mpart: incremental multipart/form-data parser. See mpart.h for the
 * contract. Self-contained apart from the inline helpers of buf.h, so
 * t/fuzz/fuzz_mpart.c can build it alone.
 */
#include <sys/types.h>

#include <stddef.h>
#include <string.h>

#include "buf.h"
#include "mpart.h"

enum mpart_state {
	MPART_S_START = 0,	/* first bytes: "--boundary" without CRLF? */
	MPART_S_PREAMBLE,	/* skipping up to the first delimiter */
	MPART_S_DELIM,		/* at a delimiter: part head or close */
	MPART_S_BODY,		/* inside a part's body */
	MPART_S_EPILOGUE,	/* after the close delimiter */
	MPART_S_ERROR,		/* rejected; mp_status says how */
	MPART_S_COUNT
};

enum delim_kind {
	DELIM_OPEN = 0,		/* a part head follows */
	DELIM_CLOSE,		/* "--boundary--" */
	DELIM_COUNT
};

/* RFC 9110 tchar. */
static int
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 2046 bchars, the space included. */
static int
is_bchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return 1;
	return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

static int
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Case-insensitive ASCII comparison of <n> bytes at <p> with <lit>. */
static int
lit_caseeq(const char *p, size_t n, const char *lit)
{
	size_t		i;
	unsigned char	a, b;

	if (strlen(lit) != n)
		return 0;
	for (i = 0; i < n; i++) {
		a = (unsigned char)p[i];
		b = (unsigned char)lit[i];
		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (a != b)
			return 0;
	}
	return 1;
}

static size_t
skip_ows(const char *p, size_t len, size_t i)
{
	while (i < len && is_ows((unsigned char)p[i]))
		i++;
	return i;
}

static size_t
skip_token(const char *p, size_t len, size_t i)
{
	while (i < len && is_tchar((unsigned char)p[i]))
		i++;
	return i;
}

/*
 * Reads a parameter value at p[*i]: a token, or a quoted-string whose
 * inside (escapes kept) goes to <v>. Returns 0 and advances *i, or -1.
 */
static int
param_value(const char *p, size_t len, size_t *i, struct str *v)
{
	size_t	j = *i;

	if (j < len && p[j] == '"') {
		for (j++; j < len && p[j] != '"'; j++)
			if (p[j] == '\\' && ++j == len)
				return -1;
		if (j == len)
			return -1;
		*v = str_make(p + *i + 1, j - *i - 1);
		*i = j + 1;
		return 0;
	}
	j = skip_token(p, len, j);
	if (j == *i)
		return -1;
	*v = str_make(p + *i, j - *i);
	*i = j;
	return 0;
}

/*
 * Walks the "; name=value" list of a field value from p[i]. Calls <fn>
 * with each name and value; stops with -1 on a syntax error or when <fn>
 * returns -1. Returns 0 at the end of the value.
 */
static int
param_walk(const char *p, size_t len, size_t i,
    int (*fn)(struct str, struct str, void *), void *arg)
{
	struct str	name, value;
	size_t		n;

	for (;;) {
		i = skip_ows(p, len, i);
		if (i == len)
			return 0;
		if (p[i] != ';')
			return -1;
		i = skip_ows(p, len, i + 1);
		n = skip_token(p, len, i);
		if (n == i)
			return -1;
		name = str_make(p + i, n - i);
		i = skip_ows(p, len, n);
		if (i == len || p[i] != '=')
			return -1;
		i = skip_ows(p, len, i + 1);
		if (param_value(p, len, &i, &value) == -1)
			return -1;
		if (fn(name, value, arg) == -1)
			return -1;
	}
}

struct ct_arg {
	struct str	boundary;
	int		seen;
};

static int
ct_param(struct str name, struct str value, void *arg)
{
	struct ct_arg *ca = arg;

	if (!lit_caseeq(name.p, name.len, "boundary"))
		return 0;
	if (ca->seen++)
		return -1;
	ca->boundary = value;
	return 0;
}

ssize_t
mpart_copy(struct str v, char *out, size_t outlen)
{
	size_t	i, n = 0;

	for (i = 0; i < v.len; i++) {
		if (v.p[i] == '\\' && i + 1 < v.len)
			i++;
		if (n + 1 >= outlen)
			return -1;
		out[n++] = v.p[i];
	}
	if (outlen == 0)
		return -1;
	out[n] = '\0';
	return (ssize_t)n;
}

int
mpart_boundary(struct str ct, char *out, size_t outlen)
{
	struct ct_arg	ca = { STR_NULL, 0 };
	const char	*p = ct.p;
	size_t		i, n, len = ct.len;
	ssize_t		bl;

	i = skip_ows(p, len, 0);
	n = skip_token(p, len, i);
	if (!lit_caseeq(p + i, n - i, "multipart") || n == len ||
	    p[n] != '/')
		return -1;
	i = skip_token(p, len, n + 1);
	if (!lit_caseeq(p + n + 1, i - n - 1, "form-data"))
		return -1;
	if (param_walk(p, len, i, ct_param, &ca) == -1 || !ca.seen)
		return -1;
	bl = mpart_copy(ca.boundary, out, outlen);
	if (bl < 1 || bl > MPART_BOUNDARY_MAX || out[bl - 1] == ' ')
		return -1;
	for (n = 0; n < (size_t)bl; n++)
		if (!is_bchar((unsigned char)out[n]))
			return -1;
	return (int)bl;
}

int
mpart_init(struct mpart *mp, const char *boundary,
    const struct mpart_limits *lim)
{
	size_t	n = strlen(boundary);

	memset(mp, 0, sizeof(*mp));
	if (n == 0 || n > MPART_BOUNDARY_MAX)
		return -1;
	memcpy(mp->mp_delim, "\r\n--", 4);
	memcpy(mp->mp_delim + 4, boundary, n);
	mp->mp_dlen = 4 + n;
	mp->mp_lim = *lim;
	mp->mp_state = MPART_S_START;
	return 0;
}

const char *
mpart_ev_str(enum mpart_ev t)
{
	static const char *const names[MPART_EV_COUNT] = {
		"NONE", "PART_BEGIN", "DATA", "PART_END", "END",
	};

	if ((unsigned int)t >= MPART_EV_COUNT)
		return "UNKNOWN";
	return names[t];
}

static ssize_t
fail(struct mpart *mp, struct mpart_event *ev, int status)
{
	mp->mp_state = MPART_S_ERROR;
	mp->mp_status = status;
	ev->status = status;
	return MPART_BAD;
}

/*
 * Finds the first place in <in> where the delimiter <d> (<dlen> bytes)
 * starts, completely or cut by the end of <in>. Returns 1 for a complete
 * one, 0 for a cut one or none; *pos is where it starts, or <len>.
 */
static int
delim_find(const char *in, size_t len, const char *d, size_t dlen,
    size_t *pos)
{
	const char	*p;
	size_t		 i = 0, n;

	while (i < len && (p = memchr(in + i, d[0], len - i)) != NULL) {
		i = (size_t)(p - in);
		n = len - i < dlen ? len - i : dlen;
		if (memcmp(p, d, n) == 0) {
			*pos = i;
			return n == dlen;
		}
		i++;
	}
	*pos = len;
	return 0;
}

/*
 * Checks the delimiter line at <in>, which starts with the delimiter
 * (without its first <skip> bytes). Returns the line length with the kind
 * in *kind, MPART_AGAIN, or MPART_BAD.
 */
static ssize_t
delim_line(const struct mpart *mp, const char *in, size_t len, size_t skip,
    enum delim_kind *kind)
{
	size_t	t = mp->mp_dlen - skip, pad = 0;

	if (len <= t)
		return MPART_AGAIN;
	if (in[t] == '-') {
		if (len == t + 1)
			return MPART_AGAIN;
		if (in[t + 1] != '-')
			return MPART_BAD;
		*kind = DELIM_CLOSE;
		return (ssize_t)(t + 2);
	}
	for (; t < len && is_ows((unsigned char)in[t]); t++)
		if (++pad > MPART_PAD_MAX)
			return MPART_BAD;
	if (t == len)
		return MPART_AGAIN;
	if (in[t] != '\r')
		return MPART_BAD;
	if (t + 1 == len)
		return MPART_AGAIN;
	if (in[t + 1] != '\n')
		return MPART_BAD;
	*kind = DELIM_OPEN;
	return (ssize_t)(t + 2);
}

struct cd_arg {
	struct mpart_event	*ev;
	int			 name;
};

static int
cd_param(struct str name, struct str value, void *arg)
{
	struct cd_arg *ca = arg;

	if (lit_caseeq(name.p, name.len, "name")) {
		if (ca->name++)
			return -1;
		ca->ev->name = value;
	} else if (lit_caseeq(name.p, name.len, "filename")) {
		if (ca->ev->flags & MPART_F_FILENAME)
			return -1;
		ca->ev->flags |= MPART_F_FILENAME;
		ca->ev->filename = value;
	}
	return 0;
}

/* Parses a Content-Disposition value <v> into <ev>. Returns 0 or -1. */
static int
cd_parse(struct str v, struct mpart_event *ev)
{
	struct cd_arg	ca = { ev, 0 };
	size_t		i;

	i = skip_token(v.p, v.len, 0);
	if (!lit_caseeq(v.p, i, "form-data"))
		return -1;
	if (param_walk(v.p, v.len, i, cd_param, &ca) == -1 || !ca.name)
		return -1;
	return 0;
}

/*
 * Checks one head line <p> (<len> bytes, no CRLF) and records the fields
 * mpart knows in <ev>; *seen has 1 for Content-Disposition and 2 for
 * Content-Type. Returns 0 or -1.
 */
static int
head_line(const char *p, size_t len, struct mpart_event *ev, int *seen)
{
	struct str	v;
	size_t		i, n, e;

	n = skip_token(p, len, 0);
	if (n == 0 || n == len || p[n] != ':')
		return -1;
	for (i = n + 1; i < len; i++)
		if (((unsigned char)p[i] < 0x20 && p[i] != '\t') ||
		    p[i] == 0x7f)
			return -1;
	i = skip_ows(p, len, n + 1);
	for (e = len; e > i && is_ows((unsigned char)p[e - 1]); e--)
		continue;
	v = str_make(p + i, e - i);
	if (lit_caseeq(p, n, "content-disposition")) {
		if (*seen & 1 || cd_parse(v, ev) == -1)
			return -1;
		*seen |= 1;
	} else if (lit_caseeq(p, n, "content-type")) {
		if (*seen & 2)
			return -1;
		*seen |= 2;
		ev->content_type = v;
	}
	return 0;
}

/*
 * Parses a part head at <in>: lines up to an empty one. Only the first
 * lim_head bytes are looked at, so the cost of a retry is bounded.
 * Returns the head length, MPART_AGAIN, or MPART_BAD via fail().
 */
static ssize_t
head_parse(struct mpart *mp, const char *in, size_t len,
    struct mpart_event *ev)
{
	const char	*nl;
	size_t		 win, off = 0, count = 0;
	int		 seen = 0;

	win = len < mp->mp_lim.lim_head ? len : mp->mp_lim.lim_head;
	for (;;) {
		nl = memchr(in + off, '\n', win - off);
		if (nl == NULL)
			return len > win ? fail(mp, ev, 431) : MPART_AGAIN;
		if (nl == in + off || nl[-1] != '\r' ||
		    memchr(in + off, '\r', (size_t)(nl - in) - off - 1) != NULL)
			return fail(mp, ev, 400);
		if (nl == in + off + 1)
			break;
		if (++count > mp->mp_lim.lim_headers)
			return fail(mp, ev, 431);
		if (is_ows((unsigned char)in[off]) ||
		    head_line(in + off, (size_t)(nl - in) - off - 1, ev,
		    &seen) == -1)
			return fail(mp, ev, 400);
		off = (size_t)(nl - in) + 1;
	}
	if (!(seen & 1))
		return fail(mp, ev, 400);
	return (ssize_t)(nl - in) + 1;
}

/*
 * At a delimiter (<skip> bytes of its CRLF absent): consumes the close
 * delimiter, or the delimiter line and the part head after it.
 */
static ssize_t
run_delim(struct mpart *mp, const char *in, size_t len, size_t skip,
    struct mpart_event *ev)
{
	enum delim_kind	kind = DELIM_OPEN;
	ssize_t		r, h;

	r = delim_line(mp, in, len, skip, &kind);
	if (r == MPART_AGAIN)
		return MPART_AGAIN;
	if (r == MPART_BAD)
		return fail(mp, ev, 400);
	if (kind == DELIM_CLOSE) {
		mp->mp_state = MPART_S_EPILOGUE;
		mp->mp_skip = 0;
		ev->type = MPART_EV_END;
		return r;
	}
	if (mp->mp_parts >= mp->mp_lim.lim_parts)
		return fail(mp, ev, 413);
	h = head_parse(mp, in + r, len - (size_t)r, ev);
	if (h < 0)
		return h;
	mp->mp_parts++;
	mp->mp_state = MPART_S_BODY;
	ev->type = MPART_EV_PART_BEGIN;
	return r + h;
}

/* Skips <n> preamble or epilogue bytes, within MPART_SKIP_MAX. */
static ssize_t
skip(struct mpart *mp, size_t n, struct mpart_event *ev)
{
	if (n > MPART_SKIP_MAX - mp->mp_skip)
		return fail(mp, ev, 400);
	mp->mp_skip += n;
	return n == 0 ? MPART_AGAIN : (ssize_t)n;
}

static ssize_t
run_preamble(struct mpart *mp, const char *in, size_t len,
    struct mpart_event *ev)
{
	size_t	pos;

	if (delim_find(in, len, mp->mp_delim, mp->mp_dlen, &pos) &&
	    pos == 0)
		return run_delim(mp, in, len, 0, ev);
	return skip(mp, pos, ev);
}

/* The body may start with the delimiter without its CRLF. */
static ssize_t
run_start(struct mpart *mp, const char *in, size_t len,
    struct mpart_event *ev)
{
	size_t	n, blen = mp->mp_dlen - 2;

	n = len < blen ? len : blen;
	if (memcmp(in, mp->mp_delim + 2, n) != 0) {
		mp->mp_state = MPART_S_PREAMBLE;
		return run_preamble(mp, in, len, ev);
	}
	if (n < blen)
		return MPART_AGAIN;
	return run_delim(mp, in, len, 2, ev);
}

static ssize_t
run_body(struct mpart *mp, const char *in, size_t len,
    struct mpart_event *ev)
{
	enum delim_kind	kind;
	size_t		pos;
	ssize_t		r;

	if (delim_find(in, len, mp->mp_delim, mp->mp_dlen, &pos) &&
	    pos == 0) {
		/* End the part only once the delimiter line is known good. */
		r = delim_line(mp, in, len, 0, &kind);
		if (r == MPART_BAD)
			return fail(mp, ev, 400);
		if (r == MPART_AGAIN)
			return MPART_AGAIN;
		mp->mp_state = MPART_S_DELIM;
		ev->type = MPART_EV_PART_END;
		return 0;
	}
	if (pos == 0)
		return MPART_AGAIN;
	ev->type = MPART_EV_DATA;
	ev->data = str_make(in, pos);
	return (ssize_t)pos;
}

ssize_t
mpart_run(struct mpart *mp, const char *in, size_t len,
    struct mpart_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	/* No state decides anything on no bytes. */
	if (len == 0 && mp->mp_state != MPART_S_ERROR)
		return MPART_AGAIN;
	switch (mp->mp_state) {
	case MPART_S_START:
		return run_start(mp, in, len, ev);
	case MPART_S_PREAMBLE:
		return run_preamble(mp, in, len, ev);
	case MPART_S_DELIM:
		return run_delim(mp, in, len, 0, ev);
	case MPART_S_BODY:
		return run_body(mp, in, len, ev);
	case MPART_S_EPILOGUE:
		return skip(mp, len, ev);
	default:
		ev->status = mp->mp_status;
		return MPART_BAD;
	}
}
