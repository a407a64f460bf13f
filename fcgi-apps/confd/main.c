/*
 * elp-confd: the configuration and discovery daemon. Its pool's workers
 * serve GET /config and the /registry API; its background process
 * watches conf/, publishes checked versions and expires leases.
 *
 *   elp-confd [-t] [-c conf/services/confd.xml]
 *
 * -t checks the configuration and exits 0 (valid) or 1 (invalid).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "authz.h"
#include "cfg.h"
#include "confd.h"
#include "log.h"
#include "pool.h"
#include "svc.h"
#include "util.h"

#define CONFD_PROG	"elp-confd"
#define CONFD_CONF	"conf/services/confd.xml"

#define OFF(f)		offsetof(struct confd_cfg, f)
#define POFF(f)		offsetof(struct publish_cfg, f)
#define LOFF(f)		offsetof(struct lease_cfg, f)

static const struct cfg_key service_keys[] = {
	{ "name", CFG_T_STR, NULL, 0, 0, OFF(cc_name) },
};

static const struct cfg_key log_keys[] = {
	{ "level", CFG_T_STR, "info", 0, 0, OFF(cc_level) },
};

static const struct cfg_key limits_keys[] = {
	{ "max-body", CFG_T_SIZE, "64k", 1, INT64_C(1) << 24,
	    OFF(cc_max_body) },
};

static const struct cfg_key publish_keys[] = {
	{ "dir", CFG_T_PATH, "..", 0, 0, POFF(pc_dir) },
	{ "gateway", CFG_T_PATH, "../gateway.xml", 0, 0, POFF(pc_gateway) },
	{ "state", CFG_T_PATH, "../../var/confd", 0, 0, POFF(pc_state) },
	{ "bin", CFG_T_PATH, "", 0, 0, POFF(pc_bin) },
	{ "debounce", CFG_T_DURATION, "200ms", 10, 60000, POFF(pc_debounce) },
	{ "check-timeout", CFG_T_DURATION, "10s", 100, 600000,
	    POFF(pc_timeout) },
};

static const struct cfg_key lease_keys[] = {
	{ "file", CFG_T_PATH, "../leases.xml", 0, 0, LOFF(lc_file) },
	{ "static", CFG_T_PATH, "../services.xml", 0, 0, LOFF(lc_static) },
	{ "run-dir", CFG_T_PATH, "../../var/run", 0, 0, LOFF(lc_run_dir) },
	{ "role", CFG_T_STR, "registry", 0, 0, LOFF(lc_role) },
	{ "min-lease", CFG_T_DURATION, "1s", 1000, 86400000,
	    LOFF(lc_min_lease) },
	{ "max-lease", CFG_T_DURATION, "1h", 1000, 86400000,
	    LOFF(lc_max_lease) },
	{ "max-leases", CFG_T_INT, "1000", 1, 100000, LOFF(lc_max_leases) },
	{ "max-maxconn", CFG_T_INT, "1024", 1, 65535, LOFF(lc_max_maxconn) },
	{ "max-weight", CFG_T_INT, "1000", 1, 65535, LOFF(lc_max_weight) },
	{ "sweep", CFG_T_DURATION, "1s", 100, 60000, LOFF(lc_sweep) },
	{ "self-preservation", CFG_T_STR, "0.5", 0, 0, LOFF(lc_sp) },
	{ "self-preservation-min", CFG_T_INT, "3", 1, 100000,
	    LOFF(lc_sp_min) },
	{ "window", CFG_T_DURATION, "2s", 0, 3600000, LOFF(lc_window) },
};

static const size_t service_nkeys = NITEMS(service_keys);
static const size_t log_nkeys = NITEMS(log_keys);
static const size_t limits_nkeys = NITEMS(limits_keys);
static const size_t publish_nkeys = NITEMS(publish_keys);
static const size_t lease_nkeys = NITEMS(lease_keys);

/* The elements of <service> and where their keys go. */
static const struct svc_section confd_sections[] = {
	{ NULL, service_keys, &service_nkeys, 0, 1 },
	{ "log", log_keys, &log_nkeys, 0, 0 },
	{ "pool", pool_cfg_keys, &pool_cfg_nkeys, OFF(cc_pool), 1 },
	{ "limits", limits_keys, &limits_nkeys, 0, 0 },
	{ "auth", authz_cfg_keys, &authz_cfg_nkeys, OFF(cc_auth), 1 },
	{ "publish", publish_keys, &publish_nkeys, OFF(cc_pub), 0 },
	{ "leases", lease_keys, &lease_nkeys, OFF(cc_lease), 0 },
};

