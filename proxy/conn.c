/*
 * conn: the client side of the gateway: one HTTP/1.1 connection, its
 * request/response state machine, the FastCGI request it builds, and the
 * framing of the response it relays.
 *
 * States (conn_set_state):
 *	HEAD     reading and parsing a request head (keep-alive idle too)
 *	QUEUED   every instance of the service is at maxconn: wait in line
 *	BACKEND  exchange running: body to the backend, response to us
 *	FLUSH    response complete in c_out, writing it out
 *	FILE     offload: head in c_out, then the file by sendfile()
 *	CLOSING  unregistered, freed by the before-sleep hook
 * Pipelined requests wait in c_in and are parsed once the response to the
 * previous one is flushed, so responses go out in request order.
 */
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
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

#define CONN_READ_CHUNK	16384
#define CONN_ACCEPT_MAX	64	/* accepts per listener wakeup */
#define CONN_LINGER_MS	2000	/* lingering close: input discarded */
#define CONN_DRAIN_GRACE_MS 1000 /* idle keep-alive life once draining */
#define CONN_FILE_ROUND	(256 * 1024) /* offloaded bytes per loop round */

static const char *const conn_state_names[CONN_ST_COUNT] = {
	"head", "auth", "queued", "backend", "flush", "file", "linger",
	"closing",
};

static struct h1_req	conn_scratch;	/* parse target for whole heads */

const char *
conn_state_str(enum conn_state st)
{
	return st < CONN_ST_COUNT ? conn_state_names[st] : "?";
}

static void
conn_set_state(struct conn *c, enum conn_state st)
{
	log_debug("%s: fd %d: %s -> %s", __func__, c->c_fd,
	    conn_state_str(c->c_state), conn_state_str(st));
	c->c_state = st;
}

static void	conn_io_cb(struct ev *, int, void *, uint32_t);
static void	conn_cors(struct conn *);
static void	conn_forward(struct conn *);

static const char	*conn_h1_reason(int);

static void
conn_peer(struct conn *c, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, c->c_peer,
		    sizeof(c->c_peer));
		snprintf(c->c_peer_port, sizeof(c->c_peer_port), "%u",
		    ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &sin6->sin6_addr, c->c_peer,
		    sizeof(c->c_peer));
		snprintf(c->c_peer_port, sizeof(c->c_peer_port), "%u",
		    ntohs(sin6->sin6_port));
	} else {
		snprintf(c->c_peer, sizeof(c->c_peer), "unix");
		snprintf(c->c_peer_port, sizeof(c->c_peer_port), "0");
	}
}

static void
conn_new(struct listener *l, int fd, const struct sockaddr_storage *ss)
{
	struct conn *c;
	int one = 1;

	if (ss->ss_family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	c = xcalloc(1, sizeof(*c));
	c->c_fd = fd;
	c->c_listener = l;
	c->c_flags = CONN_F_WR;
	c->c_file_fd = -1;
	conn_peer(c, ss);
	if (ev_add(&gw->w_ev, fd, conn_io_cb, c) == -1) {
		log_warn("epoll add");
		close(fd);
		free(c);
		return;
	}
	c->c_next = gw->w_conns;
	if (gw->w_conns != NULL)
		gw->w_conns->c_prev = c;
	gw->w_conns = c;
	gw->w_nconns++;
	metrics_conns(1);
	c->c_deadline = util_now_ms() + gw->w_conf->gc_to.to_header;
	c->c_state = CONN_ST_HEAD;
}

void
conn_accept_cb(struct ev *ev, int lfd, void *arg, uint32_t events)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, i;

	(void)ev;
	(void)events;
	for (i = 0; i < CONN_ACCEPT_MAX && !gw->w_draining; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (gw->w_nconns >= (size_t)gw->w_conf->gc_lim.lim_connections) {
			metrics_reject(METRICS_REJ_CONN_LIMIT);
			log_warnx("connection limit %lld reached, refusing",
			    (long long)gw->w_conf->gc_lim.lim_connections);
			close(fd);
			continue;
		}
		conn_new(arg, fd, &ss);
	}
}

/* Closes the offloaded file, if any. */
static void
conn_file_close(struct conn *c)
{
	if (c->c_file_fd != -1)
		close(c->c_file_fd);
	c->c_file_fd = -1;
}

void
conn_close(struct conn *c)
{
	if (c->c_state == CONN_ST_CLOSING)
		return;
	conn_file_close(c);
	if (c->c_be != NULL)
		be_release(c->c_be, 0);
	if (c->c_state == CONN_ST_QUEUED && c->c_route != NULL)
		up_dequeue(c->c_route->rt_svc, c);
	if (c->c_state == CONN_ST_AUTH)
		tok_unwait(c);
	ev_del(&gw->w_ev, c->c_fd);
	conn_set_state(c, CONN_ST_CLOSING);
	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		gw->w_conns = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
	c->c_next = c->c_prev = NULL;
	gw->w_nconns--;
	metrics_conns(-1);
	c->c_cnext = gw->w_closing;
	gw->w_closing = c;
}

void
conn_reap(void)
{
	struct conn *c;

	while ((c = gw->w_closing) != NULL) {
		gw->w_closing = c->c_cnext;
		close(c->c_fd);
		buf_release(&c->c_in);
		buf_release(&c->c_out);
		buf_release(&c->c_arena);
		buf_release(&c->c_rhead);
		buf_release(&c->c_fcgi);
		free(c->c_req);
		free(c);
	}
}

/* Writes c_out. Returns 0, or -1 when the client is gone. */
static int
conn_flush(struct conn *c)
{
	ssize_t n;
	/* The head of an offloaded file: the file follows at once, so let
	 * the kernel put both in full segments (like TCP_CORK). */
	int more = c->c_state == CONN_ST_FILE &&
	    c->c_file_off < c->c_file_end ? MSG_MORE : 0;

	while (buf_avail(&c->c_out) > 0 && (c->c_flags & CONN_F_WR)) {
		n = send(c->c_fd, buf_data(&c->c_out), buf_avail(&c->c_out),
		    MSG_NOSIGNAL | more);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				c->c_flags &= ~CONN_F_WR;
				break;
			}
			return -1;
		}
		buf_consume(&c->c_out, (size_t)n);
		c->c_deadline = util_now_ms() + gw->w_conf->gc_to.to_send;
	}
	if (buf_avail(&c->c_out) == 0)
		buf_reset(&c->c_out);
	return 0;
}

/*
 * Reads from the client into c_in until EAGAIN or until c_in holds <max>
 * bytes. Returns the bytes read, or -1 on EOF/error (CONN_F_EOF set).
 */
static ssize_t
conn_read(struct conn *c, size_t max)
{
	ssize_t n, total = 0;
	size_t want;

	while ((c->c_flags & CONN_F_RD) && buf_avail(&c->c_in) < max) {
		buf_compact(&c->c_in);
		want = max - buf_avail(&c->c_in);
		if (want > CONN_READ_CHUNK)
			want = CONN_READ_CHUNK;
		buf_reserve(&c->c_in, want);
		n = read(c->c_fd, buf_tail(&c->c_in), want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			c->c_flags &= ~CONN_F_RD;
			break;
		}
		if (n <= 0) {
			c->c_flags &= ~CONN_F_RD;
			c->c_flags |= CONN_F_EOF;
			return total > 0 ? total : -1;
		}
		/* A short read drained the socket: skip the EAGAIN read. */
		if ((size_t)n < want && !(c->c_flags & CONN_F_RDHUP))
			c->c_flags &= ~CONN_F_RD;
		buf_commit(&c->c_in, (size_t)n);
		total += n;
	}
	return total;
}

int
conn_out_room(const struct conn *c)
{
	return buf_avail(&c->c_out) < gw->w_conf->gc_lim.lim_buffer;
}

/* Copies <s> into the request arena; returns its offset there. */
static size_t
conn_keep(struct conn *c, struct str s)
{
	size_t off = buf_avail(&c->c_arena);

	buf_append(&c->c_arena, s.p, s.len);
	buf_append(&c->c_arena, "", 1);
	return off;
}

/* A string conn_keep() stored, or "-" when the request never got that
 * far (a refused head keeps nothing). */
static const char *
conn_kept(const struct conn *c, size_t off)
{
	if (off >= buf_avail(&c->c_arena) || buf_data(&c->c_arena)[off] == '\0')
		return "-";
	return buf_data(&c->c_arena) + off;
}

