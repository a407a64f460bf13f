/*
 * token: the token endpoint (RFC 6749 section 3.2) and token minting.
 *
 * Grants: authorization_code (PKCE S256, single-use codes whose reuse
 * revokes the refresh-token family issued from them), refresh_token
 * (rotation: each refresh token works once; presenting a used one revokes
 * its whole family), password (clients configured for it), and
 * client_credentials (confidential clients; no refresh token).
 *
 * Access and ID tokens are RS256 JWTs signed with the current key.
 * Refresh tokens are 256-bit random values; only their SHA-256 is stored.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <argon2.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"
#include "log.h"
#include "util.h"
#include "uuid.h"

#define TOK_SCOPES	"openid profile email offline_access roles web-origins"

#define SQL_RT_PUT							\
	"INSERT INTO refresh_token (token_hash, family_id, client_id, "	\
	"account_id, session_id, scope, nonce, offline, auth_time, "	\
	"idle_expires_at, family_expires_at, created_at) "		\
	"VALUES (?, ?, ?, ?, ?, ?, ?, ?, FROM_UNIXTIME(?), ?, ?, ?)"
/* Inside the rotation's transaction: the row stays locked until commit,
 * so a concurrent presentation of the same token waits and then sees it
 * used. Columns 10-11: still within its idle time, family end (s). */
#define SQL_RT_LOCK							\
	"SELECT family_id, client_id, account_id, session_id, scope, "	\
	"nonce, offline, UNIX_TIMESTAMP(auth_time), used, revoked, "	\
	"idle_expires_at > ?, UNIX_TIMESTAMP(family_expires_at) "	\
	"FROM refresh_token WHERE token_hash = ? FOR UPDATE"
#define SQL_RT_USE	"UPDATE refresh_token SET used = 1 "		\
	"WHERE token_hash = ?"
#define SQL_RT_REVOKE_FAMILY						\
	"UPDATE refresh_token SET revoked = 1 WHERE family_id = ?"
/* Column 10: not yet expired. */
#define SQL_CODE_LOCK							\
	"SELECT client_id, account_id, session_id, redirect_uri, scope, " \
	"nonce, code_challenge, UNIX_TIMESTAMP(auth_time), used, "	\
	"family_id, expires_at > ? FROM auth_code WHERE code_hash = ? "	\
	"FOR UPDATE"
#define SQL_CODE_USE	"UPDATE auth_code SET used = 1, family_id = ? "	\
	"WHERE code_hash = ?"
#define SQL_SESSION_LIVE						\
	"SELECT 1 FROM sso_session WHERE id = ? AND ended = 0 "		\
	"AND expires_at > ?"

/* What one token response is made from. */
struct tok_ctx {
	const struct auth_client *tc_client;
	struct auth_user	*tc_user;	/* NULL: service account */
	char			 tc_sid[UUID_STR_LEN + 1]; /* "" none */
	char			 tc_family[UUID_STR_LEN + 1]; /* "" new */
	const char		*tc_scope;
	const char		*tc_nonce;	/* NULL none */
	long long		 tc_auth_time;
	int			 tc_offline;
	long long		 tc_family_end;	/* ms; offline families,
						   0: starts now */
};

static void	tok_grant_code(struct app_req *, const struct auth_client *);
static void	tok_grant_refresh(struct app_req *, const struct auth_client *);
static void	tok_grant_password(struct app_req *,
		    const struct auth_client *);
static void	tok_grant_client(struct app_req *, const struct auth_client *);

static const struct {
	const char	*g_name;
	int		 g_bit;
	void		(*g_fn)(struct app_req *, const struct auth_client *);
} tok_grants[] = {
	{ "authorization_code", GRANT_CODE, tok_grant_code },
	{ "refresh_token", GRANT_REFRESH, tok_grant_refresh },
	{ "password", GRANT_PASSWORD, tok_grant_password },
	{ "client_credentials", GRANT_CLIENT, tok_grant_client },
};

char *
tok_hash_password(const struct auth_cfg *cfg, const char *password)
{
	unsigned char salt[16];
	size_t len;
	char *enc;

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return NULL;
	len = argon2_encodedlen((uint32_t)cfg->ac_t_cost,
	    (uint32_t)cfg->ac_m_cost, (uint32_t)cfg->ac_parallelism,
	    sizeof(salt), 32, Argon2_id);
	enc = xmalloc(len);
	if (argon2id_hash_encoded((uint32_t)cfg->ac_t_cost,
	    (uint32_t)cfg->ac_m_cost, (uint32_t)cfg->ac_parallelism,
	    password, strlen(password), salt, sizeof(salt), 32, enc,
	    len) != ARGON2_OK) {
		free(enc);
		return NULL;
	}
	return enc;
}

