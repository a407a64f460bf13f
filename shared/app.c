/*
 * app: the FastCGI application framework over libfcgi.
 *
 * One FCGX_Request per worker process (STYLE rule 18). The gateway keeps
 * its FastCGI connections open (FCGI_KEEP_CONN), so a worker may sit in
 * libfcgi's read() of the next request on a kept connection, or in
 * accept() on the listening socket. Stopping such an idle worker promptly
 * while never cutting a request in half works like this:
 *
 *  - Handling a request (from FCGX_Accept_r returning until FCGX_Finish_r)
 *    runs with SIGTERM, SIGINT and SIGUSR1 blocked, so no read or write of
 *    that request sees EINTR.
 *  - Waiting for the next request or connection is a ppoll() that
 *    atomically unblocks them: a stop signal wakes it with EINTR, and one
 *    that came in earlier is delivered there, so none is lost between the
 *    check of pool_should_stop() and the wait.
 *  - When the kept connection is readable, a peek tells a new request
 *    (read by FCGX_Accept_r with everything blocked) from EOF (we close
 *    the connection ourselves and go back to waiting).
 *  - On the listening socket, FCGX_Accept_r runs with SIGTERM and SIGINT
 *    unblocked (no SA_RESTART, FCGI_FAIL_ACCEPT_ON_INTR), and the stop
 *    hook calls FCGX_ShutdownPending(), which libfcgi checks right before
 *    accept(), so a worker that lost the race for a connection to another
 *    worker still stops.
 *
 * Every request's FCGI_STDIN is read to its end before FCGX_Finish_r:
 * libfcgi does not skip unread input, and leftover STDIN records on a kept
 * connection make it drop the connection at the next request.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "app.h"
#include "buf.h"
#include "env.h"
#include "jsonw.h"
#include "log.h"
#include "pool.h"
#include "util.h"

#define APP_MSG_MAX	1024		/* envelope message, truncated */
#define APP_KEY_MAX	256		/* decoded query key */
#define APP_DRAIN_MAX	(16 << 20)	/* unread STDIN skipped, kept conn */
#define APP_CHUNK	(64 * 1024)	/* bytes per FCGX_GetStr/PutStr call */

static int
app_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes <len> bytes at <src> into <out> (room <outlen>,
 * NUL-terminated); '+' becomes a space when <plus>. With <out> NULL it only
 * validates. Returns the decoded length, or -1 for a malformed escape, a
 * decoded NUL, or output that does not fit.
 */
