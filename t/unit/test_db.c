/*
 * test_db: shared/db.c against a real private MariaDB.
 *
 * The runner starts a server and exports ELP_TEST_DB_SOCKET; root connects
 * through that socket with socket authentication. The test makes its own
 * scratch database and a user that can only read and write it (no DDL),
 * with a 0600 password file in a temporary directory, and removes all of
 * it at the end. Without ELP_TEST_DB_SOCKET the test fails.
 */
#include <sys/stat.h>

#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "log.h"
#include "util.h"

static struct {
	char		 dir[64];	/* temporary directory */
	char		 name[32];	/* scratch database and user name */
	char		 pw[33];
	const char	*socket;
	struct db	*root;
} T;

/* Writes <text> to <dir>/<file> with <mode>; returns the heap path. */
static char *
write_file(const char *file, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", T.dir, file);
	FILE *f;

	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* A struct db for <user> with password file <file> (under T.dir). */
static struct db *
open_as(const char *user, const char *file, const char *dbname)
{
	struct db_cfg c;
	struct db *db;

	memset(&c, 0, sizeof(c));
	c.dc_socket = xstrdup(T.socket);
	c.dc_host = xstrdup("localhost");
	c.dc_port = 3306;
	c.dc_name = dbname ? xstrdup(dbname) : NULL;
	c.dc_user = xstrdup(user);
	c.dc_password_file = xasprintf("%s/%s", T.dir, file);
	c.dc_connect_timeout = 2000;
	c.dc_rw_timeout = 5000;
	db = db_new(&c);
	db_cfg_release(&c);
	return db;
}

static struct db *
open_app(void)
{
	return open_as(T.name, "app.pw", T.name);
}

/* Runs <sql> as root with no parameters; fails the test on error. */
static void
root_exec(const char *sql)
{
	if (db_exec(T.root, sql, NULL, 0, NULL, NULL) == -1)
		fail_msg("%s: %s", sql, db_errmsg(T.root));
}

static void
root_execf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
root_execf(const char *fmt, ...)
{
	va_list ap;
	char *sql;

	va_start(ap, fmt);
	assert_true(vasprintf(&sql, fmt, ap) != -1);
	va_end(ap);
	root_exec(sql);
	free(sql);
}

/* Scratch database, tables and the service-like user, made as root. */
static void
make_scratch(void)
{
	root_execf("DROP DATABASE IF EXISTS %s", T.name);
	root_execf("CREATE DATABASE %s CHARACTER SET utf8mb4", T.name);
	root_execf("DROP USER IF EXISTS '%s'@'localhost'", T.name);
	root_execf("CREATE USER '%s'@'localhost' IDENTIFIED BY '%s'", T.name,
	    T.pw);
	root_execf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s.* TO "
	    "'%s'@'localhost'", T.name, T.name);
	root_execf("CREATE TABLE %s.t (id INT AUTO_INCREMENT PRIMARY KEY, "
	    "s VARCHAR(100) NULL, n BIGINT NULL, u VARCHAR(10) NULL UNIQUE, "
	    "x MEDIUMTEXT NULL, d DATETIME(3) NULL) ENGINE=InnoDB", T.name);
	root_execf("CREATE TABLE %s.parent (id INT PRIMARY KEY) "
	    "ENGINE=InnoDB", T.name);
	root_execf("CREATE TABLE %s.child (id INT PRIMARY KEY, pid INT NOT "
	    "NULL, FOREIGN KEY (pid) REFERENCES parent (id)) ENGINE=InnoDB",
	    T.name);
}

static int
group_setup(void **state)
{
	struct passwd *pwd;
	char *p;

	(void)state;
	snprintf(T.dir, sizeof(T.dir), "/tmp/elp-test-db.XXXXXX");
	if (mkdtemp(T.dir) == NULL)
		return -1;
	snprintf(T.name, sizeof(T.name), "elp_t%ld", (long)getpid());
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	snprintf(T.pw, sizeof(T.pw), "%08x%08x%08x%08x", (unsigned)rand(),
	    (unsigned)rand(), (unsigned)rand(), (unsigned)rand());
	free(write_file("root.pw", "", 0600));
	p = xasprintf("%s\n", T.pw);
	free(write_file("app.pw", p, 0600));
	free(write_file("open.pw", p, 0644));
	free(p);
	free(write_file("wrong.pw", "not-the-password\n", 0600));
	/* Socket authentication: the server account named like us. */
	if ((pwd = getpwuid(geteuid())) == NULL)
		return -1;
	T.root = open_as(pwd->pw_name, "root.pw", NULL);
	if (db_connect(T.root) == -1) {
		fprintf(stderr, "root via %s: %s\n", T.socket,
		    db_errmsg(T.root));
		return -1;
	}
	make_scratch();
	return 0;
}