char *
tok_sign(struct auth_svc *as, json_t *claims)
{
	const struct auth_cfg *cfg = as->as_cfg;

	keys_refresh(&as->as_keys, (int64_t)(cfg->ac_access_ms / 1000) + 60);
	if (as->as_keys.ak_n == 0)
		return NULL;
	return jwt_sign(&as->as_keys.ak_keys[0], claims);
}

/* Decodes the client id and secret of an HTTP Basic header <h>. */
static int
tok_basic(const char *h, char *id, size_t idlen, char *sec, size_t seclen)
{
	unsigned char raw[1024];
	char *colon, *q;
	size_t n = strlen(h);
	int len;

	if (n > 1300 || (len = EVP_DecodeBlock(raw, (const unsigned char *)h,
	    (int)n)) < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	while (n > 0 && h[--n] == '=')
		len--;
	raw[len] = '\0';
	if ((colon = strchr((char *)raw, ':')) == NULL)
		return -1;
	*colon = '\0';
	q = xasprintf("i=%s&s=%s", (char *)raw, colon + 1);
	explicit_bzero(raw, sizeof(raw));
	len = web_field(q, "i", id, idlen) == 1 &&
	    web_field(q, "s", sec, seclen) == 1 ? 0 : -1;
	explicit_bzero(q, strlen(q));
	free(q);
	return len;
}

/* Reads the client's credentials; *<basic> tells which way they came. */
static int
tok_credentials(struct app_req *req, char *id, size_t idlen, char *sec,
    size_t seclen, int *basic)
{
	const char *h = app_param(req, "HTTP_AUTHORIZATION");

	*basic = 0;
	sec[0] = '\0';
	if (h != NULL && strncasecmp(h, "Basic ", 6) == 0) {
		*basic = 1;
		return tok_basic(h + 6, id, idlen, sec, seclen);
	}
	if (web_field(req->r_body, "client_id", id, idlen) != 1)
		return -1;
	if (web_field(req->r_body, "client_secret", sec, seclen) == -1)
		return -1;
	return 0;
}

const struct auth_client *
tok_client_auth(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;
	const struct auth_client *cl = NULL;
	char id[AUTH_ID_MAX + 1], sec[256];
	int basic;

	if (tok_credentials(req, id, sizeof(id), sec, sizeof(sec),
	    &basic) == -1) {
		web_oauth_error(req, basic ? 401 : 400, basic ?
		    "invalid_client" : "invalid_request", basic ?
		    "Malformed client credentials" : "Missing client_id", basic);
		goto done;
	}
	cl = acfg_client(as->as_cfg, id);
	if (cl != NULL && !cl->cl_public && (cl->cl_secret == NULL ||
	    !web_ct_eq(sec, cl->cl_secret)))
		cl = NULL;
	if (cl == NULL) {
		log_warnx("token: client authentication failed for client "
		    "\"%.64s\" from %s", id, web_addr(req));
		web_oauth_error(req, 401, "invalid_client",
		    "Invalid client or Invalid client credentials", basic);
	}
done:
	explicit_bzero(sec, sizeof(sec));
	return cl;
}

void
tok_endpoint(struct app_req *req)
{
	const struct auth_client *cl;
	char grant[64];
	size_t i;

	if (!oidc_realm_ok(req) || web_form_body(req) == -1)
		return;
	if (web_field(req->r_body, "grant_type", grant, sizeof(grant)) != 1) {
		web_oauth_error(req, 400, "invalid_request",
		    "Missing form parameter: grant_type", 0);
		return;
	}
	for (i = 0; i < NITEMS(tok_grants); i++)
		if (strcmp(grant, tok_grants[i].g_name) == 0)
			break;
	if (i == NITEMS(tok_grants)) {
		web_oauth_error(req, 400, "unsupported_grant_type",
		    "Unsupported grant_type", 0);
		return;
	}
	if ((cl = tok_client_auth(req)) == NULL)
		return;
	if (!(cl->cl_grants & tok_grants[i].g_bit)) {
		web_oauth_error(req, 400, "unauthorized_client", "Client not "
		    "allowed to use this grant type", 0);
		return;
	}
	tok_grants[i].g_fn(req, cl);
}

/*
 * See auth.h.
 */
int
tok_scope(const char *scope, int may_offline, char *out, size_t outlen)
{
	char *dup = xstrdup(scope), *w, *save = NULL;
	size_t n = 0;
	int rc = 0;

	out[0] = '\0';
	for (w = strtok_r(dup, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		if (!acfg_list_has(TOK_SCOPES, w))
			rc = -1;
		else if ((strcmp(w, "offline_access") != 0 || may_offline) &&
		    !acfg_list_has(out, w) && n + strlen(w) + 2 < outlen)
			n += (size_t)snprintf(out + n, outlen - n, "%s%s",
			    n > 0 ? " " : "", w);
	}
	if (n == 0)
		snprintf(out, outlen, "profile email");
	free(dup);
	return rc;
}

/* A UUID-shaped subject for the service account of client <id>. */
static void
tok_service_sub(const char *id, char out[UUID_STR_LEN + 1])
{
	char h[AUTH_HASH_LEN + 1];

	web_sha256_hex(id, strlen(id), h);
	snprintf(out, UUID_STR_LEN + 1, "%.8s-%.4s-5%.3s-a%.3s-%.12s", h,
	    h + 8, h + 13, h + 17, h + 20);
}

/* Adds the profile claims of <u> to <c>. */
static void
tok_profile(json_t *c, const struct auth_user *u)
{
	char *name;

	json_object_set_new(c, "preferred_username",
	    json_string(u->u_username));
	if (u->u_email != NULL)
		json_object_set_new(c, "email", json_string(u->u_email));
	json_object_set_new(c, "email_verified",
	    json_boolean(u->u_email_verified));
	if (u->u_first != NULL)
		json_object_set_new(c, "given_name", json_string(u->u_first));
	if (u->u_last != NULL)
		json_object_set_new(c, "family_name", json_string(u->u_last));
	name = xasprintf("%s%s%s", u->u_first ? u->u_first : "",
	    u->u_first && u->u_last ? " " : "", u->u_last ? u->u_last : "");
	if (name[0] != '\0')
		json_object_set_new(c, "name", json_string(name));
	free(name);
}

/* Claims shared by the access and the ID token. */
static json_t *
tok_base(struct auth_svc *as, const struct tok_ctx *tc, const char *typ)
{
	const struct auth_cfg *cfg = as->as_cfg;
	char jti[UUID_STR_LEN + 1], sub[UUID_STR_LEN + 1];
	long long now = (long long)time(NULL);
	json_t *c;

	if (uuid_v4(jti) == -1)
		return NULL;
	if (tc->tc_user != NULL)
		snprintf(sub, sizeof(sub), "%s", tc->tc_user->u_id);
	else
		tok_service_sub(tc->tc_client->cl_id, sub);
	c = json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s}", "exp",
	    (json_int_t)(now + (long long)(cfg->ac_access_ms / 1000)), "iat",
	    (json_int_t)now, "jti", jti, "iss", cfg->ac_issuer, "sub", sub,
	    "typ", typ, "azp", tc->tc_client->cl_id);
	if (c == NULL)
		return NULL;
	json_object_set_new(c, "auth_time", json_integer(tc->tc_auth_time));
	if (tc->tc_sid[0] != '\0')
		json_object_set_new(c, "sid", json_string(tc->tc_sid));
	return c;
}

