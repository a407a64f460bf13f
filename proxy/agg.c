/*
 * agg: aggregate routes. One GET of the client fans out, in parallel, to
 * the parts of an <aggregate> as FastCGI requests, and the parts' JSON
 * answers are merged into one envelope (docs/contract/api.md, 7).
 *
 * A part is a socketless request (struct conn with CONN_F_PART, c_fd -1)
 * that goes through the same machinery as a routed request: up_pick(),
 * maxconn, the wait queue, the breaker, be_start() and the retries of a
 * GET. conn.c hands its answer (head, body, end, failure) to the part
 * hooks here instead of a socket. The client connection waits in
 * CONN_ST_AGG until every part ended (or a part with on-error="fail"
 * failed, or a deadline passed), then gets the merged answer.
 *
 * Lifetimes: the run (struct agg_run) belongs to the client's request
 * and is freed with it; the part requests are queued on gw->w_closing
 * then, so a callback still holding one never sees it freed.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfg.h"
#include "env.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define RLX		memory_order_relaxed

/* One part of a running aggregate. */
struct agg_prun {
	struct conn	*pr_c;		/* its request; NULL when skipped */
	struct buf	 pr_body;	/* its answer's body */
	int		 pr_done;
	int		 pr_too_large;	/* failed for max-size */
	int		 pr_unbuilt;	/* its request could not be built */
	enum agg_out	 pr_out;
	int		 pr_status;	/* HTTP status of the outcome */
	char		 pr_msg[256];
	uint64_t	 pr_deadline;	/* monotonic ms */
	uint64_t	 pr_ms;		/* time it took */
	json_t		*pr_json;	/* its responseBody */
};

/* One client request of an aggregate route. */
struct agg_run {
	const struct aggregate	*ar_agg;
	struct conn		*ar_c;		/* the client connection */
	struct agg_prun		 ar_parts[AGG_MAX_PARTS];
	size_t			 ar_left;	/* parts not ended */
	int			 ar_started;
	int			 ar_done;	/* answered or abandoned */
	uint64_t		 ar_t_start;
	uint64_t		 ar_slowest;	/* ms of the slowest part */
	struct ev_timer		 ar_timer;	/* next part deadline */
	char			 ar_vals[AGG_MAX_PARAMS][AGG_PARAM_MAX + 1];
	char			 ar_sub[AGG_PARAM_MAX + 1]; /* "" no token */
};

static const char *const agg_out_names[AGG_OUT_COUNT] = {
	"ok", "status", "timeout", "broken", "too_large", "unavailable",
	"skipped",
};

const char *
agg_out_str(enum agg_out o)
{
	return o < AGG_OUT_COUNT ? agg_out_names[o] : "?";
}

/* Configuration ------------------------------------------------------ */

#define K(n, t, d, lo, hi, s, f) \
	{ n, t, d, lo, hi, offsetof(s, f) }

static const struct cfg_key agg_keys[] = {
	K("listen", CFG_T_STR, NULL, 0, 0, struct aggregate, ag_listen),
	K("path", CFG_T_STR, NULL, 0, 0, struct aggregate, ag_path),
	K("token", CFG_T_STR, "optional", 0, 0, struct aggregate, ag_token),
	K("timeout", CFG_T_DURATION, "5s", 1, 600000, struct aggregate,
	    ag_timeout),
	K("max-size", CFG_T_SIZE, "1m", 1, 268435456, struct aggregate,
	    ag_max_size),
};

static const struct cfg_key agg_part_keys[] = {
	K("name", CFG_T_STR, NULL, 0, 0, struct agg_part, ap_name),
	K("service", CFG_T_STR, NULL, 0, 0, struct agg_part, ap_service),
	K("path", CFG_T_STR, NULL, 0, 0, struct agg_part, ap_path),
	K("when", CFG_T_STR, "always", 0, 0, struct agg_part, ap_when),
	K("on-error", CFG_T_STR, "fail", 0, 0, struct agg_part, ap_on_error),
	K("timeout", CFG_T_DURATION, "0", 0, 600000, struct agg_part,
	    ap_timeout),
	K("max-size", CFG_T_SIZE, "0", 0, 268435456, struct agg_part,
	    ap_max_size),
	K("retries", CFG_T_INT, "2", 0, 10, struct agg_part, ap_retries),
};

#undef K

/* Whether <s> (<len> bytes) is a parameter or part name. */
static int
agg_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* Whether <ch> may stand in a substituted value: RFC 3986 unreserved. */
static int
agg_value_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
	    ch == '~';
}

/* Whether <s> of <len> bytes is a value fit for a part's path. */
static int
agg_value_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > AGG_PARAM_MAX)
		return 0;
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' &&
	    s[1] == '.'))
		return 0;
	for (i = 0; i < len; i++)
		if (!agg_value_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* The index of parameter <name>/<len> of <ag>, or -1. */
static int
agg_param_index(const struct aggregate *ag, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ag->ag_nparams; i++)
		if (strlen(ag->ag_params[i]) == len &&
		    memcmp(ag->ag_params[i], name, len) == 0)
			return (int)i;
	return -1;
}

