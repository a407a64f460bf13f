/*
 * db: MariaDB access through prepared statements only.
 *
 * One struct db per worker process: a connection plus a cache of prepared
 * statements keyed by SQL text. Parameters are bound from struct db_val
 * arrays; result columns are fetched as text (NULL-aware) and handed to a
 * row callback, so handlers never see MYSQL_BIND. A lost connection
 * (server gone, restarted) is reconnected on the next call; outside a
 * transaction, a statement that is safe to run twice is retried once after
 * reconnecting: reads (SELECT, SHOW, WITH) through db_exec(), and writes
 * the caller marks idempotent by calling db_exec_idem(). Other writes are
 * not repeated (the lost one may have been applied): they fail DB_E_CONN.
 *
 * Every connection runs with time_zone '+00:00' and a strict sql_mode
 * (STRICT_ALL_TABLES), so over-long or out-of-range values fail with
 * DB_E_DATA instead of being cut. The count db_exec() returns for an
 * UPDATE is the number of rows matched, changed or not (CLIENT_FOUND_ROWS).
 * At most 64 parameters per statement and 64 cached statements per struct
 * db (least recently used evicted). Only "database connection lost" and
 * "database reconnected" (or "unreachable" once per outage) are logged;
 * other failures are for the caller to log with db_errmsg().
 */
#ifndef ELP_DB_H
#define ELP_DB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfg.h"

struct db_cfg {
	char		*dc_socket;	/* unix socket path, or NULL/"" */
	char		*dc_host;	/* used when no socket */
	int64_t		 dc_port;
	char		*dc_name;	/* database */
	char		*dc_user;
	char		*dc_password_file; /* must not be readable by others */
	uint64_t	 dc_connect_timeout;	/* ms */
	uint64_t	 dc_rw_timeout;		/* ms, read and write */
};

/* Key table for a <database> element (see cfg.h); dst is struct db_cfg. */
extern const struct cfg_key	db_cfg_keys[];
extern const size_t		db_cfg_nkeys;

enum db_err {
	DB_OK = 0,
	DB_E_CONN,	/* server unreachable or connection lost: 503 */
	DB_E_DUP,	/* unique key violated: 409 */
	DB_E_FK,	/* foreign key violated */
	DB_E_LOCK,	/* deadlock or lock wait timeout: retry the txn */
	DB_E_DATA,	/* value out of range / too long for column */
	DB_E_OTHER,	/* anything else: 500, details in the log */
	DB_E_COUNT
};

const char	*db_err_str(enum db_err);

enum db_type {
	DB_T_NULL = 0,
	DB_T_STR,	/* dv_s, dv_len */
	DB_T_INT,	/* dv_i */
	DB_T_COUNT
};

/* A parameter or a result column. Result columns are always DB_T_STR or
 * DB_T_NULL; dv_s is NUL-terminated and valid only during the callback. */
struct db_val {
	enum db_type	 dv_type;
	const char	*dv_s;
	size_t		 dv_len;
	long long	 dv_i;
};

#define DB_STR(s)	((struct db_val){ DB_T_STR, (s), strlen(s), 0 })
#define DB_STRN(s, n)	((struct db_val){ DB_T_STR, (s), (n), 0 })
#define DB_INT(v)	((struct db_val){ DB_T_INT, NULL, 0, (v) })
#define DB_NULLV	((struct db_val){ DB_T_NULL, NULL, 0, 0 })

/* Called once per result row with <ncol> columns. Return 0 to go on, -1
 * to stop (db_exec then returns -1 with DB_E_OTHER). */
typedef int (*db_row_cb)(void *arg, const struct db_val *cols, size_t ncol);

struct db;

/* Copies <cfg>; does not connect. Never returns NULL. */
struct db	*db_new(const struct db_cfg *cfg);
void		 db_free(struct db *);

/*
 * Connects if not connected. Returns 0 or -1 with DB_E_CONN: server not
 * reachable, access denied, or a password file that is missing or that
 * group or others may access (the message names the path, never the
 * password).
 */
int		 db_connect(struct db *);
/* Round trip to the server, reconnecting if needed. 0 or -1. */
int		 db_ping(struct db *);

/*
 * Runs <sql> as a cached prepared statement with <np> parameters. For a
 * statement with a result set, calls <cb> for each row (cb may be NULL to
 * discard). Returns the number of rows returned (SELECT) or affected
 * (others), or -1 with db_error() set.
 */
long long	 db_exec(struct db *, const char *sql, const struct db_val *p,
		    size_t np, db_row_cb cb, void *arg);
/*
 * db_exec() for a statement the caller marks safe to repeat: running it
 * twice has the effect of running it once (an upsert or update to fixed
 * values, a delete by key, INSERT IGNORE of a fixed row). It is retried
 * once after a lost connection even when it writes.
 */
long long	 db_exec_idem(struct db *, const char *sql,
		    const struct db_val *p, size_t np, db_row_cb cb, void *arg);

/*
 * Transactions. While one is open no automatic retry happens. 0 or -1.
 * If the connection is lost inside a transaction, the transaction is gone:
 * that db_exec() and every later one fail with DB_E_CONN until the caller
 * ends it; db_commit() then fails (DB_E_CONN) and db_rollback() returns 0.
 * db_begin() inside a transaction and db_commit() outside one fail with
 * DB_E_OTHER; db_rollback() outside one is a no-op returning 0.
 */
int		 db_begin(struct db *);
int		 db_commit(struct db *);
int		 db_rollback(struct db *);

enum db_err	 db_error(const struct db *);
/* Last server message, for the log only (never for clients). */
const char	*db_errmsg(const struct db *);

/* Frees <cfg>'s strings. */
void		 db_cfg_release(struct db_cfg *cfg);

#endif
