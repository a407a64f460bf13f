/*
 * Unit tests for shared/authz.c: the core check (header forms, every
 * refusal, the gateway's AUTH_SUB, the copied identity), the predicates,
 * the rules that respond (on a request whose FastCGI output is a memory
 * buffer), the <auth> key table, and the JWKS fetch against a scripted
 * HTTP server on a loopback port (first fetch, unknown kid and
 * refresh-min, failures keeping the keys, size limit, timeout, no
 * redirects, http(s) only, logged transitions).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <fcgiapp.h>
#include <jansson.h>
#include <libxml/parser.h>

#include "app.h"
#include "authz.h"
#include "buf.h"
#include "cfg.h"
#include "jwt.h"
#include "log.h"
#include "util.h"

#define ISS	"http://localhost:8080/realms/e-learning-platform"
#define AUD	"elp-api"
#define SUB	"6f1c2b8e-1d1e-4c5a-9d53-0a5f0d1b2c3d"
#define SUB_UC	"6F1C2B8E-1D1E-4C5A-9D53-0A5F0D1B2C3D"
#define OTHER	"0b8e5a52-9c0e-4f3a-8d7e-5b1f2a3c4d5e"
#define DEAD_URL "http://127.0.0.1:1/certs"	/* refused at once */

/* Two keys generated once for the whole run (generation is slow). */
static struct jwt_key	 key_a, key_b;

static int
setup_keys(void **state)
{
	(void)state;
	log_init("test_authz", LOG_LVL_ERROR);
	if (jwt_key_generate(&key_a, 2048) == -1 ||
	    jwt_key_generate(&key_b, 2048) == -1)
		return -1;
	return 0;
}

static int
teardown_keys(void **state)
{
	(void)state;
	jwt_key_release(&key_a);
	jwt_key_release(&key_b);
	return 0;
}

/* --- helpers: checkers, claims, tokens --------------------------------- */

/* A checker for <url> with the test issuer (cache of 100, 256k body). */
static struct authz *
az_make(const char *url, const char *aud, uint64_t refresh_ms,
    uint64_t timeout_ms)
{
	struct authz_cfg c;
	struct authz *az;

	memset(&c, 0, sizeof(c));
	c.azc_jwks_url = xstrdup(url);
	c.azc_issuer = xstrdup(ISS);
	c.azc_audience = xstrdup(aud);
	c.azc_leeway = 60000;
	c.azc_refresh_min = refresh_ms;
	c.azc_timeout = timeout_ms;
	c.azc_cache = 100;
	c.azc_max_size = 256 * 1024;
	az = authz_new(&c);
	authz_cfg_release(&c);
	assert_null(c.azc_issuer);
	return az;
}

/* A checker that holds the public parts of <k1> (and <k2>, if given). */
static struct authz *
az_with_keys(const struct jwt_key *k1, const struct jwt_key *k2,
    const char *aud)
{
	struct jwt_keyset set;
	struct authz *az;

	memset(&set, 0, sizeof(set));
	assert_int_equal(jwt_keyset_add(&set, k1), 0);
	if (k2 != NULL)
		assert_int_equal(jwt_keyset_add(&set, k2), 0);
	az = az_make(DEAD_URL, aud, 3600000, 500);
	assert_int_equal(authz_set_keys(az, &set), 0);
	jwt_keyset_release(&set);
	assert_int_equal(authz_nkeys(az), k2 != NULL ? 2 : 1);
	return az;
}

/* Access token claims (typ Bearer) of a user valid for five minutes with
 * the given roles. */
static json_t *
claims_user(const char *sub, const char *role1, const char *role2)
{
	json_t *c, *roles;
	json_int_t now = (json_int_t)time(NULL);

	roles = json_array();
	if (role1 != NULL)
		json_array_append_new(roles, json_string(role1));
	if (role2 != NULL)
		json_array_append_new(roles, json_string(role2));
	c = json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, "
	    "s:s, s:s, s:{s:o}}", "iss", ISS, "sub", sub, "exp", now + 300,
	    "iat", now, "aud", AUD, "azp", "spa-client", "email",
	    "ann@example.org", "preferred_username", "ann@example.org",
	    "given_name", "Ann", "family_name", "Lee", "jti", "j-1", "typ",
	    "Bearer", "realm_access", "roles", roles);
	assert_non_null(c);
	return c;
}

/* Signs <claims> (stolen) with <k>; the token is a heap string. */
static char *
tok_sign(const struct jwt_key *k, json_t *claims)
{
	char *t = jwt_sign(k, claims);

	json_decref(claims);
	assert_non_null(t);
	return t;
}

/* "Bearer <tok>" as a heap string. */
static char *
bearer(const char *tok)
{
	return xasprintf("Bearer %s", tok);
}

/* Checks "Bearer <tok>" with <gw_sub>; <id> is the caller's to release. */
static enum authz_res
check_tok(struct authz *az, const char *tok, const char *gw_sub,
    struct authz_id *id)
{
	char *h = bearer(tok);
	enum authz_res r;

	r = authz_check_header(az, h, gw_sub, id);
	free(h);
	return r;
}

/* Signs <claims> with <k>, checks, and returns the result; <id> filled. */
static enum authz_res
check_claims(struct authz *az, const struct jwt_key *k, json_t *claims,
    struct authz_id *id)
{
	char *t = tok_sign(k, claims);
	enum authz_res r;

	r = check_tok(az, t, NULL, id);
	free(t);
	return r;
}

/* --- the core check ---------------------------------------------------- */