static struct str
conn_reason(int status)
{
	const char *r = env_reason(status);

	return str_make(r, strlen(r));
}

/* Appends the status line, Date, and the request id. */
static void
conn_head_start(struct conn *c, int status, struct str reason)
{
	static char date[64];
	static time_t date_at;
	time_t now = time(NULL);
	struct tm tm;

	if (now != date_at) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		date_at = now;
	}
	buf_printf(&c->c_out, "HTTP/1.%d %d %.*s\r\nDate: %s\r\n"
	    "X-Request-Id: %s\r\n", c->c_minor, status, (int)reason.len,
	    reason.p, date, c->c_reqid);
	c->c_status = status;
}

/* Appends the Connection header the keep-alive decision needs. */
static void
conn_head_connection(struct conn *c)
{
	if (gw->w_draining)
		c->c_flags |= CONN_F_CLOSE;
	if (c->c_flags & CONN_F_CLOSE || !(c->c_flags & CONN_F_KEEP)) {
		c->c_flags |= CONN_F_CLOSE;
		buf_append_str(&c->c_out, "Connection: close\r\n");
	} else if (c->c_minor == 0)
		buf_append_str(&c->c_out, "Connection: keep-alive\r\n");
}

/* Statuses after which the request framing cannot be trusted. */
static int
conn_status_closes(int status)
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

void
conn_fail(struct conn *c, int status, const char *why)
{
	struct buf body = BUF_INIT;

	if (c->c_state == CONN_ST_CLOSING || c->c_state == CONN_ST_LINGER)
		return;
	conn_file_close(c);
	if (c->c_be != NULL)
		be_release(c->c_be, 0);
	if (c->c_state == CONN_ST_QUEUED)
		up_dequeue(c->c_route->rt_svc, c);
	if (c->c_state == CONN_ST_AUTH)
		tok_unwait(c);
	if (c->c_flags & CONN_F_HEADSENT) {
		/* Too late for a status: cut the response short. */
		log_warnx("aborting response %d: %s", c->c_status, why);
		c->c_flags |= CONN_F_CLOSE;
		conn_set_state(c, CONN_ST_FLUSH);
		return;
	}
	if (conn_status_closes(status) || !(c->c_flags & CONN_F_BODYDONE))
		c->c_flags |= CONN_F_CLOSE;
	metrics_reject_status(status);
	env_error_write(&body, status, why);
	conn_head_start(c, status, conn_reason(status));
	buf_printf(&c->c_out, "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n", buf_avail(&body));
	if (status == 401 && c->c_www_auth != NULL)
		buf_printf(&c->c_out, "WWW-Authenticate: %s\r\n",
		    c->c_www_auth);
	c->c_www_auth = NULL;
	if (status == 503 && c->c_retry_after > 0)
		buf_printf(&c->c_out, "Retry-After: %u\r\n", c->c_retry_after);
	c->c_retry_after = 0;
	conn_cors(c);
	conn_head_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	if (!(c->c_flags & CONN_F_HEAD))
		buf_append(&c->c_out, buf_data(&body), buf_avail(&body));
	buf_release(&body);
	c->c_flags |= CONN_F_HEADSENT;
	conn_set_state(c, CONN_ST_FLUSH);
}

/* CORS headers for a request whose Origin the route allows. */
static void
conn_cors(struct conn *c)
{
	if (c->c_cors == CONN_CORS_NONE)
		return;
	if (c->c_cors == CONN_CORS_ANY)
		buf_append_str(&c->c_out, "Access-Control-Allow-Origin: *\r\n");
	else
		buf_printf(&c->c_out, "Access-Control-Allow-Origin: %s\r\n",
		    conn_kept(c, c->c_a_origin));
	buf_append_str(&c->c_out, "Vary: Origin, Access-Control-Request-Method, "
	    "Access-Control-Request-Headers\r\n");
	/* What a script may read beyond the safelisted headers: ranges and
	 * validators of media, and the reasons of refusals. */
	buf_append_str(&c->c_out, "Access-Control-Expose-Headers: "
	    "Content-Range, Accept-Ranges, ETag, Last-Modified, Retry-After, "
	    "WWW-Authenticate, X-Request-Id\r\n");
}

/* Whether <origin> is in the space- or comma-separated <list>. */
static int
conn_origin_listed(const char *list, const char *origin)
{
	size_t n = strlen(origin), len;
	const char *p = list;

	while (*p != '\0') {
		p += strspn(p, " ,\t");
		len = strcspn(p, " ,\t");
		if (len == n && len > 0 && memcmp(p, origin, n) == 0)
			return 1;
		p += len;
	}
	return 0;
}

/* Decides c_cors from the route's policy (or the gateway default). */
static void
conn_cors_decide(struct conn *c)
{
	const char *policy = gw->w_conf->gc_cors;

	c->c_cors = CONN_CORS_NONE;
	if (!(c->c_flags & CONN_F_ORIGIN))
		return;
	if (c->c_route != NULL && *c->c_route->rt_cors != '\0')
		policy = c->c_route->rt_cors;
	if (*policy == '\0' || strcmp(policy, "off") == 0)
		return;
	if (strcmp(policy, "*") == 0)
		c->c_cors = CONN_CORS_ANY;
	else if (conn_origin_listed(policy, conn_kept(c, c->c_a_origin)))
		c->c_cors = CONN_CORS_ECHO;
}

/* Whether <s> is an acceptable client-supplied request id. */
static int
conn_reqid_ok(struct str s)
{
	size_t i;

	if (s.len == 0 || s.len > GW_REQID_MAX)
		return 0;
	for (i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.'))
			return 0;
	}
	return 1;
}

static void
conn_reqid(struct conn *c, const struct h1_req *req)
{
	const struct h1_header *h;

	h = h1_header_find(req, "X-Request-Id", 12);
	if (h != NULL && conn_reqid_ok(h->value)) {
		memcpy(c->c_reqid, h->value.p, h->value.len);
		c->c_reqid[h->value.len] = '\0';
		return;
	}
	snprintf(c->c_reqid, sizeof(c->c_reqid), "%08x%08x%08x",
	    gw->w_idseed, (unsigned)util_now_ms(), ++gw->w_reqseq);
}

/* Headers never forwarded as HTTP_* params: hop-by-hop ones, those
 * carried as CGI variables, and those only the gateway may set. */
static int
conn_header_dropped(struct str name)
{
	static const char *const drop[] = {
		"Connection", "Keep-Alive", "Proxy-Connection", "TE",
		"Trailer", "Transfer-Encoding", "Upgrade", "Expect",
		"Content-Length", "Content-Type", "Proxy", "X-Request-Id",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP",
		"Forwarded",
	};
	size_t i;

	for (i = 0; i < NITEMS(drop); i++)
		if (str_caseeq(name, drop[i]))
			return 1;
	/* "Foo_Bar" would collide with "Foo-Bar" as HTTP_FOO_BAR: a
	 * classic way to spoof headers a backend trusts (nginx drops
	 * them too). */
	return memchr(name.p, '_', name.len) != NULL;
}

/* Appends one PARAMS pair, flushing full records as needed. */
static void
conn_param(struct conn *c, struct fcgi_params *w, struct str name,
    struct str value)
{
	size_t need = fcgi_params_need(name.len, value.len);

	if (fcgi_params_add(w, name, value) == 0)
		return;
	/* Close this span and open one after it with room for the pair;
	 * head limits keep pairs far below what a record stream allows. */
	buf_commit(&c->c_fcgi, fcgi_params_end(w, 0));
	buf_reserve(&c->c_fcgi, need < 4096 ? 4096 : need);
	fcgi_params_init(w, buf_tail(&c->c_fcgi), buf_room(&c->c_fcgi), 1);
	if (fcgi_params_add(w, name, value) == -1)
		log_warnx("FastCGI parameter %.*s dropped", (int)name.len,
		    name.p);
}

static void
conn_param_s(struct conn *c, struct fcgi_params *w, const char *name,
    struct str value)
{
	conn_param(c, w, str_make(name, strlen(name)), value);
}

static void
conn_param_c(struct conn *c, struct fcgi_params *w, const char *name,
    const char *value)
{
	conn_param(c, w, str_make(name, strlen(name)),
	    str_make(value, strlen(value)));
}

