/*
 * account: the account page, GET|POST /realms/{realm}/account.
 *
 * The browser's SSO session (cookie ELP_SESSION) is the login: without a
 * live one the page redirects to the authorization endpoint as the
 * client <account client> (default account-console) with <issuer>/account
 * as the redirect URI, so the usual login form (and its brute-force
 * protection) is used; coming back, the page drops the code from its
 * URL. The page shows and changes the names, changes the password (the
 * current one is checked like a login; the other sessions are signed
 * out), lists the account's live sessions (start, last use, address,
 * clients) and signs out of one or all of them, revoking their refresh
 * tokens. Every form carries a CSRF token derived from the session's
 * secret (SHA-256 of a label and the cookie), so it is valid exactly as
 * long as the session and unknown to other sites; a post without it is
 * refused with 403. After a successful post the page redirects to itself
 * (303 semantics with 302) with a note.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "buf.h"
#include "log.h"
#include "pwrule.h"
#include "util.h"

#define SSO_COOKIE	"ELP_SESSION"
#define ACCT_SESSIONS_MAX 50	/* sessions listed */

#define SQL_SESS							\
	"SELECT id, account_id FROM sso_session WHERE cookie_hash = ? AND " \
	"ended = 0 AND idle_expires_at > ? AND expires_at > ?"
#define SQL_TOUCH							\
	"UPDATE sso_session SET last_seen = ?, "			\
	"idle_expires_at = LEAST(?, expires_at) WHERE id = ?"
#define SQL_LIST							\
	"SELECT s.id, DATE_FORMAT(s.auth_time, '%Y-%m-%d %H:%i UTC'), "	\
	"DATE_FORMAT(GREATEST(s.last_seen, COALESCE((SELECT "		\
	"MAX(r.created_at) FROM refresh_token r WHERE r.session_id = "	\
	"s.id), s.last_seen)), '%Y-%m-%d %H:%i UTC'), s.address, "	\
	"(SELECT GROUP_CONCAT(DISTINCT r.client_id ORDER BY r.client_id " \
	"SEPARATOR ' ') FROM refresh_token r WHERE r.session_id = s.id), " \
	"(SELECT GROUP_CONCAT(DISTINCT c.client_id ORDER BY c.client_id " \
	"SEPARATOR ' ') FROM auth_code c WHERE c.session_id = s.id) "	\
	"FROM sso_session s WHERE s.account_id = ? AND s.ended = 0 AND " \
	"s.idle_expires_at > ? AND s.expires_at > ? "			\
	"ORDER BY s.auth_time DESC, s.id LIMIT 50"
#define SQL_NAMES							\
	"UPDATE account SET first_name = ?, last_name = ? WHERE id = ?"

/* The request's session. */
struct acct_sess {
	char		 as_sid[37];
	char		 as_csrf[AUTH_HASH_LEN + 1];
	struct auth_user as_user;
};

/* Building the session table. */
struct acct_list {
	struct buf	*al_b;
	const char	*al_sid;
	const char	*al_csrf;
	const char	*al_realm;
	int		 al_n;
};

/*
 * The live session of the request's cookie: 1 with <s> filled (release
 * s->as_user), 0 none (or its account disabled), -1 database error.
 */
static int
acct_session(struct app_req *req, struct acct_sess *s)
{
	struct auth_svc *as = req->r_ctx;
	char cookie[128], hash[AUTH_HASH_LEN + 1], now[32], idle[32], *c[2];
	struct db_val p[3];
	struct buf b = BUF_INIT;
	int rc;

	memset(s, 0, sizeof(*s));
	if (web_cookie(req, SSO_COOKIE, cookie, sizeof(cookie)) != 1 ||
	    cookie[0] == '\0')
		return 0;
	web_sha256_hex(cookie, strlen(cookie), hash);
	st_time(now, 0);
	p[0] = DB_STR(hash);
	p[1] = DB_STR(now);
	p[2] = DB_STR(now);
	if ((rc = st_row(as->as_db, SQL_SESS, p, 3, c, 2)) != 1)
		return rc;
	snprintf(s->as_sid, sizeof(s->as_sid), "%s", c[0]);
	rc = st_user_by_id(as->as_db, c[1], &s->as_user);
	st_row_free(c, 2);
	if (rc != 1)
		return rc;
	if (!s->as_user.u_enabled) {
		st_user_release(&s->as_user);
		return 0;
	}
	st_time(idle, (int64_t)as->as_cfg->ac_sso_idle_ms);
	p[0] = DB_STR(now);
	p[1] = DB_STR(idle);
	p[2] = DB_STR(s->as_sid);
	(void)st_exec(as->as_db, SQL_TOUCH, p, 3);
	buf_printf(&b, "account-page-csrf:%s", cookie);
	web_sha256_hex(buf_data(&b), buf_avail(&b), s->as_csrf);
	explicit_bzero(buf_data(&b), buf_avail(&b));
	buf_release(&b);
	explicit_bzero(cookie, sizeof(cookie));
	return 1;
}

