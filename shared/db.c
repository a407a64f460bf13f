/*
 * db: MariaDB through Connector/C prepared statements, with a bounded
 * statement cache, text results and reconnection after a lost connection.
 *
 * Ownership (STYLE.md rule 18): d_conn comes from mysql_init() +
 * mysql_real_connect() and goes to mysql_close() in db_drop(); each cached
 * MYSQL_STMT comes from mysql_stmt_init() and goes to mysql_stmt_close() on
 * eviction or in db_drop(); every result set is released with
 * mysql_stmt_free_result() on the one exit path of db_fetch().
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "cfg.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define DB_STMT_MAX	64	/* cached prepared statements per struct db */
#define DB_PARAM_MAX	64	/* parameters per statement */
#define DB_COL_MIN	256	/* initial result buffer per column */
#define DB_COL_KEEP	65536	/* larger column buffers are shrunk after use */
#define DB_PW_MAX	1024	/* password file size limit */

/* Session settings for every connection: UTC, and strict value checks so
 * over-long or out-of-range values fail (DB_E_DATA) on any server. */
#define DB_INIT_SQL	"SET time_zone = '+00:00', sql_mode = " \
			"'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO," \
			"NO_ENGINE_SUBSTITUTION'"

struct db_stmt {
	char		*st_sql;	/* NULL: slot free */
	MYSQL_STMT	*st_stmt;
	uint64_t	 st_used;	/* d_tick at last use, for LRU */
};

struct db_col {
	char		*c_buf;		/* c_cap bytes, room for a final NUL */
	size_t		 c_cap;
	unsigned long	 c_len;		/* full length of the value */
	my_bool		 c_null;
	my_bool		 c_trunc;	/* did not fit in c_cap - 1 */
};

struct db {
	struct db_cfg	 d_cfg;		/* own copies of the strings */
	MYSQL		*d_conn;	/* NULL: not connected */
	struct db_stmt	 d_stmts[DB_STMT_MAX];
	uint64_t	 d_tick;
	int		 d_in_txn;	/* between db_begin and commit/rollback */
	int		 d_txn_lost;	/* the connection died inside it */
	int		 d_down;	/* a loss or failure was logged */
	enum db_err	 d_err;
	char		 d_msg[512];
	MYSQL_BIND	 d_pbind[DB_PARAM_MAX];
	long long	 d_pint[DB_PARAM_MAX];
	struct db_col	*d_cols;	/* result columns, d_ncols of them */
	MYSQL_BIND	*d_rbind;
	struct db_val	*d_vals;
	size_t		 d_ncols;
};

const struct cfg_key db_cfg_keys[] = {
	{ "socket", CFG_T_PATH, "", 0, 0, offsetof(struct db_cfg, dc_socket) },
	{ "host", CFG_T_STR, "localhost", 0, 0,
	    offsetof(struct db_cfg, dc_host) },
	{ "port", CFG_T_INT, "3306", 1, 65535,
	    offsetof(struct db_cfg, dc_port) },
	{ "name", CFG_T_STR, NULL, 0, 0, offsetof(struct db_cfg, dc_name) },
	{ "user", CFG_T_STR, NULL, 0, 0, offsetof(struct db_cfg, dc_user) },
	{ "password-file", CFG_T_PATH, NULL, 0, 0,
	    offsetof(struct db_cfg, dc_password_file) },
	{ "connect-timeout", CFG_T_DURATION, "2s", 1, 3600000,
	    offsetof(struct db_cfg, dc_connect_timeout) },
	{ "timeout", CFG_T_DURATION, "5s", 1, 3600000,
	    offsetof(struct db_cfg, dc_rw_timeout) },
};
const size_t db_cfg_nkeys = sizeof(db_cfg_keys) / sizeof(db_cfg_keys[0]);

static const char *const db_err_names[DB_E_COUNT] = {
	"ok", "connection", "duplicate", "foreign key", "lock", "data",
	"other",
};

const char *
db_err_str(enum db_err e)
{
	if ((unsigned)e >= DB_E_COUNT)
		return "unknown";
	return db_err_names[e];
}

