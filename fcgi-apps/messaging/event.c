/*
 * event: the internal API. POST /internal/events takes an event from
 * another service, resolves its recipients through elp-auth, renders the
 * template of its type for each of them and stores, in one transaction,
 * one notification per recipient plus one outbox row per recipient with
 * an e-mail address. A re-posted eventId adds nothing (UNIQUE (event_id,
 * user_id)), so senders may retry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "buf.h"
#include "db.h"
#include "log.h"
#include "messaging.h"
#include "tmpl.h"
#include "util.h"
#include "uuid.h"

#define FAIL		"Failed to accept event! Reason: "
#define NAME_MAX_LEN	255	/* bytes of courseName */
#define TRX_MAX_LEN	100	/* bytes of trxId */
#define TX_TRIES	3

#define SQL_NOTIFICATION						\
	"INSERT INTO notification (id, user_id, event_id, kind, title, "	\
	"body) VALUES (?, ?, ?, ?, ?, ?)"
#define SQL_OUTBOX							\
	"INSERT INTO outbox (id, notification_id, rcpt, subject, body, "	\
	"message_id) VALUES (?, ?, ?, ?, ?, ?)"

/* Template values, in the order of event_all_names. */
enum event_val {
	V_EVENT_ID = 0,
	V_RCPT_NAME,
	V_RCPT_EMAIL,
	V_USER_ID,
	V_USER_NAME,
	V_USER_EMAIL,
	V_COURSE_ID,		/* payment events only from here on */
	V_COURSE_NAME,
	V_PAYMENT_ID,
	V_TRX_ID,
	V_AMOUNT,
	V_COUNT
};

static const char *const event_all_names[V_COUNT] = {
	"eventId", "recipientName", "recipientEmail", "userId", "userName",
	"userEmail", "courseId", "courseName", "paymentId", "trxId",
	"amount",
};

static const char *const event_type_names[EV_COUNT] = {
	[EV_PAY_SUBMITTED] = "payment.submitted",
	[EV_PAY_APPROVED] = "payment.approved",
	[EV_PAY_REJECTED] = "payment.rejected",
	[EV_USER_REGISTERED] = "user.registered",
};

/* A checked event body; strings point into the request's JSON. */
struct event {
	enum event_type	 ev_type;
	char		 ev_id[UUID_STR_LEN + 1];
	char		 ev_user[UUID_STR_LEN + 1];
	char		 ev_course[UUID_STR_LEN + 1];
	char		 ev_payment[UUID_STR_LEN + 1];	/* "" absent */
	const char	*ev_course_name;
	const char	*ev_trx;
	char		 ev_amount[24];			/* "" absent */
};

/* What one store transaction did. */
struct event_store {
	const struct msg_cfg	*es_cfg;
	const struct event	*es_ev;
	const struct rcpt	*es_user;	/* the event's user */
	const struct rcpt	*es_rcpt;	/* recipients */
	size_t			 es_nrcpt;
	size_t			 es_new;	/* notifications stored */
	size_t			 es_dup;	/* already there */
	size_t			 es_mail;	/* outbox rows */
};

const char *
event_type_str(enum event_type t)
{
	return (unsigned)t < EV_COUNT ? event_type_names[t] : NULL;
}

int
event_type_byname(const char *s)
{
	int t;

	for (t = 0; t < EV_COUNT; t++)
		if (strcmp(s, event_type_names[t]) == 0)
			return t;
	return -1;
}

const char *const *
event_names(enum event_type t, size_t *n)
{
	*n = t == EV_USER_REGISTERED ? V_COURSE_ID : V_COUNT;
	return event_all_names;
}

/*
 * Reads UUID <key> of <body> into <out> ("" when absent and not
 * <required>). Returns 0, or -1 after answering 400.
 */