static void
test_header_forms(void **state)
{
	static const char *const anon[] = {
		"", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer  \t ",
		"Bearerx abc", "Token abc", "Bear abc",
	};
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	char *t, *h;
	size_t i;

	(void)state;
	assert_int_equal(authz_check_header(az, NULL, NULL, &id), AUTHZ_ANON);
	assert_null(id.ai_claims);
	for (i = 0; i < NITEMS(anon); i++)
		if (authz_check_header(az, anon[i], NULL, &id) != AUTHZ_ANON)
			fail_msg("not anonymous: \"%s\"", anon[i]);
	t = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	h = xasprintf("bEaReR \t %s  ", t);
	assert_int_equal(authz_check_header(az, h, NULL, &id), AUTHZ_OK);
	authz_id_release(&id);
	free(h);
	h = xasprintf("BEARER %s", t);
	assert_int_equal(authz_check_header(az, h, NULL, &id), AUTHZ_OK);
	authz_id_release(&id);
	free(h);
	/* A blank inside the token is part of it, and breaks it. */
	h = xasprintf("Bearer %.20s %s", t, t + 20);
	assert_int_equal(authz_check_header(az, h, NULL, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_MALFORMED);
	free(h);
	free(t);
	authz_free(az);
}

static void
test_identity(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	json_t *c;

	(void)state;
	c = claims_user(SUB_UC, "USER", "ADMIN");
	json_array_append_new(json_object_get(json_object_get(c,
	    "realm_access"), "roles"), json_integer(7));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_OK);
	assert_string_equal(id.ai_sub, SUB);	/* canonical lowercase */
	assert_int_equal(id.ai_nroles, 2);	/* the number is skipped */
	assert_string_equal(id.ai_roles[0], "USER");
	assert_string_equal(id.ai_roles[1], "ADMIN");
	assert_string_equal(id.ai_email, "ann@example.org");
	assert_string_equal(id.ai_username, "ann@example.org");
	assert_string_equal(id.ai_given_name, "Ann");
	assert_string_equal(id.ai_family_name, "Lee");
	assert_string_equal(id.ai_client, "spa-client");
	assert_int_equal(id.ai_err, JWT_OK);
	assert_string_equal(json_string_value(json_object_get(id.ai_claims,
	    "jti")), "j-1");
	authz_id_release(&id);
	assert_null(id.ai_claims);
	assert_string_equal(id.ai_sub, "");
	assert_int_equal(id.ai_nroles, 0);
	authz_id_release(&id);	/* twice is harmless */
	authz_free(az);
}

/* Long or odd claim values are skipped whole, never cut. */
static void
test_identity_bounds(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	char big[AUTHZ_ROLE_MAX + 2], name[32];
	json_t *c, *roles;
	char *longmail;
	int i;

	(void)state;
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	longmail = xmalloc(AUTHZ_CLAIM_MAX + 2);
	memset(longmail, 'm', AUTHZ_CLAIM_MAX + 1);
	longmail[AUTHZ_CLAIM_MAX + 1] = '\0';
	c = claims_user(SUB, NULL, NULL);
	roles = json_object_get(json_object_get(c, "realm_access"), "roles");
	json_array_append_new(roles, json_string(big));
	json_array_append_new(roles, json_string(""));
	for (i = 0; i < AUTHZ_ROLES_MAX + 5; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		json_array_append_new(roles, json_string(name));
	}
	json_object_set_new(c, "email", json_string(longmail));
	json_object_set_new(c, "given_name", json_string(""));
	json_object_set_new(c, "family_name", json_integer(3));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_OK);
	assert_int_equal(id.ai_nroles, AUTHZ_ROLES_MAX);
	assert_string_equal(id.ai_roles[0], "r0");	/* big, "" skipped */
	assert_false(authz_has_role(&id, "ADMIN"));
	assert_false(authz_has_role(&id, big));
	assert_true(authz_has_role(&id, "r0"));
	assert_false(authz_has_role(&id, "r40"));
	assert_string_equal(id.ai_email, "");
	assert_string_equal(id.ai_given_name, "");
	assert_string_equal(id.ai_family_name, "");
	assert_string_equal(id.ai_username, "ann@example.org");
	authz_id_release(&id);
	free(longmail);
	authz_free(az);
}

/* A NUL byte hidden in a claim ("ADMIN\0x") refuses the token outright. */
static void
test_nul_bytes(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	json_t *c, *roles;

	(void)state;
	c = claims_user(SUB, NULL, NULL);
	roles = json_object_get(json_object_get(c, "realm_access"), "roles");
	json_array_append_new(roles, json_stringn("ADMIN\0x", 7));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_MALFORMED);
	assert_int_equal(id.ai_nroles, 0);
	c = claims_user(SUB, "USER", NULL);
	json_object_set_new(c, "sub", json_stringn(SUB "\0x", 38));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_INVALID);
	assert_null(id.ai_claims);
	assert_string_equal(id.ai_sub, "");
	authz_free(az);
}

static void
test_refusals(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	json_t *c;

	(void)state;
	c = claims_user(SUB, "USER", NULL);
	json_object_set_new(c, "exp", json_integer(time(NULL) - 120));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_EXPIRED);
	assert_string_equal(id.ai_why, "Access token expired");
	assert_null(id.ai_claims);
	assert_string_equal(id.ai_sub, "");
	/* Within the leeway of 60 s. */
	c = claims_user(SUB, "USER", NULL);
	json_object_set_new(c, "exp", json_integer(time(NULL) - 30));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_OK);
	authz_id_release(&id);
	c = claims_user(SUB, "USER", NULL);
	json_object_set_new(c, "iss", json_string("http://evil/realms/x"));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_ISSUER);
	c = claims_user(SUB, "USER", NULL);
	json_object_set_new(c, "nbf", json_integer(time(NULL) + 600));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_NOT_YET);
	assert_int_equal(check_tok(az, "abc.def.ghi", NULL, &id),
	    AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_MALFORMED);
	assert_string_equal(id.ai_why, jwt_err_str(JWT_E_MALFORMED));
	authz_free(az);
}

/* Header and payload swapped between tokens: the signature fails. */
static void
test_bad_signature(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	char *t1, *t2, *mix;
	const char *p1, *p2;

	(void)state;
	t1 = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	t2 = tok_sign(&key_a, claims_user(SUB, "ADMIN", NULL));
	p1 = strrchr(t1, '.');
	p2 = strrchr(t2, '.');
	mix = xasprintf("%.*s%s", (int)(p2 - t2), t2, p1);
	assert_int_equal(check_tok(az, mix, NULL, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_SIGNATURE);
	assert_string_equal(id.ai_why, jwt_err_str(JWT_E_SIGNATURE));
	free(mix);
	free(t2);
	free(t1);
	authz_free(az);
}

static void
test_audience(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, AUD);
	struct authz_id id;
	json_t *c;

	(void)state;
	assert_int_equal(check_claims(az, &key_a, claims_user(SUB, "USER",
	    NULL), &id), AUTHZ_OK);
	authz_id_release(&id);
	c = claims_user(SUB, "USER", NULL);
	json_object_set_new(c, "aud", json_string("account"));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_AUDIENCE);
	authz_free(az);
	/* No audience configured: any aud passes. */
	az = az_with_keys(&key_a, NULL, "");
	c = claims_user(SUB, "USER", NULL);
	json_object_set_new(c, "aud", json_string("account"));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_OK);
	authz_id_release(&id);
	authz_free(az);
}

/* Only access tokens pass: an ID token of the same issuer, or a token
 * without typ, is refused whatever the audience setting. */
