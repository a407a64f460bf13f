/*
 * elp-course: the course service's pool master and workers.
 *
 *   elp-course [-t] [-c conf/services/course.xml]
 *
 * -t checks the configuration and exits 0 (valid) or 1 (invalid).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "app.h"
#include "authz.h"
#include "cfg.h"
#include "course.h"
#include "db.h"
#include "log.h"
#include "evq.h"
#include "notify.h"
#include "pool.h"
#include "svc.h"
#include "util.h"

#define COURSE_PROG	"elp-course"
#define COURSE_CONF	"conf/services/course.xml"

/* One configuration snapshot. */
struct course_cfg {
	char		*cc_name;	/* <service name>, must be "course" */
	char		*cc_level;	/* <log level> */
	struct pool_cfg	 cc_pool;	/* <pool> */
	struct db_cfg	 cc_db;		/* <database> */
	uint64_t	 cc_max_body;	/* <limits max-body>, bytes */
	int64_t		 cc_max_page;	/* <limits max-page-size> */
	struct authz_cfg cc_auth;	/* <auth>; azc_jwks_url NULL when
					   absent */
	struct notify_cfg cc_msg;	/* <messaging>; nc_url NULL when
					   absent */
};

static const struct cfg_key service_keys[] = {
	{ "name", CFG_T_STR, NULL, 0, 0, offsetof(struct course_cfg, cc_name) },
};

static const struct cfg_key log_keys[] = {
	{ "level", CFG_T_STR, "info", 0, 0,
	    offsetof(struct course_cfg, cc_level) },
};

static const struct cfg_key limits_keys[] = {
	{ "max-body", CFG_T_SIZE, "1m", 1, INT64_C(1) << 30,
	    offsetof(struct course_cfg, cc_max_body) },
	{ "max-page-size", CFG_T_INT, "1000", 1, 1000000,
	    offsetof(struct course_cfg, cc_max_page) },
};

static const size_t service_nkeys = NITEMS(service_keys);
static const size_t log_nkeys = NITEMS(log_keys);
static const size_t limits_nkeys = NITEMS(limits_keys);

/* The elements of <service> and where their keys go. */
static const struct svc_section course_sections[] = {
	{ NULL, service_keys, &service_nkeys, 0, 1 },
	{ "log", log_keys, &log_nkeys, 0, 0 },
	{ "pool", pool_cfg_keys, &pool_cfg_nkeys,
	    offsetof(struct course_cfg, cc_pool), 1 },
	{ "database", db_cfg_keys, &db_cfg_nkeys,
	    offsetof(struct course_cfg, cc_db), 1 },
	{ "limits", limits_keys, &limits_nkeys, 0, 0 },
	{ "auth", authz_cfg_keys, &authz_cfg_nkeys,
	    offsetof(struct course_cfg, cc_auth), -1 },
	{ "messaging", notify_cfg_keys, &notify_cfg_nkeys,
	    offsetof(struct course_cfg, cc_msg), -1 },
};

static void
course_cfg_read(struct cfg_doc *cd, void *arg)
{
	struct course_cfg *cc = arg;

	svc_read_sections(cd, course_sections, NITEMS(course_sections), cc);
	svc_check_common(cd, cc->cc_name, "course", cc->cc_level);
}

static void
course_cfg_release(void *arg)
{
	svc_release_sections(course_sections, NITEMS(course_sections), arg);
	memset(arg, 0, sizeof(struct course_cfg));
}

static struct pool_cfg *
course_cfg_pool(void *arg)
{
	return &((struct course_cfg *)arg)->cc_pool;
}

static const char *
course_cfg_level(void *arg)
{
	return ((struct course_cfg *)arg)->cc_level;
}

/* The <database> settings (sd_db), for the schema check at start. */
static struct db_cfg *
course_cfg_db(void *arg)
{
	return &((struct course_cfg *)arg)->cc_db;
}

/*
 * Worker entry point (pool_worker_fn): serves requests on <fd> with the
 * snapshot current when the worker was forked. An unreachable database is
 * not fatal: the db module reconnects on demand and handlers answer 503
 * meanwhile.
 */
static int
course_worker(int fd, void *arg)
{
	const struct course_cfg *cc = arg;
	struct course_svc cs;
	struct app app;
	int rc;

	memset(&cs, 0, sizeof(cs));
	cs.cs_db = db_new(&cc->cc_db);
	cs.cs_max_page = cc->cc_max_page;
	cs.cs_events = cc->cc_msg.nc_url != NULL;
	if (cc->cc_auth.azc_jwks_url != NULL)
		cs.cs_az = authz_new(&cc->cc_auth);
	else
		log_warnx("no <auth> configured: endpoints that need a token "
		    "answer 503");
	/* Failure is logged by db_connect(); each call retries. */
	if (db_connect(cs.cs_db) == -1)
		log_info("serving anyway: database requests answer 503 until "
		    "%s is reachable", cc->cc_db.dc_name);
	memset(&app, 0, sizeof(app));
	app.a_routes = course_routes;
	app.a_nroutes = course_nroutes;
	app.a_max_body = cc->cc_max_body;
	app.a_ctx = &cs;
	rc = app_worker_loop(&app, fd);
	authz_free(cs.cs_az);
	cs.cs_az = NULL;
	db_free(cs.cs_db);
	cs.cs_db = NULL;
	return rc == 0 ? 0 : 1;
}

/* The background process: posts the queued payment events. */
static int
course_background(void *arg)
{
	const struct course_cfg *cc = arg;

	return evq_run(&cc->cc_db, &cc->cc_msg);
}

/* Says once, at start, when payment events go nowhere. */
static int
course_prepare(void *arg)
{
	const struct course_cfg *cc = arg;

	if (cc->cc_msg.nc_url == NULL)
		log_info("no <messaging> configured: payment events are not "
		    "posted");
	return 0;
}

static const struct svc_def course_def = {
	.sd_prog = COURSE_PROG,
	.sd_conf = COURSE_CONF,
	.sd_size = sizeof(struct course_cfg),
	.sd_read = course_cfg_read,
	.sd_release = course_cfg_release,
	.sd_pool = course_cfg_pool,
	.sd_level = course_cfg_level,
	.sd_db = course_cfg_db,
	.sd_schema = &schema_app,
	.sd_worker = course_worker,
	.sd_prepare = course_prepare,
	.sd_background = course_background,
};

int
main(int argc, char *argv[])
{
	return svc_main(&course_def, argc, argv);
}