/* Roles of the token: the account's, or the service account's. */
static json_t *
tok_roles(const struct tok_ctx *tc)
{
	char *dup, *w, *save = NULL;
	json_t *a;

	if (tc->tc_user != NULL)
		return json_deep_copy(tc->tc_user->u_roles);
	a = json_array();
	dup = xstrdup(tc->tc_client->cl_roles);
	for (w = strtok_r(dup, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save))
		json_array_append_new(a, json_string(w));
	free(dup);
	return a;
}

/* The signed access token, or NULL. */
static char *
tok_access(struct auth_svc *as, const struct tok_ctx *tc)
{
	json_t *c = tok_base(as, tc, "Bearer");
	char *tok = NULL;

	if (c == NULL)
		return NULL;
	json_object_set_new(c, "aud", json_string(as->as_cfg->ac_audience));
	json_object_set_new(c, "scope", json_string(tc->tc_scope));
	json_object_set_new(c, "realm_access", json_pack("{s:o}", "roles",
	    tok_roles(tc)));
	if (tc->tc_user != NULL)
		tok_profile(c, tc->tc_user);
	else
		json_object_set_new(c, "preferred_username", json_sprintf(
		    "service-account-%s", tc->tc_client->cl_id));
	tok = tok_sign(as, c);
	json_decref(c);
	return tok;
}

