/*
 * course: handlers of the course catalogue (api.md 4.2.2, 4.2.3) and the
 * health check, and the Course row mapping.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "course.h"
#include "db.h"
#include "log.h"
#include "util.h"
#include "uuid.h"

#define LIST_FAIL	"Failed to fetch course list! Reason: "
#define DEF_PAGE	0
#define DEF_LIMIT	10

/* Catalogue order: oldest first, ties by insertion order, then id. */
#define SQL_COUNT	"SELECT COUNT(*) FROM course"
#define SQL_PAGE							\
	"SELECT " COURSE_COLS " FROM course "				\
	"ORDER BY published_at, seq, course_id LIMIT ? OFFSET ?"
#define SQL_ONE								\
	"SELECT " COURSE_COLS " FROM course WHERE course_id = ?"

static void	course_list(struct app_req *);
static void	course_get(struct app_req *);
static void	course_health(struct app_req *);

const struct app_route course_routes[] = {
	{ "GET", "/course", course_list },
	{ "GET", "/course/{courseId}", course_get },
	{ "GET", "/health", course_health },
};
const size_t course_nroutes = NITEMS(course_routes);

/* How a column of COURSE_COLS becomes JSON. */
enum course_kind {
	CK_STR = 0,	/* text as is */
	CK_BOOL,	/* TINYINT(1): 0 false, else true */
	CK_INT,		/* decimal integer */
	CK_TIME,	/* DATETIME(3) in UTC, see course_time() */
	CK_COUNT
};

