/*
 * api: elp-confd's HTTP API, on the gateway's admin listener only
 * (man/elp-confd.8; the registry part is the interface of
 * docs in conf/README.md, "The runtime registry").
 *
 *	GET    /health
 *	GET    /config/status
 *	GET    /config/{service}/{profile}
 *	GET    /registry
 *	POST   /registry/{service}
 *	PUT    /registry/{service}/{leaseId}
 *	DELETE /registry/{service}/{leaseId}
 *	POST   /registry/{service}/{leaseId}/drain
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "confd.h"
#include "log.h"
#include "util.h"

static void
api_health(struct app_req *req)
{
	app_ok(req, 200, json_pack("{s:s}", "status", "UP"));
}

/* Whether If-None-Match <inm> names entity tag <etag> (or is "*"). */
static int
api_etag_match(const char *inm, const char *etag)
{
	return inm != NULL && (strcmp(inm, "*") == 0 ||
	    strstr(inm, etag) != NULL);
}

static void
api_config(struct app_req *req)
{
	struct confd_svc *cs = req->r_ctx;
	const char *svc = app_cap(req, "service");
	const char *prof = app_cap(req, "profile");
	char *path, *cur, *body = NULL, h[65], etag[40];
	size_t len = 0;

	if (!merge_name_ok(svc) || !merge_name_ok(prof)) {
		app_fail(req, 404, "Unknown service or profile");
		return;
	}
	cur = xasprintf("%s/current", cs->cs_cfg->cc_pub.pc_state);
	path = xasprintf("%s/%s/%s.json", cur, svc, prof);
	if (access(cur, F_OK) == -1)
		app_fail(req, 503, "No configuration published yet");
	else if (util_read_file(path, CONFD_FILE_MAX, &body, &len) == -1)
		app_fail(req, 404, "Unknown service or profile");
	else {
		merge_sha256(body, len, h);
		snprintf(etag, sizeof(etag), "\"%.32s\"", h);
		app_header(req, "ETag", etag);
		app_header(req, "Cache-Control", "no-cache");
		if (api_etag_match(app_param(req, "HTTP_IF_NONE_MATCH"), etag))
			app_send_raw(req, 304, "application/json", "", 0);
		else
			app_send_raw(req, 200, "application/json", body, len);
	}
	free(body);
	free(path);
	free(cur);
}

static void
api_status(struct app_req *req)
{
	struct confd_svc *cs = req->r_ctx;
	json_t *st = watch_load_json(watch_state_path(cs->cs_cfg));
	json_t *good = json_object_get(st, "lastGood");

	/* Digests are internal: what changed since, for the signals. */
	json_object_del(good, "gateway");
	json_object_del(good, "services");
	json_object_set_new(st, "registry",
	    watch_load_json(watch_reg_path(cs->cs_cfg)));
	app_ok(req, 200, st);
}

static json_t *
api_lease_json(const struct lease *l, int full)
{
	char when[32];
	json_t *o;

	merge_time_str(l->l_expires, when);
	o = json_pack("{s:s, s:I, s:s}", "leaseId", l->l_id, "lease",
	    (json_int_t)l->l_lease, "expires", when);
	if (full) {
		json_object_set_new(o, "address", json_string(l->l_address));
		json_object_set_new(o, "maxconn", json_integer(l->l_maxconn));
		json_object_set_new(o, "weight", json_integer(l->l_weight));
		json_object_set_new(o, "state", json_string(l->l_drain ?
		    "drain" : "up"));
		json_object_set_new(o, "static", json_false());
	}
	return o;
}

static void
api_registry_list(struct app_req *req)
{
	struct confd_svc *cs = req->r_ctx;
	const struct lease_cfg *lc = &cs->cs_cfg->cc_lease;
	json_t *out = json_object(), *svcs = json_object(), *st, *e, *arr;
	struct lease_set set;
	const char *name;
	size_t i;

	if (lease_load(lc->lc_file, &set) == -1) {
		app_fail(req, 500, "The registry file cannot be read");
		json_decref(svcs);
		json_decref(out);
		return;
	}
	for (i = 0; i < set.ls_n; i++) {
		if ((arr = json_object_get(svcs, set.ls_v[i].l_service)) ==
		    NULL) {
			arr = json_array();
			json_object_set_new(svcs, set.ls_v[i].l_service, arr);
		}
		json_array_append_new(arr, api_lease_json(&set.ls_v[i], 1));
	}
	st = json_array();
	(void)lease_static(lc->lc_static, st);
	json_array_foreach(st, i, e) {
		name = json_string_value(json_object_get(e, "service"));
		if ((arr = json_object_get(svcs, name)) == NULL) {
			arr = json_array();
			json_object_set_new(svcs, name, arr);
		}
		json_array_append(arr, e);
		json_object_del(e, "service");
	}
	json_decref(st);
	json_object_set_new(out, "services", svcs);
	json_object_set_new(out, "version", json_integer(
	    (json_int_t)set.ls_version));
	json_object_set_new(out, "leases", json_integer((json_int_t)set.ls_n));
	st = watch_load_json(watch_reg_path(cs->cs_cfg));
	json_object_set(out, "selfPreservation", json_object_get(st,
	    "selfPreservation") != NULL ? json_object_get(st,
	    "selfPreservation") : json_false());
	json_decref(st);
	lease_set_release(&set);
	app_ok(req, 200, out);
}

