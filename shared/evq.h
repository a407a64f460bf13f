/*
 * evq: a sending service's own queue of events for elp-messaging (the
 * transactional outbox pattern).
 *
 * A handler adds an event with evq_add() inside the transaction that
 * makes the change the event tells of (a payment stored, a decision, a
 * registration), so the event exists if and only if the change does. The
 * service's background process (evq_run(), the pool's sd_background)
 * posts queued events to elp-messaging's internal API with libelp notify
 * and deletes each once it was accepted (2xx). No answer, a 5xx, 401,
 * 403, 408 or 429 is retried with exponential backoff (1 s doubling up to
 * <messaging backoff-max>, with jitter) for as long as it takes: an event
 * is never lost because elp-messaging was down or restarting. Another 4xx
 * means elp-messaging will never take it: the row is kept with state
 * 'failed' and last_error, and logged as an error.
 *
 * Each event carries a stable eventId chosen when it was queued, and
 * elp-messaging keeps one notification per (eventId, recipient), so a
 * post repeated after a lost answer, or by a process killed before it
 * deleted the row, changes nothing: exactly once at the receiver.
 *
 * Rows are claimed with a lease (claim id and claimed_until, one UPDATE,
 * no transaction held during the post), so several instances of a
 * service can share the database and a killed process's claim expires.
 * The table is event_outbox in the service's own database (a migration of
 * each sending service creates it; see fcgi-apps/course/migrations).
 */
#ifndef ELP_EVQ_H
#define ELP_EVQ_H

#include <jansson.h>

#include "db.h"
#include "notify.h"

#define EVQ_TYPE_MAX	64	/* bytes of an event type */

/*
 * Queues event <type> with the members of <fields> (borrowed; no eventId
 * or type in it) under a new eventId, in the caller's transaction on
 * <db>. Returns 0, or -1 with db_error() set (the caller's transaction
 * then fails as a whole).
 */
int	 evq_add(struct db *db, const char *type, json_t *fields);

/*
 * One round: claims the oldest due event, posts it, records the outcome.
 * Returns 1 when an event was handled (look again at once), 0 when none
 * was due, -1 on a database failure. Exposed for the background loop and
 * tests.
 */
int	 evq_step(struct db *db, struct notify *n, uint64_t backoff_max);

/*
 * The body of a sending service's background process: evq_step() until
 * pool_should_stop(), pausing <messaging poll> when nothing is due. With
 * no <messaging> configured (cfg->nc_url NULL) it only waits for the
 * stop. Returns the exit code, 0.
 */
int	 evq_run(const struct db_cfg *dbc, const struct notify_cfg *cfg);

#endif
