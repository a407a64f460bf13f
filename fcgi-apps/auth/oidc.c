/*
 * oidc: the route table of elp-auth and the small read-only endpoints:
 * discovery, JWKS, userinfo, revocation, introspection, health. Paths are
 * Keycloak's; the gateway passes them unchanged (no rewrite).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "svc.h"
#include "util.h"

#define OIDC_P	"/realms/{realm}/protocol/openid-connect"
#define ADM_P	"/admin/realms/{realm}"

static void	oidc_discovery(struct app_req *);
static void	oidc_jwks(struct app_req *);
static void	oidc_userinfo(struct app_req *);
static void	oidc_revoke(struct app_req *);
static void	oidc_introspect(struct app_req *);
static void	oidc_health(struct app_req *);
static void	oidc_logout(struct app_req *);

/* Double-submit cookie of the logout confirmation form. */
#define LOGOUT_COOKIE	"ELP_LOGOUT_CSRF"
#define LOGOUT_TTL	600	/* seconds the form stays usable */

const struct app_route oidc_routes[] = {
	{ "GET", "/realms/{realm}/.well-known/openid-configuration",
	    oidc_discovery, APP_BODY_ANY },
	{ "GET", OIDC_P "/certs", oidc_jwks, APP_BODY_ANY },
	{ "GET", OIDC_P "/auth", login_auth, APP_BODY_ANY },
	{ "POST", "/realms/{realm}/login-actions/authenticate",
	    login_submit, APP_BODY_ANY },
	{ "POST", OIDC_P "/token", tok_endpoint, APP_BODY_ANY },
	{ "POST", OIDC_P "/token/introspect", oidc_introspect, APP_BODY_ANY },
	{ "POST", OIDC_P "/revoke", oidc_revoke, APP_BODY_ANY },
	{ "GET", OIDC_P "/userinfo", oidc_userinfo, APP_BODY_ANY },
	{ "POST", OIDC_P "/userinfo", oidc_userinfo, APP_BODY_ANY },
	{ "GET", OIDC_P "/logout", oidc_logout, APP_BODY_ANY },
	{ "POST", OIDC_P "/logout", oidc_logout, APP_BODY_ANY },
	{ "GET", ADM_P "/users", adm_list, APP_BODY_ANY },
	{ "POST", ADM_P "/users", adm_create, APP_BODY_JSON },
	{ "POST", ADM_P "/users/by-ids", adm_by_ids, APP_BODY_JSON },
	{ "GET", ADM_P "/users/{id}", adm_get, APP_BODY_ANY },
	{ "PUT", ADM_P "/users/{id}", adm_update, APP_BODY_JSON },
	{ "DELETE", ADM_P "/users/{id}", adm_delete, APP_BODY_ANY },
	{ "PUT", ADM_P "/users/{id}/reset-password",
	    adm_password, APP_BODY_JSON },
	{ "GET", ADM_P "/roles/{role}/users", adm_role_users, APP_BODY_ANY },
	{ "POST", ADM_P "/users/{id}/logout", adm_logout, APP_BODY_ANY },
	{ "GET", ADM_P "/users/{id}/role-mappings/realm",
	    adm_roles_get, APP_BODY_ANY },
	{ "POST", ADM_P "/users/{id}/role-mappings/realm",
	    adm_roles_add, APP_BODY_JSON },
	{ "DELETE", ADM_P "/users/{id}/role-mappings/realm",
	    adm_roles_del, APP_BODY_JSON },
	{ "GET", ADM_P "/audit", adt_list, APP_BODY_ANY },
	{ "GET", ADM_P "/admin-events", adt_list, APP_BODY_ANY },
	{ "GET", ADM_P "/events", adt_events, APP_BODY_ANY },
	{ "GET", "/health", oidc_health, APP_BODY_ANY },
	/* Account pages (action.c, account.c). */
	{ "GET", "/realms/{realm}/login-actions/reset-credentials",
	    act_reset_form, APP_BODY_ANY },
	{ "POST", "/realms/{realm}/login-actions/reset-credentials",
	    act_reset_post, APP_BODY_ANY },
	{ "GET", "/realms/{realm}/login-actions/action-token",
	    act_token_get, APP_BODY_ANY },
	{ "POST", "/realms/{realm}/login-actions/action-token",
	    act_token_post, APP_BODY_ANY },
	{ "GET", "/realms/{realm}/login-actions/verify-email",
	    act_verify_form, APP_BODY_ANY },
	{ "POST", "/realms/{realm}/login-actions/verify-email",
	    act_verify_post, APP_BODY_ANY },
	{ "GET", "/realms/{realm}/account", acct_page, APP_BODY_ANY },
	{ "POST", "/realms/{realm}/account", acct_post, APP_BODY_ANY },
};
const size_t oidc_nroutes = NITEMS(oidc_routes);

