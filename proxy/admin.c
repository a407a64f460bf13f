/*
 * admin: the gateway's own API on the admin listener (loopback only,
 * never a public listener), read by elpctl:
 *	GET  /admin/status             every service's instances as JSON
 *	POST /admin/instances/drain    ?service=NAME&address=ADDR: no new
 *	POST /admin/instances/undrain  requests to it / requests again
 * The drain flag lives in the instance's shared record, so every worker
 * (and a reloaded generation) sees it; in-flight requests finish.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "proxy.h"
#include "util.h"
#include "version.h"

#define ADMIN_VALUE_MAX	256

static int
admin_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Query parameter <name> of <q>, percent-decoded into <out> (<len>).
 * Returns 1, 0 when absent, -1 when malformed or too long.
 */
static int
admin_query(struct str q, const char *name, char *out, size_t len)
{
	size_t i = 0, nl = strlen(name), o;
	int hi, lo;

	while (i < q.len) {
		if (q.len - i > nl && memcmp(q.p + i, name, nl) == 0 &&
		    q.p[i + nl] == '=') {
			for (i += nl + 1, o = 0; i < q.len && q.p[i] != '&';
			    i++) {
				if (o + 1 >= len)
					return -1;
				if (q.p[i] == '%') {
					if (i + 2 >= q.len ||
					    (hi = admin_hex(q.p[i + 1])) < 0 ||
					    (lo = admin_hex(q.p[i + 2])) < 0)
						return -1;
					out[o++] = (char)(hi * 16 + lo);
					i += 2;
				} else
					out[o++] = q.p[i] == '+' ? ' ' : q.p[i];
			}
			out[o] = '\0';
			return memchr(out, '\0', o) == NULL ? 1 : -1;
		}
		while (i < q.len && q.p[i] != '&')
			i++;
		i++;
	}
	return 0;
}

static const char *
admin_health(const struct shm_ins *si)
{
	return atomic_load(&si->si_up) ? "up" : "down";
}

/* One instance as JSON. */
static json_t *
admin_ins(const struct instance *ins)
{
	const struct shm_ins *si = &shm->sh_ins[ins->ins_slot];
	uint64_t req = 0;
	json_t *o;
	size_t k;

	o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:i, s:i, s:b}",
	    "address", ins->ins_addr.ga_text,
	    "source", ins->ins_leased ? "leased" : "static",
	    "maxconn", (json_int_t)ins->ins_maxconn,
	    "weight", (json_int_t)ins->ins_weight,
	    "health", admin_health(si),
	    "breaker", brk_state_str((enum brk_state)atomic_load(
	    &si->si_brk_state)),
	    "connections", (int)atomic_load(&si->si_conns),
	    "inFlight", (int)atomic_load(&si->si_inflight),
	    "drain", atomic_load(&si->si_drain) || ins->ins_ldrain);
	if (o == NULL)
		return NULL;
	if (ins->ins_leased) {
		json_object_set_new(o, "leaseId",
		    json_string(ins->ins_lease_id));
		json_object_set_new(o, "expires",
		    json_string(ins->ins_expires));
		json_object_set_new(o, "leaseState",
		    json_string(ins->ins_ldrain ? "drain" : "up"));
	}
	for (k = 0; k < METRICS_CLASSES; k++)
		req += atomic_load(&si->si_req[k]);
	json_object_set_new(o, "requests", json_integer((json_int_t)req));
	json_object_set_new(o, "lastCheck", json_string(hc_reason_str(
	    (enum hc_reason)atomic_load(&si->si_reason))));
	return o;
}

static void
admin_json(struct conn *c, int status, json_t *body)
{
	char *text = json_dumps(body, JSON_COMPACT);
	size_t len = text != NULL ? strlen(text) : 0;

	reply_head_start(c, status, reply_reason(status));
	buf_printf(&c->c_out, "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n", len);
	reply_connection(c);
	buf_append(&c->c_out, "\r\n", 2);
	reply_head_done(c);
	if (!(c->c_flags & CONN_F_HEAD) && text != NULL)
		buf_append(&c->c_out, text, len);
	free(text);
	json_decref(body);
	conn_set_state(c, CONN_ST_FLUSH);
}

