/*
 * elp-messaging: the messaging service's pool master, its workers (the
 * public and internal API) and its background process (the outbox
 * delivery loop).
 *
 *   elp-messaging [-t] [-c conf/services/messaging.xml]
 *
 * -t checks the configuration, templates included, and exits 0 (valid)
 * or 1 (invalid).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "authz.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "messaging.h"
#include "pool.h"
#include "svc.h"
#include "tmpl.h"
#include "util.h"

#define MSG_PROG	"elp-messaging"
#define MSG_CONF	"conf/services/messaging.xml"

#define OFF(f)		offsetof(struct msg_cfg, f)

static const struct cfg_key service_keys[] = {
	{ "name", CFG_T_STR, NULL, 0, 0, OFF(mc_name) },
};

static const struct cfg_key log_keys[] = {
	{ "level", CFG_T_STR, "info", 0, 0, OFF(mc_level) },
};

static const struct cfg_key limits_keys[] = {
	{ "max-body", CFG_T_SIZE, "64k", 1, INT64_C(1) << 30,
	    OFF(mc_max_body) },
	{ "max-page-size", CFG_T_INT, "1000", 1, 1000000, OFF(mc_max_page) },
};

static const struct cfg_key events_keys[] = {
	{ "role", CFG_T_STR, "messaging-service", 0, 0,
	    offsetof(struct events_cfg, ec_role) },
	{ "admin-role", CFG_T_STR, "ADMIN", 0, 0,
	    offsetof(struct events_cfg, ec_admin_role) },
	{ "max-recipients", CFG_T_INT, "1000", 1, 100000,
	    offsetof(struct events_cfg, ec_max_rcpt) },
};

static const struct cfg_key templates_keys[] = {
	{ "dir", CFG_T_PATH, "../templates/messaging", 0, 0,
	    OFF(mc_tmpl_dir) },
};

static const size_t service_nkeys = NITEMS(service_keys);
static const size_t log_nkeys = NITEMS(log_keys);
static const size_t limits_nkeys = NITEMS(limits_keys);
static const size_t events_nkeys = NITEMS(events_keys);
static const size_t templates_nkeys = NITEMS(templates_keys);

/* The elements of <service> and where their keys go. */
static const struct svc_section msg_sections[] = {
	{ NULL, service_keys, &service_nkeys, 0, 1 },
	{ "log", log_keys, &log_nkeys, 0, 0 },
	{ "pool", pool_cfg_keys, &pool_cfg_nkeys, OFF(mc_pool), 1 },
	{ "database", db_cfg_keys, &db_cfg_nkeys, OFF(mc_db), 1 },
	{ "limits", limits_keys, &limits_nkeys, 0, 0 },
	{ "auth", authz_cfg_keys, &authz_cfg_nkeys, OFF(mc_auth), 1 },
	{ "idp", idpc_cfg_keys, &idpc_cfg_nkeys, OFF(mc_rcpt), 1 },
	{ "events", events_keys, &events_nkeys, OFF(mc_events), 0 },
	{ "smtp", smtp_cfg_keys, &smtp_cfg_nkeys, OFF(mc_smtp), 1 },
	{ "outbox", outbox_cfg_keys, &outbox_cfg_nkeys, OFF(mc_outbox), 0 },
	{ "templates", templates_keys, &templates_nkeys, 0, 0 },
};

/*
 * Loads the template of every event type from the templates directory
 * (already resolved against the configuration file's directory, so the
 * tree under conf/ moves as one); each problem is reported as
 * template-file:line and counted in <cd>.
 */
static void
msg_templates_load(struct cfg_doc *cd, struct msg_cfg *mc)
{
	struct tmpl_err err;
	const char *const *names;
	size_t n;
	char *path;
	int t;

	for (t = 0; t < EV_COUNT; t++) {
		path = xasprintf("%s/%s.txt", mc->mc_tmpl_dir,
		    event_type_str(t));
		names = event_names(t, &n);
		memset(&err, 0, sizeof(err));
		if (tmpl_load(&mc->mc_tmpl[t], path, names, n, &err) == -1) {
			if (err.te_line > 0)
				log_warnx("%s:%d: %s", path, err.te_line,
				    err.te_msg);
			else
				log_warnx("%s: %s", path, err.te_msg);
			cd->cd_nerr++;
		}
		free(path);
	}
}