/* Checks the aggregate path and collects its {names}. 0 or -1. */
static int
agg_conf_path(struct cfg_doc *cd, xmlNodePtr n, struct aggregate *ag)
{
	const char *p = ag->ag_path, *seg, *end;
	size_t len;

	if (p[0] != '/' || strpbrk(p, "?#%") != NULL || (strlen(p) > 1 &&
	    p[strlen(p) - 1] == '/') || strstr(p, "//") != NULL) {
		cfg_error(cd, n, "aggregate path \"%s\" must start with /, "
		    "not end in /, and hold no ?, #, %% or //", p);
		return -1;
	}
	for (seg = p + 1; *seg != '\0'; seg = *end == '/' ? end + 1 : end) {
		end = seg + strcspn(seg, "/");
		len = (size_t)(end - seg);
		if (len >= 2 && seg[0] == '{' && seg[len - 1] == '}') {
			if (!agg_name_ok(seg + 1, len - 2) ||
			    agg_param_index(ag, seg + 1, len - 2) != -1 ||
			    ag->ag_nparams == AGG_MAX_PARAMS ||
			    (len - 2 == 3 && memcmp(seg + 1, "sub", 3) == 0)) {
				cfg_error(cd, n, "aggregate %s: parameter "
				    "%.*s is malformed, repeated, reserved "
				    "or one too many (at most %d)", p,
				    (int)len, seg, AGG_MAX_PARAMS);
				return -1;
			}
			ag->ag_params[ag->ag_nparams++] = xstrndup(seg + 1,
			    len - 2);
		} else if (memchr(seg, '{', len) != NULL ||
		    memchr(seg, '}', len) != NULL) {
			cfg_error(cd, n, "aggregate %s: a {parameter} must be "
			    "a whole path segment", p);
			return -1;
		}
	}
	return 0;
}

/*
 * Checks the {names} of part <ap>'s path against <ag>: each must be one of
 * the aggregate's parameters, or "sub" when a token is sure to be there.
 */
static void
agg_conf_part_path(struct cfg_doc *cd, xmlNodePtr n,
    const struct aggregate *ag, const struct agg_part *ap)
{
	const char *p = ap->ap_path, *open, *close;

	if (p[0] != '/' || strpbrk(p, "# \t") != NULL) {
		cfg_error(cd, n, "part %s: path \"%s\" must start with / and "
		    "hold no #, space or tab", ap->ap_name, p);
		return;
	}
	while ((open = strchr(p, '{')) != NULL) {
		close = strchr(open, '}');
		if (close == NULL || memchr(p, '}', (size_t)(open - p)) !=
		    NULL || memchr(open + 1, '{', (size_t)(close - open - 1))
		    != NULL) {
			cfg_error(cd, n, "part %s: unbalanced { } in path",
			    ap->ap_name);
			return;
		}
		if ((size_t)(close - open - 1) == 3 && memcmp(open + 1, "sub",
		    3) == 0) {
			if (!ap->ap_need_token &&
			    ag->ag_token_kind != AGG_TOKEN_REQUIRED)
				cfg_error(cd, n, "part %s: {sub} needs "
				    "when=\"token\" or token=\"required\" on "
				    "the aggregate", ap->ap_name);
		} else if (agg_param_index(ag, open + 1,
		    (size_t)(close - open - 1)) == -1)
			cfg_error(cd, n, "part %s: unknown parameter %.*s "
			    "(not in the aggregate path %s)", ap->ap_name,
			    (int)(close - open + 1), open, ag->ag_path);
		p = close + 1;
	}
	if (strchr(p, '}') != NULL)
		cfg_error(cd, n, "part %s: unbalanced { } in path",
		    ap->ap_name);
}

/* Reads one <part>; the enumerations and names are checked here. */
static void
agg_conf_part(struct cfg_doc *cd, xmlNodePtr n, struct aggregate *ag)
{
	struct agg_part *ap = &ag->ag_parts[ag->ag_nparts];
	size_t i;

	if (cfg_read(cd, n, agg_part_keys, NITEMS(agg_part_keys), ap) ==
	    -1) {
		cfg_release_keys(agg_part_keys, NITEMS(agg_part_keys), ap);
		memset(ap, 0, sizeof(*ap));
		return;
	}
	ag->ag_nparts++;
	ap->ap_line = xmlGetLineNo(n);
	if (!agg_name_ok(ap->ap_name, strlen(ap->ap_name)))
		cfg_error(cd, n, "part name \"%s\": letters, digits, _ and - "
		    "only", ap->ap_name);
	for (i = 0; i + 1 < ag->ag_nparts; i++)
		if (strcmp(ag->ag_parts[i].ap_name, ap->ap_name) == 0)
			cfg_error(cd, n, "aggregate %s: part %s defined twice",
			    ag->ag_path, ap->ap_name);
	if (strcmp(ap->ap_on_error, "fail") != 0 &&
	    strcmp(ap->ap_on_error, "null") != 0)
		cfg_error(cd, n, "part %s: on-error \"%s\" is not fail or "
		    "null", ap->ap_name, ap->ap_on_error);
	ap->ap_fail = strcmp(ap->ap_on_error, "fail") == 0;
	if (strcmp(ap->ap_when, "always") != 0 &&
	    strcmp(ap->ap_when, "token") != 0)
		cfg_error(cd, n, "part %s: when \"%s\" is not always or token",
		    ap->ap_name, ap->ap_when);
	ap->ap_need_token = strcmp(ap->ap_when, "token") == 0;
	if (ap->ap_need_token && ag->ag_token_kind == AGG_TOKEN_NONE)
		cfg_error(cd, n, "part %s: when=\"token\" on an aggregate "
		    "with token=\"none\"", ap->ap_name);
	if (ap->ap_timeout > ag->ag_timeout)
		cfg_error(cd, n, "part %s: timeout (%llu ms) is longer than "
		    "the aggregate's (%llu ms)", ap->ap_name,
		    (unsigned long long)ap->ap_timeout,
		    (unsigned long long)ag->ag_timeout);
	if (ap->ap_timeout == 0)
		ap->ap_timeout = ag->ag_timeout;
	if (ap->ap_max_size == 0)
		ap->ap_max_size = ag->ag_max_size;
	agg_conf_part_path(cd, n, ag, ap);
	ap->ap_route.rt_listen = ag->ag_listen;
	ap->ap_route.rt_prefix = ag->ag_path;
	ap->ap_route.rt_service = ap->ap_service;
	ap->ap_route.rt_retries = ap->ap_retries;
	ap->ap_route.rt_offload_fd = -1;
	ap->ap_route.rt_lidx = ag->ag_lidx;
	ap->ap_route.rt_slot = SHM_MAX_ROUTES;
}

