/*
 * outbox: the delivery loop, run by the pool's background process.
 *
 * Each round claims one due row by writing a lease (a fresh claim_id and
 * claimed_until = now + lease) in a single UPDATE ... ORDER BY ... LIMIT 1,
 * so any number of loops (instances, or an old and a new one during a
 * reload) never hold the same row at once; a loop that dies leaves its
 * row claimed until the lease runs out, then another loop takes it. The
 * lease is longer than the whole SMTP transaction (checked at load). The
 * message is sent, and the row is then marked, only where the claim is
 * still ours: sent; pending again with the next attempt after an
 * exponential backoff with jitter (temporary failure); or failed
 * (permanent failure, or the last allowed attempt). Marking a sent row is
 * retried while the database is away, for up to the lease.
 *
 * The only duplicate this allows: the loop dies (or the database stays
 * away for a whole lease) after the server accepted the DATA and before
 * the row is marked; the message then goes out again with the same
 * Message-ID. README.md explains why SMTP leaves no way around it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "mail.h"
#include "messaging.h"
#include "pool.h"
#include "util.h"
#include "uuid.h"

#define OUTBOX_MARK_PAUSE	500	/* ms between tries to mark a row */

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct outbox_cfg, field) }

const struct cfg_key outbox_cfg_keys[] = {
	K("poll", CFG_T_DURATION, "1s", 10, 3600000, oc_poll),
	K("lease", CFG_T_DURATION, "5m", 1000, 86400000, oc_lease),
	K("max-attempts", CFG_T_INT, "10", 1, 1000, oc_max_attempts),
	K("backoff-base", CFG_T_DURATION, "30s", 1, 86400000,
	    oc_backoff_base),
	K("backoff-max", CFG_T_DURATION, "1h", 1, 7 * 86400000LL,
	    oc_backoff_max),
	K("keep", CFG_T_DURATION, "720h", 0, 3650 * 86400000LL, oc_keep),
};
const size_t outbox_cfg_nkeys = NITEMS(outbox_cfg_keys);

#undef K

#define SQL_CLAIM							\
	"UPDATE outbox SET claim_id = ?, "				\
	"claimed_until = NOW(3) + INTERVAL ? MICROSECOND "		\
	"WHERE state = 'pending' AND next_attempt_at <= NOW(3) AND "	\
	"(claimed_until IS NULL OR claimed_until < NOW(3)) "		\
	"ORDER BY next_attempt_at, seq LIMIT 1"
#define SQL_CLAIMED							\
	"SELECT id, rcpt, subject, body, message_id, attempts, "	\
	"FLOOR(UNIX_TIMESTAMP(created_at)) FROM outbox WHERE claim_id = ?"
#define SQL_SENT							\
	"UPDATE outbox SET state = 'sent', sent_at = NOW(3), "		\
	"attempts = attempts + 1, last_error = NULL, claim_id = NULL, "	\
	"claimed_until = NULL WHERE id = ? AND claim_id = ?"
/* state first: later assignments see the columns already assigned. */
#define SQL_RETRY							\
	"UPDATE outbox SET state = IF(attempts + 1 >= ?, 'failed', "	\
	"'pending'), attempts = attempts + 1, last_error = ?, "		\
	"next_attempt_at = NOW(3) + INTERVAL ? MICROSECOND, "		\
	"claim_id = NULL, claimed_until = NULL "			\
	"WHERE id = ? AND claim_id = ?"
#define SQL_FAILED							\
	"UPDATE outbox SET state = 'failed', attempts = attempts + 1, "	\
	"last_error = ?, claim_id = NULL, claimed_until = NULL "	\
	"WHERE id = ? AND claim_id = ?"

#define OUTBOX_SWEEP_MS		60000	/* between sweeps of sent rows */
#define OUTBOX_SWEEP_ROWS	1000	/* deleted per sweep */
#define SQL_SWEEP							\
	"DELETE FROM outbox WHERE state = 'sent' AND "			\
	"sent_at < NOW(3) - INTERVAL ? MICROSECOND LIMIT ?"

struct outbox {
	const struct msg_cfg	*ob_cfg;
	struct db		*ob_db;
	int			 ob_smtp_down;	/* logged once per outage */
	int			 ob_db_down;	/* logged once per outage */
	uint64_t		 ob_swept;	/* monotonic ms of the last sweep */
};

/* A claimed row. */
struct outbox_row {
	char		 or_id[UUID_STR_LEN + 1];
	char		 or_claim[UUID_STR_LEN + 1];
	char		*or_rcpt;
	char		*or_subject;
	char		*or_body;
	char		*or_msgid;
	long long	 or_attempts;	/* before this one */
	long long	 or_created;	/* epoch seconds */
	int		 or_found;
};

static void
outbox_row_release(struct outbox_row *r)
{
	free(r->or_rcpt);
	r->or_rcpt = NULL;
	free(r->or_subject);
	r->or_subject = NULL;
	free(r->or_body);
	r->or_body = NULL;
	free(r->or_msgid);
	r->or_msgid = NULL;
}