static ssize_t
app_pct_decode(const char *src, size_t len, int plus, char *out,
    size_t outlen)
{
	size_t i, n = 0;
	int c, hi, lo;

	for (i = 0; i < len; i++, n++) {
		c = (unsigned char)src[i];
		if (c == '%') {
			if (len - i < 3 || (hi = app_hexval(src[i + 1])) < 0 ||
			    (lo = app_hexval(src[i + 2])) < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+' && plus)
			c = ' ';
		if (c == '\0')
			return -1;
		if (out != NULL && n + 1 >= outlen)
			return -1;
		if (out != NULL)
			out[n] = (char)c;
	}
	if (out != NULL) {
		if (outlen == 0)
			return -1;
		out[n] = '\0';
	}
	return (ssize_t)n;
}

static void
app_caps_clear(struct app_req *req)
{
	size_t i;

	for (i = 0; i < req->r_ncaps; i++) {
		free(req->r_caps[i].value);
		req->r_caps[i].value = NULL;
	}
	req->r_ncaps = 0;
}

/* Stores capture <name> (not terminated) = decoded <seg>. */
static int
app_cap_add(struct app_req *req, const char *name, size_t namelen,
    const char *seg, size_t seglen)
{
	struct app_cap *cap;

	/* app_pat_match() checked the count and the name length. */
	cap = &req->r_caps[req->r_ncaps];
	cap->value = xmalloc(seglen + 1);
	if (app_pct_decode(seg, seglen, 0, cap->value, seglen + 1) == -1) {
		free(cap->value);
		cap->value = NULL;
		return -1;
	}
	memcpy(cap->name, name, namelen);
	cap->name[namelen] = '\0';
	req->r_ncaps++;
	return 0;
}

/*
 * Matches pattern <pat> against <path> (<len> bytes, no trailing '/').
 * Returns the number of literal segments, or -1 when it does not match.
 * With <req> not NULL, stores the decoded captures in it.
 */
static int
app_pat_match(const char *pat, const char *path, size_t len,
    struct app_req *req)
{
	const char *end = path + len, *slash;
	size_t plen, slen, ncap = 0;
	int lits = 0;

	while (*pat == '/' && path < end && *path == '/') {
		pat++;
		path++;
		plen = strcspn(pat, "/");
		slash = memchr(path, '/', (size_t)(end - path));
		slen = slash != NULL ? (size_t)(slash - path) :
		    (size_t)(end - path);
		if (plen >= 2 && pat[0] == '{' && pat[plen - 1] == '}') {
			if (slen == 0 || ++ncap > APP_MAX_CAPS ||
			    plen - 2 >= sizeof(req->r_caps[0].name) ||
			    app_pct_decode(path, slen, 0, NULL, 0) == -1)
				return -1;
			if (req != NULL && app_cap_add(req, pat + 1, plen - 2,
			    path, slen) == -1)
				return -1;
		} else if (plen != slen || memcmp(pat, path, slen) != 0)
			return -1;
		else
			lits++;
		pat += plen;
		path += slen;
	}
	return (*pat == '\0' && path == end) ? lits : -1;
}

/* Length of <path> routed on: one trailing '/' is ignored. */
static size_t
app_path_len(const char *path)
{
	size_t len = strlen(path);

	if (len > 1 && path[len - 1] == '/')
		len--;
	return len;
}

/*
 * The most specific route for <method> <path>, or NULL; *<lits> gets its
 * literal segment count (-1 with none). A NULL <method> takes any method.
 */
static const struct app_route *
app_best(const struct app *app, const char *method, const char *path,
    int *lits)
{
	const struct app_route *rt, *best = NULL;
	size_t i, len = app_path_len(path);
	int n, bestn = -1;

	for (i = 0; i < app->a_nroutes; i++) {
		rt = &app->a_routes[i];
		if (method != NULL && strcmp(rt->ar_method, method) != 0)
			continue;
		n = app_pat_match(rt->ar_pattern, path, len, NULL);
		if (n > bestn) {
			best = rt;
			bestn = n;
		}
	}
	*lits = bestn;
	return best;
}

/*
 * Whether route <i> matches the path with <top> literal segments and is
 * the first such route in the table with its method.
 */
static int
app_allow_first(const struct app *app, size_t i, const char *path,
    size_t len, int top)
{
	size_t j;

	if (app_pat_match(app->a_routes[i].ar_pattern, path, len, NULL) !=
	    top)
		return 0;
	for (j = 0; j < i; j++)
		if (strcmp(app->a_routes[j].ar_method,
		    app->a_routes[i].ar_method) == 0 &&
		    app_pat_match(app->a_routes[j].ar_pattern, path, len,
		    NULL) == top)
			return 0;
	return 1;
}

/*
 * Writes the methods of the routes that match <path> with <top> literal
 * segments to <allow> (may be NULL) as "GET, HEAD, POST". Returns how
 * many there are.
 */
static int
app_allow(const struct app *app, const char *path, int top, char *allow,
    size_t allowlen)
{
	struct buf b = BUF_INIT;
	size_t i, len = app_path_len(path);
	int n = 0, get = 0, head = 0;

	for (i = 0; top >= 0 && i < app->a_nroutes; i++) {
		if (!app_allow_first(app, i, path, len, top))
			continue;
		buf_printf(&b, "%s%s", n++ ? ", " : "",
		    app->a_routes[i].ar_method);
		get |= strcmp(app->a_routes[i].ar_method, "GET") == 0;
		head |= strcmp(app->a_routes[i].ar_method, "HEAD") == 0;
	}
	if (get && !head)
		buf_append_str(&b, ", HEAD");
	if (allow != NULL && allowlen > 0)
		snprintf(allow, allowlen, "%.*s", (int)buf_avail(&b),
		    b.ptr != NULL ? buf_data(&b) : "");
	buf_release(&b);
	return n;
}

const struct app_route *
app_match(const struct app *app, const char *method, const char *path,
    struct app_req *req, int *path_known, char *allow, size_t allowlen)
{
	const struct app_route *rt;
	int known, lits, top;

	rt = app_best(app, method, path, &lits);
	if (rt == NULL && strcmp(method, "HEAD") == 0)
		rt = app_best(app, "GET", path, &lits);
	(void)app_best(app, NULL, path, &top);
	/* A more literal route of another method owns the path. */
	if (rt != NULL && lits < top)
		rt = NULL;
	if (rt != NULL) {
		if (req != NULL) {
			app_caps_clear(req);
			app_pat_match(rt->ar_pattern, path,
			    app_path_len(path), req);
		}
		known = 1;
	} else
		known = app_allow(app, path, top, allow, allowlen) > 0;
	if (path_known != NULL)
		*path_known = known;
	return rt;
}

const char *
app_body_str(enum app_body body)
{
	static const char *const names[APP_BODY_COUNT] = {
		"any", "json", "multipart"
	};

	return (unsigned)body < APP_BODY_COUNT ? names[body] : "?";
}

/* Skips optional white space. */
static const char *
app_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/*
 * Splits media type <ct> at its parameters: returns the length of the
 * type (white space trimmed) and sets *<params> to the first ';' or the
 * end.
 */
static size_t
app_mtype(const char *ct, const char **params)
{
	const char *p = app_ows(ct);
	size_t n = strcspn(p, ";");

	*params = p + n;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return n;
}

/*
 * Whether the parameters at <p> (each "; name=value", value maybe quoted)
 * are at most one charset, and that utf-8, case-insensitive.
 */
static int
app_json_params(const char *p)
{
	size_t n;

	while (*(p = app_ows(p)) == ';') {
		p = app_ows(p + 1);
		if (*p == '\0')
			break;
		if (strncasecmp(p, "charset=", 8) != 0)
			return 0;
		p += 8;
		n = *p == '"' ? 1 : 0;
		if (strncasecmp(p + n, "utf-8", 5) != 0 ||
		    (n == 1 && p[6] != '"'))
			return 0;
		p += 5 + 2 * n;
	}
	return *p == '\0';
}

/*
 * Whether the request has no body: CONTENT_LENGTH absent (the gateway
 * sends none for a request without a body), empty or 0. A body always
 * comes with its length, as CGI/1.1 (RFC 3875 4.1.2) wants: the gateway
 * reads a chunked one whole before it forwards it, on every route.
 */
static int
app_body_empty(struct app_req *req)
{
	const char *cl = app_param(req, "CONTENT_LENGTH");

	return cl == NULL || strcmp(cl, "") == 0 || strcmp(cl, "0") == 0;
}

static int
app_check_json(struct app_req *req, const char *ct)
{
	const char *params;
	size_t n;

	if (ct == NULL || *app_ows(ct) == '\0') {
		if (app_body_empty(req))
			return 0;
		app_fail(req, 415, "Content-Type is missing: send the body as "
		    "application/json");
		return -1;
	}
	n = app_mtype(ct, &params);
	if (n != 16 || strncasecmp(app_ows(ct), "application/json", 16) != 0) {
		app_fail(req, 415, "Content-Type %.*s is not supported: send "
		    "the body as application/json", (int)(n > 100 ? 100 : n),
		    app_ows(ct));
		return -1;
	}
	if (!app_json_params(params)) {
		app_fail(req, 415, "Content-Type parameters \"%.100s\" are "
		    "not supported: application/json is read as UTF-8 "
		    "(charset=utf-8 or none)", params);
		return -1;
	}
	return 0;
}

static int
app_check_multipart(struct app_req *req, const char *ct)
{
	const char *params, *p;
	size_t n;

	if (ct == NULL)
		return 0;
	n = app_mtype(ct, &params);
	if (n != 19 || strncasecmp(app_ows(ct), "multipart/form-data", 19) !=
	    0)
		return 0;
	for (p = params; *p != '\0'; p++)
		if ((p == params || p[-1] == ';' || p[-1] == ' ' ||
		    p[-1] == '\t') && strncasecmp(p, "boundary=", 9) == 0 &&
		    p[9] != '\0' && p[9] != ';')
			return 0;
	app_fail(req, 400, "Content-Type multipart/form-data has no boundary "
	    "parameter: the parts cannot be found");
	return -1;
}

int
app_body_check(struct app_req *req, enum app_body body)
{
	const char *ct = app_param(req, "CONTENT_TYPE");

	switch (body) {
	case APP_BODY_JSON:
		return app_check_json(req, ct);
	case APP_BODY_MULTIPART:
		return app_check_multipart(req, ct);
	default:
		return 0;
	}
}

const char *
app_param(struct app_req *req, const char *name)
{
	return FCGX_GetParam(name, req->r_fx->envp);
}

const char *
app_cap(struct app_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->r_ncaps; i++)
		if (strcmp(req->r_caps[i].name, name) == 0)
			return req->r_caps[i].value;
	return NULL;
}

int
app_query_get(const char *query, const char *name, char *out,
    size_t outlen)
{
	char key[APP_KEY_MAX];
	const char *p = query, *amp, *eq;
	size_t plen;

	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		plen = amp != NULL ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', plen);
		if (app_pct_decode(p, eq != NULL ? (size_t)(eq - p) : plen, 1,
		    key, sizeof(key)) != -1 && strcmp(key, name) == 0) {
			if (eq == NULL)
				return app_pct_decode("", 0, 1, out, outlen) ==
				    -1 ? -1 : 1;
			return app_pct_decode(eq + 1, plen - (size_t)
			    (eq + 1 - p), 1, out, outlen) == -1 ? -1 : 1;
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
	return 0;
}

/* Strict decimal: optional '-', digits only, within long long. */
static int
app_parse_ll(const char *s, long long *out)
{
	const char *d = s[0] == '-' ? s + 1 : s;
	char *end;
	long long v;

	if (*d < '0' || *d > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
app_query_int(struct app_req *req, const char *name, long long def,
    long long *out)
{
	char v[32];
	long long n;

	switch (app_query_get(req->r_query, name, v, sizeof(v))) {
	case 0:
		*out = def;
		return 0;
	case 1:
		if (app_parse_ll(v, &n) == -1)
			return -1;
		*out = n;
		return 0;
	default:
		return -1;
	}
}

/* Parses CONTENT_LENGTH (absent or "" = 0). Returns 0 or -1. */
static int
app_content_length(struct app_req *req, uint64_t *out)
{
	const char *s = app_param(req, "CONTENT_LENGTH");
	uint64_t n = 0;

	for (; s != NULL && *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*out = n;
	return 0;
}

/* Reads up to <len> bytes of STDIN into <dst>. Returns bytes read. */
static size_t
app_read_in(FCGX_Stream *in, char *dst, size_t len)
{
	size_t got = 0;
	int want, n;

	while (got < len) {
		want = len - got > APP_CHUNK ? APP_CHUNK : (int)(len - got);
		if ((n = FCGX_GetStr(dst + got, want, in)) <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/*
 * A body without CONTENT_LENGTH (the client sent it chunked): read STDIN
 * to its end, at most <max> bytes. Returns 0, or -1 after a 413.
 */
static int
app_read_unsized(struct app_req *req, uint64_t max)
{
	size_t cap = 4096, got = 0, n;

	req->r_body = xmalloc(cap + 1);
	for (;;) {
		if (got == cap) {
			if (cap > max)
				break;
			cap *= 2;
			req->r_body = xrealloc(req->r_body, cap + 1);
		}
		n = app_read_in(req->r_fx->in, req->r_body + got, cap - got);
		if (n == 0)
			break;
		got += n;
	}
	if (got > max) {
		free(req->r_body);
		req->r_body = NULL;
		app_fail(req, 413, "Request body too large: over %llu bytes",
		    (unsigned long long)max);
		return -1;
	}
	req->r_body[got] = '\0';
	req->r_body_len = got;
	req->r_body_read = 1;
	return 0;
}

int
app_read_body(struct app_req *req)
{
	uint64_t len, max;
	size_t got;

	if (req->r_body_read)
		return 0;
	max = req->r_app->a_max_body ? req->r_app->a_max_body :
	    APP_DEF_MAX_BODY;
	if (app_content_length(req, &len) == -1) {
		app_fail(req, 400, "Invalid Content-Length");
		return -1;
	}
	if (app_param(req, "CONTENT_LENGTH") == NULL)
		return app_read_unsized(req, max);
	if (len > max || len >= SIZE_MAX) {
		app_fail(req, 413, "Request body too large: %llu bytes, "
		    "limit %llu", (unsigned long long)len,
		    (unsigned long long)max);
		return -1;
	}
	req->r_body = xmalloc((size_t)len + 1);
	got = app_read_in(req->r_fx->in, req->r_body, (size_t)len);
	req->r_body[got] = '\0';
	if (got < len) {
		app_fail(req, 400, "Request body is incomplete: %zu of %llu "
		    "bytes", got, (unsigned long long)len);
		free(req->r_body);
		req->r_body = NULL;
		return -1;
	}
	req->r_body_len = got;
	req->r_body_read = 1;
	return 0;
}

int
app_body_length(struct app_req *req, uint64_t *len)
{
	if (app_content_length(req, len) == -1)
		return -1;
	return app_param(req, "CONTENT_LENGTH") != NULL;
}

ssize_t
app_body_read(struct app_req *req, void *dst, size_t n)
{
	int want, got;

	req->r_body_read = 1;
	if (n == 0)
		return 0;
	want = n > APP_CHUNK ? APP_CHUNK : (int)n;
	got = FCGX_GetStr(dst, want, req->r_fx->in);
	if (got > 0)
		return got;
	return FCGX_GetError(req->r_fx->in) != 0 ? -1 : 0;
}

json_t *
app_json_body(struct app_req *req)
{
	json_error_t err;
	json_t *j;

	if (app_read_body(req) == -1)
		return NULL;
	if (req->r_body_len == 0) {
		app_fail(req, 400, "Request body is missing");
		return NULL;
	}
	j = json_loadb(req->r_body, req->r_body_len, 0, &err);
	if (j == NULL) {
		app_fail(req, 400, "Request body is not valid JSON: %s "
		    "(line %d, column %d)", err.text, err.line, err.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		app_fail(req, 400, "Request body must be a JSON object");
		return NULL;
	}
	return j;
}

/* A header name is a token; the framework owns the ones it writes. */
static int
app_header_ok(const char *name, const char *value)
{
	static const char *const owned[] = {
		"Status", "Content-Type", "Content-Length"
	};
	size_t i;

	if (name[0] == '\0' || name[strcspn(name, "\r\n:() \t\",/;<=>?@[]"
	    "\\{}")] != '\0' || value[strcspn(value, "\r\n")] != '\0')
		return 0;
	for (i = 0; i < NITEMS(owned); i++)
		if (strcasecmp(name, owned[i]) == 0)
			return 0;
	return 1;
}

void
app_header(struct app_req *req, const char *name, const char *value)
{
	if (req->r_responded) {
		log_warnx("header %s after the response, ignored", name);
		return;
	}
	if (!app_header_ok(name, value)) {
		/* Not logged verbatim: it may hold CR/LF. */
		log_warnx("invalid or reserved response header ignored");
		return;
	}
	buf_printf(&req->r_hdrs, "%s: %s\r\n", name, value);
}

/* Writes <len> bytes to the FastCGI output stream. Returns 0 or -1. */
static int
app_put(FCGX_Stream *out, const char *p, size_t len)
{
	int n;

	while (len > 0) {
		n = len > APP_CHUNK ? APP_CHUNK : (int)len;
		if (FCGX_PutStr(p, n, out) != n)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void
app_send_raw(struct app_req *req, int status, const char *ctype,
    const void *body, size_t len)
{
	struct buf h = BUF_INIT;
	int rc;

	if (req->r_responded) {
		log_warnx("second response (%d after %d) ignored", status,
		    req->r_status);
		return;
	}
	req->r_responded = 1;
	req->r_status = status;
	buf_printf(&h, "Status: %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n", status, env_reason(status), ctype, len);
	if (buf_avail(&req->r_hdrs) > 0)
		buf_append(&h, buf_data(&req->r_hdrs), buf_avail(&req->r_hdrs));
	buf_append_str(&h, "\r\n");
	rc = app_put(req->r_fx->out, buf_data(&h), buf_avail(&h));
	/* HEAD: same headers as GET, no body. */
	if (rc == 0 && strcmp(req->r_method, "HEAD") != 0)
		rc = app_put(req->r_fx->out, body, len);
	if (rc == -1)
		log_warnx("writing the response failed (error %d)",
		    FCGX_GetError(req->r_fx->out));
	buf_release(&h);
}

void
app_send_json(struct app_req *req, int status, json_t *json)
{
	static const char fallback[] = "{\"httpStatus\":"
	    "\"INTERNAL_SERVER_ERROR\",\"errorBody\":{\"errorCode\":\"500\","
	    "\"errorMessage\":\"Internal server error\"}}";
	char *s;

	s = json != NULL ? json_dumps(json, JSON_COMPACT |
	    JSON_PRESERVE_ORDER) : NULL;
	json_decref(json);
	if (s == NULL) {
		log_warnx("cannot serialise the %d response", status);
		app_send_raw(req, 500, "application/json", fallback,
		    sizeof(fallback) - 1);
		return;
	}
	app_send_raw(req, status, "application/json", s, strlen(s));
	free(s);
}

void
app_ok(struct app_req *req, int status, json_t *body)
{
	app_send_json(req, status, env_ok(status, body));
}

void
app_ok_text(struct app_req *req, int status, const char *body, size_t len)
{
	const char *name = env_status_name(status);
	struct buf b = BUF_INIT;

	/* env_ok()'s envelope as json_dumps() writes it; a status name is
	 * upper-case ASCII and '_', nothing to escape. */
	buf_reserve(&b, len + strlen(name) + 32);
	buf_append_str(&b, "{");
	jsonw_key(&b, "httpStatus");
	(void)jsonw_str(&b, name, strlen(name));
	buf_append_str(&b, ",");
	jsonw_key(&b, "responseBody");
	buf_append(&b, body, len);
	buf_append_str(&b, "}");
	app_send_raw(req, status, "application/json", buf_data(&b),
	    buf_avail(&b));
	buf_release(&b);
}

void
app_fail(struct app_req *req, int status, const char *fmt, ...)
{
	char msg[APP_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	app_send_json(req, status, env_error(status, msg));
}

void
app_req_release(struct app_req *req)
{
	app_caps_clear(req);
	free(req->r_path);
	req->r_path = NULL;
	free(req->r_body);
	req->r_body = NULL;
	req->r_body_len = 0;
	req->r_body_read = 0;
	buf_release(&req->r_hdrs);
}

/*
 * Builds r_path from SCRIPT_NAME and PATH_INFO. Returns 0, or -1 after
 * responding 414 (too long) or 400 (not absolute, bad escape).
 */
static int
app_req_path(struct app_req *req)
{
	const char *sn = app_param(req, "SCRIPT_NAME");
	const char *pi = app_param(req, "PATH_INFO");
	size_t len;

	sn = sn != NULL ? sn : "";
	pi = pi != NULL ? pi : "";
	len = strlen(sn) + strlen(pi);
	if (len > APP_MAX_PATH) {
		app_fail(req, 414, "Request path too long: %zu bytes, "
		    "limit %d", len, APP_MAX_PATH);
		return -1;
	}
	req->r_path = xasprintf("%s%s", sn, pi);
	if (req->r_path[0] != '/' ||
	    app_pct_decode(req->r_path, len, 0, NULL, 0) == -1) {
		app_fail(req, 400, "Malformed request path");
		return -1;
	}
	return 0;
}

/* Finds the route, or responds 404/405 and returns NULL. */
static const struct app_route *
app_route(struct app_req *req)
{
	const struct app_route *rt;
	char allow[256];
	int known;

	rt = app_match(req->r_app, req->r_method, req->r_path, req, &known,
	    allow, sizeof(allow));
	if (rt != NULL)
		return rt;
	if (!known) {
		app_fail(req, 404, "No endpoint %s %s", req->r_method,
		    req->r_path);
		return NULL;
	}
	app_header(req, "Allow", allow);
	app_fail(req, 405, "Method %s is not allowed on %s; allowed: %s",
	    req->r_method, req->r_path, allow);
	return NULL;
}

/*
 * Whether the request may come with a body: a CONTENT_LENGTH other than
 * 0, or none with a Transfer-Encoding (a frontend that streams a chunked
 * body unbuffered). The gateway always sends CONTENT_LENGTH with a body.
 */
static int
app_has_body(struct app_req *req)
{
	return !app_body_empty(req) ||
	    (app_param(req, "CONTENT_LENGTH") == NULL &&
	    app_param(req, "HTTP_TRANSFER_ENCODING") != NULL);
}

/*
 * Skips what the handler left of STDIN, so that the next request on a
 * kept connection starts at a record boundary. Past APP_DRAIN_MAX, or on
 * a stream error, the connection is closed after this request instead.
 */
static void
app_drain(struct app_req *req)
{
	FCGX_Request *fx = req->r_fx;
	char trash[4096];
	size_t total = 0;
	int n;

	/* The response goes out first: a client still sending a body the
	 * handler refused (413, 415) gets its answer now, not after it.
	 * Without a body, STDIN holds just its end, which the frontend
	 * sends with the request: then the response and FCGI_END_REQUEST
	 * leave together in one write from FCGX_Finish_r. */
	if (app_has_body(req))
		FCGX_FFlush(fx->out);
	do {
		n = FCGX_GetStr(trash, sizeof(trash), fx->in);
		total += n > 0 ? (size_t)n : 0;
	} while (n == (int)sizeof(trash) && total < APP_DRAIN_MAX);
	if (FCGX_GetError(fx->in) != 0 || !FCGX_HasSeenEOF(fx->in)) {
		log_warnx("request input not consumed; closing connection");
		fx->keepConnection = 0;
	}
}

static void
app_req_init(struct app_req *req, const struct app *app, FCGX_Request *fx)
{
	const char *s;

	memset(req, 0, sizeof(*req));
	req->r_fx = fx;
	req->r_app = app;
	req->r_ctx = app->a_ctx;
	s = app_param(req, "REQUEST_METHOD");
	req->r_method = s != NULL ? s : "";
	s = app_param(req, "QUERY_STRING");
	req->r_query = s != NULL ? s : "";
	s = app_param(req, "REQUEST_ID");
	req->r_reqid = s != NULL && s[0] != '\0' ? s : "-";
	log_set_reqid(s != NULL && s[0] != '\0' ? s : NULL);
}

/*
 * GET <status path> of a pool (pool.h): the pool's own figures, with
 * ?full the list of its workers. The gateway routes it on its admin
 * listener only (conf/gateway.xml /status/<service>).
 */
static void
app_pool_status(struct app_req *req)
{
	char v[8];
	json_t *st;

	if (strcmp(req->r_method, "GET") != 0 &&
	    strcmp(req->r_method, "HEAD") != 0) {
		app_header(req, "Allow", "GET, HEAD");
		app_fail(req, 405, "Method not allowed");
		return;
	}
	if ((st = pool_status_json(app_query_get(req->r_query, "full", v,
	    sizeof(v)) != 0)) == NULL) {
		app_fail(req, 404, "Not found");
		return;
	}
	app_ok(req, 200, st);
}

void
app_serve(const struct app *app, FCGX_Request *fx)
{
	struct app_req req;
	const struct app_route *rt;
	const char *sp;

	app_req_init(&req, app, fx);
	if (app_req_path(&req) == 0) {
		if ((sp = pool_status_path()) != NULL &&
		    strcmp(req.r_path, sp) == 0)
			app_pool_status(&req);
		else if ((rt = app_route(&req)) != NULL &&
		    app_body_check(&req, rt->ar_body) == 0)
			rt->ar_handler(&req);
	}
	if (!req.r_responded) {
		log_warnx("%s %s: the handler sent no response", req.r_method,
		    req.r_path);
		app_fail(&req, 500, "Internal server error");
	}
	app_drain(&req);
	log_debug("%s: %s %s -> %d", __func__, req.r_method,
	    req.r_path != NULL ? req.r_path : "-", req.r_status);
	app_req_release(&req);
	log_set_reqid(NULL);
}

/* Runs inside the SIGTERM/SIGINT handler: async-signal-safe only. */
static void
app_stop_hook(void)
{
	FCGX_ShutdownPending();
}

/*
 * Waits, with every signal unblocked, until the kept connection (or else
 * the listening socket <lfd>) is readable; its poll events go to
 * *<revents>. Returns 0 when it is, 1 when a signal interrupted the wait,
 * -1 on error (logged).
 */
static int
app_wait(const FCGX_Request *fx, int lfd, const sigset_t *mask,
    short *revents)
{
	struct pollfd pfd;

	pfd.fd = fx->ipcFd >= 0 ? fx->ipcFd : lfd;
	pfd.events = POLLIN | POLLRDHUP;
	pfd.revents = 0;
	*revents = 0;
	if (ppoll(&pfd, 1, NULL, mask) == -1) {
		if (errno == EINTR)
			return 1;
		log_warn("ppoll");
		return -1;
	}
	*revents = pfd.revents;
	return 0;
}

struct app_masks {
	sigset_t	 busy;		/* in a request: nothing interrupts */
	sigset_t	 accepting;	/* in accept(): stop signals only */
	sigset_t	 waiting;	/* in ppoll(): everything */
};

static void
app_masks_init(struct app_masks *m)
{
	sigemptyset(&m->busy);
	sigaddset(&m->busy, SIGTERM);
	sigaddset(&m->busy, SIGINT);
	sigaddset(&m->busy, SIGUSR1);
	/* SIGUSR1 in accept() would only cost a wake-up; it waits. */
	sigemptyset(&m->accepting);
	sigaddset(&m->accepting, SIGUSR1);
	sigemptyset(&m->waiting);
}

/*
 * Picks the mask for FCGX_Accept_r once app_wait() saw the fd readable
 * (<revents>). On a kept connection with data, a request has begun:
 * nothing may interrupt reading it. When the peer may have closed it, a
 * peek tells the data of a request from EOF; a kept connection at EOF is
 * closed here, so that libfcgi never falls back to accept() with stop
 * signals blocked. Returns the mask, or NULL to go round again.
 */
static const sigset_t *
app_accept_mask(FCGX_Request *fx, const struct app_masks *m, short revents)
{
	ssize_t n;
	char c;

	if (fx->ipcFd < 0)
		return &m->accepting;
	/* Data and no end in sight: a request, without a peek to tell. */
	if ((revents & POLLIN) != 0 &&
	    (revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0)
		return &m->busy;
	n = recv(fx->ipcFd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 1)
		return &m->busy;
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		FCGX_Free(fx, 1);
	return NULL;
}

/*
 * Accepts the next request. Returns 0 with a request, 1 to go round again
 * (interrupted, stopping, kept connection closed), -1 on error.
 */
static int
app_accept(FCGX_Request *fx, const struct app_masks *m, short revents)
{
	const sigset_t *mask;
	int rc;

	if ((mask = app_accept_mask(fx, m, revents)) == NULL)
		return 1;
	/* On a kept connection the mask is already the busy one. */
	if (mask != &m->busy)
		sigprocmask(SIG_SETMASK, mask, NULL);
	/*
	 * XXX a stop signal landing between this check and libfcgi's own
	 * check right before accept() is missed when another worker took
	 * the connection, and a peer that closes a kept connection in the
	 * middle of sending a request sends libfcgi to accept() with stop
	 * signals blocked. The master's drain timeout covers both.
	 */
	rc = pool_should_stop() ? 1 : FCGX_Accept_r(fx);
	if (mask != &m->busy)
		sigprocmask(SIG_SETMASK, &m->busy, NULL);
	if (rc == 0)
		return 0;
	if (rc == 1 || pool_should_stop() || rc == -EINTR || rc == -EAGAIN ||
	    rc == -ECONNABORTED)
		return 1;
	/* libfcgi returns -errno, or below -9000 for its own failures. */
	errno = rc > -9000 ? -rc : EIO;
	return -1;
}

/* Records the request accepted on <fx> in the pool's scoreboard. */
static void
app_scoreboard(FCGX_Request *fx)
{
	const char *uri = FCGX_GetParam("REQUEST_URI", fx->envp);

	if (uri == NULL)
		uri = FCGX_GetParam("SCRIPT_NAME", fx->envp);
	pool_worker_busy(FCGX_GetParam("REQUEST_METHOD", fx->envp), uri,
	    FCGX_GetParam("REQUEST_ID", fx->envp));
}

int
app_worker_loop(const struct app *app, int fd)
{
	FCGX_Request fx;
	struct app_masks m;
	sigset_t omask;
	short revents;
	int rc = 0, w;

	if (FCGX_Init() != 0) {
		log_warnx("FCGX_Init failed");
		return 1;
	}
	/* After FCGX_Init: it installs handlers of its own. */
	pool_worker_signals(app_stop_hook);
	app_masks_init(&m);
	sigprocmask(SIG_SETMASK, &m.busy, &omask);
	FCGX_InitRequest(&fx, fd, FCGI_FAIL_ACCEPT_ON_INTR);
	while (rc == 0 && !pool_should_stop()) {
		pool_worker_idle();
		pool_worker_wait(fx.ipcFd >= 0);
		if ((w = app_wait(&fx, fd, &m.waiting, &revents)) != 0) {
			rc = w == -1 ? 1 : 0;
			continue;
		}
		if ((w = app_accept(&fx, &m, revents)) == -1) {
			log_warn("accepting a request");
			rc = 1;
		} else if (w == 0) {
			app_scoreboard(&fx);
			app_serve(app, &fx);
			FCGX_Finish_r(&fx);
			pool_worker_done();
		}
	}
	/* Closes a kept connection; libfcgi lingers up to 2 s for EOF. */
	FCGX_Free(&fx, 1);
	sigprocmask(SIG_SETMASK, &omask, NULL);
	return rc;
}
