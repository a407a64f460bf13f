/*
 * enroll: enrollments as the learner sees them (docs/contract/api.md 4.2.5,
 * 4.2.6) and the one write every payment event makes to them
 * (docs/contract/api.md 6).
 */
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "course.h"
#include "db.h"
#include "log.h"
#include "util.h"
#include "uuid.h"

#define LIST_FAIL	"Failed to fetch enrolled course list with status! " \
			"Reason: "
#define STATUS_FAIL	"Failed to fetch enrollment status! Reason: "

/*
 * Enrolled courses, oldest first (docs/contract/api.md 2.9), with the user's
 * status.
 */
#define SQL_COURSES							\
	"SELECT " COURSE_COLS ", (SELECT e.status FROM enrollment e "	\
	"WHERE e.course_id = course.course_id AND e.user_id = ?) "	\
	"FROM course WHERE course_id IN (SELECT course_id FROM "	\
	"enrollment WHERE user_id = ?) "				\
	"ORDER BY published_at, seq, course_id"
#define SQL_STATUS							\
	"SELECT status FROM enrollment WHERE course_id = ? AND user_id = ?"
/* One row per (course, user): a second write only changes the status. */
#define SQL_SET								\
	"INSERT INTO enrollment (enrollment_id, course_id, user_id, "	\
	"status) VALUES (?, ?, ?, ?) "					\
	"ON DUPLICATE KEY UPDATE status = VALUES(status)"

/* Row callback: appends the Course to the JSON array at <arg>. */
static int
enroll_course_row(void *arg, const struct db_val *cols, size_t ncol)
{
	json_t *c;

	if ((c = course_json(cols, ncol)) == NULL)
		return -1;
	json_array_append_new(arg, c);
	return 0;
}

/* Row callback: keeps the status text in the json_t * at <arg>. */
static int
enroll_status_row(void *arg, const struct db_val *cols, size_t ncol)
{
	json_t **out = arg;

	if (ncol != 1 || cols[0].dv_type == DB_T_NULL)
		return -1;
	json_decref(*out);
	*out = json_stringn(cols[0].dv_s, cols[0].dv_len);
	return 0;
}

/*
 * Reads path user id {userId} into <user> and applies ADMIN or
 * self(userId). Returns 0, or -1 after answering.
 */
static int
enroll_access(struct app_req *req, const char *fail,
    char user[UUID_STR_LEN + 1])
{
	struct course_svc *cs = req->r_ctx;
	struct authz_id id;

	if (course_cap_uuid(req, "userId", fail, user) == -1 ||
	    course_token(req, cs, &id) == -1)
		return -1;
	if (!authz_has_role(&id, "ADMIN") && !authz_is_self(&id, user))
		return course_deny(req, &id);
	authz_id_release(&id);
	return 0;
}

void
enroll_courses(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	char user[UUID_STR_LEN + 1];
	struct db_val p[2];
	json_t *list;

	if (enroll_access(req, LIST_FAIL, user) == -1)
		return;
	list = json_array();
	p[0] = DB_STR(user);
	p[1] = DB_STR(user);
	if (db_exec(cs->cs_db, SQL_COURSES, p, NITEMS(p), enroll_course_row,
	    list) == -1)
		course_db_fail(req, cs, "enrolled courses");
	else
		app_ok(req, 200, json_pack("{s:O}", "enrolledCourseList",
		    list));
	json_decref(list);
}

void
enroll_status(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	char course[UUID_STR_LEN + 1], user[UUID_STR_LEN + 1];
	json_t *status = NULL;
	struct db_val p[2];

	if (course_cap_uuid(req, "courseId", STATUS_FAIL, course) == -1 ||
	    enroll_access(req, STATUS_FAIL, user) == -1)
		return;
	p[0] = DB_STR(course);
	p[1] = DB_STR(user);
	if (db_exec(cs->cs_db, SQL_STATUS, p, NITEMS(p), enroll_status_row,
	    &status) == -1)
		course_db_fail(req, cs, "enrollment status");
	else if (status == NULL)
		app_fail(req, 404, STATUS_FAIL "No enrollment info found for "
		    "user id - %s and course id - %s", user, course);
	else
		app_ok(req, 200, json_pack("{s:O}", "status", status));
	json_decref(status);
}

int
enroll_set(struct course_svc *cs, const char *course, const char *user,
    const char *status)
{
	char id[UUID_STR_LEN + 1];
	struct db_val p[4];

	if (uuid_v4(id) == -1) {
		log_warnx("%s: no random id", __func__);
		return -1;
	}
	p[0] = DB_STR(id);
	p[1] = DB_STR(course);
	p[2] = DB_STR(user);
	p[3] = DB_STR(status);
	return db_exec_idem(cs->cs_db, SQL_SET, p, NITEMS(p), NULL,
	    NULL) == -1 ? -1 : 0;
}