/* Row callback: the claimed row into the struct outbox_row at <arg>. */
static int
outbox_row_cb(void *arg, const struct db_val *c, size_t ncol)
{
	struct outbox_row *r = arg;
	size_t i;

	if (ncol != 7)
		return -1;
	for (i = 0; i < ncol; i++)
		if (c[i].dv_type == DB_T_NULL)
			return -1;
	if (uuid_parse(c[0].dv_s, c[0].dv_len, r->or_id) == -1)
		return -1;
	r->or_rcpt = xstrndup(c[1].dv_s, c[1].dv_len);
	r->or_subject = xstrndup(c[2].dv_s, c[2].dv_len);
	r->or_body = xstrndup(c[3].dv_s, c[3].dv_len);
	r->or_msgid = xstrndup(c[4].dv_s, c[4].dv_len);
	r->or_attempts = strtoll(c[5].dv_s, NULL, 10);
	r->or_created = strtoll(c[6].dv_s, NULL, 10);
	r->or_found = 1;
	return 0;
}

/* Logs the database going away or coming back. */
static void
outbox_db_note(struct outbox *ob, int failed)
{
	if (failed && !ob->ob_db_down)
		log_warnx("outbox: database unavailable: %s: %s",
		    db_err_str(db_error(ob->ob_db)), db_errmsg(ob->ob_db));
	else if (!failed && ob->ob_db_down)
		log_info("outbox: database available again");
	ob->ob_db_down = failed;
}

/* Logs the SMTP server going away or coming back. */
static void
outbox_smtp_note(struct outbox *ob, enum smtp_res res, const char *why)
{
	if (res == SMTP_TEMP && !ob->ob_smtp_down)
		log_warnx("outbox: smtp server not accepting mail: %s", why);
	else if (res != SMTP_TEMP && ob->ob_smtp_down)
		log_info("outbox: smtp server accepting mail again");
	ob->ob_smtp_down = res == SMTP_TEMP;
}

/*
 * Claims one due row into <r>. Returns 1 (claimed), 0 (nothing due) or
 * -1 (database failure, logged once per outage).
 */
static int
outbox_claim(struct outbox *ob, struct outbox_row *r)
{
	struct db_val p[2];
	long long n;

	memset(r, 0, sizeof(*r));
	if (uuid_v4(r->or_claim) == -1)
		return -1;
	p[0] = DB_STR(r->or_claim);
	p[1] = DB_INT((long long)ob->ob_cfg->mc_outbox.oc_lease * 1000);
	n = db_exec(ob->ob_db, SQL_CLAIM, p, NITEMS(p), NULL, NULL);
	if (n > 0)
		n = db_exec(ob->ob_db, SQL_CLAIMED, p, 1, outbox_row_cb, r);
	outbox_db_note(ob, n == -1);
	if (n == -1)
		return -1;
	return r->or_found;
}

/*
 * Runs the marking statement <sql> with <np> parameters <p>, again every
 * OUTBOX_MARK_PAUSE ms while the database is unreachable, for up to the
 * lease. Returns the rows matched, or -1.
 */
static long long
outbox_mark(struct outbox *ob, const char *sql, const struct db_val *p,
    size_t np)
{
	uint64_t until = util_now_ms() + ob->ob_cfg->mc_outbox.oc_lease;
	struct timespec ts = { 0, OUTBOX_MARK_PAUSE * 1000000L };
	long long n;

	for (;;) {
		n = db_exec(ob->ob_db, sql, p, np, NULL, NULL);
		outbox_db_note(ob, n == -1);
		if (n != -1 || db_error(ob->ob_db) != DB_E_CONN ||
		    util_now_ms() >= until)
			return n;
		nanosleep(&ts, NULL);
	}
}

/* Records the outcome <res> (<why>) of sending <r>. */
static void
outbox_record(struct outbox *ob, const struct outbox_row *r,
    enum smtp_res res, const char *why)
{
	const struct outbox_cfg *oc = &ob->ob_cfg->mc_outbox;
	struct db_val p[5];
	uint64_t delay = 0;
	long long n;