static int
group_teardown(void **state)
{
	static const char *const files[] = {
		"root.pw", "app.pw", "open.pw", "wrong.pw",
	};
	char *p;
	size_t i;

	(void)state;
	if (T.root != NULL) {
		root_execf("DROP DATABASE IF EXISTS %s", T.name);
		root_execf("DROP USER IF EXISTS '%s'@'localhost'", T.name);
	}
	db_free(T.root);
	T.root = NULL;
	for (i = 0; i < NITEMS(files); i++) {
		p = xasprintf("%s/%s", T.dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(T.dir);
	return 0;
}

/* Rows collected by the callback: up to 8 rows of 8 columns. */
struct rows {
	size_t	 n;
	char	*v[8][8];	/* NULL for SQL NULL */
	size_t	 len[8][8];
	int	 stop_after;	/* 0: never */
};

static int
collect_cb(void *arg, const struct db_val *cols, size_t ncol)
{
	struct rows *r = arg;
	size_t i;

	if (r->stop_after != 0 && r->n == (size_t)r->stop_after)
		return -1;
	assert_true(r->n < 8 && ncol <= 8);
	for (i = 0; i < ncol; i++) {
		if (cols[i].dv_type == DB_T_NULL) {
			assert_null(cols[i].dv_s);
			continue;
		}
		assert_int_equal(cols[i].dv_type, DB_T_STR);
		assert_int_equal(cols[i].dv_s[cols[i].dv_len], '\0');
		r->v[r->n][i] = xstrndup(cols[i].dv_s, cols[i].dv_len);
		r->len[r->n][i] = cols[i].dv_len;
	}
	r->n++;
	return 0;
}

static void
rows_release(struct rows *r)
{
	size_t i, j;

	for (i = 0; i < 8; i++)
		for (j = 0; j < 8; j++) {
			free(r->v[i][j]);
			r->v[i][j] = NULL;
		}
	r->n = 0;
}

/* Runs a one-value SELECT through <db> and returns the value (heap). */
static char *
scalar(struct db *db, const char *sql, const struct db_val *p, size_t np)
{
	struct rows r;
	char *v;

	memset(&r, 0, sizeof(r));
	if (db_exec(db, sql, p, np, collect_cb, &r) != 1)
		fail_msg("%s: %s", sql, db_errmsg(db));
	v = r.v[0][0];
	r.v[0][0] = NULL;
	rows_release(&r);
	return v;
}

static long long
count_rows(struct db *db, const char *where)
{
	char *sql = xasprintf("SELECT COUNT(*) FROM t WHERE %s", where);
	char *v = scalar(db, sql, NULL, 0);
	long long n = strtoll(v, NULL, 10);

	free(v);
	free(sql);
	return n;
}

static void
test_connect(void **state)
{
	struct db *db = open_app();
	char *v;

	(void)state;
	assert_int_equal(db_connect(db), 0);
	assert_int_equal(db_ping(db), 0);
	v = scalar(db, "SELECT @@session.time_zone", NULL, 0);
	assert_string_equal(v, "+00:00");
	free(v);
	v = scalar(db, "SELECT @@character_set_client", NULL, 0);
	assert_string_equal(v, "utf8mb4");
	free(v);
	db_free(db);
}

static void
test_insert_select(void **state)
{
	static const char odd[] = "it's \"quoted\" \\ back; -- not a comment";
	static const char utf[] = "h\xc3\xa9llo \xe2\x80\x93 \xe6\x97\xa5\xe6"
	    "\x9c\xac \xf0\x9f\x93\x9a";
	struct db *db = open_app();
	struct db_val p[4];
	struct rows r;

	(void)state;
	memset(&r, 0, sizeof(r));
	p[0] = DB_STR(odd);
	p[1] = DB_INT(-4611686018427387904LL);
	p[2] = DB_NULLV;
	p[3] = DB_STR("2024-04-09 18:00:00.120");
	assert_int_equal(db_exec(db, "INSERT INTO t (s, n, u, d) VALUES "
	    "(?, ?, ?, ?)", p, 4, NULL, NULL), 1);
	p[0] = DB_STRN(utf, strlen(utf));
	p[1] = DB_NULLV;
	p[2] = DB_STR("k1");
	p[3] = DB_NULLV;
	assert_int_equal(db_exec(db, "INSERT INTO t (s, n, u, d) VALUES "
	    "(?, ?, ?, ?)", p, 4, NULL, NULL), 1);
	assert_int_equal(db_exec(db, "SELECT s, n, u, d, id FROM t WHERE "
	    "id > ? ORDER BY id", (struct db_val[]){ DB_INT(0) }, 1,
	    collect_cb, &r), 2);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0][0], odd);
	assert_string_equal(r.v[0][1], "-4611686018427387904");
	assert_null(r.v[0][2]);
	assert_string_equal(r.v[0][3], "2024-04-09 18:00:00.120");
	assert_string_equal(r.v[1][0], utf);
	assert_int_equal(r.len[1][0], strlen(utf));
	assert_null(r.v[1][1]);
	assert_string_equal(r.v[1][2], "k1");
	assert_null(r.v[1][3]);
	rows_release(&r);
	assert_int_equal(db_exec(db, "DELETE FROM t", NULL, 0, NULL, NULL), 2);
	db_free(db);
}