/* HTTP_<NAME> for a forwarded header, built in <tmp>. */
static void
conn_param_header(struct conn *c, struct fcgi_params *w,
    const struct h1_header *h)
{
	char tmp[256];
	size_t i;

	if (h->name.len + 5 > sizeof(tmp) || conn_header_dropped(h->name))
		return;
	memcpy(tmp, "HTTP_", 5);
	for (i = 0; i < h->name.len; i++) {
		char ch = h->name.p[i];

		tmp[5 + i] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z' ?
		    (char)(ch - 32) : ch);
	}
	conn_param(c, w, str_make(tmp, h->name.len + 5), h->value);
}

/* The backend path: the route's rewrite plus what follows its prefix. */
static struct str
conn_backend_path(struct conn *c, const struct h1_req *req)
{
	const struct route *rt = c->c_route;
	struct str rest;
	size_t off;

	if (rt->rt_rewrite_len == 0)
		return req->path;
	rest = str_make(req->path.p + rt->rt_prefix_len,
	    req->path.len - rt->rt_prefix_len);
	off = buf_avail(&c->c_arena);
	buf_append(&c->c_arena, rt->rt_rewrite, rt->rt_rewrite_len);
	/* "/x" rewritten to "/" must not give "//y". */
	if (rt->rt_rewrite_len == 1 && rest.len > 0)
		c->c_arena.len--;
	buf_append(&c->c_arena, rest.p, rest.len);
	return str_make(buf_data(&c->c_arena) + off,
	    buf_avail(&c->c_arena) - off);
}

/* Builds BEGIN_REQUEST and the whole PARAMS stream into c_fcgi. */
static void
conn_build_params(struct conn *c, const struct h1_req *req)
{
	struct fcgi_params w;
	struct str path, uri;
	char num[32];
	size_t i, off;

	/* Room for the rewritten path and URI up front, so the views into
	 * the arena below never move. */
	buf_reserve(&c->c_arena, 2 * (c->c_route->rt_rewrite_len +
	    req->path.len) + req->query.len + 8);
	buf_reset(&c->c_fcgi);
	buf_reserve(&c->c_fcgi, 4096);
	buf_commit(&c->c_fcgi, fcgi_put_begin(buf_tail(&c->c_fcgi),
	    buf_room(&c->c_fcgi), 1, 1));
	fcgi_params_init(&w, buf_tail(&c->c_fcgi), buf_room(&c->c_fcgi), 1);
	path = conn_backend_path(c, req);
	conn_param_c(c, &w, "GATEWAY_INTERFACE", "CGI/1.1");
	conn_param_c(c, &w, "SERVER_SOFTWARE", "elp-gateway");
	conn_param_c(c, &w, "SERVER_PROTOCOL", c->c_minor ? "HTTP/1.1" :
	    "HTTP/1.0");
	conn_param_s(c, &w, "REQUEST_METHOD", req->method_str);
	conn_param_s(c, &w, "SCRIPT_NAME", path);
	conn_param_c(c, &w, "PATH_INFO", "");
	conn_param_s(c, &w, "DOCUMENT_URI", path);
	conn_param_s(c, &w, "QUERY_STRING", req->query);
	off = buf_avail(&c->c_arena);
	buf_append(&c->c_arena, path.p, path.len);
	if (req->query.len > 0) {
		buf_append(&c->c_arena, "?", 1);
		buf_append(&c->c_arena, req->query.p, req->query.len);
	}
	uri = str_make(buf_data(&c->c_arena) + off,
	    buf_avail(&c->c_arena) - off);
	conn_param_s(c, &w, "REQUEST_URI", uri);
	if (req->flags & H1_F_LENGTH) {
		snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)req->content_length);
		conn_param_c(c, &w, "CONTENT_LENGTH", num);
	}
	for (i = 0; i < req->nheaders; i++)
		if (str_caseeq(req->headers[i].name, "Content-Type"))
			conn_param_s(c, &w, "CONTENT_TYPE",
			    req->headers[i].value);
	conn_param_c(c, &w, "REMOTE_ADDR", c->c_peer);
	conn_param_c(c, &w, "REMOTE_PORT", c->c_peer_port);
	conn_param_c(c, &w, "SERVER_NAME", c->c_listener->l_name);
	conn_param_c(c, &w, "REQUEST_ID", c->c_reqid);
	conn_param_c(c, &w, "HTTP_X_REQUEST_ID", c->c_reqid);
	conn_param_c(c, &w, "HTTP_X_FORWARDED_FOR", c->c_peer);
	conn_param_c(c, &w, "HTTP_X_FORWARDED_PROTO", "http");
	for (i = 0; i < req->nheaders; i++)
		conn_param_header(c, &w, &req->headers[i]);
	/* Not terminated: the AUTH_* params follow once the token is
	 * checked (conn_finish_params). */
	buf_commit(&c->c_fcgi, fcgi_params_end(&w, 0));
}

/* Appends the claim <key> of <claims> as param <name>, if a string. */
static void
conn_param_claim(struct conn *c, struct fcgi_params *w, const char *name,
    json_t *claims, const char *key)
{
	json_t *v = json_object_get(claims, key);

	if (json_is_string(v))
		conn_param(c, w, str_make(name, strlen(name)),
		    str_make(json_string_value(v), json_string_length(v)));
}

/* AUTH_ROLES: realm_access.roles joined with commas. */
static void
conn_param_roles(struct conn *c, struct fcgi_params *w, json_t *claims)
{
	json_t *roles, *r;
	struct buf b = BUF_INIT;
	size_t i;

	roles = json_object_get(json_object_get(claims, "realm_access"),
	    "roles");
	json_array_foreach(roles, i, r) {
		if (!json_is_string(r))
			continue;
		if (buf_avail(&b) > 0)
			buf_append(&b, ",", 1);
		buf_append(&b, json_string_value(r), json_string_length(r));
	}
	conn_param(c, w, STR_LIT("AUTH_ROLES"), str_make(buf_data(&b),
	    buf_avail(&b)));
	buf_release(&b);
}

/*
 * Ends the PARAMS stream: the verified claims (if any) as AUTH_* params,
 * which only the gateway can set (client headers arrive as HTTP_*), then
 * the empty PARAMS record.
 */
static void
conn_finish_params(struct conn *c, json_t *claims)
{
	struct fcgi_params w;

	buf_reserve(&c->c_fcgi, 4096);
	fcgi_params_init(&w, buf_tail(&c->c_fcgi), buf_room(&c->c_fcgi), 1);
	if (claims != NULL) {
		conn_param_claim(c, &w, "AUTH_SUB", claims, "sub");
		conn_param_roles(c, &w, claims);
		conn_param_claim(c, &w, "AUTH_EMAIL", claims, "email");
		conn_param_claim(c, &w, "AUTH_USERNAME", claims,
		    "preferred_username");
		conn_param_claim(c, &w, "AUTH_GIVEN_NAME", claims,
		    "given_name");
		conn_param_claim(c, &w, "AUTH_FAMILY_NAME", claims,
		    "family_name");
		conn_param_claim(c, &w, "AUTH_CLIENT", claims, "azp");
		conn_param_claim(c, &w, "AUTH_SCOPE", claims, "scope");
		conn_param_claim(c, &w, "AUTH_SID", claims, "sid");
	}
	buf_commit(&c->c_fcgi, fcgi_params_end(&w, 1));
}

/* Writes a complete 200 response of <type> with <body>/<len>. */
static void
conn_builtin_reply(struct conn *c, const char *type, const char *body,
    size_t len)
{
	conn_head_start(c, 200, STR_LIT("OK"));
	buf_printf(&c->c_out, "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n", type, len);
	conn_head_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	if (!(c->c_flags & CONN_F_HEAD))
		buf_append(&c->c_out, body, len);
	c->c_flags |= CONN_F_HEADSENT;
	conn_set_state(c, CONN_ST_FLUSH);
}

/* Answers the admin listener's built-in /healthz and /metrics (Prometheus
 * text). Returns 1 if handled. */
static int
conn_builtin(struct conn *c, const struct h1_req *req)
{
	static const char body[] =
	    "{\"httpStatus\":\"OK\",\"responseBody\":{\"status\":\"UP\"}}";
	struct buf m = BUF_INIT;

	if (!c->c_listener->l_admin)
		return 0;
	if (str_eq(req->path, "/healthz")) {
		conn_builtin_reply(c, "application/json", body,
		    sizeof(body) - 1);
		return 1;
	}
	if (!str_eq(req->path, "/metrics"))
		return 0;
	metrics_render(&m, gw->w_conf);
	conn_builtin_reply(c, "text/plain; version=0.0.4; charset=utf-8",
	    buf_data(&m), buf_avail(&m));
	buf_release(&m);
	return 1;
}