/* The contract's envelope around <body>. */
static json_t *
admin_envelope(int status, json_t *body)
{
	return json_pack("{s:s, s:o}", "httpStatus", status == 200 ? "OK" :
	    "BAD_REQUEST", "responseBody", body);
}

static void
admin_status(struct conn *c)
{
	const struct gw_conf *gc = gw->w_conf;
	const struct service *svc;
	json_t *services, *list, *body;
	char *path;
	size_t i, j;

	services = json_object();
	for (i = 0; i < gc->gc_nservices; i++) {
		svc = &gc->gc_services[i];
		list = json_array();
		for (j = 0; j < svc->svc_nins; j++)
			json_array_append_new(list, admin_ins(svc->svc_ins[j]));
		json_object_set_new(services, svc->svc_name, list);
	}
	path = lease_path(gc);
	body = json_pack("{s:s, s:s, s:i, s:i, s:I, s:s, s:I, s:o}",
	    "gateway", "elp-gateway",
	    "version", version_str(),
	    "configGeneration", (int)atomic_load(&shm->sh_conf_gen),
	    "workers", gc->gc_workers,
	    "processes", (json_int_t)atomic_load(&shm->sh_nprocs),
	    "leasesFile", path,
	    "leasesVersion", (json_int_t)shm->sh_leases.sl_version,
	    "services", services);
	free(path);
	admin_json(c, 200, admin_envelope(200, body));
}

/* POST /admin/instances/{drain,undrain}?service=&address= */
static void
admin_drain(struct conn *c, const struct h1_req *req, int drain)
{
	const struct gw_conf *gc = gw->w_conf;
	const struct service *svc;
	const struct instance *ins;
	char name[ADMIN_VALUE_MAX], addr[ADMIN_VALUE_MAX];
	size_t i, j;

	if (req->method != H1_M_POST) {
		conn_fail(c, 405, "Use POST");
		return;
	}
	if (admin_query(req->query, "service", name, sizeof(name)) != 1 ||
	    admin_query(req->query, "address", addr, sizeof(addr)) != 1) {
		conn_fail(c, 400, "Query parameters service and address are "
		    "required");
		return;
	}
	for (i = 0; i < gc->gc_nservices; i++) {
		svc = &gc->gc_services[i];
		if (strcmp(svc->svc_name, name) != 0)
			continue;
		for (j = 0; j < svc->svc_nins; j++) {
			ins = svc->svc_ins[j];
			if (strcmp(ins->ins_addr.ga_text, addr) != 0)
				continue;
			atomic_store(&shm->sh_ins[ins->ins_slot].si_drain,
			    drain ? 1 : 0);
			log_info("instance %s %s by the admin API",
			    ins->ins_name, drain ? "drained" : "undrained");
			admin_json(c, 200, admin_envelope(200,
			    admin_ins(ins)));
			return;
		}
	}
	conn_fail(c, 404, "No such instance");
}

int
admin_reply(struct conn *c, const struct h1_req *req)
{
	if (!c->c_listener->l_admin || shm == NULL)
		return 0;
	/* Nothing here reads a body: the connection closes after one. */
	if (req->flags & H1_F_CHUNKED ||
	    (req->flags & H1_F_LENGTH && req->content_length > 0))
		c->c_flags |= CONN_F_CLOSE;
	if (str_eq(req->path, "/admin/status")) {
		if (req->method != H1_M_GET && req->method != H1_M_HEAD)
			conn_fail(c, 405, "Use GET");
		else
			admin_status(c);
		return 1;
	}
	if (str_eq(req->path, "/admin/instances/drain")) {
		admin_drain(c, req, 1);
		return 1;
	}
	if (str_eq(req->path, "/admin/instances/undrain")) {
		admin_drain(c, req, 0);
		return 1;
	}
	return 0;
}
