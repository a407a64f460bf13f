/*
 * media: the media rule of docs/contract/api.md 4.6.2, answered for the content
 * service, which serves the files but does not know the courses.
 *
 *   GET /internal/media/{fileName}
 *
 * The caller's own Authorization header comes along unchanged. The answer
 * (200) is {"referenced": bool, "access": "public" | "granted" |
 * "token-required" | "denied"}: a file that no lecture's contentUrl names
 * is public; otherwise a valid token of an ADMIN, or of a user with an
 * APPROVED enrollment in one of the courses naming it, is granted; no or
 * an invalid token is token-required (the content service answers 401),
 * any other caller denied (403). Reached only through the gateway's
 * loopback admin listener (conf/gateway.xml); the public routes never
 * rewrite to /internal.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "course.h"
#include "db.h"
#include "log.h"
#include "media.h"
#include "mrefs.h"
#include "util.h"

#define SQL_REFERENCED							\
	"SELECT 1 FROM course_content WHERE content_url = ? LIMIT 1"
/* Banners and lecture media, distinct across both (mrefs.h). */
#define SQL_REFS							\
	MREFS_QUERY(MREFS_SELECT("image_url", "course") " UNION "	\
	    MREFS_SELECT("content_url", "course_content"))
#define SQL_ENROLLED							\
	"SELECT 1 FROM course_content c JOIN enrollment e "		\
	"ON e.course_id = c.course_id WHERE c.content_url = ? "		\
	"AND e.user_id = ? AND e.status = 'APPROVED' LIMIT 1"

static int
media_found(void *arg, const struct db_val *cols, size_t ncol)
{
	(void)cols;
	(void)ncol;
	*(int *)arg = 1;
	return 0;
}

/* Whether <sql> with <p> finds a row: 1 or 0, or -1 on a db failure. */
static int
media_any(struct course_svc *cs, const char *sql, const struct db_val *p,
    size_t np)
{
	int found = 0;

	if (db_exec(cs->cs_db, sql, p, np, media_found, &found) == -1)
		return -1;
	return found;
}

static void
media_answer(struct app_req *req, int referenced, const char *access)
{
	app_ok(req, 200, json_pack("{s:b,s:s}", "referenced", referenced,
	    "access", access));
}

void
media_access(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	const char *name = app_cap(req, "fileName");
	char url[sizeof(MEDIA_URL_PREFIX) + MEDIA_NAME_MAX];
	struct authz_id id;
	struct db_val p[2];
	int r;

	if (!media_name_ok(name)) {
		app_fail(req, 400, "Invalid media file name");
		return;
	}
	snprintf(url, sizeof(url), MEDIA_URL_PREFIX "%s", name);
	p[0] = DB_STR(url);
	if ((r = media_any(cs, SQL_REFERENCED, p, 1)) == -1) {
		course_db_fail(req, cs, "media rule");
		return;
	}
	if (r == 0) {
		media_answer(req, 0, "public");
		return;
	}
	if (cs->cs_az == NULL) {
		app_fail(req, 503, "Access token cannot be verified now");
		return;
	}
	memset(&id, 0, sizeof(id));
	switch (authz_check(cs->cs_az, req, &id)) {
	case AUTHZ_OK:
		break;
	case AUTHZ_UNAVAILABLE:
		app_fail(req, 503, "Access token cannot be verified now");
		return;
	default:
		media_answer(req, 1, "token-required");
		return;
	}
	if (authz_has_role(&id, "ADMIN")) {
		authz_id_release(&id);
		media_answer(req, 1, "granted");
		return;
	}
	p[1] = DB_STR(id.ai_sub);
	r = media_any(cs, SQL_ENROLLED, p, 2);
	authz_id_release(&id);
	if (r == -1)
		course_db_fail(req, cs, "media rule");
	else
		media_answer(req, 1, r ? "granted" : "denied");
}

/*
 * GET /internal/media-refs?after=&limit=: one page of the stored files
 * this service's rows name (course banners and lecture media), for the
 * sweep of unreferenced files in elp-content (shared/mrefs.h). On the
 * gateway's admin listener only, like /internal/media.
 */
void
media_refs(struct app_req *req)
{
	struct course_svc *s = req->r_ctx;
	struct mrefs mr;

	if (mrefs_parse(req, &mr) == 0 &&
	    mrefs_answer(req, s->cs_db, SQL_REFS, 2, &mr) == -1)
		course_db_fail(req, s, "media references");
}