static void __attribute__((format(printf, 3, 4)))
db_set_err(struct db *db, enum db_err e, const char *fmt, ...)
{
	va_list ap;

	db->d_err = e;
	va_start(ap, fmt);
	vsnprintf(db->d_msg, sizeof(db->d_msg), fmt, ap);
	va_end(ap);
}

/* Classifies a server or client error number. */
static enum db_err
db_map_errno(unsigned int no)
{
	switch (no) {
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_SERVER_LOST_EXTENDED:
	case ER_CONNECTION_KILLED:
	case ER_SERVER_SHUTDOWN:
	case ER_NET_READ_ERROR:
	case ER_NET_READ_INTERRUPTED:
	case ER_NET_ERROR_ON_WRITE:
	case ER_NET_WRITE_INTERRUPTED:
		return DB_E_CONN;
	case ER_DUP_ENTRY:
		return DB_E_DUP;
	case ER_ROW_IS_REFERENCED_2:
	case ER_NO_REFERENCED_ROW_2:
		return DB_E_FK;
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
		return DB_E_LOCK;
	case ER_DATA_TOO_LONG:
	case ER_WARN_DATA_OUT_OF_RANGE:
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case WARN_DATA_TRUNCATED:
	case ER_BAD_NULL_ERROR:
		return DB_E_DATA;
	default:
		return DB_E_OTHER;
	}
}

static char *
db_strdup0(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

struct db *
db_new(const struct db_cfg *cfg)
{
	struct db *db;

	db = xcalloc(1, sizeof(*db));
	db->d_cfg = *cfg;
	db->d_cfg.dc_socket = db_strdup0(cfg->dc_socket);
	db->d_cfg.dc_host = db_strdup0(cfg->dc_host);
	db->d_cfg.dc_name = db_strdup0(cfg->dc_name);
	db->d_cfg.dc_user = db_strdup0(cfg->dc_user);
	db->d_cfg.dc_password_file = db_strdup0(cfg->dc_password_file);
	return db;
}

/* Closes the connection and every cached statement. */
static void
db_drop(struct db *db)
{
	size_t i;

	for (i = 0; i < DB_STMT_MAX; i++) {
		if (db->d_stmts[i].st_sql == NULL)
			continue;
		mysql_stmt_close(db->d_stmts[i].st_stmt);
		db->d_stmts[i].st_stmt = NULL;
		free(db->d_stmts[i].st_sql);
		db->d_stmts[i].st_sql = NULL;
	}
	if (db->d_conn != NULL)
		mysql_close(db->d_conn);
	db->d_conn = NULL;
}

void
db_free(struct db *db)
{
	size_t i;

	if (db == NULL)
		return;
	db_drop(db);
	for (i = 0; i < db->d_ncols; i++)
		free(db->d_cols[i].c_buf);
	free(db->d_cols);
	free(db->d_rbind);
	free(db->d_vals);
	db_cfg_release(&db->d_cfg);
	free(db);
}

void
db_cfg_release(struct db_cfg *cfg)
{
	free(cfg->dc_socket);
	cfg->dc_socket = NULL;
	free(cfg->dc_host);
	cfg->dc_host = NULL;
	free(cfg->dc_name);
	cfg->dc_name = NULL;
	free(cfg->dc_user);
	cfg->dc_user = NULL;
	free(cfg->dc_password_file);
	cfg->dc_password_file = NULL;
}

/*
 * Reads the first line of the password file into <out> (caller wipes and
 * frees it). Refuses a file that group or others may read. 0 or -1.
 */
static int
db_read_password(struct db *db, char **out)
{
	const char *path = db->d_cfg.dc_password_file;
	struct stat st;
	ssize_t n = -1;
	char *pw;
	int fd;

	*out = NULL;
	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		db_set_err(db, DB_E_CONN, "password file %s: %s",
		    path ? path : "(none)", strerror(path ? errno : ENOENT));
		return -1;
	}
	pw = xmalloc(DB_PW_MAX + 1);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		db_set_err(db, DB_E_CONN, "password file %s: not a file", path);
	else if ((st.st_mode & 077) != 0)
		db_set_err(db, DB_E_CONN, "password file %s is accessible by "
		    "group or others (mode %04o); chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
	else if ((n = read(fd, pw, DB_PW_MAX)) == -1)
		db_set_err(db, DB_E_CONN, "password file %s: %s", path,
		    strerror(errno));
	close(fd);
	if (n < 0) {
		free(pw);
		return -1;
	}
	pw[n] = '\0';
	pw[strcspn(pw, "\r\n")] = '\0';
	*out = pw;
	return 0;
}

static unsigned int
db_ms_to_s(uint64_t ms)
{
	uint64_t s = (ms + 999) / 1000;

	return s == 0 ? 1 : s > 3600 ? 3600 : (unsigned int)s;
}

static void
db_set_options(struct db *db, MYSQL *m)
{
	unsigned int cto = db_ms_to_s(db->d_cfg.dc_connect_timeout);
	unsigned int rwto = db_ms_to_s(db->d_cfg.dc_rw_timeout);
	unsigned int proto = MYSQL_PROTOCOL_TCP;
	my_bool off = 0;

	mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &cto);
	mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &rwto);
	mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &rwto);
	mysql_optionsv(m, MYSQL_OPT_RECONNECT, &off);
	mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_optionsv(m, MYSQL_INIT_COMMAND, DB_INIT_SQL);
	/* "localhost" would otherwise mean the default socket. */
	if (db->d_cfg.dc_socket == NULL || db->d_cfg.dc_socket[0] == '\0')
		mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
}