void
conn_fail_unavailable(struct conn *c)
{
	char msg[256];

	c->c_retry_after = up_unavailable(c->c_route->rt_svc);
	snprintf(msg, sizeof(msg), "Service %s is unavailable",
	    c->c_route->rt_service);
	conn_fail(c, 503, msg);
}

/* CORS preflight, answered by the gateway itself. Returns 1 if handled. */
static int
conn_preflight(struct conn *c, const struct h1_req *req)
{
	const struct h1_header *m, *h;

	if (req->method != H1_M_OPTIONS || !(c->c_flags & CONN_F_ORIGIN) ||
	    (m = h1_header_find(req, "Access-Control-Request-Method",
	    29)) == NULL)
		return 0;
	if (c->c_cors == CONN_CORS_NONE) {
		conn_fail(c, 403, "Origin not allowed");
		return 1;
	}
	h = h1_header_find(req, "Access-Control-Request-Headers", 30);
	conn_head_start(c, 200, STR_LIT("OK"));
	buf_printf(&c->c_out, "Access-Control-Allow-Methods: GET, HEAD, "
	    "POST, PUT, DELETE, OPTIONS, PATCH\r\n");
	if (h != NULL && h->value.len > 0 && h->value.len < 1024)
		buf_printf(&c->c_out, "Access-Control-Allow-Headers: %.*s\r\n",
		    (int)h->value.len, h->value.p);
	buf_printf(&c->c_out, "Access-Control-Max-Age: %llu\r\n"
	    "Content-Length: 0\r\n",
	    (unsigned long long)(gw->w_conf->gc_cors_max_age / 1000));
	conn_cors(c);
	conn_head_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	c->c_flags |= CONN_F_HEADSENT;
	conn_set_state(c, CONN_ST_FLUSH);
	return 1;
}

/* Keeps what the access log and the exchange need beyond the head. */
static void
conn_note_request(struct conn *c, const struct h1_req *req)
{
	const struct h1_header *h;

	c->c_method = req->method;
	c->c_minor = req->minor;
	if (req->flags & H1_F_KEEPALIVE)
		c->c_flags |= CONN_F_KEEP;
	if (req->method == H1_M_HEAD)
		c->c_flags |= CONN_F_HEAD;
	conn_reqid(c, req);
	buf_reset(&c->c_arena);
	h = h1_header_find(req, "Origin", 6);
	if (h != NULL && h->value.len > 0) {
		c->c_flags |= CONN_F_ORIGIN;
		c->c_a_origin = conn_keep(c, h->value);
	}
	c->c_token_len = 0;
	h = h1_header_find(req, "Authorization", 13);
	if (h != NULL && h->value.len > 7 && h->value.len - 7 <= JWT_MAX_LEN &&
	    str_caseeq(str_make(h->value.p, 7), "Bearer ")) {
		c->c_a_token = conn_keep(c, str_make(h->value.p + 7,
		    h->value.len - 7));
		c->c_token_len = h->value.len - 7;
	}
	c->c_a_range = c->c_a_inm = c->c_a_ims = c->c_a_ifrange = SIZE_MAX;
	c->c_file_status = 0;
	c->c_a_method = conn_keep(c, req->method_str);
	c->c_a_target = conn_keep(c, req->target);
	h = h1_header_find(req, "User-Agent", 10);
	c->c_a_ua = conn_keep(c, h != NULL ? h->value : STR_NULL);
	h = h1_header_find(req, "Referer", 7);
	c->c_a_ref = conn_keep(c, h != NULL ? h->value : STR_NULL);
	c->c_t_start = util_now_ms();
}

/* Body framing and limits. Returns 0, or -1 after conn_fail(). */
static int
conn_body_setup(struct conn *c, const struct h1_req *req)
{
	uint64_t max = c->c_route != NULL ? c->c_route->rt_max_body :
	    gw->w_conf->gc_lim.lim_max_body;

	c->c_body_left = 0;
	c->c_body_max = max;
	if (req->flags & H1_F_CHUNKED) {
		c->c_flags |= CONN_F_REQBODY;
		h1_chunk_init(&c->c_chunk, max, gw->w_conf->gc_lim.lim_header_bytes);
	} else if (req->flags & H1_F_LENGTH) {
		/* Checked before reading a byte of it. */
		if (req->content_length > max) {
			conn_fail(c, 413, "Request body too large");
			return -1;
		}
		c->c_body_left = req->content_length;
	}
	if (c->c_body_left == 0 && !(c->c_flags & CONN_F_REQBODY))
		c->c_flags |= CONN_F_BODYDONE;
	if ((req->flags & H1_F_CONTINUE) && !(c->c_flags & CONN_F_BODYDONE))
		c->c_flags |= CONN_F_CONTINUE;
	return 0;
}

/* Whether the token's roles include one of the route's (comma list). */
static int
conn_roles_ok(const struct route *rt, json_t *claims)
{
	const char *p = rt->rt_auth;
	char role[64];
	size_t len;

	while (*p != '\0') {
		len = strcspn(p, ",");
		if (len > 0 && len < sizeof(role)) {
			memcpy(role, p, len);
			role[len] = '\0';
			if (jwt_has_role(claims, role))
				return 1;
		}
		p += len + (p[len] == ',');
	}
	return 0;
}

/* 401 with the WWW-Authenticate header of RFC 6750. */
static void
conn_fail_401(struct conn *c, enum jwt_err err)
{
	static char hdr[256];

	if (err == JWT_OK) {
		c->c_www_auth = "Bearer";
		conn_fail(c, 401, "Missing access token");
		return;
	}
	snprintf(hdr, sizeof(hdr), "Bearer error=\"invalid_token\", "
	    "error_description=\"%s\"", jwt_err_str(err));
	c->c_www_auth = hdr;
	conn_fail(c, 401, jwt_err_str(err));
}

/*
 * Applies the route's token policy (contract 2.5, 2.6): a public route
 * passes a valid token's claims on and ignores a bad token; a protected
 * one answers 401 without a valid token and 403 without a required role.
 */
static void
conn_auth(struct conn *c)
{
	const struct route *rt = c->c_route;
	json_t *claims = NULL;
	enum jwt_err err = JWT_OK;
	enum tok_res r = TOK_INVALID;

	if (c->c_token_len > 0) {
		r = tok_verify(c, str_make(conn_kept(c, c->c_a_token),
		    c->c_token_len), &claims, &err);
		if (r == TOK_WAIT) {
			conn_set_state(c, CONN_ST_AUTH);
			c->c_deadline = util_now_ms() +
			    gw->w_conf->gc_auth.au_timeout + 500;
			return;
		}
	}
	if (rt->rt_auth_kind != ROUTE_AUTH_PUBLIC && r != TOK_VALID) {
		conn_fail_401(c, err);
		return;
	}
	if (rt->rt_auth_kind == ROUTE_AUTH_ROLES && !conn_roles_ok(rt,
	    claims)) {
		json_decref(claims);
		conn_fail(c, 403, "Access Denied");
		return;
	}
	conn_finish_params(c, r == TOK_VALID ? claims : NULL);
	json_decref(claims);
	conn_forward(c);
}

void
conn_auth_resume(struct conn *c)
{
	if (c->c_state != CONN_ST_AUTH)
		return;
	conn_auth(c);
	conn_run(c);
}

/* Keeps the headers an offloaded file answer needs (the views into c_in
 * do not live that long). */
static void
conn_keep_validators(struct conn *c, const struct h1_req *req)
{
	const struct h1_header *h;

	if ((h = h1_header_find(req, "Range", 5)) != NULL)
		c->c_a_range = conn_keep(c, h->value);
	if ((h = h1_header_find(req, "If-None-Match", 13)) != NULL)
		c->c_a_inm = conn_keep(c, h->value);
	if ((h = h1_header_find(req, "If-Modified-Since", 17)) != NULL)
		c->c_a_ims = conn_keep(c, h->value);
	if ((h = h1_header_find(req, "If-Range", 8)) != NULL)
		c->c_a_ifrange = conn_keep(c, h->value);
}

/* Host names an absolute-form target may name (anything else: 400). */
static const char *const conn_own_hosts[] = {
	"localhost", "127.0.0.1", "[::1]", NULL,
};

