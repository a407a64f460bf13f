/*
 * store: the account side of the elp_auth database (accounts, roles,
 * credentials, brute-force state, bootstrap of roles and clients) and two
 * small helpers every module uses to run prepared statements. Times are
 * computed here (UTC, milliseconds) and passed as parameters.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "util.h"

#define USER_COLS							\
	"id, username, email, first_name, last_name, enabled, "		\
	"email_verified"
#define SQL_USER_ID	"SELECT " USER_COLS " FROM account WHERE id = ?"
#define SQL_USER_LOGIN	"SELECT " USER_COLS " FROM account "		\
	"WHERE username = ? OR email = ? LIMIT 1"
#define SQL_ROLES							\
	"SELECT role_name FROM account_role WHERE account_id = ? "	\
	"ORDER BY role_name"
#define SQL_HASH	"SELECT password_hash FROM credential "		\
	"WHERE account_id = ?"
#define SQL_SET_HASH							\
	"INSERT INTO credential (account_id, password_hash, updated_at) " \
	"VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE "			\
	"password_hash = VALUES(password_hash), "			\
	"updated_at = VALUES(updated_at)"
#define SQL_ROLE_ADD	"INSERT IGNORE INTO role (name, created_at) "	\
	"VALUES (?, ?)"
#define SQL_CLIENT_PUT							\
	"INSERT INTO client (client_id, public_client, grants, "	\
	"redirect_uris, post_logout_uris, roles, updated_at) "		\
	"VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "		\
	"public_client = VALUES(public_client), grants = VALUES(grants), " \
	"redirect_uris = VALUES(redirect_uris), "			\
	"post_logout_uris = VALUES(post_logout_uris), "			\
	"roles = VALUES(roles), updated_at = VALUES(updated_at)"

struct st_rowbuf {
	char	**rb_out;
	size_t	  rb_ncol;
	int	  rb_seen;
};

void
st_time(char out[32], int64_t delta_ms)
{
	struct timespec ts;
	struct tm tm;
	int64_t ms;
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + delta_ms;
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out + 19, 13, ".%03d", (int)(ms % 1000));
}

long long
st_exec(struct db *db, const char *sql, const struct db_val *p, size_t np)
{
	long long n = db_exec(db, sql, p, np, NULL, NULL);

	if (n == -1)
		log_warnx("database: %s (%s)", db_err_str(db_error(db)),
		    db_errmsg(db));
	return n;
}

long long
st_exec_idem(struct db *db, const char *sql, const struct db_val *p,
    size_t np)
{
	long long n = db_exec_idem(db, sql, p, np, NULL, NULL);

	if (n == -1)
		log_warnx("database: %s (%s)", db_err_str(db_error(db)),
		    db_errmsg(db));
	return n;
}

/* Row callback of st_row: copies the first row. */
static int
st_row_cb(void *arg, const struct db_val *cols, size_t ncol)
{
	struct st_rowbuf *rb = arg;
	size_t i;

	if (rb->rb_seen++ > 0)
		return 0;
	for (i = 0; i < rb->rb_ncol && i < ncol; i++)
		rb->rb_out[i] = cols[i].dv_type == DB_T_NULL ? NULL :
		    xstrndup(cols[i].dv_s, cols[i].dv_len);
	return 0;
}

int
st_row(struct db *db, const char *sql, const struct db_val *p, size_t np,
    char **out, size_t ncol)
{
	struct st_rowbuf rb = { out, ncol, 0 };
	long long n;

	memset(out, 0, ncol * sizeof(*out));
	n = db_exec(db, sql, p, np, st_row_cb, &rb);
	if (n == -1) {
		log_warnx("database: %s (%s)", db_err_str(db_error(db)),
		    db_errmsg(db));
		st_row_free(out, ncol);
		return -1;
	}
	return rb.rb_seen > 0 ? 1 : 0;
}

void
st_row_free(char **out, size_t ncol)
{
	size_t i;

	for (i = 0; i < ncol; i++) {
		free(out[i]);
		out[i] = NULL;
	}
}

