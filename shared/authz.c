/*
 * authz: bearer-token checks inside a FastCGI service (see authz.h).
 *
 * The JWKS fetch is a plain blocking transfer of libelp's HTTP client
 * (http.h): a FastCGI worker handles one request at a time, and the fetch
 * is bounded by the configured timeout and body size, restricted to http
 * and https, follows no redirects and no proxy.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "buf.h"
#include "cfg.h"
#include "http.h"
#include "jwt.h"
#include "log.h"
#include "util.h"
#include "uuid.h"

#define AUTHZ_NOKEYS_RETRY_MS	1000	/* fetch gap while no keys are held */
#define AUTHZ_TYP		"Bearer"	/* typ of an access token */

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct authz_cfg, field) }

const struct cfg_key authz_cfg_keys[] = {
	K("jwks-url", CFG_T_STR, NULL, 0, 0, azc_jwks_url),
	K("issuer", CFG_T_STR, NULL, 0, 0, azc_issuer),
	K("audience", CFG_T_STR, "", 0, 0, azc_audience),
	K("leeway", CFG_T_DURATION, "60s", 0, 3600000, azc_leeway),
	K("refresh-min", CFG_T_DURATION, "10s", 0, 3600000, azc_refresh_min),
	K("timeout", CFG_T_DURATION, "2s", 1, 600000, azc_timeout),
	K("cache", CFG_T_INT, "10000", 0, 10000000, azc_cache),
	K("max-jwks-size", CFG_T_SIZE, "256k", 1024, 16 * 1024 * 1024,
	    azc_max_size),
	K("ca-file", CFG_T_PATH, "", 0, 0, azc_ca_file),
};
const size_t authz_cfg_nkeys = NITEMS(authz_cfg_keys);

#undef K

static const char *const authz_res_names[AUTHZ_COUNT] = {
	[AUTHZ_ANON] = "anonymous",
	[AUTHZ_OK] = "ok",
	[AUTHZ_INVALID] = "invalid",
	[AUTHZ_UNAVAILABLE] = "unavailable",
};

/* Reasons of our own for a refused token (the rest are jwt_err_str()). */
#define AUTHZ_WHY_SUB		"Access token has no valid subject"
#define AUTHZ_WHY_GATEWAY	"Access token does not match the gateway " \
				"identity"
#define AUTHZ_WHY_NOKEYS	"Access token cannot be verified now"

struct authz {
	char			*az_url;
	char			*az_issuer;
	char			*az_audience;	/* NULL: no audience check */
	int64_t			 az_leeway;	/* seconds */
	uint64_t		 az_refresh_min; /* ms */
	struct http_client	*az_http;	/* JWKS fetches */
	struct jwt_keyset	 az_keys;
	uint64_t		 az_fetch_at;	/* monotonic ms of the last
						   fetch start; 0 never */
	int			 az_failing;	/* the last fetch failed and
						   that was logged */
	struct jwt_cache	*az_cache;
};

void
authz_cfg_release(struct authz_cfg *cfg)
{
	cfg_release_keys(authz_cfg_keys, authz_cfg_nkeys, cfg);
}

const char *
authz_res_str(enum authz_res res)
{
	if ((unsigned int)res >= AUTHZ_COUNT)
		return "unknown";
	return authz_res_names[res];
}

struct authz *
authz_new(const struct authz_cfg *cfg)
{
	struct http_opts ho;
	struct authz *az;

	az = xcalloc(1, sizeof(*az));
	az->az_url = xstrdup(cfg->azc_jwks_url);
	az->az_issuer = xstrdup(cfg->azc_issuer);
	if (cfg->azc_audience != NULL && cfg->azc_audience[0] != '\0')
		az->az_audience = xstrdup(cfg->azc_audience);
	az->az_leeway = (int64_t)(cfg->azc_leeway / 1000);
	az->az_refresh_min = cfg->azc_refresh_min;
	memset(&ho, 0, sizeof(ho));
	ho.ho_connect_timeout = cfg->azc_timeout;
	ho.ho_timeout = cfg->azc_timeout;
	ho.ho_max = cfg->azc_max_size;
	ho.ho_ca_file = cfg->azc_ca_file;
	az->az_http = http_new(&ho);
	az->az_cache = jwt_cache_new(cfg->azc_cache > 0 ?
	    (size_t)cfg->azc_cache : 0);
	return az;
}

