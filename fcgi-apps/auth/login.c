/*
 * login: the authorization endpoint (code flow, PKCE S256), the login
 * form and its submission, browser SSO sessions, the end-session
 * endpoint, and the password check with brute-force protection.
 *
 * An invalid client_id or redirect_uri is answered with an error page,
 * never with a redirect; once both are known good, errors go back to the
 * redirect_uri as error=... with state. The form carries the id of a
 * login_attempt row (the authorization request being continued) and a
 * CSRF token whose SHA-256 is in that row; the same token is in a cookie
 * on the realm path, and the two must agree.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <argon2.h>

#include "auth.h"
#include "log.h"
#include "util.h"
#include "uuid.h"

#define SSO_COOKIE	"ELP_SESSION"
#define ATTEMPT_COOKIE	"ELP_LOGIN_ATTEMPT"
#define GENERIC_FAIL	"Invalid username or password."

#define SQL_ATTEMPT_PUT							\
	"INSERT INTO login_attempt (id, csrf_hash, client_id, "		\
	"redirect_uri, scope, state, nonce, code_challenge, expires_at) " \
	"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define SQL_ATTEMPT_GET							\
	"SELECT csrf_hash, client_id, redirect_uri, scope, state, nonce, " \
	"code_challenge FROM login_attempt WHERE id = ? AND expires_at > ?"
#define SQL_ATTEMPT_DEL	"DELETE FROM login_attempt WHERE id = ? "	\
	"OR expires_at < ?"
#define SQL_SESSION_PUT							\
	"INSERT INTO sso_session (id, cookie_hash, account_id, auth_time, " \
	"last_seen, idle_expires_at, expires_at) "			\
	"VALUES (?, ?, ?, ?, ?, ?, ?)"
#define SQL_SESSION_GET							\
	"SELECT id, account_id, UNIX_TIMESTAMP(auth_time) FROM "	\
	"sso_session WHERE cookie_hash = ? AND ended = 0 AND "		\
	"idle_expires_at > ? AND expires_at > ?"
#define SQL_SESSION_TOUCH						\
	"UPDATE sso_session SET last_seen = ?, "			\
	"idle_expires_at = LEAST(?, expires_at) WHERE id = ?"
#define SQL_SESSION_END	"UPDATE sso_session SET ended = 1 WHERE id = ?"
#define SQL_SESSION_REVOKE						\
	"UPDATE refresh_token SET revoked = 1 WHERE session_id = ?"
#define SQL_CODE_PUT							\
	"INSERT INTO auth_code (code_hash, client_id, account_id, "	\
	"session_id, redirect_uri, scope, nonce, code_challenge, "	\
	"auth_time, expires_at) "					\
	"VALUES (?, ?, ?, ?, ?, ?, ?, ?, FROM_UNIXTIME(?), ?)"

/* An authorization request being served. Empty strings mean absent. */
struct login_areq {
	const struct auth_client *la_client;
	char	la_redirect[AUTH_URI_MAX + 1];
	char	la_scope[AUTH_PARAM_MAX];
	char	la_state[AUTH_PARAM_MAX];
	char	la_nonce[AUTH_PARAM_MAX];
	char	la_challenge[256];
};

/* Copies <s> into <out> with control characters and quotes replaced, for
 * log lines (user input). */
static const char *
login_logsafe(const char *s, char *out, size_t len)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    s[i] == '"' ? '?' : s[i];
	out[i] = '\0';
	return out;
}

/* Spends the time of a password check on a fixed hash, so that unknown
 * and locked accounts answer as slowly as known ones. */
static void
login_dummy_verify(const struct auth_cfg *cfg, const char *pw)
{
	static char *dummy;

	if (dummy == NULL)
		dummy = tok_hash_password(cfg, "not-a-password");
	if (dummy != NULL)
		(void)argon2id_verify(dummy, pw, strlen(pw));
}

/* Verifies <pw> against account <id>'s hash. 1 match, 0 not, -1 error. */
static int
login_verify(struct db *db, const char *id, const char *pw)
{
	char *hash = NULL;
	int rc;

	if ((rc = st_password_hash(db, id, &hash)) != 1)
		return rc;
	rc = argon2id_verify(hash, pw, strlen(pw)) == ARGON2_OK;
	free(hash);
	return rc;
}

