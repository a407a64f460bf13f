/*
 * evq: a sending service's queue of events for elp-messaging (see evq.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "db.h"
#include "evq.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "svcc.h"
#include "util.h"
#include "uuid.h"

#define EVQ_LEASE_US	(5LL * 60 * 1000000)	/* a claim; > any post */
#define EVQ_BACKOFF_MIN	1000			/* ms after a first failure */

#define SQL_ADD								\
	"INSERT INTO event_outbox (event_id, type, payload) "		\
	"VALUES (?, ?, ?)"
#define SQL_CLAIM							\
	"UPDATE event_outbox SET claim_id = ?, "			\
	"claimed_until = NOW(3) + INTERVAL ? MICROSECOND "		\
	"WHERE state = 'pending' AND next_attempt_at <= NOW(3) AND "	\
	"(claimed_until IS NULL OR claimed_until < NOW(3)) "		\
	"ORDER BY next_attempt_at, seq LIMIT 1"
#define SQL_CLAIMED							\
	"SELECT seq, event_id, type, payload, attempts FROM event_outbox " \
	"WHERE claim_id = ?"
#define SQL_DONE							\
	"DELETE FROM event_outbox WHERE seq = ? AND claim_id = ?"
#define SQL_RETRY							\
	"UPDATE event_outbox SET attempts = attempts + 1, "		\
	"last_error = ?, next_attempt_at = NOW(3) + INTERVAL ? "	\
	"MICROSECOND, claim_id = NULL, claimed_until = NULL "		\
	"WHERE seq = ? AND claim_id = ?"
#define SQL_FAILED							\
	"UPDATE event_outbox SET state = 'failed', attempts = attempts + 1, " \
	"last_error = ?, claim_id = NULL, claimed_until = NULL "	\
	"WHERE seq = ? AND claim_id = ?"

int
evq_add(struct db *db, const char *type, json_t *fields)
{
	char id[UUID_STR_LEN + 1];
	struct db_val p[3];
	json_t *ev;
	char *payload;
	int rc;

	if (uuid_v4(id) == -1)
		return -1;
	ev = json_deep_copy(fields);
	json_object_set_new(ev, "eventId", json_string(id));
	json_object_set_new(ev, "type", json_string(type));
	payload = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (payload == NULL)
		return -1;
	p[0] = DB_STR(id);
	p[1] = DB_STR(type);
	p[2] = DB_STR(payload);
	rc = db_exec(db, SQL_ADD, p, 3, NULL, NULL) == -1 ? -1 : 0;
	free(payload);
	return rc;
}

/* One claimed row. */
struct evq_row {
	long long	 r_seq;
	char		 r_id[UUID_STR_LEN + 1];
	char		 r_type[EVQ_TYPE_MAX + 1];
	char		*r_payload;
	long long	 r_attempts;
	int		 r_found;
};

static int
evq_row_cb(void *arg, const struct db_val *cols, size_t ncol)
{
	struct evq_row *r = arg;

	if (ncol != 5 || cols[0].dv_type == DB_T_NULL ||
	    cols[3].dv_type == DB_T_NULL)
		return -1;
	r->r_seq = strtoll(cols[0].dv_s, NULL, 10);
	snprintf(r->r_id, sizeof(r->r_id), "%s", cols[1].dv_s);
	snprintf(r->r_type, sizeof(r->r_type), "%s",
	    cols[2].dv_type == DB_T_NULL ? "" : cols[2].dv_s);
	free(r->r_payload);
	r->r_payload = xstrndup(cols[3].dv_s, cols[3].dv_len);
	r->r_attempts = cols[4].dv_type == DB_T_NULL ? 0 :
	    strtoll(cols[4].dv_s, NULL, 10);
	r->r_found = 1;
	return 0;
}

/*
 * The wait after failed attempt number <attempts> + 1: EVQ_BACKOFF_MIN
 * doubled per earlier attempt, at most <max>, then a random value between
 * half and all of it, in microseconds.
 */