/* The literal start of <ag>'s path, up to its first parameter. */
static size_t
agg_literal_len(const struct aggregate *ag)
{
	const char *b = strchr(ag->ag_path, '{');

	if (b == NULL)
		return strlen(ag->ag_path);
	return (size_t)(b - ag->ag_path) > 1 ? (size_t)(b - ag->ag_path) - 1 :
	    1;
}

/* The listener, token kind, conflicts of <ag> (element <n>). */
static int
agg_conf_head(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc,
    struct aggregate *ag)
{
	size_t i;

	ag->ag_lidx = -1;
	for (i = 0; i < gc->gc_nlisten; i++)
		if (strcmp(gc->gc_listen[i].l_name, ag->ag_listen) == 0)
			ag->ag_lidx = (int)i;
	if (ag->ag_lidx == -1) {
		cfg_error(cd, n, "aggregate %s: no listener named \"%s\"",
		    ag->ag_path, ag->ag_listen);
		return -1;
	}
	if (strcmp(ag->ag_token, "optional") == 0)
		ag->ag_token_kind = AGG_TOKEN_OPTIONAL;
	else if (strcmp(ag->ag_token, "required") == 0)
		ag->ag_token_kind = AGG_TOKEN_REQUIRED;
	else if (strcmp(ag->ag_token, "none") == 0)
		ag->ag_token_kind = AGG_TOKEN_NONE;
	else {
		cfg_error(cd, n, "aggregate %s: token \"%s\" is not optional, "
		    "required or none", ag->ag_path, ag->ag_token);
		return -1;
	}
	if (agg_conf_path(cd, n, ag) == -1)
		return -1;
	/* A route answers first: one that covers the path hides it. */
	if (route_find(gc, ag->ag_lidx, str_make(ag->ag_path,
	    agg_literal_len(ag))) != NULL) {
		cfg_error(cd, n, "aggregate %s: hidden by a route of listener "
		    "%s whose prefix covers it", ag->ag_path, ag->ag_listen);
		return -1;
	}
	for (i = 0; i + 1 < gc->gc_naggs; i++)
		if (gc->gc_aggs[i].ag_lidx == ag->ag_lidx &&
		    strcmp(gc->gc_aggs[i].ag_path, ag->ag_path) == 0) {
			cfg_error(cd, n, "aggregate %s on %s defined twice",
			    ag->ag_path, ag->ag_listen);
			return -1;
		}
	return 0;
}

static void
agg_conf_one(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc)
{
	struct aggregate *ag = &gc->gc_aggs[gc->gc_naggs];
	xmlNodePtr pn = NULL;
	size_t count = 0;

	ag->ag_slot = -1;
	if (cfg_read(cd, n, agg_keys, NITEMS(agg_keys), ag) == -1) {
		cfg_release_keys(agg_keys, NITEMS(agg_keys), ag);
		memset(ag, 0, sizeof(*ag));
		return;
	}
	gc->gc_naggs++;
	ag->ag_line = xmlGetLineNo(n);
	while ((pn = cfg_next(n, pn, "part")) != NULL)
		count++;
	ag->ag_parts = xcalloc(count + 1, sizeof(*ag->ag_parts));
	if (agg_conf_head(cd, n, gc, ag) == -1)
		return;
	if (count == 0 || count > AGG_MAX_PARTS) {
		cfg_error(cd, n, "aggregate %s: %zu parts (1 to %d)",
		    ag->ag_path, count, AGG_MAX_PARTS);
		return;
	}
	while ((pn = cfg_next(n, pn, "part")) != NULL)
		agg_conf_part(cd, pn, ag);
}

void
agg_conf_read(struct cfg_doc *cd, xmlNodePtr root, struct gw_conf *gc)
{
	xmlNodePtr n = NULL;
	size_t count = 0;

	while ((n = cfg_next(root, n, "aggregate")) != NULL)
		count++;
	gc->gc_aggs = xcalloc(count + 1, sizeof(*gc->gc_aggs));
	while ((n = cfg_next(root, n, "aggregate")) != NULL)
		agg_conf_one(cd, n, gc);
}

int
agg_conf_link(struct gw_conf *gc)
{
	struct agg_part *ap;
	size_t i, j, k;
	int rc = 0;

	for (i = 0; i < gc->gc_naggs; i++) {
		if (gc->gc_aggs[i].ag_token_kind == AGG_TOKEN_REQUIRED &&
		    *gc->gc_auth.au_service == '\0') {
			log_error("%s:%ld: aggregate %s: token=\"required\" "
			    "needs an <auth service=...> element", gc->gc_path,
			    gc->gc_aggs[i].ag_line, gc->gc_aggs[i].ag_path);
			rc = -1;
		}
		for (j = 0; j < gc->gc_aggs[i].ag_nparts; j++) {
			ap = &gc->gc_aggs[i].ag_parts[j];
			for (k = 0; k < gc->gc_nservices; k++)
				if (strcmp(gc->gc_services[k].svc_name,
				    ap->ap_service) == 0)
					ap->ap_route.rt_svc =
					    &gc->gc_services[k];
			if (ap->ap_route.rt_svc != NULL)
				continue;
			log_error("%s:%ld: part %s: service \"%s\" is not in "
			    "the registry", gc->gc_path, ap->ap_line,
			    ap->ap_name, ap->ap_service);
			rc = -1;
		}
	}
	return rc;
}

