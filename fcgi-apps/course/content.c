/*
 * content: the lectures of a course (docs/contract/api.md 4.3): full list for
 * ADMIN and approved learners, public preview, add and delete.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "course.h"
#include "db.h"
#include "fld.h"
#include "log.h"
#include "util.h"
#include "uuid.h"

#define LIST_FAIL	"Failed to fetch course contents! Reason: "
#define PREVIEW_FAIL	"Failed to fetch course contents preview! Reason: "
#define ADD_FAIL	"Failed to add course content! Reason: "
#define DEL_FAIL	"Failed to delete course content! Reason: "
#define DEF_LIMIT	100

#define MEDIA_PREFIX	"file-system-storage/"
#define MEDIA_NAME_MAX	128	/* docs/contract/api.md 4.5.1 */

#define CONTENT_COLS							\
	"content_id, course_id, content_title, content_type, "		\
	"content_url, content_sequence"
#define CONTENT_NCOLS	6

/* Lectures in order, ties by insertion order (docs/contract/api.md 2.9). */
#define SQL_PAGE							\
	"SELECT " CONTENT_COLS " FROM course_content WHERE course_id = ? " \
	"ORDER BY content_sequence, seq, content_id LIMIT ? OFFSET ?"
#define SQL_APPROVED							\
	"SELECT 1 FROM enrollment WHERE course_id = ? AND user_id = ? "	\
	"AND status = 'APPROVED'"
#define SQL_NEXT							\
	"SELECT COALESCE(MAX(content_sequence), 0) + 1 "		\
	"FROM course_content WHERE course_id = ? LOCK IN SHARE MODE"
#define SQL_INSERT							\
	"INSERT INTO course_content (course_id, content_title, "	\
	"content_type, content_url, content_sequence, content_id) "	\
	"VALUES (?, ?, ?, ?, ?, ?)"
#define SQL_DELETE	"DELETE FROM course_content WHERE content_id = ?"
#define SQL_ONE_LOCK							\
	"SELECT " CONTENT_COLS " FROM course_content "			\
	"WHERE content_id = ? FOR UPDATE"

static const struct course_key content_keys[CONTENT_NCOLS] = {
	{ "contentId", CK_STR },
	{ "courseId", CK_STR },
	{ "contentTitle", CK_STR },
	{ "contentType", CK_STR },
	{ "contentUrl", CK_STR },
	{ "contentSequence", CK_INT },
};

/* The same with the media hidden, for the public preview. */
static const struct course_key preview_keys[CONTENT_NCOLS] = {
	{ "contentId", CK_STR },
	{ "courseId", CK_STR },
	{ "contentTitle", CK_STR },
	{ "contentType", CK_NULL },
	{ "contentUrl", CK_NULL },
	{ "contentSequence", CK_INT },
};

/* The body of a new lecture, in the order of SQL_INSERT. */
enum content_field {
	TF_COURSE = 0,
	TF_TITLE,
	TF_TYPE,
	TF_URL,
	TF_SEQ,
	TF_ID,		/* generated, never read from the body */
	TF_COUNT
};

static const struct fld_spec content_fields[TF_ID] = {
	[TF_COURSE] = { "courseId", FLD_UUID, 1, 0, 0 },
	[TF_TITLE] = { "contentTitle", FLD_STR, 0, 0, 255 },
	[TF_TYPE] = { "contentType", FLD_STR, 0, 0, 50 },
	[TF_URL] = { "contentUrl", FLD_STR, 0, 0, 255 },
	[TF_SEQ] = { "contentSequence", FLD_INT, 0, 1, INT32_MAX },
};

/* A list request: which keys, and where the items go. */
struct content_rows {
	const struct course_key	*cr_keys;
	json_t			*cr_list;
};

/* A lecture to add, for content_add_tx(). */
struct content_new {
	struct fld_out	 cn_f;
	char		 cn_seq_set;	/* the body named a sequence */
	struct audit_who cn_who;	/* the admin, for the audit trail */
};

/* A lecture to delete, for content_delete_tx(). */
struct content_del {
	const char	*cd_id;
	struct audit_who cd_who;
};

/* Refusals of content_add_tx(). */
enum content_refusal {
	CR_NO_COURSE = 1,
};

/* Row callback: appends the item to the list of the content_rows <arg>. */
static int
content_row(void *arg, const struct db_val *cols, size_t ncol)
{
	struct content_rows *cr = arg;
	json_t *c;

	if ((c = course_row_json(cr->cr_keys, CONTENT_NCOLS, cols, ncol)) ==
	    NULL)
		return -1;
	json_array_append_new(cr->cr_list, c);
	return 0;
}