static void
test_token_type(void **state)
{
	static const char *const auds[] = { AUD, "" };
	static const char *const bad[] = { "ID", "Refresh", "bearer", "" };
	struct authz *az;
	struct authz_id id;
	json_t *c;
	size_t i, j;

	(void)state;
	for (i = 0; i < NITEMS(auds); i++) {
		az = az_with_keys(&key_a, NULL, auds[i]);
		for (j = 0; j < NITEMS(bad); j++) {
			c = claims_user(SUB, "ADMIN", NULL);
			if (*bad[j] == '\0')
				json_object_del(c, "typ");
			else
				json_object_set_new(c, "typ",
				    json_string(bad[j]));
			assert_int_equal(check_claims(az, &key_a, c, &id),
			    AUTHZ_INVALID);
			assert_int_equal(id.ai_err, JWT_E_TYPE);
			assert_string_equal(id.ai_why, "Invalid token type");
			assert_null(id.ai_claims);
		}
		assert_int_equal(check_claims(az, &key_a, claims_user(SUB,
		    "ADMIN", NULL), &id), AUTHZ_OK);
		authz_id_release(&id);
		authz_free(az);
	}
}

static void
test_subject(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	json_t *c;

	(void)state;
	c = claims_user("not-a-uuid", "ADMIN", NULL);
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_OK);
	assert_string_equal(id.ai_why, "Access token has no valid subject");
	c = claims_user(SUB, "ADMIN", NULL);
	json_object_del(c, "sub");
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_INVALID);
	c = claims_user(SUB, "ADMIN", NULL);
	json_object_set_new(c, "sub", json_integer(5));
	assert_int_equal(check_claims(az, &key_a, c, &id), AUTHZ_INVALID);
	assert_string_equal(id.ai_why, "Access token has no valid subject");
	assert_null(id.ai_claims);
	authz_free(az);
}

/* The gateway's AUTH_SUB must name the token's subject. */
static void
test_gateway_sub(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	char *t;

	(void)state;
	t = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	assert_int_equal(check_tok(az, t, SUB, &id), AUTHZ_OK);
	authz_id_release(&id);
	assert_int_equal(check_tok(az, t, SUB_UC, &id), AUTHZ_OK);
	authz_id_release(&id);
	assert_int_equal(check_tok(az, t, OTHER, &id), AUTHZ_INVALID);
	assert_string_equal(id.ai_why,
	    "Access token does not match the gateway identity");
	assert_null(id.ai_claims);
	assert_int_equal(check_tok(az, t, "", &id), AUTHZ_INVALID);
	assert_int_equal(check_tok(az, t, SUB "x", &id), AUTHZ_INVALID);
	/* A user named by the gateway, but no token. */
	assert_int_equal(authz_check_header(az, NULL, SUB, &id),
	    AUTHZ_INVALID);
	assert_int_equal(authz_check_header(az, "Basic eDp5", SUB, &id),
	    AUTHZ_INVALID);
	free(t);
	authz_free(az);
}

/* The same token again, and two tokens through a cache of one. */
static void
test_repeat(void **state)
{
	struct authz_cfg c;
	struct authz *az;
	struct jwt_keyset set;
	struct authz_id id;
	char *t1, *t2;
	int i;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.azc_jwks_url = xstrdup(DEAD_URL);
	c.azc_issuer = xstrdup(ISS);
	c.azc_refresh_min = 3600000;
	c.azc_timeout = 500;
	c.azc_cache = 1;
	c.azc_max_size = 4096;
	az = authz_new(&c);
	authz_cfg_release(&c);
	memset(&set, 0, sizeof(set));
	assert_int_equal(jwt_keyset_add(&set, &key_a), 0);
	assert_int_equal(authz_set_keys(az, &set), 0);
	jwt_keyset_release(&set);
	t1 = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	t2 = tok_sign(&key_a, claims_user(OTHER, "ADMIN", NULL));
	for (i = 0; i < 3; i++) {
		assert_int_equal(check_tok(az, t1, NULL, &id), AUTHZ_OK);
		assert_string_equal(id.ai_sub, SUB);
		authz_id_release(&id);
		assert_int_equal(check_tok(az, t2, NULL, &id), AUTHZ_OK);
		assert_string_equal(id.ai_sub, OTHER);
		assert_true(authz_has_role(&id, "ADMIN"));
		authz_id_release(&id);
	}
	free(t2);
	free(t1);
	authz_free(az);
}

/* No keys could ever be fetched: a token cannot be judged. */
static void
test_unavailable(void **state)
{
	struct authz *az = az_make(DEAD_URL, "", 10000, 500);
	struct authz_id id;
	char *t;

	(void)state;
	t = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	assert_int_equal(check_tok(az, t, NULL, &id), AUTHZ_UNAVAILABLE);
	assert_string_equal(id.ai_why, "Access token cannot be verified now");
	assert_null(id.ai_claims);
	assert_int_equal(authz_nkeys(az), 0);
	/* Malformed or "none" tokens are refused without keys. */
	assert_int_equal(check_tok(az, "x.y", NULL, &id), AUTHZ_INVALID);
	assert_int_equal(authz_check_header(az, NULL, NULL, &id), AUTHZ_ANON);
	free(t);
	authz_free(az);
	authz_free(NULL);
}

/* --- predicates -------------------------------------------------------- */

static void
test_predicates(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;

	(void)state;
	memset(&id, 0, sizeof(id));
	assert_false(authz_has_role(&id, "USER"));
	assert_false(authz_is_self(&id, SUB));
	assert_false(authz_is_self(&id, ""));
	assert_int_equal(check_claims(az, &key_a, claims_user(SUB, "USER",
	    "teacher"), &id), AUTHZ_OK);
	assert_true(authz_has_role(&id, "USER"));
	assert_true(authz_has_role(&id, "teacher"));
	assert_false(authz_has_role(&id, "user"));
	assert_false(authz_has_role(&id, "ADMIN"));
	assert_false(authz_has_role(&id, ""));
	assert_true(authz_is_self(&id, SUB));
	assert_true(authz_is_self(&id, SUB_UC));
	assert_false(authz_is_self(&id, OTHER));
	assert_false(authz_is_self(&id, NULL));
	assert_false(authz_is_self(&id, ""));
	assert_false(authz_is_self(&id, SUB "0"));
	assert_false(authz_is_self(&id, "6f1c2b8e1d1e4c5a9d530a5f0d1b2c3d"));
	assert_false(authz_is_self(&id, " " SUB));
	authz_id_release(&id);
	assert_false(authz_is_self(&id, SUB));
	assert_string_equal(authz_res_str(AUTHZ_OK), "ok");
	assert_string_equal(authz_res_str(AUTHZ_ANON), "anonymous");
	assert_string_equal(authz_res_str(AUTHZ_COUNT), "unknown");
	authz_free(az);
}

