/*
 * reg: the registrar of a pool (see reg.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "http.h"
#include "log.h"
#include "reg.h"
#include "svcc.h"
#include "util.h"

#define REG_BACKOFF_MIN	1000	/* ms, first retry */
#define REG_MAX_BODY	(64 * 1024)
#define REG_ID_MAX	64

static const struct cfg_key reg_keys[] = {
	{ "service", CFG_T_STR, NULL, 0, 0,
	    offsetof(struct reg_cfg, rc_service) },
	{ "address", CFG_T_ADDR, "", 0, 0,
	    offsetof(struct reg_cfg, rc_address) },
	{ "maxconn", CFG_T_INT, "0", 0, 10000,
	    offsetof(struct reg_cfg, rc_maxconn) },
	{ "weight", CFG_T_INT, "1", 1, 1000,
	    offsetof(struct reg_cfg, rc_weight) },
	{ "lease", CFG_T_DURATION, "30s", 3000, 3600 * 1000,
	    offsetof(struct reg_cfg, rc_lease) },
	{ "url", CFG_T_STR, NULL, 0, 0, offsetof(struct reg_cfg, rc_url) },
	{ "token-url", CFG_T_STR, "", 0, 0,
	    offsetof(struct reg_cfg, rc_token_url) },
	{ "client-id", CFG_T_STR, "", 0, 0,
	    offsetof(struct reg_cfg, rc_client) },
	{ "secret-file", CFG_T_PATH, "", 0, 0,
	    offsetof(struct reg_cfg, rc_secret_file) },
	{ "timeout", CFG_T_DURATION, "2s", 100, 60 * 1000,
	    offsetof(struct reg_cfg, rc_timeout) },
	{ "backoff-max", CFG_T_DURATION, "30s", 1000, 3600 * 1000,
	    offsetof(struct reg_cfg, rc_backoff_max) },
	{ "drain-delay", CFG_T_DURATION, "1s", 0, 3000,
	    offsetof(struct reg_cfg, rc_drain_delay) },
};

/* One registrar's connection to the registry. */
struct reg {
	const struct reg_cfg	*r_cfg;
	struct svcc		*r_svcc;	/* with a token */
	struct http_client	*r_http;	/* without */
	char			 r_id[REG_ID_MAX + 1];	/* "": none */
	uint64_t		 r_lease;	/* ms granted */
	uint64_t		 r_backoff;	/* ms of the next retry */
	int			 r_down;	/* the last call failed */
};

int
reg_read(struct cfg_doc *cd, const struct pool_cfg *pool, struct reg_cfg *rc)
{
	xmlNodePtr n;
	int tok, rv = 1;

	memset(rc, 0, sizeof(*rc));
	if ((n = cfg_next(cfg_root(cd), NULL, "register")) == NULL)
		return 0;
	/* Every check runs: one -t shows every mistake. */
	if (cfg_read(cd, n, reg_keys, NITEMS(reg_keys), rc) == -1)
		rv = -1;
	if (rc->rc_address == NULL || *rc->rc_address == '\0') {
		free(rc->rc_address);
		rc->rc_address = xstrdup(pool != NULL &&
		    pool->pc_listen != NULL ? pool->pc_listen : "");
	} else if (cfg_check_address(cd, n, "address", rc->rc_address) == -1)
		rv = -1;
	if (strncmp(rc->rc_address, "unix:", 5) == 0 &&
	    rc->rc_address[5] != '/') {
		cfg_error(cd, n, "register: address %s must be absolute",
		    rc->rc_address);
		rv = -1;
	} else if (strncmp(rc->rc_address, "unix:", 5) == 0) {
		/* The registry takes normalised paths only: a pool of the
		 * source tree listens on "conf/services/../../var/run/...". */
		char *real = util_real_path(rc->rc_address + 5);

		free(rc->rc_address);
		rc->rc_address = xasprintf("unix:%s", real);
		free(real);
	}
	if (rc->rc_maxconn == 0)
		rc->rc_maxconn = pool != NULL ? pool_cfg_max_children(pool) :
		    1;
	tok = (rc->rc_token_url != NULL && *rc->rc_token_url != '\0') +
	    (rc->rc_client != NULL && *rc->rc_client != '\0') +
	    (rc->rc_secret_file != NULL && *rc->rc_secret_file != '\0');
	if (tok != 0 && tok != 3) {
		cfg_error(cd, n, "register: token-url, client-id and "
		    "secret-file go together");
		rv = -1;
	}
	if (rc->rc_lease > 0 && rc->rc_timeout >= rc->rc_lease / 3) {
		cfg_error(cd, n, "register: timeout (%llu ms) must be shorter "
		    "than a third of the lease (%llu ms)",
		    (unsigned long long)rc->rc_timeout,
		    (unsigned long long)rc->rc_lease);
		rv = -1;
	}
	/* A token fetch and the DELETE, then the delay, while the pool
	 * master waits for the registrar. */
	if (rc->rc_timeout * 2 + rc->rc_drain_delay >= POOL_REG_STOP_MS) {
		cfg_error(cd, n, "register: twice the timeout plus the "
		    "drain-delay (%llu ms) must stay under %d ms",
		    (unsigned long long)(rc->rc_timeout * 2 +
		    rc->rc_drain_delay), POOL_REG_STOP_MS);
		rv = -1;
	}
	return rv;
}

