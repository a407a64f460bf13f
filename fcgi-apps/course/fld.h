/*
 * fld: request body fields of elp-course, read with the tolerance of
 * docs/contract/api.md 2.4 straight into database parameters.
 *
 * A handler describes the fields it reads in a table of struct fld_spec
 * and gets one struct db_val per entry: DB_NULLV for an absent or null
 * field, DB_STR or DB_INT otherwise. Unknown keys are never looked at, so
 * they (and server-owned fields) are ignored. Every refusal is a 400 with
 * the endpoint's failure prefix, answered before anything is written.
 */
#ifndef ELP_FLD_H
#define ELP_FLD_H

#include <stddef.h>

#include <jansson.h>

#include "app.h"
#include "db.h"
#include "uuid.h"

#define FLD_MAX		12	/* fields per table */

enum fld_type {
	FLD_STR = 0,	/* string of at most fs_max code points */
	FLD_TEXT,	/* string of at most fs_max bytes */
	FLD_INT,	/* integer in [fs_min, fs_max]: a number (fraction
			   truncated toward zero) or a numeric string; ""
			   is null */
	FLD_BOOL,	/* true/false or "true"/"false" in any case; "" is
			   null; stored as 1/0 */
	FLD_UUID,	/* canonical UUID string in any case, stored
			   lowercase; "" is null */
	FLD_COUNT
};

struct fld_spec {
	const char	*fs_key;	/* JSON key */
	enum fld_type	 fs_type;
	int		 fs_required;	/* null/absent (or "" for strings) is
					   refused */
	long long	 fs_min;	/* FLD_INT lower bound */
	long long	 fs_max;	/* FLD_INT upper bound, FLD_STR code
					   points, FLD_TEXT bytes */
};

/* What fld_read() found; fo_v[i] belongs to the i-th spec. */
struct fld_out {
	struct db_val	 fo_v[FLD_MAX];
	char		 fo_id[FLD_MAX][UUID_STR_LEN + 1]; /* FLD_UUID text */
};

/*
 * Reads the request body as a JSON object. Returns a new reference
 * (caller decrefs), or NULL after answering: 400 "<fail><reason>" for a
 * missing body, invalid JSON or a non-object, 413 for an oversized body.
 */
json_t	*fld_body(struct app_req *req, const char *fail);

/*
 * Reads the <n> (at most FLD_MAX) fields of <specs> from object <obj>
 * into <out>. Strings in <out> point into <obj> or <out> itself: both must
 * outlive their use, and <out> must not be copied. Returns 0, or -1 after
 * answering 400 "<fail><reason>" for the first bad field (missing when
 * required, wrong type, too long, out of range, not a UUID).
 */
int	 fld_read(struct app_req *req, const char *fail, json_t *obj,
	    const struct fld_spec *specs, size_t n, struct fld_out *out);

/* The text of a DB_STR value <v>, or NULL for DB_NULLV. */
const char	*fld_str(const struct db_val *v);

#endif
