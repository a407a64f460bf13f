/*
 * brk: the circuit breaker of one instance, as a pure state machine.
 *
 *	CLOSED     traffic flows. <failures> consecutive failures, or an
 *	           error rate of <error-rate> percent over a window of
 *	           <window> once it saw <min-requests> outcomes, open it.
 *	OPEN       requests fail fast until br_until (now + <cooldown>).
 *	HALF_OPEN  <trials> requests go through; when they all succeed the
 *	           breaker closes, the first failure opens it again. Trials
 *	           that never report (client gone) expire after <cooldown>.
 *
 * Time is passed in (monotonic ms), nothing here reads a clock or a
 * socket, so the unit tests drive every transition. The caller holds the
 * lock of the shared record the struct lives in.
 */
#include <stdint.h>

#include "log.h"
#include "proxy.h"

static const char *const brk_state_names[BRK_COUNT] = {
	"closed", "open", "half-open",
};

const char *
brk_state_str(enum brk_state st)
{
	return st < BRK_COUNT ? brk_state_names[st] : "?";
}

/* The only place br_state changes. */
static void
brk_set_state(struct brk *b, enum brk_state st, uint64_t now)
{
	log_debug("%s: %s -> %s at %llu", __func__,
	    brk_state_str(b->br_state), brk_state_str(st),
	    (unsigned long long)now);
	b->br_state = st;
}

static void
brk_window_reset(struct brk *b, uint64_t now)
{
	b->br_win_start = now;
	b->br_win_req = 0;
	b->br_win_fail = 0;
}

void
brk_init(struct brk *b, uint64_t now)
{
	b->br_state = BRK_CLOSED;
	b->br_consec = 0;
	b->br_until = 0;
	b->br_trials = 0;
	b->br_trial_ok = 0;
	b->br_opens = 0;
	brk_window_reset(b, now);
}

static void
brk_open(struct brk *b, const struct brk_conf *bc, uint64_t now)
{
	brk_set_state(b, BRK_OPEN, now);
	b->br_until = now + bc->bc_cooldown;
	b->br_opens++;
	b->br_consec = 0;
	b->br_trials = 0;
	b->br_trial_ok = 0;
}

static void
brk_close(struct brk *b, uint64_t now)
{
	brk_set_state(b, BRK_CLOSED, now);
	b->br_consec = 0;
	b->br_trials = 0;
	b->br_trial_ok = 0;
	brk_window_reset(b, now);
}

void
brk_reset(struct brk *b, uint64_t now)
{
	if (b->br_state != BRK_CLOSED)
		brk_close(b, now);
}

/* Counts one outcome in the current window (a new one when it ran out). */
static void
brk_window_count(struct brk *b, const struct brk_conf *bc, uint64_t now,
    int failed)
{
	if (now - b->br_win_start >= bc->bc_window)
		brk_window_reset(b, now);
	b->br_win_req++;
	if (failed)
		b->br_win_fail++;
}

static int
brk_rate_trips(const struct brk *b, const struct brk_conf *bc)
{
	if (bc->bc_error_rate == 0 || b->br_win_req < bc->bc_min_requests)
		return 0;
	return (uint64_t)b->br_win_fail * 100 >=
	    (uint64_t)bc->bc_error_rate * b->br_win_req;
}

int
brk_allows(const struct brk *b, const struct brk_conf *bc, uint64_t now)
{
	switch (b->br_state) {
	case BRK_CLOSED:
		return 1;
	case BRK_OPEN:
		return now >= b->br_until;
	case BRK_HALF_OPEN:
		return b->br_trials < bc->bc_trials || now >= b->br_until;
	default:
		return 0;
	}
}

int
brk_admit(struct brk *b, const struct brk_conf *bc, uint64_t now)
{
	if (!brk_allows(b, bc, now))
		return 0;
	switch (b->br_state) {
	case BRK_CLOSED:
		return 1;
	case BRK_OPEN:
		brk_set_state(b, BRK_HALF_OPEN, now);
		b->br_trials = 0;
		b->br_trial_ok = 0;
		break;
	default:
		/* Trials that never reported gave their places back. */
		if (b->br_trials >= bc->bc_trials) {
			b->br_trials = 0;
			b->br_trial_ok = 0;
		}
		break;
	}
	b->br_trials++;
	b->br_until = now + bc->bc_cooldown;
	return 1;
}

enum brk_state
brk_success(struct brk *b, const struct brk_conf *bc, uint64_t now)
{
	switch (b->br_state) {
	case BRK_CLOSED:
		b->br_consec = 0;
		brk_window_count(b, bc, now, 0);
		break;
	case BRK_HALF_OPEN:
		if (++b->br_trial_ok >= bc->bc_trials)
			brk_close(b, now);
		break;
	default:
		/* A request admitted before it opened: no news. */
		break;
	}
	return b->br_state;
}

enum brk_state
brk_failure(struct brk *b, const struct brk_conf *bc, uint64_t now)
{
	switch (b->br_state) {
	case BRK_CLOSED:
		b->br_consec++;
		brk_window_count(b, bc, now, 1);
		if ((bc->bc_failures > 0 && b->br_consec >= bc->bc_failures) ||
		    brk_rate_trips(b, bc))
			brk_open(b, bc, now);
		break;
	case BRK_HALF_OPEN:
		brk_open(b, bc, now);
		break;
	default:
		break;
	}
	return b->br_state;
}

uint64_t
brk_next_admit(const struct brk *b, const struct brk_conf *bc, uint64_t now)
{
	if (brk_allows(b, bc, now))
		return now;
	return b->br_until;
}