/* Records a failed password of throttling subject <subj>, logging it
 * (never the password; <who> is the account's name or "unknown"). */
static void
login_failed(struct app_req *req, const char *subj, const char *who,
    int known)
{
	struct auth_svc *as = req->r_ctx;
	long long lock;

	lock = thr_fail(as->as_db, as->as_cfg, subj, web_addr(req));
	log_warnx("login failed: %s %s from %s", known ? "bad password for "
	    "user" : "no such user:", who, web_addr(req));
	if (lock > 0)
		log_warnx("login: user %s locked for %lld s for %s after "
		    "%lld failures", who, lock, web_addr(req),
		    (long long)as->as_cfg->ac_bf_failures);
}

/*
 * See auth.h. Throttling (throttle.c) is per (account, client address):
 * a locked pair is refused at once, without hashing; failures of the
 * account from every address only add a bounded delay. A login name that
 * names no account is throttled under a keyed hash of the name and is
 * never logged: the log says "unknown" and the first 12 hex digits of
 * that hash (so repeated attempts can be correlated).
 */
int
login_check(struct app_req *req, const char *login, const char *pw,
    struct auth_user *u)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_cfg *cfg = as->as_cfg;
	const char *addr = web_addr(req);
	char who[96], name[80], subj[AUTH_HASH_LEN + 1];
	uint64_t delay;
	int rc, known;

	if ((rc = st_user_by_login(as->as_db, login, u)) == -1)
		return -1;
	if ((known = rc == 1)) {
		snprintf(subj, sizeof(subj), "%s", u->u_id);
		snprintf(who, sizeof(who), "\"%s\"",
		    login_logsafe(login, name, sizeof(name)));
	} else {
		thr_subject(login, subj);
		snprintf(who, sizeof(who), "unknown (#%.12s)", subj);
	}
	if ((rc = thr_check(as->as_db, cfg, subj, addr, &delay)) != 0) {
		if (rc == 1)
			log_warnx("login refused: user %s is temporarily "
			    "locked (from %s)", who, addr);
		goto refused;
	}
	if (delay > 0) {
		log_info("login: user %s slowed by %llu ms for failures from "
		    "every address (from %s)", who, (unsigned long long)delay,
		    addr);
		thr_delay(delay);
	}
	if (!thr_slot_get(cfg)) {
		log_warnx("login: no password-hashing slot free within %llu "
		    "ms (from %s)", (unsigned long long)cfg->ac_hash_wait_ms,
		    addr);
		rc = LOGIN_BUSY;
		goto refused;
	}
	if (!known || !u->u_enabled) {
		login_dummy_verify(cfg, pw);
		thr_slot_put();
		if (!known)
			login_failed(req, subj, who, 0);
		else
			log_warnx("login refused: user %s is disabled (from "
			    "%s)", who, addr);
		goto refused;
	}
	rc = login_verify(as->as_db, u->u_id, pw);
	thr_slot_put();
	if (rc == 1) {
		thr_success(as->as_db, subj, addr);
		log_info("login: user %s authenticated from %s", who, addr);
		return 1;
	}
	if (rc == 0)
		login_failed(req, subj, who, 1);
refused:
	if (known)
		st_user_release(u);
	return rc == 1 ? 0 : rc;
}

