/*
 * elp-auth: the identity provider's pool master, workers and commands.
 *
 *   elp-auth [-t] [-c conf/services/auth.xml]      serve (FastCGI pool)
 *   elp-auth -c FILE rotate-keys                   new signing key
 *   elp-auth -c FILE create-user --email E [--first F] [--last L] [--id UUID]
 *       [--role ROLE]...                           password from stdin
 *
 *   elp-auth -c FILE users list|search|show|disable|enable|roles|
 *       reset-password|logout|delete ...       account administration
 *   elp-auth -c FILE audit [--actor A] [--target T]  the audit trail
 *                                              (cli.c)
 *
 * -t checks the configuration and exits 0 (valid) or 1 (invalid).
 * create-user exits 0 created, 1 usage or configuration, 2 invalid input
 * (email, role, password rule), 3 the account exists, 4 database error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "log.h"
#include "pool.h"
#include "svc.h"
#include "util.h"

#define AUTH_PROG	"elp-auth"
#define AUTH_CONF	"conf/services/auth.xml"
#define AUTH_OPERANDS	"[rotate-keys | create-user --email E [--first F] " \
			"[--last L] [--id UUID] [--role R]... | users ... | " \
			"audit ...]"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: %s [-t] [-c file] " AUTH_OPERANDS "\n",
	    AUTH_PROG);
	exit(1);
}

/* Seconds a retired key stays published: an access or ID token's life
 * plus the verifiers' clock leeway. */
static int64_t
auth_key_keep(const struct auth_cfg *cfg)
{
	return (int64_t)(cfg->ac_access_ms / 1000) + 60;
}

/*
 * Worker entry point: its own database connection and copy of the keys.
 * An unreachable database is not fatal (handlers answer 503 meanwhile).
 */
static int
auth_worker(int fd, void *arg)
{
	const struct auth_cfg *cfg = arg;
	struct auth_svc as;
	struct app app;
	int rc;

	memset(&as, 0, sizeof(as));
	as.as_cfg = cfg;
	if (keys_load(&as.as_keys, cfg->ac_keys_dir, auth_key_keep(cfg)) == -1)
		return 1;
	as.as_db = db_new(&cfg->ac_db);
	if (db_connect(as.as_db) == -1 || st_bootstrap(as.as_db, cfg) == -1)
		log_info("serving anyway: database requests answer 503 until "
		    "%s is reachable", cfg->ac_db.dc_name);
	memset(&app, 0, sizeof(app));
	app.a_routes = oidc_routes;
	app.a_nroutes = oidc_nroutes;
	app.a_max_body = cfg->ac_max_body;
	app.a_ctx = &as;
	rc = app_worker_loop(&app, fd);
	db_free(as.as_db);
	as.as_db = NULL;
	keys_release(&as.as_keys);
	return rc == 0 ? 0 : 1;
}

