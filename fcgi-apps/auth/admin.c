/*
 * admin: the admin REST API under /admin/realms/<realm>/ for the other services
 * (docs/contract/auth.md section 9). Every call needs an access token we issued
 * whose realm_access.roles holds the admin role (admin-service by default),
 * i.e. a client-credentials token of a service client; the application roles
 * ADMIN and USER do not open it. Errors are JSON {"error": ..., "errorMessage":
 * ...}; passwords are never logged.
 *
 * Idempotent creation: a caller that sends an Idempotency-Key header with
 * POST /users gets, on a retry with the same key and email, the same 201
 * and Location as the first time (header Idempotent-Replayed: true)
 * instead of a 409. Without a key, or with another key, a taken email or
 * username is 409: email and names are not secrets, so matching on them
 * alone would hand an existing account to a second registration.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "pwrule.h"
#include "util.h"
#include "uuid.h"

#define ADM_KEY_MAX	128
#define ADM_IDS_MAX	1000
#define ADM_DEF_MAX	100	/* Keycloak's default page of users */

#define SQL_ACC_PUT							\
	"INSERT INTO account (id, username, email, first_name, last_name, " \
	"enabled, email_verified, creation_key, created_at) "		\
	"VALUES (?, ?, ?, ?, ?, 1, 0, ?, ?)"
#define SQL_ACC_KEY	"SELECT id, creation_key FROM account "		\
	"WHERE email = ? OR username = ? LIMIT 1"
#define SQL_ROLE_PUT	"INSERT IGNORE INTO account_role (account_id, "	\
	"role_name) VALUES (?, ?)"
#define SQL_ACC_DEL	"DELETE FROM account WHERE id = ?"
#define SQL_ACC_NAMES	"UPDATE account SET first_name = ?, "		\
	"last_name = ?, email = ?, username = ?, enabled = ? WHERE id = ?"
#define SQL_ROLE_DEL	"DELETE FROM account_role WHERE account_id = ? " \
	"AND role_name = ?"
#define SQL_ACC_LIST							\
	"SELECT id, username, email, first_name, last_name, enabled "	\
	"FROM account WHERE ? IS NULL OR username LIKE ? OR "		\
	"email LIKE ? OR first_name LIKE ? OR last_name LIKE ? "	\
	"ORDER BY username LIMIT ? OFFSET ?"
#define SQL_TOK_REVOKE							\
	"UPDATE refresh_token SET revoked = 1 "				\
	"WHERE account_id = ? AND revoked = 0"
#define SQL_SSO_END	"UPDATE sso_session SET ended = 1 "		\
	"WHERE account_id = ? AND ended = 0"
#define SQL_ROLE_USERS							\
	"SELECT a.id, a.username, a.email, a.first_name, a.last_name, "	\
	"a.enabled FROM account a JOIN account_role r ON "		\
	"r.account_id = a.id WHERE r.role_name = ? ORDER BY a.username"

/* Sends {"error": <err>, "errorMessage": <msg>}. */
static void
adm_error(struct app_req *req, int status, const char *err, const char *msg)
{
	app_send_json(req, status, json_pack("{s:s, s:s}", "error", err,
	    "errorMessage", msg));
}

int
adm_guard(struct app_req *req, const char *role, struct adm_actor *act)
{
	struct auth_svc *as = req->r_ctx;
	const char *azp;
	json_t *c;
	int ok;

	if (!oidc_realm_ok(req) || (c = oidc_bearer(req)) == NULL)
		return 0;
	ok = jwt_has_role(c, as->as_cfg->ac_admin_role) ||
	    (role != NULL && jwt_has_role(c, role));
	if (ok && act != NULL)
		adt_actor_token(act, req, c);
	if (!ok) {
		azp = json_string_value(json_object_get(c, "azp"));
		log_warnx("admin API: %s %s by a token of %s without role %s "
		    "refused", req->r_method, req->r_path, azp != NULL ? azp :
		    "-", role != NULL ? role : as->as_cfg->ac_admin_role);
		app_send_json(req, 403, json_pack("{s:s, s:s, s:s}", "error",
		    "forbidden", "errorMessage", "This operation needs a "
		    "token with the role named in \"role\"",
		    "role", role != NULL ? role : as->as_cfg->ac_admin_role));
	}
	json_decref(c);
	return ok;
}

