/*
 * action: the mailed account actions, as Keycloak's users know them.
 *
 *   GET|POST login-actions/reset-credentials   "Forgot password?": asks
 *            for the address, mails a reset link; the same answer
 *            whether or not an account has that address
 *   GET|POST login-actions/action-token?key=K  the mailed link: a reset
 *            link shows (GET) and takes (POST) the new password; a
 *            verification link confirms the address (GET)
 *   GET|POST login-actions/verify-email        sends a verification link
 *            again (same answer for every address)
 *
 * A link's secret is 256 random bits; the database keeps its SHA-256
 * (action_token), its kind, account, the address it went to, its expiry
 * (<account reset-lifetime>, <verify-lifetime>) and when it was used: a
 * link works once. Using a reset link sets the password, confirms the
 * address, ends every browser session of the account and revokes all its
 * refresh tokens. The forms without a session are protected from CSRF by
 * a random token that is both a cookie (realm path, HttpOnly, SameSite)
 * and a hidden field; a post must carry both, equal (403 otherwise).
 * Mails go through the provider's outbox (mailq.c) with per-address and
 * per-account limits. docs/contract/auth.md, "Account pages".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "buf.h"
#include "log.h"
#include "pwrule.h"
#include "util.h"

#define FORM_COOKIE	"ELP_FORM_CSRF"
#define SSO_COOKIE	"ELP_SESSION"
#define SAME_ANSWER	"If an account exists for this address, an e-mail " \
	"with further instructions is on its way. Check your inbox (and the " \
	"spam folder)."

#define SQL_TOKEN_PUT							\
	"INSERT INTO action_token (token_hash, kind, account_id, email, " \
	"created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)"
#define SQL_TOKEN_GET							\
	"SELECT kind, account_id, email, expires_at > ?, "		\
	"used_at IS NOT NULL FROM action_token WHERE token_hash = ?"
#define SQL_TOKEN_USE							\
	"UPDATE action_token SET used_at = ? WHERE token_hash = ? AND "	\
	"used_at IS NULL AND expires_at > ?"
#define SQL_TOKEN_USE_ALL						\
	"UPDATE action_token SET used_at = ? WHERE account_id = ? AND "	\
	"kind = ? AND used_at IS NULL"
#define SQL_VERIFIED							\
	"UPDATE account SET email_verified = 1, verify_pending = 0 "	\
	"WHERE id = ? AND email = ?"
#define SQL_PENDING	"UPDATE account SET verify_pending = 1 WHERE id = ?"
#define SQL_IS_PENDING	"SELECT verify_pending FROM account WHERE id = ?"

/* A looked-up link. */
struct act_tok {
	char	 at_kind[16];
	char	 at_account[37];
	char	 at_email[AUTH_NAME_MAX + 1];
	int	 at_live;	/* not expired */
	int	 at_used;
};

void
act_html_head(struct buf *b, const char *title)
{
	buf_append_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\""
	    "width=device-width, initial-scale=1\"><title>");
	web_html(b, title);
	buf_append_str(b, "</title><style>body{font-family:system-ui,"
	    "sans-serif;background:#f4f5f7;color:#1a1a1a;margin:0}"
	    "main{max-width:34rem;margin:3rem auto;background:#fff;"
	    "padding:2rem;border-radius:8px;box-shadow:0 1px 4px "
	    "rgba(0,0,0,.15)}label{display:block;margin:1rem 0 .25rem;"
	    "font-weight:600}input{width:100%;box-sizing:border-box;"
	    "padding:.6rem;font-size:1rem;border:1px solid #8a8f98;"
	    "border-radius:4px}button{margin-top:1rem;padding:.6rem 1rem;"
	    "font-size:1rem;border:0;border-radius:4px;background:#1d4ed8;"
	    "color:#fff;cursor:pointer}button.link{background:#fff;"
	    "color:#8a1c1c;border:1px solid #8a1c1c;margin:0;padding:.3rem "
	    ".6rem;font-size:.9rem}table{width:100%;border-collapse:collapse;"
	    "font-size:.9rem}td,th{text-align:left;padding:.4rem;"
	    "border-bottom:1px solid #ddd;vertical-align:top}"
	    "section{margin-top:2rem}.error{background:#fde8e8;"
	    "color:#8a1c1c;padding:.75rem;border-radius:4px}"
	    ".ok{background:#e6f4ea;color:#1e5e2f;padding:.75rem;"
	    "border-radius:4px}</style></head><body><main><h1>");
	web_html(b, title);
	buf_append_str(b, "</h1>");
}