/* Reads the password: one line from stdin, without echo on a terminal. */
static char *
auth_read_password(void)
{
	struct termios t, old;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int tty = isatty(STDIN_FILENO);

	if (tty) {
		fprintf(stderr, "Password: ");
		tcgetattr(STDIN_FILENO, &old);
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
	}
	n = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (n <= 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

/* Parses the options of create-user into <in>. 0 or -1. */
static int
auth_user_args(int argc, char *argv[], json_t *in)
{
	static const struct option opts[] = {
		{ "email", required_argument, NULL, 'e' },
		{ "first", required_argument, NULL, 'f' },
		{ "last", required_argument, NULL, 'l' },
		{ "role", required_argument, NULL, 'r' },
		{ "id", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *roles = json_array();
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'e' || ch == 'f' || ch == 'l' || ch == 'i')
			json_object_set_new(in, ch == 'e' ? "email" : ch ==
			    'f' ? "firstName" : ch == 'l' ? "lastName" : "id",
			    json_string(optarg));
		else if (ch == 'r')
			json_array_append_new(roles, json_string(optarg));
		else {
			json_decref(roles);
			return -1;
		}
	}
	json_object_set_new(in, "realmRoles", roles);
	return optind == argc && json_object_get(in, "email") != NULL ? 0 : -1;
}

/* Whether the account of create-user input <in> exists already: its
 * e-mail as a login, or its --id. Errors say no (adm_create_user then
 * decides). */
static int
auth_user_exists(struct db *db, json_t *in)
{
	struct auth_user u;
	const char *s;
	int rc = 0;

	if ((s = json_string_value(json_object_get(in, "email"))) != NULL &&
	    st_user_by_login(db, s, &u) == 1) {
		st_user_release(&u);
		rc = 1;
	} else if ((s = json_string_value(json_object_get(in, "id"))) !=
	    NULL && st_user_by_id(db, s, &u) == 1) {
		st_user_release(&u);
		rc = 1;
	}
	return rc;
}

/* The create-user command. Returns the exit status. */
static int
auth_create_user(struct auth_cfg *cfg, int argc, char *argv[])
{
	json_t *in = json_object();
	struct db *db = NULL;
	struct adm_actor act;
	char id[37], why[256], *pw = NULL;
	int rc = 1;

	if (auth_user_args(argc, argv, in) == -1) {
		json_decref(in);
		usage();
	}
	if ((pw = auth_read_password()) == NULL) {
		fprintf(stderr, "%s: no password on standard input\n",
		    AUTH_PROG);
		goto done;
	}
	json_object_set_new(in, "password", json_string(pw));
	db = db_new(&cfg->ac_db);
	if (db_connect(db) == -1 || st_bootstrap(db, cfg) == -1) {
		fprintf(stderr, "%s: database %s unreachable\n", AUTH_PROG,
		    cfg->ac_db.dc_name);
		rc = 4;
		goto done;
	}
	/* An existing account is answered before the password is hashed
	 * (a quarter of a second per start of a stack with demo accounts). */
	if (auth_user_exists(db, in)) {
		fprintf(stderr, "%s: create-user: User exists with same "
		    "username or email\n", AUTH_PROG);
		rc = 3;
		goto done;
	}
	rc = adm_create_user(db, cfg, in, NULL, id, why, sizeof(why));
	if (rc == 201) {
		adt_actor_cli(&act);
		adm_created(db, &act, id, in);
		printf("%s\n", id);
	}
	else
		fprintf(stderr, "%s: create-user: %s\n", AUTH_PROG, why);
	rc = rc == 201 ? 0 : rc == 400 ? 2 : rc == 409 ? 3 : 4;
done:
	if (pw != NULL)
		explicit_bzero(pw, strlen(pw));
	free(pw);
	db_free(db);
	json_decref(in);
	return rc;
}

/* Runs command <argv[0]> with the loaded configuration (sd_command). */
static int
auth_command(void *arg, int argc, char *argv[])
{
	struct auth_cfg *cfg = arg;
	struct auth_keys ak;

	if (strcmp(argv[0], "rotate-keys") == 0 && argc == 1) {
		if (keys_rotate(cfg->ac_keys_dir, auth_key_keep(cfg)) == -1 ||
		    keys_load(&ak, cfg->ac_keys_dir, auth_key_keep(cfg)) == -1)
			return 1;
		printf("%s\n", ak.ak_keys[0].jk_kid);
		keys_release(&ak);
		return 0;
	}
	if (strcmp(argv[0], "create-user") == 0)
		return auth_create_user(cfg, argc, argv);
	if (strcmp(argv[0], "users") == 0)
		return cli_users(cfg, argc, argv);
	if (strcmp(argv[0], "audit") == 0)
		return cli_audit(cfg, argc, argv);
	usage();
}

/* Before serving (sd_prepare): the keys exist and load. 0 or -1. */
static int
auth_prepare(void *arg)
{
	const struct auth_cfg *cfg = arg;
	struct auth_keys ak;

	if (keys_load(&ak, cfg->ac_keys_dir, auth_key_keep(cfg)) == -1) {
		log_warnx("%s: signing keys unusable", cfg->ac_keys_dir);
		return -1;
	}
	log_info("signing key kid %s, %zu key(s) published",
	    ak.ak_keys[0].jk_kid, ak.ak_n);
	keys_release(&ak);
	return thr_init(cfg);
}

static struct pool_cfg *
auth_cfg_pool(void *arg)
{
	return &((struct auth_cfg *)arg)->ac_pool;
}

static const char *
auth_cfg_level(void *arg)
{
	return ((struct auth_cfg *)arg)->ac_level;
}

/* The <database> settings (sd_db), for the schema check at start. */
static struct db_cfg *
auth_cfg_db(void *arg)
{
	return &((struct auth_cfg *)arg)->ac_db;
}

static const struct svc_def auth_def = {
	.sd_prog = AUTH_PROG,
	.sd_conf = AUTH_CONF,
	.sd_size = sizeof(struct auth_cfg),
	.sd_read = acfg_read_doc,
	.sd_release = acfg_release_doc,
	.sd_pool = auth_cfg_pool,
	.sd_level = auth_cfg_level,
	.sd_db = auth_cfg_db,
	.sd_schema = &schema_app,
	.sd_worker = auth_worker,
	.sd_command = auth_command,
	.sd_operands = AUTH_OPERANDS,
	.sd_prepare = auth_prepare,
	.sd_background = mq_run,
};

int
main(int argc, char *argv[])
{
	return svc_main(&auth_def, argc, argv);
}