/* Lowercases <s> (ASCII) in place. */
static void
adm_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* A plausible email: one '@', no spaces or controls, short enough. */
static int
adm_email_ok(const char *e)
{
	const char *at = strchr(e, '@');
	size_t i;

	if (at == NULL || at == e || at[1] == '\0' || strchr(at + 1, '@') ||
	    strlen(e) > AUTH_NAME_MAX)
		return 0;
	for (i = 0; e[i] != '\0'; i++)
		if ((unsigned char)e[i] <= ' ' || e[i] == 0x7f)
			return 0;
	return 1;
}

/* The password of a creation body: "password", or the first
 * credentials[] entry of type password. NULL when absent. */
static const char *
adm_body_password(json_t *in)
{
	json_t *cr;
	size_t i;

	if (json_is_string(json_object_get(in, "password")))
		return json_string_value(json_object_get(in, "password"));
	json_array_foreach(json_object_get(in, "credentials"), i, cr)
		if (json_is_string(json_object_get(cr, "value")))
			return json_string_value(json_object_get(cr, "value"));
	return NULL;
}

/* Collects the roles of a creation body ("role" or "realmRoles") plus
 * the default roles into a space-separated heap list, or NULL (<why>). */
static char *
adm_body_roles(const struct auth_cfg *cfg, json_t *in, char *why,
    size_t len)
{
	json_t *arr = json_object_get(in, "realmRoles"), *r;
	struct buf b = BUF_INIT;
	const char *name;
	size_t i;

	buf_printf(&b, "%s", cfg->ac_default_roles);
	if (json_is_string(json_object_get(in, "role")))
		arr = json_pack("[O]", json_object_get(in, "role"));
	else
		json_incref(arr);
	json_array_foreach(arr, i, r) {
		name = json_string_value(r);
		if (name == NULL || strchr(name, ' ') != NULL ||
		    !acfg_list_has(cfg->ac_roles, name) ||
		    strcmp(name, cfg->ac_admin_role) == 0) {
			snprintf(why, len, "Unknown or forbidden role");
			json_decref(arr);
			buf_release(&b);
			return NULL;
		}
		buf_printf(&b, " %s", name);
	}
	json_decref(arr);
	buf_append(&b, "", 1);
	return b.ptr;
}

/* Inserts account <id> with its roles and password hash (may be NULL)
 * in one transaction. 0, or -1 with the db error left in <db>. */