/* The caller must hold the registry role; -1 after responding. */
static int
api_auth(struct app_req *req)
{
	struct confd_svc *cs = req->r_ctx;
	struct authz_id id;
	int rc;

	rc = authz_require_role(req, cs->cs_az, &id,
	    cs->cs_cfg->cc_lease.lc_role);
	if (rc == 0)
		authz_id_release(&id);
	return rc;
}

/* Integer member <name> of <body> in [min, max] (<def> when absent);
 * -1 after responding 400. */
static int
api_int(struct app_req *req, json_t *body, const char *name, int64_t def,
    int64_t min, int64_t max, int64_t *out)
{
	json_t *v = json_object_get(body, name);

	*out = def;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		app_fail(req, 400, "%s must be an integer in %lld..%lld", name,
		    (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

/* The new lease's fields from the body; -1 after responding 400. */
static int
api_reg_body(struct app_req *req, json_t *body, struct lease *l)
{
	struct confd_svc *cs = req->r_ctx;
	const struct lease_cfg *lc = &cs->cs_cfg->cc_lease;
	const char *addr = json_string_value(json_object_get(body, "address"));
	const char *why;
	int64_t lmin = (int64_t)(lc->lc_min_lease + 999) / 1000;
	int64_t lmax = (int64_t)lc->lc_max_lease / 1000;

	if (addr == NULL) {
		app_fail(req, 400, "address is required");
		return -1;
	}
	if (lease_addr_ok(addr, lc->lc_run_dir, &why) == -1) {
		app_fail(req, 400, "%s", why);
		return -1;
	}
	snprintf(l->l_address, sizeof(l->l_address), "%s", addr);
	if (api_int(req, body, "maxconn", 1, 1, lc->lc_max_maxconn,
	    &l->l_maxconn) == -1 || api_int(req, body, "weight", 1, 1,
	    lc->lc_max_weight, &l->l_weight) == -1 || api_int(req, body,
	    "lease", lmin > 30 ? lmin : (lmax < 30 ? lmax : 30), lmin, lmax,
	    &l->l_lease) == -1)
		return -1;
	return 0;
}

/* Loads the registry under its lock; -1 after responding 500. */
static int
api_lock_load(struct app_req *req, struct lease_set *set, int *fd)
{
	struct confd_svc *cs = req->r_ctx;

	if ((*fd = lease_lock(cs->cs_cfg->cc_lease.lc_file)) == -1) {
		app_fail(req, 500, "The registry cannot be locked");
		return -1;
	}
	if (lease_load(cs->cs_cfg->cc_lease.lc_file, set) == -1) {
		lease_unlock(*fd);
		app_fail(req, 500, "The registry file cannot be read");
		return -1;
	}
	return 0;
}

/* Saves the registry and answers <status> with <l>; releases both. */
static void
api_commit(struct app_req *req, struct lease_set *set, int fd,
    struct lease *l, int status)
{
	struct confd_svc *cs = req->r_ctx;
	json_t *o = l != NULL ? api_lease_json(l, 0) : NULL;

	if (lease_save(cs->cs_cfg->cc_lease.lc_file, set) == -1) {
		json_decref(o);
		app_fail(req, 500, "The registry file cannot be written");
	} else if (status == 204)
		app_send_raw(req, 204, "application/json", "", 0);
	else
		app_ok(req, status, o);
	lease_set_release(set);
	lease_unlock(fd);
}

static void
api_register(struct app_req *req)
{
	struct confd_svc *cs = req->r_ctx;
	const struct lease_cfg *lc = &cs->cs_cfg->cc_lease;
	const char *svc = app_cap(req, "service");
	struct lease want, *l;
	struct lease_set set;
	json_t *body;
	int fd, status = 200;

	if (api_auth(req) == -1)
		return;
	if (!merge_name_ok(svc)) {
		app_fail(req, 400, "Invalid service name");
		return;
	}
	if ((body = app_json_body(req)) == NULL)
		return;
	memset(&want, 0, sizeof(want));
	if (api_reg_body(req, body, &want) == -1) {
		json_decref(body);
		return;
	}
	json_decref(body);
	if (lease_is_static(lc->lc_static, svc, want.l_address)) {
		app_fail(req, 409, "%s is a static instance of %s",
		    want.l_address, svc);
		return;
	}
	if (api_lock_load(req, &set, &fd) == -1)
		return;
	if ((l = lease_byaddr(&set, svc, want.l_address)) == NULL) {
		if (set.ls_n >= (size_t)lc->lc_max_leases) {
			lease_set_release(&set);
			lease_unlock(fd);
			app_fail(req, 503, "The registry is full");
			return;
		}
		l = lease_add(&set);
		snprintf(l->l_service, sizeof(l->l_service), "%s", svc);
		snprintf(l->l_address, sizeof(l->l_address), "%s",
		    want.l_address);
		if (lease_new_id(l->l_id) == -1) {
			lease_set_release(&set);
			lease_unlock(fd);
			app_fail(req, 500, "No lease id");
			return;
		}
		status = 201;
	}
	l->l_maxconn = want.l_maxconn;
	l->l_weight = want.l_weight;
	l->l_lease = want.l_lease;
	l->l_expires = time(NULL) + want.l_lease;
	l->l_drain = 0;
	log_info("%s %s at %s: lease %s, %llds", status == 201 ? "registered" :
	    "re-registered", svc, l->l_address, l->l_id,
	    (long long)l->l_lease);
	api_commit(req, &set, fd, l, status);
}

/*
 * Finds the lease of the request's {service} and {leaseId} under the
 * lock; NULL after responding (404 when unknown).
 */
static struct lease *
api_lease_op(struct app_req *req, struct lease_set *set, int *fd)
{
	const char *svc = app_cap(req, "service"), *id = app_cap(req,
	    "leaseId");
	struct lease *l;

	if (api_auth(req) == -1)
		return NULL;
	if (!merge_name_ok(svc) || id == NULL || strlen(id) != CONFD_ID_LEN) {
		app_fail(req, 404, "Unknown lease");
		return NULL;
	}
	if (api_lock_load(req, set, fd) == -1)
		return NULL;
	if ((l = lease_find(set, svc, id)) == NULL) {
		lease_set_release(set);
		lease_unlock(*fd);
		app_fail(req, 404, "Unknown lease");
	}
	return l;
}

static void
api_renew(struct app_req *req)
{
	struct lease_set set;
	struct lease *l;
	int fd;

	if ((l = api_lease_op(req, &set, &fd)) == NULL)
		return;
	l->l_expires = time(NULL) + l->l_lease;
	log_debug("%s: lease %s renewed", __func__, l->l_id);
	api_commit(req, &set, fd, l, 200);
}

static void
api_deregister(struct app_req *req)
{
	struct lease_set set;
	struct lease *l;
	int fd;

	if ((l = api_lease_op(req, &set, &fd)) == NULL)
		return;
	log_info("deregistered %s at %s: lease %s", l->l_service,
	    l->l_address, l->l_id);
	lease_del(&set, l);
	api_commit(req, &set, fd, NULL, 204);
}

static void
api_drain(struct app_req *req)
{
	struct lease_set set;
	struct lease *l;
	int fd;

	if ((l = api_lease_op(req, &set, &fd)) == NULL)
		return;
	if (!l->l_drain)
		log_info("draining %s at %s: lease %s", l->l_service,
		    l->l_address, l->l_id);
	l->l_drain = 1;
	api_commit(req, &set, fd, l, 200);
}

const struct app_route api_routes[] = {
	{ "GET", "/health", api_health, APP_BODY_ANY },
	{ "GET", "/config/status", api_status, APP_BODY_ANY },
	{ "GET", "/config/{service}/{profile}", api_config, APP_BODY_ANY },
	{ "GET", "/registry", api_registry_list, APP_BODY_ANY },
	{ "POST", "/registry/{service}", api_register, APP_BODY_ANY },
	{ "PUT", "/registry/{service}/{leaseId}", api_renew, APP_BODY_ANY },
	{ "DELETE", "/registry/{service}/{leaseId}",
	    api_deregister, APP_BODY_ANY },
	{ "POST", "/registry/{service}/{leaseId}/drain",
	    api_drain, APP_BODY_ANY },
};
const size_t api_nroutes = NITEMS(api_routes);
