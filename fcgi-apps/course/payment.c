/*
 * payment: payments and the enrollment decisions they carry
 * (docs/contract/api.md 4.4, lifecycle in docs/contract/api.md 6). A submission
 * and a decision each change the payment and the enrollment in one transaction.
 */
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
#include "evq.h"
#include "util.h"
#include "uuid.h"

#define LIST_FAIL	"Failed to fetch payment info! Reason: "
#define SUBMIT_FAIL	"Failed to save payment info! Reason: "
#define DECIDE_FAIL	"Failed to update payment status! Reason: "
#define DEF_LIMIT	50

#define ST_REVIEW	"IN-REVIEW"
#define ST_APPROVED	"APPROVED"
#define ST_DENIED	"DENIED"

#define PAYMENT_COLS							\
	"payment_id, course_id, user_id, payment_vendor, "		\
	"sender_account, amount, trx_id, date, status"
#define PAYMENT_NCOLS	9

/* Newest first; among equal dates the later insert first. */
#define SQL_PAGE							\
	"SELECT " PAYMENT_COLS " FROM payment "				\
	"ORDER BY date DESC, seq DESC LIMIT ? OFFSET ?"
#define SQL_ENROLLED							\
	"SELECT status FROM enrollment WHERE course_id = ? AND "	\
	"user_id = ? FOR UPDATE"
#define SQL_TRX		"SELECT 1 FROM payment WHERE trx_id = ?"
#define SQL_INSERT							\
	"INSERT INTO payment (course_id, user_id, trx_id, "		\
	"payment_vendor, sender_account, amount, payment_id) "		\
	"VALUES (?, ?, ?, ?, ?, ?, ?)"
#define SQL_LOCK							\
	"SELECT course_id, user_id, payment_id, status FROM payment "	\
	"WHERE trx_id = ? FOR UPDATE"
#define SQL_DECIDE	"UPDATE payment SET status = ?, decided_by = ?, " \
	"decided_at = CURRENT_TIMESTAMP(3) WHERE trx_id = ?"
#define SQL_EVENT							\
	"SELECT p.payment_id, p.course_id, p.user_id, p.amount, "	\
	"c.course_name, p.trx_id FROM payment p JOIN course c "		\
	"ON c.course_id = p.course_id WHERE p.trx_id = ?"

static const struct course_key payment_keys[PAYMENT_NCOLS] = {
	{ "paymentId", CK_STR },
	{ "courseId", CK_STR },
	{ "userId", CK_STR },
	{ "paymentVendor", CK_STR },
	{ "senderAccount", CK_STR },
	{ "amount", CK_INT },
	{ "trxId", CK_STR },
	{ "date", CK_TIME },
	{ "status", CK_STR },
};

/* A submission, in the order of SQL_INSERT. */
enum payment_field {
	PF_COURSE = 0,
	PF_USER,
	PF_TRX,
	PF_VENDOR,
	PF_ACCOUNT,
	PF_AMOUNT,
	PF_ID,		/* generated, never read from the body */
	PF_COUNT
};

static const struct fld_spec payment_fields[PF_ID] = {
	[PF_COURSE] = { "courseId", FLD_UUID, 1, 0, 0 },
	[PF_USER] = { "userId", FLD_UUID, 1, 0, 0 },
	[PF_TRX] = { "trxId", FLD_STR, 1, 0, 100 },
	[PF_VENDOR] = { "paymentVendor", FLD_STR, 0, 0, 100 },
	[PF_ACCOUNT] = { "senderAccount", FLD_STR, 0, 0, 100 },
	[PF_AMOUNT] = { "amount", FLD_INT, 0, 0, INT32_MAX },
};

/* A decision. */
enum decision_field {
	DF_TRX = 0,
	DF_STATUS,
	DF_COUNT
};

static const struct fld_spec decision_fields[DF_COUNT] = {
	[DF_TRX] = { "trxId", FLD_STR, 1, 0, 100 },
	[DF_STATUS] = { "status", FLD_STR, 1, 0, 50 },
};

