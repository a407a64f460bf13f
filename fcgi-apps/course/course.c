/*
 * course: the route table of elp-course, the helpers every handler shares
 * (row mapping, paging, transactions, access checks) and the course
 * handlers (docs/contract/api.md 4.2.1 to 4.2.4) and the health check.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "buf.h"
#include "course.h"
#include "db.h"
#include "fld.h"
#include "jsonw.h"
#include "log.h"
#include "page.h"
#include "svc.h"
#include "util.h"
#include "uuid.h"

#define LIST_FAIL	"Failed to fetch course list! Reason: "
#define ADD_FAIL	"Failed to add course! Reason: "
#define UPD_FAIL	"Failed to update course! Reason: "
#define DEF_LIMIT	10

/* Catalogue order: oldest first, ties by insertion order, then id. */
#define SQL_COUNT	"SELECT COUNT(*) FROM course"
/*
 * The page and, in a last column of every row, the count of all courses:
 * one round trip and one snapshot for both. SQL_CACHE: a server with
 * query_cache_type=DEMAND (README.md, Database) answers a page it
 * answered before from its query cache until the next write to course;
 * any other server ignores it.
 */
#define SQL_PAGE							\
	"SELECT SQL_CACHE " COURSE_COLS ", (" SQL_COUNT ") FROM course "	\
	"ORDER BY published_at, seq, course_id LIMIT ? OFFSET ?"
#define SQL_ONE								\
	"SELECT " COURSE_COLS " FROM course WHERE course_id = ?"
#define SQL_EXISTS	"SELECT 1 FROM course WHERE course_id = ?"
#define SQL_EXISTS_LOCK							\
	"SELECT 1 FROM course WHERE course_id = ? LOCK IN SHARE MODE"
#define SQL_EXISTS_UPDATE						\
	"SELECT 1 FROM course WHERE course_id = ? FOR UPDATE"
#define SQL_INSERT							\
	"INSERT INTO course (course_name, description, image_url, "	\
	"is_enrollment_enabled, course_fee, discount, course_id) "	\
	"VALUES (?, ?, ?, ?, ?, ?, ?)"
#define SQL_UPDATE							\
	"UPDATE course SET course_name = ?, description = ?, "		\
	"image_url = ?, is_enrollment_enabled = ?, course_fee = ?, "	\
	"discount = ? WHERE course_id = ?"

static void	course_list(struct app_req *);
static void	course_get(struct app_req *);
static void	course_add(struct app_req *);
static void	course_update(struct app_req *);
static void	course_health(struct app_req *);

const struct app_route course_routes[] = {
	{ "GET", "/course", course_list, APP_BODY_ANY },
	{ "POST", "/course", course_add, APP_BODY_JSON },
	{ "POST", "/course/update", course_update, APP_BODY_JSON },
	{ "GET", "/course/enrollment/{userId}", enroll_courses, APP_BODY_ANY },
	{ "GET", "/course/enrollment/{courseId}/{userId}",
	    enroll_status, APP_BODY_ANY },
	{ "GET", "/course/audit", audit_list, APP_BODY_ANY },
	{ "GET", "/course/{courseId}", course_get, APP_BODY_ANY },
	{ "GET", "/course-content/{courseId}", content_list, APP_BODY_ANY },
	{ "GET", "/course-content/{courseId}/preview",
	    content_preview, APP_BODY_ANY },
	{ "POST", "/course-content", content_add, APP_BODY_JSON },
	{ "DELETE", "/course-content/{contentId}",
	    content_delete, APP_BODY_ANY },
	{ "GET", "/payment", payment_list, APP_BODY_ANY },
	{ "POST", "/payment", payment_submit, APP_BODY_JSON },
	{ "POST", "/payment/approval", payment_approve, APP_BODY_JSON },
	{ "GET", "/internal/media/{fileName}", media_access, APP_BODY_ANY },
	{ "GET", "/health", course_health, APP_BODY_ANY },
	{ "GET", "/internal/media-refs", media_refs, APP_BODY_ANY },
};
const size_t course_nroutes = NITEMS(course_routes);