static int
adm_insert(struct db *db, const struct db_val *acc, const char *roles,
    const char *hash)
{
	char *dup = xstrdup(roles), *w, *save = NULL;
	struct db_val p[2];
	int rc = -1;

	if (db_begin(db) == -1)
		goto done;
	if (db_exec(db, SQL_ACC_PUT, acc, 7, NULL, NULL) == -1)
		goto done;
	p[0] = acc[0];
	for (w = strtok_r(dup, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		p[1] = DB_STR(w);
		if (db_exec(db, SQL_ROLE_PUT, p, 2, NULL, NULL) == -1)
			goto done;
	}
	if (hash != NULL && st_set_password_hash(db, acc[0].dv_s, hash) == -1)
		goto done;
	rc = db_commit(db);
done:
	if (rc == -1)
		db_rollback(db);
	free(dup);
	return rc;
}

/* After a duplicate: 200 with <id> when <key> made the existing account,
 * else 409. */
static int
adm_replay(struct db *db, const char *email, const char *user,
    const char *key, char id[37])
{
	struct db_val p[2] = { DB_STR(email), DB_STR(user) };
	char *c[2];
	int rc = 409;

	if (st_row(db, SQL_ACC_KEY, p, 2, c, 2) == 1 && key != NULL &&
	    c[1] != NULL && strcmp(c[1], key) == 0) {
		snprintf(id, 37, "%s", c[0]);
		rc = 200;
	}
	st_row_free(c, 2);
	return rc;
}

/* Hashes the creation password of <in> if any. 0, or 400/500 (<why>). */
static int
adm_create_hash(const struct auth_cfg *cfg, json_t *in, char **hash,
    char *why, size_t len)
{
	const char *pw = adm_body_password(in);
	enum pwrule_err e;
	int busy;

	*hash = NULL;
	if (pw == NULL)
		return 0;
	if ((e = pwrule_check(pw)) != PWRULE_OK) {
		snprintf(why, len, "%s", pwrule_err_str(e));
		return 400;
	}
	if ((*hash = thr_hash_password(cfg, pw, &busy)) == NULL) {
		snprintf(why, len, busy ? "Too many password hashes in "
		    "progress; try again in a moment" :
		    "Password hashing failed");
		return busy ? 429 : 500;
	}
	return 0;
}

/* Parameters 0-4 of SQL_ACC_PUT: id, username, email and the names of
 * <in> (NULL when absent or not strings). */
static void
adm_account_row(struct db_val *acc, const char *id, const char *user,
    const char *email, json_t *in)
{
	const char *first = json_string_value(json_object_get(in, "firstName"));
	const char *last = json_string_value(json_object_get(in, "lastName"));

	acc[0] = DB_STR(id);
	acc[1] = DB_STR(user);
	acc[2] = DB_STR(email);
	acc[3] = first != NULL ? DB_STR(first) : DB_NULLV;
	acc[4] = last != NULL ? DB_STR(last) : DB_NULLV;
}

/*
 * The id of a new account: the "id" of <in> when the caller chose one (the
 * create-user command, for accounts with known ids such as the demo
 * ones), else a fresh v4 UUID. 0, or -1 when a given id is not a UUID.
 */
static int
adm_new_id(const json_t *in, char id[37])
{
	const char *given = json_string_value(json_object_get(in, "id"));

	if (given == NULL)
		return uuid_v4(id);
	return uuid_parse(given, strlen(given), id);
}

int
adm_create_user(struct db *db, const struct auth_cfg *cfg, json_t *in,
    const char *key, char id[37], char *why, size_t whylen)
{
	const char *e = json_string_value(json_object_get(in, "email"));
	const char *un = json_string_value(json_object_get(in, "username"));
	char email[AUTH_NAME_MAX + 1], user[AUTH_NAME_MAX + 1], now[32];
	char *roles = NULL, *hash = NULL;
	struct db_val acc[7];
	int rc;

	snprintf(why, whylen, "Invalid email");
	if (e == NULL || !adm_email_ok(e) || (un != NULL &&
	    (strlen(un) == 0 || strlen(un) > AUTH_NAME_MAX)))
		return 400;
	snprintf(email, sizeof(email), "%s", e);
	snprintf(user, sizeof(user), "%s", un != NULL ? un : e);
	adm_lower(email);
	adm_lower(user);
	if ((roles = adm_body_roles(cfg, in, why, whylen)) == NULL)
		return 400;
	if ((rc = adm_create_hash(cfg, in, &hash, why, whylen)) != 0)
		goto done;
	st_time(now, 0);
	rc = 500;
	if (adm_new_id(in, id) == -1)
		goto done;
	adm_account_row(acc, id, user, email, in);
	acc[5] = key != NULL ? DB_STR(key) : DB_NULLV;
	acc[6] = DB_STR(now);
	if (adm_insert(db, acc, roles, hash) == 0)
		rc = 201;
	else if (db_error(db) == DB_E_DUP)
		rc = adm_replay(db, email, user, key, id);
	else if (db_error(db) == DB_E_DATA)
		rc = 400;
	snprintf(why, whylen, "%s", rc == 409 ? "User exists with same "
	    "username or email" : rc == 400 ? "Value too long" :
	    "Database error");
done:
	free(roles);
	free(hash);
	return rc;
}

/* The URL of account <id>: the issuer's origin, then the admin path. */
static char *
adm_location(const struct auth_cfg *cfg, const char *id)
{
	const char *iss = cfg->ac_issuer, *r = strstr(iss, "/realms/");
	int n = r != NULL ? (int)(r - iss) : (int)strlen(iss);

	return xasprintf("%.*s/admin/realms/%s/users/%s", n, iss,
	    cfg->ac_realm, id);
}

/* Records the creation of account <id> from the body <in>: its names,
 * email and roles, and whether a password was set (never the password). */
void
adm_created(struct db *db, const struct adm_actor *act, const char *id,
    json_t *in)
{
	json_t *d = json_object(), *v;
	const char *keys[] = { "email", "username", "firstName", "lastName",
	    "role", "realmRoles" };
	size_t i;

	for (i = 0; i < NITEMS(keys); i++)
		if ((v = json_object_get(in, keys[i])) != NULL)
			json_object_set(d, keys[i], v);
	json_object_set_new(d, "passwordSet", json_boolean(
	    adm_body_password(in) != NULL));
	adt_record(db, act, "USER_CREATE", "CREATE", "USER", id, d);
}

void
adm_create(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const char *key = app_param(req, "HTTP_IDEMPOTENCY_KEY");
	char id[37], why[256], *loc;
	struct adm_actor act;
	json_t *in;
	int rc;

	if (!adm_guard(req, as->as_cfg->ac_op_manage, &act) ||
	    (in = app_json_body(req)) == NULL)
		return;
	if (key != NULL && (strlen(key) == 0 || strlen(key) > ADM_KEY_MAX)) {
		adm_error(req, 400, "invalid_request", "Idempotency-Key must "
		    "be 1 to 128 characters");
		json_decref(in);
		return;
	}
	/* Ids are the server's over the API (only the command may choose). */
	json_object_del(in, "id");
	rc = adm_create_user(as->as_db, as->as_cfg, in, key, id, why,
	    sizeof(why));
	if (rc == 201)
		adm_created(as->as_db, &act, id, in);
	json_decref(in);
	if (rc != 201 && rc != 200) {
		adm_error(req, rc, rc == 409 ? "conflict" : "invalid_request",
		    why);
		return;
	}
	if (rc == 201 && act_verify_new(as, id) == -1)
		log_warnx("admin API: user %s: verification mail not queued",
		    id);
	loc = adm_location(as->as_cfg, id);
	app_header(req, "Location", loc);
	if (rc == 200)
		app_header(req, "Idempotent-Replayed", "true");
	log_info("admin API: user %s %s", id, rc == 201 ? "created" :
	    "creation replayed");
	app_send_json(req, 201, json_pack("{s:s}", "id", id));
	free(loc);
}

json_t *
adm_user_json(const struct auth_user *u)
{
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b, s:b, s:O, s:O}",
	    "id", u->u_id, "username", u->u_username, "email", u->u_email,
	    "firstName", u->u_first, "lastName", u->u_last, "enabled",
	    u->u_enabled, "emailVerified", u->u_email_verified, "roles",
	    u->u_roles, "realmRoles", u->u_roles);
}