/* --- rules that respond: a request writing into memory ----------------- */

struct freq {
	FCGX_Request	 f_fx;
	FCGX_Stream	 f_out;
	unsigned char	 f_obuf[16384];	/* response; NUL kept at the end */
	char		*f_env[4];
	struct app_req	 f_req;
};

/* The output buffer is never expected to fill: fail the write instead. */
static void
freq_full(FCGX_Stream *s, int doclose)
{
	(void)doclose;
	s->isClosed = 1;
	s->FCGI_errno = -1;
}

/* A GET request carrying the optional Authorization and AUTH_SUB. */
static void
freq_init(struct freq *f, const char *hdr, const char *gw_sub)
{
	size_t n = 0;

	memset(f, 0, sizeof(*f));
	f->f_out.wrNext = f->f_obuf;
	f->f_out.stop = f->f_obuf + sizeof(f->f_obuf) - 1;
	f->f_out.emptyBuffProc = freq_full;
	f->f_env[n++] = xstrdup("REQUEST_METHOD=GET");
	if (hdr != NULL)
		f->f_env[n++] = xasprintf("HTTP_AUTHORIZATION=%s", hdr);
	if (gw_sub != NULL)
		f->f_env[n++] = xasprintf("AUTH_SUB=%s", gw_sub);
	f->f_env[n] = NULL;
	f->f_fx.out = &f->f_out;
	f->f_fx.envp = f->f_env;
	f->f_req.r_fx = &f->f_fx;
	f->f_req.r_method = "GET";
	f->f_req.r_query = "";
	f->f_req.r_reqid = "-";
}

static void
freq_release(struct freq *f)
{
	size_t i;

	app_req_release(&f->f_req);
	for (i = 0; f->f_env[i] != NULL; i++) {
		free(f->f_env[i]);
		f->f_env[i] = NULL;
	}
}

/*
 * Asserts the response: <status>, the envelope's errorMessage <msg>, and
 * the WWW-Authenticate value <www> (NULL: no such header).
 */
static void
freq_expect(struct freq *f, int status, const char *msg, const char *www)
{
	char line[512], code[8];
	const char *out = (const char *)f->f_obuf;
	const char *body;
	json_t *j, *e;

	assert_true(f->f_req.r_responded);
	assert_int_equal(f->f_req.r_status, status);
	assert_non_null(body = strstr(out, "\r\n\r\n"));
	snprintf(line, sizeof(line), "\r\nWWW-Authenticate: %s\r\n",
	    www != NULL ? www : "");
	if (www != NULL)
		assert_non_null(strstr(out, line));
	else
		assert_null(strstr(out, "WWW-Authenticate"));
	assert_non_null(j = json_loads(body + 4, 0, NULL));
	e = json_object_get(j, "errorBody");
	snprintf(code, sizeof(code), "%d", status);
	assert_string_equal(json_string_value(json_object_get(e,
	    "errorCode")), code);
	assert_string_equal(json_string_value(json_object_get(e,
	    "errorMessage")), msg);
	json_decref(j);
}

/* Which rule a case runs. */
enum rule {
	R_TOKEN = 0, R_ADMIN, R_USER, R_ANY, R_ADMIN_SELF, R_SELF,
	R_USER_SELF, R_COUNT
};

static int
run_rule(enum rule r, struct freq *f, struct authz *az, struct authz_id *id,
    const char *userid)
{
	static const char *const any[] = { "ADMIN", "USER" };

	switch (r) {
	case R_TOKEN:
		return authz_require_token(&f->f_req, az, id);
	case R_ADMIN:
		return authz_require_role(&f->f_req, az, id, "ADMIN");
	case R_USER:
		return authz_require_role(&f->f_req, az, id, "USER");
	case R_ANY:
		return authz_require_any_role(&f->f_req, az, id, any,
		    NITEMS(any));
	case R_ADMIN_SELF:
		return authz_require_admin_or_self(&f->f_req, az, id, userid,
		    "userId");
	case R_SELF:
		return authz_require_self(&f->f_req, az, id, userid,
		    "userId");
	default:
		return authz_require_user_self(&f->f_req, az, id, userid,
		    "userId");
	}
}

/* One case of the access table: who calls which rule, and the outcome. */
struct rcase {
	enum rule	 rc_rule;
	const char	*rc_role1;	/* token roles; NULL both: no roles */
	const char	*rc_role2;
	const char	*rc_userid;
	int		 rc_status;	/* 0: allowed */
};

static const struct rcase rcases[] = {
	{ R_TOKEN, NULL, NULL, NULL, 0 },
	{ R_ADMIN, "ADMIN", NULL, NULL, 0 },
	{ R_ADMIN, "USER", NULL, NULL, 403 },
	{ R_ADMIN, "admin", NULL, NULL, 403 },
	{ R_USER, "USER", NULL, NULL, 0 },
	{ R_USER, "ADMIN", NULL, NULL, 403 },	/* ADMIN without USER */
	{ R_ANY, "ADMIN", NULL, NULL, 0 },
	{ R_ANY, "teacher", "USER", NULL, 0 },
	{ R_ANY, "teacher", NULL, NULL, 403 },
	{ R_ANY, NULL, NULL, NULL, 403 },
	{ R_ADMIN_SELF, "USER", NULL, SUB, 0 },
	{ R_ADMIN_SELF, "USER", NULL, SUB_UC, 0 },
	{ R_ADMIN_SELF, NULL, NULL, SUB, 0 },
	{ R_ADMIN_SELF, "USER", NULL, OTHER, 403 },
	{ R_ADMIN_SELF, "USER", NULL, "not-a-uuid", 403 },
	{ R_ADMIN_SELF, "ADMIN", NULL, OTHER, 0 },
	{ R_ADMIN_SELF, "USER", NULL, NULL, 400 },
	{ R_ADMIN_SELF, "ADMIN", NULL, "", 400 },
	{ R_SELF, "USER", NULL, SUB, 0 },
	{ R_SELF, "ADMIN", NULL, OTHER, 403 },	/* ADMIN not exempt */
	{ R_SELF, "ADMIN", NULL, SUB, 0 },
	{ R_SELF, "ADMIN", NULL, NULL, 400 },
	{ R_USER_SELF, "USER", NULL, SUB, 0 },
	{ R_USER_SELF, "USER", "ADMIN", OTHER, 403 },
	{ R_USER_SELF, "ADMIN", NULL, SUB, 403 },
	{ R_USER_SELF, "USER", NULL, NULL, 400 },
};