int
login_session_new(struct app_req *req, const struct auth_user *u,
    char sid[37], char *cookie)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_cfg *cfg = as->as_cfg;
	char secret[AUTH_SECRET_LEN + 1], hash[AUTH_HASH_LEN + 1];
	char now[32], idle[32], max[32];
	struct db_val p[7];

	if (uuid_v4(sid) == -1 || web_random(secret) == -1)
		goto fail;
	web_sha256_hex(secret, strlen(secret), hash);
	st_time(now, 0);
	st_time(idle, (int64_t)cfg->ac_sso_idle_ms);
	st_time(max, (int64_t)cfg->ac_sso_max_ms);
	p[0] = DB_STR(sid);
	p[1] = DB_STR(hash);
	p[2] = DB_STR(u->u_id);
	p[3] = DB_STR(now);
	p[4] = DB_STR(now);
	p[5] = DB_STR(idle);
	p[6] = DB_STR(max);
	if (st_exec(as->as_db, SQL_SESSION_PUT, p, 7) == -1)
		goto fail;
	st_session_address(as->as_db, sid, web_addr(req));
	if (cookie != NULL)
		memcpy(cookie, secret, sizeof(secret));
	explicit_bzero(secret, sizeof(secret));
	return 0;
fail:
	web_message(req, 503, "Service unavailable", "Please try again "
	    "later.");
	return -1;
}

/*
 * Finds the live SSO session of the request's cookie: 1 with <sid>,
 * <account> and <auth_time> set (and its idle time extended), 0 none, -1
 * database error.
 */
static int
login_sso(struct app_req *req, char sid[37], char account[37],
    long long *auth_time)
{
	struct auth_svc *as = req->r_ctx;
	char cookie[128], hash[AUTH_HASH_LEN + 1], now[32], idle[32], *c[3];
	struct db_val p[3];
	int rc;

	if (web_cookie(req, SSO_COOKIE, cookie, sizeof(cookie)) != 1)
		return 0;
	web_sha256_hex(cookie, strlen(cookie), hash);
	st_time(now, 0);
	p[0] = DB_STR(hash);
	p[1] = DB_STR(now);
	p[2] = DB_STR(now);
	if ((rc = st_row(as->as_db, SQL_SESSION_GET, p, 3, c, 3)) != 1)
		return rc;
	snprintf(sid, 37, "%s", c[0]);
	snprintf(account, 37, "%s", c[1]);
	*auth_time = strtoll(c[2], NULL, 10);
	st_row_free(c, 3);
	st_time(idle, (int64_t)as->as_cfg->ac_sso_idle_ms);
	p[0] = DB_STR(now);
	p[1] = DB_STR(idle);
	p[2] = DB_STR(sid);
	st_exec_idem(as->as_db, SQL_SESSION_TOUCH, p, 3);
	return 1;
}

/* Redirects to the request's redirect_uri with <params> (already
 * encoded, may be "") and the state. */
static void
login_back(struct app_req *req, const struct login_areq *ar,
    const char *params)
{
	struct buf b = BUF_INIT;
	char sep = strchr(ar->la_redirect, '?') != NULL ? '&' : '?';

	buf_append_str(&b, ar->la_redirect);
	if (params[0] != '\0') {
		buf_printf(&b, "%c%s", sep, params);
		sep = '&';
	}
	if (ar->la_state[0] != '\0') {
		buf_printf(&b, "%cstate=", sep);
		web_pct(&b, ar->la_state);
	}
	buf_append(&b, "", 1);
	web_redirect(req, buf_data(&b));
	buf_release(&b);
}

/* Error redirect of RFC 6749 section 4.1.2.1. */
static void
login_back_error(struct app_req *req, const struct login_areq *ar,
    const char *error, const char *desc)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "error=%s&error_description=", error);
	web_pct(&b, desc);
	buf_append(&b, "", 1);
	login_back(req, ar, buf_data(&b));
	buf_release(&b);
}