/* Reads capture {id} as a UUID into <id>; 1, or 0 after responding 404. */
static int
adm_cap_id(struct app_req *req, char id[37])
{
	const char *s = app_cap(req, "id");

	if (s != NULL && uuid_parse(s, strlen(s), id) == 0)
		return 1;
	adm_error(req, 404, "not_found", "User not found");
	return 0;
}

/* Loads account {id}; 1, or 0 after responding 404/503. */
static int
adm_load(struct app_req *req, struct auth_user *u)
{
	struct auth_svc *as = req->r_ctx;
	char id[37];
	int rc;

	if (!adm_cap_id(req, id))
		return 0;
	if ((rc = st_user_by_id(as->as_db, id, u)) == 1)
		return 1;
	if (rc == -1)
		adm_error(req, 503, "unavailable", "Database unavailable");
	else
		adm_error(req, 404, "not_found", "User not found");
	return 0;
}

/* Answers the status <rc> of an admin operation (<why> for 400/409). */
static void
adm_answer(struct app_req *req, int rc, const char *why)
{
	if (rc >= 200 && rc < 300)
		app_send_raw(req, rc, "application/json", "", 0);
	else if (rc == 404)
		adm_error(req, 404, "not_found", "User not found");
	else if (rc == 400)
		adm_error(req, 400, "invalid_request", why);
	else if (rc == 409)
		adm_error(req, 409, "conflict", why);
	else
		adm_error(req, 503, "unavailable", "Database unavailable");
}

void
adm_get(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	struct auth_user u;

	if (!adm_guard(req, as->as_cfg->ac_op_view, NULL) || !adm_load(req, &u))
		return;
	app_send_json(req, 200, adm_user_json(&u));
	st_user_release(&u);
}

/* The string member <key> of <in>, else <def>; -1 when present but not
 * a string or too long. */
static int
adm_str(json_t *in, const char *key, const char *def, const char **out)
{
	json_t *v = json_object_get(in, key);

	*out = def;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || strlen(json_string_value(v)) >
	    AUTH_NAME_MAX)
		return -1;
	*out = json_string_value(v);
	return 0;
}

/* Adds {"from": <old>, "to": <new>} under <key> of <ch> when they differ. */
static void
adm_change(json_t *ch, const char *key, const char *old, const char *new)
{
	if ((old == NULL && new == NULL) || (old != NULL && new != NULL &&
	    strcmp(old, new) == 0))
		return;
	json_object_set_new(ch, key, json_pack("{s:s?, s:s?}", "from", old,
	    "to", new));
}

/* Commits when <rc> is 2xx, else rolls back; a failed commit is 503. */
static int
adm_finish(struct db *db, int rc)
{
	if (rc >= 200 && rc < 300) {
		if (db_commit(db) == 0)
			return rc;
		rc = 503;
	}
	db_rollback(db);
	return rc;
}

long long
adm_end_sessions(struct db *db, const char *id)
{
	struct db_val p[1] = { DB_STR(id) };
	long long n;

	if ((n = st_exec(db, SQL_TOK_REVOKE, p, 1)) == -1 ||
	    st_exec(db, SQL_SSO_END, p, 1) == -1)
		return -1;
	return n;
}