static const struct course_key {
	const char		*ck_key;
	enum course_kind	 ck_kind;
} course_keys[COURSE_NCOLS] = {
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
course_json(const struct db_val *cols, size_t ncol)
{
	json_t *o, *v;
	size_t i;

	if (ncol < COURSE_NCOLS) {
		log_warnx("course row has %zu columns, want %d", ncol,
		    COURSE_NCOLS);
		return NULL;
	}
	o = json_object();
	for (i = 0; i < COURSE_NCOLS; i++) {
		if (cols[i].dv_type == DB_T_NULL)
			v = json_null();
		else if ((v = course_value(&cols[i], course_keys[i].ck_kind))
		    == NULL) {
			log_warnx("course column %s: unexpected value",
			    course_keys[i].ck_key);
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, course_keys[i].ck_key, v);
	}
	if (ncol > COURSE_NCOLS && cols[COURSE_NCOLS].dv_type != DB_T_NULL)
		v = json_stringn(cols[COURSE_NCOLS].dv_s,
		    cols[COURSE_NCOLS].dv_len);
	else
		v = json_null();
	json_object_set_new(o, "enrollmentStatus", v);
	return o;
}

/*
 * Answers a failed database call (<what> failed): 503 when the server is
 * unreachable (the db module logs each outage once), else 500 with the
 * details in the log only.
 */
static void
course_db_fail(struct app_req *req, struct course_svc *cs, const char *what)
{
	enum db_err e = db_error(cs->cs_db);

	if (e == DB_E_CONN) {
		app_fail(req, 503,
		    "Service temporarily unavailable: database unreachable");
		return;
	}
	log_error("%s: %s: %s", what, db_err_str(e), db_errmsg(cs->cs_db));
	app_fail(req, 500, "Internal server error");
}

/*
 * Reads paging parameter <name> into <out> (<def> when absent or empty).
 * Returns 0, or -1 after answering 400 when it is not an integer.
 */
static int
course_page_arg(struct app_req *req, const char *name, long long def,
    long long *out)
{
	char v[64];
	int rc;

	rc = app_query_get(req->r_query, name, v, sizeof(v));
	if (rc == 0 || (rc == 1 && v[0] == '\0')) {
		*out = def;
		return 0;
	}
	if (rc == 1 && app_query_int(req, name, def, out) == 0)
		return 0;
	app_fail(req, 400, LIST_FAIL "Invalid value for %s: %s", name,
	    rc == 1 ? v : "(malformed or too long)");
	return -1;
}

/*
 * Reads and checks pageNumber and limit (api.md 2.9). Returns 0, or -1
 * after answering 400.
 */
static int
course_page_parse(struct app_req *req, const struct course_svc *cs,
    long long *page, long long *limit)
{
	const char *why = NULL;

	if (course_page_arg(req, "pageNumber", DEF_PAGE, page) == -1 ||
	    course_page_arg(req, "limit", DEF_LIMIT, limit) == -1)
		return -1;
	if (*page < 0)
		why = "Page index must not be less than zero";
	else if (*limit < 1)
		why = "Page size must not be less than one";
	else if (*limit > cs->cs_max_page) {
		app_fail(req, 400, LIST_FAIL
		    "Page size must not be greater than %lld",
		    (long long)cs->cs_max_page);
		return -1;
	}
	if (why == NULL)
		return 0;
	app_fail(req, 400, LIST_FAIL "%s", why);
	return -1;
}

/* Row callback: stores COUNT(*) in the long long at <arg>. */
static int
course_count_row(void *arg, const struct db_val *cols, size_t ncol)
{
	if (ncol != 1 || cols[0].dv_type == DB_T_NULL)
		return -1;
	return course_ll(cols[0].dv_s, arg);
}

/* Row callback: appends the Course to the JSON array at <arg>. */
static int
course_append_row(void *arg, const struct db_val *cols, size_t ncol)
{
	json_t *c;

	if ((c = course_json(cols, ncol)) == NULL)
		return -1;
	json_array_append_new(arg, c);
	return 0;
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
 * Appends page <page> of <limit> courses to <list>, knowing there are
 * <total>. A page past the end, or whose offset does not fit in a long
 * long, is empty without a query. Returns 0 or -1 (db_error() set).
 */
static int
course_page_fetch(struct course_svc *cs, long long page, long long limit,
    long long total, json_t *list)
{
	struct db_val p[2];

	if (page > LLONG_MAX / limit || page * limit >= total)
		return 0;
	p[0] = DB_INT(limit);
	p[1] = DB_INT(page * limit);
	if (db_exec(cs->cs_db, SQL_PAGE, p, NITEMS(p), course_append_row,
	    list) == -1)
		return -1;
	return 0;
}

/* GET /course?pageNumber=&limit=: one page of the catalogue. */
static void
course_list(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	long long page, limit, total = 0;
	json_t *list = NULL;

	if (course_page_parse(req, cs, &page, &limit) == -1)
		goto done;
	list = json_array();
	if (db_exec(cs->cs_db, SQL_COUNT, NULL, 0, course_count_row,
	    &total) == -1 ||
	    course_page_fetch(cs, page, limit, total, list) == -1) {
		course_db_fail(req, cs, "course list");
		goto done;
	}
	app_ok(req, 200, json_pack("{s:I, s:O}", "totalCount",
	    (json_int_t)total, "courseList", list));
done:
	json_decref(list);
}

/* GET /course/{courseId}: one course. */
static void
course_get(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	const char *raw = app_cap(req, "courseId");
	char id[UUID_STR_LEN + 1];
	json_t *course = NULL;
	struct db_val p[1];

	if (raw == NULL || uuid_parse(raw, strlen(raw), id) == -1) {
		app_fail(req, 400, "Invalid UUID: %s", raw ? raw : "");
		goto done;
	}
	p[0] = DB_STR(id);
	if (db_exec(cs->cs_db, SQL_ONE, p, NITEMS(p), course_one_row,
	    &course) == -1) {
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

/* GET /health: UP when the database answers a ping, else 503. */
static void
course_health(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;

	if (db_ping(cs->cs_db) == -1) {
		if (db_error(cs->cs_db) != DB_E_CONN)
			log_error("health check: %s: %s",
			    db_err_str(db_error(cs->cs_db)),
			    db_errmsg(cs->cs_db));
		app_fail(req, 503, "Database unavailable");
		return;
	}
	app_ok(req, 200, json_pack("{s:s, s:s}", "status", "UP", "database",
	    "UP"));
}