/*
 * The body of a course (docs/contract/api.md 4.2.1), in the order of SQL_INSERT
 * and SQL_UPDATE; courseId comes last and only the update reads it.
 */
enum course_field {
	CF_NAME = 0,
	CF_DESC,
	CF_IMAGE,
	CF_ENABLED,
	CF_FEE,
	CF_DISCOUNT,
	CF_ID,
	CF_COUNT
};

static const struct fld_spec course_fields[CF_COUNT] = {
	[CF_NAME] = { "courseName", FLD_STR, 1, 0, 255 },
	[CF_DESC] = { "description", FLD_TEXT, 0, 0, 65535 },
	[CF_IMAGE] = { "imageUrl", FLD_STR, 0, 0, 255 },
	[CF_ENABLED] = { "isEnrollmentEnabled", FLD_BOOL, 0, 0, 0 },
	[CF_FEE] = { "courseFee", FLD_INT, 0, 0, INT_MAX },
	[CF_DISCOUNT] = { "discount", FLD_INT, 0, 0, 100 },
	[CF_ID] = { "courseId", FLD_UUID, 1, 0, 0 },
};

static const struct course_key course_keys[COURSE_NCOLS] = {
	{ "courseId", CK_STR },
	{ "courseName", CK_STR },
	{ "description", CK_STR },
	{ "imageUrl", CK_STR },
	{ "isEnrollmentEnabled", CK_BOOL },
	{ "courseFee", CK_INT },
	{ "discount", CK_INT },
	{ "publishedAt", CK_TIME },
};

/* Parses the whole of <s> as a decimal long long. 0 or -1. */
static int
course_ll(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	return 0;
}

int
course_time(const char *s, char out[COURSE_TIME_LEN + 1])
{
	static const char shape[] = "dddd-dd-dd dd:dd:dd";
	size_t i, n;

	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) :
		    s[i] != shape[i])
			return -1;
	}
	memcpy(out, s, 10);
	out[10] = 'T';
	memcpy(out + 11, s + 11, 8);
	out[19] = '.';
	/* Any precision the server sends becomes exactly milliseconds. */
	s += i;
	n = 0;
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++)
			if (n < 3)
				out[20 + n++] = *s;
	}
	if (*s != '\0')
		return -1;
	while (n < 3)
		out[20 + n++] = '0';
	memcpy(out + 23, "+00:00", sizeof("+00:00"));
	return 0;
}

/* Maps one non-NULL column <v> of kind <kind>. NULL on bad data. */
static json_t *
course_value(const struct db_val *v, enum course_kind kind)
{
	char when[COURSE_TIME_LEN + 1];
	long long n;

	switch (kind) {
	case CK_STR:
		return json_stringn(v->dv_s, v->dv_len);
	case CK_BOOL:
		if (course_ll(v->dv_s, &n) == -1)
			return NULL;
		return json_boolean(n != 0);
	case CK_INT:
		if (course_ll(v->dv_s, &n) == -1)
			return NULL;
		return json_integer(n);
	case CK_TIME:
		if (course_time(v->dv_s, when) == -1)
			return NULL;
		return json_string(when);
	default:
		return NULL;
	}
}

json_t *
course_row_json(const struct course_key *keys, size_t nkeys,
    const struct db_val *cols, size_t ncol)
{
	json_t *o, *v;
	size_t i;

	if (ncol < nkeys) {
		log_warnx("row has %zu columns, want %zu", ncol, nkeys);
		return NULL;
	}
	o = json_object();
	for (i = 0; i < nkeys; i++) {
		if (cols[i].dv_type == DB_T_NULL || keys[i].ck_kind == CK_NULL)
			v = json_null();
		else if ((v = course_value(&cols[i], keys[i].ck_kind)) ==
		    NULL) {
			log_warnx("column %s: unexpected value",
			    keys[i].ck_key);
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, keys[i].ck_key, v);
	}
	return o;
}