/* The signed ID token, or NULL. */
static char *
tok_id(struct auth_svc *as, const struct tok_ctx *tc)
{
	json_t *c = tok_base(as, tc, "ID");
	char *tok = NULL;

	if (c == NULL)
		return NULL;
	json_object_set_new(c, "aud", json_string(tc->tc_client->cl_id));
	if (tc->tc_nonce != NULL)
		json_object_set_new(c, "nonce", json_string(tc->tc_nonce));
	if (tc->tc_user != NULL)
		tok_profile(c, tc->tc_user);
	tok = tok_sign(as, c);
	json_decref(c);
	return tok;
}

/*
 * Stores a new refresh token of <tc> and returns it (heap), or NULL. An
 * offline family ends lifetimes/@offline-max after its first token,
 * whatever its idle time; its tokens' idle expiry never passes that end.
 */
static char *
tok_refresh_new(struct auth_svc *as, struct tok_ctx *tc, long long *idle_s)
{
	const struct auth_cfg *cfg = as->as_cfg;
	char raw[AUTH_SECRET_LEN + 1], hash[AUTH_HASH_LEN + 1], now[32];
	char idle[32], fend[32];
	struct db_val p[12];
	struct timespec ts;
	long long now_ms, idle_ms, left;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	idle_ms = (long long)(tc->tc_offline ? cfg->ac_offline_idle_ms :
	    cfg->ac_sso_idle_ms);
	if (tc->tc_offline) {
		if (tc->tc_family_end == 0)
			tc->tc_family_end = now_ms +
			    (long long)cfg->ac_offline_max_ms;
		if ((left = tc->tc_family_end - now_ms) < idle_ms)
			idle_ms = left > 0 ? left : 0;
		st_time(fend, tc->tc_family_end - now_ms);
	}
	*idle_s = idle_ms / 1000;
	if (web_random(raw) == -1 || (tc->tc_family[0] == '\0' &&
	    uuid_v4(tc->tc_family) == -1))
		return NULL;
	web_sha256_hex(raw, strlen(raw), hash);
	st_time(now, 0);
	st_time(idle, idle_ms);
	p[0] = DB_STR(hash);
	p[1] = DB_STR(tc->tc_family);
	p[2] = DB_STR(tc->tc_client->cl_id);
	p[3] = DB_STR(tc->tc_user->u_id);
	p[4] = tc->tc_sid[0] != '\0' ? DB_STR(tc->tc_sid) : DB_NULLV;
	p[5] = DB_STR(tc->tc_scope);
	p[6] = tc->tc_nonce != NULL ? DB_STR(tc->tc_nonce) : DB_NULLV;
	p[7] = DB_INT(tc->tc_offline);
	p[8] = DB_INT(tc->tc_auth_time);
	p[9] = DB_STR(idle);
	p[10] = tc->tc_offline ? DB_STR(fend) : DB_NULLV;
	p[11] = DB_STR(now);
	if (st_exec(as->as_db, SQL_RT_PUT, p, 12) == -1)
		return NULL;
	return xstrdup(raw);
}

/* Adds refresh_token and refresh_expires_in to <out> when due. */
static int
tok_add_refresh(struct auth_svc *as, struct tok_ctx *tc, json_t *out)
{
	long long idle;
	char *rt;

	if (tc->tc_user == NULL || !(tc->tc_client->cl_grants & GRANT_REFRESH))
		return 0;
	if ((rt = tok_refresh_new(as, tc, &idle)) == NULL)
		return -1;
	json_object_set_new(out, "refresh_token", json_string(rt));
	json_object_set_new(out, "refresh_expires_in", json_integer(idle));
	explicit_bzero(rt, strlen(rt));
	free(rt);
	return 0;
}

/* Builds the token response of <tc> (storing its refresh token): a new
 * reference, or NULL. Does not respond. */
