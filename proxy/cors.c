/*
 * cors: the CORS policy of a request (the route's, or the gateway's
 * default), its response headers, and preflight requests, which the
 * gateway answers itself.
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

/* CORS headers for a request whose Origin the route allows. */
void
cors_headers(struct conn *c)
{
	if (c->c_r->r_cors == CONN_CORS_NONE)
		return;
	if (c->c_r->r_cors == CONN_CORS_ANY)
		buf_append_str(&c->c_out, "Access-Control-Allow-Origin: *\r\n");
	else
		buf_printf(&c->c_out, "Access-Control-Allow-Origin: %s\r\n",
		    conn_kept(c, c->c_r->r_a_origin));
	buf_append_str(&c->c_out,
	    "Vary: Origin, Access-Control-Request-Method, "
	    "Access-Control-Request-Headers\r\n");
	/* What a script may read beyond the safelisted headers: ranges and
	 * validators of media, and the reasons of refusals. */
	buf_append_str(&c->c_out, "Access-Control-Expose-Headers: "
	    "Content-Range, Accept-Ranges, ETag, Last-Modified, Retry-After, "
	    "WWW-Authenticate, X-Request-Id\r\n");
}

/* Whether <origin> is in the space- or comma-separated <list>. */
static int
cors_origin_listed(const char *list, const char *origin)
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
void
cors_decide(struct conn *c)
{
	const char *policy = gw->w_conf->gc_cors;

	c->c_r->r_cors = CONN_CORS_NONE;
	if (!(c->c_flags & CONN_F_ORIGIN))
		return;
	if (c->c_r->r_route != NULL && *c->c_r->r_route->rt_cors != '\0')
		policy = c->c_r->r_route->rt_cors;
	if (*policy == '\0' || strcmp(policy, "off") == 0)
		return;
	if (strcmp(policy, "*") == 0)
		c->c_r->r_cors = CONN_CORS_ANY;
	else if (cors_origin_listed(policy, conn_kept(c, c->c_r->r_a_origin)))
		c->c_r->r_cors = CONN_CORS_ECHO;
}

/* CORS preflight, answered by the gateway itself. Returns 1 if handled. */
int
cors_preflight(struct conn *c, const struct h1_req *req)
{
	const struct h1_header *m, *h;

	if (req->method != H1_M_OPTIONS || !(c->c_flags & CONN_F_ORIGIN) ||
	    (m = h1_header_find(req, "Access-Control-Request-Method",
	    29)) == NULL)
		return 0;
	if (c->c_r->r_cors == CONN_CORS_NONE) {
		conn_fail(c, 403, "Origin not allowed");
		return 1;
	}
	h = h1_header_find(req, "Access-Control-Request-Headers", 30);
	reply_head_start(c, 200, STR_LIT("OK"));
	buf_printf(&c->c_out, "Access-Control-Allow-Methods: GET, HEAD, "
	    "POST, PUT, DELETE, OPTIONS, PATCH\r\n");
	if (h != NULL && h->value.len > 0 && h->value.len < 1024)
		buf_printf(&c->c_out, "Access-Control-Allow-Headers: %.*s\r\n",
		    (int)h->value.len, h->value.p);
	buf_printf(&c->c_out, "Access-Control-Max-Age: %llu\r\n"
	    "Content-Length: 0\r\n",
	    (unsigned long long)(gw->w_conf->gc_cors_max_age / 1000));
	cors_headers(c);
	reply_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	reply_head_done(c);
	conn_set_state(c, CONN_ST_FLUSH);
	return 1;
}