json_t *
course_json(const struct db_val *cols, size_t ncol)
{
	json_t *o, *v;

	if ((o = course_row_json(course_keys, COURSE_NCOLS, cols, ncol)) ==
	    NULL)
		return NULL;
	if (ncol > COURSE_NCOLS && cols[COURSE_NCOLS].dv_type != DB_T_NULL)
		v = json_stringn(cols[COURSE_NCOLS].dv_s,
		    cols[COURSE_NCOLS].dv_len);
	else
		v = json_null();
	json_object_set_new(o, "enrollmentStatus", v);
	return o;
}

/*
 * Writes one non-NULL column <v> of kind <kind> to <out>, as
 * course_value() maps it. 0, or -1 on bad data.
 */
static int
course_value_write(struct buf *out, const struct db_val *v,
    enum course_kind kind)
{
	char when[COURSE_TIME_LEN + 1];
	long long n;

	switch (kind) {
	case CK_STR:
		return jsonw_str(out, v->dv_s, v->dv_len);
	case CK_BOOL:
	case CK_INT:
		if (course_ll(v->dv_s, &n) == -1)
			return -1;
		if (kind == CK_BOOL)
			jsonw_bool(out, n != 0);
		else
			jsonw_int(out, n);
		return 0;
	case CK_TIME:
		if (course_time(v->dv_s, when) == -1)
			return -1;
		return jsonw_str(out, when, COURSE_TIME_LEN);
	default:
		return -1;
	}
}

/*
 * Appends the Course that course_json() makes of the COURSE_NCOLS columns
 * <cols>, without an enrollment status (null), to <out> as JSON text: the
 * very bytes json_dumps() writes for that object. 0, or -1 (logged as
 * course_row_json() logs it) when a value cannot be mapped; <out> then
 * holds part of it.
 */
static int
course_write(struct buf *out, const struct db_val *cols)
{
	size_t i;

	for (i = 0; i < COURSE_NCOLS; i++) {
		buf_append(out, i == 0 ? "{" : ",", 1);
		jsonw_key(out, course_keys[i].ck_key);
		if (cols[i].dv_type == DB_T_NULL)
			jsonw_null(out);
		else if (course_value_write(out, &cols[i],
		    course_keys[i].ck_kind) == -1) {
			log_warnx("column %s: unexpected value",
			    course_keys[i].ck_key);
			return -1;
		}
	}
	buf_append_str(out, ",");
	jsonw_key(out, "enrollmentStatus");
	jsonw_null(out);
	buf_append_str(out, "}");
	return 0;
}

/* Answers database failure <e> of <what> (<msg> for the log). */
static void
course_db_answer(struct app_req *req, enum db_err e, const char *what,
    const char *msg)
{
	if (e == DB_E_CONN) {
		app_fail(req, 503,
		    "Service temporarily unavailable: database unreachable");
		return;
	}
	log_error("%s: %s: %s", what, db_err_str(e), msg);
	app_fail(req, 500, "Internal server error");
}

void
course_db_fail(struct app_req *req, struct course_svc *cs, const char *what)
{
	course_db_answer(req, db_error(cs->cs_db), what,
	    db_errmsg(cs->cs_db));
}

int
course_tx(struct app_req *req, struct course_svc *cs, const char *what,
    course_tx_fn fn, void *arg)
{
	enum db_err e = DB_OK;
	int rc, try;
	char msg[256];

	for (try = 0; try < COURSE_TX_TRIES; try++) {
		if (db_begin(cs->cs_db) == -1)
			break;
		rc = fn(cs, arg);
		if (rc == 0 && db_commit(cs->cs_db) == 0)
			return 0;
		e = db_error(cs->cs_db);
		snprintf(msg, sizeof(msg), "%s", db_errmsg(cs->cs_db));
		db_rollback(cs->cs_db);
		if (rc > 0)
			return rc;
		if (e != DB_E_LOCK)
			break;
		log_debug("%s: %s: lock conflict, try %d", __func__, what,
		    try + 1);
	}
	if (e == DB_OK) {
		e = db_error(cs->cs_db);
		snprintf(msg, sizeof(msg), "%s", db_errmsg(cs->cs_db));
	}
	course_db_answer(req, e, what, msg);
	return -1;
}

