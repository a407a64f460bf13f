/*
 * mailq: the provider's own mail outbox (table mail_outbox) and the loop
 * of the pool's background process that delivers it.
 *
 * elp-auth sends its few mails (password reset, address verification)
 * itself rather than through elp-messaging: their bodies carry link
 * secrets that are as good as a password for a while, and they should
 * stay in the one service that already holds every credential (elp-
 * messaging would keep them in its notification list). The delivery
 * follows elp-messaging's outbox: a handler inserts a row (committed
 * before the page answers, so an accepted request is never lost); the
 * loop claims one due row with a lease (a claim id and claimed_until in
 * one UPDATE), sends it with libelp's SMTP client (shared/smtp.c),
 * and records the outcome where the claim is still ours: sent, pending
 * again after an exponential backoff with jitter (temporary failure), or
 * failed (permanent, or out of attempts). The body is cleared once the
 * row leaves pending; the row stays <outbox keep> for the limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "auth.h"
#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "mail.h"
#include "pool.h"
#include "util.h"
#include "uuid.h"
#include "smtp.h"

#define MQ_MARK_PAUSE	500	/* ms between tries to mark a sent row */

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct mq_cfg, field) }

const struct cfg_key mq_cfg_keys[] = {
	K("poll", CFG_T_DURATION, "1s", 10, 3600000, mq_poll),
	K("lease", CFG_T_DURATION, "5m", 1000, 86400000, mq_lease),
	K("max-attempts", CFG_T_INT, "10", 1, 1000, mq_max_attempts),
	K("backoff-base", CFG_T_DURATION, "30s", 1, 86400000,
	    mq_backoff_base),
	K("backoff-max", CFG_T_DURATION, "1h", 1, 7 * 86400000LL,
	    mq_backoff_max),
	K("keep", CFG_T_DURATION, "24h", 0, 3650 * 86400000LL, mq_keep),
};
const size_t mq_cfg_nkeys = NITEMS(mq_cfg_keys);

#undef K

#define SQL_COUNT							\
	"SELECT (SELECT COUNT(*) FROM mail_outbox WHERE rcpt = ? AND "	\
	"created_at > ?), (SELECT COUNT(*) FROM mail_outbox WHERE "	\
	"account_id = ? AND created_at > ?)"
#define SQL_PUT								\
	"INSERT INTO mail_outbox (id, account_id, rcpt, kind, subject, " \
	"body, message_id, next_attempt_at, created_at) "		\
	"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define SQL_CLAIM							\
	"UPDATE mail_outbox SET claim_id = ?, claimed_until = ? "	\
	"WHERE state = 'pending' AND next_attempt_at <= ? AND "		\
	"(claimed_until IS NULL OR claimed_until < ?) "			\
	"ORDER BY next_attempt_at LIMIT 1"
#define SQL_CLAIMED							\
	"SELECT id, rcpt, subject, body, message_id, attempts, "	\
	"UNIX_TIMESTAMP(created_at) FROM mail_outbox WHERE claim_id = ?"
#define SQL_SENT							\
	"UPDATE mail_outbox SET state = 'sent', body = NULL, sent_at = ?, " \
	"claim_id = NULL, claimed_until = NULL WHERE id = ? AND claim_id = ?"
#define SQL_RETRY							\
	"UPDATE mail_outbox SET attempts = attempts + 1, "		\
	"next_attempt_at = ?, last_error = ?, claim_id = NULL, "	\
	"claimed_until = NULL WHERE id = ? AND claim_id = ?"
#define SQL_FAILED							\
	"UPDATE mail_outbox SET state = 'failed', body = NULL, "	\
	"attempts = attempts + 1, last_error = ?, claim_id = NULL, "	\
	"claimed_until = NULL WHERE id = ? AND claim_id = ?"
#define SQL_SWEEP							\
	"DELETE FROM mail_outbox WHERE state <> 'pending' AND created_at < ?"
#define SQL_SWEEP_TOKENS						\
	"DELETE FROM action_token WHERE expires_at < ?"
#define MQ_SWEEP_EVERY	60	/* s between sweeps */
#define MQ_TOKEN_KEEP	86400000 /* ms an expired link's row is kept */

/* Columns of a claimed row. */
enum { MC_ID, MC_RCPT, MC_SUBJECT, MC_BODY, MC_MSGID, MC_ATTEMPTS,
	MC_CREATED, MC_N };

