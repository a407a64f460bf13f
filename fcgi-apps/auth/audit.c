/*
 * audit: the audit trail of elp-auth's admin actions, Keycloak's "admin
 * events" in a looser shape. Every change made through the admin API or
 * the admin commands is one row of admin_event (migration 0004) naming
 * the actor (client id of a service account, sub of a user token, or
 * "cli:<unix user>"), the time, the gateway's request id, the action, the
 * target and what changed as JSON. Passwords and secrets are never part
 * of it: a password change is recorded as the fact that it happened.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "util.h"

#define ADT_DEF_MAX	100

#define SQL_ADT_PUT							\
	"INSERT INTO admin_event (time, actor, actor_type, client_id, "	\
	"user_id, address, request_id, action, operation, resource, "	\
	"target, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define SQL_LOGIN_PUT							\
	"INSERT INTO login_event (time, type, client_id, user_id, "	\
	"username, address, request_id, error) "			\
	"VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
#define SQL_LOGIN_LIST							\
	"SELECT id, CAST(UNIX_TIMESTAMP(time) * 1000 AS SIGNED), type, " \
	"client_id, user_id, username, address, request_id, error "	\
	"FROM login_event WHERE (? IS NULL OR user_id = ?) AND "	\
	"(? IS NULL OR type = ?) ORDER BY id DESC LIMIT ? OFFSET ?"
#define SQL_ADT_LIST							\
	"SELECT id, CAST(UNIX_TIMESTAMP(time) * 1000 AS SIGNED), actor, " \
	"actor_type, client_id, user_id, address, request_id, action, "	\
	"operation, resource, target, details FROM admin_event "	\
	"WHERE (? IS NULL OR actor = ?) AND (? IS NULL OR target = ?) "	\
	"ORDER BY id DESC LIMIT ? OFFSET ?"

/* Copies <s> (may be NULL) into <out>. */
static void
adt_copy(char *out, size_t len, const char *s)
{
	snprintf(out, len, "%s", s != NULL ? s : "");
}

void
adt_actor_token(struct adm_actor *a, struct app_req *req, json_t *claims)
{
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	const char *azp = json_string_value(json_object_get(claims, "azp"));
	const char *un = json_string_value(json_object_get(claims,
	    "preferred_username"));

	memset(a, 0, sizeof(*a));
	adt_copy(a->aa_client, sizeof(a->aa_client), azp);
	adt_copy(a->aa_user, sizeof(a->aa_user), sub);
	adt_copy(a->aa_addr, sizeof(a->aa_addr), web_addr(req));
	if (req->r_reqid != NULL && strcmp(req->r_reqid, "-") != 0)
		adt_copy(a->aa_reqid, sizeof(a->aa_reqid), req->r_reqid);
	/* A client-credentials token: preferred_username names the client. */
	if (un != NULL && azp != NULL && strncmp(un, "service-account-", 16)
	    == 0 && strcmp(un + 16, azp) == 0) {
		adt_copy(a->aa_type, sizeof(a->aa_type), "client");
		adt_copy(a->aa_actor, sizeof(a->aa_actor), azp);
	} else {
		adt_copy(a->aa_type, sizeof(a->aa_type), "user");
		adt_copy(a->aa_actor, sizeof(a->aa_actor), sub);
	}
}

void
adt_actor_cli(struct adm_actor *a)
{
	struct passwd *pw = getpwuid(getuid());
	const char *env = getenv("ELP_AUDIT_USER");
	char name[64];

	memset(a, 0, sizeof(*a));
	/* A wrapper that changed user (scripts/auth as root) names the
	 * administrator who ran it. */
	if (env != NULL && env[0] != '\0' && strlen(env) < sizeof(name))
		adt_copy(name, sizeof(name), env);
	else if (pw != NULL)
		adt_copy(name, sizeof(name), pw->pw_name);
	else
		snprintf(name, sizeof(name), "%lu", (unsigned long)getuid());
	snprintf(a->aa_actor, sizeof(a->aa_actor), "cli:%s", name);
	adt_copy(a->aa_type, sizeof(a->aa_type), "cli");
}

/* <s> as a parameter; "" is NULL. */
static struct db_val
adt_val(const char *s)
{
	return s != NULL && s[0] != '\0' ? DB_STR(s) : DB_NULLV;
}

int
adt_record(struct db *db, const struct adm_actor *a, const char *action,
    const char *op, const char *resource, const char *target,
    json_t *details)
{
	char now[32], *js = NULL;
	struct db_val p[12];
	int rc;

	if (details != NULL)
		js = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
	st_time(now, 0);
	p[0] = DB_STR(now);
	p[1] = DB_STR(a->aa_actor);
	p[2] = DB_STR(a->aa_type);
	p[3] = adt_val(a->aa_client);
	p[4] = adt_val(a->aa_user);
	p[5] = adt_val(a->aa_addr);
	p[6] = adt_val(a->aa_reqid);
	p[7] = DB_STR(action);
	p[8] = DB_STR(op);
	p[9] = DB_STR(resource);
	p[10] = adt_val(target);
	p[11] = adt_val(js);
	rc = st_exec(db, SQL_ADT_PUT, p, NITEMS(p)) == -1 ? -1 : 0;
	if (rc == -1)
		log_warnx("audit: %s of %s by %s not recorded", action,
		    target != NULL ? target : "-", a->aa_actor);
	else
		log_info("audit: %s %s by %s (request %s)", action,
		    target != NULL ? target : "-", a->aa_actor,
		    a->aa_reqid[0] != '\0' ? a->aa_reqid : "-");
	free(js);
	json_decref(details);
	return rc;
}

