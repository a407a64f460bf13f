/*
 * up: instance choice, the per-service wait queue, and the passive side of
 * health (outcomes of real exchanges feeding the breaker).
 *
 * Candidates are the instances that are up (active checks, shared record)
 * and whose breaker admits traffic. Among those with a free connection
 * slot, the service's balance picks one:
 *	round-robin        smooth weighted round robin: each pick adds every
 *	                   candidate's weight to its current weight, takes
 *	                   the highest and subtracts the total from it, so a
 *	                   3:1 split interleaves as a a b a, not a a a b.
 *	least-outstanding  fewest exchanges in progress (this worker's);
 *	                   ties go to the higher weight, then in turn.
 * An instance never gets more connections than its maxconn (a libfcgi
 * worker serves one connection at a time for as long as it stays open).
 * Requests that find every candidate at capacity wait in an ordered queue
 * and are served first come, first served as slots free up; the timeout
 * sweep answers 503 to those that wait too long.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

#define UP_MAX_INS	64	/* instances per service (schema) */

static const char *const up_balance_names[UP_BAL_COUNT] = {
	"round-robin", "least-outstanding",
};

const char *
up_balance_str(enum up_balance b)
{
	return b < UP_BAL_COUNT ? up_balance_names[b] : "?";
}

int
up_balance_parse(const char *s)
{
	int i;

	for (i = 0; i < UP_BAL_COUNT; i++)
		if (strcmp(s, up_balance_names[i]) == 0)
			return i;
	return -1;
}

static struct shm_ins *
up_rec(const struct instance *ins)
{
	return &shm->sh_ins[ins->ins_slot];
}

static int
up_has_slot(const struct instance *ins)
{
	/* An idle pooled connection is a free slot too. */
	if (ins->ins_idle != NULL)
		return 1;
	if (ins->ins_nconn >= ins->ins_maxconn)
		return 0;
	return shm == NULL || atomic_load_explicit(&up_rec(ins)->si_conns,
	    memory_order_relaxed) < ins->ins_maxconn;
}

/* How many requests <ins> could take now: its idle pooled connections
 * plus the slots maxconn leaves, here and across all workers. */
static int64_t
up_free_slots(const struct instance *ins)
{
	const struct bconn *b;
	int64_t n = 0, all;

	for (b = ins->ins_idle; b != NULL; b = b->b_next)
		n++;
	all = shm == NULL ? ins->ins_nconn : atomic_load_explicit(
	    &up_rec(ins)->si_conns, memory_order_relaxed);
	if (all < ins->ins_nconn)
		all = ins->ins_nconn;
	if (all < ins->ins_maxconn)
		n += ins->ins_maxconn - all;
	return n;
}

int
up_conn_open(struct instance *ins)
{
	struct shm_ins *si;

	if (shm == NULL)
		return ins->ins_nconn < ins->ins_maxconn;
	si = up_rec(ins);
	if (atomic_fetch_add(&si->si_conns, 1) >= ins->ins_maxconn) {
		atomic_fetch_sub(&si->si_conns, 1);
		return 0;
	}
	if (gw->w_proc != NULL)
		atomic_fetch_add(&gw->w_proc->sp_ins_conns[ins->ins_slot], 1);
	return 1;
}

void
up_conn_closed(struct instance *ins)
{
	if (shm == NULL)
		return;
	atomic_fetch_sub(&up_rec(ins)->si_conns, 1);
	if (gw->w_proc != NULL)
		atomic_fetch_sub(&gw->w_proc->sp_ins_conns[ins->ins_slot], 1);
}

int
up_others_waiting(const struct service *svc)
{
	if (shm == NULL)
		return 0;
	return atomic_load_explicit(&shm->sh_svc[svc->svc_slot].ss_waiters,
	    memory_order_relaxed) > (int32_t)svc->svc_nwait;
}

int
up_give_back(const struct instance *ins)
{
	int64_t workers = gw->w_conf->gc_workers, share, live;

	/* A draining worker keeps nothing idle: the slots belong to the
	 * generation that took over (what it still has to serve takes a
	 * slot like any request). */
	if (gw->w_draining)
		return 1;
	/* Each worker may keep its fair share of maxconn whatever happens;
	 * beyond it, a connection goes back when another worker waits.
	 * During a reload the draining workers count too, or the new ones
	 * could keep every slot from a request a draining one still has. */
	if (shm != NULL && (live = atomic_load_explicit(&shm->sh_nprocs,
	    memory_order_relaxed)) > workers)
		workers = live;
	share = (ins->ins_maxconn + workers - 1) / workers;
	return ins->ins_nconn > share && up_others_waiting(ins->ins_svc);
}

