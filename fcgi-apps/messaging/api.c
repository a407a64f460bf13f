/*
 * api: the route table of elp-messaging, the helpers handlers share, the
 * public API (the caller's own notifications: list, mark one read, mark
 * all read) and the health check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "db.h"
#include "log.h"
#include "messaging.h"
#include "page.h"
#include "svc.h"
#include "util.h"
#include "uuid.h"

#define LIST_FAIL	"Failed to fetch notifications! Reason: "
#define READ_FAIL	"Failed to mark notification as read! Reason: "
#define DEF_LIMIT	20

/* Timestamps as the contract renders them (docs/contract/api.md 2.3). */
#define SQL_TIME(col)							\
	"CONCAT(DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%s.'), "		\
	"LPAD(FLOOR(MICROSECOND(" col ") / 1000), 3, '0'), '+00:00')"

#define SQL_UNREAD							\
	"SELECT COUNT(*), COUNT(*) FROM notification "			\
	"WHERE user_id = ? AND read_at IS NULL"
#define SQL_COUNTS							\
	"SELECT COUNT(*), COUNT(*) - COUNT(read_at) FROM notification "	\
	"WHERE user_id = ?"
/* Newest first; ties by insertion order, newest first too. */
#define SQL_PAGE							\
	"SELECT id, event_id, kind, title, body, "			\
	"read_at IS NOT NULL, " SQL_TIME("read_at") ", "		\
	SQL_TIME("created_at") " FROM notification WHERE user_id = ? "	\
	"ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?"
#define SQL_READ_ONE							\
	"UPDATE notification SET read_at = COALESCE(read_at, NOW(3)) "	\
	"WHERE id = ? AND user_id = ?"
#define SQL_READ_ALL							\
	"UPDATE notification SET read_at = NOW(3) "			\
	"WHERE user_id = ? AND read_at IS NULL"

static void	msg_list(struct app_req *);
static void	msg_unread(struct app_req *);
static void	msg_read_one(struct app_req *);
static void	msg_read_all(struct app_req *);
static void	msg_health(struct app_req *);

const struct app_route msg_routes[] = {
	{ "GET", "/messaging/notifications", msg_list, APP_BODY_ANY },
	{ "GET", "/messaging/notifications/unread-count",
	    msg_unread, APP_BODY_ANY },
	{ "POST", "/messaging/notifications/read-all",
	    msg_read_all, APP_BODY_JSON },
	{ "POST", "/messaging/notifications/{id}/read",
	    msg_read_one, APP_BODY_JSON },
	{ "POST", "/internal/events", event_post, APP_BODY_JSON },
	{ "GET", "/health", msg_health, APP_BODY_ANY },
};
const size_t msg_nroutes = NITEMS(msg_routes);

/* The keys of a notification, in the column order of SQL_PAGE. */
static const char *const msg_keys[] = {
	"notificationId", "eventId", "type", "title", "body", "read",
	"readAt", "createdAt",
};

/* The counts of a notification list. */
struct msg_counts {
	long long	 mc_total;
	long long	 mc_unread;
};

void
msg_db_fail(struct app_req *req, struct msg_svc *ms, const char *what)
{
	enum db_err e = db_error(ms->ms_db);

	if (e == DB_E_CONN) {
		app_fail(req, 503,
		    "Service temporarily unavailable: database unreachable");
		return;
	}
	log_error("%s: %s: %s", what, db_err_str(e), db_errmsg(ms->ms_db));
	app_fail(req, 500, "Internal server error");
}

/* Parses the whole of <s> as a decimal long long. 0 or -1. */
static int
msg_ll(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' ? -1 : 0;
}

/* Row callback: the two counts into the struct msg_counts at <arg>. */
static int
msg_counts_row(void *arg, const struct db_val *cols, size_t ncol)
{
	struct msg_counts *c = arg;

	if (ncol != 2 || cols[0].dv_type == DB_T_NULL ||
	    cols[1].dv_type == DB_T_NULL ||
	    msg_ll(cols[0].dv_s, &c->mc_total) == -1 ||
	    msg_ll(cols[1].dv_s, &c->mc_unread) == -1)
		return -1;
	return 0;
}

/* Row callback: appends the notification to the JSON array at <arg>. */
static int
msg_row(void *arg, const struct db_val *cols, size_t ncol)
{
	json_t *o;
	size_t i;

	if (ncol != NITEMS(msg_keys))
		return -1;
	o = json_object();
	for (i = 0; i < ncol; i++) {
		if (cols[i].dv_type == DB_T_NULL)
			json_object_set_new(o, msg_keys[i], json_null());
		else if (strcmp(msg_keys[i], "read") == 0)
			json_object_set_new(o, msg_keys[i],
			    json_boolean(strcmp(cols[i].dv_s, "0") != 0));
		else
			json_object_set_new(o, msg_keys[i],
			    json_stringn(cols[i].dv_s, cols[i].dv_len));
	}
	json_array_append_new(arg, o);
	return 0;
}

/*
 * Fetches the counts of <user> into <c> and page <pg> of the list into
 * <list>. Returns 0 or -1 (db_error() set).
 */