void
reg_release(struct reg_cfg *rc)
{
	cfg_release_keys(reg_keys, NITEMS(reg_keys), rc);
}

/*
 * <method> on <url> with JSON <body> (NULL: none). Returns the HTTP
 * status with the parsed answer in *<out> (NULL when not JSON), or -1
 * when no answer came.
 */
static int
reg_call(struct reg *r, const char *method, const char *url, json_t *body,
    json_t **out)
{
	struct http_req req;
	struct http_resp resp;
	char *text = NULL;
	int status;

	*out = NULL;
	if (r->r_svcc != NULL) {
		status = svcc_call(r->r_svcc, method, url, body, NULL, out);
		return status == SVCC_UNAVAILABLE ? -1 : status;
	}
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.hq_method = method;
	req.hq_url = url;
	req.hq_accept = "application/json";
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		req.hq_ctype = "application/json";
		req.hq_body = text;
		req.hq_bodylen = text != NULL ? strlen(text) : 0;
	}
	if (http_do(r->r_http, &req, &resp) == -1) {
		log_debug("%s: %s %s: %s", __func__, method, url, resp.hr_why);
		status = -1;
	} else {
		status = (int)resp.hr_status;
		if (buf_avail(&resp.hr_body) > 0)
			*out = json_loadb(buf_data(&resp.hr_body),
			    buf_avail(&resp.hr_body), 0, NULL);
	}
	http_resp_release(&resp);
	free(text);
	return status;
}

/* Takes the lease id and length of a registration answer. 0 or -1. */
static int
reg_take(struct reg *r, json_t *ans)
{
	json_t *b, *id, *lease;

	if (ans == NULL)
		return -1;
	b = json_object_get(ans, "responseBody");
	if (!json_is_object(b))
		b = ans;
	id = json_object_get(b, "leaseId");
	lease = json_object_get(b, "lease");
	if (!json_is_string(id) || json_string_length(id) == 0 ||
	    json_string_length(id) > REG_ID_MAX)
		return -1;
	snprintf(r->r_id, sizeof(r->r_id), "%s", json_string_value(id));
	r->r_lease = json_is_integer(lease) && json_integer_value(lease) > 0 ?
	    (uint64_t)json_integer_value(lease) * 1000 : r->r_cfg->rc_lease;
	return 0;
}

/* An outage or refusal: logs its start once, returns the pause. */
static uint64_t
reg_failed(struct reg *r, const char *what, int status)
{
	uint64_t wait = r->r_backoff;

	char st[32] = "no answer";

	if (status != -1)
		snprintf(st, sizeof(st), "status %d", status);
	if (!r->r_down)
		log_warnx("registry: %s %s: %s; retrying (up to every "
		    "%llu ms)", what, r->r_cfg->rc_service, st,
		    (unsigned long long)r->r_cfg->rc_backoff_max);
	r->r_down = 1;
	r->r_backoff = r->r_backoff * 2 > r->r_cfg->rc_backoff_max ?
	    r->r_cfg->rc_backoff_max : r->r_backoff * 2;
	return wait;
}

static void
reg_ok(struct reg *r)
{
	if (r->r_down)
		log_info("registry: reachable again");
	r->r_down = 0;
	r->r_backoff = REG_BACKOFF_MIN;
}

