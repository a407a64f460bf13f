/*
 * course: the course service (elp-course), private header.
 *
 * Courses (docs/contract/api.md 4.2), course contents (4.3) and payments with
 * their enrollment decisions (4.4), over the database of
 * docs/contract/data-model.md 3. One file per area, each with its own prefix:
 * course.c (course_: the route table, row mapping, paging, transactions, access
 * helpers, courses), enroll.c (enroll_), content.c (content_), payment.c
 * (payment_), fld.c (fld_: request body fields with the tolerance of
 * docs/contract/api.md 2.4) and audit.c (audit_: the admins' audit trail).
 */
#ifndef ELP_COURSE_H
#define ELP_COURSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "db.h"
#include "uuid.h"

/* Per-worker state, handed to every handler as r_ctx. */
struct course_svc {
	struct db	*cs_db;		/* this worker's connection */
	struct authz	*cs_az;		/* token checks; NULL without <auth> */
	int64_t		 cs_max_page;	/* largest accepted page size */
	int		 cs_events;	/* queue events for elp-messaging
					   (<messaging> configured) */
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

/* Transactions that meet a deadlock or lock timeout are run this often. */
#define COURSE_TX_TRIES	3

/* How a result column becomes JSON. */
enum course_kind {
	CK_STR = 0,	/* text as is */
	CK_BOOL,	/* TINYINT(1): 0 false, else true */
	CK_INT,		/* decimal integer */
	CK_TIME,	/* DATETIME(3) in UTC, see course_time() */
	CK_NULL,	/* always null, whatever the column holds */
	CK_COUNT
};

/* One JSON key of an entity and the kind of its column. */
struct course_key {
	const char		*ck_key;
	enum course_kind	 ck_kind;
};

/*
 * A page request (docs/contract/api.md 2.9); the caller presets the defaults.
 */
struct course_page {
	long long	 cp_page;	/* pageNumber, 0-based */
	long long	 cp_limit;	/* limit */
};

/*
 * A transaction body for course_tx(): runs its statements on <cs>'s
 * connection and returns 0 to commit, a positive refusal code of its own
 * to roll back without error, or -1 when a statement failed (db_error()
 * set).
 */
typedef int (*course_tx_fn)(struct course_svc *cs, void *arg);

/* --- course.c --- */

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
 * Builds an object with one key per entry of <keys> (<nkeys>) from the
 * first <nkeys> of the <ncol> columns <cols>, in order. Every key is
 * present; SQL NULL and CK_NULL become JSON null. Returns a new reference,
 * or NULL (after logging) when a value cannot be mapped or columns are
 * missing.
 */
json_t	*course_row_json(const struct course_key *keys, size_t nkeys,
	    const struct db_val *cols, size_t ncol);

/*
 * Renders the DATETIME text <s> ("YYYY-MM-DD HH:MM:SS" with any number of
 * fractional digits, UTC) as "YYYY-MM-DDTHH:MM:SS.mmm+00:00" in <out>:
 * milliseconds truncated or zero-padded to exactly 3 digits. Returns 0, or
 * -1 when <s> is not in that form (<out> is then undefined).
 */
int	 course_time(const char *s, char out[COURSE_TIME_LEN + 1]);

/*
 * Answers a failed database call of <cs> (<what> failed): 503 when the
 * server is unreachable, else 500 with the details in the log only.
 */
void	 course_db_fail(struct app_req *req, struct course_svc *cs,
	    const char *what);

/*
 * Reads pageNumber and limit into <pg> (its values are the defaults) and
 * checks them (docs/contract/api.md 2.9). Returns 0, or -1 after answering 400
 * "<fail><reason>".
 */
int	 course_page_parse(struct app_req *req, const struct course_svc *cs,
	    const char *fail, struct course_page *pg);

/*
 * Sets <offset> to the first row of <pg>. Returns 0, or -1 when the
 * offset does not fit in a long long (the page is then empty).
 */
int	 course_page_offset(const struct course_page *pg, long long *offset);

/*
 * Runs <fn>(<cs>, <arg>) inside one transaction, again (at most
 * COURSE_TX_TRIES times in all) after a deadlock or lock timeout. Returns
 * 0 when committed, <fn>'s positive refusal code after a rollback, or -1
 * after answering 503/500 for a database failure (logged as <what>).
 */
int	 course_tx(struct app_req *req, struct course_svc *cs,
	    const char *what, course_tx_fn fn, void *arg);

/*
 * Checks the caller's token (docs/contract/api.md 2.5, 2.6) into <id>: 0 with
 * <id> filled (the caller releases it), or -1 after answering 401 (missing or
 * refused token) or 503 (keys unavailable, or no <auth> configured).
 */
int	 course_token(struct app_req *req, struct course_svc *cs,
	    struct authz_id *id);

/* Like course_token(), and then the ADMIN role, else 403. */
int	 course_admin(struct app_req *req, struct course_svc *cs,
	    struct authz_id *id);

/* Answers 403 "Access Denied" and releases <id>. Returns -1. */
int	 course_deny(struct app_req *req, struct authz_id *id);

/*
 * Checks that course <id> (canonical UUID) exists. Returns 1 or 0, or -1
 * on a database failure (db_error() set). <lock> (inside a transaction)
 * is COURSE_LOCK_SHARE, a shared lock on the row so it cannot go away
 * meanwhile, or COURSE_LOCK_UPDATE, an exclusive one that also
 * serialises the writers of the course's rows (lecture numbering);
 * 0 takes none.
 */
#define COURSE_LOCK_SHARE	1
#define COURSE_LOCK_UPDATE	2
int	 course_exists(struct course_svc *cs, const char *id, int lock);

/*
 * Reads capture <name> of <req> as a UUID into <out>. Returns 0, or -1
 * after answering 400 "<fail>Invalid UUID: <value>".
 */
int	 course_cap_uuid(struct app_req *req, const char *name,
	    const char *fail, char out[UUID_STR_LEN + 1]);

/* --- enroll.c --- */

/* GET /course/enrollment/{userId} (docs/contract/api.md 4.2.5). */
void	 enroll_courses(struct app_req *req);
/* GET /course/enrollment/{courseId}/{userId} (docs/contract/api.md 4.2.6). */
void	 enroll_status(struct app_req *req);

/*
 * Stores the enrollment of (<course>, <user>) with <status>, creating the
 * row when missing. 0, or -1 (db_error() set).
 */
int	 enroll_set(struct course_svc *cs, const char *course,
	    const char *user, const char *status);

/* --- content.c --- */

/* GET /course-content/{courseId} (docs/contract/api.md 4.3.1). */
void	 content_list(struct app_req *req);
/* GET /course-content/{courseId}/preview (docs/contract/api.md 4.3.2). */
void	 content_preview(struct app_req *req);
/* POST /course-content (docs/contract/api.md 4.3.3). */
void	 content_add(struct app_req *req);
/* DELETE /course-content/{contentId} (docs/contract/api.md 4.3.4). */
void	 content_delete(struct app_req *req);

/* --- payment.c --- */

/* GET /payment (docs/contract/api.md 4.4.1). */
void	 payment_list(struct app_req *req);
/* POST /payment (docs/contract/api.md 4.4.2). */
void	 payment_submit(struct app_req *req);
/* POST /payment/approval (docs/contract/api.md 4.4.3). */
void	 payment_approve(struct app_req *req);

/* --- audit.c --- */

/* The admin of a change, kept for the audit trail after the token is
 * released: the token's sub and preferred_username, and the request's
 * REQUEST_ID ("" when there is none). */
struct audit_who {
	char	aw_sub[UUID_STR_LEN + 1];
	char	aw_name[AUTHZ_CLAIM_MAX + 1];
	char	aw_reqid[129];
};

/* Fills <w> from the checked identity <id> and the request's id. */
void	 audit_who(struct audit_who *w, struct app_req *req,
	    const struct authz_id *id);
/*
 * Records a change by <w> on the connection of <cs> (inside the change's
 * transaction when there is one): <action> (e.g. COURSE_UPDATE), the
 * target's type and id, <details> (stolen, may be NULL). 0, or -1
 * (db_error() set).
 */
int	 audit_record(struct course_svc *cs, const struct audit_who *w,
	    const char *action, const char *ttype, const char *target,
	    json_t *details);
/* {key: {"from", "to"}} for each key of <after> whose value differs in
 * <before> (new reference). */
json_t	*audit_changes(json_t *before, json_t *after);
/* GET /course/audit (docs/contract/api.md 4.8): ADMIN only. */
void	 audit_list(struct app_req *req);

/* media.c: GET /internal/media/{fileName}, the media rule for elp-content
 * (docs/contract/api.md 4.6.2). */
void	 media_access(struct app_req *req);
/* GET /internal/media-refs: one page of the stored files a course or a
 * lecture names, keyset-paged (shared/mrefs.h; the sweep in elp-content). */
void	 media_refs(struct app_req *req);

#endif
