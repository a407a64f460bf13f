/*
 * svc: the main() every FastCGI service shares (see svc.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "app.h"
#include "confc.h"
#include "db.h"
#include "log.h"
#include "reg.h"
#include "schema.h"
#include "svc.h"
#include "util.h"
#include "version.h"

#define SVC_XSD		"service.xsd"

/* <register>, as the first good load read it (start only). */
static struct reg_cfg	svc_reg;
static int		svc_reg_on;

struct svc_state {
	const struct svc_def	*ss_def;
	const char		*ss_path;
	void			*ss_cfg;	/* pool_run() reads the pool
						 * settings in place */
};

void
svc_read_sections(struct cfg_doc *cd, const struct svc_section *sec,
    size_t n, void *cfg)
{
	xmlNodePtr root = cfg_root(cd), node;
	size_t i;

	for (i = 0; i < n; i++) {
		node = sec[i].ss_name == NULL ? root :
		    cfg_next(root, NULL, sec[i].ss_name);
		if (node == NULL && sec[i].ss_required == 1) {
			cfg_error(cd, root, "<%s> is required",
			    sec[i].ss_name);
			continue;
		}
		if (node == NULL && sec[i].ss_required == -1)
			continue;
		/* An absent optional element: its keys are not attributes
		 * of the root, so reading the root applies the defaults. */
		cfg_read(cd, node != NULL ? node : root, sec[i].ss_keys,
		    *sec[i].ss_nkeys, (char *)cfg + sec[i].ss_off);
	}
}

void
svc_release_sections(const struct svc_section *sec, size_t n, void *cfg)
{
	size_t i;

	for (i = 0; i < n; i++)
		cfg_release_keys(sec[i].ss_keys, *sec[i].ss_nkeys,
		    (char *)cfg + sec[i].ss_off);
}

void
svc_check_common(struct cfg_doc *cd, const char *name, const char *want,
    const char *level)
{
	xmlNodePtr root = cfg_root(cd);

	if (name != NULL && strcmp(name, want) != 0)
		cfg_error(cd, root, "service name is \"%s\", this program "
		    "serves \"%s\"", name, want);
	if (level != NULL && log_level_parse(level) == -1)
		cfg_error(cd, cfg_next(root, NULL, "log"),
		    "unknown log level \"%s\"", level);
}

/*
 * svc_load() of file <path>, with the schema found beside <base> (the
 * file the operator named; <path> may be the copy elp-confd sent).
 */
static int
svc_load_file(const struct svc_def *def, const char *path, const char *base,
    void *cfg)
{
	struct cfg_doc cd;
	struct reg_cfg rcfg;
	char *xsd = NULL;
	int rc = -1, reg;

	memset(cfg, 0, def->sd_size);
	if (access(path, R_OK) == -1) {
		log_error("%s: %s", path, strerror(errno));
		goto done;
	}
	if ((xsd = cfg_schema_path(base, SVC_XSD)) == NULL) {
		log_error("%s: schema %s not found beside it", base, SVC_XSD);
		goto done;
	}
	if (cfg_load(&cd, path, xsd) == -1)
		goto done;
	/* Runs after schema errors too: every error shows in one run. */
	def->sd_read(&cd, cfg);
	if (cfg_next(cfg_root(&cd), NULL, "pool") != NULL)
		pool_cfg_check(&cd, cfg_next(cfg_root(&cd), NULL, "pool"),
		    def->sd_pool(cfg));
	reg = reg_read(&cd, def->sd_pool(cfg), &rcfg);
	cfg_check_refs(&cd);
	if (cd.cd_nerr == 0)
		rc = 0;
	else
		log_error("%s: %d error(s), configuration refused", path,
		    cd.cd_nerr);
	if (rc == 0 && reg == 1 && !svc_reg_on) {
		svc_reg = rcfg;
		svc_reg_on = 1;
	} else
		reg_release(&rcfg);
	cfg_release(&cd);
done:
	if (rc == -1)
		def->sd_release(cfg);
	free(xsd);
	return rc;
}

