/*
 * lease: the runtime registry. elp-confd writes leases.xml beside
 * services.xml (temporary file, fsync, rename) with the instances that
 * registered themselves; the gateway merges them with the static ones
 * without a reload and without failing a request.
 *
 * Master: polls the file's identity (inode, size, mtime) every
 * LEASE_POLL_MS from its loop. A changed file is validated against
 * schema/leases.xsd with the same code as the configuration; an invalid
 * one is logged (file:line: reason) and the previous set stays. The merged
 * table (a lease whose service is not in services.xml, or whose address a
 * static instance of the service has, is left out: the static one wins)
 * is published in the shared area with a sequence count; each entry holds
 * its instance record (health, breaker, counters) by key, the same key a
 * static instance would have, so a pool coming back at the same address
 * finds its record again.
 *
 * Workers: copy the table when its generation moved (timeout sweep, about
 * four times a second) and rebuild each service's instance list: static
 * instances first, leased ones after. A leased instance that left keeps
 * its struct in the worker's list (ins_gone: no new request, its
 * exchanges finish, its idle connections close) and comes back to life if
 * the same address registers again. Each worker writes the generation it
 * applied to its process record; the master lets go of a record that left
 * only once every live worker applied a table without it and no
 * connection or exchange uses it (seen twice in a row).
 *
 * A new leased instance is up at once: a pool registers only once it
 * listens, so waiting for rise checks would only delay it by an interval;
 * worker 0 checks it at once all the same, and passive failures (breaker,
 * retries on another instance) cover the rest.
 */
#include <sys/stat.h>

#include <errno.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

#define LEASE_FILE	"leases.xml"
#define LEASE_XSD	"leases.xsd"
#define LEASE_POLL_MS	50	/* a stat() of leases.xml: cheap */
#define LEASE_MAX_INS	64	/* instances per service (up.c) */
#define LEASE_SEQ_TRIES	64

/* A held record the published table no longer needs. */
struct lease_old {
	int		 lo_slot;
	uint64_t	 lo_gen;	/* published without it */
	int		 lo_quiet;	/* polls seen unused */
	struct lease_old *lo_next;
};

/* Master state. */
static struct shm_lrec	 lm_file[SHM_MAX_LEASES]; /* last good file */
static size_t		 lm_nfile;
static uint64_t		 lm_version;
static int		 lm_held[SHM_MAX_LEASES]; /* slots of the table */
static size_t		 lm_nheld;
static struct lease_old	*lm_old;
static struct stat	 lm_st;
static int		 lm_seen;	/* lm_st is valid (file present) */
static int		 lm_bad;	/* that file was refused */
static uint64_t		 lm_next;

/* Worker state. */
static struct instance	*lw_list;
static uint64_t		 lw_gen;
static int		 lw_synced;

char *
lease_path(const struct gw_conf *gc)
{
	char *reg, *copy, *path;

	if (gc->gc_leases != NULL && *gc->gc_leases != '\0')
		return xstrdup(gc->gc_leases);
	reg = conf_registry_path(gc);
	copy = xstrdup(reg);
	path = xasprintf("%s/%s", dirname(copy), LEASE_FILE);
	free(copy);
	free(reg);
	return path;
}