void
agg_conf_free(struct gw_conf *gc)
{
	struct aggregate *ag;
	size_t i, j;

	for (i = 0; i < gc->gc_naggs; i++) {
		ag = &gc->gc_aggs[i];
		for (j = 0; j < ag->ag_nparts; j++)
			cfg_release_keys(agg_part_keys, NITEMS(agg_part_keys),
			    &ag->ag_parts[j]);
		for (j = 0; j < ag->ag_nparams; j++)
			free(ag->ag_params[j]);
		free(ag->ag_parts);
		cfg_release_keys(agg_keys, NITEMS(agg_keys), ag);
	}
	free(gc->gc_aggs);
	gc->gc_aggs = NULL;
}

/* Counters ----------------------------------------------------------- */

static size_t
agg_class(int status)
{
	return status >= 100 && status < 600 ? (size_t)(status / 100) : 0;
}

static void
agg_count_req(const struct aggregate *ag, int status)
{
	if (shm == NULL || ag->ag_slot < 0)
		return;
	atomic_fetch_add_explicit(&shm->sh_agg[ag->ag_slot].sa_req[
	    agg_class(status)], 1, RLX);
}

static void
agg_count_part(const struct aggregate *ag, size_t part, enum agg_out o)
{
	if (shm == NULL || ag->ag_slot < 0)
		return;
	atomic_fetch_add_explicit(&shm->sh_agg[ag->ag_slot].sa_part[part][o],
	    1, RLX);
}

void
agg_metrics(struct buf *out, const struct gw_conf *gc)
{
	static const char *const cls[METRICS_CLASSES] = {
		"other", "1xx", "2xx", "3xx", "4xx", "5xx",
	};
	const struct aggregate *ag;
	const struct shm_agg *sa;
	size_t i, j, k;

	if (shm == NULL || gc->gc_naggs == 0)
		return;
	buf_printf(out, "# HELP elp_aggregate_requests_total Aggregate "
	    "responses, by aggregate and status class.\n"
	    "# TYPE elp_aggregate_requests_total counter\n");
	for (i = 0; i < gc->gc_naggs; i++) {
		ag = &gc->gc_aggs[i];
		if (ag->ag_slot < 0)
			continue;
		sa = &shm->sh_agg[ag->ag_slot];
		for (k = 0; k < METRICS_CLASSES; k++)
			buf_printf(out, "elp_aggregate_requests_total{listener="
			    "\"%s\",aggregate=\"%s\",code=\"%s\"} %llu\n",
			    ag->ag_listen, ag->ag_path, cls[k],
			    (unsigned long long)atomic_load_explicit(
			    &sa->sa_req[k], RLX));
	}
	buf_printf(out, "# HELP elp_aggregate_parts_total Aggregate parts, "
	    "by outcome.\n# TYPE elp_aggregate_parts_total counter\n");
	for (i = 0; i < gc->gc_naggs; i++) {
		ag = &gc->gc_aggs[i];
		if (ag->ag_slot < 0)
			continue;
		sa = &shm->sh_agg[ag->ag_slot];
		for (j = 0; j < ag->ag_nparts; j++)
			for (k = 0; k < AGG_OUT_COUNT; k++)
				buf_printf(out, "elp_aggregate_parts_total{"
				    "listener=\"%s\",aggregate=\"%s\",part="
				    "\"%s\",outcome=\"%s\"} %llu\n",
				    ag->ag_listen, ag->ag_path,
				    ag->ag_parts[j].ap_name, agg_out_str(k),
				    (unsigned long long)atomic_load_explicit(
				    &sa->sa_part[j][k], RLX));
	}
}

void
agg_alog(const struct conn *c, char *out, size_t len)
{
	const struct agg_run *run = c->c_r != NULL ? c->c_r->r_agg : NULL;

	if (len > 0)
		out[0] = '\0';
	if (run == NULL)
		return;
	snprintf(out, len, " agg=%s parts=%zu slowest=%.3f",
	    run->ar_agg->ag_path, run->ar_agg->ag_nparts,
	    (double)run->ar_slowest / 1000.0);
}

/* Matching ----------------------------------------------------------- */

/*
 * Matches <path> against <ag>'s template; on a match stores the values
 * in <run> (when not NULL). Returns 1 on a match, 0 when it does not
 * match, -1 when it matches but a value is not acceptable.
 */
static int
agg_match(const struct aggregate *ag, struct str path, struct agg_run *run)
{
	const char *t = ag->ag_path, *tend, *p = path.p, *pend = path.p +
	    path.len, *pe;
	size_t tl, pl, k = 0;
	int bad = 0;

	while (*t != '\0') {
		if (p >= pend || *t != '/' || *p != '/')
			return 0;
		t++;
		p++;
		tend = t + strcspn(t, "/");
		tl = (size_t)(tend - t);
		pe = memchr(p, '/', (size_t)(pend - p));
		pe = pe != NULL ? pe : pend;
		pl = (size_t)(pe - p);
		if (tl >= 2 && t[0] == '{') {
			if (!agg_value_ok(p, pl))
				bad = 1;
			else if (run != NULL) {
				memcpy(run->ar_vals[k], p, pl);
				run->ar_vals[k][pl] = '\0';
			}
			k++;
		} else if (tl != pl || memcmp(t, p, tl) != 0)
			return 0;
		t = tend;
		p = pe;
	}
	if (p != pend)
		return 0;
	return bad ? -1 : 1;
}