/* Opens d_conn. 0, or -1 with the error set (DB_E_CONN). */
static int
db_open(struct db *db)
{
	const struct db_cfg *c = &db->d_cfg;
	int sock = c->dc_socket != NULL && c->dc_socket[0] != '\0';
	char *pw = NULL;
	MYSQL *m = NULL;
	int rc = -1;

	if (db_read_password(db, &pw) == -1)
		goto done;
	if ((m = mysql_init(NULL)) == NULL) {
		db_set_err(db, DB_E_CONN, "mysql_init failed");
		goto done;
	}
	db_set_options(db, m);
	if (mysql_real_connect(m, sock ? NULL : c->dc_host, c->dc_user, pw,
	    c->dc_name, sock ? 0 : (unsigned int)c->dc_port,
	    sock ? c->dc_socket : NULL, CLIENT_FOUND_ROWS) == NULL) {
		db_set_err(db, DB_E_CONN, "%s", mysql_error(m));
		goto done;
	}
	db->d_conn = m;
	m = NULL;
	rc = 0;
done:
	if (m != NULL)
		mysql_close(m);
	if (pw != NULL)
		explicit_bzero(pw, strlen(pw));
	free(pw);
	return rc;
}

int
db_connect(struct db *db)
{
	if (db->d_conn != NULL)
		return 0;
	if (db_open(db) == -1) {
		if (!db->d_down)
			log_warnx("database %s unreachable: %s",
			    db->d_cfg.dc_name, db->d_msg);
		db->d_down = 1;
		return -1;
	}
	if (db->d_down)
		log_info("database reconnected (%s)", db->d_cfg.dc_name);
	db->d_down = 0;
	return 0;
}

/*
 * Records the error <no>/<msg> of the connection or a statement. A lost
 * connection drops the handle and the statement cache, and ends any open
 * transaction's hope: it is marked lost.
 */
static void
db_fail(struct db *db, unsigned int no, const char *msg)
{
	db_set_err(db, db_map_errno(no), "%u: %s", no, msg);
	if (db->d_err != DB_E_CONN)
		return;
	if (!db->d_down)
		log_warnx("database connection lost (%s): %s",
		    db->d_cfg.dc_name, db->d_msg);
	db->d_down = 1;
	if (db->d_in_txn)
		db->d_txn_lost = 1;
	db_drop(db);
}

static void
db_fail_conn(struct db *db)
{
	db_fail(db, mysql_errno(db->d_conn), mysql_error(db->d_conn));
}

static void
db_fail_stmt(struct db *db, MYSQL_STMT *st)
{
	db_fail(db, mysql_stmt_errno(st), mysql_stmt_error(st));
}

/* Frees the least recently used cache slot and returns it. */
static struct db_stmt *
db_stmt_evict(struct db *db)
{
	struct db_stmt *s, *lru = &db->d_stmts[0];
	size_t i;

	for (i = 0; i < DB_STMT_MAX; i++) {
		s = &db->d_stmts[i];
		if (s->st_sql == NULL)
			return s;
		if (s->st_used < lru->st_used)
			lru = s;
	}
	mysql_stmt_close(lru->st_stmt);
	lru->st_stmt = NULL;
	free(lru->st_sql);
	lru->st_sql = NULL;
	return lru;
}

