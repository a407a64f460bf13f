/*
 * rcpt: recipients from elp-auth's admin API (fcgi-apps/auth/README.md,
 * "Admin API"): one account by id, and the members of a realm role. The
 * transfers, the client-credentials token and the secret file are
 * libelp's service client (svcc.h).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfg.h"
#include "log.h"
#include "mail.h"
#include "messaging.h"
#include "svcc.h"
#include "util.h"
#include "uuid.h"

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct rcpt_cfg, field) }

const struct cfg_key rcpt_cfg_keys[] = {
	K("base-url", CFG_T_STR, NULL, 0, 0, rc_base_url),
	K("realm", CFG_T_STR, "e-learning-platform", 0, 0, rc_realm),
	K("client-id", CFG_T_STR, "elp-messaging", 0, 0, rc_client_id),
	K("secret-file", CFG_T_PATH, NULL, 0, 0, rc_secret_file),
	K("timeout", CFG_T_DURATION, "5s", 1, 600000, rc_timeout),
	K("max-response", CFG_T_SIZE, "1m", 1024, 64 * 1024 * 1024,
	    rc_max_size),
};
const size_t rcpt_cfg_nkeys = NITEMS(rcpt_cfg_keys);

#undef K

void
rcpt_open(struct msg_svc *ms, const struct rcpt_cfg *cfg)
{
	struct svcc_def def;
	size_t n = strlen(cfg->rc_base_url);
	char *token_url;

	while (n > 0 && cfg->rc_base_url[n - 1] == '/')
		n--;
	ms->ms_admin_url = xasprintf("%.*s/admin/realms/%s", (int)n,
	    cfg->rc_base_url, cfg->rc_realm);
	token_url = xasprintf("%.*s/realms/%s/protocol/openid-connect/token",
	    (int)n, cfg->rc_base_url, cfg->rc_realm);
	memset(&def, 0, sizeof(def));
	def.sv_name = "idp";
	def.sv_token_url = token_url;
	def.sv_client = cfg->rc_client_id;
	def.sv_secret_file = cfg->rc_secret_file;
	def.sv_timeout = cfg->rc_timeout;
	def.sv_max = cfg->rc_max_size;
	ms->ms_idp = svcc_new(&def);
	free(token_url);
}

void
rcpt_close(struct msg_svc *ms)
{
	svcc_free(ms->ms_idp);
	ms->ms_idp = NULL;
	free(ms->ms_admin_url);
	ms->ms_admin_url = NULL;
}

void
rcpt_release(struct rcpt *r)
{
	free(r->r_email);
	r->r_email = NULL;
	free(r->r_name);
	r->r_name = NULL;
}

/*
 * Fills <r> from an account representation <o>. Returns 0, or -1 when it
 * has no usable id. An e-mail that could not go into a header or an
 * envelope is dropped (no mail), never passed on.
 */
static int
rcpt_from_json(json_t *o, struct rcpt *r)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *email = json_string_value(json_object_get(o, "email"));
	const char *first, *last;

	memset(r, 0, sizeof(*r));
	if (id == NULL || uuid_parse(id, strlen(id), r->r_id) == -1)
		return -1;
	if (email != NULL && mail_addr_ok(email))
		r->r_email = xstrdup(email);
	first = json_string_value(json_object_get(o, "firstName"));
	last = json_string_value(json_object_get(o, "lastName"));
	if (first == NULL)
		first = "";
	if (last == NULL)
		last = "";
	if (first[0] != '\0' || last[0] != '\0')
		r->r_name = xasprintf("%s%s%s", first,
		    first[0] != '\0' && last[0] != '\0' ? " " : "", last);
	else
		r->r_name = xstrdup(email != NULL ? email : "");
	return 0;
}

int
rcpt_user(struct msg_svc *ms, const char *id, struct rcpt *out)
{
	char *url = xasprintf("%s/users/%s", ms->ms_admin_url, id);
	json_t *ans = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = svcc_call(ms->ms_idp, "GET", url, NULL, NULL, &ans);
	if (rc == 200 && rcpt_from_json(ans, out) == -1) {
		log_warnx("idp: account %s answered without a usable id", id);
		rc = 502;
	}
	json_decref(ans);
	free(url);
	return rc;
}

int
rcpt_role(struct msg_svc *ms, const char *role, size_t max,
    struct rcpt **out, size_t *n)
{
	char *url = xasprintf("%s/roles/%s/users", ms->ms_admin_url, role);
	json_t *ans = NULL, *v;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	rc = svcc_call(ms->ms_idp, "GET", url, NULL, NULL, &ans);
	free(url);
	if (rc == 200 && !json_is_array(ans))
		rc = 502;
	if (rc == 200) {
		if (json_array_size(ans) > max)
			log_warnx("role %s has %zu members; only the first %zu "
			    "are notified (<events max-recipients>)", role,
			    json_array_size(ans), max);
		*out = xcalloc(json_array_size(ans) + 1, sizeof(**out));
		json_array_foreach(ans, i, v) {
			if (*n == max)
				break;
			if (rcpt_from_json(v, &(*out)[*n]) == 0)
				(*n)++;
		}
	}
	json_decref(ans);
	return rc;
}
