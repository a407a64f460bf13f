/*
 * hc: active health checks. Worker 0 runs them for every instance and
 * writes the verdicts to the shared records, which all workers read.
 *
 * A check is a real FastCGI request, GET <path>, on its own non-blocking
 * connection through the client core (fcx.c; never a pooled one,
 * BEGIN_REQUEST without FCGI_KEEP_CONN, so the app closes it), counted
 * against the instance's maxconn like any exchange: it passes when a 2xx
 * CGI status arrives before END_REQUEST within the timeout, and gives no
 * verdict when every slot is taken by traffic. States (hc_set_state):
 *	IDLE        waiting for the next check (hc_timer: interval)
 *	CONNECTING  non-blocking connect (hc_timer: timeout from here on)
 *	SEND        writing BEGIN_REQUEST, PARAMS, empty STDIN
 *	RECV        reading STDOUT until END_REQUEST
 * Every check ends in exactly one hc_done(ins, reason) through hc_end().
 * Rise and fall counters decide up and down; only transitions are logged.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

#define HC_READ_CHUNK	4096
#define HC_HEAD_MAX	8192	/* CGI head bytes a check keeps */
#define HC_REQID	1

static const char *const hc_state_names[HC_ST_COUNT] = {
	"idle", "connecting", "send", "recv",
};

static const char *const hc_reason_names[HC_R_COUNT] = {
	"ok", "no socket", "connect failed", "timed out", "send failed",
	"closed before answering", "protocol error", "status not 2xx",
	"timed out while serving traffic",
};

static struct hc	*hc_all;	/* one per instance of the config */
static size_t		 hc_n;

const char *
hc_state_str(enum hc_state st)
{
	return st < HC_ST_COUNT ? hc_state_names[st] : "?";
}

const char *
hc_reason_str(enum hc_reason r)
{
	return r < HC_R_COUNT ? hc_reason_names[r] : "?";
}

static void
hc_set_state(struct hc *h, enum hc_state st)
{
	log_debug("%s: %s: %s -> %s", __func__, h->hc_ins->ins_name,
	    hc_state_str(h->hc_state), hc_state_str(st));
	h->hc_state = st;
}

static void	hc_io_cb(struct ev *, int, void *, uint32_t);

/* Applies a passed check to <si>; returns 1 when it brought it up. */
static int
hc_rise(struct shm_ins *si, const struct hc_conf *hk)
{
	atomic_store(&si->si_fall, 0);
	if (atomic_fetch_add(&si->si_rise, 1) + 1 < (uint32_t)hk->hk_rise)
		return 0;
	return atomic_exchange(&si->si_up, 1) == 0;
}

/* Applies a failed check to <si>; returns 1 when it took it down. */
static int
hc_fall(struct shm_ins *si, const struct hc_conf *hk)
{
	atomic_store(&si->si_rise, 0);
	atomic_fetch_add_explicit(&si->si_check_fails, 1,
	    memory_order_relaxed);
	if (atomic_fetch_add(&si->si_fall, 1) + 1 < (uint32_t)hk->hk_fall)
		return 0;
	return atomic_exchange(&si->si_up, 0) == 1;
}

void
hc_done(struct instance *ins, enum hc_reason reason)
{
	const struct hc_conf *hk = &ins->ins_svc->svc_hc;
	struct shm_ins *si = &shm->sh_ins[ins->ins_slot];

	log_debug("%s: %s: %s", __func__, ins->ins_name,
	    hc_reason_str(reason));
	atomic_fetch_add_explicit(&si->si_checks, 1, memory_order_relaxed);
	atomic_store(&si->si_reason, reason);
	if (reason == HC_R_BUSY)
		return;
	if (reason == HC_R_OK) {
		if (!hc_rise(si, hk))
			return;
		log_info("instance %s is up (%lld checks passed)",
		    ins->ins_name, (long long)hk->hk_rise);
		/* A fresh start: the failures that opened its breaker were
		 * those of the outage the checks just saw end. */
		shm_lock(si);
		brk_reset(&si->si_brk, util_now_ms());
		atomic_store(&si->si_brk_state, si->si_brk.br_state);
		shm_unlock(si);
	} else {
		if (!hc_fall(si, hk))
			return;
		log_warnx("instance %s is down: %s (%lld checks failed)",
		    ins->ins_name, hc_reason_str(reason),
		    (long long)hk->hk_fall);
	}
	up_outage_check(ins->ins_svc);
}