int
oidc_realm_ok(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const char *realm = app_cap(req, "realm");

	if (realm != NULL && strcmp(realm, as->as_cfg->ac_realm) == 0)
		return 1;
	web_oauth_error(req, 404, "invalid_request", "Realm does not exist",
	    0);
	return 0;
}

/* Adds <issuer><path> under <key>. */
static void
oidc_url(json_t *d, const char *key, const char *issuer, const char *path)
{
	json_object_set_new(d, key, json_sprintf("%s%s", issuer, path));
}

/* The endpoint URLs of the discovery document, all under the issuer. */
static void
oidc_endpoints(json_t *d, const char *iss)
{
	oidc_url(d, "authorization_endpoint", iss, "/protocol/openid-connect/"
	    "auth");
	oidc_url(d, "token_endpoint", iss, "/protocol/openid-connect/token");
	oidc_url(d, "userinfo_endpoint", iss, "/protocol/openid-connect/"
	    "userinfo");
	oidc_url(d, "end_session_endpoint", iss, "/protocol/openid-connect/"
	    "logout");
	oidc_url(d, "revocation_endpoint", iss, "/protocol/openid-connect/"
	    "revoke");
	oidc_url(d, "introspection_endpoint", iss, "/protocol/openid-connect/"
	    "token/introspect");
	oidc_url(d, "jwks_uri", iss, "/protocol/openid-connect/certs");
}

static void
oidc_discovery(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const char *iss = as->as_cfg->ac_issuer;
	json_t *d;

	if (!oidc_realm_ok(req))
		return;
	d = json_pack("{s:s, s:[s], s:[s], s:[s,s,s,s], s:[s], s:[s,s,"
	    "s,s,s,s], s:[s], s:[s], s:[s,s,s], s:b, s:b, s:b, s:b}",
	    "issuer", iss,
	    "response_types_supported", "code",
	    /* login_back() only ever answers in the query. */
	    "response_modes_supported", "query",
	    "grant_types_supported", "authorization_code", "refresh_token",
	    "password", "client_credentials",
	    "code_challenge_methods_supported", "S256",
	    "scopes_supported", "openid", "profile", "email", "offline_access",
	    "roles", "web-origins",
	    "subject_types_supported", "public",
	    "id_token_signing_alg_values_supported", "RS256",
	    "token_endpoint_auth_methods_supported", "client_secret_basic",
	    "client_secret_post", "none",
	    "claims_parameter_supported", 0,
	    "request_parameter_supported", 0,
	    "request_uri_parameter_supported", 0,
	    "frontchannel_logout_supported", 0);
	json_object_set_new(d, "claims_supported", json_pack("[s,s,s,s,s,s,s,"
	    "s,s,s,s,s,s,s]", "iss", "sub", "aud", "exp", "iat", "auth_time",
	    "nonce", "sid", "preferred_username", "email", "email_verified",
	    "given_name", "family_name", "name"));
	json_object_set_new(d, "userinfo_signing_alg_values_supported",
	    json_pack("[s]", "none"));
	oidc_endpoints(d, iss);
	app_send_json(req, 200, d);
}

static void
oidc_jwks(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_cfg *cfg = as->as_cfg;
	json_t *keys;
	size_t i;

	if (!oidc_realm_ok(req))
		return;
	keys_refresh(&as->as_keys, (int64_t)(cfg->ac_access_ms / 1000) + 60);
	keys = json_array();
	for (i = 0; i < as->as_keys.ak_n; i++)
		json_array_append_new(keys,
		    jwt_key_jwk(&as->as_keys.ak_keys[i]));
	app_header(req, "Cache-Control", "no-cache");
	app_send_json(req, 200, json_pack("{s:o}", "keys", keys));
}