int
course_token(struct app_req *req, struct course_svc *cs,
    struct authz_id *id)
{
	memset(id, 0, sizeof(*id));
	if (cs->cs_az == NULL) {
		/* Configured without <auth>: nothing can be verified
		 * (conf/README.md), so protected endpoints answer 503. */
		app_fail(req, 503, "Access token cannot be verified now");
		return -1;
	}
	return authz_require_token(req, cs->cs_az, id);
}

int
course_admin(struct app_req *req, struct course_svc *cs,
    struct authz_id *id)
{
	if (course_token(req, cs, id) == -1)
		return -1;
	if (!authz_has_role(id, "ADMIN"))
		return course_deny(req, id);
	return 0;
}

int
course_deny(struct app_req *req, struct authz_id *id)
{
	log_debug("%s: access denied to %s", __func__, id->ai_sub);
	authz_id_release(id);
	app_fail(req, 403, "Access Denied");
	return -1;
}

int
course_exists(struct course_svc *cs, const char *id, int lock)
{
	struct db_val p[1];
	long long n;

	p[0] = DB_STR(id);
	n = db_exec(cs->cs_db, lock == COURSE_LOCK_UPDATE ? SQL_EXISTS_UPDATE :
	    lock ? SQL_EXISTS_LOCK : SQL_EXISTS, p, NITEMS(p), NULL, NULL);
	if (n == -1)
		return -1;
	return n > 0;
}

int
course_cap_uuid(struct app_req *req, const char *name, const char *fail,
    char out[UUID_STR_LEN + 1])
{
	const char *raw = app_cap(req, name);

	if (raw != NULL && uuid_parse(raw, strlen(raw), out) == 0)
		return 0;
	app_fail(req, 400, "%sInvalid UUID: %.64s", fail,
	    raw != NULL ? raw : "");
	return -1;
}

int
course_page_parse(struct app_req *req, const struct course_svc *cs,
    const char *fail, struct course_page *pg)
{
	struct page p = { pg->cp_page, pg->cp_limit };

	if (page_parse(req, cs->cs_max_page, fail, &p) == -1)
		return -1;
	pg->cp_page = p.pg_page;
	pg->cp_limit = p.pg_limit;
	return 0;
}

int
course_page_offset(const struct course_page *pg, long long *offset)
{
	struct page p = { pg->cp_page, pg->cp_limit };

	return page_offset(&p, offset);
}

/* Row callback: stores COUNT(*) in the long long at <arg>. */
static int
course_count_row(void *arg, const struct db_val *cols, size_t ncol)
{
	if (ncol != 1 || cols[0].dv_type == DB_T_NULL)
		return -1;
	return course_ll(cols[0].dv_s, arg);
}

/* A page of the catalogue being read, for course_page_row(). */
struct course_list {
	struct buf	 cl_rows;	/* the Courses as JSON text, with
					   commas between them */
	long long	 cl_total;	/* COUNT(*) of the last row */
};

/*
 * Row callback of SQL_PAGE: the Course of the first COURSE_NCOLS columns
 * goes to the list, the count of all courses in the last column to
 * cl_total.
 */
static int
course_page_row(void *arg, const struct db_val *cols, size_t ncol)
{
	struct course_list *cl = arg;

	if (ncol != COURSE_NCOLS + 1 ||
	    course_count_row(&cl->cl_total, cols + COURSE_NCOLS, 1) == -1)
		return -1;
	if (buf_avail(&cl->cl_rows) > 0)
		buf_append(&cl->cl_rows, ",", 1);
	return course_write(&cl->cl_rows, cols);
}

