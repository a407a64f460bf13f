/*
 * rcpt: recipients from elp-auth's admin API (fcgi-apps/auth/README.md,
 * "Admin API"): one account by id, and the members of a realm role,
 * through libelp's admin API client (idpc.h).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "idpc.h"
#include "log.h"
#include "mail.h"
#include "messaging.h"
#include "util.h"
#include "uuid.h"

void
rcpt_open(struct msg_svc *ms, const struct idpc_cfg *cfg)
{
	ms->ms_idp = idpc_new(cfg, "elp-messaging");
}

void
rcpt_close(struct msg_svc *ms)
{
	idpc_free(ms->ms_idp);
	ms->ms_idp = NULL;
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
	json_t *ans;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = idpc_user_get(ms->ms_idp, id, &ans);
	if (rc == 502 || (rc == 200 && rcpt_from_json(ans, out) == -1)) {
		log_warnx("idp: account %s answered without a usable id", id);
		rc = 502;
	}
	json_decref(ans);
	return rc;
}

int
rcpt_role(struct msg_svc *ms, const char *role, size_t max,
    struct rcpt **out, size_t *n)
{
	json_t *ans, *v;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	rc = idpc_role_users(ms->ms_idp, role, &ans);
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
