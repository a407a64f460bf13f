/*
 * pwchange: who may set a password through the admin API, and what a
 * change ends (docs/contract/api.md 4.1.7).
 *
 * PUT .../users/{id}/reset-password may carry, besides the new value,
 * "callerToken" (the access token of the person asking, forwarded by the
 * user service) and "currentPassword". Without callerToken the call is an
 * administrative reset by the service that holds the admin role. With it:
 *   - the token must be one of ours and valid;
 *   - its subject is the account (a self change): currentPassword must
 *     match, unless the token's auth_time is within password/@recent-auth
 *     (a recent sign-in, like a "sudo mode"); wrong current passwords are
 *     throttled like logins, per (account, session);
 *   - another subject must hold ADMIN (an admin reset).
 * Every change revokes all the account's refresh tokens and ends its SSO
 * sessions, except, for a self change, the session of the caller's token
 * (its sid), so that the tab that changed the password keeps working.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <argon2.h>

#include "auth.h"
#include "log.h"
#include "util.h"
#include "uuid.h"

#define SQL_PWC_TOKENS	"UPDATE refresh_token SET revoked = 1 "		\
	"WHERE account_id = ? AND revoked = 0 AND "			\
	"(session_id IS NULL OR session_id <> ?)"
#define SQL_PWC_SESSIONS "UPDATE sso_session SET ended = 1 "		\
	"WHERE account_id = ? AND ended = 0 AND id <> ?"

static void
pwc_error(struct app_req *req, int status, const char *err, const char *msg)
{
	app_send_json(req, status, json_pack("{s:s, s:s}", "error", err,
	    "errorMessage", msg));
}

/* Checks <pw> against the hash of account <id> inside a hashing slot.
 * 1 match, 0 not, -1 error, LOGIN_BUSY no slot. */
static int
pwc_verify(struct auth_svc *as, const char *id, const char *pw)
{
	char *hash = NULL;
	int rc;

	if ((rc = st_password_hash(as->as_db, id, &hash)) != 1)
		return rc;
	if (!thr_slot_get(as->as_cfg)) {
		free(hash);
		return LOGIN_BUSY;
	}
	rc = argon2id_verify(hash, pw, strlen(pw)) == ARGON2_OK;
	thr_slot_put();
	free(hash);
	return rc;
}

/* A self change of <u> by the holder of session <sid>: 0 allowed, -1
 * after responding. */
static int
pwc_self(struct app_req *req, json_t *in, const struct auth_user *u,
    json_t *claims, const char *sid)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_cfg *cfg = as->as_cfg;
	const char *cur;
	char addr[64];
	json_int_t at;
	uint64_t delay;
	int rc;

	cur = json_string_value(json_object_get(in, "currentPassword"));
	at = json_integer_value(json_object_get(claims, "auth_time"));
	if (cur == NULL) {
		if (cfg->ac_recent_auth_ms > 0 && at > 0 &&
		    (long long)time(NULL) - (long long)at <=
		    (long long)(cfg->ac_recent_auth_ms / 1000))
			return 0;
		pwc_error(req, 403, "current_password_required", "The current "
		    "password is required (currentPassword): the sign-in is "
		    "not recent");
		return -1;
	}
	snprintf(addr, sizeof(addr), "sid:%s", sid);
	if ((rc = thr_check(as->as_db, cfg, u->u_id, addr, &delay)) == 0) {
		thr_delay(delay);
		rc = pwc_verify(as, u->u_id, cur);
		if (rc == 1) {
			thr_success(as->as_db, u->u_id, addr);
			return 0;
		}
		if (rc == 0)
			thr_fail(as->as_db, cfg, u->u_id, addr);
	} else if (rc == 1)
		rc = 0;		/* locked: same answer as a wrong one */
	if (rc == 0) {
		log_warnx("password change: wrong current password for user "
		    "%s (session %s)", u->u_id, sid);
		pwc_error(req, 403, "invalid_current_password", "The current "
		    "password is incorrect");
	} else if (rc == LOGIN_BUSY) {
		app_header(req, "Retry-After", "1");
		pwc_error(req, 429, "busy", "Too many password checks in "
		    "progress; try again in a moment");
	} else
		pwc_error(req, 503, "unavailable", "Database unavailable");
	return -1;
}

int
pwc_authorize(struct app_req *req, json_t *in, const struct auth_user *u,
    char keep[UUID_STR_LEN + 1])
{
	struct auth_svc *as = req->r_ctx;
	const char *tok, *sub, *sid, *typ;
	json_t *claims;
	int rc = -1;

	keep[0] = '\0';
	if ((tok = json_string_value(json_object_get(in, "callerToken"))) ==
	    NULL)
		return 0;
	claims = oidc_verify(as, tok, 0);
	typ = json_string_value(json_object_get(claims, "typ"));
	sub = json_string_value(json_object_get(claims, "sub"));
	sid = json_string_value(json_object_get(claims, "sid"));
	if (claims == NULL || typ == NULL || strcmp(typ, "Bearer") != 0 ||
	    sub == NULL) {
		pwc_error(req, 403, "invalid_token", "callerToken is not a "
		    "valid access token");
		goto done;
	}
	if (strcmp(sub, u->u_id) != 0) {
		if (!jwt_has_role(claims, "ADMIN")) {
			pwc_error(req, 403, "forbidden", "Only the account "
			    "itself or an ADMIN may set its password");
			goto done;
		}
		rc = 0;
		goto done;
	}
	if (sid == NULL || strlen(sid) != UUID_STR_LEN)
		sid = "";
	if ((rc = pwc_self(req, in, u, claims, sid)) == 0)
		snprintf(keep, UUID_STR_LEN + 1, "%s", sid);
done:
	json_decref(claims);
	return rc;
}

int
pwc_revoke(struct db *db, const char *id, const char *keep)
{
	struct db_val p[2];
	long long t, s;

	p[0] = DB_STR(id);
	p[1] = DB_STR(keep);
	if ((t = st_exec_idem(db, SQL_PWC_TOKENS, p, 2)) == -1 ||
	    (s = st_exec_idem(db, SQL_PWC_SESSIONS, p, 2)) == -1)
		return -1;
	log_info("password of user %s changed: %lld refresh token(s) "
	    "revoked, %lld session(s) ended%s%s", id, t, s,
	    keep[0] != '\0' ? ", kept session " : "", keep);
	return 0;
}
