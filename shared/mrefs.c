/*
 * mrefs: the keyset-paged media reference lists (see mrefs.h).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "media.h"
#include "mrefs.h"

#define MREFS_SEL_MAX	4	/* MREFS_SELECT()s in one query */

/* One page being read. */
struct mrefs_page {
	json_t		*mp_files;	/* the names so far */
	long long	 mp_rows;	/* rows seen: one past the limit means
					   more follow */
	long long	 mp_limit;
};

int
mrefs_parse(struct app_req *req, struct mrefs *mr)
{
	char after[MEDIA_NAME_MAX + 1];
	int rc;

	if (app_query_int(req, "limit", MREFS_LIMIT_DEF,
	    &mr->mr_limit) == -1 || mr->mr_limit < 1 ||
	    mr->mr_limit > MREFS_LIMIT_MAX) {
		app_fail(req, 400, "Invalid value for limit: must be an "
		    "integer from 1 to %d", MREFS_LIMIT_MAX);
		return -1;
	}
	/* Too long for <after> is -1, like a bad escape: not a name. */
	rc = app_query_get(req->r_query, "after", after, sizeof(after));
	if (rc == -1 || (rc == 1 && !media_name_ok(after))) {
		app_fail(req, 400, "Invalid value for after: not a media "
		    "file name");
		return -1;
	}
	snprintf(mr->mr_after, sizeof(mr->mr_after), "%s%s",
	    MEDIA_URL_PREFIX, rc == 1 ? after : "");
	/*
	 * media_name_ok() in SQL, so that every row the LIMIT counts is a
	 * name: a letter or digit, then up to MEDIA_NAME_MAX - 1 of
	 * [A-Za-z0-9._-], no "..". \z, not $: $ also matches before a
	 * final newline.
	 */
	snprintf(mr->mr_pat, sizeof(mr->mr_pat), "^\\Q%s\\E(?!.*[.][.])"
	    "[A-Za-z0-9][A-Za-z0-9._-]{0,%d}\\z", MEDIA_URL_PREFIX,
	    MEDIA_NAME_MAX - 1);
	return 0;
}

/* Adds the name of stored URL cols[0] to the page <arg>. */
static int
mrefs_row(void *arg, const struct db_val *cols, size_t ncol)
{
	struct mrefs_page *mp = arg;
	size_t n = sizeof(MEDIA_URL_PREFIX) - 1;

	if (ncol != 1 || cols[0].dv_type != DB_T_STR ||
	    strncmp(cols[0].dv_s, MEDIA_URL_PREFIX, n) != 0 ||
	    !media_name_ok(cols[0].dv_s + n)) {
		/* Skipping it could end a page early; fail the page. */
		log_warnx("media references: a row is not a media file URL");
		return -1;
	}
	if (++mp->mp_rows <= mp->mp_limit)
		json_array_append_new(mp->mp_files,
		    json_string(cols[0].dv_s + n));
	return 0;
}

int
mrefs_answer(struct app_req *req, struct db *db, const char *sql,
    size_t nsel, const struct mrefs *mr)
{
	struct db_val p[3 * MREFS_SEL_MAX + 1];
	struct mrefs_page mp;
	json_t *next;
	size_t i;

	assert(nsel >= 1 && nsel <= MREFS_SEL_MAX);
	/* One row past the page tells whether another page follows. */
	for (i = 0; i < nsel; i++) {
		p[3 * i] = DB_STR(mr->mr_after);
		p[3 * i + 1] = DB_STR(mr->mr_pat);
		p[3 * i + 2] = DB_INT(mr->mr_limit + 1);
	}
	p[3 * nsel] = DB_INT(mr->mr_limit + 1);
	mp.mp_files = json_array();
	mp.mp_rows = 0;
	mp.mp_limit = mr->mr_limit;
	if (db_exec(db, sql, p, 3 * nsel + 1, mrefs_row, &mp) == -1) {
		json_decref(mp.mp_files);
		return -1;
	}
	if (mp.mp_rows > mp.mp_limit)
		next = json_copy(json_array_get(mp.mp_files,
		    json_array_size(mp.mp_files) - 1));
	else
		next = json_null();
	app_ok(req, 200, json_pack("{s:o,s:o}", "files", mp.mp_files,
	    "next", next));
	return 0;
}