/* Checks across settings: the share, the lease bounds. */
static void
confd_cfg_check(struct cfg_doc *cd, struct confd_cfg *cc)
{
	xmlNodePtr root = cfg_root(cd), n = cfg_next(root, NULL, "leases");
	struct lease_cfg *lc = &cc->cc_lease;
	char *end, *real;

	if (n == NULL)
		n = root;
	lc->lc_share = strtod(lc->lc_sp, &end);
	if (*lc->lc_sp == '\0' || *end != '\0' || lc->lc_share < 0 ||
	    lc->lc_share > 1)
		cfg_error(cd, n, "self-preservation \"%s\" is not a share "
		    "between 0 and 1", lc->lc_sp);
	if (lc->lc_min_lease > lc->lc_max_lease)
		cfg_error(cd, n, "min-lease is longer than max-lease");
	if (*lc->lc_run_dir != '/')
		cfg_error(cd, n, "run-dir must resolve to an absolute path");
	else if ((real = realpath(lc->lc_run_dir, NULL)) != NULL) {
		/* Addresses are compared with it as normalised paths. */
		free(lc->lc_run_dir);
		lc->lc_run_dir = real;
	}
}

static void
confd_cfg_read(struct cfg_doc *cd, void *arg)
{
	struct confd_cfg *cc = arg;
	int nerr = cd->cd_nerr;

	svc_read_sections(cd, confd_sections, NITEMS(confd_sections), cc);
	svc_check_common(cd, cc->cc_name, "confd", cc->cc_level);
	if (cd->cd_nerr == nerr)
		confd_cfg_check(cd, cc);
}

static void
confd_cfg_release(void *arg)
{
	struct confd_cfg *cc = arg;

	svc_release_sections(confd_sections, NITEMS(confd_sections), cc);
	memset(cc, 0, sizeof(*cc));
}

static struct pool_cfg *
confd_cfg_pool(void *arg)
{
	return &((struct confd_cfg *)arg)->cc_pool;
}

static const char *
confd_cfg_level(void *arg)
{
	return ((struct confd_cfg *)arg)->cc_level;
}

/*
 * Worker entry point (pool_worker_fn): serves the API on <fd> with the
 * snapshot current when the worker was forked.
 */
static int
confd_worker(int fd, void *arg)
{
	const struct confd_cfg *cc = arg;
	struct confd_svc cs;
	struct app app;
	int rc;

	memset(&cs, 0, sizeof(cs));
	cs.cs_cfg = cc;
	cs.cs_az = authz_new(&cc->cc_auth);
	memset(&app, 0, sizeof(app));
	app.a_routes = api_routes;
	app.a_nroutes = api_nroutes;
	app.a_max_body = cc->cc_max_body;
	app.a_ctx = &cs;
	rc = app_worker_loop(&app, fd);
	authz_free(cs.cs_az);
	cs.cs_az = NULL;
	return rc == 0 ? 0 : 1;
}

/* Background process entry point (through svc). */
static int
confd_background(void *arg)
{
	return watch_run(arg);
}

static const struct svc_def confd_def = {
	.sd_prog = CONFD_PROG,
	.sd_conf = CONFD_CONF,
	.sd_size = sizeof(struct confd_cfg),
	.sd_read = confd_cfg_read,
	.sd_release = confd_cfg_release,
	.sd_pool = confd_cfg_pool,
	.sd_level = confd_cfg_level,
	.sd_worker = confd_worker,
	.sd_background = confd_background,
};

int
main(int argc, char *argv[])
{
	return svc_main(&confd_def, argc, argv);
}