static void
test_counts(void **state)
{
	struct db *db = open_app();
	struct rows r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(db_exec(db, "INSERT INTO t (u) VALUES ('k1'), "
	    "('k2')", NULL, 0, NULL, NULL), 2);
	assert_int_equal(db_exec(db, "SELECT id FROM t", NULL, 0, NULL, NULL),
	    2);
	/* UPDATE counts matched rows, changed or not. */
	assert_int_equal(db_exec(db, "UPDATE t SET u = u WHERE u = ?",
	    (struct db_val[]){ DB_STR("k1") }, 1, NULL, NULL), 1);
	/* A callback that stops ends the call with -1. */
	r.stop_after = 1;
	assert_int_equal(db_exec(db, "SELECT id FROM t", NULL, 0, collect_cb,
	    &r), -1);
	assert_int_equal(db_error(db), DB_E_OTHER);
	rows_release(&r);
	assert_int_equal(db_exec(db, "DELETE FROM t", NULL, 0, NULL, NULL), 2);
	db_free(db);
}

static void
test_long_values(void **state)
{
	struct db *db = open_app();
	size_t sizes[] = { 10, 100000, 5, 300000 };
	struct rows r;
	char *big;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof(r));
	big = xmalloc(300001);
	for (i = 0; i < 300000; i++)
		big[i] = (char)('a' + i % 26);
	big[300000] = '\0';
	for (i = 0; i < NITEMS(sizes); i++)
		assert_int_equal(db_exec(db, "INSERT INTO t (x) VALUES (?)",
		    (struct db_val[]){ DB_STRN(big, sizes[i]) }, 1, NULL, NULL),
		    1);
	assert_int_equal(db_exec(db, "SELECT x, LENGTH(x) FROM t ORDER BY id",
	    NULL, 0, collect_cb, &r), 4);
	for (i = 0; i < NITEMS(sizes); i++) {
		assert_int_equal(r.len[i][0], sizes[i]);
		assert_memory_equal(r.v[i][0], big, sizes[i]);
		assert_int_equal(strtoul(r.v[i][1], NULL, 10), sizes[i]);
	}
	rows_release(&r);
	assert_int_equal(db_exec(db, "DELETE FROM t", NULL, 0, NULL, NULL), 4);
	free(big);
	db_free(db);
}

static void
test_errors(void **state)
{
	struct db *db = open_app();
	struct db_val v = DB_STR("same");

	(void)state;
	assert_int_equal(db_exec(db, "INSERT INTO t (u) VALUES (?)", &v, 1,
	    NULL, NULL), 1);
	assert_int_equal(db_exec(db, "INSERT INTO t (u) VALUES (?)", &v, 1,
	    NULL, NULL), -1);
	assert_int_equal(db_error(db), DB_E_DUP);
	v = DB_STR("much too long for ten");
	assert_int_equal(db_exec(db, "INSERT INTO t (u) VALUES (?)", &v, 1,
	    NULL, NULL), -1);
	assert_int_equal(db_error(db), DB_E_DATA);
	assert_int_equal(db_exec(db, "INSERT INTO child (id, pid) VALUES "
	    "(1, 42)", NULL, 0, NULL, NULL), -1);
	assert_int_equal(db_error(db), DB_E_FK);
	/* No DDL for the service user. */
	assert_int_equal(db_exec(db, "CREATE TABLE z (a INT)", NULL, 0, NULL,
	    NULL), -1);
	assert_int_equal(db_error(db), DB_E_OTHER);
	assert_int_equal(db_exec(db, "SELECT nope FROM t", NULL, 0, NULL,
	    NULL), -1);
	assert_int_equal(db_exec(db, "SELECT ? + ?", &v, 1, NULL, NULL), -1);
	assert_int_equal(db_error(db), DB_E_OTHER);
	/* Still usable after errors. */
	assert_int_equal(db_exec(db, "DELETE FROM t", NULL, 0, NULL, NULL), 1);
	db_free(db);
}