/*
 * Answers page <pg> of the lectures of course <id> under <key>, with the
 * item keys <keys>.
 */
static void
content_send(struct app_req *req, const char *id,
    const struct course_page *pg, const char *key,
    const struct course_key *keys)
{
	struct course_svc *cs = req->r_ctx;
	struct content_rows cr = { keys, json_array() };
	struct db_val p[3];
	long long off;

	if (course_page_offset(pg, &off) == 0) {
		p[0] = DB_STR(id);
		p[1] = DB_INT(pg->cp_limit);
		p[2] = DB_INT(off);
		if (db_exec(cs->cs_db, SQL_PAGE, p, NITEMS(p), content_row,
		    &cr) == -1) {
			course_db_fail(req, cs, "course contents");
			goto done;
		}
	}
	app_ok(req, 200, json_pack("{s:O}", key, cr.cr_list));
done:
	json_decref(cr.cr_list);
}

/*
 * Whether the caller <id> may read the full contents of course <course>:
 * ADMIN, or USER with an APPROVED enrollment. 1, 0, or -1 (db_error()).
 */
static int
content_may_read(struct course_svc *cs, const struct authz_id *id,
    const char *course)
{
	struct db_val p[2];
	long long n;

	if (authz_has_role(id, "ADMIN"))
		return 1;
	if (!authz_has_role(id, "USER"))
		return 0;
	p[0] = DB_STR(course);
	p[1] = DB_STR(id->ai_sub);
	if ((n = db_exec(cs->cs_db, SQL_APPROVED, p, NITEMS(p), NULL,
	    NULL)) == -1)
		return -1;
	return n > 0;
}

void
content_list(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	struct course_page pg = { 0, DEF_LIMIT };
	char course[UUID_STR_LEN + 1];
	struct authz_id id;
	int may;

	if (course_cap_uuid(req, "courseId", LIST_FAIL, course) == -1 ||
	    course_page_parse(req, cs, LIST_FAIL, &pg) == -1 ||
	    course_token(req, cs, &id) == -1)
		return;
	if ((may = content_may_read(cs, &id, course)) == -1) {
		course_db_fail(req, cs, "enrollment check");
		authz_id_release(&id);
		return;
	}
	if (may == 0) {
		course_deny(req, &id);
		return;
	}
	authz_id_release(&id);
	content_send(req, course, &pg, "courseContents", content_keys);
}

/*
 * Public, so the token is never looked at: a bad one cannot change the
 * answer (docs/contract/api.md 2.6).
 */
void
content_preview(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	struct course_page pg = { 0, DEF_LIMIT };
	char course[UUID_STR_LEN + 1];

	if (course_cap_uuid(req, "courseId", PREVIEW_FAIL, course) == -1 ||
	    course_page_parse(req, cs, PREVIEW_FAIL, &pg) == -1)
		return;
	content_send(req, course, &pg, "courseContentsPreview", preview_keys);
}

/*
 * Whether <url> is a stored media URL, "file-system-storage/<fileName>"
 * with the file name syntax of docs/contract/api.md 4.5.1.
 */
static int
content_url_ok(const char *url)
{
	const char *name;
	size_t i;

	if (strncmp(url, MEDIA_PREFIX, strlen(MEDIA_PREFIX)) != 0)
		return 0;
	name = url + strlen(MEDIA_PREFIX);
	if (!isalnum((unsigned char)name[0]) || strstr(name, "..") != NULL)
		return 0;
	for (i = 1; name[i] != '\0'; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("._-", name[i]) == NULL)
			return 0;
	return i <= MEDIA_NAME_MAX;
}

/* Row callback: stores the next sequence number in the long long <arg>. */
static int
content_next_row(void *arg, const struct db_val *cols, size_t ncol)
{
	long long *out = arg;
	char *end;

	if (ncol != 1 || cols[0].dv_type == DB_T_NULL)
		return -1;
	*out = strtoll(cols[0].dv_s, &end, 10);
	return *end == '\0' && *out > 0 && *out <= INT32_MAX ? 0 : -1;
}

/* Row callback: the lecture as JSON into the json_t * at <arg>. */
static int
content_one_row(void *arg, const struct db_val *cols, size_t ncol)
{
	json_t **out = arg;

	json_decref(*out);
	*out = course_row_json(content_keys, CONTENT_NCOLS, cols, ncol);
	return *out != NULL ? 0 : -1;
}

/* Lecture <id> (locked) as JSON into <out>, NULL when there is none.
 * 0, or -1 (db_error() set). */