void
act_html_note(struct buf *b, int ok, const char *msg)
{
	if (msg == NULL)
		return;
	buf_printf(b, "<p class=\"%s\" role=\"%s\">", ok ? "ok" : "error",
	    ok ? "status" : "alert");
	web_html(b, msg);
	buf_append_str(b, "</p>");
}

void
act_html_send(struct app_req *req, int status, struct buf *b)
{
	buf_append_str(b, "</main></body></html>\n");
	web_page(req, status, buf_data(b), buf_avail(b));
	buf_release(b);
}

/* A page with a title, a message and an optional link. */
static void
act_message(struct app_req *req, int status, const char *title,
    const char *msg, const char *href, const char *text)
{
	struct auth_svc *as = req->r_ctx;
	struct buf b = BUF_INIT;

	act_html_head(&b, title);
	buf_append_str(&b, "<p>");
	web_html(&b, msg);
	buf_append_str(&b, "</p>");
	if (href != NULL)
		buf_printf(&b, "<p><a href=\"/realms/%s/%s\">%s</a></p>",
		    as->as_cfg->ac_realm, href, text);
	act_html_send(req, status, &b);
}

/* The CSRF token of the forms without a session: the cookie's when it
 * is well formed, else a new one (set as the cookie). 0 or -1. */
static int
act_csrf(struct app_req *req, char out[AUTH_SECRET_LEN + 1])
{
	struct auth_svc *as = req->r_ctx;

	if (web_cookie(req, FORM_COOKIE, out, AUTH_SECRET_LEN + 1) == 1 &&
	    strlen(out) == AUTH_SECRET_LEN)
		return 0;
	if (web_random(out) == -1)
		return -1;
	web_set_cookie(req, as->as_cfg, FORM_COOKIE, out,
	    (long long)(as->as_cfg->ac_login_ms / 1000));
	return 0;
}

int
act_csrf_ok(struct app_req *req, const char *expect)
{
	char field[AUTH_HASH_LEN + 2], cookie[AUTH_SECRET_LEN + 2];

	if (web_field(req->r_body, "csrf", field, sizeof(field)) != 1)
		return 0;
	if (expect != NULL)
		return web_ct_eq(field, expect);
	return web_cookie(req, FORM_COOKIE, cookie, sizeof(cookie)) == 1 &&
	    strlen(cookie) == AUTH_SECRET_LEN && web_ct_eq(field, cookie);
}

void
act_csrf_refused(struct app_req *req)
{
	log_warnx("account: form post without a valid CSRF token from %s",
	    web_addr(req));
	act_message(req, 403, "Page expired", "This form has expired or was "
	    "not sent from this site. Open the page again and retry.", NULL,
	    NULL);
}

/* Reads a form POST of a realm page; 0, or -1 after responding. */
static int
act_form(struct app_req *req)
{
	if (!oidc_realm_ok(req) || web_form_body(req) == -1)
		return -1;
	if (!act_csrf_ok(req, NULL)) {
		act_csrf_refused(req);
		return -1;
	}
	return 0;
}

/* Whether mails can be sent; answers 404 when not. */
static int
act_mail_on(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;

	if (as->as_cfg->ac_smtp != NULL)
		return 1;
	act_message(req, 404, "Not available", "This realm sends no e-mail: "
	    "ask an administrator to set your password.", NULL, NULL);
	return 0;
}

/* The form asking for an address, posted to <action>. */
static void
act_ask_address(struct app_req *req, const char *title, const char *intro,
    const char *action, const char *button)
{
	struct auth_svc *as = req->r_ctx;
	char csrf[AUTH_SECRET_LEN + 1];
	struct buf b = BUF_INIT;

	if (act_csrf(req, csrf) == -1) {
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
		return;
	}
	act_html_head(&b, title);
	buf_append_str(&b, "<p>");
	web_html(&b, intro);
	buf_printf(&b, "</p><form method=\"post\" action=\"/realms/%s/"
	    "login-actions/%s\"><input type=\"hidden\" name=\"csrf\" "
	    "value=\"%s\"><label for=\"username\">Email or username</label>"
	    "<input id=\"username\" name=\"username\" type=\"text\" "
	    "autocomplete=\"username\" autofocus required><button "
	    "type=\"submit\">%s</button></form>", as->as_cfg->ac_realm,
	    action, csrf, button);
	act_html_send(req, 200, &b);
}