static json_t *
tok_build(struct auth_svc *as, struct tok_ctx *tc)
{
	char *at = NULL, *it = NULL;
	json_t *out = NULL;

	if ((at = tok_access(as, tc)) == NULL)
		goto fail;
	out = json_pack("{s:s, s:s, s:I, s:s, s:i}", "access_token", at,
	    "token_type", "Bearer", "expires_in", (json_int_t)
	    (as->as_cfg->ac_access_ms / 1000), "scope", tc->tc_scope,
	    "not-before-policy", 0);
	if (out == NULL || tok_add_refresh(as, tc, out) == -1)
		goto fail;
	if (tc->tc_user != NULL && acfg_list_has(tc->tc_scope, "openid")) {
		if ((it = tok_id(as, tc)) == NULL)
			goto fail;
		json_object_set_new(out, "id_token", json_string(it));
	}
	if (tc->tc_sid[0] != '\0')
		json_object_set_new(out, "session_state",
		    json_string(tc->tc_sid));
	free(at);
	free(it);
	return out;
fail:
	json_decref(out);
	free(at);
	free(it);
	return NULL;
}

/* Builds and sends the token response of <tc>. */
static void
tok_respond(struct app_req *req, struct tok_ctx *tc)
{
	json_t *out;

	if ((out = tok_build(req->r_ctx, tc)) != NULL)
		web_json_nostore(req, 200, out);
	else
		web_oauth_error(req, 500, "server_error", "Token could not "
		    "be issued", 0);
}

/*
 * Ends the transaction of a grant: commits, then sends <out> (stolen;
 * NULL: the response was sent already, or a 500 is due). Without <out>
 * and without a response yet, rolls back and answers 500.
 */
static void
tok_finish(struct app_req *req, json_t *out)
{
	struct auth_svc *as = req->r_ctx;

	if (out == NULL) {
		db_rollback(as->as_db);
		if (!req->r_responded)
			web_oauth_error(req, 500, "server_error", "Token could "
			    "not be issued", 0);
		return;
	}
	if (db_commit(as->as_db) == -1) {
		log_warnx("database: commit: %s (%s)",
		    db_err_str(db_error(as->as_db)), db_errmsg(as->as_db));
		db_rollback(as->as_db);
		json_decref(out);
		web_oauth_error(req, 503, "temporarily_unavailable",
		    "Database unavailable", 0);
		return;
	}
	web_json_nostore(req, 200, out);
}

/* A database failure inside a grant's transaction. */
static void
tok_unavailable(struct app_req *req)
{
	struct auth_svc *as = req->r_ctx;

	db_rollback(as->as_db);
	if (!req->r_responded)
		web_oauth_error(req, 503, "temporarily_unavailable",
		    "Database unavailable", 0);
}

/* Whether SSO session <sid> is live (1/0, -1 error). */
static int
tok_session_live(struct db *db, const char *sid)
{
	char now[32], *c[1];
	struct db_val p[2];
	int rc;

	st_time(now, 0);
	p[0] = DB_STR(sid);
	p[1] = DB_STR(now);
	rc = st_row(db, SQL_SESSION_LIVE, p, 2, c, 1);
	st_row_free(c, 1);
	return rc;
}

/* Revokes refresh-token family <fam> (after a replay), logging why. */
static void
tok_revoke_family(struct app_req *req, const char *fam, const char *why)
{
	struct auth_svc *as = req->r_ctx;
	struct db_val p[1] = { DB_STR(fam) };

	log_warnx("token: %s from %s; refresh-token family %s revoked", why,
	    web_addr(req), fam);
	st_exec(as->as_db, SQL_RT_REVOKE_FAMILY, p, 1);
}

/* Checks the PKCE verifier <v> against the S256 challenge <ch>. */
static int
tok_pkce_ok(const char *v, const char *ch)
{
	unsigned char md[32];
	unsigned int n = 0;
	size_t i, len = strlen(v);
	char *enc;
	int ok;

	if (len < 43 || len > 128)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)v[i]) && strchr("-._~", v[i]) ==
		    NULL)
			return 0;
	EVP_Digest(v, len, md, &n, EVP_sha256(), NULL);
	if ((enc = jwt_b64url_encode(md, sizeof(md))) == NULL)
		return 0;
	ok = web_ct_eq(enc, ch);
	free(enc);
	return ok;
}