/* Refusals of the transaction bodies. */
enum payment_refusal {
	PR_NO_COURSE = 1,	/* submission for an unknown course */
	PR_ENROLLED,		/* enrollment already APPROVED */
	PR_DUP_TRX,		/* trxId already used */
	PR_NO_PAYMENT,		/* decision on an unknown trxId */
};

/* What the payment row locked by a decision belongs to. */
struct payment_owner {
	char	po_course[UUID_STR_LEN + 1];
	char	po_user[UUID_STR_LEN + 1];
	char	po_payment[UUID_STR_LEN + 1];
	char	po_status[16];		/* before the decision */
	int	po_found;
};

/* A decision, for payment_decide_tx(): the body and who decided. */
struct payment_decision {
	struct fld_out		 pd_f;
	struct audit_who	 pd_who;
};

/* Event keys, in the column order of SQL_EVENT. */
static const char *const payment_event_keys[] = {
	"paymentId", "courseId", "userId", "amount", "courseName", "trxId",
};

/* Row callback: the event fields of a payment into the object <arg>. */
static int
payment_event_row(void *arg, const struct db_val *cols, size_t ncol)
{
	size_t i;

	if (ncol != NITEMS(payment_event_keys))
		return -1;
	for (i = 0; i < ncol; i++) {
		if (cols[i].dv_type == DB_T_NULL)
			continue;
		if (strcmp(payment_event_keys[i], "amount") == 0)
			json_object_set_new(arg, payment_event_keys[i],
			    json_integer(strtoll(cols[i].dv_s, NULL, 10)));
		else
			json_object_set_new(arg, payment_event_keys[i],
			    json_stringn(cols[i].dv_s, cols[i].dv_len));
	}
	return 0;
}

/*
 * Queues event <type> about the payment <trx> for elp-messaging, inside
 * the transaction that made the change (libelp evq): the event exists if
 * and only if the change committed. Returns 0, or -1 (the transaction
 * fails as a whole).
 */
static int
payment_event(struct course_svc *cs, const char *type, const struct db_val *trx)
{
	json_t *fields;
	int rc = -1;

	if (!cs->cs_events)
		return 0;
	fields = json_object();
	if (db_exec(cs->cs_db, SQL_EVENT, trx, 1, payment_event_row,
	    fields) == 1)
		rc = evq_add(cs->cs_db, type, fields);
	json_decref(fields);
	return rc;
}

/* Row callback: appends the PaymentInfo to the JSON array at <arg>. */
static int
payment_row(void *arg, const struct db_val *cols, size_t ncol)
{
	json_t *p;

	if ((p = course_row_json(payment_keys, PAYMENT_NCOLS, cols, ncol)) ==
	    NULL)
		return -1;
	json_array_append_new(arg, p);
	return 0;
}

void
payment_list(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	struct course_page pg = { 0, DEF_LIMIT };
	struct authz_id id;
	struct db_val p[2];
	json_t *list;
	long long off;

	if (course_admin(req, cs, &id) == -1)
		return;
	authz_id_release(&id);
	if (course_page_parse(req, cs, LIST_FAIL, &pg) == -1)
		return;
	list = json_array();
	if (course_page_offset(&pg, &off) == 0) {
		p[0] = DB_INT(pg.cp_limit);
		p[1] = DB_INT(off);
		if (db_exec(cs->cs_db, SQL_PAGE, p, NITEMS(p), payment_row,
		    list) == -1) {
			course_db_fail(req, cs, "payment list");
			goto done;
		}
	}
	app_ok(req, 200, json_pack("{s:O}", "paymentInfoList", list));
done:
	json_decref(list);
}

/* Row callback: whether the enrollment status is APPROVED, into <arg>. */
static int
payment_enrolled_row(void *arg, const struct db_val *cols, size_t ncol)
{
	int *approved = arg;

	if (ncol != 1)
		return -1;
	*approved = cols[0].dv_type == DB_T_STR &&
	    strcmp(cols[0].dv_s, ST_APPROVED) == 0;
	return 0;
}