static long long
evq_backoff_us(long long attempts, uint64_t max)
{
	uint64_t ms = EVQ_BACKOFF_MIN;
	unsigned int r = 0;

	while (attempts-- > 0 && ms < max)
		ms *= 2;
	if (ms > max)
		ms = max;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (unsigned int)getpid();
	ms = ms / 2 + (ms / 2 > 0 ? r % (ms / 2 + 1) : 0);
	return (long long)ms * 1000;
}

/* Whether a post answered <status> may succeed later. */
static int
evq_temporary(int status)
{
	return status == SVCC_UNAVAILABLE || status >= 500 || status == 401 ||
	    status == 403 || status == 408 || status == 429;
}

int
evq_step(struct db *db, struct notify *n, uint64_t backoff_max)
{
	char claim[UUID_STR_LEN + 1], why[128];
	struct evq_row r;
	struct db_val p[4];
	json_t *ev;
	long long got;
	int status;

	if (uuid_v4(claim) == -1)
		return -1;
	p[0] = DB_STR(claim);
	p[1] = DB_INT(EVQ_LEASE_US);
	if ((got = db_exec(db, SQL_CLAIM, p, 2, NULL, NULL)) == -1)
		return -1;
	if (got == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	if (db_exec(db, SQL_CLAIMED, p, 1, evq_row_cb, &r) == -1 ||
	    !r.r_found) {
		free(r.r_payload);
		return -1;
	}
	ev = json_loads(r.r_payload, 0, NULL);
	status = ev != NULL ? notify_send(n, ev) : 400;
	json_decref(ev);
	p[1] = DB_STR(claim);
	if (status >= 200 && status <= 299) {
		p[0] = DB_INT(r.r_seq);
		if (db_exec_idem(db, SQL_DONE, p, 2, NULL, NULL) == -1)
			log_warnx("events: %s (%s) delivered but still queued: "
			    "%s; it will be posted again (the receiver keeps "
			    "one)", r.r_id, r.r_type, db_errmsg(db));
		else
			log_debug("%s: event %s (%s) delivered", __func__,
			    r.r_id, r.r_type);
	} else if (evq_temporary(status)) {
		snprintf(why, sizeof(why), status == SVCC_UNAVAILABLE ?
		    "no answer" : "status %d", status);
		p[0] = DB_STR(why);
		p[1] = DB_INT(evq_backoff_us(r.r_attempts, backoff_max));
		p[2] = DB_INT(r.r_seq);
		p[3] = DB_STR(claim);
		if (r.r_attempts == 0)
			log_warnx("events: %s (%s) not delivered (%s); "
			    "retrying", r.r_id, r.r_type, why);
		(void)db_exec_idem(db, SQL_RETRY, p, 4, NULL, NULL);
	} else {
		snprintf(why, sizeof(why), "refused with status %d", status);
		log_error("events: %s (%s) %s; kept as failed in "
		    "event_outbox", r.r_id, r.r_type, why);
		p[0] = DB_STR(why);
		p[1] = DB_INT(r.r_seq);
		p[2] = DB_STR(claim);
		(void)db_exec_idem(db, SQL_FAILED, p, 3, NULL, NULL);
	}
	free(r.r_payload);
	return 1;
}

int
evq_run(const struct db_cfg *dbc, const struct notify_cfg *cfg)
{
	struct notify *n;
	struct db *db;
	int rc;

	if (cfg->nc_url == NULL) {
		while (!pool_should_stop()) {
			pool_worker_idle();
			pool_worker_pause(60000);
		}
		return 0;
	}
	db = db_new(dbc);
	n = notify_new(cfg);
	log_info("events: delivery process %ld started", (long)getpid());
	while (!pool_should_stop()) {
		pool_worker_idle();
		/* A busy queue is drained without pauses. */
		if ((rc = evq_step(db, n, cfg->nc_backoff_max)) != 1 &&
		    !pool_should_stop()) {
			/* An unreachable server is logged by db, once. */
			if (rc == -1 && db_error(db) != DB_E_CONN)
				log_warnx("events: %s", db_errmsg(db));
			pool_worker_pause(cfg->nc_poll);
		}
	}
	log_info("events: delivery process %ld stopped", (long)getpid());
	notify_free(n);
	db_free(db);
	return 0;
}