struct svc_check {
	const struct svc_def	*sc_def;
	const char		*sc_base;
};

/* A copy fetched from elp-confd passes the program's loader (confc). */
static int
svc_check_fetched(const char *file, void *arg)
{
	struct svc_check *sc = arg;
	void *tmp = xmalloc(sc->sc_def->sd_size);
	int rc;

	if ((rc = svc_load_file(sc->sc_def, file, sc->sc_base, tmp)) == 0)
		sc->sc_def->sd_release(tmp);
	free(tmp);
	return rc;
}

int
svc_load(const struct svc_def *def, const char *path, void *cfg)
{
	struct svc_check sc = { def, path };
	char *file;
	int rc;

	/* With <confd>, the file to load is the copy elp-confd sent. */
	if ((file = confc_resolve(path, svc_check_fetched, &sc)) == NULL) {
		memset(cfg, 0, def->sd_size);
		return -1;
	}
	rc = svc_load_file(def, file, path, cfg);
	free(file);
	return rc;
}

static int
svc_worker(int fd, void *arg)
{
	struct svc_state *ss = arg;

	return ss->ss_def->sd_worker(fd, ss->ss_cfg);
}

static int
svc_register(void *arg)
{
	(void)arg;
	return reg_run(&svc_reg);
}

static int
svc_background(void *arg)
{
	struct svc_state *ss = arg;

	return ss->ss_def->sd_background(ss->ss_cfg);
}

/*
 * Reload hook (pool_reload_fn), in the master on SIGHUP: a fresh snapshot
 * replaces the running one in place when it loads cleanly; otherwise the
 * running one stays and -1 is returned.
 */
static int
svc_reload(void *arg)
{
	struct svc_state *ss = arg;
	const struct svc_def *def = ss->ss_def;
	void *fresh = xmalloc(def->sd_size);

	if (svc_load(def, ss->ss_path, fresh) == -1) {
		log_warnx("reload: %s refused; keeping the running "
		    "configuration", ss->ss_path);
		free(fresh);
		return -1;
	}
	pool_cfg_keep_startup(def->sd_pool(ss->ss_cfg), def->sd_pool(fresh));
	def->sd_release(ss->ss_cfg);
	memcpy(ss->ss_cfg, fresh, def->sd_size);
	free(fresh);
	log_set_level(log_level_parse(def->sd_level(ss->ss_cfg)));
	log_info("reload: %s loaded", ss->ss_path);
	return 0;
}

static const struct option svc_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ "test", no_argument, NULL, 't' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/*
 * Prints the usage of <def>: on stdout with the options explained and
 * exits 0 when asked for (--help), else the synopsis on stderr and exits 2.
 */
static void __attribute__((noreturn))
svc_usage(const struct svc_def *def, int help)
{
	FILE *f = help ? stdout : stderr;
	const char *ops = def->sd_operands != NULL ? def->sd_operands :
	    "[command ...]";

	fprintf(f, "usage: %s [-t] [-c file]%s%s | -h | -V\n", def->sd_prog,
	    def->sd_command != NULL ? " " : "",
	    def->sd_command != NULL ? ops : "");
	if (!help)
		exit(2);
	fprintf(f, "\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -t, --test         check the configuration and exit\n"
	    "  -h, --help         print this help and exit\n"
	    "  -V, --version      print the version and exit\n",
	    def->sd_conf);
	exit(fflush(f) == 0 ? 0 : 1);
}