/* Row callback: keeps the Course in the json_t * at <arg>. */
static int
course_one_row(void *arg, const struct db_val *cols, size_t ncol)
{
	json_t **out = arg;
	json_t *c;

	if ((c = course_json(cols, ncol)) == NULL)
		return -1;
	json_decref(*out);
	*out = c;
	return 0;
}

/*
 * Reads page <pg> of the courses into <cl>: one statement, SQL_PAGE, that
 * also counts them all. A page past the end has no row to carry the
 * count, so then (and only then) COUNT(*) runs alone. Returns 0 or -1
 * (db_error() set).
 */
static int
course_page_fetch(struct course_svc *cs, const struct course_page *pg,
    struct course_list *cl)
{
	struct db_val p[2];
	long long off, n;

	cl->cl_total = 0;
	/* Beyond any possible row count: no row, no page query. */
	if (course_page_offset(pg, &off) == -1)
		return db_exec(cs->cs_db, SQL_COUNT, NULL, 0, course_count_row,
		    &cl->cl_total) == -1 ? -1 : 0;
	p[0] = DB_INT(pg->cp_limit);
	p[1] = DB_INT(off);
	if ((n = db_exec(cs->cs_db, SQL_PAGE, p, NITEMS(p), course_page_row,
	    cl)) == -1)
		return -1;
	if (n == 0 && off > 0 && db_exec(cs->cs_db, SQL_COUNT, NULL, 0,
	    course_count_row, &cl->cl_total) == -1)
		return -1;
	return 0;
}

/*
 * GET /course?pageNumber=&limit=: one page of the catalogue, written as
 * JSON text row by row (course_write()), without a jansson tree: this is
 * the busiest public endpoint.
 */
static void
course_list(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	struct course_page pg = { 0, DEF_LIMIT };
	struct course_list cl = { BUF_INIT, 0 };
	struct buf body = BUF_INIT;

	if (course_page_parse(req, cs, LIST_FAIL, &pg) == -1)
		goto done;
	if (course_page_fetch(cs, &pg, &cl) == -1) {
		course_db_fail(req, cs, "course list");
		goto done;
	}
	/* json_pack("{s:I, s:O}", "totalCount", ..., "courseList", ...) */
	buf_reserve(&body, buf_avail(&cl.cl_rows) + 64);
	buf_append_str(&body, "{");
	jsonw_key(&body, "totalCount");
	jsonw_int(&body, cl.cl_total);
	buf_append_str(&body, ",");
	jsonw_key(&body, "courseList");
	buf_append_str(&body, "[");
	if (buf_avail(&cl.cl_rows) > 0)
		buf_append(&body, buf_data(&cl.cl_rows),
		    buf_avail(&cl.cl_rows));
	buf_append_str(&body, "]}");
	app_ok_text(req, 200, buf_data(&body), buf_avail(&body));
done:
	buf_release(&body);
	buf_release(&cl.cl_rows);
}

/*
 * Loads course <id> into <out> (NULL when there is none). Returns 0 or -1
 * (db_error() set).
 */