void
authz_free(struct authz *az)
{
	if (az == NULL)
		return;
	http_free(az->az_http);
	jwt_cache_free(az->az_cache);
	jwt_keyset_release(&az->az_keys);
	free(az->az_audience);
	free(az->az_issuer);
	free(az->az_url);
	free(az);
}

size_t
authz_nkeys(const struct authz *az)
{
	return az->az_keys.js_n;
}

/* Takes over <set> as the keys and forgets tokens verified before. */
static void
authz_install(struct authz *az, struct jwt_keyset *set, const char *from)
{
	int first = az->az_keys.js_n == 0;

	jwt_keyset_release(&az->az_keys);
	az->az_keys = *set;
	memset(set, 0, sizeof(*set));
	jwt_cache_clear(az->az_cache);
	if (az->az_failing)
		log_info("JWKS from %s works again: %zu keys", from,
		    az->az_keys.js_n);
	else if (first)
		log_info("JWKS from %s: %zu keys loaded", from,
		    az->az_keys.js_n);
	else
		log_debug("%s: JWKS from %s: %zu keys", __func__, from,
		    az->az_keys.js_n);
	az->az_failing = 0;
}

int
authz_set_keys(struct authz *az, const struct jwt_keyset *set)
{
	struct jwt_keyset copy;
	size_t i;

	memset(&copy, 0, sizeof(copy));
	for (i = 0; i < set->js_n; i++)
		if (jwt_keyset_add(&copy, &set->js_keys[i]) == -1) {
			jwt_keyset_release(&copy);
			return -1;
		}
	authz_install(az, &copy, "a preloaded keyset");
	return 0;
}

/*
 * GETs the JWKS into <resp>. Returns 0 on a 200 answer within the limits,
 * or -1 with the reason in <why>.
 */
static int
authz_http_get(struct authz *az, struct http_resp *resp, char *why,
    size_t whylen)
{
	struct http_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.hq_url = az->az_url;
	if (http_do(az->az_http, &rq, resp) == -1) {
		snprintf(why, whylen, "%s", resp->hr_why);
		return -1;
	}
	if (resp->hr_status != 200) {
		snprintf(why, whylen, "HTTP status %ld", resp->hr_status);
		return -1;
	}
	return 0;
}

/* Whether refresh-min (shorter while no keys are held) has passed. */
static int
authz_may_fetch(const struct authz *az)
{
	uint64_t gap = az->az_refresh_min;

	if (az->az_keys.js_n == 0 && gap > AUTHZ_NOKEYS_RETRY_MS)
		gap = AUTHZ_NOKEYS_RETRY_MS;
	return az->az_fetch_at == 0 || util_now_ms() - az->az_fetch_at >= gap;
}

int
authz_refresh(struct authz *az, int force)
{
	struct jwt_keyset set;
	struct http_resp resp;
	char why[HTTP_WHY_MAX + 64];
	int n = -1;

	if (!force && !authz_may_fetch(az))
		return -1;
	az->az_fetch_at = util_now_ms();
	memset(&set, 0, sizeof(set));
	if (authz_http_get(az, &resp, why, sizeof(why)) == -1)
		goto done;
	n = jwt_keyset_parse(&set, buf_data(&resp.hr_body),
	    buf_avail(&resp.hr_body));
	if (n <= 0) {
		snprintf(why, sizeof(why), "%s", n == 0 ?
		    "no usable RS256 key" : "not a JWKS document");
		n = -1;
		goto done;
	}
	authz_install(az, &set, az->az_url);
done:
	if (n == -1 && !az->az_failing)
		log_warnx("JWKS fetch from %s failed: %s; keeping %zu keys",
		    az->az_url, why, az->az_keys.js_n);
	else if (n == -1)
		log_debug("%s: JWKS fetch from %s failed: %s", __func__,
		    az->az_url, why);
	az->az_failing = n == -1;
	jwt_keyset_release(&set);
	http_resp_release(&resp);
	return n;
}