static void
test_rules(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	const struct rcase *rc;
	struct authz_id id;
	struct freq f;
	char *t, *h;
	size_t i;
	int ret;

	(void)state;
	for (i = 0; i < NITEMS(rcases); i++) {
		rc = &rcases[i];
		t = tok_sign(&key_a, claims_user(SUB, rc->rc_role1,
		    rc->rc_role2));
		h = bearer(t);
		freq_init(&f, h, SUB);
		ret = run_rule(rc->rc_rule, &f, az, &id, rc->rc_userid);
		if (rc->rc_status == 0) {
			if (ret != 0 || f.f_req.r_responded)
				fail_msg("case %zu refused", i);
			assert_string_equal(id.ai_sub, SUB);
			assert_non_null(id.ai_claims);
		} else if (ret != -1) {
			fail_msg("case %zu allowed", i);
		} else if (rc->rc_status == 400) {
			freq_expect(&f, 400, "userId is required", NULL);
		} else {
			freq_expect(&f, 403, "Access Denied", NULL);
		}
		if (ret == -1)
			assert_null(id.ai_claims);
		authz_id_release(&id);
		freq_release(&f);
		free(h);
		free(t);
	}
	authz_free(az);
}

/* Every rule answers 401 first: no token, a bad one, a gateway mismatch. */
static void
test_rules_401(void **state)
{
	static const char *const inv = "Bearer error=\"invalid_token\", "
	    "error_description=\"Access token expired\"";
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	struct freq f;
	json_t *c;
	char *t, *h;
	int r;

	(void)state;
	c = claims_user(SUB, "ADMIN", "USER");
	json_object_set_new(c, "exp", json_integer(time(NULL) - 3600));
	t = tok_sign(&key_a, c);
	h = bearer(t);
	for (r = 0; r < R_COUNT; r++) {
		freq_init(&f, NULL, NULL);
		assert_int_equal(run_rule(r, &f, az, &id, NULL), -1);
		freq_expect(&f, 401, "Missing access token", "Bearer");
		freq_release(&f);
		freq_init(&f, "Basic dXNlcjpwYXNz", NULL);
		assert_int_equal(run_rule(r, &f, az, &id, SUB), -1);
		freq_expect(&f, 401, "Missing access token", "Bearer");
		freq_release(&f);
		freq_init(&f, h, NULL);
		assert_int_equal(run_rule(r, &f, az, &id, NULL), -1);
		freq_expect(&f, 401, "Access token expired", inv);
		assert_null(id.ai_claims);
		freq_release(&f);
	}
	free(h);
	free(t);
	t = tok_sign(&key_a, claims_user(SUB, "ADMIN", "USER"));
	h = bearer(t);
	freq_init(&f, h, OTHER);
	assert_int_equal(authz_require_token(&f.f_req, az, &id), -1);
	freq_expect(&f, 401, "Access token does not match the gateway "
	    "identity", "Bearer error=\"invalid_token\", error_description="
	    "\"Access token does not match the gateway identity\"");
	freq_release(&f);
	free(h);
	free(t);
	authz_free(az);
}

/* Without any keys, a token gets 503, not 401. */
static void
test_rules_503(void **state)
{
	struct authz *az = az_make(DEAD_URL, "", 10000, 500);
	struct authz_id id;
	struct freq f;
	char *t, *h;

	(void)state;
	t = tok_sign(&key_a, claims_user(SUB, "ADMIN", NULL));
	h = bearer(t);
	freq_init(&f, h, SUB);
	assert_int_equal(authz_require_role(&f.f_req, az, &id, "ADMIN"), -1);
	freq_expect(&f, 503, "Access token cannot be verified now", NULL);
	freq_release(&f);
	free(h);
	free(t);
	authz_free(az);
}

/* authz_check() on a request: the public-endpoint way. */
static void
test_check_request(void **state)
{
	struct authz *az = az_with_keys(&key_a, NULL, "");
	struct authz_id id;
	struct freq f;
	char *t, *h;

	(void)state;
	t = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	h = bearer(t);
	freq_init(&f, h, SUB);
	assert_int_equal(authz_check(az, &f.f_req, &id), AUTHZ_OK);
	assert_true(authz_has_role(&id, "USER"));
	assert_false(f.f_req.r_responded);
	authz_id_release(&id);
	freq_release(&f);
	freq_init(&f, NULL, NULL);
	assert_int_equal(authz_check(az, &f.f_req, &id), AUTHZ_ANON);
	freq_release(&f);
	freq_init(&f, "Bearer garbage", NULL);
	assert_int_equal(authz_check(az, &f.f_req, &id), AUTHZ_INVALID);
	assert_false(f.f_req.r_responded);
	freq_release(&f);
	free(h);
	free(t);
	authz_free(az);
}

/* --- the <auth> key table ---------------------------------------------- */

/* Reads the attributes of <xml>'s root into <c>; returns cd_nerr. */
static int
read_auth(const char *xml, struct authz_cfg *c)
{
	struct cfg_doc cd;
	int nerr;

	memset(&cd, 0, sizeof(cd));
	memset(c, 0, sizeof(*c));
	cd.cd_doc = xmlReadMemory(xml, (int)strlen(xml), "auth.xml", NULL,
	    XML_PARSE_NONET);
	assert_non_null(cd.cd_doc);
	cd.cd_path = xstrdup("auth.xml");
	cfg_read(&cd, xmlDocGetRootElement(cd.cd_doc), authz_cfg_keys,
	    authz_cfg_nkeys, c);
	nerr = cd.cd_nerr;
	cfg_release(&cd);
	return nerr;
}