static void
test_transactions(void **state)
{
	struct db *a = open_app(), *b = open_app();

	(void)state;
	assert_int_equal(db_begin(a), 0);
	assert_int_equal(db_begin(a), -1);
	assert_int_equal(db_exec(a, "INSERT INTO t (u) VALUES ('tx1')", NULL,
	    0, NULL, NULL), 1);
	assert_int_equal(count_rows(a, "u = 'tx1'"), 1);
	assert_int_equal(count_rows(b, "u = 'tx1'"), 0);
	assert_int_equal(db_rollback(a), 0);
	assert_int_equal(count_rows(a, "u = 'tx1'"), 0);
	assert_int_equal(count_rows(b, "u = 'tx1'"), 0);

	assert_int_equal(db_begin(a), 0);
	assert_int_equal(db_exec(a, "INSERT INTO t (u) VALUES ('tx2')", NULL,
	    0, NULL, NULL), 1);
	assert_int_equal(count_rows(b, "u = 'tx2'"), 0);
	assert_int_equal(db_commit(a), 0);
	assert_int_equal(count_rows(b, "u = 'tx2'"), 1);
	assert_int_equal(db_commit(a), -1);
	assert_int_equal(db_rollback(a), 0);
	/* Back in autocommit: visible at once. */
	assert_int_equal(db_exec(a, "DELETE FROM t", NULL, 0, NULL, NULL), 1);
	assert_int_equal(count_rows(b, "1 = 1"), 0);
	db_free(a);
	db_free(b);
}

static long long
prepares(struct db *db)
{
	char *v = scalar(db, "SELECT VARIABLE_VALUE FROM "
	    "information_schema.SESSION_STATUS WHERE VARIABLE_NAME = "
	    "'COM_STMT_PREPARE'", NULL, 0);
	long long n = strtoll(v, NULL, 10);

	free(v);
	return n;
}

static void
test_stmt_cache(void **state)
{
	struct db *db = open_app();
	long long before;
	char *sql, *v, want[32];
	int i;

	(void)state;
	before = prepares(db);
	for (i = 0; i < 500; i++) {
		v = scalar(db, "SELECT ? * 2", (struct db_val[]){ DB_INT(i) },
		    1);
		snprintf(want, sizeof(want), "%d", i * 2);
		assert_string_equal(v, want);
		free(v);
	}
	/* One prepare for the loop; the status query was prepared (and
	 * counted) by the first call and is cached since. */
	assert_int_equal(prepares(db) - before, 1);
	/* More distinct statements than the cache holds: LRU eviction. */
	for (i = 0; i < 200; i++) {
		sql = xasprintf("SELECT %d + ?", i);
		v = scalar(db, sql, (struct db_val[]){ DB_INT(1) }, 1);
		snprintf(want, sizeof(want), "%d", i + 1);
		assert_string_equal(v, want);
		free(v);
		free(sql);
	}
	v = scalar(db, "SELECT ? * 2", (struct db_val[]){ DB_INT(21) }, 1);
	assert_string_equal(v, "42");
	free(v);
	db_free(db);
}

static void
test_password_file_mode(void **state)
{
	struct db *db = open_as(T.name, "open.pw", T.name);

	(void)state;
	assert_int_equal(db_connect(db), -1);
	assert_non_null(strstr(db_errmsg(db), "open.pw"));
	assert_non_null(strstr(db_errmsg(db), "group or others"));
	assert_null(strstr(db_errmsg(db), T.pw));
	assert_int_equal(db_exec(db, "SELECT 1", NULL, 0, NULL, NULL), -1);
	db_free(db);
	db = open_as(T.name, "missing.pw", T.name);
	assert_int_equal(db_connect(db), -1);
	assert_non_null(strstr(db_errmsg(db), "missing.pw"));
	db_free(db);
}

static void
test_wrong_password(void **state)
{
	struct db *db = open_as(T.name, "wrong.pw", T.name);

	(void)state;
	assert_int_equal(db_connect(db), -1);
	assert_int_equal(db_error(db), DB_E_CONN);
	assert_non_null(strstr(db_errmsg(db), "Access denied"));
	assert_int_equal(db_exec(db, "SELECT 1", NULL, 0, NULL, NULL), -1);
	assert_int_equal(db_ping(db), -1);
	assert_int_equal(db_begin(db), -1);
	db_free(db);
}