json_t *
oidc_verify(struct auth_svc *as, const char *tok, int64_t leeway)
{
	struct jwt_keyset set = { NULL, 0 };
	struct jwt_expect ex;
	json_t *claims = NULL;
	enum jwt_err e;
	size_t i;

	keys_refresh(&as->as_keys, (int64_t)(as->as_cfg->ac_access_ms /
	    1000) + 60);
	for (i = 0; i < as->as_keys.ak_n; i++)
		jwt_keyset_add(&set, &as->as_keys.ak_keys[i]);
	memset(&ex, 0, sizeof(ex));
	ex.je_iss = as->as_cfg->ac_issuer;
	ex.je_leeway = leeway;
	e = jwt_verify(&set, tok, strlen(tok), &ex, &claims);
	jwt_keyset_release(&set);
	if (e != JWT_OK) {
		log_debug("%s: %s", __func__, jwt_err_str(e));
		return NULL;
	}
	return claims;
}

json_t *
oidc_bearer(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const char *h = app_param(req, "HTTP_AUTHORIZATION");
	const char *typ;
	json_t *c = NULL;

	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0 &&
	    strlen(h + 7) <= JWT_MAX_LEN)
		c = oidc_verify(as, h + 7, 60);
	typ = json_string_value(json_object_get(c, "typ"));
	if (c != NULL && typ != NULL && strcmp(typ, "Bearer") == 0)
		return c;
	json_decref(c);
	app_header(req, "WWW-Authenticate", h == NULL ? "Bearer realm=\""
	    "e-learning-platform\"" : "Bearer error=\"invalid_token\", "
	    "error_description=\"Token verification failed\"");
	web_json_nostore(req, 401, json_pack("{s:s, s:s}", "error",
	    "invalid_token", "error_description", h == NULL ? "Bearer token "
	    "required" : "Token verification failed"));
	return NULL;
}

static void
oidc_userinfo(struct app_req *req)
{
	static const char *const keys[] = {
		"sub", "preferred_username", "email", "email_verified",
		"given_name", "family_name", "name",
	};
	json_t *c, *out;
	size_t i;

	if (!oidc_realm_ok(req) || (c = oidc_bearer(req)) == NULL)
		return;
	out = json_object();
	for (i = 0; i < NITEMS(keys); i++)
		if (json_object_get(c, keys[i]) != NULL)
			json_object_set(out, keys[i], json_object_get(c,
			    keys[i]));
	json_decref(c);
	web_json_nostore(req, 200, out);
}

/*
 * RFC 7009: revokes the family of a refresh token presented by its
 * client. Always 200, also for unknown tokens.
 */
static void
oidc_revoke(struct app_req *req)
{
	static const char sql[] = "UPDATE refresh_token SET revoked = 1 "
	    "WHERE family_id = (SELECT family_id FROM (SELECT family_id FROM "
	    "refresh_token WHERE token_hash = ? AND client_id = ?) AS t)";
	struct auth_svc *as = req->r_ctx;
	const struct auth_client *cl;
	char tok[256], hash[AUTH_HASH_LEN + 1];
	struct db_val p[2];

	if (!oidc_realm_ok(req) || web_form_body(req) == -1 ||
	    (cl = tok_client_auth(req)) == NULL)
		return;
	if (web_field(req->r_body, "token", tok, sizeof(tok)) == 1) {
		web_sha256_hex(tok, strlen(tok), hash);
		p[0] = DB_STR(hash);
		p[1] = DB_STR(cl->cl_id);
		st_exec(as->as_db, sql, p, 2);
	}
	web_json_nostore(req, 200, json_object());
}