/* No session: to the login form of the account client, back here. */
static void
acct_login(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_cfg *cfg = as->as_cfg;
	char challenge[AUTH_SECRET_LEN + 1], state[AUTH_SECRET_LEN + 1];
	struct buf b = BUF_INIT, uri = BUF_INIT;

	if (cfg->ac_acct.ap_client == NULL ||
	    acfg_client(cfg, cfg->ac_acct.ap_client) == NULL ||
	    web_random(challenge) == -1 || web_random(state) == -1) {
		web_message(req, 401, "Not logged in", "Log in through the "
		    "application first, then open this page again.");
		return;
	}
	/* The code is never redeemed: the SSO session is what counts. */
	buf_printf(&uri, "%s/account", cfg->ac_issuer);
	buf_append(&uri, "", 1);
	buf_printf(&b, "%s/protocol/openid-connect/auth?response_type=code&"
	    "client_id=", cfg->ac_issuer);
	web_pct(&b, cfg->ac_acct.ap_client);
	buf_append_str(&b, "&redirect_uri=");
	web_pct(&b, buf_data(&uri));
	buf_printf(&b, "&scope=openid&state=%s&code_challenge=%s&"
	    "code_challenge_method=S256", state, challenge);
	buf_append(&b, "", 1);
	web_redirect(req, buf_data(&b));
	buf_release(&b);
	buf_release(&uri);
}

/* Appends one hidden-field form with a single button. */
static void
acct_button(struct buf *b, const char *realm, const char *csrf,
    const char *action, const char *sid, const char *label)
{
	buf_printf(b, "<form method=\"post\" action=\"/realms/%s/account\">"
	    "<input type=\"hidden\" name=\"csrf\" value=\"%s\"><input "
	    "type=\"hidden\" name=\"action\" value=\"%s\">", realm, csrf,
	    action);
	if (sid != NULL)
		buf_printf(b, "<input type=\"hidden\" name=\"sid\" "
		    "value=\"%s\">", sid);
	buf_printf(b, "<button class=\"link\" type=\"submit\">%s</button>"
	    "</form>", label);
}