int
agg_request(struct conn *c, const struct h1_req *req)
{
	const struct gw_conf *gc = gw->w_conf;
	const struct aggregate *ag = NULL;
	struct agg_run *run;
	size_t i;
	int m = 0;

	for (i = 0; i < gc->gc_naggs && m == 0; i++)
		if (gc->gc_aggs[i].ag_lidx == c->c_listener->l_idx &&
		    (m = agg_match(&gc->gc_aggs[i], req->path, NULL)) != 0)
			ag = &gc->gc_aggs[i];
	if (ag == NULL)
		return -1;
	if (m == -1) {
		conn_fail(c, 400, "Invalid path parameter");
		return 0;
	}
	if (req->method != H1_M_GET && req->method != H1_M_HEAD) {
		conn_fail(c, 405, "Method not allowed");
		return 0;
	}
	if (!(c->c_flags & CONN_F_BODYREAD)) {
		conn_fail(c, 400, "An aggregate takes no request body");
		return 0;
	}
	run = c->c_r->r_agg = xcalloc(1, sizeof(*run));
	run->ar_agg = ag;
	run->ar_c = c;
	(void)agg_match(ag, req->path, run);
	if (ag->ag_token_kind == AGG_TOKEN_NONE)
		c->c_r->r_token_len = 0;
	return 1;
}

int
agg_auth_kind(const struct conn *c)
{
	return c->c_r->r_agg->ar_agg->ag_token_kind == AGG_TOKEN_REQUIRED ?
	    ROUTE_AUTH_TOKEN : ROUTE_AUTH_PUBLIC;
}

/* Parts -------------------------------------------------------------- */

/* Substitutes <ap>'s path into <out>. */
static void
agg_part_path(const struct agg_run *run, const struct agg_part *ap,
    struct buf *out)
{
	const char *p = ap->ap_path, *open, *close;
	int k;

	while ((open = strchr(p, '{')) != NULL &&
	    (close = strchr(open, '}')) != NULL) {
		buf_append(out, p, (size_t)(open - p));
		if ((size_t)(close - open - 1) == 3 &&
		    memcmp(open + 1, "sub", 3) == 0)
			buf_append_str(out, run->ar_sub);
		else if ((k = agg_param_index(run->ar_agg, open + 1,
		    (size_t)(close - open - 1))) != -1)
			buf_append_str(out, run->ar_vals[k]);
		p = close + 1;
	}
	buf_append_str(out, p);
}

/*
 * Builds the part's FastCGI params: a GET of its path as a request head
 * with the caller's Authorization (when a token was verified), User-Agent
 * and request id, parsed like a client's, then the AUTH_* claims.
 * Returns 0, or -1 when the head could not be parsed (nothing built).
 */
static int
agg_part_params(struct agg_run *run, struct conn *p,
    const struct agg_part *ap)
{
	static struct h1_req req;
	struct creq *pr = run->ar_c->c_r;
	struct buf head = BUF_INIT;
	struct h1_limits lim;
	struct params_in in;
	int status, rc = -1;

	buf_append_str(&head, "GET ");
	agg_part_path(run, ap, &head);
	buf_printf(&head, " HTTP/1.1\r\nHost: %s\r\n",
	    run->ar_c->c_listener->l_name);
	if (pr->r_claims != NULL && pr->r_token_len > 0)
		buf_printf(&head, "Authorization: Bearer %.*s\r\n",
		    (int)pr->r_token_len, conn_kept(run->ar_c, pr->r_a_token));
	if (strcmp(conn_kept(run->ar_c, pr->r_a_ua), "-") != 0)
		buf_printf(&head, "User-Agent: %s\r\n",
		    conn_kept(run->ar_c, pr->r_a_ua));
	buf_append_str(&head, "Accept: application/json\r\n\r\n");
	memset(&lim, 0, sizeof(lim));
	lim.lim_target = lim.lim_field = lim.lim_head = buf_avail(&head) + 1;
	lim.lim_headers = 8;
	h1_req_init(&req);
	if (h1_parse_head(buf_data(&head), buf_avail(&head), &lim, &req,
	    &status) <= 0) {
		/* Values are checked: only an over-long token gets here. */
		log_warnx("rid=%s: part %s: request head refused (%d)",
		    pr->r_reqid, ap->ap_name, status);
		goto done;
	}
	memset(&in, 0, sizeof(in));
	in.pi_req = &req;
	in.pi_peer = pr->r_client;
	in.pi_peer_port = "";
	in.pi_server = run->ar_c->c_listener->l_name;
	in.pi_reqid = pr->r_reqid;
	in.pi_scheme = pr->r_scheme;
	params_build(&p->c_r->r_fcgi, &p->c_r->r_arena, &in);
	params_finish(&p->c_r->r_fcgi, pr->r_claims, -1);
	rc = 0;
done:
	buf_release(&head);
	return rc;
}

