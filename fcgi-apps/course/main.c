/*
 * elp-course: the course service's pool master and workers.
 *
 *   elp-course [-t] [-c conf/services/course.xml]
 *
 * -t checks the configuration and exits 0 (valid) or 1 (invalid).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "app.h"
#include "authz.h"
#include "cfg.h"
#include "course.h"
#include "db.h"
#include "log.h"
#include "pool.h"
#include "util.h"

#define COURSE_PROG	"elp-course"
#define COURSE_CONF	"conf/services/course.xml"
#define COURSE_XSD	"service.xsd"

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
};

/* Process state: lives for the whole run in the master. */
struct course_main {
	const char		*cm_path;	/* config file */
	struct course_cfg	 cm_cfg;	/* current snapshot; pool_run()
						 * reads cc_pool in place */
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
static const struct course_section {
	const char		*sec_name;	/* NULL: the root element */
	const struct cfg_key	*sec_keys;
	const size_t		*sec_nkeys;
	size_t			 sec_off;	/* offset of the key struct */
	int			 sec_required;	/* 1: required; 0: optional,
						   defaults when absent; -1:
						   optional, left empty */
} course_sections[] = {
	{ NULL, service_keys, &service_nkeys, 0, 1 },
	{ "log", log_keys, &log_nkeys, 0, 0 },
	{ "pool", pool_cfg_keys, &pool_cfg_nkeys,
	    offsetof(struct course_cfg, cc_pool), 1 },
	{ "database", db_cfg_keys, &db_cfg_nkeys,
	    offsetof(struct course_cfg, cc_db), 1 },
	{ "limits", limits_keys, &limits_nkeys, 0, 0 },
	{ "auth", authz_cfg_keys, &authz_cfg_nkeys,
	    offsetof(struct course_cfg, cc_auth), -1 },
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: %s [-t] [-c file]\n", COURSE_PROG);
	exit(1);
}

/* Frees what course_cfg_read() stored in <cc>; <cc> is zeroed. */
static void
course_cfg_release(struct course_cfg *cc)
{
	const struct course_section *sec;
	size_t i;

	for (i = 0; i < NITEMS(course_sections); i++) {
		sec = &course_sections[i];
		cfg_release_keys(sec->sec_keys, *sec->sec_nkeys,
		    (char *)cc + sec->sec_off);
	}
	memset(cc, 0, sizeof(*cc));
}

/*
 * Reads every section of the loaded document <cd> into <cc>; an absent
 * optional section gets its defaults. Errors are counted in <cd>.
 */
static void
course_cfg_read(struct cfg_doc *cd, struct course_cfg *cc)
{
	const struct course_section *sec;
	xmlNodePtr root = cfg_root(cd), node;
	size_t i;

	for (i = 0; i < NITEMS(course_sections); i++) {
		sec = &course_sections[i];
		node = sec->sec_name == NULL ? root :
		    cfg_next(root, NULL, sec->sec_name);
		if (node == NULL && sec->sec_required == 1) {
			cfg_error(cd, root, "<%s> is required", sec->sec_name);
			continue;
		}
		if (node == NULL && sec->sec_required == -1)
			continue;
		cfg_read(cd, node, sec->sec_keys, *sec->sec_nkeys,
		    (char *)cc + sec->sec_off);
	}
	if (cc->cc_name != NULL && strcmp(cc->cc_name, "course") != 0)
		cfg_error(cd, root, "service name is \"%s\", this program "
		    "serves \"course\"", cc->cc_name);
	if (cc->cc_level != NULL && log_level_parse(cc->cc_level) == -1)
		cfg_error(cd, cfg_next(root, NULL, "log"),
		    "unknown log level \"%s\"", cc->cc_level);
}

/*
 * Loads and checks config file <path> into <cc>, reporting every error as
 * file:line. Returns 0 with <cc> filled (release with
 * course_cfg_release), or -1 with <cc> zeroed.
 */
static int
course_cfg_load(const char *path, struct course_cfg *cc)
{
	struct cfg_doc cd;
	char *xsd = NULL;
	int rc = -1;

	memset(cc, 0, sizeof(*cc));
	if (access(path, R_OK) == -1) {
		log_warn("%s", path);
		goto done;
	}
	if ((xsd = cfg_schema_path(path, COURSE_XSD)) == NULL) {
		log_warnx("%s: schema %s not found beside it", path,
		    COURSE_XSD);
		goto done;
	}
	if (cfg_load(&cd, path, xsd) == -1)
		goto done;
	course_cfg_read(&cd, cc);
	if (cd.cd_nerr == 0)
		rc = 0;
	else
		log_warnx("%s: %d error(s)", path, cd.cd_nerr);
	cfg_release(&cd);
done:
	if (rc == -1)
		course_cfg_release(cc);
	free(xsd);
	return rc;
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
	const struct course_main *cm = arg;
	const struct course_cfg *cc = &cm->cm_cfg;
	struct course_svc cs;
	struct app app;
	int rc;

	memset(&cs, 0, sizeof(cs));
	cs.cs_db = db_new(&cc->cc_db);
	cs.cs_max_page = cc->cc_max_page;
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

/*
 * Reload hook (pool_reload_fn), run in the master on SIGHUP: loads the
 * file again into a fresh snapshot. On any error the running snapshot is
 * kept and -1 returned; otherwise the new one replaces it in place (the
 * pool reads cc_pool there), workers forked from now on use it, and 0 is
 * returned.
 */
static int
course_reload(void *arg)
{
	struct course_main *cm = arg;
	struct course_cfg fresh;

	if (course_cfg_load(cm->cm_path, &fresh) == -1) {
		log_warnx("reload: %s refused; keeping the running "
		    "configuration", cm->cm_path);
		return -1;
	}
	pool_cfg_keep_startup(&cm->cm_cfg.cc_pool, &fresh.cc_pool);
	course_cfg_release(&cm->cm_cfg);
	cm->cm_cfg = fresh;
	log_set_level(log_level_parse(cm->cm_cfg.cc_level));
	log_info("reload: %s loaded", cm->cm_path);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct course_main cm;
	int ch, test = 0, rc;

	memset(&cm, 0, sizeof(cm));
	cm.cm_path = COURSE_CONF;
	log_init(COURSE_PROG, LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "c:t")) != -1) {
		switch (ch) {
		case 'c':
			cm.cm_path = optarg;
			break;
		case 't':
			test = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	rc = course_cfg_load(cm.cm_path, &cm.cm_cfg);
	if (test) {
		fprintf(stderr, "%s: configuration file %s test %s\n",
		    COURSE_PROG, cm.cm_path, rc == 0 ? "is successful" :
		    "failed");
		course_cfg_release(&cm.cm_cfg);
		return rc == 0 ? 0 : 1;
	}
	if (rc == -1)
		fatalx("%s: configuration refused", cm.cm_path);
	log_set_level(log_level_parse(cm.cm_cfg.cc_level));
	/* Once per program and not thread-safe: here, before the pool
	 * forks, so every worker inherits it (authz fetches the JWKS). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	rc = pool_run(&cm.cm_cfg.cc_pool, course_worker, course_reload, &cm);
	course_cfg_release(&cm.cm_cfg);
	curl_global_cleanup();
	return rc;
}