/* A complete head is parsed: route it and start the exchange. */
static void
conn_request(struct conn *c, const struct h1_req *req)
{
	char msg[256];

	conn_note_request(c, req);
	if (!h1_absolute_ok(req, conn_own_hosts)) {
		conn_fail(c, 400, "Absolute request target names another host");
		return;
	}
	c->c_route = route_find(gw->w_conf, c->c_listener->l_idx, req->path);
	if (c->c_route != NULL && c->c_route->rt_offload_fd != -1)
		conn_keep_validators(c, req);
	conn_cors_decide(c);
	if (conn_preflight(c, req) || conn_builtin(c, req))
		return;
	if (conn_body_setup(c, req) == -1)
		return;
	if (c->c_route == NULL) {
		snprintf(msg, sizeof(msg), "No endpoint %s %.*s",
		    h1_method_str(req->method), (int)(req->path.len > 200 ?
		    200 : req->path.len), req->path.p);
		conn_fail(c, 404, msg);
		return;
	}
	conn_build_params(c, req);
	conn_auth(c);
}

/* The token check passed (or was not needed): pick an instance. */
static void
conn_forward(struct conn *c)
{
	int busy;

	c->c_ins = up_pick(c->c_route->rt_svc, &busy);
	if (c->c_ins == NULL && busy) {
		conn_set_state(c, CONN_ST_QUEUED);
		c->c_deadline = util_now_ms() + gw->w_conf->gc_to.to_queue;
		up_enqueue(c->c_route->rt_svc, c);
		return;
	}
	if (c->c_ins == NULL) {
		conn_fail_unavailable(c);
		return;
	}
	conn_dispatch(c);
}

void
conn_dispatch(struct conn *c)
{
	conn_set_state(c, CONN_ST_BACKEND);
	c->c_deadline = 0;
	if (c->c_flags & CONN_F_CONTINUE) {
		buf_printf(&c->c_out, "HTTP/1.1 100 Continue\r\n\r\n");
		c->c_flags &= ~CONN_F_CONTINUE;
	}
	switch (be_start(c, c->c_ins)) {
	case 0:
		return;
	case BE_BUSY:
		/* Another worker took the last slot: wait in line. */
		conn_set_state(c, CONN_ST_QUEUED);
		c->c_deadline = util_now_ms() + gw->w_conf->gc_to.to_queue;
		up_enqueue(c->c_route->rt_svc, c);
		return;
	}
	if (conn_can_retry(c)) {
		conn_retry(c);
		return;
	}
	conn_fail_unavailable(c);
}

int
conn_can_retry(const struct conn *c)
{
	/* One more attempt per other instance, and one for a single
	 * instance (a fresh connection after a dead pooled one). */
	return !(c->c_flags & (CONN_F_PUMPED | CONN_F_HEADSENT)) &&
	    c->c_route != NULL && c->c_retries < (int)(c->c_route->rt_svc->
	    svc_nins > 1 ? c->c_route->rt_svc->svc_nins - 1 : 1);
}

void
conn_retry(struct conn *c)
{
	c->c_retries++;
	metrics_retry(c->c_route->rt_svc);
	/* Like the first attempt: an instance with a free slot, else a
	 * place in the queue; 503 only when no instance is usable. */
	conn_forward(c);
}

/* Moves Content-Length body bytes from c_in to the backend. */
static void
conn_pump_length(struct conn *c, struct bconn *b)
{
	size_t n;

	while (c->c_body_left > 0 && buf_avail(&c->c_in) > 0 &&
	    be_out_room(b)) {
		n = buf_avail(&c->c_in);
		if (n > c->c_body_left)
			n = (size_t)c->c_body_left;
		if (n > FCGI_MAX_CONTENT)
			n = FCGI_MAX_CONTENT;
		be_put_stdin(b, buf_data(&c->c_in), n);
		buf_consume(&c->c_in, n);
		c->c_body_left -= n;
		c->c_flags |= CONN_F_PUMPED;
	}
	if (c->c_body_left == 0) {
		be_end_stdin(b);
		c->c_flags |= CONN_F_BODYDONE;
	}
}

/* Decodes chunked body bytes from c_in into STDIN records. Returns 0, or
 * -1 after conn_fail() on bad framing or a body over the limit. */
static int
conn_pump_chunked(struct conn *c, struct bconn *b)
{
	struct str data;
	ssize_t n;

	while (buf_avail(&c->c_in) > 0 && be_out_room(b) &&
	    !h1_chunk_done(&c->c_chunk)) {
		n = h1_chunk_decode(&c->c_chunk, buf_data(&c->c_in),
		    buf_avail(&c->c_in), &data);
		if (n == H1_BAD) {
			conn_fail(c, c->c_chunk.ch_status,
			    c->c_chunk.ch_status == 413 ?
			    "Request body too large" :
			    "Invalid chunked request body");
			return -1;
		}
		while (data.len > 0) {
			size_t k = data.len > FCGI_MAX_CONTENT ?
			    FCGI_MAX_CONTENT : data.len;

			be_put_stdin(b, data.p, k);
			data.p += k;
			data.len -= k;
		}
		buf_consume(&c->c_in, (size_t)n);
		c->c_flags |= CONN_F_PUMPED;
		if (n == 0)
			break;
	}
	if (h1_chunk_done(&c->c_chunk)) {
		be_end_stdin(b);
		c->c_flags |= CONN_F_BODYDONE;
	}
	return 0;
}

void
conn_pump_body(struct conn *c)
{
	struct bconn *b = c->c_be;
	size_t want;

	if (b == NULL)
		return;
	int got = c->c_deadline == 0;	/* first pump: start the clock */

	while (!(c->c_flags & CONN_F_BODYDONE) && be_out_room(b)) {
		if (c->c_flags & CONN_F_REQBODY) {
			if (conn_pump_chunked(c, b) == -1)
				return;
		} else
			conn_pump_length(c, b);
		if (c->c_flags & CONN_F_BODYDONE)
			break;
		/* Need more body bytes from the client. */
		want = gw->w_conf->gc_lim.lim_buffer;
		if (!(c->c_flags & CONN_F_RD) || conn_read(c, want) <= 0)
			break;
		got = 1;
	}
	if (c->c_flags & CONN_F_BODYDONE)
		be_end_stdin(b);	/* once; bodiless requests too */
	if (!(c->c_flags & CONN_F_BODYDONE)) {
		if (c->c_flags & CONN_F_EOF)
			conn_fail(c, 400, "Client closed before sending the "
			    "whole request body");
		else if (got)	/* idle time counts from the last byte */
			c->c_deadline = util_now_ms() +
			    gw->w_conf->gc_to.to_body_idle;
	} else
		c->c_deadline = 0;
}

/* Response headers a backend may not set toward the client. */
static int
conn_resp_header_dropped(struct str name)
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
static int
conn_resp_bodiless(const struct conn *c, int status)
{
	return (c->c_flags & CONN_F_HEAD) || status == 204 || status == 304 ||
	    (status >= 100 && status < 200);
}

/*
 * The X-Accel-Redirect of a backend answer that asks the gateway to serve
 * a file, or NULL: honoured only on a route with an offload root, and
 * only with a 2xx status (the backend's go-ahead).
 */
static const struct fcgi_cgi_hdr *
conn_offload_find(const struct conn *c, const struct fcgi_cgi_head *h)
{
	if (c->c_route == NULL || c->c_route->rt_offload_fd == -1 ||
	    h->ch_status < 200 || h->ch_status > 299)
		return NULL;
	return fcgi_cgi_header_find(h, "X-Accel-Redirect");
}

/* Backend headers an offloaded answer replaces with the file's own. */
static int
conn_offload_header_dropped(struct str name)
{
	static const char *const drop[] = {
		"Content-Type", "Content-Length", "Content-Range", "ETag",
		"Last-Modified", "Accept-Ranges", "Location", "Status",
	};
	size_t i;

	for (i = 0; i < NITEMS(drop); i++)
		if (str_caseeq(name, drop[i]))
			return 1;
	return conn_resp_header_dropped(name);
}

/* Whether the client's copy is current (304), RFC 7232 section 6: an
 * If-None-Match decides alone; If-Modified-Since only without it. */