/* Stores a code for <ar> and redirects back with it. */
static void
login_issue_code(struct app_req *req, const struct login_areq *ar,
    const struct auth_user *u, const char *sid, long long auth_time)
{
	struct auth_svc *as = req->r_ctx;
	char code[AUTH_SECRET_LEN + 1], hash[AUTH_HASH_LEN + 1], exp[32];
	char scope[AUTH_PARAM_MAX];
	struct db_val p[10];
	struct buf b = BUF_INIT;

	(void)tok_scope(ar->la_scope, st_user_has_role(u, "offline_access"),
	    scope, sizeof(scope));
	if (web_random(code) == -1)
		goto fail;
	web_sha256_hex(code, strlen(code), hash);
	st_time(exp, (int64_t)as->as_cfg->ac_code_ms);
	p[0] = DB_STR(hash);
	p[1] = DB_STR(ar->la_client->cl_id);
	p[2] = DB_STR(u->u_id);
	p[3] = DB_STR(sid);
	p[4] = DB_STR(ar->la_redirect);
	p[5] = DB_STR(scope);
	p[6] = ar->la_nonce[0] != '\0' ? DB_STR(ar->la_nonce) : DB_NULLV;
	p[7] = ar->la_challenge[0] != '\0' ? DB_STR(ar->la_challenge) :
	    DB_NULLV;
	p[8] = DB_INT(auth_time);
	p[9] = DB_STR(exp);
	if (st_exec(as->as_db, SQL_CODE_PUT, p, 10) == -1)
		goto fail;
	buf_printf(&b, "code=%s&session_state=%s", code, sid);
	login_back(req, ar, buf_data(&b));
	buf_release(&b);
	return;
fail:
	web_message(req, 503, "Service unavailable", "Please try again "
	    "later.");
}

/* Renders the login form of attempt <id> with CSRF token <csrf>. */
static void
login_form(struct app_req *req, const char *id, const char *csrf,
    const char *login, const char *error)
{
	struct auth_svc *as = req->r_ctx;
	struct buf b = BUF_INIT;

	buf_append_str(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\""
	    "width=device-width, initial-scale=1\"><title>Login to ELP"
	    "</title><style>body{font-family:system-ui,sans-serif;"
	    "background:#f4f5f7;color:#1a1a1a;margin:0}main{max-width:24rem;"
	    "margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;"
	    "box-shadow:0 1px 4px rgba(0,0,0,.15)}label{display:block;"
	    "margin:1rem 0 .25rem;font-weight:600}input{width:100%;"
	    "box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px "
	    "solid #8a8f98;border-radius:4px}button{margin-top:1.5rem;"
	    "width:100%;padding:.7rem;font-size:1rem;border:0;"
	    "border-radius:4px;background:#1d4ed8;color:#fff;cursor:pointer}"
	    ".error{background:#fde8e8;color:#8a1c1c;padding:.75rem;"
	    "border-radius:4px}</style></head><body><main>"
	    "<h1>Login to ELP</h1>");
	if (error != NULL) {
		buf_append_str(&b, "<p class=\"error\" role=\"alert\">");
		web_html(&b, error);
		buf_append_str(&b, "</p>");
	}
	buf_printf(&b, "<form method=\"post\" action=\"/realms/%s/"
	    "login-actions/authenticate\"><input type=\"hidden\" "
	    "name=\"attempt\" value=\"%s\"><input type=\"hidden\" "
	    "name=\"csrf\" value=\"%s\"><label for=\"username\">Email or "
	    "username</label><input id=\"username\" name=\"username\" "
	    "type=\"text\" autocomplete=\"username\" autofocus required "
	    "value=\"", as->as_cfg->ac_realm, id, csrf);
	web_html(&b, login);
	buf_append_str(&b, "\"><label for=\"password\">Password</label>"
	    "<input id=\"password\" name=\"password\" type=\"password\" "
	    "autocomplete=\"current-password\" required><button "
	    "type=\"submit\">Sign in</button></form>");
	if (as->as_cfg->ac_smtp != NULL)
		buf_printf(&b, "<p><a href=\"/realms/%s/login-actions/"
		    "reset-credentials\">Forgot password?</a></p>",
		    as->as_cfg->ac_realm);
	buf_append_str(&b, "</main></body></html>\n");
	web_page(req, 200, buf_data(&b), buf_avail(&b));
	buf_release(&b);
}