/* A socketless request for part <i> of <run>. */
static struct conn *
agg_part_new(struct agg_run *run, size_t i)
{
	const struct agg_part *ap = &run->ar_agg->ag_parts[i];
	struct conn *p, *c = run->ar_c;
	struct creq *r;

	p = xcalloc(1, sizeof(*p));
	p->c_fd = -1;
	p->c_listener = c->c_listener;
	p->c_flags = CONN_F_PART | CONN_F_BODYDONE | CONN_F_BODYREAD;
	p->c_agg = run;
	p->c_apart = i;
	memcpy(p->c_peer, c->c_peer, sizeof(p->c_peer));
	r = p->c_r = xcalloc(1, sizeof(*r));
	r->r_file_fd = r->r_rf_fd = -1;
	r->r_content_length = r->r_resp_left = -1;
	r->r_a_range = r->r_a_inm = r->r_a_ims = r->r_a_ifrange = SIZE_MAX;
	spool_init(&r->r_body);
	r->r_route = &ap->ap_route;
	r->r_method = H1_M_GET;
	r->r_minor = 1;
	memcpy(r->r_reqid, c->c_r->r_reqid, sizeof(r->r_reqid));
	memcpy(r->r_client, c->c_r->r_client, sizeof(r->r_client));
	r->r_scheme = c->c_r->r_scheme;
	r->r_t_start = run->ar_t_start;
	if (agg_part_params(run, p, ap) == -1)
		run->ar_parts[i].pr_unbuilt = 1;	/* agg_start() fails it */
	return p;
}

/* Removes part request <p> from the worker's run-later list. */
static void
agg_unlater(struct conn *p)
{
	struct conn **pp;

	if (!(p->c_flags & CONN_F_LATER))
		return;
	for (pp = &gw->w_later; *pp != NULL; pp = &(*pp)->c_lnext)
		if (*pp == p) {
			*pp = p->c_lnext;
			break;
		}
	p->c_flags &= ~CONN_F_LATER;
}

/* Stops part request <p>: its exchange, its place in the queue. */
static void
agg_part_stop(struct conn *p)
{
	if (p->c_r->r_be != NULL)
		be_release(p->c_r->r_be, 0);
	if (p->c_state == CONN_ST_QUEUED)
		up_dequeue(p->c_r->r_route->rt_svc, p);
	agg_unlater(p);
	p->c_flags &= ~CONN_F_DISPATCH;
	conn_set_state(p, CONN_ST_FLUSH);
}

static void	agg_finish(struct agg_run *run, int failed);
static void	agg_arm(struct agg_run *run);

/* Part <i> ended (pr_out and the rest are set). */
static void
agg_part_end(struct agg_run *run, size_t i)
{
	struct agg_prun *pr = &run->ar_parts[i];
	const struct agg_part *ap = &run->ar_agg->ag_parts[i];

	pr->pr_done = 1;
	pr->pr_ms = util_now_ms() - run->ar_t_start;
	if (pr->pr_ms > run->ar_slowest)
		run->ar_slowest = pr->pr_ms;
	agg_count_part(run->ar_agg, i, pr->pr_out);
	if (pr->pr_out != AGG_OUT_OK)
		log_info("rid=%s: aggregate %s: part %s: %s %d: %s",
		    run->ar_c->c_r->r_reqid, run->ar_agg->ag_path, ap->ap_name,
		    agg_out_str(pr->pr_out), pr->pr_status, pr->pr_msg);
	run->ar_left--;
	if (!run->ar_started)
		return;		/* agg_start() finishes */
	if (pr->pr_out != AGG_OUT_OK && pr->pr_out != AGG_OUT_SKIPPED &&
	    ap->ap_fail)
		agg_finish(run, (int)i);
	else if (run->ar_left == 0)
		agg_finish(run, -1);
}

void
agg_start(struct conn *c)
{
	struct agg_run *run = c->c_r->r_agg;
	const struct aggregate *ag = run->ar_agg;
	const char *sub;
	size_t i, n = ag->ag_nparts;
	int failed = -1;

	conn_set_state(c, CONN_ST_AGG);
	c->c_deadline = 0;
	run->ar_t_start = util_now_ms();
	run->ar_left = n;
	sub = c->c_r->r_claims != NULL ? json_string_value(json_object_get(
	    c->c_r->r_claims, "sub")) : NULL;
	if (sub != NULL && agg_value_ok(sub, strlen(sub)))
		snprintf(run->ar_sub, sizeof(run->ar_sub), "%s", sub);
	for (i = 0; i < n; i++) {
		run->ar_parts[i].pr_deadline = run->ar_t_start +
		    ag->ag_parts[i].ap_timeout;
		if (ag->ag_parts[i].ap_need_token && run->ar_sub[0] == '\0') {
			run->ar_parts[i].pr_out = AGG_OUT_SKIPPED;
			agg_part_end(run, i);
		} else
			run->ar_parts[i].pr_c = agg_part_new(run, i);
	}
	/* All made first: a part failing at once must find the others. */
	for (i = 0; i < n; i++) {
		if (run->ar_parts[i].pr_c == NULL || run->ar_parts[i].pr_done)
			continue;
		if (run->ar_parts[i].pr_unbuilt)
			conn_fail(run->ar_parts[i].pr_c, 502, "The gateway "
			    "could not build the part's request");
		else
			conn_forward(run->ar_parts[i].pr_c);
	}
	run->ar_started = 1;
	for (i = 0; i < n && failed == -1; i++)
		if (run->ar_parts[i].pr_done && ag->ag_parts[i].ap_fail &&
		    run->ar_parts[i].pr_out != AGG_OUT_OK &&
		    run->ar_parts[i].pr_out != AGG_OUT_SKIPPED)
			failed = (int)i;
	if (failed != -1 || run->ar_left == 0)
		agg_finish(run, failed);
	else
		agg_arm(run);
}