/* Returns the prepared statement for <sql>, preparing it on a miss, or
 * NULL with the error set. Borrowed: the cache owns it. */
static MYSQL_STMT *
db_stmt_get(struct db *db, const char *sql)
{
	struct db_stmt *s;
	MYSQL_STMT *st;
	size_t i;

	db->d_tick++;
	for (i = 0; i < DB_STMT_MAX; i++) {
		s = &db->d_stmts[i];
		if (s->st_sql != NULL && strcmp(s->st_sql, sql) == 0) {
			s->st_used = db->d_tick;
			return s->st_stmt;
		}
	}
	if ((st = mysql_stmt_init(db->d_conn)) == NULL) {
		db_fail_conn(db);
		return NULL;
	}
	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
		/* <st> is not cached yet, so db_drop() leaves it to us. */
		db_fail_stmt(db, st);
		mysql_stmt_close(st);
		return NULL;
	}
	s = db_stmt_evict(db);
	s->st_sql = xstrdup(sql);
	s->st_stmt = st;
	s->st_used = db->d_tick;
	return st;
}

/* Binds <np> parameters from <p> to <st>. 0 or -1. */
static int
db_bind_params(struct db *db, MYSQL_STMT *st, const struct db_val *p,
    size_t np)
{
	MYSQL_BIND *b;
	size_t i;

	if (np > DB_PARAM_MAX || mysql_stmt_param_count(st) != np) {
		db_set_err(db, DB_E_OTHER, "statement takes %lu parameters, "
		    "%zu given", mysql_stmt_param_count(st), np);
		return -1;
	}
	memset(db->d_pbind, 0, sizeof(db->d_pbind));
	for (i = 0; i < np; i++) {
		b = &db->d_pbind[i];
		switch (p[i].dv_type) {
		case DB_T_STR:
			/* Input buffers are only read by the library. */
			b->buffer_type = MYSQL_TYPE_STRING;
			b->buffer = (void *)(uintptr_t)(p[i].dv_s ? p[i].dv_s : "");
			b->buffer_length = p[i].dv_len;
			break;
		case DB_T_INT:
			db->d_pint[i] = p[i].dv_i;
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = &db->d_pint[i];
			break;
		default:
			b->buffer_type = MYSQL_TYPE_NULL;
			break;
		}
	}
	if (np > 0 && mysql_stmt_bind_param(st, db->d_pbind) != 0) {
		db_fail_stmt(db, st);
		return -1;
	}
	return 0;
}

/* Points result bind <i> at column buffer <i>. */
static void
db_col_bind(struct db *db, size_t i)
{
	struct db_col *c = &db->d_cols[i];
	MYSQL_BIND *b = &db->d_rbind[i];

	memset(b, 0, sizeof(*b));
	b->buffer_type = MYSQL_TYPE_STRING;
	b->buffer = c->c_buf;
	b->buffer_length = c->c_cap - 1;
	b->length = &c->c_len;
	b->is_null = &c->c_null;
	b->error = &c->c_trunc;
}

/* Makes room for <n> result columns and binds them all. May move memory. */
static void
db_cols_reserve(struct db *db, size_t n)
{
	size_t i;

	if (n > db->d_ncols) {
		db->d_cols = xrealloc(db->d_cols, n * sizeof(*db->d_cols));
		db->d_rbind = xrealloc(db->d_rbind, n * sizeof(*db->d_rbind));
		db->d_vals = xrealloc(db->d_vals, n * sizeof(*db->d_vals));
		for (i = db->d_ncols; i < n; i++) {
			db->d_cols[i].c_cap = DB_COL_MIN;
			db->d_cols[i].c_buf = xmalloc(DB_COL_MIN);
		}
		db->d_ncols = n;
	}
	for (i = 0; i < n; i++)
		db_col_bind(db, i);
}

/*
 * After MYSQL_DATA_TRUNCATED: grows the buffers of the truncated columns,
 * fetches those columns again and rebinds for the next rows. 0 or -1.
 */
