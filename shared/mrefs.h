/*
 * mrefs: GET /internal/media-refs, the stored media files a service's rows
 * name, for the sweep of unreferenced files in elp-content
 * (fcgi-apps/content/README.md). Shared by elp-course (banners, lecture
 * media) and elp-user (profile pictures). Keyset-paged, so one answer and
 * the memory behind it stay bounded however many rows there are:
 *
 *   GET /internal/media-refs?after=<name>&limit=<n>
 *   200 {"files": [name, ...], "next": name | null}
 *
 * <files> are the distinct names greater than <after> (none: from the
 * first), in ascending byte order, at most <limit> (default
 * MREFS_LIMIT_DEF, at most MREFS_LIMIT_MAX) of them. <next> is the last
 * of them when more follow (the <after> of the next page), null on the
 * last page. A bad <limit> or an <after> that is not a media name
 * (media_name_ok()) is 400.
 */
#ifndef ELP_MREFS_H
#define ELP_MREFS_H

#include <stddef.h>

#include "app.h"
#include "db.h"
#include "media.h"

#define MREFS_LIMIT_DEF	1000	/* names per page when no limit is given */
#define MREFS_LIMIT_MAX	10000	/* names per page at most */

/*
 * One SELECT of a reference query: the distinct stored URLs of column
 * <col> of table <tbl> as binary strings (byte order, case kept), named
 * u. Takes three parameters: the URL to start after, the pattern of a
 * stored URL naming a valid media file, and a row limit.
 */
#define MREFS_SELECT(col, tbl)						\
	"(SELECT DISTINCT CAST(" col " AS BINARY) AS u FROM " tbl	\
	" WHERE CAST(" col " AS BINARY) > ? AND CAST(" col		\
	" AS BINARY) REGEXP ? ORDER BY u LIMIT ?)"

/* A reference query: the UNION <sels> of MREFS_SELECT()s, ordered and
 * limited as a whole by one last parameter. */
#define MREFS_QUERY(sels)						\
	"SELECT u FROM (" sels ") AS r ORDER BY u LIMIT ?"

/* A page request. */
struct mrefs {
	/* the stored URL to start after: MEDIA_URL_PREFIX "<after>" */
	char		 mr_after[sizeof(MEDIA_URL_PREFIX) + MEDIA_NAME_MAX];
	/* PCRE pattern of a stored URL that names a valid media file */
	char		 mr_pat[128];
	long long	 mr_limit;	/* names per page */
};

/*
 * Reads the after and limit query parameters of <req> into <mr>. Returns
 * 0, or -1 after answering 400: a limit that is not an integer from 1 to
 * MREFS_LIMIT_MAX, an after that is not a media file name.
 */
int	 mrefs_parse(struct app_req *req, struct mrefs *mr);

/*
 * Runs reference query <sql> (MREFS_QUERY() of <nsel> MREFS_SELECT()s)
 * on <db> for page <mr> and answers 200 with the page. Returns 0 once
 * answered, or -1 with db_error() set and nothing answered (the caller
 * answers its database failure; a row the pattern let through that
 * media_name_ok() refuses is DB_E_OTHER).
 */
int	 mrefs_answer(struct app_req *req, struct db *db, const char *sql,
	    size_t nsel, const struct mrefs *mr);

#endif