/* Ends the running check with <reason> and schedules the next one. */
static void
hc_end(struct hc *h, enum hc_reason reason)
{
	if (h->hc_fd != -1) {
		ev_del(&gw->w_ev, h->hc_fd);
		close(h->hc_fd);
		h->hc_fd = -1;
	}
	if (h->hc_slot) {
		up_conn_closed(h->hc_ins);
		h->hc_slot = 0;
	}
	buf_reset(&h->hc_out);
	buf_reset(&h->hc_in);
	buf_reset(&h->hc_head);
	hc_set_state(h, HC_ST_IDLE);
	if (reason == HC_R_TIMEOUT || reason == HC_R_BUSY)
		/* Idle pooled connections may hold every app worker, so the
		 * check waited in the backlog: ask each worker to give one
		 * back before the next check. */
		atomic_fetch_add(&shm->sh_ins[h->hc_ins->ins_slot].si_trim, 1);
	ev_timer_set(&gw->w_ev, &h->hc_timer,
	    h->hc_ins->ins_svc->svc_hc.hk_interval);
	hc_done(h->hc_ins, reason);
}

/* Queues BEGIN_REQUEST (no keep-conn), PARAMS and the empty STDIN. */
static void
hc_build(struct hc *h)
{
	sub_build_get(&h->hc_out, HC_REQID,
	    h->hc_ins->ins_svc->svc_hc.hk_path, "health-check");
}

/*
 * A check that timed out while real exchanges with the instance kept
 * succeeding waited behind them (an app worker serves one connection at a
 * time): no verdict then. Otherwise it is a failure.
 */
static enum hc_reason
hc_timeout_reason(const struct hc *h)
{
	const struct shm_ins *si = &shm->sh_ins[h->hc_ins->ins_slot];

	if (atomic_load_explicit(&si->si_last_ok, memory_order_relaxed) >=
	    h->hc_started)
		return HC_R_BUSY;
	return HC_R_TIMEOUT;
}

/* Timer: start a check (IDLE), or give up on the running one. */
static void
hc_timer_cb(struct ev *ev, void *arg)
{
	struct hc *h = arg;
	struct instance *ins = h->hc_ins;
	int fd, rc;

	if (h->hc_state != HC_ST_IDLE) {
		hc_end(h, hc_timeout_reason(h));
		return;
	}
	h->hc_started = util_now_ms();
	ev_timer_set(ev, &h->hc_timer, ins->ins_svc->svc_hc.hk_timeout);
	/* A check is an exchange like any other: it takes one of the
	 * instance's maxconn slots, and finds none when traffic holds them
	 * all, which says the instance is busy, not down. */
	if (!up_conn_open(ins)) {
		hc_end(h, HC_R_BUSY);
		return;
	}
	h->hc_slot = 1;
	if ((rc = fcx_connect(ins, &fd)) != 0) {
		hc_end(h, rc == -1 ? HC_R_SOCKET : HC_R_CONNECT);
		return;
	}
	h->hc_fd = fd;
	if (ev_add(ev, fd, hc_io_cb, h) == -1) {
		close(fd);
		h->hc_fd = -1;
		hc_end(h, HC_R_SOCKET);
		return;
	}
	hc_set_state(h, HC_ST_CONNECTING);
	h->hc_status = 0;
	h->hc_verdict = HC_R_COUNT;
	fcgi_dec_init(&h->hc_dec, HC_REQID);
	hc_build(h);
}