struct adt_rows {
	const struct auth_cfg	*ar_cfg;
	json_t			*ar_out;
};

/* Row callback: one event object appended to the array. */
static int
adt_row_cb(void *arg, const struct db_val *c, size_t ncol)
{
	struct adt_rows *ar = arg;
	json_t *ev, *det = NULL;

	if (ncol < 13)
		return -1;
	if (c[12].dv_s != NULL)
		det = json_loads(c[12].dv_s, 0, NULL);
	ev = json_pack("{s:I, s:I, s:s, s:{s:s, s:s?, s:s?, s:s?}, s:s, "
	    "s:s, s:s?, s:s, s:s, s:s, s:s?, s:o}",
	    "id", (json_int_t)strtoll(c[0].dv_s, NULL, 10),
	    "time", (json_int_t)strtoll(c[1].dv_s != NULL ? c[1].dv_s : "0",
	    NULL, 10),
	    "realmId", ar->ar_cfg->ac_realm,
	    "authDetails", "realmId", ar->ar_cfg->ac_realm,
	    "clientId", c[4].dv_s, "userId", c[5].dv_s,
	    "ipAddress", c[6].dv_s,
	    "actor", c[2].dv_s, "actorType", c[3].dv_s,
	    "requestId", c[7].dv_s, "action", c[8].dv_s,
	    "operationType", c[9].dv_s, "resourceType", c[10].dv_s,
	    "target", c[11].dv_s,
	    "details", det != NULL ? det : json_object());
	if (ev == NULL)
		return -1;
	if (c[11].dv_s != NULL && strcmp(c[10].dv_s, "USER") == 0)
		json_object_set_new(ev, "resourcePath", json_sprintf("users/%s",
		    c[11].dv_s));
	json_array_append_new(ar->ar_out, ev);
	return 0;
}

int
adt_query(struct db *db, const struct auth_cfg *cfg, const char *actor,
    const char *target, long long first, long long max, json_t **out)
{
	struct adt_rows ar = { cfg, json_array() };
	struct db_val p[6];

	p[0] = p[1] = actor != NULL ? DB_STR(actor) : DB_NULLV;
	p[2] = p[3] = target != NULL ? DB_STR(target) : DB_NULLV;
	p[4] = DB_INT(max);
	p[5] = DB_INT(first);
	if (db_exec(db, SQL_ADT_LIST, p, NITEMS(p), adt_row_cb, &ar) == -1) {
		json_decref(ar.ar_out);
		*out = NULL;
		return -1;
	}
	*out = ar.ar_out;
	return 0;
}

void
adt_list(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_cfg *cfg = as->as_cfg;
	char actor[AUTH_NAME_MAX + 1], target[AUTH_NAME_MAX + 1];
	long long first, max;
	int ra, rt;
	json_t *out;

	if (!adm_guard(req, cfg->ac_op_events, NULL))
		return;
	ra = app_query_get(req->r_query, "actor", actor, sizeof(actor));
	rt = app_query_get(req->r_query, "target", target, sizeof(target));
	if (ra == -1 || rt == -1 ||
	    app_query_int(req, "first", 0, &first) == -1 || first < 0 ||
	    app_query_int(req, "max", ADT_DEF_MAX, &max) == -1 || max < 0) {
		app_send_json(req, 400, json_pack("{s:s, s:s}", "error",
		    "invalid_request", "errorMessage", "Bad first, max, actor "
		    "or target"));
		return;
	}
	if (max > cfg->ac_adm_max_page)
		max = cfg->ac_adm_max_page;
	if (adt_query(as->as_db, cfg, ra == 1 ? actor : NULL, rt == 1 ?
	    target : NULL, first, max, &out) == -1) {
		app_send_json(req, 503, json_pack("{s:s, s:s}", "error",
		    "unavailable", "errorMessage", "Database unavailable"));
		return;
	}
	app_send_json(req, 200, out);
}

/* Why login <login> was refused, found again after the fact: Keycloak's
 * error names. */
static const char *
adt_login_error(struct app_req *req, const char *login, char id[37])
{
	struct auth_svc *as = req->r_ctx;
	struct db *db = as->as_db;
	struct auth_user u;
	const char *err = "invalid_user_credentials";
	uint64_t delay;
	int rc;

	id[0] = '\0';
	if ((rc = st_user_by_login(db, login, &u)) != 1)
		return rc == 0 ? "user_not_found" : "server_error";
	snprintf(id, 37, "%s", u.u_id);
	if (!u.u_enabled)
		err = "user_disabled";
	else if (thr_check(db, as->as_cfg, u.u_id, web_addr(req),
	    &delay) == 1)
		err = "user_temporarily_locked";
	st_user_release(&u);
	return err;
}

