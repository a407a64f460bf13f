/*
 * metrics: the gateway's counters and their Prometheus text exposition
 * (GET /metrics on an admin listener).
 *
 * Every counter lives in the shared area (shm.c), so one scrape on any
 * worker sees the sum over all of them, and counters survive a reload for
 * the routes, services and instances that stay. The hot path only does
 * relaxed atomic increments; rendering reads with relaxed loads too, so a
 * scrape is a consistent-enough snapshot, never a lock.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "proxy.h"
#include "util.h"
#include "version.h"

#define RLX	memory_order_relaxed

/* Upper bounds of the latency buckets in ms; the last one is +Inf. */
static const uint64_t metrics_le_ms[METRICS_BUCKETS - 1] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
};

static const char *const metrics_reject_names[METRICS_REJ_COUNT] = {
	"queue_timeout", "no_healthy_instance", "breaker_open", "bad_request",
	"too_large", "client_timeout", "connection_limit", "queue_full",
};

static const char *const metrics_retry_names[METRICS_RETRY_COUNT] = {
	"connect", "unsent", "reset",
};

static const char *const metrics_buf_names[METRICS_BUF_COUNT][2] = {
	{ "request", "memory" }, { "request", "file" }, { "response", "file" },
};

static const char *const metrics_jwks_names[METRICS_JWKS_COUNT] = {
	"ok", "unreachable", "status", "invalid",
};

static const char *const metrics_class_names[METRICS_CLASSES] = {
	"other", "1xx", "2xx", "3xx", "4xx", "5xx",
};

const char *
metrics_reject_str(enum metrics_reject r)
{
	return r < METRICS_REJ_COUNT ? metrics_reject_names[r] : "?";
}

const char *
metrics_jwks_str(enum metrics_jwks r)
{
	return r < METRICS_JWKS_COUNT ? metrics_jwks_names[r] : "?";
}

static size_t
metrics_class(int status)
{
	return status >= 100 && status <= 599 ? (size_t)(status / 100) : 0;
}

void
metrics_reject(enum metrics_reject r)
{
	if (shm != NULL && r < METRICS_REJ_COUNT)
		atomic_fetch_add_explicit(&shm->sh_reject[r], 1, RLX);
}

void
metrics_jwks_fetch(enum metrics_jwks r)
{
	if (shm != NULL && r < METRICS_JWKS_COUNT)
		atomic_fetch_add_explicit(&shm->sh_jwks.sj_fetches[r], 1, RLX);
}

void
metrics_reject_status(int status)
{
	switch (status) {
	case 400:
	case 417:
	case 501:
	case 505:
		metrics_reject(METRICS_REJ_BAD_REQUEST);
		break;
	case 413:
	case 414:
	case 431:
		metrics_reject(METRICS_REJ_TOO_LARGE);
		break;
	case 408:
		metrics_reject(METRICS_REJ_CLIENT_TIMEOUT);
		break;
	default:
		break;
	}
}

void
metrics_request(const struct route *rt, int status)
{
	size_t slot = rt != NULL ? (size_t)rt->rt_slot : SHM_MAX_ROUTES;

	if (shm == NULL || status == 0)
		return;
	atomic_fetch_add_explicit(&shm->sh_route[slot].sr_req[
	    metrics_class(status)], 1, RLX);
}

void
metrics_exchange(const struct instance *ins, int status, uint64_t ms)
{
	struct shm_svc *ss;
	size_t b;

	if (shm == NULL)
		return;
	atomic_fetch_add_explicit(&shm->sh_ins[ins->ins_slot].si_req[
	    metrics_class(status)], 1, RLX);
	ss = &shm->sh_svc[ins->ins_svc->svc_slot];
	for (b = 0; b < METRICS_BUCKETS - 1 && ms > metrics_le_ms[b]; b++)
		;
	atomic_fetch_add_explicit(&ss->ss_lat[b], 1, RLX);
	atomic_fetch_add_explicit(&ss->ss_lat_ms, ms, RLX);
}

const char *
metrics_retry_str(enum metrics_retry r)
{
	return r < METRICS_RETRY_COUNT ? metrics_retry_names[r] : "?";
}

void
metrics_retry(const struct service *svc, enum metrics_retry r)
{
	if (shm != NULL && r < METRICS_RETRY_COUNT)
		atomic_fetch_add_explicit(&shm->sh_svc[svc->svc_slot].
		    ss_retries[r], 1, RLX);
}

void
metrics_buffered(enum metrics_buf b)
{
	if (shm != NULL && b < METRICS_BUF_COUNT)
		atomic_fetch_add_explicit(&shm->sh_buffered[b], 1, RLX);
}