/* Lifetime <ms> in words for a mail. */
static void
act_lifetime(uint64_t ms, char *out, size_t len)
{
	uint64_t m = ms / 60000;

	if (m < 1)
		snprintf(out, len, "%llu seconds", (unsigned long long)(ms /
		    1000));
	else if (m < 120)
		snprintf(out, len, "%llu minutes", (unsigned long long)m);
	else
		snprintf(out, len, "%llu hours", (unsigned long long)(m / 60));
}

/*
 * Stores a new link of <kind> for <u> and queues its mail, in one
 * transaction. 1 queued, 0 not (limit reached; logged), -1 error.
 */
static int
act_send(struct auth_svc *as, const struct auth_user *u, const char *kind)
{
	const struct auth_cfg *cfg = as->as_cfg;
	int reset = strcmp(kind, "reset") == 0;
	uint64_t life = reset ? cfg->ac_acct.ap_reset_ms :
	    cfg->ac_acct.ap_verify_ms;
	char key[AUTH_SECRET_LEN + 1], hash[AUTH_HASH_LEN + 1];
	char now[32], exp[32], words[64];
	struct db_val p[6];
	struct buf body = BUF_INIT;
	const char *name;
	int rc;

	if (u->u_email == NULL || web_random(key) == -1)
		return -1;
	web_sha256_hex(key, strlen(key), hash);
	st_time(now, 0);
	st_time(exp, (int64_t)life);
	act_lifetime(life, words, sizeof(words));
	name = u->u_first != NULL && u->u_first[0] != '\0' ? u->u_first :
	    u->u_email;
	buf_printf(&body, "Hello %s,\n\n", name);
	if (reset)
		buf_printf(&body, "someone asked to reset the password of "
		    "your E-Learning Platform account %s. If it was you, "
		    "open this link to choose a new password:\n\n", u->u_email);
	else
		buf_printf(&body, "please confirm that %s is your address: "
		    "open this link to activate your E-Learning Platform "
		    "account:\n\n", u->u_email);
	buf_printf(&body, "%s/login-actions/action-token?key=%s\n\n"
	    "The link works once and expires in %s.", cfg->ac_issuer, key,
	    words);
	if (reset)
		buf_append_str(&body, " If you did not ask for it, ignore "
		    "this mail: your password stays as it is.");
	buf_append_str(&body, "\n");
	buf_append(&body, "", 1);
	explicit_bzero(key, sizeof(key));
	p[0] = DB_STR(hash);
	p[1] = DB_STR(kind);
	p[2] = DB_STR(u->u_id);
	p[3] = DB_STR(u->u_email);
	p[4] = DB_STR(now);
	p[5] = DB_STR(exp);
	if (db_begin(as->as_db) == -1) {
		rc = -1;
		goto done;
	}
	rc = mq_add(as->as_db, cfg, u->u_id, u->u_email, kind, reset ?
	    "Reset your password" : "Verify your e-mail address",
	    buf_data(&body));
	if (rc == 1 && st_exec(as->as_db, SQL_TOKEN_PUT, p, 6) == -1)
		rc = -1;
	if (rc == 1 && db_commit(as->as_db) == -1)
		rc = -1;
	if (rc != 1)
		(void)db_rollback(as->as_db);
done:
	explicit_bzero(buf_data(&body), buf_avail(&body));
	buf_release(&body);
	return rc;
}

void
act_reset_form(struct app_req *req)
{
	if (!oidc_realm_ok(req) || !act_mail_on(req))
		return;
	act_ask_address(req, "Forgot your password?", "Enter your email "
	    "address or username and we will send you a link to choose a "
	    "new password.", "reset-credentials", "Send the link");
}