/* Deadlines ---------------------------------------------------------- */

static void
agg_timer_cb(struct ev *ev, void *arg)
{
	struct agg_run *run = arg;
	uint64_t now = util_now_ms();
	size_t i;

	(void)ev;
	for (i = 0; i < run->ar_agg->ag_nparts && !run->ar_done; i++)
		if (!run->ar_parts[i].pr_done &&
		    now >= run->ar_parts[i].pr_deadline)
			conn_fail(run->ar_parts[i].pr_c, 504,
			    "The part did not answer in time");
	if (!run->ar_done)
		agg_arm(run);
}

/* Arms the timer for the earliest deadline of a running part. */
static void
agg_arm(struct agg_run *run)
{
	uint64_t next = UINT64_MAX, now = util_now_ms();
	size_t i;

	for (i = 0; i < run->ar_agg->ag_nparts; i++)
		if (!run->ar_parts[i].pr_done &&
		    run->ar_parts[i].pr_deadline < next)
			next = run->ar_parts[i].pr_deadline;
	if (next == UINT64_MAX)
		return;
	run->ar_timer.et_cb = agg_timer_cb;
	run->ar_timer.et_arg = run;
	ev_timer_set(&gw->w_ev, &run->ar_timer, next > now ? next - now : 0);
}

void
agg_sweep(struct conn *c, uint64_t now)
{
	struct agg_run *run = c->c_r != NULL ? c->c_r->r_agg : NULL;
	struct conn *p;
	size_t i;

	if (run == NULL)
		return;
	for (i = 0; i < run->ar_agg->ag_nparts && !run->ar_done; i++) {
		if (run->ar_parts[i].pr_done || (p = run->ar_parts[i].pr_c) ==
		    NULL)
			continue;
		if (p->c_r->r_be != NULL)
			be_check_timeout(p->c_r->r_be, now);
		else if (p->c_state == CONN_ST_QUEUED && p->c_deadline != 0 &&
		    now >= p->c_deadline) {
			metrics_reject(METRICS_REJ_QUEUE_TIMEOUT);
			conn_fail(p, 503, "No free backend connection in time");
		}
	}
}

/* Answer ------------------------------------------------------------- */

/* The merged envelope of a run whose parts ended, as a 200. */
static void
agg_reply_ok(struct agg_run *run)
{
	const struct aggregate *ag = run->ar_agg;
	struct conn *c = run->ar_c;
	json_t *env, *body, *errs = NULL;
	struct agg_prun *pr;
	char *text;
	size_t i, len;

	env = json_object();
	body = json_object();
	json_object_set_new(env, "httpStatus", json_string("OK"));
	for (i = 0; i < ag->ag_nparts; i++) {
		pr = &run->ar_parts[i];
		json_object_set(body, ag->ag_parts[i].ap_name,
		    pr->pr_json != NULL ? pr->pr_json : json_null());
		if (pr->pr_out == AGG_OUT_OK || pr->pr_out == AGG_OUT_SKIPPED)
			continue;
		if (errs == NULL)
			errs = json_object();
		json_object_set_new(errs, ag->ag_parts[i].ap_name, json_pack(
		    "{s:i,s:s,s:s}", "status", pr->pr_status, "message",
		    pr->pr_msg, "outcome", agg_out_str(pr->pr_out)));
	}
	json_object_set_new(env, "responseBody", body);
	if (errs != NULL)
		json_object_set_new(env, "errors", errs);
	text = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	len = text != NULL ? strlen(text) : 0;
	reply_head_start(c, 200, STR_LIT("OK"));
	buf_printf(&c->c_out, "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n", len);
	cors_headers(c);
	reply_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	reply_head_done(c);
	if (!(c->c_flags & CONN_F_HEAD))
		buf_append(&c->c_out, text, len);
	free(text);
	conn_set_state(c, CONN_ST_FLUSH);
}

/*
 * Every part ended, or part <failed> (on-error="fail") failed: stops the
 * others and answers the client (its run is resumed from the loop).
 */
static void
agg_finish(struct agg_run *run, int failed)
{
	struct conn *c = run->ar_c;
	struct agg_prun *pr;
	size_t i;

	run->ar_done = 1;
	ev_timer_del(&gw->w_ev, &run->ar_timer);
	for (i = 0; i < run->ar_agg->ag_nparts; i++)
		if (!run->ar_parts[i].pr_done && run->ar_parts[i].pr_c != NULL)
			agg_part_stop(run->ar_parts[i].pr_c);
	if (failed >= 0) {
		pr = &run->ar_parts[failed];
		if (pr->pr_status == 503)
			c->c_r->r_retry_after = 1;
		conn_fail(c, pr->pr_status, pr->pr_msg);
	} else
		agg_reply_ok(run);
	agg_count_req(run->ar_agg, c->c_r->r_status);
	conn_later(c);
}

void
agg_abort(struct conn *c)
{
	struct agg_run *run = c->c_r != NULL ? c->c_r->r_agg : NULL;
	size_t i, n;

	if (run == NULL || run->ar_done)
		return;
	run->ar_done = 1;
	ev_timer_del(&gw->w_ev, &run->ar_timer);
	for (i = n = 0; i < run->ar_agg->ag_nparts; i++)
		if (!run->ar_parts[i].pr_done && run->ar_parts[i].pr_c != NULL) {
			agg_part_stop(run->ar_parts[i].pr_c);
			n++;
		}
	if (!run->ar_started)
		return;
	log_info("rid=%s: aggregate %s: ended before its parts, %zu stopped",
	    c->c_r->r_reqid, run->ar_agg->ag_path, n);
	agg_count_req(run->ar_agg, 499);
}