static int
conn_offload_fresh(const struct conn *c, const char *etag, time_t mtime)
{
	time_t ims;

	if (c->c_a_inm != SIZE_MAX)
		return off_etag_match(conn_kept(c, c->c_a_inm), etag, 0);
	return c->c_a_ims != SIZE_MAX && off_date_parse(conn_kept(c,
	    c->c_a_ims), &ims) == 0 && mtime <= ims;
}

/*
 * The part of the file to send, into c_file_off/c_file_end. Returns 200
 * (whole file: no Range, not a GET, a stale If-Range or a malformed
 * Range), 206 or 416.
 */
static int
conn_offload_range(struct conn *c, const char *etag, const struct stat *st)
{
	const char *ir;
	uint64_t a, b;
	time_t t;

	c->c_file_off = 0;
	c->c_file_end = st->st_size;
	if (c->c_a_range == SIZE_MAX || c->c_method != H1_M_GET)
		return 200;
	if (c->c_a_ifrange != SIZE_MAX) {
		ir = conn_kept(c, c->c_a_ifrange);
		if (*ir == '"' || strncmp(ir, "W/", 2) == 0) {
			if (!off_etag_match(ir, etag, 1))
				return 200;
		} else if (off_date_parse(ir, &t) == -1 || t != st->st_mtime)
			return 200;
	}
	switch (off_range_parse(conn_kept(c, c->c_a_range),
	    (uint64_t)st->st_size, &a, &b)) {
	case OFF_RANGE_OK:
		c->c_file_off = (off_t)a;
		c->c_file_end = (off_t)b;
		return 206;
	case OFF_RANGE_UNSAT:
		return 416;
	default:
		return 200;
	}
}

/* Ends a response head the gateway wrote itself. */
static void
conn_head_finish(struct conn *c)
{
	if (!(c->c_flags & CONN_F_BODYDONE))
		c->c_flags |= CONN_F_CLOSE;	/* body left unread */
	conn_cors(c);
	conn_head_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	c->c_flags |= CONN_F_HEADSENT;
}

/* 416 with the contract's envelope and the file's size. */
static void
conn_offload_416(struct conn *c, const struct stat *st)
{
	struct buf body = BUF_INIT;

	env_error_write(&body, 416, "Requested range not satisfiable");
	conn_head_start(c, 416, conn_reason(416));
	buf_printf(&c->c_out, "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\nContent-Range: bytes */%lld\r\n"
	    "Accept-Ranges: bytes\r\n", buf_avail(&body),
	    (long long)st->st_size);
	conn_head_finish(c);
	if (!(c->c_flags & CONN_F_HEAD))
		buf_append(&c->c_out, buf_data(&body), buf_avail(&body));
	buf_release(&body);
	c->c_file_end = c->c_file_off;
}

/* The head of a 200, 206 or 304 for the open file <st>: the backend's
 * headers but those the file sets, then the file's. */
static void
conn_offload_ok(struct conn *c, const struct fcgi_cgi_head *h, int status,
    const struct stat *st, const char *etag)
{
	const struct fcgi_cgi_hdr *ct;
	char date[64];
	size_t i;

	off_date(st->st_mtime, date, sizeof(date));
	conn_head_start(c, status, conn_reason(status));
	for (i = 0; i < h->ch_nhdrs; i++)
		if (!conn_offload_header_dropped(h->ch_hdrs[i].name))
			buf_printf(&c->c_out, "%.*s: %.*s\r\n",
			    (int)h->ch_hdrs[i].name.len, h->ch_hdrs[i].name.p,
			    (int)h->ch_hdrs[i].value.len,
			    h->ch_hdrs[i].value.p);
	buf_printf(&c->c_out, "ETag: %s\r\nLast-Modified: %s\r\n", etag,
	    date);
	if (status != 304) {
		ct = fcgi_cgi_header_find(h, "Content-Type");
		buf_printf(&c->c_out, "Content-Type: %.*s\r\n"
		    "Accept-Ranges: bytes\r\nContent-Length: %lld\r\n",
		    ct != NULL ? (int)ct->value.len : 24,
		    ct != NULL ? ct->value.p : "application/octet-stream",
		    (long long)(c->c_file_end - c->c_file_off));
	}
	if (status == 206)
		buf_printf(&c->c_out, "Content-Range: bytes %lld-%lld/%lld\r\n",
		    (long long)c->c_file_off, (long long)c->c_file_end - 1,
		    (long long)st->st_size);
	conn_head_finish(c);
	if (status == 304 || (c->c_flags & CONN_F_HEAD))
		c->c_file_end = c->c_file_off;
}

/*
 * The backend named file <x> instead of answering: opens it beneath the
 * route's root and writes the head of the gateway's own answer. A refusal
 * (405, 404) is only noted in c_file_status and answered once the
 * exchange ended, so the backend connection goes back to its pool.
 */
static void
conn_offload_head(struct conn *c, const struct fcgi_cgi_head *h,
    const struct fcgi_cgi_hdr *x)
{
	struct stat st;
	const char *why;
	char etag[64];
	int status;

	c->c_flags |= CONN_F_OFFLOAD;
	c->c_status = h->ch_status;
	c->c_resp_left = -1;
	c->c_resp_bytes = 0;
	if (c->c_method != H1_M_GET && c->c_method != H1_M_HEAD) {
		c->c_file_status = 405;
		return;
	}
	c->c_file_fd = off_open(c->c_route->rt_offload_fd, x->value, &st,
	    &why);
	if (c->c_file_fd == -1) {
		log_warnx("rid=%s route=%s: file \"%.*s\" refused: %s",
		    c->c_reqid, c->c_route->rt_prefix,
		    (int)(x->value.len > 256 ? 256 : x->value.len),
		    x->value.p, why);
		c->c_file_status = 404;
		return;
	}
	off_etag(&st, etag, sizeof(etag));
	status = conn_offload_fresh(c, etag, st.st_mtime) ? 304 :
	    conn_offload_range(c, etag, &st);
	if (status == 416)
		conn_offload_416(c, &st);
	else
		conn_offload_ok(c, h, status, &st, etag);
}

/* The exchange of an offloaded answer ended: answer a refusal, or send
 * the file. */
static void
conn_offload_start(struct conn *c)
{
	if (c->c_file_status != 0) {
		conn_fail(c, c->c_file_status, c->c_file_status == 405 ?
		    "Only GET and HEAD fetch a file" : "File not found");
		return;
	}
	if (c->c_file_fd != -1 && c->c_file_off < c->c_file_end) {
		c->c_deadline = util_now_ms() + gw->w_conf->gc_to.to_send;
		conn_set_state(c, CONN_ST_FILE);
		return;
	}
	conn_file_close(c);
	conn_set_state(c, CONN_ST_FLUSH);
}

/*
 * FILE state: the head first, then sendfile() while the socket takes
 * bytes, at most CONN_FILE_ROUND per loop round so the other connections
 * of the worker get their turn.
 */
static enum step
conn_step_file(struct conn *c)
{
	size_t sent = 0, want;
	ssize_t n;

	if (buf_avail(&c->c_out) > 0)
		return STEP_WAIT;
	while (c->c_file_off < c->c_file_end && (c->c_flags & CONN_F_WR)) {
		if (sent >= CONN_FILE_ROUND) {
			conn_later(c);
			return STEP_WAIT;
		}
		want = (size_t)(c->c_file_end - c->c_file_off);
		if (want > CONN_FILE_ROUND - sent)
			want = CONN_FILE_ROUND - sent;
		n = sendfile(c->c_fd, c->c_file_fd, &c->c_file_off, want);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			c->c_flags &= ~CONN_F_WR;
			break;
		}
		if (n <= 0) {
			/* Client gone, or the file shrank under us: the
			 * announced length cannot be kept either way. */
			if (n == 0)
				log_warnx("rid=%s: offloaded file shrank",
				    c->c_reqid);
			conn_close(c);
			return STEP_DONE;
		}
		sent += (size_t)n;
		c->c_resp_bytes += (uint64_t)n;
		c->c_deadline = util_now_ms() + gw->w_conf->gc_to.to_send;
	}
	if (c->c_file_off < c->c_file_end)
		return STEP_WAIT;
	conn_file_close(c);
	conn_set_state(c, CONN_ST_FLUSH);
	return STEP_AGAIN;
}

