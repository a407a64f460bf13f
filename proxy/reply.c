/*
 * reply: the responses the gateway writes itself or frames for a backend:
 * status line, Date and request id, the Connection decision, the
 * contract's JSON error envelope (every failure ends there through
 * conn_fail()), the admin listener's /healthz and /metrics, and which
 * backend headers never reach the client.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

struct str
reply_reason(int status)
{
	const char *r = env_reason(status);

	return str_make(r, strlen(r));
}

/* Appends the status line, Date, and the request id. */
void
reply_head_start(struct conn *c, int status, struct str reason)
{
	static char date[64];
	static size_t date_len;
	static time_t date_at;
	time_t now = time(NULL);
	struct buf *o = &c->c_out;
	size_t idlen = strlen(c->c_r->r_reqid);
	struct tm tm;

	if (now != date_at) {
		gmtime_r(&now, &tm);
		date_len = strftime(date, sizeof(date),
		    "%a, %d %b %Y %H:%M:%S GMT", &tm);
		date_at = now;
	}
	/* Appended piece by piece: this runs for every response, and
	 * printf's format walk cost more than the rest of it. */
	buf_reserve(o, 64 + reason.len + date_len + idlen);
	buf_append(o, "HTTP/1.", 7);
	buf_append_u64(o, (uint64_t)c->c_r->r_minor);
	buf_append(o, " ", 1);
	buf_append_u64(o, (uint64_t)status);
	buf_append(o, " ", 1);
	buf_append(o, reason.p, reason.len);
	buf_append(o, "\r\nDate: ", 8);
	buf_append(o, date, date_len);
	buf_append(o, "\r\nX-Request-Id: ", 16);
	buf_append(o, c->c_r->r_reqid, idlen);
	buf_append(o, "\r\n", 2);
	/* RFC 6797 7.2: only over TLS, on every response. */
	if (c->c_ssl != NULL && c->c_listener->l_hsts != NULL)
		buf_printf(&c->c_out, "Strict-Transport-Security: %s\r\n",
		    c->c_listener->l_hsts);
	c->c_r->r_status = status;
}

int
reply_hsts_dropped(const struct conn *c, struct str name)
{
	return c->c_ssl != NULL && c->c_listener->l_hsts != NULL &&
	    str_caseeq(name, "Strict-Transport-Security");
}

/* Whether <h> is a host name or address literal fit for a Location:
 * letters, digits, '.', '-', or an IPv6 literal in brackets. */
static int
reply_host_ok(struct str h)
{
	size_t i, first = 0, end = h.len;

	if (h.len > 2 && h.p[0] == '[' && h.p[h.len - 1] == ']') {
		first = 1;
		end = h.len - 1;
	}
	if (end <= first || h.len > 255)
		return 0;
	for (i = first; i < end; i++) {
		unsigned char ch = (unsigned char)h.p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
		    (first == 1 && ch == ':')))
			return 0;
	}
	return 1;
}

/* The host of Host <h> without its port. */
static struct str
reply_host_part(struct str h)
{
	const char *p;

	if (h.len > 0 && h.p[0] == '[') {
		p = memchr(h.p, ']', h.len);
		return p != NULL ? str_make(h.p, (size_t)(p - h.p) + 1) : h;
	}
	p = memchr(h.p, ':', h.len);
	return p != NULL ? str_make(h.p, (size_t)(p - h.p)) : h;
}

/*
 * A listener with redirect-https answers every request with the same
 * target on https://: 301 for GET and HEAD, 308 for the others (their
 * method and body must be kept, RFC 9110 15.4.9). The host is the
 * request's, else the listener's first name; the port is left out when
 * it is 443.
 */
void
reply_redirect(struct conn *c, const struct h1_req *req)
{
	struct str host = reply_host_part(req->host);
	char port[8] = "";
	int status = req->method == H1_M_GET || req->method == H1_M_HEAD ?
	    301 : 308;

	if (!reply_host_ok(host))
		host = str_make(c->c_listener->l_hosts[0] != NULL ?
		    c->c_listener->l_hosts[0] : "localhost",
		    strlen(c->c_listener->l_hosts[0] != NULL ?
		    c->c_listener->l_hosts[0] : "localhost"));
	if (c->c_listener->l_redirect != 443)
		snprintf(port, sizeof(port), ":%lld",
		    (long long)c->c_listener->l_redirect);
	reply_head_start(c, status, reply_reason(status));
	buf_printf(&c->c_out, "Location: https://%.*s%s%.*s%s%.*s\r\n"
	    "Content-Length: 0\r\n", (int)host.len, host.p, port,
	    (int)req->path.len, req->path.p, req->query.len > 0 ? "?" : "",
	    (int)req->query.len, req->query.p);
	reply_head_finish(c);
	conn_set_state(c, CONN_ST_FLUSH);
}

/* The response head is complete in c_out: what is sent beyond it (and
 * beyond an interim 100) is body, for the access log. */
void
reply_head_done(struct conn *c)
{
	c->c_flags |= CONN_F_HEADSENT;
	c->c_r->r_head_len = c->c_r->r_sent + buf_avail(&c->c_out);
}