/* The UPDATE of adm_op_update() and its audit event, in a transaction. */
static int
adm_update_tx(struct db *db, const struct adm_actor *act,
    const struct auth_user *u, const struct db_val *p, json_t *ch)
{
	int enabled = (int)p[4].dv_i;
	long long n = 0;
	const char *action;
	json_t *d;

	if (db_begin(db) == -1)
		return 503;
	if (db_exec(db, SQL_ACC_NAMES, p, 6, NULL, NULL) == -1)
		return adm_finish(db, db_error(db) == DB_E_DUP ? 409 :
		    db_error(db) == DB_E_DATA ? 400 : 503);
	/* A disabled account loses its sessions and refresh tokens. */
	if (u->u_enabled && !enabled && (n = adm_end_sessions(db, u->u_id)) ==
	    -1)
		return adm_finish(db, 503);
	action = enabled == u->u_enabled ? "USER_UPDATE" : enabled ?
	    "USER_ENABLE" : "USER_DISABLE";
	d = json_pack("{s:O}", "changes", ch);
	if (n > 0)
		json_object_set_new(d, "refreshTokensRevoked", json_integer(n));
	if (adt_record(db, act, action, "UPDATE", "USER", u->u_id, d) == -1)
		return adm_finish(db, 503);
	return adm_finish(db, 204);
}

int
adm_op_update(struct db *db, const struct auth_cfg *cfg,
    const struct adm_actor *act, const char *id, json_t *in, char *why,
    size_t whylen)
{
	const char *first, *last, *email;
	char low[AUTH_NAME_MAX + 1];
	struct auth_user u;
	struct db_val p[6];
	json_t *en = json_object_get(in, "enabled"), *ch = NULL;
	int rc, enabled;

	(void)cfg;
	if ((rc = st_user_by_id(db, id, &u)) != 1)
		return rc == 0 ? 404 : 503;
	rc = 400;
	snprintf(why, whylen, "Invalid firstName, lastName, email or "
	    "enabled");
	if (adm_str(in, "firstName", u.u_first, &first) == -1 ||
	    adm_str(in, "lastName", u.u_last, &last) == -1 ||
	    adm_str(in, "email", u.u_email, &email) == -1 ||
	    (email != NULL && !adm_email_ok(email)) ||
	    (en != NULL && !json_is_boolean(en)))
		goto done;
	snprintf(low, sizeof(low), "%s", email != NULL ? email : "");
	adm_lower(low);
	enabled = en != NULL ? json_is_true(en) : u.u_enabled;
	p[0] = first != NULL ? DB_STR(first) : DB_NULLV;
	p[1] = last != NULL ? DB_STR(last) : DB_NULLV;
	p[2] = email != NULL ? DB_STR(low) : DB_NULLV;
	/* The username follows the email when it was the email. */
	p[3] = u.u_email != NULL && email != NULL &&
	    strcmp(u.u_username, u.u_email) == 0 ? DB_STR(low) :
	    DB_STR(u.u_username);
	p[4] = DB_INT(enabled);
	p[5] = DB_STR(u.u_id);
	ch = json_object();
	adm_change(ch, "firstName", u.u_first, first);
	adm_change(ch, "lastName", u.u_last, last);
	adm_change(ch, "email", u.u_email, email != NULL ? low : NULL);
	if (enabled != u.u_enabled)
		json_object_set_new(ch, "enabled", json_pack("{s:b, s:b}",
		    "from", u.u_enabled, "to", enabled));
	rc = adm_update_tx(db, act, &u, p, ch);
	snprintf(why, whylen, "%s", rc == 409 ? "User exists with same "
	    "email" : "Value too long");
done:
	json_decref(ch);
	st_user_release(&u);
	return rc;
}

void
adm_update(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	struct adm_actor act;
	char id[37], why[256];
	json_t *in;

	if (!adm_guard(req, as->as_cfg->ac_op_manage, &act) ||
	    !adm_cap_id(req, id) || (in = app_json_body(req)) == NULL)
		return;
	adm_answer(req, adm_op_update(as->as_db, as->as_cfg, &act, id, in,
	    why, sizeof(why)), why);
	json_decref(in);
}

