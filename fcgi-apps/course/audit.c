/*
 * audit: the audit trail of the administrators' changes in elp-course
 * (docs/contract/api.md 4.8): course creations and edits, lectures added
 * and deleted, payment decisions. Each is one row of audit_event
 * (migration 0004) written in the transaction of the change when there is
 * one, naming the admin (token sub and preferred_username), the gateway's
 * request id, the action, the target and the change as JSON. ADMINs read
 * it with GET /course/audit (the gateway's /course-management-api/audit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "course.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define AUDIT_FAIL	"Failed to fetch the audit trail! Reason: "
#define AUDIT_DEF_LIMIT	50

#define SQL_AUDIT_PUT							\
	"INSERT INTO audit_event (actor, actor_name, request_id, "	\
	"action, target_type, target, details) "			\
	"VALUES (?, ?, ?, ?, ?, ?, ?)"
#define SQL_AUDIT_LIST							\
	"SELECT id, time, actor, actor_name, request_id, action, "	\
	"target_type, target, details FROM audit_event "		\
	"WHERE (? IS NULL OR actor = ?) AND (? IS NULL OR target = ?) "	\
	"AND (? IS NULL OR action = ?) ORDER BY id DESC LIMIT ? OFFSET ?"

void
audit_who(struct audit_who *w, struct app_req *req,
    const struct authz_id *id)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->aw_sub, sizeof(w->aw_sub), "%s", id->ai_sub);
	snprintf(w->aw_name, sizeof(w->aw_name), "%s", id->ai_username);
	if (req->r_reqid != NULL && strcmp(req->r_reqid, "-") != 0)
		snprintf(w->aw_reqid, sizeof(w->aw_reqid), "%s",
		    req->r_reqid);
}

int
audit_record(struct course_svc *cs, const struct audit_who *w,
    const char *action, const char *ttype, const char *target,
    json_t *details)
{
	struct db_val p[7];
	char *js = NULL;
	int rc;

	if (details != NULL)
		js = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
	p[0] = DB_STR(w->aw_sub);
	p[1] = w->aw_name[0] != '\0' ? DB_STR(w->aw_name) : DB_NULLV;
	p[2] = w->aw_reqid[0] != '\0' ? DB_STR(w->aw_reqid) : DB_NULLV;
	p[3] = DB_STR(action);
	p[4] = DB_STR(ttype);
	p[5] = DB_STR(target);
	p[6] = js != NULL ? DB_STR(js) : DB_NULLV;
	rc = db_exec(cs->cs_db, SQL_AUDIT_PUT, p, NITEMS(p), NULL, NULL) ==
	    -1 ? -1 : 0;
	if (rc == 0)
		log_info("audit: %s %s %s by %s (request %s)", action, ttype,
		    target, w->aw_sub, w->aw_reqid[0] != '\0' ? w->aw_reqid :
		    "-");
	free(js);
	json_decref(details);
	return rc;
}

json_t *
audit_changes(json_t *before, json_t *after)
{
	json_t *ch = json_object(), *v;
	const char *k;

	json_object_foreach(after, k, v)
		if (!json_equal(json_object_get(before, k), v))
			json_object_set_new(ch, k, json_pack("{s:O?, s:O}",
			    "from", json_object_get(before, k), "to", v));
	return ch;
}

/* Row callback: one event appended to the array <arg>. */
static int
audit_row(void *arg, const struct db_val *c, size_t ncol)
{
	char when[COURSE_TIME_LEN + 1];
	json_t *det = NULL;

	if (ncol != 9 || course_time(c[1].dv_s, when) == -1)
		return -1;
	if (c[8].dv_s != NULL)
		det = json_loads(c[8].dv_s, 0, NULL);
	json_array_append_new(arg, json_pack("{s:I, s:s, s:s, s:s?, s:s?, "
	    "s:s, s:s, s:s, s:o}", "id", (json_int_t)strtoll(c[0].dv_s, NULL,
	    10), "time", when, "actor", c[2].dv_s, "actorName", c[3].dv_s,
	    "requestId", c[4].dv_s, "action", c[5].dv_s, "targetType",
	    c[6].dv_s, "target", c[7].dv_s, "details", det != NULL ? det :
	    json_object()));
	return 0;
}

/* Query parameter <name> into <out>: 1 present, 0 absent, -1 after
 * answering 400. */
static int
audit_param(struct app_req *req, const char *name, char *out, size_t len)
{
	int rc = app_query_get(req->r_query, name, out, len);

	if (rc == -1)
		app_fail(req, 400, AUDIT_FAIL "Invalid %s", name);
	return rc == 1 && out[0] != '\0' ? 1 : rc;
}

void
audit_list(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	struct course_page pg = { 0, AUDIT_DEF_LIMIT };
	char actor[UUID_STR_LEN + 1], target[101], action[33];
	int ra, rt, rx;
	struct authz_id id;
	struct db_val p[8];
	long long off;
	json_t *out;

	if (course_admin(req, cs, &id) == -1)
		return;
	authz_id_release(&id);
	if ((ra = audit_param(req, "actor", actor, sizeof(actor))) == -1 ||
	    (rt = audit_param(req, "target", target, sizeof(target))) == -1 ||
	    (rx = audit_param(req, "action", action, sizeof(action))) == -1 ||
	    course_page_parse(req, cs, AUDIT_FAIL, &pg) == -1)
		return;
	if (course_page_offset(&pg, &off) == -1)
		off = INT64_MAX;
	p[0] = p[1] = ra == 1 ? DB_STR(actor) : DB_NULLV;
	p[2] = p[3] = rt == 1 ? DB_STR(target) : DB_NULLV;
	p[4] = p[5] = rx == 1 ? DB_STR(action) : DB_NULLV;
	p[6] = DB_INT(pg.cp_limit);
	p[7] = DB_INT(off);
	out = json_array();
	if (db_exec(cs->cs_db, SQL_AUDIT_LIST, p, NITEMS(p), audit_row, out) ==
	    -1) {
		json_decref(out);
		course_db_fail(req, cs, "audit list");
		return;
	}
	app_ok(req, 200, json_pack("{s:o, s:I, s:I}", "events", out,
	    "pageNumber", (json_int_t)pg.cp_page, "limit",
	    (json_int_t)pg.cp_limit));
}