void
metrics_client_abort(void)
{
	if (shm != NULL)
		atomic_fetch_add_explicit(&shm->sh_client_aborts, 1, RLX);
}

void
metrics_conns(int delta)
{
	if (gw != NULL && gw->w_proc != NULL)
		atomic_fetch_add_explicit(&gw->w_proc->sp_conns, delta, RLX);
}

/* Copies <src> into <dst> escaped as a label value (\\, \", \n). */
static const char *
metrics_label(char *dst, size_t room, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 3 < room; src++) {
		if (*src == '\\' || *src == '"' || *src == '\n')
			dst[n++] = '\\';
		dst[n++] = *src == '\n' ? 'n' : *src;
	}
	dst[n] = '\0';
	return dst;
}

static void
metrics_help(struct buf *out, const char *name, const char *type,
    const char *help)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static void
metrics_classes(struct buf *out, const char *name, const char *labels,
    _Atomic uint64_t *v)
{
	size_t k;

	for (k = 0; k < METRICS_CLASSES; k++)
		buf_printf(out, "%s{%s,code=\"%s\"} %llu\n", name, labels,
		    metrics_class_names[k],
		    (unsigned long long)atomic_load_explicit(&v[k], RLX));
}

static void
metrics_routes(struct buf *out, const struct gw_conf *gc)
{
	const struct route *rt;
	char labels[512];
	size_t i;

	metrics_help(out, "elp_requests_total", "counter",
	    "Responses sent, by route and status class.");
	for (i = 0; i < gc->gc_nroutes; i++) {
		rt = &gc->gc_routes[i];
		snprintf(labels, sizeof(labels), "listener=\"%s\",route=\"%s\","
		    "service=\"%s\"", rt->rt_listen, rt->rt_prefix,
		    rt->rt_service);
		metrics_classes(out, "elp_requests_total", labels,
		    shm->sh_route[rt->rt_slot].sr_req);
	}
	metrics_classes(out, "elp_requests_total", "listener=\"\",route=\"\","
	    "service=\"\"", shm->sh_route[SHM_MAX_ROUTES].sr_req);
}

static void	metrics_queues(struct buf *, const struct gw_conf *);

static void
metrics_latency(struct buf *out, const struct gw_conf *gc)
{
	const struct service *svc;
	const struct shm_svc *ss;
	uint64_t cum;
	size_t i, b;

	metrics_help(out, "elp_upstream_latency_seconds", "histogram",
	    "Backend exchange time, from start to END_REQUEST.");
	for (i = 0; i < gc->gc_nservices; i++) {
		svc = &gc->gc_services[i];
		ss = &shm->sh_svc[svc->svc_slot];
		for (b = 0, cum = 0; b < METRICS_BUCKETS; b++) {
			cum += atomic_load_explicit(&ss->ss_lat[b], RLX);
			if (b < METRICS_BUCKETS - 1)
				buf_printf(out, "elp_upstream_latency_seconds_"
				    "bucket{service=\"%s\",le=\"%.3f\"} %llu\n",
				    svc->svc_name,
				    (double)metrics_le_ms[b] / 1000.0,
				    (unsigned long long)cum);
		}
		buf_printf(out, "elp_upstream_latency_seconds_bucket{service="
		    "\"%s\",le=\"+Inf\"} %llu\n", svc->svc_name,
		    (unsigned long long)cum);
		buf_printf(out, "elp_upstream_latency_seconds_sum{service="
		    "\"%s\"} %.3f\n", svc->svc_name, (double)atomic_load_explicit(
		    &ss->ss_lat_ms, RLX) / 1000.0);
		buf_printf(out, "elp_upstream_latency_seconds_count{service="
		    "\"%s\"} %llu\n", svc->svc_name, (unsigned long long)cum);
	}
	metrics_queues(out, gc);
}

/* Retries by reason and the wait queues of every service. */
static void
metrics_queues(struct buf *out, const struct gw_conf *gc)
{
	const struct shm_svc *ss;
	int32_t w;
	size_t i, r;

	metrics_help(out, "elp_retries_total", "counter",
	    "Requests sent again, by service and reason.");
	for (i = 0; i < gc->gc_nservices; i++) {
		ss = &shm->sh_svc[gc->gc_services[i].svc_slot];
		for (r = 0; r < METRICS_RETRY_COUNT; r++)
			buf_printf(out, "elp_retries_total{service=\"%s\","
			    "reason=\"%s\"} %llu\n", gc->gc_services[i].svc_name,
			    metrics_retry_names[r], (unsigned long long)
			    atomic_load_explicit(&ss->ss_retries[r], RLX));
	}
	metrics_help(out, "elp_queue_length", "gauge",
	    "Requests waiting for a backend connection, all workers.");
	for (i = 0; i < gc->gc_nservices; i++) {
		w = atomic_load_explicit(&shm->sh_svc[gc->gc_services[i].
		    svc_slot].ss_waiters, RLX);
		buf_printf(out, "elp_queue_length{service=\"%s\"} %d\n",
		    gc->gc_services[i].svc_name, w > 0 ? (int)w : 0);
	}
}