/* Whether some instance of <svc> is usable, slot or not. */
static int
up_any_usable(const struct service *svc, uint64_t now)
{
	size_t i;

	for (i = 0; i < svc->svc_nins; i++)
		if (up_usable(svc->svc_ins[i], now))
			return 1;
	return 0;
}

/* Whether an instance of <svc> outside the <tried> bits is usable. */
static int
up_other_usable(const struct service *svc, uint64_t tried, uint64_t now)
{
	size_t i;

	for (i = 0; i < svc->svc_nins; i++)
		if (!((tried >> i) & 1) && up_usable(svc->svc_ins[i], now))
			return 1;
	return 0;
}

/*
 * No instance of <svc> is usable any more (all down or their breakers
 * open): its queued requests, which wait for a slot and not for an
 * instance to come back, get their 503 now instead of at the queue
 * timeout, as a new request would.
 */
static void
up_fail_waiting(struct service *svc)
{
	struct conn *c;

	while ((c = svc->svc_waitq) != NULL) {
		up_dequeue(svc, c);
		conn_fail_unavailable(c);
		conn_later(c);
	}
}

void
up_sweep(void)
{
	struct service *svc;
	size_t i, j;
	int64_t n;

	for (i = 0; i < gw->w_conf->gc_nservices; i++) {
		svc = &gw->w_conf->gc_services[i];
		if (gw->w_draining || up_others_waiting(svc))
			be_trim_idle(svc);	/* down to the fair share */
		if (svc->svc_waitq != NULL &&
		    !up_any_usable(svc, gw_now_ms())) {
			up_fail_waiting(svc);
			continue;
		}
		/* Slots freed without a word (other workers, failed
		 * connects): one queued request per free slot. */
		for (j = 0; j < svc->svc_nins && svc->svc_waitq != NULL; j++)
			for (n = up_free_slots(svc->svc_ins[j]);
			    n > 0 && svc->svc_waitq != NULL; n--)
				up_slot_freed(svc->svc_ins[j]);
	}
}

int
up_usable(const struct instance *ins, uint64_t now)
{
	struct shm_ins *si;
	int ok;

	if (!lease_open(ins))
		return 0;
	if (shm == NULL)
		return 1;
	si = up_rec(ins);
	if (!atomic_load_explicit(&si->si_up, memory_order_relaxed) ||
	    atomic_load_explicit(&si->si_drain, memory_order_relaxed))
		return 0;
	if (atomic_load_explicit(&si->si_brk_state, memory_order_relaxed) ==
	    BRK_CLOSED)
		return 1;
	shm_lock(si);
	ok = brk_allows(&si->si_brk, &ins->ins_svc->svc_brk, now);
	shm_unlock(si);
	return ok;
}

/*
 * Claims the right to send one request to <ins>: free while its breaker
 * is closed, a trial when half-open. Returns 1, or 0 when another worker
 * took the last trial meanwhile.
 */
static int
up_claim(struct instance *ins, uint64_t now)
{
	struct shm_ins *si;
	enum brk_state before;
	int ok;

	if (shm == NULL)
		return 1;
	si = up_rec(ins);
	if (atomic_load_explicit(&si->si_brk_state, memory_order_relaxed) ==
	    BRK_CLOSED)
		return 1;
	shm_lock(si);
	before = si->si_brk.br_state;
	ok = brk_admit(&si->si_brk, &ins->ins_svc->svc_brk, now);
	atomic_store(&si->si_brk_state, si->si_brk.br_state);
	shm_unlock(si);
	if (before != si->si_brk.br_state)
		log_info("instance %s: breaker %s -> %s, sending a trial "
		    "request", ins->ins_name, brk_state_str(before),
		    brk_state_str(si->si_brk.br_state));
	return ok;
}