int
conn_resp_head(struct conn *c, const struct fcgi_cgi_head *h)
{
	const struct fcgi_cgi_hdr *x;
	size_t i;

	if ((x = conn_offload_find(c, h)) != NULL) {
		conn_offload_head(c, h, x);
		return 0;
	}
	conn_head_start(c, h->ch_status, h->ch_reason.len > 0 ?
	    h->ch_reason : conn_reason(h->ch_status));
	for (i = 0; i < h->ch_nhdrs; i++)
		if (!conn_resp_header_dropped(h->ch_hdrs[i].name))
			buf_printf(&c->c_out, "%.*s: %.*s\r\n",
			    (int)h->ch_hdrs[i].name.len, h->ch_hdrs[i].name.p,
			    (int)h->ch_hdrs[i].value.len,
			    h->ch_hdrs[i].value.p);
	if (h->ch_location.len > 0)
		buf_printf(&c->c_out, "Location: %.*s\r\n",
		    (int)h->ch_location.len, h->ch_location.p);
	c->c_resp_left = h->ch_content_length;
	c->c_resp_bytes = 0;
	if (h->ch_content_length >= 0)
		buf_printf(&c->c_out, "Content-Length: %lld\r\n",
		    (long long)h->ch_content_length);
	else if (!conn_resp_bodiless(c, h->ch_status)) {
		if (c->c_minor >= 1) {
			c->c_flags |= CONN_F_CHUNKED;
			buf_append_str(&c->c_out,
			    "Transfer-Encoding: chunked\r\n");
		} else
			c->c_flags |= CONN_F_EOFBODY | CONN_F_CLOSE;
	}
	if (!(c->c_flags & CONN_F_BODYDONE))
		c->c_flags |= CONN_F_CLOSE;	/* body left unread */
	conn_cors(c);
	conn_head_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	c->c_flags |= CONN_F_HEADSENT;
	/* Not flushed here: head and body go out in one write when the
	 * backend read is done (conn_run). */
	return 0;
}

int
conn_resp_body(struct conn *c, const char *p, size_t len)
{
	if (len == 0 || conn_resp_bodiless(c, c->c_status) ||
	    (c->c_flags & CONN_F_OFFLOAD))
		return 0;
	if (c->c_resp_left >= 0) {
		if ((int64_t)len > c->c_resp_left) {
			/* More than the backend announced: framing broke. */
			log_warnx("backend sent more than its Content-Length");
			len = (size_t)c->c_resp_left;
			c->c_flags |= CONN_F_CLOSE;
		}
		c->c_resp_left -= (int64_t)len;
	}
	if (c->c_flags & CONN_F_CHUNKED)
		buf_printf(&c->c_out, "%zx\r\n", len);
	buf_append(&c->c_out, p, len);
	if (c->c_flags & CONN_F_CHUNKED)
		buf_append(&c->c_out, "\r\n", 2);
	c->c_resp_bytes += len;
	return 0;
}

void
conn_resp_done(struct conn *c, int ok)
{
	struct bconn *b = c->c_be;

	if (c->c_flags & CONN_F_CHUNKED)
		buf_append(&c->c_out, "0\r\n\r\n", 5);
	if (c->c_resp_left > 0 && !conn_resp_bodiless(c, c->c_status)) {
		log_warnx("backend response shorter than its Content-Length");
		c->c_flags |= CONN_F_CLOSE;
	}
	if (!(c->c_flags & CONN_F_BODYDONE))
		c->c_flags |= CONN_F_CLOSE;
	if (b != NULL)
		be_release(b, ok);
	if (c->c_flags & CONN_F_OFFLOAD) {
		conn_offload_start(c);
		return;
	}
	conn_set_state(c, CONN_ST_FLUSH);
}

/*
 * Copies request target <in> into <out> (<len> bytes) with the value of
 * every access_token query parameter (RFC 6750 section 2.3) replaced, so
 * bearer tokens never reach the access log.
 */
void
conn_log_target(const char *in, char *out, size_t len)
{
	static const char key[] = "access_token=";
	const char *q = strchr(in, '?'), *p = in;
	size_t n = 0, k;

	if (len == 0)
		return;
	while (*p != '\0' && n + 1 < len) {
		if (q != NULL && p > q && (p[-1] == '?' || p[-1] == '&') &&
		    strncmp(p, key, sizeof(key) - 1) == 0) {
			k = snprintf(out + n, len - n, "%sREDACTED", key);
			n = k >= len - n ? len - 1 : n + k;
			p += strcspn(p, "&");
			continue;
		}
		out[n++] = *p++;
	}
	out[n] = '\0';
}

static void
conn_access_log(struct conn *c)
{
	char line[2048], when[64], target[600];
	struct tm tm;
	time_t now;
	uint64_t t = util_now_ms();
	int n;

	if (gw->w_access_fd == -1 || c->c_status == 0)
		return;
	conn_log_target(conn_kept(c, c->c_a_target), target, 513);
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S %z", &tm);
	n = snprintf(line, sizeof(line), "%s - - [%s] \"%s %.512s HTTP/1.%d\" "
	    "%d %llu \"%.256s\" \"%.256s\" rid=%s route=%s ins=%s up=%.3f "
	    "rt=%.3f\n", c->c_peer, when, conn_kept(c, c->c_a_method),
	    target, c->c_minor, c->c_status,
	    (unsigned long long)c->c_resp_bytes, conn_kept(c, c->c_a_ref),
	    conn_kept(c, c->c_a_ua),
	    c->c_reqid, c->c_route != NULL ? c->c_route->rt_prefix : "-",
	    c->c_ins != NULL ? c->c_ins->ins_name : "-",
	    c->c_t_be ? (double)(t - c->c_t_be) / 1000.0 : 0.0,
	    (double)(t - c->c_t_start) / 1000.0);
	if (n > 0 && write(gw->w_access_fd, line, (size_t)n > sizeof(line) ?
	    sizeof(line) : (size_t)n) == -1)
		log_warn("access log");
}

/* The response is flushed: log it, then close or await the next one. */
static void
conn_request_end(struct conn *c)
{
	conn_access_log(c);
	metrics_request(c->c_route, c->c_status);
	if (c->c_flags & CONN_F_CLOSE) {
		/* Lingering close: send the FIN but keep reading for a
		 * moment, so unread request bytes do not make the kernel
		 * reset the connection before the client read our answer. */
		(void)shutdown(c->c_fd, SHUT_WR);
		buf_reset(&c->c_in);
		c->c_deadline = util_now_ms() + CONN_LINGER_MS;
		conn_set_state(c, CONN_ST_LINGER);
		return;
	}
	c->c_flags &= CONN_F_RD | CONN_F_WR | CONN_F_EOF;
	c->c_route = NULL;
	c->c_ins = NULL;
	c->c_cors = CONN_CORS_NONE;
	c->c_status = 0;
	c->c_retries = 0;
	c->c_t_be = 0;
	c->c_resp_left = -1;
	c->c_resp_bytes = 0;
	buf_reset(&c->c_arena);
	buf_reset(&c->c_rhead);
	buf_reset(&c->c_fcgi);
	buf_compact(&c->c_in);
	c->c_deadline = util_now_ms() + (buf_avail(&c->c_in) > 0 ?
	    gw->w_conf->gc_to.to_header : gw->w_conf->gc_to.to_keepalive);
	/* Draining, yet the head promised keep-alive (it went out before
	 * the drain began): the client may already be sending its next
	 * request, which is answered with "Connection: close". */
	if (gw->w_draining && buf_avail(&c->c_in) == 0)
		c->c_deadline = util_now_ms() + CONN_DRAIN_GRACE_MS;
	conn_set_state(c, CONN_ST_HEAD);
}

static void
conn_limits(struct h1_limits *lim)
{
	const struct gw_limits *gl = &gw->w_conf->gc_lim;

	memset(lim, 0, sizeof(*lim));
	lim->lim_target = gl->lim_target;
	lim->lim_field = gl->lim_header_bytes;
	lim->lim_head = gl->lim_header_bytes;
	lim->lim_headers = (size_t)gl->lim_headers;
}

/* Fails a request whose head was never parsed: answer as HTTP/1.1 with a
 * fresh request id, and close. */
static void
conn_fail_head(struct conn *c, int status, const char *why)
{
	c->c_minor = 1;
	buf_reset(&c->c_arena);
	snprintf(c->c_reqid, sizeof(c->c_reqid), "%08x%08x%08x",
	    gw->w_idseed, (unsigned)util_now_ms(), ++gw->w_reqseq);
	c->c_t_start = util_now_ms();
	c->c_flags |= CONN_F_CLOSE;
	conn_fail(c, status, why);
}