/* Looks the posted username up and mails it a link of <kind>: any
 * enabled account with an address, or with <verify> only one whose
 * verification is pending. 0, or -1 on a database error. */
static int
act_mail_for(struct app_req *req, const char *kind, int verify)
{
	struct auth_svc *as = req->r_ctx;
	char login[AUTH_NAME_MAX + 1];
	struct auth_user u;
	int rc;

	if (web_field(req->r_body, "username", login, sizeof(login)) != 1 ||
	    login[0] == '\0')
		return 0;
	if ((rc = st_user_by_login(as->as_db, login, &u)) != 1)
		return rc;
	if (u.u_enabled && u.u_email != NULL &&
	    (!verify || act_verify_blocks(as, &u))) {
		rc = act_send(as, &u, kind);
		log_info("account: %s link for account %s requested from %s%s",
		    kind, u.u_id, web_addr(req), rc == 1 ? "" :
		    " (not sent)");
	}
	st_user_release(&u);
	return rc == -1 ? -1 : 0;
}

void
act_reset_post(struct app_req *req)
{
	if (act_form(req) == -1 || !act_mail_on(req))
		return;
	if (act_mail_for(req, "reset", 0) == -1) {
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
		return;
	}
	act_message(req, 200, "Check your e-mail", SAME_ANSWER,
	    "account", "Back to your account");
}

/* Looks the link of the request (field or query key) up. 1 found, 0
 * unknown, -1 error; <key> receives it. */
static int
act_tok_get(struct app_req *req, const char *src, char *key, size_t len,
    struct act_tok *t)
{
	struct auth_svc *as = req->r_ctx;
	char hash[AUTH_HASH_LEN + 1], now[32], *c[5];
	struct db_val p[2];
	int rc;

	memset(t, 0, sizeof(*t));
	if (web_field(src, "key", key, len) != 1 ||
	    strlen(key) != AUTH_SECRET_LEN)
		return 0;
	web_sha256_hex(key, strlen(key), hash);
	st_time(now, 0);
	p[0] = DB_STR(now);
	p[1] = DB_STR(hash);
	if ((rc = st_row(as->as_db, SQL_TOKEN_GET, p, 2, c, 5)) != 1)
		return rc;
	snprintf(t->at_kind, sizeof(t->at_kind), "%s", c[0]);
	snprintf(t->at_account, sizeof(t->at_account), "%s", c[1]);
	snprintf(t->at_email, sizeof(t->at_email), "%s", c[2]);
	t->at_live = c[3] != NULL && strcmp(c[3], "1") == 0;
	t->at_used = c[4] != NULL && strcmp(c[4], "1") == 0;
	st_row_free(c, 5);
	return 1;
}

/* Answers a link that cannot be used; 1 when it answered. */
static int
act_tok_refuse(struct app_req *req, int found, const struct act_tok *t)
{
	if (found == -1)
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
	else if (found == 0)
		act_message(req, 400, "Invalid link", "This link is not "
		    "valid. Copy the whole link from the e-mail, or ask for a "
		    "new one.", "login-actions/reset-credentials",
		    "Ask for a new link");
	else if (t->at_used)
		act_message(req, 400, "Link already used", "This link has "
		    "already been used. Each link works only once.",
		    strcmp(t->at_kind, "reset") == 0 ?
		    "login-actions/reset-credentials" : "account",
		    strcmp(t->at_kind, "reset") == 0 ? "Ask for a new link" :
		    "Go to your account");
	else if (!t->at_live)
		act_message(req, 400, "Link expired", "This link has expired. "
		    "Ask for a new one.", strcmp(t->at_kind, "reset") == 0 ?
		    "login-actions/reset-credentials" :
		    "login-actions/verify-email", "Ask for a new link");
	else
		return 0;
	return 1;
}