/* Kills <db>'s server connection from the root connection. */
static void
kill_conn(struct db *db)
{
	char *id = scalar(db, "SELECT CONNECTION_ID()", NULL, 0);

	root_execf("KILL CONNECTION %s", id);
	free(id);
}

static void
test_reconnect(void **state)
{
	struct db *db = open_app();
	char *id1, *id2, *v;

	(void)state;
	id1 = scalar(db, "SELECT CONNECTION_ID()", NULL, 0);
	kill_conn(db);
	/* Outside a transaction: reconnected and retried transparently. */
	id2 = scalar(db, "SELECT CONNECTION_ID()", NULL, 0);
	assert_string_not_equal(id1, id2);
	v = scalar(db, "SELECT @@session.time_zone", NULL, 0);
	assert_string_equal(v, "+00:00");
	free(v);
	kill_conn(db);
	assert_int_equal(db_ping(db), 0);
	kill_conn(db);
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_rollback(db), 0);

	free(id1);
	free(id2);
	db_free(db);
}

static void
test_reconnect_writes(void **state)
{
	struct db *db = open_app();

	(void)state;
	/* A plain write is not repeated after a lost connection: it may have
	 * been applied already. The next call reconnects. */
	assert_int_equal(db_exec(db, "SELECT 1", NULL, 0, NULL, NULL), 1);
	kill_conn(db);
	assert_int_equal(db_exec(db, "INSERT INTO t (u) VALUES ('once')", NULL,
	    0, NULL, NULL), -1);
	assert_int_equal(db_error(db), DB_E_CONN);
	assert_int_equal(count_rows(db, "u = 'once'"), 0);
	/* A write marked idempotent is repeated on a new connection. */
	kill_conn(db);
	assert_int_equal(db_exec_idem(db, "INSERT INTO t (u) VALUES ('idem') "
	    "ON DUPLICATE KEY UPDATE u = u", NULL, 0, NULL, NULL), 1);
	assert_int_equal(count_rows(db, "u = 'idem'"), 1);
	/* Reads are repeated whatever the call, even with leading space. */
	kill_conn(db);
	assert_int_equal(db_exec(db, " select 1", NULL, 0, NULL, NULL), 1);
	assert_int_equal(db_exec(db, "DELETE FROM t WHERE u = 'idem'", NULL, 0,
	    NULL, NULL), 1);
	db_free(db);
}

static void
test_reconnect_in_txn(void **state)
{
	struct db *db = open_app();

	(void)state;
	/* Inside a transaction: the transaction is gone, and so it fails. */
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_exec(db, "INSERT INTO t (u) VALUES ('lost')", NULL,
	    0, NULL, NULL), 1);
	kill_conn(db);
	assert_int_equal(db_exec(db, "INSERT INTO t (u) VALUES ('after')",
	    NULL, 0, NULL, NULL), -1);
	assert_int_equal(db_error(db), DB_E_CONN);
	assert_int_equal(db_exec(db, "SELECT 1", NULL, 0, NULL, NULL), -1);
	assert_int_equal(db_error(db), DB_E_CONN);
	assert_int_equal(db_commit(db), -1);
	assert_int_equal(db_error(db), DB_E_CONN);
	assert_int_equal(count_rows(db, "u IN ('lost', 'after')"), 0);

	/* Same with rollback, which succeeds: nothing is left to undo. */
	assert_int_equal(db_begin(db), 0);
	kill_conn(db);
	assert_int_equal(db_exec(db, "SELECT 1", NULL, 0, NULL, NULL), -1);
	assert_int_equal(db_error(db), DB_E_CONN);
	assert_int_equal(db_rollback(db), 0);
	assert_int_equal(count_rows(db, "1 = 1"), 0);
	db_free(db);
}

static void
test_err_str(void **state)
{
	(void)state;
	assert_string_equal(db_err_str(DB_OK), "ok");
	assert_string_equal(db_err_str(DB_E_DUP), "duplicate");
	assert_string_equal(db_err_str(DB_E_COUNT), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_str),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_insert_select),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_stmt_cache),
		cmocka_unit_test(test_password_file_mode),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_reconnect_writes),
		cmocka_unit_test(test_reconnect_in_txn),
	};

	T.socket = getenv("ELP_TEST_DB_SOCKET");
	if (T.socket == NULL || T.socket[0] == '\0') {
		fprintf(stderr, "test_db: FAIL: ELP_TEST_DB_SOCKET is not set; "
		    "start a server (scripts/db init && scripts/db start) and "
		    "export its socket path\n");
		return 1;
	}
	log_init("test_db", LOG_LVL_INFO);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
