/*
 * idp: the client of elp-auth's admin API (fcgi-apps/auth/README.md,
 * "Admin API"). Transfers, the client-credentials token and the secret
 * file are libelp's service client (svcc.h); this file knows the URLs and
 * the shapes of the answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfg.h"
#include "log.h"
#include "svcc.h"
#include "user.h"
#include "util.h"
#include "uuid.h"

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct idp_cfg, field) }

const struct cfg_key idp_cfg_keys[] = {
	K("base-url", CFG_T_STR, NULL, 0, 0, ic_base_url),
	K("realm", CFG_T_STR, "e-learning-platform", 0, 0, ic_realm),
	K("client-id", CFG_T_STR, "elp-user", 0, 0, ic_client_id),
	K("secret-file", CFG_T_PATH, NULL, 0, 0, ic_secret_file),
	K("timeout", CFG_T_DURATION, "5s", 1, 600000, ic_timeout),
	K("max-response", CFG_T_SIZE, "1m", 1024, 64 * 1024 * 1024,
	    ic_max_size),
};
const size_t idp_cfg_nkeys = NITEMS(idp_cfg_keys);

#undef K

struct idp {
	char		*ip_admin;	/* base + "/admin/realms/<realm>" */
	struct svcc	*ip_svcc;	/* token and transfers */
};

void
idp_cfg_release(struct idp_cfg *cfg)
{
	cfg_release_keys(idp_cfg_keys, idp_cfg_nkeys, cfg);
}

struct idp *
idp_new(const struct idp_cfg *cfg)
{
	struct svcc_def def;
	struct idp *ip;
	size_t n = strlen(cfg->ic_base_url);
	char *token_url;

	while (n > 0 && cfg->ic_base_url[n - 1] == '/')
		n--;
	ip = xcalloc(1, sizeof(*ip));
	ip->ip_admin = xasprintf("%.*s/admin/realms/%s", (int)n,
	    cfg->ic_base_url, cfg->ic_realm);
	token_url = xasprintf("%.*s/realms/%s/protocol/openid-connect/token",
	    (int)n, cfg->ic_base_url, cfg->ic_realm);
	memset(&def, 0, sizeof(def));
	def.sv_name = "idp";
	def.sv_token_url = token_url;
	def.sv_client = cfg->ic_client_id;
	def.sv_secret_file = cfg->ic_secret_file;
	def.sv_timeout = cfg->ic_timeout;
	def.sv_max = cfg->ic_max_size;
	ip->ip_svcc = svcc_new(&def);
	free(token_url);
	return ip;
}

void
idp_free(struct idp *ip)
{
	if (ip == NULL)
		return;
	free(ip->ip_admin);
	svcc_free(ip->ip_svcc);
	free(ip);
}

/*
 * One admin API call: <method> on <path> (below the realm's admin base)
 * with JSON <body> (NULL: none) and Idempotency-Key <key> (NULL: none).
 * Returns the status, with the parsed answer in *<out> when <out> is not
 * NULL (NULL when the answer is empty or not JSON), or IDP_UNAVAILABLE.
 */
static int
idp_call(struct idp *ip, const char *method, const char *path,
    json_t *body, const char *key, json_t **out)
{
	char *url = xasprintf("%s%s", ip->ip_admin, path);
	int rc;

	rc = svcc_call(ip->ip_svcc, method, url, body, key, out);
	free(url);
	return rc == SVCC_UNAVAILABLE ? IDP_UNAVAILABLE : rc;
}

/* Copies the errorMessage of <ans> (or a generic text) to <why>. */
static void
idp_why(json_t *ans, int status, char *why, size_t whylen)
{
	const char *m = json_string_value(json_object_get(ans, "errorMessage"));

	if (why == NULL || whylen == 0)
		return;
	if (m != NULL)
		snprintf(why, whylen, "%s", m);
	else
		snprintf(why, whylen, "HTTP %d", status);
}

int
idp_user_create(struct idp *ip, const struct idp_user *u, const char *key,
    char id[UUID_STR_LEN + 1], char *why, size_t whylen)
{
	json_t *body, *ans = NULL;
	const char *s;
	int rc;

	body = json_pack("{s:s, s:s?, s:s?, s:s?, s:s}", "email", u->iu_email,
	    "firstName", u->iu_first, "lastName", u->iu_last, "password",
	    u->iu_password, "role", u->iu_role);
	if (body == NULL)
		fatalx("json_pack: out of memory");
	rc = idp_call(ip, "POST", "/users", body, key, &ans);
	json_decref(body);
	if (rc == 201) {
		s = json_string_value(json_object_get(ans, "id"));
		if (s == NULL || uuid_parse(s, strlen(s), id) == -1) {
			log_warnx("idp: account created without a usable id");
			rc = 502;
		}
	}
	if (rc != 201 && rc != IDP_UNAVAILABLE)
		idp_why(ans, rc, why, whylen);
	json_decref(ans);
	return rc;
}

int
idp_user_delete(struct idp *ip, const char *id)
{
	char *path = xasprintf("/users/%s", id);
	int rc;

	rc = idp_call(ip, "DELETE", path, NULL, NULL, NULL);
	free(path);
	return rc;
}

int
idp_user_password(struct idp *ip, const char *id, const char *pw,
    char *why, size_t whylen)
{
	char *path = xasprintf("/users/%s/reset-password", id);
	json_t *body, *ans = NULL;
	int rc;

	body = json_pack("{s:s, s:b, s:s}", "type", "password", "temporary", 0,
	    "value", pw);
	if (body == NULL)
		fatalx("json_pack: out of memory");
	rc = idp_call(ip, "PUT", path, body, NULL, &ans);
	if (rc != 204 && rc != IDP_UNAVAILABLE)
		idp_why(ans, rc, why, whylen);
	json_decref(body);
	json_decref(ans);
	free(path);
	return rc;
}

int
idp_user_get(struct idp *ip, const char *id, json_t **out)
{
	char *path = xasprintf("/users/%s", id);
	int rc;

	rc = idp_call(ip, "GET", path, NULL, NULL, out);
	if (rc == 200 && !json_is_object(*out))
		rc = 502;
	if (rc != 200) {
		json_decref(*out);
		*out = NULL;
	}
	free(path);
	return rc;
}

int
idp_user_names(struct idp *ip, const char *id, const char *first,
    const char *last)
{
	char *path = xasprintf("/users/%s", id);
	json_t *body;
	int rc;

	/* The admin API keeps a name sent as null; "" clears it. */
	body = json_pack("{s:s, s:s}", "firstName", first != NULL ? first : "",
	    "lastName", last != NULL ? last : "");
	if (body == NULL)
		fatalx("json_pack: out of memory");
	rc = idp_call(ip, "PUT", path, body, NULL, NULL);
	json_decref(body);
	free(path);
	return rc;
}

int
idp_role_ids(struct idp *ip, const char *role, json_t **out)
{
	char *path = xasprintf("/roles/%s/users", role);
	char id[UUID_STR_LEN + 1];
	json_t *ans = NULL, *v;
	const char *s;
	size_t i;
	int rc;

	*out = NULL;
	rc = idp_call(ip, "GET", path, NULL, NULL, &ans);
	free(path);
	if (rc == 200 && !json_is_array(ans))
		rc = 502;
	if (rc == 200) {
		*out = json_array();
		json_array_foreach(ans, i, v) {
			s = json_string_value(json_object_get(v, "id"));
			if (s != NULL && uuid_parse(s, strlen(s), id) == 0)
				json_array_append_new(*out, json_string(id));
		}
	}
	json_decref(ans);
	return rc;
}