void
adt_login(struct app_req *req, const char *client, const char *login,
    int rc, const struct auth_user *u)
{
	struct auth_svc *as = req->r_ctx;
	const char *err = NULL;
	char now[32], id[37], name[AUTH_NAME_MAX + 1];
	struct db_val p[8];
	size_t i;

	if (rc < 0)	/* server error, or no hashing slot (LOGIN_BUSY) */
		return;
	if (rc == 1)
		snprintf(id, sizeof(id), "%s", u->u_id);
	else
		err = adt_login_error(req, login, id);
	/*
	 * The name as given, without control characters; a name that is no
	 * account may be a password typed in the wrong field, so only its
	 * keyed hash is kept (as in the log, throttle.c).
	 */
	if (rc != 1 && id[0] == '\0') {
		char subj[AUTH_HASH_LEN + 1];

		thr_subject(login, subj);
		snprintf(name, sizeof(name), "unknown (#%.12s)", subj);
	} else
		snprintf(name, sizeof(name), "%s", rc == 1 ? u->u_username :
		    login);
	for (i = 0; name[i] != '\0'; i++)
		if ((unsigned char)name[i] < ' ' || name[i] == 0x7f)
			name[i] = '?';
	st_time(now, 0);
	p[0] = DB_STR(now);
	p[1] = DB_STR(rc == 1 ? "LOGIN" : "LOGIN_ERROR");
	p[2] = adt_val(client);
	p[3] = adt_val(id);
	p[4] = adt_val(name);
	p[5] = adt_val(web_addr(req));
	p[6] = strcmp(req->r_reqid, "-") != 0 ? adt_val(req->r_reqid) :
	    DB_NULLV;
	p[7] = err != NULL ? DB_STR(err) : DB_NULLV;
	if (st_exec(as->as_db, SQL_LOGIN_PUT, p, NITEMS(p)) == -1)
		log_warnx("login event of %s not recorded", id[0] != '\0' ? id :
		    "-");
}

/* Row callback: one login event appended to the array <arg>. */
static int
adt_login_cb(void *arg, const struct db_val *c, size_t ncol)
{
	struct adt_rows *ar = arg;
	json_t *ev;

	if (ncol < 9)
		return -1;
	ev = json_pack("{s:I, s:I, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, "
	    "s:{s:s?}, s:s?}", "id", (json_int_t)strtoll(c[0].dv_s, NULL, 10),
	    "time", (json_int_t)strtoll(c[1].dv_s != NULL ? c[1].dv_s : "0",
	    NULL, 10), "type", c[2].dv_s, "realmId", ar->ar_cfg->ac_realm,
	    "clientId", c[3].dv_s, "userId", c[4].dv_s, "ipAddress",
	    c[6].dv_s, "requestId", c[7].dv_s, "error", c[8].dv_s,
	    "details", "username", c[5].dv_s, "sessionId", NULL);
	if (ev == NULL)
		return -1;
	json_object_del(ev, "sessionId");
	json_array_append_new(ar->ar_out, ev);
	return 0;
}

/* GET /admin/realms/{realm}/events?type=&user=&first=&max=: the login
 * events, newest first (Keycloak's user events, loosely). */
void
adt_events(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_cfg *cfg = as->as_cfg;
	struct adt_rows ar = { cfg, NULL };
	char user[AUTH_NAME_MAX + 1], type[16];
	long long first, max;
	struct db_val p[6];
	int ru, rt;

	if (!adm_guard(req, cfg->ac_op_events, NULL))
		return;
	ru = app_query_get(req->r_query, "user", user, sizeof(user));
	rt = app_query_get(req->r_query, "type", type, sizeof(type));
	if (ru == -1 || rt == -1 ||
	    app_query_int(req, "first", 0, &first) == -1 || first < 0 ||
	    app_query_int(req, "max", ADT_DEF_MAX, &max) == -1 || max < 0) {
		app_send_json(req, 400, json_pack("{s:s, s:s}", "error",
		    "invalid_request", "errorMessage", "Bad first, max, user "
		    "or type"));
		return;
	}
	if (max > cfg->ac_adm_max_page)
		max = cfg->ac_adm_max_page;
	p[0] = p[1] = ru == 1 ? DB_STR(user) : DB_NULLV;
	p[2] = p[3] = rt == 1 ? DB_STR(type) : DB_NULLV;
	p[4] = DB_INT(max);
	p[5] = DB_INT(first);
	ar.ar_out = json_array();
	if (db_exec(as->as_db, SQL_LOGIN_LIST, p, NITEMS(p), adt_login_cb,
	    &ar) == -1) {
		json_decref(ar.ar_out);
		app_send_json(req, 503, json_pack("{s:s, s:s}", "error",
		    "unavailable", "errorMessage", "Database unavailable"));
		return;
	}
	app_send_json(req, 200, ar.ar_out);
}