/* --- verification --- */

/*
 * Finds the token in an Authorization value: "Bearer" in any case, one or
 * more blanks, then the token up to trailing blanks. Returns 0 with
 * <tok>/<len>, or -1 when <hdr> holds no bearer token.
 */
static int
authz_bearer(const char *hdr, const char **tok, size_t *len)
{
	const char *p;
	size_t n;

	if (hdr == NULL || strncasecmp(hdr, "Bearer", 6) != 0 ||
	    (hdr[6] != ' ' && hdr[6] != '\t'))
		return -1;
	for (p = hdr + 6; *p == ' ' || *p == '\t'; p++)
		continue;
	/* One byte over the limit is enough for jwt_verify to refuse. */
	n = strnlen(p, JWT_MAX_LEN + 1);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return -1;
	*tok = p;
	*len = n;
	return 0;
}

/* jwt_verify() with the configured expectations. */
static enum jwt_err
authz_verify_keys(const struct authz *az, const char *tok, size_t len,
    int64_t now, json_t **claims)
{
	struct jwt_expect ex;

	memset(&ex, 0, sizeof(ex));
	ex.je_iss = az->az_issuer;
	ex.je_aud = az->az_audience;
	ex.je_leeway = az->az_leeway;
	ex.je_now = now;
	/* Only access tokens: an ID token of the same issuer never passes. */
	ex.je_typ = AUTHZ_TYP;
	return jwt_verify(&az->az_keys, tok, len, &ex, claims);
}

/*
 * Verifies <tok> through the cache, fetching keys when none are held yet
 * or when the token names an unknown kid. On JWT_OK, <claims> holds a new
 * reference.
 */
static enum jwt_err
authz_verify(struct authz *az, const char *tok, size_t len, json_t **claims)
{
	int64_t now = (int64_t)time(NULL);
	enum jwt_err err;
	json_t *j;
	int fetched = 0;

	if ((j = jwt_cache_get(az->az_cache, tok, len, now)) != NULL) {
		*claims = json_incref(j);
		return JWT_OK;
	}
	if (az->az_keys.js_n == 0)
		fetched = authz_refresh(az, 0) > 0;
	err = authz_verify_keys(az, tok, len, now, claims);
	if (err == JWT_E_KID && !fetched && authz_refresh(az, 0) > 0)
		err = authz_verify_keys(az, tok, len, now, claims);
	if (err != JWT_OK)
		return err;
	j = json_object_get(*claims, "exp");
	jwt_cache_put(az->az_cache, tok, len, *claims,
	    json_is_number(j) ? (int64_t)json_number_value(j) : now);
	return JWT_OK;
}

/* The value of string <v> if it holds no NUL byte, else NULL. */
static const char *
authz_json_str(const json_t *v, size_t *len)
{
	const char *s = json_string_value(v);

	if (s == NULL || strlen(s) != json_string_length(v))
		return NULL;
	*len = json_string_length(v);
	return s;
}

/* Copies claim <key> into <dst> (AUTHZ_CLAIM_MAX + 1 bytes) if it fits. */
static void
authz_copy_claim(char *dst, const json_t *claims, const char *key)
{
	const char *s;
	size_t len;

	s = authz_json_str(json_object_get(claims, key), &len);
	if (s != NULL && len <= AUTHZ_CLAIM_MAX)
		memcpy(dst, s, len + 1);
}

/* Copies realm_access.roles: strings that fit, at most AUTHZ_ROLES_MAX. */
static void
authz_copy_roles(struct authz_id *id, const json_t *claims)
{
	const json_t *roles, *v;
	const char *s;
	size_t i, len;

	roles = json_object_get(json_object_get(claims, "realm_access"),
	    "roles");
	json_array_foreach(roles, i, v) {
		if (id->ai_nroles == AUTHZ_ROLES_MAX) {
			log_debug("%s: roles past %d ignored", __func__,
			    AUTHZ_ROLES_MAX);
			break;
		}
		/* Skipped, not cut: a cut name could grant another role. */
		s = authz_json_str(v, &len);
		if (s != NULL && len > 0 && len <= AUTHZ_ROLE_MAX)
			memcpy(id->ai_roles[id->ai_nroles++], s, len + 1);
	}
}