/* POST: registers. Returns the pause before the next step. */
static uint64_t
reg_post(struct reg *r)
{
	const struct reg_cfg *rc = r->r_cfg;
	json_t *body, *ans = NULL;
	char *url;
	int st;

	url = xasprintf("%s/%s", rc->rc_url, rc->rc_service);
	body = json_pack("{s:s, s:I, s:I, s:I}", "address", rc->rc_address,
	    "maxconn", (json_int_t)rc->rc_maxconn,
	    "weight", (json_int_t)rc->rc_weight,
	    "lease", (json_int_t)(rc->rc_lease / 1000));
	st = reg_call(r, "POST", url, body, &ans);
	json_decref(body);
	free(url);
	if ((st == 200 || st == 201) && reg_take(r, ans) == 0) {
		json_decref(ans);
		reg_ok(r);
		log_info("registry: %s at %s registered, lease %s for %llu s",
		    rc->rc_service, rc->rc_address, r->r_id,
		    (unsigned long long)(r->r_lease / 1000));
		return r->r_lease / 3;
	}
	json_decref(ans);
	if (st == 409)
		log_warnx("registry: %s at %s is a static instance of the "
		    "gateway's registry (409)", rc->rc_service,
		    rc->rc_address);
	return reg_failed(r, "registering", st);
}

/* PUT: renews. Returns the pause before the next step. */
static uint64_t
reg_renew(struct reg *r)
{
	const struct reg_cfg *rc = r->r_cfg;
	json_t *ans = NULL;
	char *url;
	int st;

	url = xasprintf("%s/%s/%s", rc->rc_url, rc->rc_service, r->r_id);
	st = reg_call(r, "PUT", url, NULL, &ans);
	free(url);
	if (st == 200) {
		(void)reg_take(r, ans);
		json_decref(ans);
		reg_ok(r);
		log_debug("registry: lease %s renewed", r->r_id);
		return r->r_lease / 3;
	}
	json_decref(ans);
	if (st == 404) {
		log_warnx("registry: lease %s unknown (404), registering "
		    "again", r->r_id);
		r->r_id[0] = '\0';
		return reg_post(r);
	}
	return reg_failed(r, "renewing", st);
}

/* DELETE: deregisters, once, on the way out. 0, or -1 when it failed. */
static int
reg_delete(struct reg *r)
{
	const struct reg_cfg *rc = r->r_cfg;
	json_t *ans = NULL;
	char *url;
	int st;

	url = xasprintf("%s/%s/%s", rc->rc_url, rc->rc_service, r->r_id);
	st = reg_call(r, "DELETE", url, NULL, &ans);
	json_decref(ans);
	free(url);
	if (st == 204 || st == 200 || st == 404) {
		log_info("registry: lease %s deregistered", r->r_id);
		return 0;
	}
	if (st == -1)
		log_warnx("registry: deregistering lease %s: no answer; it "
		    "expires on its own", r->r_id);
	else
		log_warnx("registry: deregistering lease %s: status %d; it "
		    "expires on its own", r->r_id, st);
	return -1;
}

int
reg_run(const struct reg_cfg *rc)
{
	struct svcc_def def;
	struct http_opts ho;
	struct reg r;
	uint64_t wait, until;

	memset(&r, 0, sizeof(r));
	r.r_cfg = rc;
	r.r_backoff = REG_BACKOFF_MIN;
	if (*rc->rc_token_url != '\0') {
		memset(&def, 0, sizeof(def));
		def.sv_name = "registry";
		def.sv_token_url = rc->rc_token_url;
		def.sv_client = rc->rc_client;
		def.sv_secret_file = rc->rc_secret_file;
		def.sv_timeout = rc->rc_timeout;
		def.sv_max = REG_MAX_BODY;
		r.r_svcc = svcc_new(&def);
	} else {
		memset(&ho, 0, sizeof(ho));
		ho.ho_timeout = rc->rc_timeout;
		ho.ho_max = REG_MAX_BODY;
		r.r_http = http_new(&ho);
	}
	while (!pool_should_stop()) {
		wait = r.r_id[0] == '\0' ? reg_post(&r) : reg_renew(&r);
		/* Short pauses, so that SIGTERM is seen at once even when
		 * the signal came between the check and the sleep. */
		until = util_now_ms() + wait;
		while (!pool_should_stop() && util_now_ms() < until)
			pool_worker_pause(until - util_now_ms() > 100 ? 100 :
			    until - util_now_ms());
	}
	if (r.r_id[0] != '\0' && reg_delete(&r) == 0) {
		/* The gateways see leases.xml change within about a
		 * second: only then may the pool stop taking requests. */
		until = util_now_ms() + rc->rc_drain_delay;
		while (util_now_ms() < until)
			pool_worker_pause(until - util_now_ms());
	}
	svcc_free(r.r_svcc);
	http_free(r.r_http);
	return 0;
}