/* The new-password form of reset link <key>. */
static void
act_reset_page(struct app_req *req, const char *key, const char *error)
{
	struct auth_svc *as = req->r_ctx;
	char csrf[AUTH_SECRET_LEN + 1];
	struct buf b = BUF_INIT;

	if (act_csrf(req, csrf) == -1) {
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
		return;
	}
	act_html_head(&b, "Choose a new password");
	act_html_note(&b, 0, error);
	buf_printf(&b, "<form method=\"post\" action=\"/realms/%s/"
	    "login-actions/action-token\"><input type=\"hidden\" "
	    "name=\"csrf\" value=\"%s\"><input type=\"hidden\" name=\"key\" "
	    "value=\"%s\"><label for=\"password-new\">New password</label>"
	    "<input id=\"password-new\" name=\"password-new\" "
	    "type=\"password\" autocomplete=\"new-password\" autofocus "
	    "required><label for=\"password-confirm\">Confirm password"
	    "</label><input id=\"password-confirm\" name=\"password-confirm\" "
	    "type=\"password\" autocomplete=\"new-password\" required>"
	    "<p>At least 8 characters with an uppercase and a lowercase "
	    "letter, a digit and one of # ? ! @ $ %% ^ &amp; * -.</p>"
	    "<button type=\"submit\">Set the password</button></form>",
	    as->as_cfg->ac_realm, csrf, key);
	act_html_send(req, 200, &b);
}

/* Uses verification link <key> (kind verify). */
static void
act_verify_use(struct app_req *req, const char *key, const struct act_tok *t)
{
	struct auth_svc *as = req->r_ctx;
	char hash[AUTH_HASH_LEN + 1], now[32];
	struct db_val p[3];
	long long n;

	web_sha256_hex(key, strlen(key), hash);
	st_time(now, 0);
	p[0] = DB_STR(now);
	p[1] = DB_STR(hash);
	p[2] = DB_STR(now);
	if ((n = st_exec(as->as_db, SQL_TOKEN_USE, p, 3)) == -1)
		goto fail;
	if (n == 0) {
		act_message(req, 400, "Link already used", "This link has "
		    "already been used. Each link works only once.",
		    "account", "Go to your account");
		return;
	}
	p[0] = DB_STR(t->at_account);
	p[1] = DB_STR(t->at_email);
	if (st_exec(as->as_db, SQL_VERIFIED, p, 2) == -1)
		goto fail;
	log_info("account: address of account %s verified from %s",
	    t->at_account, web_addr(req));
	act_message(req, 200, "E-mail address verified", "Your e-mail "
	    "address is verified and your account is active. You can log in "
	    "now.", "account", "Go to your account");
	return;
fail:
	web_message(req, 503, "Service unavailable", "Please try again "
	    "later.");
}

void
act_token_get(struct app_req *req)
{
	char key[AUTH_SECRET_LEN + 2];
	struct act_tok t;
	int rc;

	if (!oidc_realm_ok(req))
		return;
	rc = act_tok_get(req, req->r_query, key, sizeof(key), &t);
	if (act_tok_refuse(req, rc, &t))
		return;
	if (strcmp(t.at_kind, "reset") == 0)
		act_reset_page(req, key, NULL);
	else
		act_verify_use(req, key, &t);
}

/*
 * Sets password <hash> of the link's account in one transaction with the
 * link's use: 1 done, 0 the link was used meanwhile, -1 error.
 */
static int
act_reset_apply(struct auth_svc *as, const char *key, const struct act_tok *t,
    const char *pwhash)
{
	char thash[AUTH_HASH_LEN + 1], now[32];
	struct db_val p[3];
	long long n;

	web_sha256_hex(key, strlen(key), thash);
	st_time(now, 0);
	if (db_begin(as->as_db) == -1)
		return -1;
	p[0] = DB_STR(now);
	p[1] = DB_STR(thash);
	p[2] = DB_STR(now);
	if ((n = st_exec(as->as_db, SQL_TOKEN_USE, p, 3)) != 1)
		goto fail;
	p[1] = DB_STR(t->at_account);
	p[2] = DB_STR("reset");
	if (st_exec(as->as_db, SQL_TOKEN_USE_ALL, p, 3) == -1 ||
	    st_set_password_hash(as->as_db, t->at_account, pwhash) == -1 ||
	    st_account_signout(as->as_db, t->at_account, NULL) == -1 ||
	    thr_reset(as->as_db, t->at_account) == -1)
		goto fail;
	/* The mail reached the address: it is verified too. */
	p[0] = DB_STR(t->at_account);
	p[1] = DB_STR(t->at_email);
	if (st_exec(as->as_db, SQL_VERIFIED, p, 2) == -1 ||
	    db_commit(as->as_db) == -1)
		goto fail;
	return 1;
fail:
	(void)db_rollback(as->as_db);
	return n == 0 ? 0 : -1;
}