/* Empties <id> and records why the token is refused. */
static enum authz_res
authz_refuse(struct authz_id *id, enum jwt_err err, const char *why)
{
	authz_id_release(id);
	id->ai_err = err;
	id->ai_why = why;
	log_debug("%s: token refused: %s", __func__, why);
	return AUTHZ_INVALID;
}

/* Fills <id> from verified <claims> (not stolen) and checks <gw_sub>. */
static enum authz_res
authz_fill(struct authz_id *id, json_t *claims, const char *gw_sub)
{
	char gw[UUID_STR_LEN + 1];
	const char *sub;
	size_t len;

	sub = authz_json_str(json_object_get(claims, "sub"), &len);
	if (sub == NULL || uuid_parse(sub, len, id->ai_sub) == -1)
		return authz_refuse(id, JWT_OK, AUTHZ_WHY_SUB);
	if (gw_sub != NULL && (uuid_parse(gw_sub, strlen(gw_sub), gw) == -1 ||
	    strcmp(gw, id->ai_sub) != 0)) {
		log_warnx("AUTH_SUB differs from the subject of the token");
		return authz_refuse(id, JWT_OK, AUTHZ_WHY_GATEWAY);
	}
	authz_copy_roles(id, claims);
	authz_copy_claim(id->ai_email, claims, "email");
	authz_copy_claim(id->ai_username, claims, "preferred_username");
	authz_copy_claim(id->ai_given_name, claims, "given_name");
	authz_copy_claim(id->ai_family_name, claims, "family_name");
	authz_copy_claim(id->ai_client, claims, "azp");
	id->ai_claims = json_incref(claims);
	return AUTHZ_OK;
}

enum authz_res
authz_check_header(struct authz *az, const char *hdr, const char *gw_sub,
    struct authz_id *id)
{
	enum authz_res res;
	json_t *claims = NULL;
	const char *tok;
	size_t len;

	memset(id, 0, sizeof(*id));
	if (authz_bearer(hdr, &tok, &len) == -1) {
		if (gw_sub == NULL)
			return AUTHZ_ANON;
		log_warnx("AUTH_SUB without a bearer token");
		return authz_refuse(id, JWT_OK, AUTHZ_WHY_GATEWAY);
	}
	id->ai_err = authz_verify(az, tok, len, &claims);
	if (id->ai_err == JWT_E_KID && az->az_keys.js_n == 0) {
		id->ai_why = AUTHZ_WHY_NOKEYS;
		return AUTHZ_UNAVAILABLE;
	}
	if (id->ai_err != JWT_OK)
		return authz_refuse(id, id->ai_err, jwt_err_str(id->ai_err));
	res = authz_fill(id, claims, gw_sub);
	json_decref(claims);
	return res;
}

enum authz_res
authz_check(struct authz *az, struct app_req *req, struct authz_id *id)
{
	return authz_check_header(az, app_param(req, "HTTP_AUTHORIZATION"),
	    app_param(req, "AUTH_SUB"), id);
}

void
authz_id_release(struct authz_id *id)
{
	json_decref(id->ai_claims);
	memset(id, 0, sizeof(*id));
}

/* --- predicates --- */

int
authz_has_role(const struct authz_id *id, const char *role)
{
	size_t i;

	for (i = 0; i < id->ai_nroles; i++)
		if (strcmp(id->ai_roles[i], role) == 0)
			return 1;
	return 0;
}

int
authz_is_self(const struct authz_id *id, const char *userid)
{
	char u[UUID_STR_LEN + 1];

	if (id->ai_sub[0] == '\0' || userid == NULL ||
	    uuid_parse(userid, strnlen(userid, UUID_STR_LEN + 1), u) == -1)
		return 0;
	return strcmp(u, id->ai_sub) == 0;
}

/* --- rules that respond --- */

enum authz_self {
	AUTHZ_SELF_NONE = 0,	/* roles only */
	AUTHZ_SELF_OR,		/* one of the roles, or self */
	AUTHZ_SELF_AND,		/* one of the roles (if any named) and self */
	AUTHZ_SELF_COUNT
};