void
agg_free(struct conn *c)
{
	struct agg_run *run = c->c_r != NULL ? c->c_r->r_agg : NULL;
	struct conn *p;
	size_t i;

	if (run == NULL)
		return;
	agg_abort(c);
	for (i = 0; i < AGG_MAX_PARTS; i++) {
		json_decref(run->ar_parts[i].pr_json);
		buf_release(&run->ar_parts[i].pr_body);
		if ((p = run->ar_parts[i].pr_c) == NULL)
			continue;
		/* Freed by conn_reap(), after any callback that holds it. */
		agg_unlater(p);
		p->c_agg = NULL;
		conn_set_state(p, CONN_ST_CLOSING);
		p->c_cnext = gw->w_closing;
		gw->w_closing = p;
	}
	free(run);
	c->c_r->r_agg = NULL;
}

/* Part hooks --------------------------------------------------------- */

void
agg_part_run(struct conn *p)
{
	if (p->c_state == CONN_ST_QUEUED && (p->c_flags & CONN_F_DISPATCH)) {
		p->c_flags &= ~CONN_F_DISPATCH;
		conn_dispatch(p);
	}
}

void
agg_part_fail(struct conn *p, int status, const char *why)
{
	struct agg_run *run = p->c_agg;
	struct agg_prun *pr;

	conn_set_state(p, CONN_ST_FLUSH);
	if (run == NULL || run->ar_done)
		return;
	pr = &run->ar_parts[p->c_apart];
	if (pr->pr_done)
		return;
	pr->pr_status = status;
	snprintf(pr->pr_msg, sizeof(pr->pr_msg), "%s", why);
	if (pr->pr_too_large)
		pr->pr_out = AGG_OUT_TOO_LARGE;
	else if (status == 504)
		pr->pr_out = AGG_OUT_TIMEOUT;
	else if (status == 503)
		pr->pr_out = AGG_OUT_UNAVAILABLE;
	else
		pr->pr_out = AGG_OUT_BROKEN;
	agg_part_end(run, p->c_apart);
}

/* Fails part <p> for its size. Returns -1 for the caller to pass on. */
static int
agg_part_too_large(struct conn *p, uint64_t max)
{
	char msg[128];

	p->c_agg->ar_parts[p->c_apart].pr_too_large = 1;
	snprintf(msg, sizeof(msg), "The part's answer is larger than %llu "
	    "bytes", (unsigned long long)max);
	conn_fail(p, 502, msg);
	return -1;
}

int
agg_part_head(struct conn *p, const struct fcgi_cgi_head *h)
{
	const struct agg_part *ap;

	if (p->c_agg == NULL)
		return -1;
	ap = &p->c_agg->ar_agg->ag_parts[p->c_apart];
	p->c_r->r_status = h->ch_status;
	p->c_r->r_resp_left = h->ch_content_length;
	if (h->ch_content_length > (int64_t)ap->ap_max_size)
		return agg_part_too_large(p, ap->ap_max_size);
	return 0;
}

int
agg_part_body(struct conn *p, const char *data, size_t len)
{
	const struct agg_part *ap;
	struct buf *b;

	if (p->c_agg == NULL)
		return -1;
	ap = &p->c_agg->ar_agg->ag_parts[p->c_apart];
	b = &p->c_agg->ar_parts[p->c_apart].pr_body;
	if (buf_avail(b) + len > ap->ap_max_size)
		return agg_part_too_large(p, ap->ap_max_size);
	buf_append(b, data, len);
	return 0;
}

/* Reads part <pr>'s envelope: responseBody on 2xx, errorBody otherwise. */
static void
agg_part_parse(struct agg_prun *pr, int status)
{
	json_t *j, *v;
	json_error_t err;
	const char *msg;

	j = json_loadb(buf_data(&pr->pr_body), buf_avail(&pr->pr_body), 0,
	    &err);
	pr->pr_status = status;
	if (status >= 200 && status < 300) {
		if (j != NULL && json_is_object(j) && (v = json_object_get(j,
		    "responseBody")) != NULL) {
			pr->pr_json = json_incref(v);
			pr->pr_out = AGG_OUT_OK;
		} else {
			pr->pr_out = AGG_OUT_BROKEN;
			pr->pr_status = 502;
			snprintf(pr->pr_msg, sizeof(pr->pr_msg), "The part did "
			    "not answer with a JSON envelope");
		}
		json_decref(j);
		return;
	}
	pr->pr_out = AGG_OUT_STATUS;
	msg = json_string_value(json_object_get(json_object_get(j,
	    "errorBody"), "errorMessage"));
	snprintf(pr->pr_msg, sizeof(pr->pr_msg), "%s", msg != NULL ? msg :
	    env_reason(status));
	json_decref(j);
}

void
agg_part_done(struct conn *p, int ok)
{
	struct agg_run *run = p->c_agg;
	struct agg_prun *pr;

	conn_set_state(p, CONN_ST_FLUSH);
	if (run == NULL || run->ar_done)
		return;
	pr = &run->ar_parts[p->c_apart];
	if (pr->pr_done)
		return;
	if (!ok) {
		pr->pr_out = AGG_OUT_BROKEN;
		pr->pr_status = 502;
		snprintf(pr->pr_msg, sizeof(pr->pr_msg), "The part's answer "
		    "ended early");
	} else
		agg_part_parse(pr, p->c_r->r_status);
	agg_part_end(run, p->c_apart);
}
