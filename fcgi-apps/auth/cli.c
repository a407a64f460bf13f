/*
 * cli: the account administration commands of elp-auth, for system
 * administrators on the host (docs in man/elp-auth.8):
 *
 *   users list [--first N] [--max N]
 *   users search TEXT [--first N] [--max N]
 *   users show USER
 *   users disable USER | users enable USER
 *   users roles add USER ROLE... | users roles remove USER ROLE...
 *   users reset-password USER [--password-file FILE]
 *   users logout USER
 *   users delete USER
 *   audit [--actor A] [--target T] [--first N] [--max N]
 *
 * USER is an account id, username or email. They work on the database
 * directly with the operations of the admin API (admin.c), so the same
 * rules and the same audit trail apply; the actor is "cli:<unix user>".
 * A password is read from standard input (without echo on a terminal) or
 * from a file, never from argv. Exit status: 0 done, 1 usage or
 * configuration, 2 invalid input, 3 conflict, 4 database unreachable, 5
 * no such account.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "util.h"
#include "uuid.h"

#define CLI_PROG	"elp-auth"
#define CLI_DEF_MAX	100

#define CLI_EX_USAGE	1
#define CLI_EX_INPUT	2
#define CLI_EX_CONFLICT	3
#define CLI_EX_DB	4
#define CLI_EX_NOUSER	5

/* Options of the listing commands. */
struct cli_opts {
	long long	 co_first;
	long long	 co_max;
	const char	*co_actor;
	const char	*co_target;
	const char	*co_pwfile;
};

static int
cli_usage(void)
{
	fprintf(stderr, "usage: %s [-c file] users list|search TEXT "
	    "[--first N] [--max N]\n"
	    "       %s [-c file] users show|disable|enable|logout|delete "
	    "USER\n"
	    "       %s [-c file] users roles add|remove USER ROLE...\n"
	    "       %s [-c file] users reset-password USER "
	    "[--password-file FILE]\n"
	    "       %s [-c file] audit [--actor A] [--target T] "
	    "[--first N] [--max N]\n", CLI_PROG, CLI_PROG, CLI_PROG,
	    CLI_PROG, CLI_PROG);
	return CLI_EX_USAGE;
}

/* A non-negative decimal <s> into <out>. 0 or -1. */
static int
cli_num(const char *s, long long *out)
{
	char *end;

	*out = strtoll(s, &end, 10);
	return *s != '\0' && *end == '\0' && *out >= 0 ? 0 : -1;
}

/*
 * Parses the options of <argv> (getopt_long, operands left in place
 * from optind). 0 or -1.
 */