/* One access level. */
struct authz_rule {
	const char *const	*ar_roles;	/* one is required */
	size_t			 ar_nroles;
	enum authz_self		 ar_self;
	const char		*ar_userid;	/* for the self part */
	const char		*ar_field;	/* its name, for the 400 */
};

void
authz_deny(struct app_req *req, const struct authz_id *id,
    enum authz_res res)
{
	char hdr[256];

	if (res == AUTHZ_ANON) {
		app_header(req, "WWW-Authenticate", "Bearer");
		app_fail(req, 401, "Missing access token");
	} else if (res == AUTHZ_UNAVAILABLE) {
		app_fail(req, 503, "%s", id->ai_why);
	} else {
		snprintf(hdr, sizeof(hdr), "Bearer error=\"invalid_token\", "
		    "error_description=\"%s\"", id->ai_why);
		app_header(req, "WWW-Authenticate", hdr);
		app_fail(req, 401, "%s", id->ai_why);
	}
}

int
authz_require_token(struct app_req *req, struct authz *az,
    struct authz_id *id)
{
	enum authz_res res;

	if ((res = authz_check(az, req, id)) == AUTHZ_OK)
		return 0;
	authz_deny(req, id, res);
	authz_id_release(id);
	return -1;
}

/* Whether <id> passes the roles and self parts of <r>. */
static int
authz_rule_ok(const struct authz_id *id, const struct authz_rule *r)
{
	int role = 0;
	size_t i;

	for (i = 0; i < r->ar_nroles && !role; i++)
		role = authz_has_role(id, r->ar_roles[i]);
	switch (r->ar_self) {
	case AUTHZ_SELF_OR:
		return role || authz_is_self(id, r->ar_userid);
	case AUTHZ_SELF_AND:
		return (r->ar_nroles == 0 || role) &&
		    authz_is_self(id, r->ar_userid);
	default:
		return role;
	}
}

/* Checks the token, then <r>; responds and returns -1 on failure. */
static int
authz_require(struct app_req *req, struct authz *az, struct authz_id *id,
    const struct authz_rule *r)
{
	if (authz_require_token(req, az, id) == -1)
		return -1;
	if (r->ar_self != AUTHZ_SELF_NONE && (r->ar_userid == NULL ||
	    r->ar_userid[0] == '\0')) {
		app_fail(req, 400, "%s is required", r->ar_field != NULL ?
		    r->ar_field : "userId");
		goto fail;
	}
	if (!authz_rule_ok(id, r)) {
		log_debug("%s: access denied to %s", __func__, id->ai_sub);
		app_fail(req, 403, "Access Denied");
		goto fail;
	}
	return 0;
fail:
	authz_id_release(id);
	return -1;
}

int
authz_require_role(struct app_req *req, struct authz *az,
    struct authz_id *id, const char *role)
{
	struct authz_rule r = { &role, 1, AUTHZ_SELF_NONE, NULL, NULL };

	return authz_require(req, az, id, &r);
}

int
authz_require_any_role(struct app_req *req, struct authz *az,
    struct authz_id *id, const char *const *roles, size_t n)
{
	struct authz_rule r = { roles, n, AUTHZ_SELF_NONE, NULL, NULL };

	return authz_require(req, az, id, &r);
}

int
authz_require_admin_or_self(struct app_req *req, struct authz *az,
    struct authz_id *id, const char *userid, const char *field)
{
	static const char *const admin[] = { "ADMIN" };
	struct authz_rule r = { admin, 1, AUTHZ_SELF_OR, userid, field };

	return authz_require(req, az, id, &r);
}

int
authz_require_self(struct app_req *req, struct authz *az,
    struct authz_id *id, const char *userid, const char *field)
{
	struct authz_rule r = { NULL, 0, AUTHZ_SELF_AND, userid, field };

	return authz_require(req, az, id, &r);
}

int
authz_require_user_self(struct app_req *req, struct authz *az,
    struct authz_id *id, const char *userid, const char *field)
{
	static const char *const user[] = { "USER" };
	struct authz_rule r = { user, 1, AUTHZ_SELF_AND, userid, field };

	return authz_require(req, az, id, &r);
}