static void
test_cfg(void **state)
{
	struct authz_cfg c;

	(void)state;
	assert_int_equal(read_auth("<auth jwks-url=\"http://127.0.0.1:9190/"
	    "certs\" issuer=\"" ISS "\"/>", &c), 0);
	assert_string_equal(c.azc_jwks_url, "http://127.0.0.1:9190/certs");
	assert_string_equal(c.azc_issuer, ISS);
	assert_string_equal(c.azc_audience, "");
	assert_int_equal(c.azc_leeway, 60000);
	assert_int_equal(c.azc_refresh_min, 10000);
	assert_int_equal(c.azc_timeout, 2000);
	assert_int_equal(c.azc_cache, 10000);
	assert_int_equal(c.azc_max_size, 256 * 1024);
	authz_cfg_release(&c);
	assert_null(c.azc_jwks_url);
	authz_cfg_release(&c);
	assert_int_equal(read_auth("<auth jwks-url=\"http://h/c\" issuer=\"i\" "
	    "audience=\"elp-api\" leeway=\"5s\" refresh-min=\"0\" "
	    "timeout=\"250ms\" cache=\"0\" max-jwks-size=\"64k\"/>", &c), 0);
	assert_string_equal(c.azc_audience, "elp-api");
	assert_int_equal(c.azc_leeway, 5000);
	assert_int_equal(c.azc_refresh_min, 0);
	assert_int_equal(c.azc_timeout, 250);
	assert_int_equal(c.azc_cache, 0);
	assert_int_equal(c.azc_max_size, 65536);
	authz_cfg_release(&c);
	/* Required keys and bounds. */
	assert_int_equal(read_auth("<auth issuer=\"i\"/>", &c), 1);
	authz_cfg_release(&c);
	assert_int_equal(read_auth("<auth/>", &c), 2);
	authz_cfg_release(&c);
	assert_int_equal(read_auth("<auth jwks-url=\"u\" issuer=\"i\" "
	    "timeout=\"0\" cache=\"-1\" max-jwks-size=\"1\"/>", &c), 3);
	authz_cfg_release(&c);
}

/* --- JWKS fetch against a scripted HTTP server ------------------------- */

enum srv_mode {
	SRV_ANSWER = 0,	/* s_status with s_body and Content-Length */
	SRV_NOLEN,	/* HTTP/1.0 200, body until close */
	SRV_HANG,	/* read the request, never answer */
	SRV_REDIRECT,	/* 302 to /elsewhere */
	SRV_MODE_COUNT
};

#define SRV_MAXHUNG	8

struct srv {
	int		 s_lfd;
	int		 s_pipe[2];	/* write a byte to stop the thread */
	int		 s_port;
	char		 s_url[64];
	pthread_t	 s_thread;
	pthread_mutex_t	 s_mu;		/* guards the fields below */
	enum srv_mode	 s_mode;
	int		 s_status;
	char		*s_body;
	int		 s_nreq;
	int		 s_hung[SRV_MAXHUNG];
	size_t		 s_nhung;
};

/* Reads a request head (up to a blank line, EOF or 2 s of silence). */
static void
srv_read_head(int fd)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char b[4096];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(b) - 1 && poll(&pfd, 1, 2000) == 1) {
		if ((n = read(fd, b + len, sizeof(b) - 1 - len)) <= 0)
			break;
		len += (size_t)n;
		b[len] = '\0';
		if (strstr(b, "\r\n\r\n") != NULL)
			break;
	}
}

static void
srv_send(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0 && (n = send(fd, p, len, MSG_NOSIGNAL)) > 0) {
		p += n;
		len -= (size_t)n;
	}
}

/* Answers one connection as the current mode says; keeps or closes it. */
static void
srv_handle(struct srv *s, int fd)
{
	enum srv_mode mode;
	char *body, *head;
	int status;

	srv_read_head(fd);
	pthread_mutex_lock(&s->s_mu);
	s->s_nreq++;
	mode = s->s_mode;
	status = s->s_status;
	body = xstrdup(s->s_body != NULL ? s->s_body : "");
	if (mode == SRV_HANG && s->s_nhung < SRV_MAXHUNG) {
		s->s_hung[s->s_nhung++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&s->s_mu);
	if (mode == SRV_NOLEN)
		head = xasprintf("HTTP/1.0 200 OK\r\nContent-Type: "
		    "application/json\r\n\r\n");
	else if (mode == SRV_REDIRECT)
		head = xasprintf("HTTP/1.1 302 Found\r\nLocation: /elsewhere"
		    "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	else
		head = xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/"
		    "json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
		    status, strlen(body));
	if (fd != -1) {
		srv_send(fd, head, strlen(head));
		if (mode == SRV_ANSWER || mode == SRV_NOLEN)
			srv_send(fd, body, strlen(body));
		close(fd);
	}
	free(head);
	free(body);
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	struct pollfd pfd[2];
	int fd;

	for (;;) {
		pfd[0] = (struct pollfd){ s->s_lfd, POLLIN, 0 };
		pfd[1] = (struct pollfd){ s->s_pipe[0], POLLIN, 0 };
		if (poll(pfd, 2, -1) == -1 || pfd[1].revents != 0)
			break;
		if ((fd = accept(s->s_lfd, NULL, NULL)) != -1)
			srv_handle(s, fd);
	}
	return NULL;
}

/* Starts a server on a free loopback port answering <status> <body>. */
static void
srv_start(struct srv *s, int status, const char *body)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->s_mu, NULL);
	s->s_status = status;
	s->s_body = xstrdup(body);
	assert_int_equal(pipe(s->s_pipe), 0);
	s->s_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->s_lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->s_lfd, (struct sockaddr *)&sin,
	    sizeof(sin)), 0);
	assert_int_equal(listen(s->s_lfd, 16), 0);
	assert_int_equal(getsockname(s->s_lfd, (struct sockaddr *)&sin,
	    &slen), 0);
	s->s_port = ntohs(sin.sin_port);
	snprintf(s->s_url, sizeof(s->s_url), "http://127.0.0.1:%d/certs",
	    s->s_port);
	assert_int_equal(pthread_create(&s->s_thread, NULL, srv_main, s), 0);
}

static void
srv_set(struct srv *s, enum srv_mode mode, int status, const char *body)
{
	pthread_mutex_lock(&s->s_mu);
	s->s_mode = mode;
	s->s_status = status;
	free(s->s_body);
	s->s_body = xstrdup(body);
	pthread_mutex_unlock(&s->s_mu);
}

static int
srv_nreq(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->s_mu);
	n = s->s_nreq;
	pthread_mutex_unlock(&s->s_mu);
	return n;
}

static void
srv_stop(struct srv *s)
{
	size_t i;

	assert_int_equal(write(s->s_pipe[1], "x", 1), 1);
	pthread_join(s->s_thread, NULL);
	for (i = 0; i < s->s_nhung; i++)
		close(s->s_hung[i]);
	close(s->s_lfd);
	close(s->s_pipe[0]);
	close(s->s_pipe[1]);
	free(s->s_body);
	s->s_body = NULL;
	pthread_mutex_destroy(&s->s_mu);
}