/* Appends the Connection header the keep-alive decision needs. */
void
reply_connection(struct conn *c)
{
	if (gw->w_draining)
		c->c_flags |= CONN_F_CLOSE;
	if (c->c_flags & CONN_F_CLOSE || !(c->c_flags & CONN_F_KEEP)) {
		c->c_flags |= CONN_F_CLOSE;
		buf_append_str(&c->c_out, "Connection: close\r\n");
	} else if (c->c_r->r_minor == 0)
		buf_append_str(&c->c_out, "Connection: keep-alive\r\n");
}

/* Statuses after which the request framing cannot be trusted. */
static int
reply_status_closes(int status)
{
	switch (status) {
	case 400:
	case 408:
	case 413:
	case 414:
	case 431:
	case 501:
	case 505:
		return 1;
	default:
		return 0;
	}
}

/* Writes a complete 200 response of <type> with <body>/<len>. */
static void
reply_builtin(struct conn *c, const char *type, const char *body,
    size_t len)
{
	reply_head_start(c, 200, STR_LIT("OK"));
	buf_printf(&c->c_out, "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n", type, len);
	reply_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	reply_head_done(c);
	if (!(c->c_flags & CONN_F_HEAD))
		buf_append(&c->c_out, body, len);
	conn_set_state(c, CONN_ST_FLUSH);
}

/* Answers the admin listener's built-in /healthz and /metrics (Prometheus
 * text). Returns 1 if handled. */
int
reply_admin(struct conn *c, const struct h1_req *req)
{
	static const char body[] =
	    "{\"httpStatus\":\"OK\",\"responseBody\":{\"status\":\"UP\"}}";
	struct buf m = BUF_INIT;

	if (!c->c_listener->l_admin)
		return 0;
	if (admin_reply(c, req))
		return 1;
	if (str_eq(req->path, "/healthz")) {
		reply_builtin(c, "application/json", body,
		    sizeof(body) - 1);
		return 1;
	}
	if (!str_eq(req->path, "/metrics"))
		return 0;
	metrics_render(&m, gw->w_conf);
	reply_builtin(c, "text/plain; version=0.0.4; charset=utf-8",
	    buf_data(&m), buf_avail(&m));
	buf_release(&m);
	return 1;
}

/* Ends a response head the gateway wrote itself. */
void
reply_head_finish(struct conn *c)
{
	if (!(c->c_flags & CONN_F_BODYDONE))
		c->c_flags |= CONN_F_CLOSE;	/* body left unread */
	cors_headers(c);
	reply_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	reply_head_done(c);
}

/* Response headers a backend may not set toward the client. */
int
reply_header_dropped(struct str name)
{
	static const char *const drop[] = {
		"Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade",
		"Trailer", "TE", "Proxy-Connection", "Date", "X-Request-Id",
		"X-Accel-Redirect",
	};
	size_t i;

	for (i = 0; i < NITEMS(drop); i++)
		if (str_caseeq(name, drop[i]))
			return 1;
	return 0;
}

/* Whether a response with <status> to this request carries no body. */
int
reply_bodiless(const struct conn *c, int status)
{
	return (c->c_flags & CONN_F_HEAD) || status == 204 || status == 304 ||
	    (status >= 100 && status < 200);
}

/* Message for a head the parser refused. */
const char *
reply_h1_reason(int status)
{
	switch (status) {
	case 414:
		return "Request target too long";
	case 417:
		return "Unsupported Expect value (only 100-continue)";
	case 431:
		return "Request header fields too large or too many";
	case 501:
		return "Method or transfer coding not implemented";
	case 505:
		return "HTTP version not supported (use HTTP/1.1 or 1.0)";
	default:
		return "Malformed HTTP request";
	}
}

/*
 * Writes the contract's JSON error <status> with message <why> as the
 * whole response of <c>'s request, whose state conn_fail() already left:
 * 401 gets the request's WWW-Authenticate, 503 and 429 their
 * Retry-After. The connection closes after it when the request framing
 * cannot be trusted or the body was left unread.
 */
void
reply_error(struct conn *c, int status, const char *why)
{
	struct creq *r = c->c_r;
	struct buf body = BUF_INIT;

	if (reply_status_closes(status) || !(c->c_flags & CONN_F_BODYREAD))
		c->c_flags |= CONN_F_CLOSE;
	metrics_reject_status(status);
	env_error_write(&body, status, why);
	reply_head_start(c, status, reply_reason(status));
	buf_printf(&c->c_out, "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n", buf_avail(&body));
	if (status == 401 && r->r_www_auth != NULL)
		buf_printf(&c->c_out, "WWW-Authenticate: %s\r\n",
		    r->r_www_auth);
	r->r_www_auth = NULL;
	if ((status == 503 || status == 429) && r->r_retry_after > 0)
		buf_printf(&c->c_out, "Retry-After: %u\r\n", r->r_retry_after);
	r->r_retry_after = 0;
	cors_headers(c);
	reply_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	reply_head_done(c);
	if (!(c->c_flags & CONN_F_HEAD))
		buf_append(&c->c_out, buf_data(&body), buf_avail(&body));
	buf_release(&body);
	conn_set_state(c, CONN_ST_FLUSH);
}