/* Fills tc_user of <tc> with account <id>; 0, or -1 after responding. */
static int
tok_load_user(struct app_req *req, struct tok_ctx *tc, const char *id)
{
	struct auth_svc *as = req->r_ctx;
	int rc = st_user_by_id(as->as_db, id, tc->tc_user);

	if (rc == 1 && tc->tc_user->u_enabled)
		return 0;
	if (rc == 1)
		st_user_release(tc->tc_user);
	if (rc == -1)
		web_oauth_error(req, 503, "temporarily_unavailable",
		    "Database unavailable", 0);
	else
		web_oauth_error(req, 400, "invalid_grant", "Account disabled "
		    "or deleted", 0);
	return -1;
}

/*
 * Begins the transaction of a grant and locks the row of single-use
 * secret <hash> with <sql> (<ncol> columns into <c>). 1 row, 0 none (after
 * rolling back and answering invalid_grant <desc>), -1 after answering
 * 503.
 */
static int
tok_lock(struct app_req *req, const char *sql, const char *hash, char **c,
    size_t ncol, const char *desc)
{
	struct auth_svc *as = req->r_ctx;
	struct db_val p[2];
	char now[32];
	int rc;

	memset(c, 0, ncol * sizeof(*c));
	st_time(now, 0);
	p[0] = DB_STR(now);
	p[1] = DB_STR(hash);
	if (db_begin(as->as_db) == -1 ||
	    (rc = st_row(as->as_db, sql, p, 2, c, ncol)) == -1) {
		tok_unavailable(req);
		return -1;
	}
	if (rc == 0) {
		db_rollback(as->as_db);
		web_oauth_error(req, 400, "invalid_grant", desc, 0);
	}
	return rc;
}

/*
 * A replayed code or refresh token: revokes family <fam> (may be NULL)
 * and commits, then answers invalid_grant <desc>.
 */
static void
tok_replayed(struct app_req *req, const char *fam, const char *why,
    const char *desc)
{
	struct auth_svc *as = req->r_ctx;

	if (fam != NULL)
		tok_revoke_family(req, fam, why);
	if (db_commit(as->as_db) == -1) {
		tok_unavailable(req);
		return;
	}
	web_oauth_error(req, 400, "invalid_grant", desc, 0);
}

/* Checks client, redirect_uri and PKCE of claimed code row <c>. */
static int
tok_code_check(struct app_req *req, const struct auth_client *cl, char **c)
{
	char uri[AUTH_URI_MAX + 1], ver[256];

	if (strcmp(c[0], cl->cl_id) != 0) {
		web_oauth_error(req, 400, "invalid_grant", "Code was issued "
		    "to another client", 0);
		return -1;
	}
	if (web_field(req->r_body, "redirect_uri", uri, sizeof(uri)) != 1 ||
	    strcmp(uri, c[3]) != 0) {
		web_oauth_error(req, 400, "invalid_grant", "Incorrect "
		    "redirect_uri", 0);
		return -1;
	}
	if (web_field(req->r_body, "code_verifier", ver, sizeof(ver)) != 1)
		ver[0] = '\0';
	if ((c[6] != NULL && !tok_pkce_ok(ver, c[6])) ||
	    (c[6] == NULL && ver[0] != '\0')) {
		web_oauth_error(req, 400, "invalid_grant", "PKCE verification "
		    "failed: code verifier does not match the code "
		    "challenge", 0);
		return -1;
	}
	return 0;
}

/*
 * authorization_code, in one transaction: lock the code's row; a code of
 * another client is refused and left alone; a used one revokes the
 * family issued from it; else claim it, check redirect_uri and PKCE (a
 * failure still uses the code up), store the refresh token and commit
 * before answering.
 */