static int
content_load(struct course_svc *cs, const char *id, json_t **out)
{
	struct db_val p[1] = { DB_STR(id) };

	*out = NULL;
	if (db_exec(cs->cs_db, SQL_ONE_LOCK, p, 1, content_one_row, out) ==
	    -1) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Transaction body of content_add(); <arg> is the struct content_new. */
static int
content_add_tx(struct course_svc *cs, void *arg)
{
	struct content_new *cn = arg;
	struct fld_out *f = &cn->cn_f;
	long long next = 0;
	json_t *row = NULL;
	int rc;

	/*
	 * The exclusive lock on the course row serialises numbering per
	 * course: two shared locks would let concurrent adds read the same
	 * MAX and store one number twice.
	 */
	if ((rc = course_exists(cs, f->fo_id[TF_COURSE],
	    COURSE_LOCK_UPDATE)) != 1)
		return rc == 0 ? CR_NO_COURSE : -1;
	if (!cn->cn_seq_set) {
		if (db_exec(cs->cs_db, SQL_NEXT, &f->fo_v[TF_COURSE], 1,
		    content_next_row, &next) == -1)
			return -1;
		f->fo_v[TF_SEQ] = DB_INT(next);
	}
	if (db_exec(cs->cs_db, SQL_INSERT, f->fo_v, TF_COUNT, NULL, NULL) ==
	    -1 || content_load(cs, f->fo_id[TF_ID], &row) == -1)
		return -1;
	return audit_record(cs, &cn->cn_who, "CONTENT_ADD", "content",
	    f->fo_id[TF_ID], json_pack("{s:o?}", "after", row));
}

/* Transaction body of content_delete(): the lecture, its deletion and
 * the audit event with what was deleted. 1 when there is none. */
static int
content_delete_tx(struct course_svc *cs, void *arg)
{
	struct content_del *cd = arg;
	struct db_val p[1] = { DB_STR(cd->cd_id) };
	json_t *row;

	if (content_load(cs, cd->cd_id, &row) == -1)
		return -1;
	if (row == NULL)
		return 1;
	if (db_exec(cs->cs_db, SQL_DELETE, p, 1, NULL, NULL) == -1) {
		json_decref(row);
		return -1;
	}
	return audit_record(cs, &cd->cd_who, "CONTENT_DELETE", "content",
	    cd->cd_id, json_pack("{s:o}", "before", row));
}

void
content_add(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	struct content_new cn;
	struct authz_id id;
	const char *url;
	json_t *body;
	int rc;

	if (course_admin(req, cs, &id) == -1)
		return;
	memset(&cn, 0, sizeof(cn));
	audit_who(&cn.cn_who, req, &id);
	authz_id_release(&id);
	if ((body = fld_body(req, ADD_FAIL)) == NULL)
		return;
	if (fld_read(req, ADD_FAIL, body, content_fields, TF_ID, &cn.cn_f) ==
	    -1)
		goto done;
	url = fld_str(&cn.cn_f.fo_v[TF_URL]);
	if (url != NULL && !content_url_ok(url)) {
		app_fail(req, 400, ADD_FAIL "contentUrl must be "
		    MEDIA_PREFIX "<fileName>");
		goto done;
	}
	cn.cn_seq_set = cn.cn_f.fo_v[TF_SEQ].dv_type != DB_T_NULL;
	if (uuid_v4(cn.cn_f.fo_id[TF_ID]) == -1) {
		app_fail(req, 500, "Internal server error");
		goto done;
	}
	cn.cn_f.fo_v[TF_ID] = DB_STR(cn.cn_f.fo_id[TF_ID]);
	rc = course_tx(req, cs, "content insert", content_add_tx, &cn);
	if (rc == CR_NO_COURSE)
		app_fail(req, 400, ADD_FAIL "Course with id - %s not found!",
		    cn.cn_f.fo_id[TF_COURSE]);
	else if (rc == 0)
		app_ok(req, 200, json_pack("{s:s}", "message",
		    "Successfully added course content"));
done:
	json_decref(body);
}

void
content_delete(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	char content[UUID_STR_LEN + 1];
	struct content_del cd;
	struct authz_id id;
	int rc;

	if (course_admin(req, cs, &id) == -1)
		return;
	audit_who(&cd.cd_who, req, &id);
	authz_id_release(&id);
	if (course_cap_uuid(req, "contentId", DEL_FAIL, content) == -1)
		return;
	cd.cd_id = content;
	rc = course_tx(req, cs, "content delete", content_delete_tx, &cd);
	if (rc == 1)
		app_fail(req, 417, DEL_FAIL "Course content with id - %s not "
		    "found!", content);
	else if (rc == 0)
		app_ok(req, 200, json_pack("{s:s}", "message",
		    "Successfully deleted course content"));
}