/* STDOUT bytes: only the CGI head matters. Returns a reason to end with,
 * or HC_R_COUNT to go on. */
static enum hc_reason
hc_stdout(struct hc *h, struct str s)
{
	static struct fcgi_cgi_head head;
	struct fcgi_head_limits lim;
	ssize_t n;

	if (h->hc_status != 0)
		return HC_R_COUNT;
	if (buf_avail(&h->hc_head) + s.len > HC_HEAD_MAX)
		return HC_R_PROTOCOL;
	buf_append(&h->hc_head, s.p, s.len);
	lim.hl_max_bytes = HC_HEAD_MAX;
	lim.hl_max_headers = FCGI_CGI_MAX_HEADERS;
	n = fcgi_parse_cgi_head(buf_data(&h->hc_head), buf_avail(&h->hc_head),
	    &lim, &head);
	if (n == FCGI_AGAIN)
		return HC_R_COUNT;
	if (n == FCGI_BAD)
		return HC_R_PROTOCOL;
	h->hc_status = head.ch_status;
	return HC_R_COUNT;
}

/* One decoded record of the check's answer: sets hc_verdict and says
 * stop once the check has one. */
static int
hc_event(void *arg, const struct fcgi_event *e)
{
	struct hc *h = arg;
	enum hc_reason r;

	switch (e->ev_type) {
	case FCGI_EV_STDOUT:
		if ((r = hc_stdout(h, e->ev_data)) == HC_R_COUNT)
			return 0;
		h->hc_verdict = r;
		return -1;
	case FCGI_EV_END:
		if (h->hc_status == 0)
			h->hc_verdict = HC_R_PROTOCOL;
		else
			h->hc_verdict = h->hc_status >= 200 &&
			    h->hc_status < 300 ? HC_R_OK : HC_R_STATUS;
		return -1;
	case FCGI_EV_ERROR:
		h->hc_verdict = HC_R_PROTOCOL;
		return -1;
	default:
		return 0;
	}
}

/* Reads what arrived. Returns an ending reason or HC_R_COUNT. */
static enum hc_reason
hc_read(struct hc *h)
{
	size_t got;

	for (;;) {
		switch (fcx_read(h->hc_fd, &h->hc_in, HC_READ_CHUNK, &got)) {
		case FCX_AGAIN:
			return HC_R_COUNT;
		case FCX_OK:
			break;
		default:
			return HC_R_CLOSED;
		}
		if (fcx_decode(&h->hc_dec, &h->hc_in, hc_event, h) == -1)
			return h->hc_verdict;
		buf_compact(&h->hc_in);
	}
}

/* Writes the queued request. Returns an ending reason or HC_R_COUNT. */
static enum hc_reason
hc_write(struct hc *h)
{
	size_t sent = 0;

	switch (fcx_write(h->hc_fd, &h->hc_out, &sent)) {
	case FCX_AGAIN:
		return HC_R_COUNT;
	case FCX_OK:
		hc_set_state(h, HC_ST_RECV);
		return HC_R_COUNT;
	default:
		return HC_R_SEND;
	}
}

static enum hc_reason
hc_connected(struct hc *h)
{
	if (fcx_connected(h->hc_fd) == -1)
		return HC_R_CONNECT;
	hc_set_state(h, HC_ST_SEND);
	return HC_R_COUNT;
}

/* One I/O step per state; returns an ending reason or HC_R_COUNT. */
static enum hc_reason
hc_step(struct hc *h, uint32_t events)
{
	enum hc_reason r = HC_R_COUNT;

	switch (h->hc_state) {
	case HC_ST_CONNECTING:
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return HC_R_COUNT;
		if ((r = hc_connected(h)) != HC_R_COUNT)
			return r;
		/* FALLTHROUGH */
	case HC_ST_SEND:
		if ((r = hc_write(h)) != HC_R_COUNT ||
		    h->hc_state != HC_ST_RECV)
			return r;
		/* FALLTHROUGH */
	case HC_ST_RECV:
		return hc_read(h);
	default:
		return HC_R_COUNT;
	}
}