/* Stores a login attempt for <ar> and shows the form. */
static void
login_attempt_new(struct app_req *req, const struct login_areq *ar)
{
	struct auth_svc *as = req->r_ctx;
	char id[UUID_STR_LEN + 1], csrf[AUTH_SECRET_LEN + 1], exp[32];
	char hash[AUTH_HASH_LEN + 1];
	struct db_val p[9];

	if (uuid_v4(id) == -1 || web_random(csrf) == -1)
		goto fail;
	web_sha256_hex(csrf, strlen(csrf), hash);
	st_time(exp, (int64_t)as->as_cfg->ac_login_ms);
	p[0] = DB_STR(id);
	p[1] = DB_STR(hash);
	p[2] = DB_STR(ar->la_client->cl_id);
	p[3] = DB_STR(ar->la_redirect);
	p[4] = DB_STR(ar->la_scope);
	p[5] = DB_STR(ar->la_state);
	p[6] = DB_STR(ar->la_nonce);
	p[7] = DB_STR(ar->la_challenge);
	p[8] = DB_STR(exp);
	if (st_exec(as->as_db, SQL_ATTEMPT_PUT, p, 9) == -1)
		goto fail;
	web_set_cookie(req, as->as_cfg, ATTEMPT_COOKIE, csrf,
	    (long long)(as->as_cfg->ac_login_ms / 1000));
	login_form(req, id, csrf, "", NULL);
	return;
fail:
	web_message(req, 503, "Service unavailable", "Please try again "
	    "later.");
}

/* Reads a parameter that must fit; "" when absent. -1 when malformed. */
static int
login_param(const char *src, const char *name, char *out, size_t len)
{
	int rc = web_field(src, name, out, len);

	if (rc == 0)
		out[0] = '\0';
	return rc == -1 ? -1 : 0;
}

/* Client and redirect_uri; an error page (never a redirect) if bad. */
static int
login_parse_client(struct app_req *req, struct login_areq *ar)
{
	struct auth_svc *as = req->r_ctx;
	char id[AUTH_ID_MAX + 1];

	if (login_param(req->r_query, "client_id", id, sizeof(id)) == -1 ||
	    (ar->la_client = acfg_client(as->as_cfg, id)) == NULL ||
	    !(ar->la_client->cl_grants & GRANT_CODE)) {
		web_message(req, 400, "We are sorry...", "Client not found "
		    "or not allowed to use this flow.");
		return -1;
	}
	if (login_param(req->r_query, "redirect_uri", ar->la_redirect,
	    sizeof(ar->la_redirect)) == -1 || ar->la_redirect[0] == '\0' ||
	    strchr(ar->la_redirect, ' ') != NULL ||
	    !acfg_list_has(ar->la_client->cl_redirects, ar->la_redirect)) {
		log_warnx("auth: invalid redirect_uri for client %s from %s",
		    ar->la_client->cl_id, web_addr(req));
		web_message(req, 400, "We are sorry...", "Invalid parameter: "
		    "redirect_uri");
		return -1;
	}
	return 0;
}

/* The rest of the request; errors go back to the client. */
static int
login_parse(struct app_req *req, struct login_areq *ar)
{
	const char *q = req->r_query, *err = NULL;
	char rt[32], method[16], prompt[64];

	memset(ar, 0, sizeof(*ar));
	if (login_parse_client(req, ar) == -1)
		return -1;
	if (login_param(q, "state", ar->la_state, sizeof(ar->la_state)) ||
	    login_param(q, "nonce", ar->la_nonce, sizeof(ar->la_nonce)) ||
	    login_param(q, "scope", ar->la_scope, sizeof(ar->la_scope)) ||
	    login_param(q, "code_challenge", ar->la_challenge,
	    sizeof(ar->la_challenge)) || login_param(q,
	    "code_challenge_method", method, sizeof(method)) ||
	    login_param(q, "response_type", rt, sizeof(rt)) ||
	    login_param(q, "prompt", prompt, sizeof(prompt)))
		err = "invalid_request";
	else if (strcmp(rt, "code") != 0)
		err = "unsupported_response_type";
	else if (tok_scope(ar->la_scope, 1, prompt, sizeof(prompt)) == -1)
		err = "invalid_scope";
	else if (ar->la_challenge[0] != '\0' && (strcmp(method, "S256") != 0
	    || strlen(ar->la_challenge) < 43 ||
	    strlen(ar->la_challenge) > 128))
		err = "invalid_request";
	else if (ar->la_challenge[0] == '\0' && (ar->la_client->cl_public ||
	    ar->la_client->cl_pkce[0] != '\0'))
		err = "invalid_request";
	if (err == NULL)
		return 0;
	login_back_error(req, ar, err, strcmp(err, "invalid_request") == 0 ?
	    "Missing or invalid parameter (PKCE S256 code_challenge is "
	    "required)" : "Invalid authorization request");
	return -1;
}