static int
db_refetch(struct db *db, MYSQL_STMT *st, size_t ncol)
{
	struct db_col *c;
	size_t i;

	for (i = 0; i < ncol; i++) {
		c = &db->d_cols[i];
		if (c->c_null || c->c_len < c->c_cap)
			continue;
		c->c_cap = (size_t)c->c_len + 1;
		c->c_buf = xrealloc(c->c_buf, c->c_cap);
		db_col_bind(db, i);
		if (mysql_stmt_fetch_column(st, &db->d_rbind[i],
		    (unsigned int)i, 0) != 0) {
			db_fail_stmt(db, st);
			return -1;
		}
	}
	if (mysql_stmt_bind_result(st, db->d_rbind) != 0) {
		db_fail_stmt(db, st);
		return -1;
	}
	return 0;
}

/* Shrinks the column buffers a large value grew, so one big row does not
 * pin its memory for the life of the process. May move memory. */
static void
db_cols_trim(struct db *db, size_t ncol)
{
	struct db_col *c;
	size_t i;

	for (i = 0; i < ncol; i++) {
		c = &db->d_cols[i];
		if (c->c_cap <= DB_COL_KEEP)
			continue;
		c->c_cap = DB_COL_MIN;
		c->c_buf = xrealloc(c->c_buf, c->c_cap);
	}
}

/* Hands the current row to <cb>. 0 to go on, -1 when <cb> stopped. */
static int
db_row(struct db *db, size_t ncol, db_row_cb cb, void *arg)
{
	struct db_col *c;
	size_t i;

	for (i = 0; i < ncol; i++) {
		c = &db->d_cols[i];
		if (c->c_null) {
			db->d_vals[i] = DB_NULLV;
			continue;
		}
		c->c_buf[c->c_len] = '\0';
		db->d_vals[i] = DB_STRN(c->c_buf, c->c_len);
	}
	if (cb != NULL && cb(arg, db->d_vals, ncol) != 0) {
		db_set_err(db, DB_E_OTHER, "row callback stopped");
		return -1;
	}
	return 0;
}

/*
 * Reads the result of the executed <st>: rows into <cb>, or the affected
 * row count when there is no result set. Returns the count or -1.
 */
static long long
db_fetch(struct db *db, MYSQL_STMT *st, db_row_cb cb, void *arg)
{
	size_t ncol = mysql_stmt_field_count(st);
	long long n = 0;
	int rc;

	if (ncol == 0)
		return (long long)mysql_stmt_affected_rows(st);
	db_cols_reserve(db, ncol);
	if (mysql_stmt_bind_result(st, db->d_rbind) != 0 ||
	    mysql_stmt_store_result(st) != 0) {
		db_fail_stmt(db, st);
		return -1;
	}
	while ((rc = mysql_stmt_fetch(st)) != MYSQL_NO_DATA) {
		if (rc == 1) {
			db_fail_stmt(db, st);
			n = -1;
			break;
		}
		if ((rc == MYSQL_DATA_TRUNCATED &&
		    db_refetch(db, st, ncol) == -1) ||
		    db_row(db, ncol, cb, arg) == -1) {
			n = -1;
			break;
		}
		n++;
	}
	/* db_fail() may have dropped the connection and closed <st>. */
	if (db->d_conn != NULL)
		mysql_stmt_free_result(st);
	db_cols_trim(db, ncol);
	return n;
}

static long long
db_exec_once(struct db *db, const char *sql, const struct db_val *p,
    size_t np, db_row_cb cb, void *arg)
{
	MYSQL_STMT *st;

	if (db_connect(db) == -1)
		return -1;
	if ((st = db_stmt_get(db, sql)) == NULL)
		return -1;
	if (db_bind_params(db, st, p, np) == -1)
		return -1;
	if (mysql_stmt_execute(st) != 0) {
		db_fail_stmt(db, st);
		return -1;
	}
	return db_fetch(db, st, cb, arg);
}

/* Runs <sql>; with <repeat>, once more on a new connection when an
 * established one died between calls (outside a transaction). */