static int
course_load(struct course_svc *cs, const char *id, json_t **out)
{
	struct db_val p[1];

	*out = NULL;
	p[0] = DB_STR(id);
	if (db_exec(cs->cs_db, SQL_ONE, p, NITEMS(p), course_one_row,
	    out) == -1) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* GET /course/{courseId}: one course. */
static void
course_get(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	char id[UUID_STR_LEN + 1];
	json_t *course = NULL;

	if (course_cap_uuid(req, "courseId", "", id) == -1)
		goto done;
	if (course_load(cs, id, &course) == -1) {
		course_db_fail(req, cs, "course by id");
		goto done;
	}
	if (course == NULL)
		app_fail(req, 404, "No course found for this course id!");
	else
		app_ok(req, 200, json_pack("{s:O}", "course", course));
done:
	json_decref(course);
}

/*
 * Checks the ADMIN token (the admin into <w>), then reads the course
 * body: the fields of course_fields up to (not including) <upto>. Returns
 * the body (caller decrefs; <out> points into it), or NULL after
 * answering.
 */
static json_t *
course_body(struct app_req *req, const char *fail, size_t upto,
    struct fld_out *out, struct audit_who *w)
{
	struct course_svc *cs = req->r_ctx;
	struct authz_id id;
	json_t *body;

	if (course_admin(req, cs, &id) == -1)
		return NULL;
	audit_who(w, req, &id);
	authz_id_release(&id);
	if ((body = fld_body(req, fail)) == NULL)
		return NULL;
	if (fld_read(req, fail, body, course_fields, upto, out) == -1) {
		json_decref(body);
		return NULL;
	}
	return body;
}

/* POST /course: create a course (ADMIN); 201 with the stored row. */
static void
course_add(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	json_t *body, *course = NULL;
	struct audit_who w;
	struct fld_out f;

	if ((body = course_body(req, ADD_FAIL, CF_ID, &f, &w)) == NULL)
		return;
	if (uuid_v4(f.fo_id[CF_ID]) == -1) {
		app_fail(req, 500, "Internal server error");
		goto done;
	}
	f.fo_v[CF_ID] = DB_STR(f.fo_id[CF_ID]);
	if (db_exec(cs->cs_db, SQL_INSERT, f.fo_v, CF_COUNT, NULL,
	    NULL) == -1 || course_load(cs, f.fo_id[CF_ID], &course) == -1 ||
	    course == NULL) {
		course_db_fail(req, cs, "course insert");
		goto done;
	}
	log_info("course %s added", f.fo_id[CF_ID]);
	if (audit_record(cs, &w, "COURSE_CREATE", "course", f.fo_id[CF_ID],
	    json_pack("{s:O}", "after", course)) == -1)
		log_warnx("course %s: creation not audited: %s", f.fo_id[CF_ID],
		    db_errmsg(cs->cs_db));
	app_ok(req, 201, json_pack("{s:s, s:O}", "message",
	    "Successfully added course info", "course", course));
done:
	json_decref(course);
	json_decref(body);
}

/* A course edit, for course_update_tx(). */
struct course_edit {
	struct fld_out		 ce_f;
	struct audit_who	 ce_who;
};

/*
 * Transaction body of course_update(): the update and its audit event
 * with the fields that changed. 1 when the course does not exist.
 */
static int
course_update_tx(struct course_svc *cs, void *arg)
{
	struct course_edit *ce = arg;
	const char *id = ce->ce_f.fo_id[CF_ID];
	json_t *before = NULL, *after = NULL;
	int rc = -1;

	if (course_load(cs, id, &before) == -1)
		goto done;
	rc = 1;
	if (before == NULL)
		goto done;
	rc = -1;
	if (db_exec(cs->cs_db, SQL_UPDATE, ce->ce_f.fo_v, CF_COUNT, NULL,
	    NULL) == -1 || course_load(cs, id, &after) == -1 || after == NULL)
		goto done;
	rc = audit_record(cs, &ce->ce_who, "COURSE_UPDATE", "course", id,
	    json_pack("{s:o}", "changes", audit_changes(before, after)));
done:
	json_decref(before);
	json_decref(after);
	return rc;
}

/* POST /course/update: full replacement of a course (ADMIN). */
static void
course_update(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	struct course_edit ce;
	json_t *body;
	int rc;

	if ((body = course_body(req, UPD_FAIL, CF_COUNT, &ce.ce_f,
	    &ce.ce_who)) == NULL)
		return;
	rc = course_tx(req, cs, "course update", course_update_tx, &ce);
	if (rc == 1)
		app_fail(req, 400, UPD_FAIL "Course with id - %s not found!",
		    ce.ce_f.fo_id[CF_ID]);
	else if (rc == 0)
		app_ok(req, 200, json_pack("{s:s}", "message",
		    "Successfully updated course info"));
	json_decref(body);
}

/* GET /health: UP when the database answers a ping, else 503. */
static void
course_health(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;

	svc_health(req, cs->cs_db);
}