/* Row callback: appends column 0 to the JSON array <arg>. */
static int
st_roles_cb(void *arg, const struct db_val *cols, size_t ncol)
{
	if (ncol > 0 && cols[0].dv_type == DB_T_STR)
		json_array_append_new(arg, json_stringn(cols[0].dv_s,
		    cols[0].dv_len));
	return 0;
}

/* Fills <u> from the 7 columns of USER_COLS in <c>, then its roles. */
static int
st_user_fill(struct db *db, char **c, struct auth_user *u)
{
	struct db_val p[1];

	snprintf(u->u_id, sizeof(u->u_id), "%s", c[0]);
	u->u_username = c[1];
	u->u_email = c[2];
	u->u_first = c[3];
	u->u_last = c[4];
	u->u_enabled = c[5] != NULL && strcmp(c[5], "0") != 0;
	u->u_email_verified = c[6] != NULL && strcmp(c[6], "0") != 0;
	free(c[0]);
	free(c[5]);
	free(c[6]);
	u->u_roles = json_array();
	p[0] = DB_STR(u->u_id);
	if (db_exec(db, SQL_ROLES, p, 1, st_roles_cb, u->u_roles) == -1) {
		st_user_release(u);
		return -1;
	}
	return 1;
}

int
st_user_by_id(struct db *db, const char *id, struct auth_user *u)
{
	struct db_val p[1] = { DB_STR(id) };
	char *c[7];
	int rc;

	memset(u, 0, sizeof(*u));
	if ((rc = st_row(db, SQL_USER_ID, p, 1, c, 7)) != 1)
		return rc;
	return st_user_fill(db, c, u);
}

int
st_user_by_login(struct db *db, const char *login, struct auth_user *u)
{
	char low[AUTH_NAME_MAX + 1], *c[7];
	struct db_val p[2];
	size_t i;
	int rc;

	memset(u, 0, sizeof(*u));
	if (strlen(login) > AUTH_NAME_MAX)
		return 0;
	for (i = 0; login[i] != '\0'; i++)
		low[i] = (char)tolower((unsigned char)login[i]);
	low[i] = '\0';
	p[0] = DB_STR(low);
	p[1] = DB_STR(low);
	if ((rc = st_row(db, SQL_USER_LOGIN, p, 2, c, 7)) != 1)
		return rc;
	return st_user_fill(db, c, u);
}

void
st_user_release(struct auth_user *u)
{
	free(u->u_username);
	free(u->u_email);
	free(u->u_first);
	free(u->u_last);
	json_decref(u->u_roles);
	memset(u, 0, sizeof(*u));
}

int
st_user_has_role(const struct auth_user *u, const char *role)
{
	size_t i;
	json_t *r;

	json_array_foreach(u->u_roles, i, r)
		if (strcmp(json_string_value(r), role) == 0)
			return 1;
	return 0;
}

int
st_password_hash(struct db *db, const char *id, char **hash)
{
	struct db_val p[1] = { DB_STR(id) };

	return st_row(db, SQL_HASH, p, 1, hash, 1);
}

int
st_set_password_hash(struct db *db, const char *id, const char *hash)
{
	char now[32];
	struct db_val p[3];

	st_time(now, 0);
	p[0] = DB_STR(id);
	p[1] = DB_STR(hash);
	p[2] = DB_STR(now);
	return st_exec_idem(db, SQL_SET_HASH, p, 3) == -1 ? -1 : 0;
}