/* One gauge or counter line per instance, read by <get>. */
static void
metrics_per_ins(struct buf *out, const struct gw_conf *gc, const char *name,
    uint64_t (*get)(const struct shm_ins *))
{
	const struct instance *ins;
	char addr[256];
	size_t i;

	for (i = 0; i < gc->gc_ninstances; i++) {
		ins = &gc->gc_instances[i];
		buf_printf(out, "%s{service=\"%s\",instance=\"%s\"} %llu\n",
		    name, ins->ins_svc->svc_name, metrics_label(addr,
		    sizeof(addr), ins->ins_addr.ga_text),
		    (unsigned long long)get(&shm->sh_ins[ins->ins_slot]));
	}
	/* Leased instances in routing now (lease.c). */
	for (ins = lease_list(); ins != NULL; ins = ins->ins_lnext)
		if (!ins->ins_gone)
			buf_printf(out, "%s{service=\"%s\",instance=\"%s\"} "
			    "%llu\n", name, ins->ins_svc->svc_name,
			    metrics_label(addr, sizeof(addr),
			    ins->ins_addr.ga_text), (unsigned long long)get(
			    &shm->sh_ins[ins->ins_slot]));
}

static uint64_t
metrics_get_up(const struct shm_ins *si)
{
	return atomic_load_explicit(&si->si_up, RLX);
}

static uint64_t
metrics_get_conns(const struct shm_ins *si)
{
	int32_t n = atomic_load_explicit(&si->si_conns, RLX);

	return n > 0 ? (uint64_t)n : 0;
}

static uint64_t
metrics_get_brk(const struct shm_ins *si)
{
	return atomic_load_explicit(&si->si_brk_state, RLX);
}

static uint64_t
metrics_get_fail(const struct shm_ins *si)
{
	return atomic_load_explicit(&si->si_failures, RLX);
}

static uint64_t
metrics_get_checks(const struct shm_ins *si)
{
	return atomic_load_explicit(&si->si_checks, RLX);
}

static uint64_t
metrics_get_check_fails(const struct shm_ins *si)
{
	return atomic_load_explicit(&si->si_check_fails, RLX);
}

static void
metrics_instances(struct buf *out, const struct gw_conf *gc)
{
	const struct instance *ins;
	char labels[512], addr[256];
	size_t i;

	metrics_help(out, "elp_instance_up", "gauge",
	    "1 when active checks see the instance up.");
	metrics_per_ins(out, gc, "elp_instance_up", metrics_get_up);
	metrics_help(out, "elp_instance_connections", "gauge",
	    "Open backend connections to the instance, all workers.");
	metrics_per_ins(out, gc, "elp_instance_connections",
	    metrics_get_conns);
	metrics_help(out, "elp_breaker_state", "gauge",
	    "Circuit breaker: 0 closed, 1 open, 2 half-open.");
	metrics_per_ins(out, gc, "elp_breaker_state", metrics_get_brk);
	metrics_help(out, "elp_instance_failures_total", "counter",
	    "Exchanges that counted as failures for the breaker.");
	metrics_per_ins(out, gc, "elp_instance_failures_total",
	    metrics_get_fail);
	metrics_help(out, "elp_health_checks_total", "counter",
	    "Active health checks run.");
	metrics_per_ins(out, gc, "elp_health_checks_total", metrics_get_checks);
	metrics_help(out, "elp_health_check_failures_total", "counter",
	    "Active health checks that failed.");
	metrics_per_ins(out, gc, "elp_health_check_failures_total",
	    metrics_get_check_fails);
	metrics_help(out, "elp_instance_requests_total", "counter",
	    "Backend exchanges by instance and status class.");
	for (i = 0; i < gc->gc_ninstances; i++) {
		ins = &gc->gc_instances[i];
		snprintf(labels, sizeof(labels), "service=\"%s\",instance="
		    "\"%s\"", ins->ins_svc->svc_name, metrics_label(addr,
		    sizeof(addr), ins->ins_addr.ga_text));
		metrics_classes(out, "elp_instance_requests_total", labels,
		    shm->sh_ins[ins->ins_slot].si_req);
	}
	for (ins = lease_list(); ins != NULL; ins = ins->ins_lnext) {
		if (ins->ins_gone)
			continue;
		snprintf(labels, sizeof(labels), "service=\"%s\",instance="
		    "\"%s\"", ins->ins_svc->svc_name, metrics_label(addr,
		    sizeof(addr), ins->ins_addr.ga_text));
		metrics_classes(out, "elp_instance_requests_total", labels,
		    shm->sh_ins[ins->ins_slot].si_req);
	}
}