int
adm_op_delete(struct db *db, const struct adm_actor *act, const char *id)
{
	struct auth_user u;
	struct db_val p[1];
	json_t *d;
	int rc;

	if ((rc = st_user_by_id(db, id, &u)) != 1)
		return rc == 0 ? 404 : 503;
	p[0] = DB_STR(u.u_id);
	d = json_pack("{s:s, s:s?, s:O}", "username", u.u_username, "email",
	    u.u_email, "realmRoles", u.u_roles);
	if (db_begin(db) == -1)
		rc = 503;
	else if (st_exec(db, SQL_ACC_DEL, p, 1) == -1 ||
	    adt_record(db, act, "USER_DELETE", "DELETE", "USER", u.u_id,
	    json_incref(d)) == -1)
		rc = adm_finish(db, 503);
	else
		rc = adm_finish(db, 204);
	if (rc == 204)
		log_info("admin: user %s deleted", u.u_id);
	json_decref(d);
	st_user_release(&u);
	return rc;
}

void
adm_delete(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	struct adm_actor act;
	char id[37];

	if (!adm_guard(req, as->as_cfg->ac_op_delete, &act) ||
	    !adm_cap_id(req, id))
		return;
	adm_answer(req, adm_op_delete(as->as_db, &act, id), NULL);
}

int
adm_op_password(struct db *db, const struct auth_cfg *cfg,
    const struct adm_actor *act, const char *id, const char *pw,
    const char *keep, char *why, size_t whylen)
{
	struct auth_user u;
	enum pwrule_err e;
	char *hash = NULL;
	int rc, busy = 0;

	if ((rc = st_user_by_id(db, id, &u)) != 1)
		return rc == 0 ? 404 : 503;
	if ((e = pwrule_check(pw)) != PWRULE_OK) {
		snprintf(why, whylen, "%s", pwrule_err_str(e));
		rc = 400;
	} else if ((hash = thr_hash_password(cfg, pw, &busy)) == NULL) {
		snprintf(why, whylen, "%s", busy ? "Too many password hashes "
		    "in progress; try again in a moment" : "Password not "
		    "stored");
		rc = busy ? 429 : 503;
	} else if (db_begin(db) == -1)
		rc = 503;
	else if (st_set_password_hash(db, u.u_id, hash) == -1 ||
	    pwc_revoke(db, u.u_id, keep) == -1 ||
	    adt_record(db, act, "USER_RESET_PASSWORD", "ACTION", "USER",
	    u.u_id, json_pack("{s:b, s:b}", "temporary", 0, "keptSession",
	    keep[0] != '\0')) == -1)
		rc = adm_finish(db, 503);
	else
		rc = adm_finish(db, 204);
	if (rc == 204)
		log_info("admin: password of user %s set", u.u_id);
	if (hash != NULL)
		explicit_bzero(hash, strlen(hash));
	free(hash);
	st_user_release(&u);
	return rc;
}

void
adm_password(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	struct adm_actor act;
	char id[37], why[256];
	const char *pw;
	struct auth_user u;
	char keep[37];
	json_t *in;
	int rc;

	if (!adm_guard(req, as->as_cfg->ac_op_reset, &act) ||
	    !adm_cap_id(req, id) || (in = app_json_body(req)) == NULL)
		return;
	pw = json_string_value(json_object_get(in, "value"));
	if (!adm_load(req, &u))
		goto done;
	rc = pwc_authorize(req, in, &u, keep);
	st_user_release(&u);
	if (rc == -1)
		goto done;	/* answered */
	rc = adm_op_password(as->as_db, as->as_cfg, &act, id, pw, keep, why,
	    sizeof(why));
	if (rc == 400)
		adm_error(req, 400, "invalid_password", why);
	else if (rc == 429) {
		app_header(req, "Retry-After", "1");
		adm_error(req, 429, "busy", why);
	} else
		adm_answer(req, rc, why);
done:
	json_decref(in);
}

int
adm_op_logout(struct db *db, const struct adm_actor *act, const char *id)
{
	struct auth_user u;
	long long n;
	int rc;

	if ((rc = st_user_by_id(db, id, &u)) != 1)
		return rc == 0 ? 404 : 503;
	if (db_begin(db) == -1)
		rc = 503;
	else if ((n = adm_end_sessions(db, u.u_id)) == -1 ||
	    adt_record(db, act, "USER_LOGOUT", "ACTION", "USER", u.u_id,
	    json_pack("{s:I}", "refreshTokensRevoked", (json_int_t)n)) == -1)
		rc = adm_finish(db, 503);
	else
		rc = adm_finish(db, 204);
	st_user_release(&u);
	return rc;
}

void
adm_logout(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	struct adm_actor act;
	char id[37];

	if (!adm_guard(req, as->as_cfg->ac_op_sessions, &act) ||
	    !adm_cap_id(req, id))
		return;
	adm_answer(req, adm_op_logout(as->as_db, &act, id), NULL);
}