/* Smooth weighted round robin over the candidates not in <skip>. */
static struct instance *
up_wrr(struct service *svc, uint64_t skip, uint64_t now, int *busy)
{
	struct instance *ins, *best = NULL;
	int64_t total = 0;
	size_t i;

	for (i = 0; i < svc->svc_nins; i++) {
		ins = svc->svc_ins[i];
		if ((skip >> i) & 1 || !up_usable(ins, now))
			continue;
		if (!up_has_slot(ins)) {
			*busy = 1;
			continue;
		}
		ins->ins_cw += ins->ins_weight;
		total += ins->ins_weight;
		if (best == NULL || ins->ins_cw > best->ins_cw)
			best = ins;
	}
	if (best != NULL)
		best->ins_cw -= total;
	return best;
}

/* Whether <a> beats <b> for least-outstanding (fewer, then heavier). */
static int
up_less_busy(const struct instance *a, const struct instance *b)
{
	if (b == NULL || a->ins_outstanding != b->ins_outstanding)
		return b == NULL || a->ins_outstanding < b->ins_outstanding;
	return a->ins_weight > b->ins_weight;
}

/* Least outstanding requests; the scan starts at the rotating cursor so
 * that full ties take turns. */
static struct instance *
up_least(struct service *svc, uint64_t skip, uint64_t now, int *busy)
{
	struct instance *ins, *best = NULL;
	size_t i, k, n = svc->svc_nins, at = 0;

	for (k = 0; k < n; k++) {
		i = (svc->svc_rr + k) % n;
		ins = svc->svc_ins[i];
		if ((skip >> i) & 1 || !up_usable(ins, now))
			continue;
		if (!up_has_slot(ins)) {
			*busy = 1;
			continue;
		}
		if (up_less_busy(ins, best)) {
			best = ins;
			at = i;
		}
	}
	if (best != NULL)
		svc->svc_rr = (at + 1) % n;
	return best;
}

/* One pass of the balancer over the instances not in <skip>. */
static struct instance *
up_pick_from(struct service *svc, uint64_t skip, uint64_t now, int *busy)
{
	struct instance *ins;
	size_t tries;

	for (tries = 0; tries < svc->svc_nins && tries < UP_MAX_INS; tries++) {
		ins = svc->svc_balance == UP_BAL_LEAST ?
		    up_least(svc, skip, now, busy) :
		    up_wrr(svc, skip, now, busy);
		if (ins == NULL)
			return NULL;
		if (up_claim(ins, now))
			return ins;
		skip |= (uint64_t)1 << ins->ins_sidx;
	}
	return NULL;
}

struct instance *
up_pick(struct service *svc, uint64_t avoid, int *busy)
{
	struct instance *ins;
	uint64_t now = gw_now_ms();

	*busy = 0;
	if (svc->svc_nins == 0)
		return NULL;
	/* Requests already waiting keep their turn. */
	if (svc->svc_waitq != NULL) {
		*busy = up_any_usable(svc, now);
		return NULL;
	}
	if ((ins = up_pick_from(svc, avoid, now, busy)) != NULL || *busy ||
	    avoid == 0)
		return ins;
	/* Only instances that failed this request are left: one of them, on
	 * a fresh connection, beats a 503 (a pool restarting its workers
	 * answers again). */
	return up_pick_from(svc, 0, now, busy);
}

int
up_enqueue(struct service *svc, struct conn *c)
{
	int64_t max = gw->w_conf->gc_lim.lim_queue_length;

	if (shm != NULL ? atomic_load_explicit(&shm->sh_svc[svc->svc_slot].
	    ss_waiters, memory_order_relaxed) >= max :
	    (int64_t)svc->svc_nwait >= max) {
		metrics_reject(METRICS_REJ_QUEUE_FULL);
		return -1;
	}
	c->c_qnext = NULL;
	*svc->svc_waitq_tail = c;
	svc->svc_waitq_tail = &c->c_qnext;
	svc->svc_nwait++;
	if (shm != NULL)
		atomic_fetch_add(&shm->sh_svc[svc->svc_slot].ss_waiters, 1);
	return 0;
}

void
up_dequeue(struct service *svc, struct conn *c)
{
	struct conn **pp;

	for (pp = &svc->svc_waitq; *pp != NULL; pp = &(*pp)->c_qnext) {
		if (*pp != c)
			continue;
		*pp = c->c_qnext;
		if (svc->svc_waitq_tail == &c->c_qnext)
			svc->svc_waitq_tail = pp;
		c->c_qnext = NULL;
		svc->svc_nwait--;
		if (shm != NULL)
			atomic_fetch_sub(&shm->sh_svc[svc->svc_slot].ss_waiters,
			    1);
		return;
	}
}