/* Copies <src> into <dst> of <len> bytes; 0, or -1 when it is too long. */
static int
lease_copy(char *dst, size_t len, const char *src)
{
	if (src == NULL || strlen(src) >= len)
		return -1;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* Reads one <instance> of service <svc> into <r>. 0 or -1 (reported). */
static int
lease_read_ins(struct cfg_doc *cd, xmlNodePtr n, const char *svc,
    struct shm_lrec *r)
{
	xmlChar *a, *mc, *w, *id, *ex, *st;
	struct gw_addr ga;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	a = xmlGetProp(n, BAD_CAST "address");
	mc = xmlGetProp(n, BAD_CAST "maxconn");
	w = xmlGetProp(n, BAD_CAST "weight");
	id = xmlGetProp(n, BAD_CAST "lease-id");
	ex = xmlGetProp(n, BAD_CAST "expires");
	st = xmlGetProp(n, BAD_CAST "state");
	memset(&ga, 0, sizeof(ga));
	if (a == NULL || lease_copy(r->sl_address, sizeof(r->sl_address),
	    (char *)a) == -1 || conf_parse_addr((char *)a, &ga) == -1) {
		cfg_error(cd, n, "service %s: bad address \"%s\"", svc,
		    a != NULL ? (char *)a : "");
		goto done;
	}
	(void)lease_copy(r->sl_service, sizeof(r->sl_service), svc);
	(void)lease_copy(r->sl_lease_id, sizeof(r->sl_lease_id),
	    id != NULL ? (char *)id : "");
	(void)lease_copy(r->sl_expires, sizeof(r->sl_expires),
	    ex != NULL ? (char *)ex : "");
	r->sl_maxconn = mc != NULL ? strtoll((char *)mc, NULL, 10) : 8;
	r->sl_weight = w != NULL ? strtoll((char *)w, NULL, 10) : 1;
	if (r->sl_maxconn < 1 || r->sl_maxconn > 10000 || r->sl_weight < 1 ||
	    r->sl_weight > 1000) {
		cfg_error(cd, n, "service %s: maxconn 1..10000 and weight "
		    "1..1000", svc);
		goto done;
	}
	r->sl_drain = st != NULL && strcmp((char *)st, "drain") == 0;
	r->sl_slot = -1;
	rc = 0;
done:
	free(ga.ga_text);
	xmlFree(a);
	xmlFree(mc);
	xmlFree(w);
	xmlFree(id);
	xmlFree(ex);
	xmlFree(st);
	return rc;
}

/*
 * Loads <path> into lm_file, with the schema found for configuration
 * <conf>. 0, or -1 with every error logged.
 */
static int
lease_load(const char *path, const char *conf)
{
	static struct shm_lrec recs[SHM_MAX_LEASES];
	struct cfg_doc cd;
	xmlNodePtr root, s = NULL, n;
	xmlChar *name, *ver;
	size_t nrec = 0;
	uint64_t version;
	char *xsd;
	int rc = -1;

	if ((xsd = cfg_schema_path(conf, LEASE_XSD)) == NULL) {
		log_error("%s: schema %s not found beside %s", path, LEASE_XSD,
		    conf);
		return -1;
	}
	if (cfg_load(&cd, path, xsd) == -1) {
		free(xsd);
		return -1;
	}
	root = cfg_root(&cd);
	ver = xmlGetProp(root, BAD_CAST "version");
	version = ver != NULL ? strtoull((char *)ver, NULL, 10) : 0;
	xmlFree(ver);
	while ((s = cfg_next(root, s, "service")) != NULL) {
		name = xmlGetProp(s, BAD_CAST "name");
		for (n = NULL; (n = cfg_next(s, n, "instance")) != NULL;) {
			if (nrec == SHM_MAX_LEASES) {
				cfg_error(&cd, n, "more than %d leased "
				    "instances", SHM_MAX_LEASES);
				break;
			}
			if (lease_read_ins(&cd, n, name != NULL ?
			    (char *)name : "", &recs[nrec]) == 0)
				nrec++;
		}
		xmlFree(name);
	}
	if (cd.cd_nerr == 0) {
		memcpy(lm_file, recs, nrec * sizeof(recs[0]));
		lm_nfile = nrec;
		lm_version = version;
		rc = 0;
	}
	cfg_release(&cd);
	free(xsd);
	return rc;
}

static struct service *
lease_service(const struct gw_conf *gc, const char *name)
{
	size_t i;

	for (i = 0; i < gc->gc_nservices; i++)
		if (strcmp(gc->gc_services[i].svc_name, name) == 0)
			return &gc->gc_services[i];
	return NULL;
}

/* Whether <svc> has static instance <addr>. */
static int
lease_is_static(const struct service *svc, const char *addr)
{
	size_t i;

	for (i = 0; i < svc->svc_nstatic; i++)
		if (strcmp(svc->svc_ins[i]->ins_addr.ga_text, addr) == 0)
			return 1;
	return 0;
}

/* Publishes <recs> (<n>) under the sequence count. Master only. */
static uint64_t
lease_publish(const struct shm_lrec *recs, size_t n)
{
	struct shm_leases *sl = &shm->sh_leases;
	uint64_t seq = atomic_load(&sl->sl_seq), gen;

	atomic_store(&sl->sl_seq, seq + 1);
	atomic_thread_fence(memory_order_release);
	memcpy(sl->sl_rec, recs, n * sizeof(recs[0]));
	sl->sl_n = (uint32_t)n;
	sl->sl_version = lm_version;
	gen = atomic_fetch_add(&sl->sl_gen, 1) + 1;
	atomic_store_explicit(&sl->sl_seq, seq + 2, memory_order_release);
	return gen;
}

/* Merges lm_file with <gc>'s static registry and publishes it. */
static void
lease_merge(const struct gw_conf *gc)
{
	static struct shm_lrec out[SHM_MAX_LEASES];
	size_t counts[SHM_MAX_SERVICES] = { 0 };
	struct service *svc;
	struct lease_old *lo;
	size_t i, n = 0, si;
	uint64_t gen;
	char *key;
	int slot, held[SHM_MAX_LEASES];

	for (i = 0; i < lm_nfile; i++) {
		if ((svc = lease_service(gc, lm_file[i].sl_service)) == NULL) {
			log_warnx("%s: lease %s: service %s is not in the "
			    "registry, ignored", LEASE_FILE,
			    lm_file[i].sl_lease_id, lm_file[i].sl_service);
			continue;
		}
		if (lease_is_static(svc, lm_file[i].sl_address))
			continue;	/* the static instance wins */
		si = (size_t)(svc - gc->gc_services);
		if (si < SHM_MAX_SERVICES &&
		    svc->svc_nstatic + counts[si] >= LEASE_MAX_INS) {
			log_warnx("%s: service %s: more than %d instances, "
			    "%s ignored", LEASE_FILE, svc->svc_name,
			    LEASE_MAX_INS, lm_file[i].sl_address);
			continue;
		}
		key = xasprintf("%s@%s", svc->svc_name,
		    lm_file[i].sl_address);
		slot = shm_ins_hold(key);
		free(key);
		if (slot == -1) {
			log_warnx("%s: shared state full, %s@%s ignored",
			    LEASE_FILE, svc->svc_name, lm_file[i].sl_address);
			continue;
		}
		if (si < SHM_MAX_SERVICES)
			counts[si]++;
		out[n] = lm_file[i];
		out[n].sl_slot = slot;
		held[n++] = slot;
	}
	gen = lease_publish(out, n);
	/* The previous holds go once every worker moved on. */
	for (i = 0; i < lm_nheld; i++) {
		lo = xcalloc(1, sizeof(*lo));
		lo->lo_slot = lm_held[i];
		lo->lo_gen = gen;
		lo->lo_next = lm_old;
		lm_old = lo;
	}
	memcpy(lm_held, held, n * sizeof(held[0]));
	lm_nheld = n;
	log_info("%s: %zu leased instance(s) in routing (version %llu, "
	    "table %llu)", LEASE_FILE, n, (unsigned long long)lm_version,
	    (unsigned long long)gen);
}

/* Whether every live worker applied table <gen> or a later one. */
static int
lease_all_applied(uint64_t gen)
{
	size_t i;

	for (i = 0; i < SHM_MAX_PROCS; i++)
		if (atomic_load(&shm->sh_proc[i].sp_pid) != 0 &&
		    atomic_load(&shm->sh_proc[i].sp_lease_gen) < gen)
			return 0;
	return 1;
}

/* Drops the old holds nobody can use any more. */
static void
lease_release_old(void)
{
	struct lease_old **pp, *lo;
	struct shm_ins *si;

	for (pp = &lm_old; (lo = *pp) != NULL;) {
		si = &shm->sh_ins[lo->lo_slot];
		if (!lease_all_applied(lo->lo_gen)) {
			pp = &lo->lo_next;
			continue;
		}
		/* The last hold frees the record for another key: only
		 * when no connection or exchange is left on it. */
		if (shm_ins_refs(lo->lo_slot) == 1 &&
		    (atomic_load(&si->si_conns) > 0 ||
		    atomic_load(&si->si_inflight) > 0 || lo->lo_quiet++ < 2)) {
			if (atomic_load(&si->si_conns) > 0 ||
			    atomic_load(&si->si_inflight) > 0)
				lo->lo_quiet = 0;
			pp = &lo->lo_next;
			continue;
		}
		shm_ins_drop(lo->lo_slot);
		*pp = lo->lo_next;
		free(lo);
	}
}

void
lease_master_poll(const struct gw_conf *gc, int force)
{
	struct stat st;
	uint64_t now = util_now_ms();
	char *path;
	int changed = 0, present;

	if (!force && now < lm_next)
		return;
	lm_next = now + LEASE_POLL_MS;
	path = lease_path(gc);
	present = stat(path, &st) == 0;
	if (!present && errno != ENOENT)
		log_warn("%s", path);
	if (!present && lm_seen) {
		log_info("%s: gone, no leased instances", path);
		lm_seen = 0;
		lm_bad = 0;
		lm_nfile = 0;
		changed = 1;
	} else if (present && (!lm_seen || st.st_ino != lm_st.st_ino ||
	    st.st_dev != lm_st.st_dev || st.st_size != lm_st.st_size ||
	    st.st_mtim.tv_sec != lm_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != lm_st.st_mtim.tv_nsec)) {
		lm_st = st;
		lm_seen = 1;
		if (lease_load(path, gc->gc_path) == -1) {
			log_error("%s: refused, keeping the previous %zu "
			    "leased instance(s)", path, lm_nheld);
			lm_bad = 1;
		} else {
			lm_bad = 0;
			changed = 1;
		}
	}
	free(path);
	if (changed || force)
		lease_merge(gc);
	lease_release_old();
}

/* --- workers --- */

struct instance *
lease_list(void)
{
	return lw_list;
}

int
lease_open(const struct instance *ins)
{
	return !ins->ins_gone && !ins->ins_ldrain;
}

/* Copies the published table; its generation in *<gen>. 0 or -1. */
static int
lease_snapshot(struct shm_lrec *out, size_t *n, uint64_t *gen)
{
	struct shm_leases *sl = &shm->sh_leases;
	uint64_t seq;
	uint32_t cnt;
	int tries;

	for (tries = 0; tries < LEASE_SEQ_TRIES; tries++) {
		seq = atomic_load_explicit(&sl->sl_seq, memory_order_acquire);
		if (seq & 1)
			continue;
		*gen = atomic_load(&sl->sl_gen);
		cnt = sl->sl_n;
		if (cnt > SHM_MAX_LEASES)
			cnt = SHM_MAX_LEASES;
		memcpy(out, sl->sl_rec, cnt * sizeof(out[0]));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load(&sl->sl_seq) != seq)
			continue;
		*n = cnt;
		return 0;
	}
	return -1;
}