static void
tok_grant_code(struct app_req *req, const struct auth_client *cl)
{
	struct auth_svc *as = req->r_ctx;
	char code[256], hash[AUTH_HASH_LEN + 1], *c[11];
	struct auth_user u;
	struct tok_ctx tc;
	struct db_val p[2];
	json_t *out = NULL;

	memset(&tc, 0, sizeof(tc));
	if (web_field(req->r_body, "code", code, sizeof(code)) != 1) {
		web_oauth_error(req, 400, "invalid_request", "Missing "
		    "parameter: code", 0);
		return;
	}
	web_sha256_hex(code, strlen(code), hash);
	explicit_bzero(code, sizeof(code));
	if (tok_lock(req, SQL_CODE_LOCK, hash, c, 11, "Code not valid") != 1)
		return;
	if (strcmp(c[0], cl->cl_id) != 0) {
		db_rollback(as->as_db);
		log_warnx("token: code of client %s presented by client %s "
		    "from %s; refused", c[0], cl->cl_id, web_addr(req));
		web_oauth_error(req, 400, "invalid_grant", "Code was issued "
		    "to another client", 0);
		goto done;
	}
	if (strcmp(c[8], "1") == 0) {
		tok_replayed(req, c[9], "authorization code replayed",
		    "Code not valid");
		goto done;
	}
	if (strcmp(c[10], "1") != 0) {
		db_rollback(as->as_db);
		web_oauth_error(req, 400, "invalid_grant", "Code not valid", 0);
		goto done;
	}
	if (uuid_v4(tc.tc_family) == -1) {
		tok_finish(req, NULL);
		goto done;
	}
	p[0] = DB_STR(tc.tc_family);
	p[1] = DB_STR(hash);
	if (st_exec(as->as_db, SQL_CODE_USE, p, 2) == -1) {
		tok_unavailable(req);
		goto done;
	}
	if (tok_code_check(req, cl, c) == -1) {
		/* Used up: a wrong verifier gets no second try. */
		if (db_commit(as->as_db) == -1)
			db_rollback(as->as_db);
		goto done;
	}
	tc.tc_user = &u;
	if (tok_session_live(as->as_db, c[2]) != 1) {
		db_rollback(as->as_db);
		web_oauth_error(req, 400, "invalid_grant", "Session not "
		    "active", 0);
		goto done;
	}
	if (tok_load_user(req, &tc, c[1]) == -1) {
		db_rollback(as->as_db);
		goto done;
	}
	tc.tc_client = cl;
	snprintf(tc.tc_sid, sizeof(tc.tc_sid), "%s", c[2]);
	tc.tc_scope = c[4];
	tc.tc_nonce = c[5];
	tc.tc_auth_time = strtoll(c[7], NULL, 10);
	tc.tc_offline = acfg_list_has(c[4], "offline_access");
	out = tok_build(as, &tc);
	st_user_release(&u);
	tok_finish(req, out);
done:
	st_row_free(c, 11);
}

/*
 * refresh_token, in one transaction: lock the token's row (a concurrent
 * refresh of the same token waits here); a token of another client is
 * refused and stays valid; a used one revokes its whole family (so of
 * two simultaneous refreshes exactly one succeeds, and the family is
 * revoked); a revoked or expired one is refused; else claim it, store
 * its successor and commit before answering.
 */
static void
tok_grant_refresh(struct app_req *req, const struct auth_client *cl)
{
	struct auth_svc *as = req->r_ctx;
	char rt[256], hash[AUTH_HASH_LEN + 1], scope[AUTH_PARAM_MAX], *c[12];
	struct auth_user u;
	struct tok_ctx tc;
	struct db_val p[1];
	json_t *out = NULL;
	double fend;

	memset(&tc, 0, sizeof(tc));
	if (web_field(req->r_body, "refresh_token", rt, sizeof(rt)) != 1) {
		web_oauth_error(req, 400, "invalid_request", "Missing "
		    "parameter: refresh_token", 0);
		return;
	}
	if (web_field(req->r_body, "scope", scope, sizeof(scope)) == 1 &&
	    tok_scope(scope, 1, scope, sizeof(scope)) == -1) {
		web_oauth_error(req, 400, "invalid_scope", "Invalid scopes", 0);
		return;
	}
	web_sha256_hex(rt, strlen(rt), hash);
	explicit_bzero(rt, sizeof(rt));
	if (tok_lock(req, SQL_RT_LOCK, hash, c, 12, "Token is not active") != 1)
		return;
	if (strcmp(c[1], cl->cl_id) != 0) {
		db_rollback(as->as_db);
		log_warnx("token: refresh token of client %s presented by "
		    "client %s from %s; refused, left valid", c[1], cl->cl_id,
		    web_addr(req));
		web_oauth_error(req, 400, "invalid_grant", "Token was issued "
		    "to another client", 0);
		goto done;
	}
	if (strcmp(c[8], "1") == 0 && strcmp(c[9], "0") == 0) {
		tok_replayed(req, c[0], "refresh token reused",
		    "Token is not active");
		goto done;
	}
	fend = c[11] != NULL ? strtod(c[11], NULL) : 0;
	if (strcmp(c[9], "0") != 0 || strcmp(c[10], "1") != 0 ||
	    (fend > 0 && fend * 1000 <= (double)time(NULL) * 1000)) {
		db_rollback(as->as_db);
		web_oauth_error(req, 400, "invalid_grant", "Token is not "
		    "active", 0);
		goto done;
	}
	p[0] = DB_STR(hash);
	if (st_exec(as->as_db, SQL_RT_USE, p, 1) == -1) {
		tok_unavailable(req);
		goto done;
	}
	tc.tc_user = &u;
	if (strcmp(c[6], "1") != 0 && c[3] != NULL &&
	    tok_session_live(as->as_db, c[3]) != 1) {
		db_rollback(as->as_db);
		web_oauth_error(req, 400, "invalid_grant", "Session not "
		    "active", 0);
		goto done;
	}
	if (tok_load_user(req, &tc, c[2]) == -1) {
		db_rollback(as->as_db);
		goto done;
	}
	tc.tc_client = cl;
	snprintf(tc.tc_family, sizeof(tc.tc_family), "%s", c[0]);
	snprintf(tc.tc_sid, sizeof(tc.tc_sid), "%s", c[3] ? c[3] : "");
	tc.tc_scope = c[4];
	tc.tc_nonce = c[5];
	tc.tc_offline = strcmp(c[6], "1") == 0;
	tc.tc_auth_time = strtoll(c[7], NULL, 10);
	tc.tc_family_end = (long long)(fend * 1000);
	out = tok_build(as, &tc);
	st_user_release(&u);
	tok_finish(req, out);
done:
	st_row_free(c, 12);
}