/* The JWKS of <k1> (and <k2>), padded with blanks to <pad> bytes. */
static char *
jwks_of(const struct jwt_key *k1, const struct jwt_key *k2, size_t pad)
{
	json_t *keys = json_array();
	json_t *doc;
	char *s, *out;
	size_t len;

	json_array_append_new(keys, jwt_key_jwk(k1));
	if (k2 != NULL)
		json_array_append_new(keys, jwt_key_jwk(k2));
	doc = json_pack("{s:o}", "keys", keys);
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	assert_non_null(s);
	len = strlen(s);
	if (pad <= len)
		return s;
	out = xmalloc(pad + 1);
	memcpy(out, s, len);
	memset(out + len, ' ', pad - len);
	out[pad] = '\0';
	free(s);
	return out;
}

/* Lazy first fetch, then none while the keys serve. */
static void
test_fetch_first(void **state)
{
	struct authz *az;
	struct authz_id id;
	struct srv s;
	char *jwks, *t;

	(void)state;
	jwks = jwks_of(&key_a, NULL, 0);
	srv_start(&s, 200, jwks);
	az = az_make(s.s_url, "", 10000, 2000);
	assert_int_equal(srv_nreq(&s), 0);	/* nothing before first use */
	assert_int_equal(authz_nkeys(az), 0);
	t = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	assert_int_equal(check_tok(az, t, NULL, &id), AUTHZ_OK);
	authz_id_release(&id);
	assert_int_equal(srv_nreq(&s), 1);
	assert_int_equal(authz_nkeys(az), 1);
	assert_int_equal(check_tok(az, t, NULL, &id), AUTHZ_OK);
	authz_id_release(&id);
	free(t);
	t = tok_sign(&key_a, claims_user(OTHER, "USER", NULL));
	assert_int_equal(check_tok(az, t, NULL, &id), AUTHZ_OK);
	authz_id_release(&id);
	assert_int_equal(srv_nreq(&s), 1);
	/* Within refresh-min, even a forced-off refresh is skipped. */
	assert_int_equal(authz_refresh(az, 0), -1);
	assert_int_equal(srv_nreq(&s), 1);
	assert_int_equal(authz_refresh(az, 1), 1);
	assert_int_equal(srv_nreq(&s), 2);
	free(t);
	authz_free(az);
	srv_stop(&s);
	free(jwks);
}