void
up_slot_freed(struct instance *ins)
{
	struct service *svc = ins->ins_svc;
	struct conn *c;
	uint64_t now = gw_now_ms(), bit;

	/* Dispatched from the loop, not from here: this runs deep inside
	 * another exchange's completion. A slot on an instance that went
	 * down serves nobody; up_sweep() offers the waiting requests every
	 * usable instance each sweep. */
	if (svc->svc_waitq == NULL || !up_has_slot(ins) ||
	    !up_usable(ins, now))
		return;
	/* The first request in line this instance has not failed yet. One
	 * that failed here waits for another instance (a dead one frees
	 * its slots at once) unless no other is usable. */
	bit = ins->ins_sidx < 64 ? (uint64_t)1 << ins->ins_sidx : 0;
	for (c = svc->svc_waitq; c != NULL; c = c->c_qnext)
		if (!(c->c_r->r_tried & bit))
			break;
	if (c == NULL) {
		c = svc->svc_waitq;
		if (up_other_usable(svc, c->c_r->r_tried, now))
			return;
	}
	if (up_claim(ins, now)) {
		/* One request per freed slot. */
		up_dequeue(svc, c);
		c->c_r->r_ins = ins;
		c->c_flags |= CONN_F_DISPATCH;
		conn_later(c);
	}
}

void
up_outage_check(struct service *svc)
{
	struct shm_svc *ss;
	int any;

	if (shm == NULL)
		return;
	ss = &shm->sh_svc[svc->svc_slot];
	any = up_any_usable(svc, gw_now_ms());
	/* The exchange makes it once per outage across all workers. */
	if (!any && atomic_exchange(&ss->ss_outage, 1) == 0)
		log_warnx("no healthy instance for %s", svc->svc_name);
	else if (any && atomic_exchange(&ss->ss_outage, 0) == 1)
		log_info("service %s has a healthy instance again",
		    svc->svc_name);
}

void
up_report(struct instance *ins, int ok)
{
	const struct brk_conf *bc = &ins->ins_svc->svc_brk;
	struct shm_ins *si;
	enum brk_state before, after;
	uint64_t now = gw_now_ms(), opens;

	if (shm == NULL)
		return;
	si = up_rec(ins);
	if (!ok)
		atomic_fetch_add_explicit(&si->si_failures, 1,
		    memory_order_relaxed);
	else
		atomic_store_explicit(&si->si_last_ok, now,
		    memory_order_relaxed);
	shm_lock(si);
	before = si->si_brk.br_state;
	after = ok ? brk_success(&si->si_brk, bc, now) :
	    brk_failure(&si->si_brk, bc, now);
	opens = si->si_brk.br_opens;
	atomic_store(&si->si_brk_state, after);
	shm_unlock(si);
	if (before == after)
		return;
	if (after == BRK_OPEN)
		log_warnx("instance %s: breaker %s -> open for %llu ms "
		    "(opened %llu times)", ins->ins_name, brk_state_str(before),
		    (unsigned long long)bc->bc_cooldown,
		    (unsigned long long)opens);
	else
		log_info("instance %s: breaker %s -> %s", ins->ins_name,
		    brk_state_str(before), brk_state_str(after));
	up_outage_check(ins->ins_svc);
}

uint32_t
up_unavailable(struct service *svc)
{
	const struct brk_conf *bc = &svc->svc_brk;
	struct shm_ins *si;
	uint64_t now = gw_now_ms(), at = 0, t;
	size_t i;

	if (shm == NULL)
		return 0;
	for (i = 0; i < svc->svc_nins; i++) {
		si = up_rec(svc->svc_ins[i]);
		if (!atomic_load(&si->si_up))
			continue;
		shm_lock(si);
		t = brk_next_admit(&si->si_brk, bc, now);
		shm_unlock(si);
		if (t > now && (at == 0 || t < at))
			at = t;
	}
	up_outage_check(svc);
	if (at == 0) {
		metrics_reject(METRICS_REJ_NO_INSTANCE);
		return 0;
	}
	metrics_reject(METRICS_REJ_BREAKER_OPEN);
	return (uint32_t)((at - now + 999) / 1000);
}