/* Checks across the <outbox> and <smtp> settings. */
static void
msg_cfg_check(struct cfg_doc *cd, struct msg_cfg *mc)
{
	xmlNodePtr root = cfg_root(cd), ob = cfg_next(root, NULL, "outbox");
	const struct outbox_cfg *oc = &mc->mc_outbox;

	smtp_cfg_check(cd, cfg_next(root, NULL, "smtp"), &mc->mc_smtp);
	/* A lease must outlive the longest SMTP transaction, or a second
	 * claimer could send a message still being sent. */
	if (oc->oc_lease <= mc->mc_smtp.sc_timeout)
		cfg_error(cd, ob != NULL ? ob : root, "outbox lease (%llu ms) "
		    "must be longer than the smtp timeout (%llu ms)",
		    (unsigned long long)oc->oc_lease,
		    (unsigned long long)mc->mc_smtp.sc_timeout);
	if (oc->oc_backoff_max < oc->oc_backoff_base)
		cfg_error(cd, ob != NULL ? ob : root, "outbox backoff-max is "
		    "shorter than backoff-base");
}

static void
msg_cfg_read(struct cfg_doc *cd, void *arg)
{
	struct msg_cfg *mc = arg;
	int nerr = cd->cd_nerr;

	svc_read_sections(cd, msg_sections, NITEMS(msg_sections), mc);
	svc_check_common(cd, mc->mc_name, "messaging", mc->mc_level);
	/* Cross checks and templates need every value read. */
	if (cd->cd_nerr != nerr)
		return;
	msg_cfg_check(cd, mc);
	msg_templates_load(cd, mc);
}

static void
msg_cfg_release(void *arg)
{
	struct msg_cfg *mc = arg;
	int t;

	for (t = 0; t < EV_COUNT; t++)
		tmpl_release(&mc->mc_tmpl[t]);
	svc_release_sections(msg_sections, NITEMS(msg_sections), mc);
	memset(mc, 0, sizeof(*mc));
}

static struct pool_cfg *
msg_cfg_pool(void *arg)
{
	return &((struct msg_cfg *)arg)->mc_pool;
}

static const char *
msg_cfg_level(void *arg)
{
	return ((struct msg_cfg *)arg)->mc_level;
}

/* The <database> settings (sd_db), for the schema check at start. */
static struct db_cfg *
msg_cfg_db(void *arg)
{
	return &((struct msg_cfg *)arg)->mc_db;
}

/*
 * Worker entry point (pool_worker_fn): serves the APIs on <fd> with the
 * snapshot current when the worker was forked. An unreachable database is
 * not fatal: handlers answer 503 until it is back.
 */
static int
msg_worker(int fd, void *arg)
{
	const struct msg_cfg *mc = arg;
	struct msg_svc ms;
	struct app app;
	int rc;

	memset(&ms, 0, sizeof(ms));
	ms.ms_cfg = mc;
	ms.ms_db = db_new(&mc->mc_db);
	ms.ms_az = authz_new(&mc->mc_auth);
	rcpt_open(&ms, &mc->mc_rcpt);
	if (db_connect(ms.ms_db) == -1)
		log_info("serving anyway: database requests answer 503 until "
		    "%s is reachable", mc->mc_db.dc_name);
	memset(&app, 0, sizeof(app));
	app.a_routes = msg_routes;
	app.a_nroutes = msg_nroutes;
	app.a_max_body = mc->mc_max_body;
	app.a_ctx = &ms;
	rc = app_worker_loop(&app, fd);
	rcpt_close(&ms);
	authz_free(ms.ms_az);
	ms.ms_az = NULL;
	db_free(ms.ms_db);
	ms.ms_db = NULL;
	return rc == 0 ? 0 : 1;
}

/* Background process entry point (through svc). */
static int
msg_background(void *arg)
{
	return outbox_run(arg);
}

static const struct svc_def msg_def = {
	.sd_prog = MSG_PROG,
	.sd_conf = MSG_CONF,
	.sd_size = sizeof(struct msg_cfg),
	.sd_read = msg_cfg_read,
	.sd_release = msg_cfg_release,
	.sd_pool = msg_cfg_pool,
	.sd_level = msg_cfg_level,
	.sd_db = msg_cfg_db,
	.sd_schema = &schema_app,
	.sd_worker = msg_worker,
	.sd_background = msg_background,
};

int
main(int argc, char *argv[])
{
	return svc_main(&msg_def, argc, argv);
}