static long long
db_exec_retry(struct db *db, const char *sql, const struct db_val *p,
    size_t np, db_row_cb cb, void *arg, int repeat)
{
	int had_conn = db->d_conn != NULL;
	long long n;

	if (db->d_txn_lost) {
		db_set_err(db, DB_E_CONN, "transaction lost with the "
		    "connection; roll back");
		return -1;
	}
	n = db_exec_once(db, sql, p, np, cb, arg);
	/* An established connection died between calls (server restart,
	 * idle kill): outside a transaction, one retry on a new one. A
	 * write may have been applied before the connection died, so only
	 * statements safe to run twice are repeated. */
	if (repeat && n == -1 && db->d_err == DB_E_CONN && had_conn &&
	    !db->d_in_txn)
		n = db_exec_once(db, sql, p, np, cb, arg);
	return n;
}

/* Whether <sql> is a plain read (SELECT, SHOW, or WITH ... SELECT),
 * which is always safe to repeat. */
static int
db_is_read(const char *sql)
{
	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '(')
		sql++;
	return strncasecmp(sql, "SELECT", 6) == 0 ||
	    strncasecmp(sql, "SHOW", 4) == 0 ||
	    strncasecmp(sql, "WITH", 4) == 0;
}

long long
db_exec(struct db *db, const char *sql, const struct db_val *p, size_t np,
    db_row_cb cb, void *arg)
{
	return db_exec_retry(db, sql, p, np, cb, arg, db_is_read(sql));
}

long long
db_exec_idem(struct db *db, const char *sql, const struct db_val *p,
    size_t np, db_row_cb cb, void *arg)
{
	return db_exec_retry(db, sql, p, np, cb, arg, 1);
}

static int
db_ping_once(struct db *db)
{
	if (db_connect(db) == -1)
		return -1;
	if (mysql_ping(db->d_conn) != 0) {
		db_fail_conn(db);
		return -1;
	}
	return 0;
}

int
db_ping(struct db *db)
{
	int had_conn = db->d_conn != NULL;

	if (db_ping_once(db) == 0)
		return 0;
	if (db->d_err != DB_E_CONN || !had_conn || db->d_in_txn)
		return -1;
	return db_ping_once(db);
}

/* Sets autocommit to <on> on a connection opened if needed. 0 or -1. */
static int
db_autocommit(struct db *db, int on)
{
	if (db_connect(db) == -1)
		return -1;
	if (mysql_autocommit(db->d_conn, on ? 1 : 0) != 0) {
		db_fail_conn(db);
		return -1;
	}
	return 0;
}

int
db_begin(struct db *db)
{
	int had_conn = db->d_conn != NULL;

	if (db->d_in_txn) {
		db_set_err(db, DB_E_OTHER, "transaction already open");
		return -1;
	}
	if (db_autocommit(db, 0) == -1 && (db->d_err != DB_E_CONN ||
	    !had_conn || db_autocommit(db, 0) == -1))
		return -1;
	db->d_in_txn = 1;
	db->d_txn_lost = 0;
	return 0;
}

/* Leaves transaction mode; the connection goes back to autocommit. */
static void
db_txn_end(struct db *db)
{
	db->d_in_txn = 0;
	db->d_txn_lost = 0;
	if (db->d_conn != NULL && mysql_autocommit(db->d_conn, 1) != 0)
		db_fail_conn(db);
}

int
db_commit(struct db *db)
{
	int rc = -1;

	if (!db->d_in_txn) {
		db_set_err(db, DB_E_OTHER, "commit without a transaction");
		return -1;
	}
	if (db->d_txn_lost || db->d_conn == NULL)
		db_set_err(db, DB_E_CONN, "transaction lost with the "
		    "connection");
	else if (mysql_commit(db->d_conn) != 0) {
		db_fail_conn(db);
		if (db->d_conn != NULL)
			mysql_rollback(db->d_conn);
	} else
		rc = 0;
	db_txn_end(db);
	return rc;
}

int
db_rollback(struct db *db)
{
	int rc = 0;

	if (!db->d_in_txn)
		return 0;
	/* After a lost connection the server already discarded it. */
	if (!db->d_txn_lost && db->d_conn != NULL &&
	    mysql_rollback(db->d_conn) != 0) {
		db_fail_conn(db);
		rc = -1;
	}
	db_txn_end(db);
	return rc;
}

enum db_err
db_error(const struct db *db)
{
	return db->d_err;
}

const char *
db_errmsg(const struct db *db)
{
	return db->d_msg;
}