void
login_auth(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	char sid[37], account[37];
	struct login_areq ar;
	struct auth_user u;
	long long auth_time;
	int rc;

	if (!oidc_realm_ok(req) || login_parse(req, &ar) == -1)
		return;
	if ((rc = login_sso(req, sid, account, &auth_time)) == 1 &&
	    st_user_by_id(as->as_db, account, &u) == 1) {
		if (u.u_enabled)
			login_issue_code(req, &ar, &u, sid, auth_time);
		st_user_release(&u);
	}
	if (rc == -1)
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
	if (!req->r_responded)
		login_attempt_new(req, &ar);
}

/*
 * Loads attempt <id> checked against <csrf> into <ar>. 0, or -1 when it
 * is unknown, expired or the token does not match.
 */
static int
login_attempt_get(struct app_req *req, const char *id, const char *csrf,
    struct login_areq *ar)
{
	struct auth_svc *as = req->r_ctx;
	char now[32], hash[AUTH_HASH_LEN + 1], *c[7];
	struct db_val p[2];
	int rc = -1;

	memset(ar, 0, sizeof(*ar));
	st_time(now, 0);
	p[0] = DB_STR(id);
	p[1] = DB_STR(now);
	if (st_row(as->as_db, SQL_ATTEMPT_GET, p, 2, c, 7) != 1)
		return -1;
	web_sha256_hex(csrf, strlen(csrf), hash);
	if (web_ct_eq(hash, c[0]) &&
	    (ar->la_client = acfg_client(as->as_cfg, c[1])) != NULL) {
		snprintf(ar->la_redirect, sizeof(ar->la_redirect), "%s", c[2]);
		snprintf(ar->la_scope, sizeof(ar->la_scope), "%s", c[3]);
		snprintf(ar->la_state, sizeof(ar->la_state), "%s",
		    c[4] ? c[4] : "");
		snprintf(ar->la_nonce, sizeof(ar->la_nonce), "%s",
		    c[5] ? c[5] : "");
		snprintf(ar->la_challenge, sizeof(ar->la_challenge), "%s",
		    c[6] ? c[6] : "");
		rc = 0;
	}
	st_row_free(c, 7);
	return rc;
}

/* After a good password: session, cookies, code, redirect. */
static void
login_done(struct app_req *req, const struct login_areq *ar,
    const char *attempt, const struct auth_user *u)
{
	struct auth_svc *as = req->r_ctx;
	char sid[37], cookie[AUTH_SECRET_LEN + 1], now[32];
	struct db_val p[2];

	st_time(now, 0);
	p[0] = DB_STR(attempt);
	p[1] = DB_STR(now);
	st_exec_idem(as->as_db, SQL_ATTEMPT_DEL, p, 2);
	if (login_session_new(req, u, sid, cookie) == -1)
		return;
	web_set_cookie(req, as->as_cfg, SSO_COOKIE, cookie, -1);
	web_set_cookie(req, as->as_cfg, ATTEMPT_COOKIE, "", 0);
	explicit_bzero(cookie, sizeof(cookie));
	login_issue_code(req, ar, u, sid, (long long)time(NULL));
}