static int
event_uuid(struct app_req *req, json_t *body, const char *key,
    int required, char out[UUID_STR_LEN + 1])
{
	json_t *v = json_object_get(body, key);
	const char *s = json_string_value(v);

	out[0] = '\0';
	if ((v == NULL || json_is_null(v)) && !required)
		return 0;
	if (v == NULL || json_is_null(v)) {
		app_fail(req, 400, FAIL "%s is required", key);
		return -1;
	}
	if (s == NULL || uuid_parse(s, strlen(s), out) == -1) {
		app_fail(req, 400, FAIL "Invalid UUID for %s: %.64s", key,
		    s != NULL ? s : "(not a string)");
		return -1;
	}
	return 0;
}

/*
 * Reads the required string <key> of <body> (1..<max> bytes) into <out>.
 * Returns 0, or -1 after answering 400.
 */
static int
event_str(struct app_req *req, json_t *body, const char *key, size_t max,
    const char **out)
{
	json_t *v = json_object_get(body, key);

	if (v == NULL || json_is_null(v) || (json_is_string(v) &&
	    json_string_length(v) == 0)) {
		app_fail(req, 400, FAIL "%s is required", key);
		return -1;
	}
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		app_fail(req, 400, FAIL "%s must be a string of at most %zu "
		    "bytes", key, max);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* Reads the optional integer amount. 0, or -1 after answering 400. */
static int
event_amount(struct app_req *req, json_t *body, struct event *ev)
{
	json_t *v = json_object_get(body, "amount");

	ev->ev_amount[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		app_fail(req, 400, FAIL "amount must be an integer");
		return -1;
	}
	snprintf(ev->ev_amount, sizeof(ev->ev_amount), "%lld",
	    (long long)json_integer_value(v));
	return 0;
}

/* Checks <body> into <ev>. Returns 0, or -1 after answering 400. */
static int
event_read(struct app_req *req, json_t *body, struct event *ev)
{
	const char *type;
	int t;

	memset(ev, 0, sizeof(*ev));
	if (event_uuid(req, body, "eventId", 1, ev->ev_id) == -1 ||
	    event_str(req, body, "type", 64, &type) == -1)
		return -1;
	if ((t = event_type_byname(type)) == -1) {
		app_fail(req, 400, FAIL "Unknown event type: %.64s", type);
		return -1;
	}
	ev->ev_type = t;
	if (event_uuid(req, body, "userId", 1, ev->ev_user) == -1)
		return -1;
	if (t == EV_USER_REGISTERED)
		return 0;
	if (event_uuid(req, body, "courseId", 1, ev->ev_course) == -1 ||
	    event_str(req, body, "courseName", NAME_MAX_LEN,
	    &ev->ev_course_name) == -1 ||
	    event_str(req, body, "trxId", TRX_MAX_LEN, &ev->ev_trx) == -1 ||
	    event_uuid(req, body, "paymentId", 0, ev->ev_payment) == -1 ||
	    event_amount(req, body, ev) == -1)
		return -1;
	return 0;
}

/* The template values of <es> for recipient <r>, into <v>. */
static void
event_values(const struct event_store *es, const struct rcpt *r,
    const char *v[V_COUNT])
{
	const struct event *ev = es->es_ev;

	v[V_EVENT_ID] = ev->ev_id;
	v[V_RCPT_NAME] = r->r_name;
	v[V_RCPT_EMAIL] = r->r_email;
	v[V_USER_ID] = ev->ev_user;
	v[V_USER_NAME] = es->es_user->r_name;
	v[V_USER_EMAIL] = es->es_user->r_email;
	v[V_COURSE_ID] = ev->ev_course;
	v[V_COURSE_NAME] = ev->ev_course_name;
	v[V_PAYMENT_ID] = ev->ev_payment;
	v[V_TRX_ID] = ev->ev_trx;
	v[V_AMOUNT] = ev->ev_amount;
}

/*
 * Renders the subject of <es> for <r> into <title>: one line (CR, LF and
 * tabs become spaces), at most MSG_TITLE_MAX bytes, cut on a UTF-8
 * character boundary.
 */
static void
event_title(const struct event_store *es, const char *const *v,
    struct buf *title)
{
	const struct tmpl *t = &es->es_cfg->mc_tmpl[es->es_ev->ev_type];
	size_t i, n;
	char *p;

	tmpl_render(title, t->tp_subject, event_all_names, v, V_COUNT);
	p = title->ptr + title->off;
	n = buf_avail(title);
	for (i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\t')
			p[i] = ' ';
	if (n > MSG_TITLE_MAX) {
		n = MSG_TITLE_MAX;
		while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
			n--;
		title->len = title->off + n;
	}
}

/*
 * Stores the outbox row of notification <nid> for <r>. 0 or -1
 * (db_error() set).
 */
static int
event_outbox(struct msg_svc *ms, const char *nid, const struct rcpt *r,
    const struct buf *title, const struct buf *body)
{
	char id[UUID_STR_LEN + 1], *msgid;
	struct db_val p[6];
	long long rc;

	if (uuid_v4(id) == -1)
		return -1;
	/* Stable for every attempt: receivers can deduplicate on it. */
	msgid = xasprintf("<%s@%s>", id, ms->ms_cfg->mc_smtp.sc_msgid_domain);
	p[0] = DB_STR(id);
	p[1] = DB_STR(nid);
	p[2] = DB_STR(r->r_email);
	p[3] = DB_STRN(buf_data(title), buf_avail(title));
	p[4] = DB_STRN(buf_data(body), buf_avail(body));
	p[5] = DB_STR(msgid);
	rc = db_exec(ms->ms_db, SQL_OUTBOX, p, NITEMS(p), NULL, NULL);
	free(msgid);
	return rc == -1 ? -1 : 0;
}

/*
 * Stores the notification (and its outbox row) of recipient <r>. Returns
 * 0, or -1 (db_error() set). A notification that exists already counts
 * as a duplicate and gets no second outbox row.
 */
static int
event_store_one(struct msg_svc *ms, struct event_store *es,
    const struct rcpt *r)
{
	const struct tmpl *t = &es->es_cfg->mc_tmpl[es->es_ev->ev_type];
	char id[UUID_STR_LEN + 1];
	struct buf title, body;
	struct db_val p[6];
	const char *v[V_COUNT];
	int rc = -1;

	buf_init(&title);
	buf_init(&body);
	event_values(es, r, v);
	event_title(es, v, &title);
	tmpl_render(&body, t->tp_body, event_all_names, v, V_COUNT);
	if (uuid_v4(id) == -1)
		goto done;
	p[0] = DB_STR(id);
	p[1] = DB_STR(r->r_id);
	p[2] = DB_STR(es->es_ev->ev_id);
	p[3] = DB_STR(event_type_str(es->es_ev->ev_type));
	p[4] = DB_STRN(buf_data(&title), buf_avail(&title));
	p[5] = DB_STRN(buf_data(&body), buf_avail(&body));
	if (db_exec(ms->ms_db, SQL_NOTIFICATION, p, NITEMS(p), NULL,
	    NULL) == -1) {
		/* Only that statement is undone; the transaction goes on. */
		if (db_error(ms->ms_db) == DB_E_DUP) {
			es->es_dup++;
			rc = 0;
		}
		goto done;
	}
	es->es_new++;
	if (r->r_email != NULL) {
		if (event_outbox(ms, id, r, &title, &body) == -1)
			goto done;
		es->es_mail++;
	}
	rc = 0;
done:
	buf_release(&title);
	buf_release(&body);
	return rc;
}

/*
 * Stores every recipient's notification in one transaction, again after
 * a deadlock or lock timeout. Returns 0, or -1 after answering.
 */
static int
event_store(struct app_req *req, struct msg_svc *ms, struct event_store *es)
{
	size_t i;
	int try;

	for (try = 0; try < TX_TRIES; try++) {
		es->es_new = es->es_dup = es->es_mail = 0;
		if (db_begin(ms->ms_db) == -1)
			break;
		for (i = 0; i < es->es_nrcpt; i++)
			if (event_store_one(ms, es, &es->es_rcpt[i]) == -1)
				break;
		if (i == es->es_nrcpt && db_commit(ms->ms_db) == 0)
			return 0;
		if (db_error(ms->ms_db) != DB_E_LOCK)
			break;
		db_rollback(ms->ms_db);
	}
	msg_db_fail(req, ms, "event store");
	db_rollback(ms->ms_db);
	return -1;
}

/* Answers a failed lookup of <what> in elp-auth (status <rc>). */
static void
event_idp_fail(struct app_req *req, int rc, const char *what)
{
	if (rc == 404) {
		app_fail(req, 400, FAIL "Unknown user %s", what);
		return;
	}
	if (rc != IDPC_UNAVAILABLE)
		log_error("idp: %s: status %d", what, rc);
	app_fail(req, 503, "Identity provider unavailable");
}

/*
 * Resolves the event's user into <user> and its recipients into <rcpt>
 * (<n>; heap array). Returns 0, or -1 after answering.
 */
static int
event_resolve(struct app_req *req, struct msg_svc *ms, const struct event *ev,
    struct rcpt *user, struct rcpt **rcpt, size_t *n)
{
	const struct events_cfg *ec = &ms->ms_cfg->mc_events;
	int rc;

	*rcpt = NULL;
	*n = 0;
	if ((rc = rcpt_user(ms, ev->ev_user, user)) != 200) {
		event_idp_fail(req, rc, ev->ev_user);
		return -1;
	}
	if (ev->ev_type != EV_PAY_SUBMITTED) {
		*rcpt = xcalloc(1, sizeof(**rcpt));
		(*rcpt)[0].r_email = user->r_email != NULL ?
		    xstrdup(user->r_email) : NULL;
		(*rcpt)[0].r_name = xstrdup(user->r_name);
		memcpy((*rcpt)[0].r_id, user->r_id, sizeof(user->r_id));
		*n = 1;
		return 0;
	}
	rc = rcpt_role(ms, ec->ec_admin_role, (size_t)ec->ec_max_rcpt, rcpt, n);
	if (rc != 200) {
		event_idp_fail(req, rc == 404 ? 502 : rc, ec->ec_admin_role);
		return -1;
	}
	return 0;
}

/* Answers a stored event. */
static void
event_answer(struct app_req *req, const struct event_store *es)
{
	log_info("event %s (%s): %zu notification(s), %zu mail(s), %zu "
	    "duplicate(s)", es->es_ev->ev_id,
	    event_type_str(es->es_ev->ev_type), es->es_new, es->es_mail,
	    es->es_dup);
	app_ok(req, es->es_new > 0 ? 201 : 200, json_pack("{s:s, s:s, s:I, "
	    "s:I, s:I}", "message", es->es_new > 0 ? "Event accepted" :
	    es->es_dup > 0 ? "Event already processed" :
	    "Event has no recipients", "eventId", es->es_ev->ev_id,
	    "notifications", (json_int_t)es->es_new, "mails",
	    (json_int_t)es->es_mail, "duplicates", (json_int_t)es->es_dup));
}

void
event_post(struct app_req *req)
{
	struct msg_svc *ms = req->r_ctx;
	struct event_store es;
	struct authz_id id;
	struct event ev;
	struct rcpt user, *rcpt = NULL;
	json_t *body = NULL;
	size_t i, n = 0;

	memset(&user, 0, sizeof(user));
	if (authz_require_role(req, ms->ms_az, &id,
	    ms->ms_cfg->mc_events.ec_role) == -1)
		return;
	log_debug("%s: event from client %s", __func__, id.ai_client);
	authz_id_release(&id);
	if ((body = app_json_body(req)) == NULL ||
	    event_read(req, body, &ev) == -1 ||
	    event_resolve(req, ms, &ev, &user, &rcpt, &n) == -1)
		goto done;
	memset(&es, 0, sizeof(es));
	es.es_cfg = ms->ms_cfg;
	es.es_ev = &ev;
	es.es_user = &user;
	es.es_rcpt = rcpt;
	es.es_nrcpt = n;
	if (event_store(req, ms, &es) == 0)
		event_answer(req, &es);
done:
	for (i = 0; i < n; i++)
		rcpt_release(&rcpt[i]);
	free(rcpt);
	rcpt_release(&user);
	json_decref(body);
}