/* HEAD state: read and parse. Returns STEP_AGAIN when a request started. */
static enum step
conn_step_head(struct conn *c)
{
	struct h1_limits lim;
	struct h1_req *req;
	ssize_t n;
	int status;

	if (buf_avail(&c->c_in) == 0 && conn_read(c,
	    gw->w_conf->gc_lim.lim_header_bytes + 1) == -1) {
		conn_close(c);		/* closed between requests */
		return STEP_DONE;
	}
	if (buf_avail(&c->c_in) == 0)
		return STEP_WAIT;
	conn_limits(&lim);
	req = c->c_req;
	if (req == NULL) {
		req = &conn_scratch;
		h1_req_init(req);
	}
	n = h1_parse_head(buf_data(&c->c_in), buf_avail(&c->c_in), &lim, req,
	    &status);
	if (n == H1_AGAIN) {
		if (c->c_req == NULL) {
			/* Partial head: keep the parse state per connection
			 * so the next bytes resume it. */
			c->c_req = xmalloc(sizeof(*c->c_req));
			memcpy(c->c_req, req, sizeof(*req));
		}
		c->c_deadline = c->c_deadline ? c->c_deadline : util_now_ms() +
		    gw->w_conf->gc_to.to_header;
		if (c->c_flags & CONN_F_EOF) {
			conn_close(c);
			return STEP_DONE;
		}
		if ((c->c_flags & CONN_F_RD) && conn_read(c,
		    gw->w_conf->gc_lim.lim_header_bytes + 1) > 0)
			return STEP_AGAIN;
		return STEP_WAIT;
	}
	if (n == H1_BAD) {
		conn_fail_head(c, status, conn_h1_reason(status));
		return STEP_AGAIN;
	}
	/* Consume the head first: the exchange may start pumping the body
	 * from c_in at once. The views in <req> stay valid until the next
	 * read into c_in, which only the body pump does, after the params
	 * are built. */
	buf_consume(&c->c_in, (size_t)n);
	conn_request(c, req);
	free(c->c_req);
	c->c_req = NULL;
	return STEP_AGAIN;
}

/* Message for a head the parser refused. */
static const char *
conn_h1_reason(int status)
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

/* One step of the state machine. */
static enum step
conn_step(struct conn *c)
{
	if (conn_flush(c) == -1) {
		conn_close(c);
		return STEP_DONE;
	}
	switch (c->c_state) {
	case CONN_ST_HEAD:
		return conn_step_head(c);
	case CONN_ST_QUEUED:
		if (c->c_flags & CONN_F_DISPATCH) {
			c->c_flags &= ~CONN_F_DISPATCH;
			conn_dispatch(c);
			return STEP_AGAIN;
		}
		return STEP_WAIT;
	case CONN_ST_AUTH:
		return STEP_WAIT;
	case CONN_ST_BACKEND:
		/* More body from the client, or room for the response. */
		if (c->c_be != NULL)
			be_pump(c->c_be);
		if (c->c_state != CONN_ST_BACKEND)
			return STEP_AGAIN;
		/* The pump refilled c_out and the client can take it: go
		 * round again rather than wait for an edge that may not come. */
		return (c->c_flags & CONN_F_WR) && buf_avail(&c->c_out) > 0 ?
		    STEP_AGAIN : STEP_WAIT;
	case CONN_ST_FILE:
		return conn_step_file(c);
	case CONN_ST_FLUSH:
		if (buf_avail(&c->c_out) > 0)
			return STEP_WAIT;
		conn_request_end(c);
		return c->c_state == CONN_ST_CLOSING ? STEP_DONE : STEP_AGAIN;
	case CONN_ST_LINGER:
		while (conn_read(c, CONN_READ_CHUNK) > 0)
			buf_reset(&c->c_in);
		if (c->c_flags & CONN_F_EOF) {
			conn_close(c);
			return STEP_DONE;
		}
		return STEP_WAIT;
	default:
		return STEP_DONE;
	}
}

void
conn_run(struct conn *c)
{
	enum step st;
	int rounds = 0;

	/* Bounded, so one connection pipelining many requests cannot
	 * starve the others on this worker. */
	do {
		st = conn_step(c);
	} while (st == STEP_AGAIN && ++rounds < 64);
	if (st == STEP_AGAIN && c->c_state != CONN_ST_CLOSING)
		conn_later(c);
}

static void
conn_io_cb(struct ev *ev, int fd, void *arg, uint32_t events)
{
	struct conn *c = arg;

	(void)ev;
	(void)fd;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->c_flags |= CONN_F_RD;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->c_flags |= CONN_F_WR;
	if (events & EPOLLRDHUP)
		c->c_flags |= CONN_F_RDHUP;
	if ((events & (EPOLLHUP | EPOLLERR)) && c->c_state != CONN_ST_BACKEND)
		c->c_flags |= CONN_F_EOF;
	conn_run(c);
}

/* A deadline passed: what it means depends on the state. */
static void
conn_timeout(struct conn *c, uint64_t now)
{
	switch (c->c_state) {
	case CONN_ST_HEAD:
		if (buf_avail(&c->c_in) == 0 && c->c_req == NULL)
			conn_close(c);	/* idle keep-alive: silently */
		else
			conn_fail_head(c, 408,
			    "Request head not received in time");
		break;
	case CONN_ST_AUTH:
		conn_fail(c, 503, "Identity provider keys unavailable");
		break;
	case CONN_ST_QUEUED:
		metrics_reject(METRICS_REJ_QUEUE_TIMEOUT);
		conn_fail(c, 503, "No free backend connection in time");
		break;
	case CONN_ST_BACKEND:
		if (!(c->c_flags & CONN_F_BODYDONE))
			conn_fail(c, 408, "Request body not received in time");
		break;
	case CONN_ST_LINGER:
		conn_close(c);
		return;
	default:
		log_info("client %s too slow reading the response, closing",
		    c->c_peer);
		conn_close(c);
		return;
	}
	(void)now;
	if (c->c_state != CONN_ST_CLOSING)
		conn_run(c);
}

void
conn_sweep(uint64_t now)
{
	struct conn *c, *next;

	for (c = gw->w_conns; c != NULL; c = next) {
		next = c->c_next;
		if (c->c_be != NULL)
			be_check_timeout(c->c_be, now);
		if (c->c_state == CONN_ST_CLOSING)
			continue;
		if (c->c_deadline != 0 && now >= c->c_deadline)
			conn_timeout(c, now);
		else if (c->c_state == CONN_ST_FLUSH || c->c_be != NULL)
			conn_run(c);
	}
}

static void
conn_later_cb(struct ev *ev, void *arg)
{
	(void)ev;
	(void)arg;	/* conn_run_later() does the work before sleeping */
}

/* Connections with work left after a bounded run: resumed in the
 * before-sleep hook, after the other ready connections had their turn. */
void
conn_later(struct conn *c)
{
	static struct ev_timer now;

	if (c->c_flags & CONN_F_LATER)
		return;
	/* Due at once, so the loop polls instead of sleeping while work
	 * is left (edge-triggered: no new event would wake it). */
	now.et_cb = conn_later_cb;
	ev_timer_set(&gw->w_ev, &now, 0);
	c->c_flags |= CONN_F_LATER;
	c->c_lnext = gw->w_later;
	gw->w_later = c;
}

void
conn_run_later(void)
{
	struct conn *c, *list = gw->w_later;

	gw->w_later = NULL;
	while ((c = list) != NULL) {
		list = c->c_lnext;
		c->c_flags &= ~CONN_F_LATER;
		if (c->c_state != CONN_ST_CLOSING)
			conn_run(c);
	}
}

/*
 * Drain: every connection closes after the next response whose head says
 * "Connection: close" (all heads do once draining). A response whose head
 * went out before still promised keep-alive, so its connection stays for
 * the request that may follow. Idle keep-alive connections get a short
 * grace instead of an immediate close, so a request already on its way
 * is answered rather than cut off (the keep-alive close race).
 */
void
conn_drain(void)
{
	struct conn *c;
	uint64_t grace = util_now_ms() + CONN_DRAIN_GRACE_MS;

	for (c = gw->w_conns; c != NULL; c = c->c_next) {
		if (c->c_state == CONN_ST_HEAD && buf_avail(&c->c_in) == 0 &&
		    (c->c_deadline == 0 || c->c_deadline > grace))
			c->c_deadline = grace;
	}
}