/* RFC 7662 for confidential clients: access tokens we signed. */
static void
oidc_introspect(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_client *cl;
	char tok[JWT_MAX_LEN + 1];
	json_t *c = NULL;

	if (!oidc_realm_ok(req) || web_form_body(req) == -1 ||
	    (cl = tok_client_auth(req)) == NULL)
		return;
	if (cl->cl_public) {
		web_oauth_error(req, 401, "invalid_client", "Confidential "
		    "client required", 0);
		return;
	}
	if (web_field(req->r_body, "token", tok, sizeof(tok)) == 1)
		c = oidc_verify(as, tok, 0);
	if (c == NULL)
		c = json_object();
	json_object_set_new(c, "active", json_boolean(json_object_size(c) >
	    0));
	web_json_nostore(req, 200, c);
}

static void
oidc_health(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;

	svc_health(req, as->as_db);
}

/* Whether <src> (query or form) carries an ID token hint we issued. */
static int
oidc_logout_hint_ok(struct app_req *req, const char *src)
{
	struct auth_svc *as = req->r_ctx;
	char tok[JWT_MAX_LEN + 1];
	json_t *hint;

	if (web_field(src, "id_token_hint", tok, sizeof(tok)) != 1)
		return 0;
	/* The leeway of login_logout(): an old ID token still names us. */
	hint = oidc_verify(as, tok, INT64_C(31536000));
	json_decref(hint);
	return hint != NULL;
}

/* Appends a hidden input <name> with the value of field <name> of <src>. */
static void
oidc_logout_hidden(struct buf *b, const char *src, const char *name)
{
	char v[AUTH_PARAM_MAX];

	if (web_field(src, name, v, sizeof(v)) != 1 || v[0] == '\0')
		return;
	buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	web_html(b, v);
	buf_append_str(b, "\">");
}

/*
 * The confirmation page: a POST form back to this endpoint with a fresh
 * CSRF token, also set as a cookie, and the redirect parameters of <src>.
 */
static void
oidc_logout_confirm(struct app_req *req, const char *src)
{
	struct auth_svc *as = req->r_ctx;
	char csrf[AUTH_SECRET_LEN + 1];
	struct buf b = BUF_INIT;

	if (web_random(csrf) == -1) {
		web_message(req, 500, "Error", "Please try again later.");
		return;
	}
	web_set_cookie(req, as->as_cfg, LOGOUT_COOKIE, csrf, LOGOUT_TTL);
	buf_append_str(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\"><title>Log out"
	    "</title><style>body{font-family:system-ui,sans-serif;"
	    "max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1a1a1a}"
	    "</style></head><body><main><h1>Log out</h1><p>Do you want to "
	    "log out?</p><form method=\"post\" action=\"logout\">");
	buf_printf(&b, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
	    csrf);
	oidc_logout_hidden(&b, src, "post_logout_redirect_uri");
	oidc_logout_hidden(&b, src, "client_id");
	oidc_logout_hidden(&b, src, "state");
	buf_append_str(&b, "<button type=\"submit\">Log out</button></form>"
	    "</main></body></html>\n");
	web_page(req, 200, buf_data(&b), buf_avail(&b));
	buf_release(&b);
}

/*
 * GET and POST .../logout, the end-session endpoint (docs/contract/auth.md
 * step 9). A request with a valid id_token_hint (the relying party's
 * logout), or a POST of the confirmation form whose CSRF token matches
 * its cookie, goes on to login_logout(). Anything else, which any page on
 * the web can make a browser send, gets the confirmation page and ends
 * no session.
 */
static void
oidc_logout(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	char csrf[64], cookie[64];
	const char *src = req->r_query;
	int ok;

	if (!oidc_realm_ok(req))
		return;
	if (strcmp(req->r_method, "POST") == 0) {
		if (web_form_body(req) == -1)
			return;
		src = req->r_body;
	}
	ok = oidc_logout_hint_ok(req, src);
	if (!ok && src == req->r_body &&
	    web_field(src, "csrf", csrf, sizeof(csrf)) == 1 &&
	    web_cookie(req, LOGOUT_COOKIE, cookie, sizeof(cookie)) == 1 &&
	    cookie[0] != '\0' && web_ct_eq(cookie, csrf)) {
		ok = 1;
		web_set_cookie(req, as->as_cfg, LOGOUT_COOKIE, "", 0);
	}
	if (ok)
		login_logout(req);
	else
		oidc_logout_confirm(req, src);
}