static void
hc_io_cb(struct ev *ev, int fd, void *arg, uint32_t events)
{
	struct hc *h = arg;
	enum hc_reason r;

	(void)ev;
	(void)fd;
	if ((r = hc_step(h, events)) != HC_R_COUNT)
		hc_end(h, r);
}

int
hc_start(struct gw_conf *gc)
{
	const struct hc_conf *hk;
	struct hc *h;
	size_t i;

	hc_all = xcalloc(gc->gc_ninstances + 1, sizeof(*hc_all));
	hc_n = gc->gc_ninstances;
	for (i = 0; i < hc_n; i++) {
		h = &hc_all[i];
		h->hc_ins = &gc->gc_instances[i];
		h->hc_fd = -1;
		h->hc_state = HC_ST_IDLE;
		h->hc_timer.et_cb = hc_timer_cb;
		h->hc_timer.et_arg = h;
		hk = &h->hc_ins->ins_svc->svc_hc;
		if (!hk->hk_enabled)
			continue;
		/* Spread the first checks over one interval. */
		ev_timer_set(&gw->w_ev, &h->hc_timer,
		    1 + hk->hk_interval * i / (hc_n + 1));
	}
	log_debug("%s: %zu instances checked", __func__, hc_n);
	return 0;
}

/* Ends <h>'s running check, if any, without a verdict. */
static void
hc_halt(struct hc *h)
{
	ev_timer_del(&gw->w_ev, &h->hc_timer);
	if (h->hc_fd != -1) {
		ev_del(&gw->w_ev, h->hc_fd);
		close(h->hc_fd);
		h->hc_fd = -1;
	}
	if (h->hc_slot)
		up_conn_closed(h->hc_ins);
	h->hc_slot = 0;
	buf_release(&h->hc_out);
	buf_release(&h->hc_in);
	buf_release(&h->hc_head);
}

void
hc_lease_add(struct instance *ins)
{
	struct hc *h;

	if (hc_all == NULL || ins->ins_hc != NULL ||
	    !ins->ins_svc->svc_hc.hk_enabled)
		return;
	h = xcalloc(1, sizeof(*h));
	h->hc_ins = ins;
	h->hc_fd = -1;
	h->hc_state = HC_ST_IDLE;
	h->hc_timer.et_cb = hc_timer_cb;
	h->hc_timer.et_arg = h;
	ins->ins_hc = h;
	/* The first check soon: it confirms the instance the lease
	 * brought in (up from the start) or takes it down. */
	ev_timer_set(&gw->w_ev, &h->hc_timer, 1);
}

void
hc_lease_del(struct instance *ins)
{
	struct hc *h = ins->ins_hc;

	if (h == NULL)
		return;
	hc_halt(h);
	free(h);
	ins->ins_hc = NULL;
}

void
hc_stop(void)
{
	struct instance *ins;
	struct hc *h;
	size_t i;

	for (ins = lease_list(); ins != NULL; ins = ins->ins_lnext)
		hc_lease_del(ins);
	for (i = 0; i < hc_n; i++) {
		h = &hc_all[i];
		ev_timer_del(&gw->w_ev, &h->hc_timer);
		if (h->hc_fd != -1) {
			ev_del(&gw->w_ev, h->hc_fd);
			close(h->hc_fd);
		}
		if (h->hc_slot)
			up_conn_closed(h->hc_ins);
		buf_release(&h->hc_out);
		buf_release(&h->hc_in);
		buf_release(&h->hc_head);
	}
	free(hc_all);
	hc_all = NULL;
	hc_n = 0;
}
