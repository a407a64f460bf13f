/*
 * idpc: the client of elp-auth's admin API (see idpc.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfg.h"
#include "idpc.h"
#include "log.h"
#include "svcc.h"
#include "util.h"
#include "uuid.h"

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct idpc_cfg, field) }

const struct cfg_key idpc_cfg_keys[] = {
	K("base-url", CFG_T_STR, NULL, 0, 0, ic_base_url),
	K("realm", CFG_T_STR, "e-learning-platform", 0, 0, ic_realm),
	K("client-id", CFG_T_STR, "", 0, 0, ic_client_id),
	K("secret-file", CFG_T_PATH, NULL, 0, 0, ic_secret_file),
	K("timeout", CFG_T_DURATION, "5s", 1, 600000, ic_timeout),
	K("max-response", CFG_T_SIZE, "1m", 1024, 64 * 1024 * 1024,
	    ic_max_size),
	K("ca-file", CFG_T_PATH, "", 0, 0, ic_ca_file),
};
const size_t idpc_cfg_nkeys = NITEMS(idpc_cfg_keys);

#undef K

struct idpc {
	char		*ip_admin;	/* base + "/admin/realms/<realm>" */
	struct svcc	*ip_svcc;	/* token and transfers */
};

void
idpc_cfg_release(struct idpc_cfg *cfg)
{
	cfg_release_keys(idpc_cfg_keys, idpc_cfg_nkeys, cfg);
}

struct idpc *
idpc_new(const struct idpc_cfg *cfg, const char *def_client)
{
	struct svcc_def def;
	struct idpc *ip;
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
	def.sv_client = cfg->ic_client_id != NULL &&
	    cfg->ic_client_id[0] != '\0' ? cfg->ic_client_id : def_client;
	def.sv_secret_file = cfg->ic_secret_file;
	def.sv_timeout = cfg->ic_timeout;
	def.sv_max = cfg->ic_max_size;
	def.sv_ca_file = cfg->ic_ca_file;
	ip->ip_svcc = svcc_new(&def);
	free(token_url);
	return ip;
}

void
idpc_free(struct idpc *ip)
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
 * NULL (NULL when the answer is empty or not JSON), or IDPC_UNAVAILABLE.
 */
static int
idpc_call(struct idpc *ip, const char *method, const char *path,
    json_t *body, const char *key, json_t **out)
{
	char *url = xasprintf("%s%s", ip->ip_admin, path);
	int rc;

	rc = svcc_call(ip->ip_svcc, method, url, body, key, out);
	free(url);
	return rc == SVCC_UNAVAILABLE ? IDPC_UNAVAILABLE : rc;
}

/* Copies the errorMessage of <ans> (or a generic text) to <why>. */
static void
idpc_why(json_t *ans, int status, char *why, size_t whylen)
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
idpc_user_create(struct idpc *ip, const struct idpc_user *u, const char *key,
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
	rc = idpc_call(ip, "POST", "/users", body, key, &ans);
	json_decref(body);
	if (rc == 201) {
		s = json_string_value(json_object_get(ans, "id"));
		if (s == NULL || uuid_parse(s, strlen(s), id) == -1) {
			log_warnx("idp: account created without a usable id");
			rc = 502;
		}
	}
	if (rc != 201 && rc != IDPC_UNAVAILABLE)
		idpc_why(ans, rc, why, whylen);
	json_decref(ans);
	return rc;
}

int
idpc_user_delete(struct idpc *ip, const char *id)
{
	char *path = xasprintf("/users/%s", id);
	int rc;

	rc = idpc_call(ip, "DELETE", path, NULL, NULL, NULL);
	free(path);
	return rc;
}

int
idpc_user_password(struct idpc *ip, const char *id, const char *pw,
    char *why, size_t whylen)
{
	char *path = xasprintf("/users/%s/reset-password", id);
	json_t *body, *ans = NULL;
	int rc;

	body = json_pack("{s:s, s:b, s:s}", "type", "password", "temporary", 0,
	    "value", pw);
	if (body == NULL)
		fatalx("json_pack: out of memory");
	rc = idpc_call(ip, "PUT", path, body, NULL, &ans);
	if (rc != 204 && rc != IDPC_UNAVAILABLE)
		idpc_why(ans, rc, why, whylen);
	json_decref(body);
	json_decref(ans);
	free(path);
	return rc;
}

int
idpc_user_password_as(struct idpc *ip, const char *id, const char *pw,
    const char *current, const char *token, char *why, size_t whylen)
{
	char *path = xasprintf("/users/%s/reset-password", id);
	json_t *body, *ans = NULL;
	int rc;

	body = json_pack("{s:s, s:b, s:s, s:s}", "type", "password",
	    "temporary", 0, "value", pw, "callerToken", token);
	if (body == NULL)
		fatalx("json_pack: out of memory");
	if (current != NULL)
		json_object_set_new(body, "currentPassword",
		    json_string(current));
	rc = idpc_call(ip, "PUT", path, body, NULL, &ans);
	if (rc != 204 && rc != IDPC_UNAVAILABLE)
		idpc_why(ans, rc, why, whylen);
	json_decref(body);
	json_decref(ans);
	free(path);
	return rc;
}

int
idpc_user_get(struct idpc *ip, const char *id, json_t **out)
{
	char *path = xasprintf("/users/%s", id);
	int rc;

	*out = NULL;
	rc = idpc_call(ip, "GET", path, NULL, NULL, out);
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
idpc_user_names(struct idpc *ip, const char *id, const char *first,
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
	rc = idpc_call(ip, "PUT", path, body, NULL, NULL);
	json_decref(body);
	free(path);
	return rc;
}

int
idpc_role_users(struct idpc *ip, const char *role, json_t **out)
{
	char *path = xasprintf("/roles/%s/users", role);
	int rc;

	*out = NULL;
	rc = idpc_call(ip, "GET", path, NULL, NULL, out);
	free(path);
	if (rc == 200 && !json_is_array(*out))
		rc = 502;
	if (rc != 200) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int
idpc_role_ids(struct idpc *ip, const char *role, json_t **out)
{
	char id[UUID_STR_LEN + 1];
	json_t *ans, *v;
	const char *s;
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = idpc_role_users(ip, role, &ans)) != 200)
		return rc;
	*out = json_array();
	json_array_foreach(ans, i, v) {
		s = json_string_value(json_object_get(v, "id"));
		if (s != NULL && uuid_parse(s, strlen(s), id) == 0)
			json_array_append_new(*out, json_string(id));
	}
	json_decref(ans);
	return rc;
}