/*
 * Transaction body of payment_submit(); <arg> is the struct fld_out of
 * the submission. The enrollment row (or its gap) is locked first, so
 * two submissions of one learner for one course run one after the other.
 */
static int
payment_submit_tx(struct course_svc *cs, void *arg)
{
	struct fld_out *f = arg;
	int rc, approved = 0;

	if ((rc = course_exists(cs, f->fo_id[PF_COURSE], COURSE_LOCK_SHARE)) != 1)
		return rc == 0 ? PR_NO_COURSE : -1;
	if (db_exec(cs->cs_db, SQL_ENROLLED, f->fo_v, 2,
	    payment_enrolled_row, &approved) == -1)
		return -1;
	if (approved)
		return PR_ENROLLED;
	if ((rc = db_exec(cs->cs_db, SQL_TRX, &f->fo_v[PF_TRX], 1, NULL,
	    NULL)) != 0)
		return rc > 0 ? PR_DUP_TRX : -1;
	if (db_exec(cs->cs_db, SQL_INSERT, f->fo_v, PF_COUNT, NULL, NULL) ==
	    -1)
		return db_error(cs->cs_db) == DB_E_DUP ? PR_DUP_TRX : -1;
	if ((rc = enroll_set(cs, f->fo_id[PF_COURSE], f->fo_id[PF_USER],
	    ST_REVIEW)) != 0)
		return rc;
	return payment_event(cs, "payment.submitted", &f->fo_v[PF_TRX]);
}

/* Answers the outcome <rc> of payment_submit_tx() on <f>. */
static void
payment_submit_answer(struct app_req *req, int rc, const struct fld_out *f)
{
	switch (rc) {
	case 0:
		log_info("payment %s submitted", f->fo_id[PF_ID]);
		app_ok(req, 200, json_pack("{s:s}", "message",
		    "Successfully saved payment info"));
		break;
	case PR_NO_COURSE:
		app_fail(req, 400, SUBMIT_FAIL "Course with id - %s not "
		    "found!", f->fo_id[PF_COURSE]);
		break;
	case PR_ENROLLED:
		app_fail(req, 400, SUBMIT_FAIL "User is already enrolled in "
		    "this course!");
		break;
	case PR_DUP_TRX:
		app_fail(req, 400, SUBMIT_FAIL "Payment with transaction id - "
		    "%s already exists!", fld_str(&f->fo_v[PF_TRX]));
		break;
	default:
		break;	/* course_tx() answered */
	}
}

void
payment_submit(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	struct authz_id id;
	struct fld_out f;
	json_t *body;
	int rc;

	if (course_token(req, cs, &id) == -1)
		return;
	if ((body = fld_body(req, SUBMIT_FAIL)) == NULL ||
	    fld_read(req, SUBMIT_FAIL, body, payment_fields, PF_ID, &f) == -1)
		goto done;
	/* USER-role and self(body.userId): ADMIN is not exempt. */
	if (!authz_has_role(&id, "USER") ||
	    !authz_is_self(&id, f.fo_id[PF_USER])) {
		course_deny(req, &id);
		goto done;
	}
	if (uuid_v4(f.fo_id[PF_ID]) == -1) {
		app_fail(req, 500, "Internal server error");
		goto done;
	}
	f.fo_v[PF_ID] = DB_STR(f.fo_id[PF_ID]);
	rc = course_tx(req, cs, "payment submit", payment_submit_tx, &f);
	payment_submit_answer(req, rc, &f);
done:
	authz_id_release(&id);
	json_decref(body);
}

/* Row callback: the owner of the locked payment into <arg>. */
static int
payment_owner_row(void *arg, const struct db_val *cols, size_t ncol)
{
	struct payment_owner *po = arg;

	if (ncol != 4 || cols[0].dv_type == DB_T_NULL ||
	    cols[1].dv_type == DB_T_NULL || cols[2].dv_type == DB_T_NULL ||
	    uuid_parse(cols[0].dv_s, cols[0].dv_len, po->po_course) == -1 ||
	    uuid_parse(cols[1].dv_s, cols[1].dv_len, po->po_user) == -1 ||
	    uuid_parse(cols[2].dv_s, cols[2].dv_len, po->po_payment) == -1)
		return -1;
	snprintf(po->po_status, sizeof(po->po_status), "%s",
	    cols[3].dv_s != NULL ? cols[3].dv_s : "");
	po->po_found = 1;
	return 0;
}