/* The worker's instance of <svc> at <addr>, made when new. */
static struct instance *
lease_instance(struct service *svc, const struct shm_lrec *r)
{
	struct instance *ins;

	for (ins = lw_list; ins != NULL; ins = ins->ins_lnext)
		if (ins->ins_svc == svc &&
		    strcmp(ins->ins_addr.ga_text, r->sl_address) == 0)
			return ins;
	ins = xcalloc(1, sizeof(*ins));
	if (conf_parse_addr(r->sl_address, &ins->ins_addr) == -1) {
		free(ins);
		return NULL;
	}
	ins->ins_addr.ga_text = xstrdup(r->sl_address);
	ins->ins_name = xasprintf("%s@%s", svc->svc_name, r->sl_address);
	ins->ins_svc = svc;
	ins->ins_id = -1;
	ins->ins_leased = 1;
	ins->ins_gone = 1;
	ins->ins_lnext = lw_list;
	lw_list = ins;
	return ins;
}

/* Rebuilds <svc>'s instance list from the table <recs>. */
static void
lease_apply_svc(struct service *svc, const struct shm_lrec *recs, size_t n)
{
	struct instance *ins, **list;
	size_t i, k;

	list = xcalloc(svc->svc_nstatic + n + 1, sizeof(*list));
	memcpy(list, svc->svc_ins, svc->svc_nstatic * sizeof(*list));
	k = svc->svc_nstatic;
	for (i = 0; i < n && k < LEASE_MAX_INS; i++) {
		if (strcmp(recs[i].sl_service, svc->svc_name) != 0 ||
		    (ins = lease_instance(svc, &recs[i])) == NULL)
			continue;
		if (ins->ins_gone) {
			log_info("instance %s joins (lease %s)", ins->ins_name,
			    recs[i].sl_lease_id);
			ins->ins_slot = recs[i].sl_slot;
			ins->ins_gone = 0;
			ins->ins_cw = 0;
			if (!gw->w_draining)
				hc_lease_add(ins);
		}
		ins->ins_maxconn = recs[i].sl_maxconn;
		ins->ins_weight = recs[i].sl_weight;
		if (ins->ins_ldrain != recs[i].sl_drain)
			log_info("instance %s: %s", ins->ins_name,
			    recs[i].sl_drain ? "draining" : "undrained");
		ins->ins_ldrain = recs[i].sl_drain;
		memcpy(ins->ins_lease_id, recs[i].sl_lease_id,
		    sizeof(ins->ins_lease_id));
		memcpy(ins->ins_expires, recs[i].sl_expires,
		    sizeof(ins->ins_expires));
		ins->ins_sidx = (int)k;
		list[k++] = ins;
	}
	/* Those that left: marked, never picked again. */
	for (i = svc->svc_nstatic; i < svc->svc_nins; i++) {
		ins = svc->svc_ins[i];
		for (n = svc->svc_nstatic; n < k; n++)
			if (list[n] == ins)
				break;
		if (n < k)
			continue;
		log_info("instance %s leaves", ins->ins_name);
		ins->ins_gone = 1;
		hc_lease_del(ins);
	}
	free(svc->svc_ins);
	svc->svc_ins = list;
	svc->svc_nins = k;
	if (svc->svc_rr >= k)
		svc->svc_rr = 0;
}

void
lease_sync(void)
{
	static struct shm_lrec recs[SHM_MAX_LEASES];
	struct gw_conf *gc = gw->w_conf;
	uint64_t gen;
	size_t i, n;

	if (shm == NULL)
		return;
	if (lw_synced && atomic_load(&shm->sh_leases.sl_gen) == lw_gen)
		return;
	if (lease_snapshot(recs, &n, &gen) == -1)
		return;		/* the master is writing: next sweep */
	for (i = 0; i < gc->gc_nservices; i++)
		lease_apply_svc(&gc->gc_services[i], recs, n);
	lw_gen = gen;
	lw_synced = 1;
	if (gw->w_proc != NULL)
		atomic_store(&gw->w_proc->sp_lease_gen, gen);
}