void
mq_cfg_read(struct cfg_doc *cd, xmlNodePtr root, struct auth_cfg *cfg)
{
	xmlNodePtr smtp = cfg_next(root, NULL, "smtp");

	cfg_read(cd, cfg_next(root, NULL, "outbox"), mq_cfg_keys,
	    mq_cfg_nkeys, &cfg->ac_mq);
	if (smtp != NULL) {
		cfg->ac_smtp = xcalloc(1, sizeof(*cfg->ac_smtp));
		if (cfg_read(cd, smtp, smtp_cfg_keys, smtp_cfg_nkeys,
		    cfg->ac_smtp) == 0)
			smtp_cfg_check(cd, smtp, cfg->ac_smtp);
		if (cfg->ac_mq.mq_lease <= cfg->ac_smtp->sc_timeout)
			cfg_error(cd, smtp, "outbox lease must be longer than "
			    "the smtp timeout");
	}
	if (cfg->ac_mq.mq_keep != 0 &&
	    cfg->ac_mq.mq_keep < cfg->ac_acct.ap_window_ms)
		cfg_error(cd, root, "outbox keep must be 0 or at least the "
		    "account mail-window (the limits count kept rows)");
}

void
mq_cfg_release(struct auth_cfg *cfg)
{
	cfg_release_keys(mq_cfg_keys, mq_cfg_nkeys, &cfg->ac_mq);
	if (cfg->ac_smtp != NULL) {
		cfg_release_keys(smtp_cfg_keys, smtp_cfg_nkeys, cfg->ac_smtp);
		free(cfg->ac_smtp);
		cfg->ac_smtp = NULL;
	}
}

int
mq_add(struct db *db, const struct auth_cfg *cfg, const char *account,
    const char *rcpt, const char *kind, const char *subject,
    const char *body)
{
	const struct acct_cfg *ap = &cfg->ac_acct;
	char since[32], now[32], id[UUID_STR_LEN + 1], *c[2];
	struct db_val p[9];
	char *msgid;
	long long by_addr, by_acct;
	int rc;

	if (cfg->ac_smtp == NULL || !mail_addr_ok(rcpt))
		return 0;
	st_time(since, -(int64_t)ap->ap_window_ms);
	st_time(now, 0);
	p[0] = DB_STR(rcpt);
	p[1] = DB_STR(since);
	p[2] = DB_STR(account);
	p[3] = DB_STR(since);
	if (st_row(db, SQL_COUNT, p, 4, c, 2) != 1)
		return -1;
	by_addr = c[0] ? strtoll(c[0], NULL, 10) : 0;
	by_acct = c[1] ? strtoll(c[1], NULL, 10) : 0;
	st_row_free(c, 2);
	if (by_addr >= ap->ap_per_address || by_acct >= ap->ap_per_account) {
		log_warnx("mail: %s mail for account %s not sent: limit of "
		    "%lld per address / %lld per account in %llu s reached",
		    kind, account, (long long)ap->ap_per_address,
		    (long long)ap->ap_per_account,
		    (unsigned long long)(ap->ap_window_ms / 1000));
		return 0;
	}
	if (uuid_v4(id) == -1)
		return -1;
	msgid = xasprintf("<%s@%s>", id, cfg->ac_smtp->sc_msgid_domain);
	p[0] = DB_STR(id);
	p[1] = DB_STR(account);
	p[2] = DB_STR(rcpt);
	p[3] = DB_STR(kind);
	p[4] = DB_STR(subject);
	p[5] = DB_STR(body);
	p[6] = DB_STR(msgid);
	p[7] = DB_STR(now);
	p[8] = DB_STR(now);
	rc = st_exec(db, SQL_PUT, p, 9) == -1 ? -1 : 1;
	if (rc == 1)
		log_info("mail: %s mail %s queued for account %s", kind, msgid,
		    account);
	free(msgid);
	return rc;
}

/* Marks claimed row <c> sent, retrying while the database is away, for
 * up to the lease. */
static void
mq_mark_sent(struct db *db, const struct mq_cfg *mq, char **c,
    const char *claim)
{
	struct timespec t0, t;
	struct db_val p[3];
	char now[32];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		st_time(now, 0);
		p[0] = DB_STR(now);
		p[1] = DB_STR(c[MC_ID]);
		p[2] = DB_STR(claim);
		if (st_exec(db, SQL_SENT, p, 3) != -1)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((uint64_t)(t.tv_sec - t0.tv_sec) * 1000 >= mq->mq_lease ||
		    pool_should_stop())
			return;
		pool_worker_pause(MQ_MARK_PAUSE);
		(void)db_connect(db);
	}
}

/* Records a failed attempt of row <c>: retry later, or failed. */
static void
mq_mark_failed(struct db *db, const struct mq_cfg *mq, char **c,
    const char *claim, enum smtp_res res, const char *why)
{
	unsigned attempts = (unsigned)strtoul(c[MC_ATTEMPTS], NULL, 10) + 1;
	struct db_val p[4];
	uint32_t rnd = 0;
	uint64_t d;
	char next[32];

	if (res == SMTP_PERM || attempts >= (unsigned)mq->mq_max_attempts) {
		p[0] = DB_STR(why);
		p[1] = DB_STR(c[MC_ID]);
		p[2] = DB_STR(claim);
		(void)st_exec(db, SQL_FAILED, p, 3);
		log_warnx("mail: %s failed for good after %u attempt(s): %s",
		    c[MC_MSGID], attempts, why);
		return;
	}
	(void)RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
	d = mail_backoff(mq->mq_backoff_base, mq->mq_backoff_max, attempts,
	    rnd);
	st_time(next, (int64_t)d);
	p[0] = DB_STR(next);
	p[1] = DB_STR(why);
	p[2] = DB_STR(c[MC_ID]);
	p[3] = DB_STR(claim);
	(void)st_exec(db, SQL_RETRY, p, 4);
	log_warnx("mail: %s attempt %u failed (%s), next in %llu ms",
	    c[MC_MSGID], attempts, why, (unsigned long long)d);
}