/* Appends the distinct client ids of the two space-separated lists. */
static void
acct_clients(struct buf *b, const char *a, const char *c)
{
	char *all = xasprintf("%s %s", a != NULL ? a : "", c != NULL ? c : "");
	char *w, *save = NULL, *seen = xstrdup("");
	char *tmp;
	int n = 0;

	for (w = strtok_r(all, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		if (acfg_list_has(seen, w))
			continue;
		tmp = xasprintf("%s %s", seen, w);
		free(seen);
		seen = tmp;
		if (n++ > 0)
			buf_append_str(b, ", ");
		web_html(b, w);
	}
	if (n == 0)
		buf_append_str(b, "&mdash;");
	free(seen);
	free(all);
}

/* Row callback of SQL_LIST. */
static int
acct_list_row(void *arg, const struct db_val *cols, size_t ncol)
{
	struct acct_list *al = arg;
	char *v[6];
	size_t i;

	if (ncol < 6)
		return 0;
	for (i = 0; i < 6; i++)
		v[i] = cols[i].dv_type == DB_T_NULL ? NULL :
		    xstrndup(cols[i].dv_s, cols[i].dv_len);
	buf_append_str(al->al_b, "<tr><td>");
	web_html(al->al_b, v[1] ? v[1] : "");
	buf_append_str(al->al_b, "</td><td>");
	web_html(al->al_b, v[2] ? v[2] : "");
	buf_append_str(al->al_b, "</td><td>");
	web_html(al->al_b, v[3] ? v[3] : "unknown");
	buf_append_str(al->al_b, "</td><td>");
	acct_clients(al->al_b, v[4], v[5]);
	buf_append_str(al->al_b, "</td><td>");
	if (v[0] != NULL && strcmp(v[0], al->al_sid) == 0)
		buf_append_str(al->al_b, "<strong>This session</strong>");
	if (v[0] != NULL)
		acct_button(al->al_b, al->al_realm, al->al_csrf, "signout",
		    v[0], "Sign out");
	buf_append_str(al->al_b, "</td></tr>");
	al->al_n++;
	for (i = 0; i < 6; i++)
		free(v[i]);
	return 0;
}

/* Renders the page for session <s> with an optional note. */
static void
acct_render(struct app_req *req, const struct acct_sess *s, int status,
    int ok, const char *note)
{
	struct auth_svc *as = req->r_ctx;
	const char *realm = as->as_cfg->ac_realm;
	const struct auth_user *u = &s->as_user;
	struct acct_list al;
	struct buf b = BUF_INIT;
	struct db_val p[3];
	char now[32];

	act_html_head(&b, "Your account");
	act_html_note(&b, ok, note);
	buf_append_str(&b, "<p>Signed in as <strong>");
	web_html(&b, u->u_username);
	buf_append_str(&b, "</strong>");
	if (u->u_email != NULL && strcmp(u->u_email, u->u_username) != 0) {
		buf_append_str(&b, " (");
		web_html(&b, u->u_email);
		buf_append_str(&b, ")");
	}
	buf_printf(&b, "</p><section><h2>Personal info</h2><form "
	    "method=\"post\" action=\"/realms/%s/account\"><input "
	    "type=\"hidden\" name=\"csrf\" value=\"%s\"><input type=\"hidden\" "
	    "name=\"action\" value=\"profile\"><label for=\"firstName\">First "
	    "name</label><input id=\"firstName\" name=\"firstName\" "
	    "type=\"text\" autocomplete=\"given-name\" maxlength=\"255\" "
	    "required value=\"", realm, s->as_csrf);
	web_html(&b, u->u_first != NULL ? u->u_first : "");
	buf_append_str(&b, "\"><label for=\"lastName\">Last name</label><input "
	    "id=\"lastName\" name=\"lastName\" type=\"text\" "
	    "autocomplete=\"family-name\" maxlength=\"255\" required "
	    "value=\"");
	web_html(&b, u->u_last != NULL ? u->u_last : "");
	buf_printf(&b, "\"><button type=\"submit\">Save</button></form>"
	    "</section><section><h2>Password</h2><form method=\"post\" "
	    "action=\"/realms/%s/account\"><input type=\"hidden\" "
	    "name=\"csrf\" value=\"%s\"><input type=\"hidden\" name=\"action\" "
	    "value=\"password\"><input type=\"hidden\" name=\"username\" "
	    "autocomplete=\"username\" value=\"", realm, s->as_csrf);
	web_html(&b, u->u_username);
	buf_append_str(&b, "\"><label for=\"password\">Current password</label>"
	    "<input id=\"password\" name=\"password\" type=\"password\" "
	    "autocomplete=\"current-password\" required><label "
	    "for=\"password-new\">New password</label><input "
	    "id=\"password-new\" name=\"password-new\" type=\"password\" "
	    "autocomplete=\"new-password\" required><label "
	    "for=\"password-confirm\">Confirm the new password</label><input "
	    "id=\"password-confirm\" name=\"password-confirm\" "
	    "type=\"password\" autocomplete=\"new-password\" required><p>At "
	    "least 8 characters with an uppercase and a lowercase letter, a "
	    "digit and one of # ? ! @ $ % ^ &amp; * -. Your other sessions "
	    "are signed out.</p><button type=\"submit\">Change the password"
	    "</button></form></section><section><h2>Sessions</h2><table>"
	    "<thead><tr><th>Started</th><th>Last used</th><th>Address</th>"
	    "<th>Applications</th><th></th></tr></thead><tbody>");
	memset(&al, 0, sizeof(al));
	al.al_b = &b;
	al.al_sid = s->as_sid;
	al.al_csrf = s->as_csrf;
	al.al_realm = realm;
	st_time(now, 0);
	p[0] = DB_STR(u->u_id);
	p[1] = DB_STR(now);
	p[2] = DB_STR(now);
	if (db_exec(as->as_db, SQL_LIST, p, 3, acct_list_row, &al) == -1)
		log_warnx("database: %s (%s)", db_err_str(db_error(as->as_db)),
		    db_errmsg(as->as_db));
	buf_append_str(&b, "</tbody></table>");
	acct_button(&b, realm, s->as_csrf, "signout-all", NULL,
	    "Sign out of all sessions");
	buf_append_str(&b, "</section>");
	act_html_send(req, status, &b);
}

/* Notes of the redirect after a post (?done=...). */
static const struct {
	const char	*an_key;
	const char	*an_text;
} acct_notes[] = {
	{ "profile", "Your personal info was saved." },
	{ "password", "Your password was changed; your other sessions are "
	    "signed out." },
	{ "signout", "The session was signed out." },
};

void
acct_page(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	struct acct_sess s;
	const char *note = NULL;
	char done[32];
	size_t i;
	int rc;

	if (!oidc_realm_ok(req))
		return;
	if ((rc = acct_session(req, &s)) == -1) {
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
		return;
	}
	if (rc == 0) {
		acct_login(req);
		return;
	}
	if (web_field(req->r_query, "code", done, sizeof(done)) != 0) {
		/* Back from the login form: drop the code from the URL. */
		char *url = xasprintf("%s/account", as->as_cfg->ac_issuer);

		web_redirect(req, url);
		free(url);
		st_user_release(&s.as_user);
		return;
	}
	if (web_field(req->r_query, "done", done, sizeof(done)) == 1)
		for (i = 0; i < NITEMS(acct_notes); i++)
			if (strcmp(done, acct_notes[i].an_key) == 0)
				note = acct_notes[i].an_text;
	acct_render(req, &s, 200, 1, note);
	st_user_release(&s.as_user);
}

/* Redirects to the page with note <done>. */
static void
acct_done(struct app_req *req, const char *done)
{
	struct auth_svc *as = req->r_ctx;
	char *url = xasprintf("%s/account?done=%s", as->as_cfg->ac_issuer,
	    done);

	web_redirect(req, url);
	free(url);
}

/* Whether <s> is 1..255 bytes without control characters. */
static int
acct_name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > AUTH_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static void
acct_profile(struct app_req *req, struct acct_sess *s)
{
	struct auth_svc *as = req->r_ctx;
	char first[AUTH_NAME_MAX + 2], last[AUTH_NAME_MAX + 2];
	struct db_val p[3];

	if (web_field(req->r_body, "firstName", first, sizeof(first)) != 1 ||
	    web_field(req->r_body, "lastName", last, sizeof(last)) != 1 ||
	    !acct_name_ok(first) || !acct_name_ok(last)) {
		acct_render(req, s, 400, 0, "First and last name are required "
		    "(at most 255 bytes, no control characters).");
		return;
	}
	p[0] = DB_STR(first);
	p[1] = DB_STR(last);
	p[2] = DB_STR(s->as_user.u_id);
	if (st_exec(as->as_db, SQL_NAMES, p, 3) == -1) {
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
		return;
	}
	log_info("account: names of account %s changed from %s",
	    s->as_user.u_id, web_addr(req));
	acct_done(req, "profile");
}

static void
acct_password(struct app_req *req, struct acct_sess *s)
{
	struct auth_svc *as = req->r_ctx;
	char cur[512], pw[512], pw2[512], *hash = NULL;
	struct auth_user chk;
	enum pwrule_err e;
	int rc, busy = 0;

	if (web_field(req->r_body, "password", cur, sizeof(cur)) != 1 ||
	    web_field(req->r_body, "password-new", pw, sizeof(pw)) != 1 ||
	    web_field(req->r_body, "password-confirm", pw2, sizeof(pw2)) != 1)
		cur[0] = pw[0] = pw2[0] = '\0';
	if (strcmp(pw, pw2) != 0)
		acct_render(req, s, 400, 0, "The two new passwords differ.");
	else if ((e = pwrule_check(pw)) != PWRULE_OK)
		acct_render(req, s, 400, 0, pwrule_err_str(e));
	else if ((rc = login_check(req, s->as_user.u_username, cur,
	    &chk)) == 0)
		acct_render(req, s, 400, 0, "The current password is not "
		    "correct.");
	else if (rc == LOGIN_BUSY)
		web_message(req, 429, "Too many sign-ins", "Please try "
		    "again in a moment.");
	else if (rc == -1)
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
	else {
		st_user_release(&chk);
		if ((hash = thr_hash_password(as->as_cfg, pw, &busy)) == NULL ||
		    st_set_password_hash(as->as_db, s->as_user.u_id,
		    hash) == -1 || st_account_signout(as->as_db,
		    s->as_user.u_id, s->as_sid) == -1)
			web_message(req, busy ? 429 : 503, busy ? "Too many "
			    "sign-ins" : "Service unavailable", "Please try "
			    "again later.");
		else {
			log_info("account: password of account %s changed on "
			    "the account page from %s; other sessions signed "
			    "out", s->as_user.u_id, web_addr(req));
			acct_done(req, "password");
		}
	}
	explicit_bzero(cur, sizeof(cur));
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(pw2, sizeof(pw2));
	free(hash);
}

static void
acct_signout(struct app_req *req, struct acct_sess *s, int all)
{
	struct auth_svc *as = req->r_ctx;
	char sid[40];
	int rc;

	if (all) {
		if (st_account_signout(as->as_db, s->as_user.u_id, NULL) == -1)
			goto fail;
		log_info("account: account %s signed out of every session "
		    "from %s", s->as_user.u_id, web_addr(req));
		web_set_cookie(req, as->as_cfg, SSO_COOKIE, "", 0);
		web_message(req, 200, "Signed out", "You are signed out of "
		    "every session.");
		return;
	}
	if (web_field(req->r_body, "sid", sid, sizeof(sid)) != 1) {
		acct_render(req, s, 400, 0, "No session was named.");
		return;
	}
	if ((rc = st_session_signout(as->as_db, s->as_user.u_id, sid)) == -1)
		goto fail;
	if (rc == 1)
		log_info("account: session %s of account %s signed out from %s",
		    sid, s->as_user.u_id, web_addr(req));
	if (strcmp(sid, s->as_sid) == 0) {
		web_set_cookie(req, as->as_cfg, SSO_COOKIE, "", 0);
		web_message(req, 200, "Signed out", "You are signed out.");
		return;
	}
	acct_done(req, "signout");
	return;
fail:
	web_message(req, 503, "Service unavailable", "Please try again "
	    "later.");
}

void
acct_post(struct app_req *req)
{
	struct acct_sess s;
	char action[32];
	int rc;

	if (!oidc_realm_ok(req) || web_form_body(req) == -1)
		return;
	if ((rc = acct_session(req, &s)) == -1) {
		web_message(req, 503, "Service unavailable", "Please try "
		    "again later.");
		return;
	}
	if (rc == 0) {
		/* No session, so no token could match: refused like one. */
		act_csrf_refused(req);
		return;
	}
	if (!act_csrf_ok(req, s.as_csrf)) {
		act_csrf_refused(req);
		st_user_release(&s.as_user);
		return;
	}
	if (web_field(req->r_body, "action", action, sizeof(action)) != 1)
		action[0] = '\0';
	if (strcmp(action, "profile") == 0)
		acct_profile(req, &s);
	else if (strcmp(action, "password") == 0)
		acct_password(req, &s);
	else if (strcmp(action, "signout") == 0)
		acct_signout(req, &s, 0);
	else if (strcmp(action, "signout-all") == 0)
		acct_signout(req, &s, 1);
	else
		acct_render(req, &s, 400, 0, "Unknown action.");
	st_user_release(&s.as_user);
}