static void
metrics_global(struct buf *out)
{
	int64_t conns = 0;
	size_t i;

	metrics_help(out, "elp_build_info", "gauge",
	    "The gateway's version, as a label; always 1.");
	buf_printf(out, "elp_build_info{version=\"%s\"} 1\n", version_str());
	metrics_help(out, "elp_active_connections", "gauge",
	    "Open client connections, all workers.");
	for (i = 0; i < SHM_MAX_PROCS; i++)
		if (atomic_load_explicit(&shm->sh_proc[i].sp_pid, RLX) != 0)
			conns += atomic_load_explicit(&shm->sh_proc[i].sp_conns,
			    RLX);
	buf_printf(out, "elp_active_connections %lld\n", (long long)conns);
	metrics_help(out, "elp_rejected_total", "counter",
	    "Requests the gateway refused itself, by reason.");
	for (i = 0; i < METRICS_REJ_COUNT; i++)
		buf_printf(out, "elp_rejected_total{reason=\"%s\"} %llu\n",
		    metrics_reject_str((enum metrics_reject)i),
		    (unsigned long long)atomic_load_explicit(
		    &shm->sh_reject[i], RLX));
	metrics_help(out, "elp_buffered_bodies_total", "counter",
	    "Bodies the gateway held, by direction and where they went.");
	for (i = 0; i < METRICS_BUF_COUNT; i++)
		buf_printf(out, "elp_buffered_bodies_total{direction=\"%s\","
		    "where=\"%s\"} %llu\n", metrics_buf_names[i][0],
		    metrics_buf_names[i][1], (unsigned long long)
		    atomic_load_explicit(&shm->sh_buffered[i], RLX));
	metrics_help(out, "elp_client_aborts_total", "counter",
	    "Clients gone before their response was complete (logged 499 "
	    "when no head had gone out).");
	buf_printf(out, "elp_client_aborts_total %llu\n", (unsigned long long)
	    atomic_load_explicit(&shm->sh_client_aborts, RLX));
}

/* The identity provider's keys, when token checks are on. */
static void
metrics_jwks(struct buf *out, const struct gw_conf *gc)
{
	const struct shm_jwks *sj = &shm->sh_jwks;
	uint64_t ok_at, now = util_now_ms();
	size_t i;

	if (gc->gc_auth.au_svc == NULL)
		return;
	metrics_help(out, "elp_jwks_fetches_total", "counter",
	    "JWKS fetches from the identity service, by outcome.");
	for (i = 0; i < METRICS_JWKS_COUNT; i++)
		buf_printf(out, "elp_jwks_fetches_total{outcome=\"%s\"} %llu\n",
		    metrics_jwks_str((enum metrics_jwks)i), (unsigned long long)
		    atomic_load_explicit(&sj->sj_fetches[i], RLX));
	metrics_help(out, "elp_jwks_keys", "gauge",
	    "Signing keys in the shared JWKS.");
	buf_printf(out, "elp_jwks_keys %u\n", (unsigned int)(
	    atomic_load_explicit(&sj->sj_gen, RLX) != 0 ?
	    atomic_load_explicit(&sj->sj_nkeys, RLX) : 0));
	metrics_help(out, "elp_jwks_age_seconds", "gauge",
	    "Seconds since the last successful JWKS fetch.");
	ok_at = atomic_load_explicit(&sj->sj_ok_at, RLX);
	if (ok_at == 0)
		buf_append_str(out, "elp_jwks_age_seconds +Inf\n");
	else
		buf_printf(out, "elp_jwks_age_seconds %.3f\n", (double)(now >
		    ok_at ? now - ok_at : 0) / 1000.0);
}

void
metrics_render(struct buf *out, const struct gw_conf *gc)
{
	if (shm == NULL)
		return;
	metrics_routes(out, gc);
	agg_metrics(out, gc);
	metrics_latency(out, gc);
	metrics_instances(out, gc);
	metrics_global(out);
	metrics_jwks(out, gc);
	rl_metrics(out, gc);
}