void
login_submit(struct app_req *req)
{
	char id[64], csrf[64], cookie[64], user[AUTH_NAME_MAX + 1], pw[512];
	struct login_areq ar;
	struct auth_user u;
	int rc;

	if (!oidc_realm_ok(req) || web_form_body(req) == -1)
		return;
	if (web_field(req->r_body, "attempt", id, sizeof(id)) != 1 ||
	    web_field(req->r_body, "csrf", csrf, sizeof(csrf)) != 1 ||
	    web_cookie(req, ATTEMPT_COOKIE, cookie, sizeof(cookie)) != 1 ||
	    !web_ct_eq(cookie, csrf) ||
	    login_attempt_get(req, id, csrf, &ar) == -1) {
		web_message(req, 400, "Login expired", "This login page has "
		    "expired or is invalid. Go back to the application and "
		    "sign in again.");
		return;
	}
	if (login_param(req->r_body, "username", user, sizeof(user)) == -1 ||
	    login_param(req->r_body, "password", pw, sizeof(pw)) == -1)
		user[0] = pw[0] = '\0';
	rc = login_check(req, user, pw, &u);
	adt_login(req, ar.la_client->cl_id, user, rc, &u);
	if (rc == 1) {
		if (act_verify_blocks(req->r_ctx, &u))
			act_verify_page(req);
		else
			login_done(req, &ar, id, &u);
		st_user_release(&u);
	} else if (rc == 0)
		login_form(req, id, csrf, user, GENERIC_FAIL);
	else if (rc == LOGIN_BUSY) {
		app_header(req, "Retry-After", "1");
		web_message(req, 429, "Please try again", "Too many sign-ins "
		    "are being processed right now. Go back and try again in "
		    "a moment.");
	} else
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
	explicit_bzero(pw, sizeof(pw));
}

/* Ends SSO session <sid> and revokes its refresh tokens. */
static void
login_end_session(struct app_req *req, const char *sid)
{
	struct auth_svc *as = req->r_ctx;
	struct db_val p[1] = { DB_STR(sid) };

	if (st_exec_idem(as->as_db, SQL_SESSION_END, p, 1) > 0)
		log_info("logout: session %s ended from %s", sid,
		    web_addr(req));
	st_exec_idem(as->as_db, SQL_SESSION_REVOKE, p, 1);
}

/* The client named by the ID token hint (azp) or by client_id. */
static const struct auth_client *
login_logout_client(struct app_req *req, const char *src, json_t *hint)
{
	struct auth_svc *as = req->r_ctx;
	char id[AUTH_ID_MAX + 1];
	const char *azp;

	azp = json_string_value(json_object_get(hint, "azp"));
	if (azp != NULL)
		return acfg_client(as->as_cfg, azp);
	if (web_field(src, "client_id", id, sizeof(id)) == 1)
		return acfg_client(as->as_cfg, id);
	return NULL;
}

/* Ends the sessions named by the hint and by the cookie. */
static void
login_logout_sessions(struct app_req *req, json_t *hint)
{
	char sid[37], account[37];
	long long at;
	const char *hsid;

	hsid = json_string_value(json_object_get(hint, "sid"));
	if (hsid != NULL && strlen(hsid) == UUID_STR_LEN)
		login_end_session(req, hsid);
	if (login_sso(req, sid, account, &at) == 1)
		login_end_session(req, sid);
}

void
login_logout(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_client *cl;
	struct login_areq ar;
	char tok[JWT_MAX_LEN + 1];
	const char *src = req->r_query;
	json_t *hint = NULL;

	if (!oidc_realm_ok(req))
		return;
	if (strcmp(req->r_method, "POST") == 0) {
		if (web_form_body(req) == -1)
			return;
		src = req->r_body;
	}
	memset(&ar, 0, sizeof(ar));
	if (web_field(src, "id_token_hint", tok, sizeof(tok)) == 1)
		hint = oidc_verify(as, tok, INT64_C(31536000));
	login_logout_sessions(req, hint);
	web_set_cookie(req, as->as_cfg, SSO_COOKIE, "", 0);
	cl = login_logout_client(req, src, hint);
	if (login_param(src, "post_logout_redirect_uri", ar.la_redirect,
	    sizeof(ar.la_redirect)) == 0 && ar.la_redirect[0] != '\0' &&
	    cl != NULL && strchr(ar.la_redirect, ' ') == NULL &&
	    acfg_list_has(cl->cl_logout_uris, ar.la_redirect)) {
		login_param(src, "state", ar.la_state, sizeof(ar.la_state));
		login_back(req, &ar, "");
	} else
		web_message(req, 200, "Logged out", "You are logged out.");
	json_decref(hint);
}
