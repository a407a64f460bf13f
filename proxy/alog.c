/*
 * alog: the access log, one line per request (the format is in
 * conf/README.md), with bearer tokens in query strings redacted.
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

/*
 * Copies request target <in> into <out> (<len> bytes) with the value of
 * every access_token query parameter (RFC 6750 section 2.3) replaced, so
 * bearer tokens never reach the access log.
 */
void
alog_target(const char *in, char *out, size_t len)
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

void
alog_write(struct conn *c)
{
	char line[2048], when[64], target[600], agg[320];
	struct tm tm;
	time_t now;
	uint64_t t = util_now_ms();
	int n;

	if (c->c_r->r_status == 0 || (c->c_flags & CONN_F_LOGGED))
		return;
	c->c_flags |= CONN_F_LOGGED;
	if (gw->w_access_fd == -1)
		return;
	alog_target(conn_kept(c, c->c_r->r_a_target), target, 513);
	agg_alog(c, agg, sizeof(agg));
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S %z", &tm);
	n = snprintf(line, sizeof(line),
	    "%s - - [%s] \"%s %.512s HTTP/1.%d\" "
	    "%d %llu \"%.256s\" \"%.256s\" rid=%s route=%s ins=%s up=%.3f "
	    "rt=%.3f end=%s%s%s%s\n",
	    c->c_r->r_client[0] != '\0' ? c->c_r->r_client : c->c_peer, when,
	    conn_kept(c, c->c_r->r_a_method), target,
	    c->c_r->r_minor, c->c_r->r_status,
	    (unsigned long long)(c->c_r->r_sent > c->c_r->r_head_len
				     ? c->c_r->r_sent - c->c_r->r_head_len
				     : 0),
	    conn_kept(c, c->c_r->r_a_ref), conn_kept(c, c->c_r->r_a_ua),
	    c->c_r->r_reqid,
	    c->c_r->r_route != NULL ? c->c_r->r_route->rt_prefix : "-",
	    c->c_r->r_ins != NULL ? c->c_r->r_ins->ins_name : "-",
	    c->c_r->r_t_be ? (double)(t - c->c_r->r_t_be) / 1000.0 : 0.0,
	    (double)(t - c->c_r->r_t_start) / 1000.0,
	    conn_end_str(c->c_r->r_end),
	    c->c_r->r_limited != NULL ? " limit=" : "",
	    c->c_r->r_limited != NULL ? c->c_r->r_limited : "", agg);
	if (n > 0 && write(gw->w_access_fd, line, (size_t)n > sizeof(line) ?
	    sizeof(line) : (size_t)n) == -1)
		log_warn("access log");
}