/* An unknown kid refetches, but at most once per refresh-min. */
static void
test_fetch_unknown_kid(void **state)
{
	struct authz *az;
	struct authz_id id;
	struct srv s;
	char *ja, *jab, *ta, *tb;

	(void)state;
	ja = jwks_of(&key_a, NULL, 0);
	jab = jwks_of(&key_a, &key_b, 0);
	srv_start(&s, 200, ja);
	az = az_make(s.s_url, "", 1000, 2000);
	ta = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	tb = tok_sign(&key_b, claims_user(SUB, "USER", NULL));
	assert_int_equal(check_tok(az, ta, NULL, &id), AUTHZ_OK);
	authz_id_release(&id);
	assert_int_equal(srv_nreq(&s), 1);
	/* key_b appears at the provider; too soon to look again. */
	srv_set(&s, SRV_ANSWER, 200, jab);
	assert_int_equal(check_tok(az, tb, NULL, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_KID);
	assert_int_equal(check_tok(az, tb, NULL, &id), AUTHZ_INVALID);
	assert_int_equal(srv_nreq(&s), 1);
	usleep(1100 * 1000);
	assert_int_equal(check_tok(az, tb, NULL, &id), AUTHZ_OK);
	authz_id_release(&id);
	assert_int_equal(srv_nreq(&s), 2);
	assert_int_equal(authz_nkeys(az), 2);
	free(tb);
	free(ta);
	authz_free(az);
	srv_stop(&s);
	free(jab);
	free(ja);
}

/* New keys clear the cache: a retired key's tokens, though verified and
 * cached before, are refused. */
static void
test_fetch_retired_key(void **state)
{
	struct authz *az;
	struct authz_id id;
	struct srv s;
	char *ja, *jb, *ta;

	(void)state;
	ja = jwks_of(&key_a, NULL, 0);
	jb = jwks_of(&key_b, NULL, 0);
	srv_start(&s, 200, ja);
	az = az_make(s.s_url, "", 10000, 2000);
	ta = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	assert_int_equal(check_tok(az, ta, NULL, &id), AUTHZ_OK);
	authz_id_release(&id);
	srv_set(&s, SRV_ANSWER, 200, jb);
	assert_int_equal(authz_refresh(az, 1), 1);
	assert_int_equal(check_tok(az, ta, NULL, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_KID);
	assert_int_equal(srv_nreq(&s), 2);	/* within refresh-min */
	free(ta);
	authz_free(az);
	srv_stop(&s);
	free(jb);
	free(ja);
}

/* Answers that must not replace the keys. */
static const struct {
	enum srv_mode	 mode;
	int		 status;
	const char	*body;
} bad_jwks[] = {
	{ SRV_ANSWER, 500, "{\"keys\":[]}" },
	{ SRV_ANSWER, 404, "" },
	{ SRV_ANSWER, 200, "not json" },
	{ SRV_ANSWER, 200, "{\"nokeys\":1}" },
	{ SRV_ANSWER, 200, "{\"keys\":[]}" },
	{ SRV_ANSWER, 200, "{\"keys\":[{\"kty\":\"EC\"}]}" },
	{ SRV_REDIRECT, 302, "" },
};

/* Failed fetches of every kind keep the keys held. */
static void
test_fetch_failures(void **state)
{
	struct authz *az;
	struct authz_id id;
	struct srv s;
	char *ja, *jb, *t;
	size_t i;

	(void)state;
	ja = jwks_of(&key_a, NULL, 0);
	jb = jwks_of(&key_b, NULL, 0);
	srv_start(&s, 200, ja);
	az = az_make(s.s_url, "", 0, 2000);
	assert_int_equal(authz_refresh(az, 0), 1);
	t = tok_sign(&key_a, claims_user(SUB, "USER", NULL));
	for (i = 0; i < NITEMS(bad_jwks); i++) {
		srv_set(&s, bad_jwks[i].mode, bad_jwks[i].status,
		    bad_jwks[i].body);
		if (authz_refresh(az, 1) != -1)
			fail_msg("case %zu accepted", i);
		assert_int_equal(authz_nkeys(az), 1);
		assert_int_equal(check_tok(az, t, NULL, &id), AUTHZ_OK);
		authz_id_release(&id);
	}
	assert_int_equal(srv_nreq(&s), 1 + (int)NITEMS(bad_jwks));
	/* Recovery replaces the keys. */
	srv_set(&s, SRV_ANSWER, 200, jb);
	assert_int_equal(authz_refresh(az, 1), 1);
	assert_int_equal(check_tok(az, t, NULL, &id), AUTHZ_INVALID);
	free(t);
	authz_free(az);
	srv_stop(&s);
	free(jb);
	free(ja);
}

/* Only http and https: other schemes are refused by curl itself. */
static void
test_fetch_protocols(void **state)
{
	static const char *const urls[] = {
		"file:///etc/passwd", "ftp://127.0.0.1:1/certs",
		"gopher://127.0.0.1:1/", "dict://127.0.0.1:1/x",
	};
	struct authz *az;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(urls); i++) {
		az = az_make(urls[i], "", 0, 500);
		assert_int_equal(authz_refresh(az, 1), -1);
		assert_int_equal(authz_nkeys(az), 0);
		authz_free(az);
	}
}

/* A body over max-jwks-size is refused, with or without a length. */
static void
test_fetch_oversize(void **state)
{
	struct authz_cfg c;
	struct authz *az;
	struct srv s;
	char *small, *big, *other;

	(void)state;
	small = jwks_of(&key_a, NULL, 1000);
	big = jwks_of(&key_b, NULL, 4096);
	other = jwks_of(&key_b, NULL, 1025);
	srv_start(&s, 200, small);
	memset(&c, 0, sizeof(c));
	c.azc_jwks_url = xstrdup(s.s_url);
	c.azc_issuer = xstrdup(ISS);
	c.azc_audience = xstrdup("");
	c.azc_timeout = 2000;
	c.azc_cache = 10;
	c.azc_max_size = 1024;
	az = authz_new(&c);
	authz_cfg_release(&c);
	assert_int_equal(authz_refresh(az, 1), 1);
	srv_set(&s, SRV_ANSWER, 200, big);
	assert_int_equal(authz_refresh(az, 1), -1);
	srv_set(&s, SRV_NOLEN, 200, big);
	assert_int_equal(authz_refresh(az, 1), -1);
	srv_set(&s, SRV_NOLEN, 200, other);	/* one byte over */
	assert_int_equal(authz_refresh(az, 1), -1);
	srv_set(&s, SRV_NOLEN, 200, small);
	assert_int_equal(authz_refresh(az, 1), 1);
	assert_int_equal(srv_nreq(&s), 5);
	authz_free(az);
	srv_stop(&s);
	free(other);
	free(big);
	free(small);
}

/* A server that never answers costs the timeout, not more. */
static void
test_fetch_timeout(void **state)
{
	struct authz *az;
	struct authz_id id;
	struct srv s;
	uint64_t t0, dt;
	char *ja, *t;

	(void)state;
	ja = jwks_of(&key_a, NULL, 0);
	srv_start(&s, 200, ja);
	az = az_make(s.s_url, "", 0, 300);
	assert_int_equal(authz_refresh(az, 1), 1);
	srv_set(&s, SRV_HANG, 0, "");
	t0 = util_now_ms();
	assert_int_equal(authz_refresh(az, 1), -1);
	dt = util_now_ms() - t0;
	assert_true(dt >= 250);
	assert_true(dt < 2000);
	assert_int_equal(authz_nkeys(az), 1);
	/* An unknown kid meets the hanging server: bounded as well. */
	t = tok_sign(&key_b, claims_user(SUB, "USER", NULL));
	t0 = util_now_ms();
	assert_int_equal(check_tok(az, t, NULL, &id), AUTHZ_INVALID);
	assert_int_equal(id.ai_err, JWT_E_KID);
	assert_true(util_now_ms() - t0 < 2000);
	free(t);
	authz_free(az);
	srv_stop(&s);
	free(ja);
}

/* Counts the lines of file <path> that contain <needle>. */
static int
count_lines(const char *path, const char *needle)
{
	char line[1024];
	FILE *fp;
	int n = 0;

	assert_non_null(fp = fopen(path, "r"));
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return n;
}

/* Transitions are logged once: loaded, failing, working again. */
static void
test_fetch_log(void **state)
{
	char path[] = "/tmp/test_authz.log.XXXXXX";
	struct authz *az;
	struct srv s;
	char *ja;
	int fd, saved, i;

	(void)state;
	assert_true((fd = mkstemp(path)) != -1);
	close(fd);
	assert_true((saved = dup(STDERR_FILENO)) != -1);
	assert_int_equal(log_open(path), 0);
	log_set_level(LOG_LVL_INFO);
	ja = jwks_of(&key_a, NULL, 0);
	srv_start(&s, 200, ja);
	az = az_make(s.s_url, "", 0, 2000);
	assert_int_equal(authz_refresh(az, 1), 1);
	assert_int_equal(authz_refresh(az, 1), 1);
	srv_set(&s, SRV_ANSWER, 503, "");
	for (i = 0; i < 3; i++)
		assert_int_equal(authz_refresh(az, 1), -1);
	srv_set(&s, SRV_ANSWER, 200, ja);
	assert_int_equal(authz_refresh(az, 1), 1);
	assert_int_equal(authz_refresh(az, 1), 1);
	authz_free(az);
	srv_stop(&s);
	log_set_level(LOG_LVL_ERROR);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	log_open(NULL);
	assert_int_equal(count_lines(path, "1 keys loaded"), 1);
	assert_int_equal(count_lines(path, "failed: HTTP status 503; "
	    "keeping 1 keys"), 1);
	assert_int_equal(count_lines(path, "works again: 1 keys"), 1);
	assert_int_equal(count_lines(path, "eyJ"), 0);	/* no token text */
	unlink(path);
	free(ja);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_forms),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_identity_bounds),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_audience),
		cmocka_unit_test(test_token_type),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_gateway_sub),
		cmocka_unit_test(test_repeat),
		cmocka_unit_test(test_unavailable),
		cmocka_unit_test(test_predicates),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_rules_401),
		cmocka_unit_test(test_rules_503),
		cmocka_unit_test(test_check_request),
		cmocka_unit_test(test_cfg),
		cmocka_unit_test(test_fetch_first),
		cmocka_unit_test(test_fetch_unknown_kid),
		cmocka_unit_test(test_fetch_retired_key),
		cmocka_unit_test(test_fetch_failures),
		cmocka_unit_test(test_fetch_protocols),
		cmocka_unit_test(test_fetch_oversize),
		cmocka_unit_test(test_fetch_timeout),
		cmocka_unit_test(test_fetch_log),
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, setup_keys, teardown_keys);
	curl_global_cleanup();
	xmlCleanupParser();
	return rc;
}