static void
tok_grant_password(struct app_req *req, const struct auth_client *cl)
{
	char user[AUTH_NAME_MAX + 1], pw[512], req_scope[AUTH_PARAM_MAX];
	char scope[AUTH_PARAM_MAX];
	struct auth_user u;
	struct tok_ctx tc;
	int rc;

	memset(&tc, 0, sizeof(tc));
	if (web_field(req->r_body, "username", user, sizeof(user)) != 1 ||
	    web_field(req->r_body, "password", pw, sizeof(pw)) != 1) {
		web_oauth_error(req, 400, "invalid_request", "Missing "
		    "parameter: username and password", 0);
		goto done;
	}
	if (web_field(req->r_body, "scope", req_scope, sizeof(req_scope)) != 1)
		req_scope[0] = '\0';
	rc = login_check(req, user, pw, &u);
	adt_login(req, cl->cl_id, user, rc, &u);
	if (rc != 1) {
		if (rc == 0)
			web_oauth_error(req, 400, "invalid_grant", "Invalid "
			    "user credentials", 0);
		else if (rc == LOGIN_BUSY) {
			app_header(req, "Retry-After", "1");
			web_oauth_error(req, 429, "temporarily_unavailable",
			    "Too many logins in progress; retry shortly", 0);
		}
		goto done;
	}
	tc.tc_user = &u;
	tc.tc_client = cl;
	tc.tc_auth_time = (long long)time(NULL);
	if (act_verify_blocks(req->r_ctx, &u))
		web_oauth_error(req, 400, "invalid_grant", "Account is not "
		    "fully set up", 0);
	else if (tok_scope(req_scope, st_user_has_role(&u, "offline_access"), scope,
	    sizeof(scope)) == -1)
		web_oauth_error(req, 400, "invalid_scope", "Invalid scopes", 0);
	else if (login_session_new(req, &u, tc.tc_sid, NULL) == 0) {
		tc.tc_scope = scope;
		tc.tc_offline = acfg_list_has(scope, "offline_access");
		tok_respond(req, &tc);
	}
	st_user_release(&u);
done:
	explicit_bzero(pw, sizeof(pw));
	if (!req->r_responded)
		web_oauth_error(req, 503, "temporarily_unavailable",
		    "Database unavailable", 0);
}

static void
tok_grant_client(struct app_req *req, const struct auth_client *cl)
{
	char req_scope[AUTH_PARAM_MAX], scope[AUTH_PARAM_MAX];
	struct tok_ctx tc;

	memset(&tc, 0, sizeof(tc));
	if (web_field(req->r_body, "scope", req_scope, sizeof(req_scope)) != 1)
		req_scope[0] = '\0';
	if (tok_scope(req_scope, 0, scope, sizeof(scope)) == -1) {
		web_oauth_error(req, 400, "invalid_scope", "Invalid scopes", 0);
		return;
	}
	tc.tc_client = cl;
	tc.tc_scope = scope;
	tc.tc_auth_time = (long long)time(NULL);
	log_info("token: client_credentials token for %s", cl->cl_id);
	tok_respond(req, &tc);
}