/* Whether role <name> may be granted or removed: a realm role; over
 * the API (<api>) neither the admin role nor an operation role. */
static int
adm_role_ok(const struct auth_cfg *cfg, const char *name, int api)
{
	const char *ops[] = { cfg->ac_admin_role, cfg->ac_op_view,
	    cfg->ac_op_manage, cfg->ac_op_reset, cfg->ac_op_delete,
	    cfg->ac_op_sessions, cfg->ac_op_events };
	size_t i;

	if (name == NULL || strchr(name, ' ') != NULL ||
	    !acfg_list_has(cfg->ac_roles, name))
		return 0;
	for (i = 0; api && i < NITEMS(ops); i++)
		if (strcmp(name, ops[i]) == 0)
			return 0;
	return 1;
}

int
adm_op_roles(struct db *db, const struct auth_cfg *cfg,
    const struct adm_actor *act, const char *id, json_t *names, int add,
    int api, char *why, size_t whylen)
{
	struct auth_user u;
	struct db_val p[2];
	json_t *r;
	size_t i;
	int rc;

	json_array_foreach(names, i, r)
		if (!adm_role_ok(cfg, json_string_value(r), api)) {
			snprintf(why, whylen, "Unknown or forbidden role %s",
			    json_is_string(r) ? json_string_value(r) : "");
			return 400;
		}
	if (!json_is_array(names) || json_array_size(names) == 0) {
		snprintf(why, whylen, "No roles given");
		return 400;
	}
	if ((rc = st_user_by_id(db, id, &u)) != 1)
		return rc == 0 ? 404 : 503;
	if (db_begin(db) == -1) {
		st_user_release(&u);
		return 503;
	}
	p[0] = DB_STR(u.u_id);
	rc = 204;
	json_array_foreach(names, i, r) {
		p[1] = DB_STR(json_string_value(r));
		if (st_exec(db, add ? SQL_ROLE_PUT : SQL_ROLE_DEL, p, 2) ==
		    -1) {
			rc = 503;
			break;
		}
	}
	if (rc == 204 && adt_record(db, act, add ? "ROLE_GRANT" :
	    "ROLE_REVOKE", "UPDATE", "USER", u.u_id, json_pack("{s:O, s:O}",
	    "realmRoles", names, "before", u.u_roles)) == -1)
		rc = 503;
	st_user_release(&u);
	return adm_finish(db, rc);
}

/* GET /users/{id}/role-mappings/realm: Keycloak role representations. */
void
adm_roles_get(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	struct auth_user u;
	json_t *out, *r;
	size_t i;

	if (!adm_guard(req, as->as_cfg->ac_op_view, NULL) || !adm_load(req, &u))
		return;
	out = json_array();
	json_array_foreach(u.u_roles, i, r)
		json_array_append_new(out, json_pack("{s:O, s:O, s:b, s:b, "
		    "s:s}", "id", r, "name", r, "composite", 0, "clientRole", 0,
		    "containerId", as->as_cfg->ac_realm));
	st_user_release(&u);
	app_send_json(req, 200, out);
}

/* POST and DELETE /users/{id}/role-mappings/realm: the body is an array
 * of role representations ({"name": ...}) or of names. */
static void
adm_roles_change(struct app_req *req, int add)
{
	struct auth_svc *as = req->r_ctx;
	struct adm_actor act;
	char id[37], why[256];
	json_t *in, *names, *r;
	size_t i;

	if (!adm_guard(req, as->as_cfg->ac_op_manage, &act) ||
	    !adm_cap_id(req, id) || app_read_body(req) == -1)
		return;
	/* An array, which app_json_body() does not take. */
	if ((in = json_loadb(req->r_body != NULL ? req->r_body : "",
	    req->r_body_len, 0, NULL)) == NULL) {
		adm_error(req, 400, "invalid_request", "Body must be an array "
		    "of roles");
		return;
	}
	names = json_array();
	json_array_foreach(in, i, r)
		json_array_append(names, json_is_object(r) ?
		    json_object_get(r, "name") : r);
	if (!json_is_array(in) || json_array_size(names) !=
	    json_array_size(in))
		adm_error(req, 400, "invalid_request", "Body must be an array "
		    "of roles");
	else
		adm_answer(req, adm_op_roles(as->as_db, as->as_cfg, &act, id,
		    names, add, 1, why, sizeof(why)), why);
	json_decref(names);
	json_decref(in);
}

void
adm_roles_add(struct app_req *req)
{
	adm_roles_change(req, 1);
}

void
adm_roles_del(struct app_req *req)
{
	adm_roles_change(req, 0);
}

