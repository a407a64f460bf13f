/*
 * up: instance choice and the per-service wait queue.
 *
 * An instance never gets more connections than its maxconn (a libfcgi
 * worker serves one connection at a time for as long as it stays open).
 * Requests that find every instance at capacity wait in an ordered queue
 * and are served first come, first served as slots free up; the timeout
 * sweep answers 503 to those that wait too long.
 */
#include <stddef.h>

#include "proxy.h"

static int
up_has_slot(const struct instance *ins)
{
	/* An idle pooled connection is a free slot too. */
	return ins->ins_idle != NULL || ins->ins_nconn < ins->ins_maxconn;
}

struct instance *
up_pick(struct service *svc, int *busy)
{
	struct instance *ins;
	size_t i, n = svc->svc_nins;

	*busy = 0;
	if (n == 0)
		return NULL;
	/* Requests already waiting keep their turn. */
	if (svc->svc_waitq != NULL) {
		*busy = 1;
		return NULL;
	}
	for (i = 0; i < n; i++) {
		ins = svc->svc_ins[(svc->svc_rr + i) % n];
		if (up_has_slot(ins)) {
			svc->svc_rr = (svc->svc_rr + i + 1) % n;
			return ins;
		}
		*busy = 1;
	}
	return NULL;
}

void
up_enqueue(struct service *svc, struct conn *c)
{
	c->c_qnext = NULL;
	*svc->svc_waitq_tail = c;
	svc->svc_waitq_tail = &c->c_qnext;
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
		return;
	}
}

void
up_slot_freed(struct instance *ins)
{
	struct service *svc = ins->ins_svc;
	struct conn *c;

	while ((c = svc->svc_waitq) != NULL && up_has_slot(ins)) {
		up_dequeue(svc, c);
		c->c_ins = ins;
		conn_dispatch(c);
	}
}