/* Inserts each role of the space-separated <list>. */
static int
st_roles_put(struct db *db, const char *list, const char *now)
{
	char *dup = xstrdup(list), *w, *save = NULL;
	struct db_val p[2];
	int rc = 0;

	for (w = strtok_r(dup, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		p[0] = DB_STR(w);
		p[1] = DB_STR(now);
		if (st_exec_idem(db, SQL_ROLE_ADD, p, 2) == -1)
			rc = -1;
	}
	free(dup);
	return rc;
}

/*
 * Removes rows no request can use any more: expired login attempts, and
 * codes, refresh tokens and sessions a day past their end (kept that long
 * so that a late replay is still recognised and its family revoked).
 */
static void
st_sweep(struct db *db)
{
	static const char *const sql[] = {
		"DELETE FROM login_attempt WHERE expires_at < ?",
		"DELETE FROM auth_code WHERE expires_at < ?",
		"DELETE FROM refresh_token WHERE idle_expires_at < ?",
		"DELETE FROM sso_session WHERE expires_at < ? OR "
		    "(ended = 1 AND last_seen < ?)",
	};
	char now[32], day[32];
	struct db_val p[2];
	size_t i;

	st_time(now, 0);
	st_time(day, INT64_C(-86400000));
	for (i = 0; i < NITEMS(sql); i++) {
		p[0] = DB_STR(i == 0 ? now : day);
		p[1] = DB_STR(day);
		st_exec_idem(db, sql[i], p, i == 3 ? 2 : 1);
	}
}

int
st_bootstrap(struct db *db, const struct auth_cfg *cfg)
{
	const struct auth_client *cl;
	struct db_val p[7];
	char now[32];
	size_t i;
	int rc;

	st_time(now, 0);
	rc = st_roles_put(db, cfg->ac_roles, now);
	for (i = 0; i < cfg->ac_nclients; i++) {
		cl = &cfg->ac_clients[i];
		p[0] = DB_STR(cl->cl_id);
		p[1] = DB_INT(cl->cl_public);
		p[2] = DB_STR(cl->cl_grants_s);
		p[3] = DB_STR(cl->cl_redirects);
		p[4] = DB_STR(cl->cl_logout_uris);
		p[5] = DB_STR(cl->cl_roles);
		p[6] = DB_STR(now);
		if (st_exec_idem(db, SQL_CLIENT_PUT, p, 7) == -1)
			rc = -1;
	}
	if (rc == 0)
		st_sweep(db);
	return rc;
}

/* --- account actions: sign-outs for password resets and the account page */

#define SQL_SIGNOUT_SESS						\
	"UPDATE sso_session SET ended = 1 WHERE account_id = ? AND "	\
	"ended = 0 AND id <> ?"
#define SQL_SIGNOUT_TOKENS						\
	"UPDATE refresh_token SET revoked = 1 WHERE account_id = ? AND " \
	"revoked = 0 AND (session_id IS NULL OR session_id <> ?)"
#define SQL_SIGNOUT_ONE							\
	"UPDATE sso_session SET ended = 1 WHERE id = ? AND "		\
	"account_id = ? AND ended = 0"
#define SQL_SIGNOUT_ONE_TOKENS						\
	"UPDATE refresh_token SET revoked = 1 WHERE session_id = ? AND " \
	"account_id = ?"
#define SQL_SESSION_ADDR "UPDATE sso_session SET address = ? WHERE id = ?"

long long
st_account_signout(struct db *db, const char *id, const char *keep_sid)
{
	/* No session id is "": with keep_sid NULL, "" keeps nothing. */
	struct db_val p[2] = { DB_STR(id), DB_STR(keep_sid ? keep_sid : "") };
	long long a, b;

	if ((a = st_exec(db, SQL_SIGNOUT_SESS, p, 2)) == -1)
		return -1;
	/* With a session kept, the offline tokens it issued stay too;
	 * without one, every refresh token of the account goes. */
	if (keep_sid == NULL)
		p[1] = DB_STR("");
	if ((b = st_exec(db, SQL_SIGNOUT_TOKENS, p, 2)) == -1)
		return -1;
	return a + b;
}

int
st_session_signout(struct db *db, const char *id, const char *sid)
{
	struct db_val p[2] = { DB_STR(sid), DB_STR(id) };
	long long n;

	if ((n = st_exec(db, SQL_SIGNOUT_ONE, p, 2)) == -1 ||
	    st_exec(db, SQL_SIGNOUT_ONE_TOKENS, p, 2) == -1)
		return -1;
	return n > 0;
}

void
st_session_address(struct db *db, const char *sid, const char *addr)
{
	struct db_val p[2] = { DB_STRN(addr, strnlen(addr, 64)),
	    DB_STR(sid) };

	(void)st_exec(db, SQL_SESSION_ADDR, p, 2);
}