/* Row callback: appends a brief representation to the array <arg>. */
static int
adm_brief_cb(void *arg, const struct db_val *c, size_t ncol)
{
	if (ncol < 6)
		return -1;
	json_array_append_new(arg, json_pack("{s:s, s:s, s:s?, s:s?, s:s?, "
	    "s:b}", "id", c[0].dv_s, "username", c[1].dv_s, "email",
	    c[2].dv_s, "firstName", c[3].dv_s, "lastName", c[4].dv_s,
	    "enabled", c[5].dv_s != NULL && strcmp(c[5].dv_s, "0") != 0));
	return 0;
}

int
adm_op_list(struct db *db, const char *search, long long first,
    long long max, json_t **out)
{
	struct buf b = BUF_INIT;
	struct db_val p[7];
	const char *s;
	int rc;

	if (search != NULL) {
		buf_append(&b, "%", 1);
		for (s = search; *s != '\0'; s++) {
			if (*s == '%' || *s == '_' || *s == '\\')
				buf_append(&b, "\\", 1);
			buf_append(&b, s, 1);
		}
		buf_append(&b, "%", 2);
	}
	p[0] = p[1] = p[2] = p[3] = p[4] = search != NULL ? DB_STR(b.ptr) :
	    DB_NULLV;
	p[5] = DB_INT(max);
	p[6] = DB_INT(first);
	*out = json_array();
	rc = db_exec(db, SQL_ACC_LIST, p, 7, adm_brief_cb, *out) == -1 ? -1 :
	    0;
	if (rc == -1) {
		json_decref(*out);
		*out = NULL;
	}
	buf_release(&b);
	return rc;
}

/* GET /users?search=&first=&max= (Keycloak's user search). */
void
adm_list(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	char search[AUTH_NAME_MAX + 1];
	long long first, max;
	json_t *out;
	int rs;

	if (!adm_guard(req, as->as_cfg->ac_op_view, NULL))
		return;
	rs = app_query_get(req->r_query, "search", search, sizeof(search));
	if (rs == -1 || app_query_int(req, "first", 0, &first) == -1 ||
	    first < 0 || app_query_int(req, "max", ADM_DEF_MAX, &max) == -1 ||
	    max < 0) {
		adm_error(req, 400, "invalid_request", "Bad search, first or "
		    "max");
		return;
	}
	if (max > as->as_cfg->ac_adm_max_page)
		max = as->as_cfg->ac_adm_max_page;
	/* Keycloak's search "*" means everyone. */
	if (adm_op_list(as->as_db, rs == 1 && strcmp(search, "*") != 0 &&
	    search[0] != '\0' ? search : NULL, first, max, &out) == -1) {
		adm_error(req, 503, "unavailable", "Database unavailable");
		return;
	}
	app_send_json(req, 200, out);
}

void
adm_role_users(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const char *role = app_cap(req, "role");
	struct db_val p[1];
	json_t *out;

	if (!adm_guard(req, as->as_cfg->ac_op_view, NULL))
		return;
	if (strchr(role, ' ') != NULL || !acfg_list_has(as->as_cfg->ac_roles,
	    role)) {
		adm_error(req, 404, "not_found", "Could not find role");
		return;
	}
	p[0] = DB_STR(role);
	out = json_array();
	if (db_exec(as->as_db, SQL_ROLE_USERS, p, 1, adm_brief_cb, out) == -1) {
		json_decref(out);
		adm_error(req, 503, "unavailable", "Database unavailable");
		return;
	}
	app_send_json(req, 200, out);
}

void
adm_by_ids(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	struct auth_user u;
	json_t *in, *ids, *v, *out;
	char id[37];
	size_t i;

	if (!adm_guard(req, as->as_cfg->ac_op_view, NULL) ||
	    (in = app_json_body(req)) == NULL)
		return;
	ids = json_object_get(in, "ids");
	if (!json_is_array(ids) || json_array_size(ids) > ADM_IDS_MAX) {
		adm_error(req, 400, "invalid_request", "Body must be "
		    "{\"ids\": [...]} with at most 1000 ids");
		json_decref(in);
		return;
	}
	out = json_array();
	json_array_foreach(ids, i, v) {
		if (!json_is_string(v) || uuid_parse(json_string_value(v),
		    json_string_length(v), id) == -1)
			continue;
		if (st_user_by_id(as->as_db, id, &u) == 1) {
			json_array_append_new(out, adm_user_json(&u));
			st_user_release(&u);
		}
	}
	json_decref(in);
	app_send_json(req, 200, out);
}