	if (res == SMTP_SENT) {
		p[0] = DB_STR(r->or_id);
		p[1] = DB_STR(r->or_claim);
		n = outbox_mark(ob, SQL_SENT, p, 2);
	} else if (res == SMTP_PERM) {
		p[0] = DB_STRN(why, strnlen(why, MSG_ERROR_MAX));
		p[1] = DB_STR(r->or_id);
		p[2] = DB_STR(r->or_claim);
		n = outbox_mark(ob, SQL_FAILED, p, 3);
	} else {
		delay = mail_backoff(oc->oc_backoff_base, oc->oc_backoff_max,
		    (unsigned)(r->or_attempts + 1), arc4random());
		p[0] = DB_INT(oc->oc_max_attempts);
		p[1] = DB_STRN(why, strnlen(why, MSG_ERROR_MAX));
		p[2] = DB_INT((long long)delay * 1000);
		p[3] = DB_STR(r->or_id);
		p[4] = DB_STR(r->or_claim);
		n = outbox_mark(ob, SQL_RETRY, p, 5);
	}
	if (n == -1)
		log_error("outbox: %s: could not record \"%s\": %s; the row is "
		    "tried again when its lease ends", r->or_id,
		    smtp_res_str(res), db_errmsg(ob->ob_db));
	else if (n == 0)
		log_warnx("outbox: %s: lease lost before \"%s\" was recorded",
		    r->or_id, smtp_res_str(res));
	else if (res == SMTP_SENT)
		log_info("outbox: %s %s sent (attempt %lld)", r->or_id,
		    r->or_msgid, r->or_attempts + 1);
	else if (res == SMTP_PERM ||
	    r->or_attempts + 1 >= oc->oc_max_attempts)
		log_warnx("outbox: %s %s failed for good after %lld "
		    "attempt(s): %s", r->or_id, r->or_msgid,
		    r->or_attempts + 1, why);
	else
		log_info("outbox: %s attempt %lld failed (%s); next in %llu "
		    "ms", r->or_id, r->or_attempts + 1, why,
		    (unsigned long long)delay);
}

/* Formats and sends claimed row <r>; returns the outcome. */
static enum smtp_res
outbox_send(struct outbox *ob, const struct outbox_row *r, char *why,
    size_t whylen)
{
	const struct smtp_cfg *sc = &ob->ob_cfg->mc_smtp;
	struct mail_msg m;
	struct buf msg;
	enum smtp_res res;

	memset(&m, 0, sizeof(m));
	m.mm_from = sc->sc_from;
	m.mm_from_name = sc->sc_from_name;
	m.mm_to = r->or_rcpt;
	m.mm_subject = r->or_subject;
	m.mm_msgid = r->or_msgid;
	m.mm_date = (time_t)r->or_created;
	m.mm_body = r->or_body;
	buf_init(&msg);
	if (mail_format(&msg, &m) == -1) {
		snprintf(why, whylen, "unusable recipient or Message-ID");
		res = SMTP_PERM;
	} else {
		res = smtp_send(sc, r->or_rcpt, &msg, why, whylen);
		outbox_smtp_note(ob, res, why);
	}
	buf_release(&msg);
	return res;
}

/*
 * One round: claim, send, record. Returns 1 when a row was handled, 0
 * when none was due, -1 on a database failure.
 */
static int
outbox_step(struct outbox *ob)
{
	struct outbox_row r;
	enum smtp_res res;
	char why[MSG_ERROR_MAX + 1];
	int rc;

	if ((rc = outbox_claim(ob, &r)) != 1) {
		outbox_row_release(&r);
		return rc;
	}
	why[0] = '\0';
	res = outbox_send(ob, &r, why, sizeof(why));
	outbox_record(ob, &r, res, why);
	outbox_row_release(&r);
	return 1;
}

/*
 * Deletes sent rows older than <outbox keep>, at most OUTBOX_SWEEP_ROWS at
 * a time, once per OUTBOX_SWEEP_MS (or per keep, when shorter). Failed
 * rows stay for the operator; notifications stay for their users.
 */
static void
outbox_sweep(struct outbox *ob)
{
	uint64_t keep = ob->ob_cfg->mc_outbox.oc_keep, now = util_now_ms();
	uint64_t every = keep < OUTBOX_SWEEP_MS ? keep : OUTBOX_SWEEP_MS;
	struct db_val p[2];
	long long n;

	if (keep == 0 || (ob->ob_swept != 0 && now - ob->ob_swept < every))
		return;
	ob->ob_swept = now;
	p[0] = DB_INT((long long)keep * 1000);
	p[1] = DB_INT(OUTBOX_SWEEP_ROWS);
	if ((n = db_exec_idem(ob->ob_db, SQL_SWEEP, p, 2, NULL, NULL)) > 0)
		log_info("outbox: %lld sent message(s) older than the keep "
		    "time removed", n);
}

int
outbox_run(const struct msg_cfg *mc)
{
	struct outbox ob;
	int rc;

	memset(&ob, 0, sizeof(ob));
	ob.ob_cfg = mc;
	ob.ob_db = db_new(&mc->mc_db);
	log_info("outbox: delivery process %ld started", (long)getpid());
	while (!pool_should_stop()) {
		pool_worker_idle();
		/* A busy queue is drained without pauses. */
		if ((rc = outbox_step(&ob)) != 1 && !pool_should_stop()) {
			outbox_sweep(&ob);
			pool_worker_pause(mc->mc_outbox.oc_poll);
		}
	}
	log_info("outbox: delivery process %ld stopped", (long)getpid());
	db_free(ob.ob_db);
	ob.ob_db = NULL;
	return 0;
}
