/*
 * elp-user: the user service's pool master and workers.
 *
 *   elp-user [-t] [-c conf/services/user.xml]
 *
 * -t checks the configuration and exits 0 (valid) or 1 (invalid).
 * libcurl (token checks, the identity provider's admin API) is set up
 * once here, before the pool forks its workers.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "app.h"
#include "authz.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "evq.h"
#include "notify.h"
#include "pool.h"
#include "svc.h"
#include "user.h"
#include "util.h"

#define USER_PROG	"elp-user"
#define USER_CONF	"conf/services/user.xml"

/* One configuration snapshot. */
struct user_cfg {
	char		*ucf_name;	/* <service name>, must be "user" */
	char		*ucf_level;	/* <log level> */
	struct pool_cfg	 ucf_pool;	/* <pool> */
	struct db_cfg	 ucf_db;	/* <database> */
	uint64_t	 ucf_max_body;	/* <limits max-body>, bytes */
	struct authz_cfg ucf_auth;	/* <auth> */
	struct idpc_cfg	 ucf_idp;	/* <idp> */
	struct notify_cfg ucf_msg;	/* <messaging>; nc_url NULL when
					   absent */
};

/* Process state: lives for the whole run in the master. */
static const struct cfg_key service_keys[] = {
	{ "name", CFG_T_STR, NULL, 0, 0, offsetof(struct user_cfg, ucf_name) },
};

static const struct cfg_key log_keys[] = {
	{ "level", CFG_T_STR, "info", 0, 0,
	    offsetof(struct user_cfg, ucf_level) },
};

static const struct cfg_key limits_keys[] = {
	{ "max-body", CFG_T_SIZE, "64k", 1, INT64_C(1) << 30,
	    offsetof(struct user_cfg, ucf_max_body) },
};

static const size_t service_nkeys = NITEMS(service_keys);
static const size_t log_nkeys = NITEMS(log_keys);
static const size_t limits_nkeys = NITEMS(limits_keys);

/* The elements of <service> and where their keys go. */
static const struct svc_section user_sections[] = {
	{ NULL, service_keys, &service_nkeys, 0, 1 },
	{ "log", log_keys, &log_nkeys, 0, 0 },
	{ "pool", pool_cfg_keys, &pool_cfg_nkeys,
	    offsetof(struct user_cfg, ucf_pool), 1 },
	{ "database", db_cfg_keys, &db_cfg_nkeys,
	    offsetof(struct user_cfg, ucf_db), 1 },
	{ "limits", limits_keys, &limits_nkeys, 0, 0 },
	{ "auth", authz_cfg_keys, &authz_cfg_nkeys,
	    offsetof(struct user_cfg, ucf_auth), 1 },
	{ "idp", idpc_cfg_keys, &idpc_cfg_nkeys,
	    offsetof(struct user_cfg, ucf_idp), 1 },
	{ "messaging", notify_cfg_keys, &notify_cfg_nkeys,
	    offsetof(struct user_cfg, ucf_msg), -1 },
};

static void
user_cfg_read(struct cfg_doc *cd, void *arg)
{
	struct user_cfg *ucf = arg;

	svc_read_sections(cd, user_sections, NITEMS(user_sections), ucf);
	svc_check_common(cd, ucf->ucf_name, "user", ucf->ucf_level);
}

static void
user_cfg_release(void *arg)
{
	svc_release_sections(user_sections, NITEMS(user_sections), arg);
	memset(arg, 0, sizeof(struct user_cfg));
}

static struct pool_cfg *
user_cfg_pool(void *arg)
{
	return &((struct user_cfg *)arg)->ucf_pool;
}

static const char *
user_cfg_level(void *arg)
{
	return ((struct user_cfg *)arg)->ucf_level;
}

/* The <database> settings (sd_db), for the schema check at start. */
static struct db_cfg *
user_cfg_db(void *arg)
{
	return &((struct user_cfg *)arg)->ucf_db;
}

/*
 * Worker entry point (pool_worker_fn): serves requests on <fd> with the
 * snapshot current when the worker was forked. An unreachable database is
 * not fatal: the db module reconnects on demand and handlers answer 503
 * meanwhile.
 */
static int
user_worker(int fd, void *arg)
{
	const struct user_cfg *ucf = arg;
	struct user_svc us;
	struct app app;
	int rc;

	memset(&us, 0, sizeof(us));
	us.us_db = db_new(&ucf->ucf_db);
	us.us_az = authz_new(&ucf->ucf_auth);
	us.us_idp = idpc_new(&ucf->ucf_idp, "elp-user");
	us.us_events = ucf->ucf_msg.nc_url != NULL;
	/* Failure is logged by db_connect(); each call retries. */
	if (db_connect(us.us_db) == -1)
		log_info("serving anyway: database requests answer 503 until "
		    "%s is reachable", ucf->ucf_db.dc_name);
	memset(&app, 0, sizeof(app));
	app.a_routes = user_routes;
	app.a_nroutes = user_nroutes;
	app.a_max_body = ucf->ucf_max_body;
	app.a_ctx = &us;
	rc = app_worker_loop(&app, fd);
	idpc_free(us.us_idp);
	us.us_idp = NULL;
	authz_free(us.us_az);
	us.us_az = NULL;
	db_free(us.us_db);
	us.us_db = NULL;
	return rc == 0 ? 0 : 1;
}

/* The background process: posts the queued registration events. */
static int
user_background(void *arg)
{
	const struct user_cfg *ucf = arg;

	return evq_run(&ucf->ucf_db, &ucf->ucf_msg);
}

/* Says once, at start, when registration events go nowhere. */
static int
user_prepare(void *arg)
{
	const struct user_cfg *ucf = arg;

	if (ucf->ucf_msg.nc_url == NULL)
		log_info("no <messaging> configured: registration events are "
		    "not posted");
	return 0;
}

static const struct svc_def user_def = {
	.sd_prog = USER_PROG,
	.sd_conf = USER_CONF,
	.sd_size = sizeof(struct user_cfg),
	.sd_read = user_cfg_read,
	.sd_release = user_cfg_release,
	.sd_pool = user_cfg_pool,
	.sd_level = user_cfg_level,
	.sd_db = user_cfg_db,
	.sd_schema = &schema_app,
	.sd_worker = user_worker,
	.sd_prepare = user_prepare,
	.sd_background = user_background,
};

int
main(int argc, char *argv[])
{
	return svc_main(&user_def, argc, argv);
}