/* Sends claimed row <c>. */
static void
mq_deliver(struct db *db, const struct auth_cfg *cfg, char **c,
    const char *claim)
{
	const struct smtp_cfg *sc = cfg->ac_smtp;
	struct mail_msg m;
	struct buf msg = BUF_INIT;
	enum smtp_res res;
	char why[SMTP_WHY_MAX];

	memset(&m, 0, sizeof(m));
	m.mm_from = sc->sc_from;
	m.mm_from_name = sc->sc_from_name[0] != '\0' ? sc->sc_from_name :
	    NULL;
	m.mm_to = c[MC_RCPT];
	m.mm_subject = c[MC_SUBJECT];
	m.mm_msgid = c[MC_MSGID];
	m.mm_date = (time_t)strtoll(c[MC_CREATED], NULL, 10);
	m.mm_body = c[MC_BODY] != NULL ? c[MC_BODY] : "";
	if (c[MC_BODY] == NULL || mail_format(&msg, &m) == -1) {
		mq_mark_failed(db, &cfg->ac_mq, c, claim, SMTP_PERM,
		    "message cannot be formatted");
		buf_release(&msg);
		return;
	}
	why[0] = '\0';
	res = smtp_send(sc, c[MC_RCPT], &msg, why, sizeof(why));
	buf_release(&msg);
	if (res == SMTP_SENT) {
		mq_mark_sent(db, &cfg->ac_mq, c, claim);
		log_info("mail: %s sent (row %s)", c[MC_MSGID], c[MC_ID]);
	} else
		mq_mark_failed(db, &cfg->ac_mq, c, claim, res, why);
}

/* One round: 1 a row was handled, 0 none due, -1 database error. */
static int
mq_step(struct db *db, const struct auth_cfg *cfg)
{
	char claim[UUID_STR_LEN + 1], now[32], until[32], *c[MC_N];
	struct db_val p[4];
	long long n;
	int rc;

	if (uuid_v4(claim) == -1)
		return -1;
	st_time(now, 0);
	st_time(until, (int64_t)cfg->ac_mq.mq_lease);
	p[0] = DB_STR(claim);
	p[1] = DB_STR(until);
	p[2] = DB_STR(now);
	p[3] = DB_STR(now);
	if ((n = st_exec(db, SQL_CLAIM, p, 4)) <= 0)
		return n == 0 ? 0 : -1;
	p[0] = DB_STR(claim);
	if ((rc = st_row(db, SQL_CLAIMED, p, 1, c, MC_N)) != 1)
		return rc;
	mq_deliver(db, cfg, c, claim);
	st_row_free(c, MC_N);
	return 1;
}

/* At most once a minute: deletes finished rows older than <outbox keep>
 * and links expired a day ago (used or not). */
static void
mq_sweep(struct db *db, const struct mq_cfg *mq)
{
	static time_t last;
	struct db_val p[1];
	char before[32];
	time_t now = time(NULL);

	if (now - last < MQ_SWEEP_EVERY)
		return;
	last = now;
	st_time(before, -(int64_t)MQ_TOKEN_KEEP);
	p[0] = DB_STR(before);
	(void)st_exec(db, SQL_SWEEP_TOKENS, p, 1);
	if (mq->mq_keep == 0)
		return;
	st_time(before, -(int64_t)mq->mq_keep);
	p[0] = DB_STR(before);
	(void)st_exec(db, SQL_SWEEP, p, 1);
}

int
mq_run(void *arg)
{
	const struct auth_cfg *cfg = arg;
	struct db *db;
	int rc, down = 0;

	db = db_new(&cfg->ac_db);
	log_info("mail: delivery process %ld started", (long)getpid());
	while (!pool_should_stop()) {
		pool_worker_idle();
		if (cfg->ac_smtp == NULL) {
			pool_worker_pause(cfg->ac_mq.mq_poll);
			continue;
		}
		rc = mq_step(db, cfg);
		if (rc == -1 && !down)
			log_warnx("mail: database unreachable, retrying");
		down = rc == -1;
		if (rc != 1 && !pool_should_stop()) {
			if (rc == 0)
				mq_sweep(db, &cfg->ac_mq);
			if (rc == -1)
				(void)db_connect(db);
			pool_worker_pause(cfg->ac_mq.mq_poll);
		}
	}
	log_info("mail: delivery process %ld stopped", (long)getpid());
	db_free(db);
	return 0;
}
