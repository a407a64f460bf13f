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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "app.h"
#include "authz.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "pool.h"
#include "user.h"
#include "util.h"

#define USER_PROG	"elp-user"
#define USER_CONF	"conf/services/user.xml"
#define USER_XSD	"service.xsd"

/* One configuration snapshot. */
struct user_cfg {
	char		*ucf_name;	/* <service name>, must be "user" */
	char		*ucf_level;	/* <log level> */
	struct pool_cfg	 ucf_pool;	/* <pool> */
	struct db_cfg	 ucf_db;	/* <database> */
	uint64_t	 ucf_max_body;	/* <limits max-body>, bytes */
	struct authz_cfg ucf_auth;	/* <auth> */
	struct idp_cfg	 ucf_idp;	/* <idp> */
};

/* Process state: lives for the whole run in the master. */
struct user_main {
	const char	*um_path;	/* config file */
	struct user_cfg	 um_cfg;	/* current snapshot; pool_run()
					 * reads ucf_pool in place */
};

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
static const struct user_section {
	const char		*sec_name;	/* NULL: the root element */
	const struct cfg_key	*sec_keys;
	const size_t		*sec_nkeys;
	size_t			 sec_off;	/* offset of the key struct */
	int			 sec_required;
} user_sections[] = {
	{ NULL, service_keys, &service_nkeys, 0, 1 },
	{ "log", log_keys, &log_nkeys, 0, 0 },
	{ "pool", pool_cfg_keys, &pool_cfg_nkeys,
	    offsetof(struct user_cfg, ucf_pool), 1 },
	{ "database", db_cfg_keys, &db_cfg_nkeys,
	    offsetof(struct user_cfg, ucf_db), 1 },
	{ "limits", limits_keys, &limits_nkeys, 0, 0 },
	{ "auth", authz_cfg_keys, &authz_cfg_nkeys,
	    offsetof(struct user_cfg, ucf_auth), 1 },
	{ "idp", idp_cfg_keys, &idp_cfg_nkeys,
	    offsetof(struct user_cfg, ucf_idp), 1 },
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: %s [-t] [-c file]\n", USER_PROG);
	exit(1);
}

/* Frees what user_cfg_read() stored in <ucf>; <ucf> is zeroed. */
static void
user_cfg_release(struct user_cfg *ucf)
{
	const struct user_section *sec;
	size_t i;

	for (i = 0; i < NITEMS(user_sections); i++) {
		sec = &user_sections[i];
		cfg_release_keys(sec->sec_keys, *sec->sec_nkeys,
		    (char *)ucf + sec->sec_off);
	}
	memset(ucf, 0, sizeof(*ucf));
}

/*
 * Reads every section of the loaded document <cd> into <ucf>; an absent
 * optional section gets its defaults. Errors are counted in <cd>.
 */
static void
user_cfg_read(struct cfg_doc *cd, struct user_cfg *ucf)
{
	const struct user_section *sec;
	xmlNodePtr root = cfg_root(cd), node;
	size_t i;

	for (i = 0; i < NITEMS(user_sections); i++) {
		sec = &user_sections[i];
		node = sec->sec_name == NULL ? root :
		    cfg_next(root, NULL, sec->sec_name);
		if (node == NULL && sec->sec_required) {
			cfg_error(cd, root, "<%s> is required", sec->sec_name);
			continue;
		}
		cfg_read(cd, node, sec->sec_keys, *sec->sec_nkeys,
		    (char *)ucf + sec->sec_off);
	}
	if (ucf->ucf_name != NULL && strcmp(ucf->ucf_name, "user") != 0)
		cfg_error(cd, root, "service name is \"%s\", this program "
		    "serves \"user\"", ucf->ucf_name);
	if (ucf->ucf_level != NULL && log_level_parse(ucf->ucf_level) == -1)
		cfg_error(cd, cfg_next(root, NULL, "log"),
		    "unknown log level \"%s\"", ucf->ucf_level);
}

/*
 * Loads and checks config file <path> into <ucf>, reporting every error as
 * file:line. Returns 0 with <ucf> filled (release with
 * user_cfg_release), or -1 with <ucf> zeroed.
 */
static int
user_cfg_load(const char *path, struct user_cfg *ucf)
{
	struct cfg_doc cd;
	char *xsd = NULL;
	int rc = -1;

	memset(ucf, 0, sizeof(*ucf));
	if (access(path, R_OK) == -1) {
		log_warn("%s", path);
		goto done;
	}
	if ((xsd = cfg_schema_path(path, USER_XSD)) == NULL) {
		log_warnx("%s: schema %s not found beside it", path,
		    USER_XSD);
		goto done;
	}
	if (cfg_load(&cd, path, xsd) == -1)
		goto done;
	user_cfg_read(&cd, ucf);
	if (cd.cd_nerr == 0)
		rc = 0;
	else
		log_warnx("%s: %d error(s)", path, cd.cd_nerr);
	cfg_release(&cd);
done:
	if (rc == -1)
		user_cfg_release(ucf);
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
user_worker(int fd, void *arg)
{
	const struct user_main *um = arg;
	const struct user_cfg *ucf = &um->um_cfg;
	struct user_svc us;
	struct app app;
	int rc;

	memset(&us, 0, sizeof(us));
	us.us_db = db_new(&ucf->ucf_db);
	us.us_az = authz_new(&ucf->ucf_auth);
	us.us_idp = idp_new(&ucf->ucf_idp);
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
	idp_free(us.us_idp);
	us.us_idp = NULL;
	authz_free(us.us_az);
	us.us_az = NULL;
	db_free(us.us_db);
	us.us_db = NULL;
	return rc == 0 ? 0 : 1;
}

/*
 * Reload hook (pool_reload_fn), run in the master on SIGHUP: loads the
 * file again into a fresh snapshot. On any error the running snapshot is
 * kept and -1 returned; otherwise the new one replaces it in place (the
 * pool reads ucf_pool there), workers forked from now on use it, and 0 is
 * returned.
 */
static int
user_reload(void *arg)
{
	struct user_main *um = arg;
	struct user_cfg fresh;

	if (user_cfg_load(um->um_path, &fresh) == -1) {
		log_warnx("reload: %s refused; keeping the running "
		    "configuration", um->um_path);
		return -1;
	}
	pool_cfg_keep_startup(&um->um_cfg.ucf_pool, &fresh.ucf_pool);
	user_cfg_release(&um->um_cfg);
	um->um_cfg = fresh;
	log_set_level(log_level_parse(um->um_cfg.ucf_level));
	log_info("reload: %s loaded", um->um_path);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct user_main um;
	int ch, test = 0, rc;

	memset(&um, 0, sizeof(um));
	um.um_path = USER_CONF;
	log_init(USER_PROG, LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "c:t")) != -1) {
		switch (ch) {
		case 'c':
			um.um_path = optarg;
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
	rc = user_cfg_load(um.um_path, &um.um_cfg);
	if (test) {
		fprintf(stderr, "%s: configuration file %s test %s\n",
		    USER_PROG, um.um_path, rc == 0 ? "is successful" :
		    "failed");
		user_cfg_release(&um.um_cfg);
		return rc == 0 ? 0 : 1;
	}
	if (rc == -1)
		fatalx("%s: configuration refused", um.um_path);
	log_set_level(log_level_parse(um.um_cfg.ucf_level));
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	rc = pool_run(&um.um_cfg.ucf_pool, user_worker, user_reload, &um);
	curl_global_cleanup();
	user_cfg_release(&um.um_cfg);
	return rc;
}