void
act_token_post(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	char key[AUTH_SECRET_LEN + 2], pw[512], pw2[512], *hash = NULL;
	enum pwrule_err e;
	struct act_tok t;
	int rc, busy = 0;

	if (act_form(req) == -1)
		return;
	rc = act_tok_get(req, req->r_body, key, sizeof(key), &t);
	if (act_tok_refuse(req, rc, &t))
		return;
	if (strcmp(t.at_kind, "reset") != 0) {
		act_tok_refuse(req, 0, &t);
		return;
	}
	if (web_field(req->r_body, "password-new", pw, sizeof(pw)) != 1 ||
	    web_field(req->r_body, "password-confirm", pw2, sizeof(pw2)) != 1)
		pw[0] = pw2[0] = '\0';
	if (strcmp(pw, pw2) != 0)
		act_reset_page(req, key, "The two passwords differ.");
	else if ((e = pwrule_check(pw)) != PWRULE_OK)
		act_reset_page(req, key, pwrule_err_str(e));
	else if ((hash = thr_hash_password(as->as_cfg, pw, &busy)) == NULL ||
	    (rc = act_reset_apply(as, key, &t, hash)) == -1)
		web_message(req, busy ? 429 : 503, busy ? "Too many "
		    "sign-ins" : "Service unavailable", "Please try "
		    "again later.");
	else if (rc == 0)
		act_message(req, 400, "Link already used", "This link has "
		    "already been used. Each link works only once.",
		    "login-actions/reset-credentials", "Ask for a new link");
	else {
		log_info("account: password of account %s reset by mailed "
		    "link from %s; its sessions and refresh tokens are revoked",
		    t.at_account, web_addr(req));
		web_set_cookie(req, as->as_cfg, SSO_COOKIE, "", 0);
		act_message(req, 200, "Password updated", "Your password has "
		    "been updated and every session of your account was "
		    "signed out. Log in with the new password.", "account",
		    "Go to your account");
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(pw2, sizeof(pw2));
	free(hash);
}

int
act_verify_blocks(struct auth_svc *as, const struct auth_user *u)
{
	struct db_val p[1] = { DB_STR(u->u_id) };
	char *c[1];
	int rc;

	if (!as->as_cfg->ac_acct.ap_verify || u->u_email_verified)
		return 0;
	if (st_row(as->as_db, SQL_IS_PENDING, p, 1, c, 1) != 1)
		return 0;
	rc = c[0] != NULL && strcmp(c[0], "1") == 0;
	st_row_free(c, 1);
	return rc;
}

int
act_verify_new(struct auth_svc *as, const char *id)
{
	struct db_val p[1] = { DB_STR(id) };
	struct auth_user u;
	int rc;

	if (!as->as_cfg->ac_acct.ap_verify)
		return 0;
	if (st_exec(as->as_db, SQL_PENDING, p, 1) == -1 ||
	    st_user_by_id(as->as_db, id, &u) != 1)
		return -1;
	rc = act_send(as, &u, "verify");
	st_user_release(&u);
	return rc == -1 ? -1 : 0;
}

void
act_verify_page(struct app_req *req)
{
	act_message(req, 403, "Verify your e-mail address", "Your account is "
	    "not active yet: open the link in the e-mail we sent when you "
	    "registered to verify your address, then log in again.",
	    "login-actions/verify-email", "Send the verification e-mail "
	    "again");
}

void
act_verify_form(struct app_req *req)
{
	if (!oidc_realm_ok(req) || !act_mail_on(req))
		return;
	act_ask_address(req, "Verify your e-mail address", "Enter the email "
	    "address or username of your account and we will send a new "
	    "verification link.", "verify-email", "Send the link");
}

void
act_verify_post(struct app_req *req)
{
	if (act_form(req) == -1 || !act_mail_on(req))
		return;
	if (act_mail_for(req, "verify", 1) == -1) {
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
		return;
	}
	act_message(req, 200, "Check your e-mail", SAME_ANSWER, NULL, NULL);
}
