/*
 * page: paging parameters of list endpoints (see page.h).
 */
#include <limits.h>
#include <stdint.h>

#include "app.h"
#include "page.h"

/*
 * Reads paging parameter <name> into <out> (left as is when absent or
 * empty). Returns 0, or -1 after answering 400 when it is not an integer.
 */
static int
page_arg(struct app_req *req, const char *fail, const char *name,
    long long *out)
{
	char v[64];
	int rc;

	rc = app_query_get(req->r_query, name, v, sizeof(v));
	if (rc == 0 || (rc == 1 && v[0] == '\0'))
		return 0;
	if (rc == 1 && app_query_int(req, name, *out, out) == 0)
		return 0;
	app_fail(req, 400, "%sInvalid value for %s: %s", fail, name,
	    rc == 1 ? v : "(malformed or too long)");
	return -1;
}

int
page_parse(struct app_req *req, int64_t max, const char *fail,
    struct page *pg)
{
	const char *why = NULL;

	if (page_arg(req, fail, "pageNumber", &pg->pg_page) == -1 ||
	    page_arg(req, fail, "limit", &pg->pg_limit) == -1)
		return -1;
	if (pg->pg_page < 0)
		why = "Page index must not be less than zero";
	else if (pg->pg_limit < 1)
		why = "Page size must not be less than one";
	else if (pg->pg_limit > max) {
		app_fail(req, 400, "%sPage size must not be greater than %lld",
		    fail, (long long)max);
		return -1;
	}
	if (why == NULL)
		return 0;
	app_fail(req, 400, "%s%s", fail, why);
	return -1;
}

int
page_offset(const struct page *pg, long long *offset)
{
	if (pg->pg_page > LLONG_MAX / pg->pg_limit)
		return -1;
	*offset = pg->pg_page * pg->pg_limit;
	return 0;
}