/*
 * Transaction body of payment_approve(); <arg> is the struct
 * payment_decision. The payment row stays locked until the commit, so
 * concurrent decisions on one payment are applied one after the other
 * and the last one sets both rows. The payment keeps who decided and
 * when, and the decision is in the audit trail.
 */
static int
payment_decide_tx(struct course_svc *cs, void *arg)
{
	struct payment_decision *pd = arg;
	struct fld_out *f = &pd->pd_f;
	const char *status = fld_str(&f->fo_v[DF_STATUS]);
	struct payment_owner po;
	struct db_val p[3];
	int rc;

	memset(&po, 0, sizeof(po));
	if (db_exec(cs->cs_db, SQL_LOCK, &f->fo_v[DF_TRX], 1,
	    payment_owner_row, &po) == -1)
		return -1;
	if (!po.po_found)
		return PR_NO_PAYMENT;
	p[0] = f->fo_v[DF_STATUS];
	p[1] = DB_STR(pd->pd_who.aw_sub);
	p[2] = f->fo_v[DF_TRX];
	if (db_exec(cs->cs_db, SQL_DECIDE, p, NITEMS(p), NULL, NULL) == -1)
		return -1;
	if ((rc = enroll_set(cs, po.po_course, po.po_user, status)) != 0)
		return rc;
	if (audit_record(cs, &pd->pd_who, "PAYMENT_DECISION", "payment",
	    po.po_payment, json_pack("{s:s, s:s, s:s, s:{s:{s:s, s:s}}}",
	    "trxId", fld_str(&f->fo_v[DF_TRX]), "courseId", po.po_course,
	    "userId", po.po_user, "changes", "status", "from", po.po_status,
	    "to", status)) == -1)
		return -1;
	if (strcmp(status, ST_APPROVED) == 0)
		return payment_event(cs, "payment.approved", &f->fo_v[DF_TRX]);
	if (strcmp(status, ST_DENIED) == 0)
		return payment_event(cs, "payment.rejected", &f->fo_v[DF_TRX]);
	return 0;
}

/* Whether <s> is one of the three statuses of docs/contract/api.md 6. */
static int
payment_status_ok(const char *s)
{
	return strcmp(s, ST_REVIEW) == 0 || strcmp(s, ST_APPROVED) == 0 ||
	    strcmp(s, ST_DENIED) == 0;
}

void
payment_approve(struct app_req *req)
{
	struct course_svc *cs = req->r_ctx;
	struct payment_decision pd;
	struct fld_out *fp = &pd.pd_f;
	struct authz_id id;
	json_t *body;
	int rc;

	if (course_admin(req, cs, &id) == -1)
		return;
	audit_who(&pd.pd_who, req, &id);
	authz_id_release(&id);
	if ((body = fld_body(req, DECIDE_FAIL)) == NULL ||
	    fld_read(req, DECIDE_FAIL, body, decision_fields, DF_COUNT, fp) ==
	    -1)
		goto done;
	if (!payment_status_ok(fld_str(&fp->fo_v[DF_STATUS]))) {
		app_fail(req, 400, DECIDE_FAIL "Invalid status %s",
		    fld_str(&fp->fo_v[DF_STATUS]));
		goto done;
	}
	rc = course_tx(req, cs, "payment decision", payment_decide_tx, &pd);
	if (rc == PR_NO_PAYMENT)
		app_fail(req, 417, DECIDE_FAIL "Payment with transaction id - "
		    "%s doesn't exists!", fld_str(&fp->fo_v[DF_TRX]));
	else if (rc == 0)
		app_ok(req, 200, json_pack("{s:s}", "message",
		    "Successfully updated payment status"));
done:
	json_decref(body);
}
