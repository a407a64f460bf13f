/*
 * course: the course service (elp-course). Handlers for the course
 * catalogue, single courses and the health check, plus the one mapping of
 * a course row to its JSON shape (api.md section 2.3), reused by every
 * endpoint that returns a Course.
 */
#ifndef ELP_COURSE_H
#define ELP_COURSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app.h"
#include "db.h"

/* Per-worker state, handed to every handler as r_ctx. */
struct course_svc {
	struct db	*cs_db;		/* this worker's connection */
	int64_t		 cs_max_page;	/* largest accepted page size */
};

/*
 * The columns course_json() reads, in its order. A query may append one
 * more column, the caller's enrollment status, for enrollmentStatus.
 */
#define COURSE_COLS							\
	"course_id, course_name, description, image_url, "		\
	"is_enrollment_enabled, course_fee, discount, published_at"
#define COURSE_NCOLS	8

/* Length of a rendered timestamp, "2024-04-09T18:00:00.000+00:00". */
#define COURSE_TIME_LEN	29

/* The route table served by elp-course. */
extern const struct app_route	course_routes[];
extern const size_t		course_nroutes;

/*
 * Builds the Course object from a row of <ncol> columns selected as
 * COURSE_COLS, plus the enrollment status in column COURSE_NCOLS when
 * <ncol> is larger (enrollmentStatus is null otherwise). Every key is
 * present; SQL NULL becomes JSON null. Returns a new reference, or NULL
 * (after logging which column) when a value cannot be mapped.
 */
json_t	*course_json(const struct db_val *cols, size_t ncol);

/*
 * Renders the DATETIME text <s> ("YYYY-MM-DD HH:MM:SS" with any number of
 * fractional digits, UTC) as "YYYY-MM-DDTHH:MM:SS.mmm+00:00" in <out>:
 * milliseconds truncated or zero-padded to exactly 3 digits. Returns 0, or
 * -1 when <s> is not in that form (<out> is then undefined).
 */
int	 course_time(const char *s, char out[COURSE_TIME_LEN + 1]);

#endif