/* Serves until SIGTERM. Returns the exit status. */
static int
svc_serve(struct svc_state *ss)
{
	const struct svc_def *def = ss->ss_def;
	struct pool_fns fns;
	enum schema_state st;
	int rc;

	log_set_level(log_level_parse(def->sd_level(ss->ss_cfg)));
	/* In the master, before any worker exists: a pool would respawn
	 * workers that fail on the missing tables forever. */
	if (def->sd_db != NULL && def->sd_schema != NULL) {
		st = schema_check(def->sd_db(ss->ss_cfg), def->sd_schema);
		if (st == SCHEMA_OLD || st == SCHEMA_FAIL)
			return SCHEMA_EXIT;
	}
	if (def->sd_prepare != NULL && def->sd_prepare(ss->ss_cfg) == -1)
		return 1;
	/* Once per program and not thread-safe: here, before the pool
	 * forks, so every worker inherits it (token keys, service calls). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	memset(&fns, 0, sizeof(fns));
	fns.pf_worker = svc_worker;
	fns.pf_background = def->sd_background != NULL ? svc_background :
	    NULL;
	fns.pf_reload = svc_reload;
	fns.pf_arg = ss;
	fns.pf_register = svc_reg_on ? svc_register : NULL;
	rc = pool_run_fns(def->sd_pool(ss->ss_cfg), &fns);
	curl_global_cleanup();
	return rc;
}

/*
 * Whether command <name> is a word of the synopsis sd_operands (NULL:
 * any), so that an unknown one gets the usage before the configuration
 * is loaded.
 */
static int
svc_command_named(const struct svc_def *def, const char *name)
{
	const char *p = def->sd_operands;
	size_t n = strlen(name);

	if (p == NULL)
		return 1;
	for (; n > 0 && (p = strstr(p, name)) != NULL; p++)
		if ((p == def->sd_operands || strchr("[ |", p[-1]) != NULL) &&
		    strchr("] |", p[n]) != NULL)
			return 1;
	return 0;
}

int
svc_main(const struct svc_def *def, int argc, char *argv[])
{
	struct svc_state ss;
	int ch, test = 0, rc;

	memset(&ss, 0, sizeof(ss));
	ss.ss_def = def;
	ss.ss_path = def->sd_conf;
	ss.ss_cfg = xcalloc(1, def->sd_size);
	log_init(def->sd_prog, LOG_LVL_INFO);
	while ((ch = getopt_long(argc, argv, "+c:htV", svc_opts, NULL)) !=
	    -1) {
		if (ch == 'c')
			ss.ss_path = optarg;
		else if (ch == 't')
			test = 1;
		else if (ch == 'h')
			svc_usage(def, 1);
		else if (ch == 'V')
			exit(version_print(def->sd_prog) == 0 ? 0 : 1);
		else
			svc_usage(def, 0);
	}
	if (optind != argc && (def->sd_command == NULL || test ||
	    !svc_command_named(def, argv[optind])))
		svc_usage(def, 0);
	rc = svc_load(def, ss.ss_path, ss.ss_cfg);
	if (test)
		fprintf(stderr, "%s: configuration file %s test %s\n",
		    def->sd_prog, ss.ss_path, rc == 0 ? "is successful" :
		    "failed");
	else if (rc == -1)
		fatalx("%s: configuration refused", ss.ss_path);
	else if (optind != argc)
		rc = def->sd_command(ss.ss_cfg, argc - optind, argv + optind);
	else
		rc = svc_serve(&ss);
	def->sd_release(ss.ss_cfg);
	free(ss.ss_cfg);
	if (svc_reg_on)
		reg_release(&svc_reg);
	return rc == 0 ? 0 : (rc == -1 ? 1 : rc);
}

void
svc_health(struct app_req *req, struct db *db)
{
	if (db_ping(db) == -1) {
		if (db_error(db) != DB_E_CONN)
			log_error("health check: %s: %s",
			    db_err_str(db_error(db)), db_errmsg(db));
		app_fail(req, 503, "Database unavailable");
		return;
	}
	app_ok(req, 200, json_pack("{s:s, s:s}", "status", "UP", "database",
	    "UP"));
}