static int
msg_fetch(struct msg_svc *ms, const char *user, const struct page *pg,
    struct msg_counts *c, json_t *list)
{
	struct db_val p[3];
	long long off;

	p[0] = DB_STR(user);
	if (db_exec(ms->ms_db, SQL_COUNTS, p, 1, msg_counts_row, c) == -1)
		return -1;
	if (page_offset(pg, &off) == -1 || off >= c->mc_total)
		return 0;
	p[1] = DB_INT(pg->pg_limit);
	p[2] = DB_INT(off);
	return db_exec(ms->ms_db, SQL_PAGE, p, NITEMS(p), msg_row, list) ==
	    -1 ? -1 : 0;
}

/* GET /messaging/notifications?pageNumber=&limit=: the caller's own. */
static void
msg_list(struct app_req *req)
{
	struct msg_svc *ms = req->r_ctx;
	struct page pg = { 0, DEF_LIMIT };
	struct msg_counts c = { 0, 0 };
	struct authz_id id;
	json_t *list;

	if (authz_require_token(req, ms->ms_az, &id) == -1)
		return;
	if (page_parse(req, ms->ms_cfg->mc_max_page, LIST_FAIL, &pg) == -1)
		goto done;
	list = json_array();
	if (msg_fetch(ms, id.ai_sub, &pg, &c, list) == -1)
		msg_db_fail(req, ms, "notification list");
	else
		app_ok(req, 200, json_pack("{s:I, s:I, s:I, s:I, s:O}",
		    "totalCount", (json_int_t)c.mc_total, "unreadCount",
		    (json_int_t)c.mc_unread, "pageNumber",
		    (json_int_t)pg.pg_page, "limit", (json_int_t)pg.pg_limit,
		    "notifications", list));
	json_decref(list);
done:
	authz_id_release(&id);
}

/*
 * GET /messaging/notifications/unread-count: how many of the caller's own
 * notifications are unread (docs/contract/api.md 8.3), one prepared
 * COUNT, for badges and the dashboard aggregate.
 */
static void
msg_unread(struct app_req *req)
{
	struct msg_svc *ms = req->r_ctx;
	struct msg_counts c = { 0, 0 };
	struct authz_id id;
	struct db_val p[1];

	if (authz_require_token(req, ms->ms_az, &id) == -1)
		return;
	p[0] = DB_STR(id.ai_sub);
	if (db_exec(ms->ms_db, SQL_UNREAD, p, NITEMS(p), msg_counts_row,
	    &c) == -1)
		msg_db_fail(req, ms, "notification unread count");
	else
		app_ok(req, 200, json_pack("{s:I}", "unreadCount",
		    (json_int_t)c.mc_unread));
	authz_id_release(&id);
}

/*
 * POST /messaging/notifications/{id}/read: the caller's own notification
 * only; someone else's is "not found", so ids reveal nothing. Marking a
 * read one again keeps its first readAt.
 */
static void
msg_read_one(struct app_req *req)
{
	struct msg_svc *ms = req->r_ctx;
	char nid[UUID_STR_LEN + 1];
	const char *raw = app_cap(req, "id");
	struct authz_id id;
	struct db_val p[2];
	long long n;

	if (authz_require_token(req, ms->ms_az, &id) == -1)
		return;
	if (raw == NULL || uuid_parse(raw, strlen(raw), nid) == -1) {
		app_fail(req, 400, READ_FAIL "Invalid UUID: %.64s",
		    raw != NULL ? raw : "");
		goto done;
	}
	p[0] = DB_STR(nid);
	p[1] = DB_STR(id.ai_sub);
	n = db_exec_idem(ms->ms_db, SQL_READ_ONE, p, NITEMS(p), NULL, NULL);
	if (n == -1)
		msg_db_fail(req, ms, "notification read");
	else if (n == 0)
		app_fail(req, 404, "No notification found for this id!");
	else
		app_ok(req, 200, json_pack("{s:s, s:s}", "message",
		    "Notification marked as read", "notificationId", nid));
done:
	authz_id_release(&id);
}

/* POST /messaging/notifications/read-all: every unread one of the caller. */
static void
msg_read_all(struct app_req *req)
{
	struct msg_svc *ms = req->r_ctx;
	struct authz_id id;
	struct db_val p[1];
	long long n;

	if (authz_require_token(req, ms->ms_az, &id) == -1)
		return;
	p[0] = DB_STR(id.ai_sub);
	n = db_exec_idem(ms->ms_db, SQL_READ_ALL, p, NITEMS(p), NULL, NULL);
	if (n == -1)
		msg_db_fail(req, ms, "notification read-all");
	else
		app_ok(req, 200, json_pack("{s:s, s:I}", "message",
		    "All notifications marked as read", "updated",
		    (json_int_t)n));
	authz_id_release(&id);
}

/* GET /health: UP when the database answers a ping, else 503. */
static void
msg_health(struct app_req *req)
{
	struct msg_svc *ms = req->r_ctx;

	svc_health(req, ms->ms_db);
}