static int
cli_opts(int argc, char *argv[], struct cli_opts *co)
{
	static const struct option opts[] = {
		{ "first", required_argument, NULL, 'f' },
		{ "max", required_argument, NULL, 'm' },
		{ "actor", required_argument, NULL, 'a' },
		{ "target", required_argument, NULL, 't' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(co, 0, sizeof(*co));
	co->co_max = CLI_DEF_MAX;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((ch == 'f' && cli_num(optarg, &co->co_first) == -1) ||
		    (ch == 'm' && cli_num(optarg, &co->co_max) == -1))
			return -1;
		else if (ch == 'a')
			co->co_actor = optarg;
		else if (ch == 't')
			co->co_target = optarg;
		else if (ch == 'p')
			co->co_pwfile = optarg;
		else if (ch != 'f' && ch != 'm')
			return -1;
	}
	return 0;
}

/* Connects to the database of <cfg>. The connection, or NULL (told). */
static struct db *
cli_db(const struct auth_cfg *cfg)
{
	struct db *db = db_new(&cfg->ac_db);

	if (db_connect(db) == 0 && st_bootstrap(db, cfg) == 0)
		return db;
	fprintf(stderr, "%s: database %s unreachable\n", CLI_PROG,
	    cfg->ac_db.dc_name);
	db_free(db);
	return NULL;
}

/* Finds account <who> (id, username or email) into <u>: 0, or an exit
 * status (told). */
static int
cli_user(struct db *db, const char *who, struct auth_user *u)
{
	char id[37];
	int rc;

	if (uuid_parse(who, strlen(who), id) == 0)
		rc = st_user_by_id(db, id, u);
	else
		rc = st_user_by_login(db, who, u);
	if (rc == 1)
		return 0;
	if (rc == 0)
		fprintf(stderr, "%s: no account %s\n", CLI_PROG, who);
	else
		fprintf(stderr, "%s: database error\n", CLI_PROG);
	return rc == 0 ? CLI_EX_NOUSER : CLI_EX_DB;
}

/* The exit status of an operation's HTTP-like status <rc>. */
static int
cli_status(const char *what, int rc, const char *why)
{
	if (rc >= 200 && rc < 300)
		return 0;
	fprintf(stderr, "%s: %s: %s\n", CLI_PROG, what, rc == 404 ?
	    "no such account" : rc == 400 || rc == 409 ? why :
	    "database error");
	return rc == 400 ? CLI_EX_INPUT : rc == 409 ? CLI_EX_CONFLICT :
	    rc == 404 ? CLI_EX_NOUSER : CLI_EX_DB;
}

/* Reads one line from <f> into a heap string, without echo on a
 * terminal. NULL when there is none. */
static char *
cli_read_line(FILE *f)
{
	struct termios t, old;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int tty = isatty(fileno(f));

	if (tty) {
		fprintf(stderr, "New password: ");
		tcgetattr(fileno(f), &old);
		t = old;
		t.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fileno(f), TCSAFLUSH, &t);
	}
	n = getline(&line, &cap, f);
	if (tty) {
		tcsetattr(fileno(f), TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (n <= 0) {
		free(line);
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

/* The new password: first line of <file>, or of standard input. */
static char *
cli_password(const char *file)
{
	FILE *f = stdin;
	char *pw;

	if (file != NULL && (f = fopen(file, "r")) == NULL) {
		fprintf(stderr, "%s: %s: cannot open\n", CLI_PROG, file);
		return NULL;
	}
	if ((pw = cli_read_line(f)) == NULL)
		fprintf(stderr, "%s: no password in %s\n", CLI_PROG,
		    file != NULL ? file : "standard input");
	if (f != stdin)
		fclose(f);
	return pw;
}

/* users list / users search TEXT: one tab-separated line per account. */
static int
cli_list(struct db *db, const char *search, const struct cli_opts *co)
{
	json_t *out, *u;
	size_t i;

	if (adm_op_list(db, search, co->co_first, co->co_max, &out) == -1)
		return cli_status("users", 503, NULL);
	json_array_foreach(out, i, u)
		printf("%s\t%s\t%s\t%s\n",
		    json_string_value(json_object_get(u, "id")),
		    json_string_value(json_object_get(u, "username")),
		    json_is_string(json_object_get(u, "email")) ?
		    json_string_value(json_object_get(u, "email")) : "-",
		    json_is_true(json_object_get(u, "enabled")) ? "enabled" :
		    "disabled");
	json_decref(out);
	return 0;
}

/* users roles add|remove USER ROLE...: <argv> from add|remove. */
static int
cli_roles(struct db *db, const struct auth_cfg *cfg,
    const struct adm_actor *act, int argc, char *argv[])
{
	struct auth_user u;
	char why[256];
	json_t *names;
	int add, rc, i;

	if (argc < 3 || (strcmp(argv[0], "add") != 0 &&
	    strcmp(argv[0], "remove") != 0))
		return cli_usage();
	add = strcmp(argv[0], "add") == 0;
	if ((rc = cli_user(db, argv[1], &u)) != 0)
		return rc;
	names = json_array();
	for (i = 2; i < argc; i++)
		json_array_append_new(names, json_string(argv[i]));
	rc = adm_op_roles(db, cfg, act, u.u_id, names, add, 0, why,
	    sizeof(why));
	json_decref(names);
	st_user_release(&u);
	return cli_status("roles", rc, why);
}

/* users reset-password USER [--password-file FILE] */
static int
cli_reset(struct db *db, const struct auth_cfg *cfg,
    const struct adm_actor *act, const char *who, const char *file)
{
	struct auth_user u;
	char why[256], *pw;
	int rc;

	if ((rc = cli_user(db, who, &u)) != 0)
		return rc;
	if ((pw = cli_password(file)) == NULL) {
		st_user_release(&u);
		return CLI_EX_INPUT;
	}
	rc = adm_op_password(db, cfg, act, u.u_id, pw, "", why,
	    sizeof(why));
	explicit_bzero(pw, strlen(pw));
	free(pw);
	st_user_release(&u);
	return cli_status("reset-password", rc, why);
}

/* users show|disable|enable|logout|delete USER */
static int
cli_one(struct db *db, const struct auth_cfg *cfg,
    const struct adm_actor *act, const char *cmd, const char *who)
{
	struct auth_user u;
	char why[256];
	json_t *in;
	int rc;

	if ((rc = cli_user(db, who, &u)) != 0)
		return rc;
	if (strcmp(cmd, "show") == 0) {
		in = adm_user_json(&u);
		json_dumpf(in, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(in);
		rc = 204;
	} else if (strcmp(cmd, "disable") == 0 || strcmp(cmd, "enable") == 0) {
		in = json_pack("{s:b}", "enabled", cmd[0] == 'e');
		rc = adm_op_update(db, cfg, act, u.u_id, in, why, sizeof(why));
		json_decref(in);
	} else if (strcmp(cmd, "logout") == 0)
		rc = adm_op_logout(db, act, u.u_id);
	else
		rc = adm_op_delete(db, act, u.u_id);
	st_user_release(&u);
	return cli_status(cmd, rc, why);
}

int
cli_users(const struct auth_cfg *cfg, int argc, char *argv[])
{
	static const char *const one[] = { "show", "disable", "enable",
	    "logout", "delete" };
	struct adm_actor act;
	struct cli_opts co;
	struct db *db;
	char **ops, **sub = argv + 1;
	const char *cmd;
	int rc = -1, n = argc - 1, nops;
	size_t i;

	/* argv[0] is "users"; the subcommand stands in for a program name. */
	if (n < 1 || cli_opts(n, sub, &co) == -1)
		return cli_usage();
	cmd = sub[0];
	ops = sub + optind;
	nops = n - optind;
	for (i = 0; i < NITEMS(one); i++)
		if (strcmp(cmd, one[i]) == 0 && nops == 1)
			rc = 0;
	if (rc == -1 && !((strcmp(cmd, "list") == 0 && nops == 0) ||
	    (strcmp(cmd, "search") == 0 && nops == 1) ||
	    (strcmp(cmd, "reset-password") == 0 && nops == 1) ||
	    (strcmp(cmd, "roles") == 0 && nops >= 3)))
		return cli_usage();
	if ((db = cli_db(cfg)) == NULL)
		return CLI_EX_DB;
	adt_actor_cli(&act);
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "search") == 0)
		rc = cli_list(db, nops == 1 ? ops[0] : NULL, &co);
	else if (strcmp(cmd, "roles") == 0)
		rc = cli_roles(db, cfg, &act, nops, ops);
	else if (strcmp(cmd, "reset-password") == 0)
		rc = cli_reset(db, cfg, &act, ops[0], co.co_pwfile);
	else
		rc = cli_one(db, cfg, &act, cmd, ops[0]);
	db_free(db);
	return rc;
}

int
cli_audit(const struct auth_cfg *cfg, int argc, char *argv[])
{
	struct cli_opts co;
	struct db *db;
	json_t *out, *ev;
	size_t i;

	if (cli_opts(argc, argv, &co) == -1 || optind != argc)
		return cli_usage();
	if ((db = cli_db(cfg)) == NULL)
		return CLI_EX_DB;
	if (adt_query(db, cfg, co.co_actor, co.co_target, co.co_first,
	    co.co_max, &out) == -1) {
		db_free(db);
		return cli_status("audit", 503, NULL);
	}
	json_array_foreach(out, i, ev) {
		json_dumpf(ev, stdout, JSON_COMPACT);
		printf("\n");
	}
	json_decref(out);
	db_free(db);
	return 0;
}
