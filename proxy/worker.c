/*
 * worker: one gateway worker process: the event loop over the shared
 * listeners, its signals (through a signalfd), the timeout sweep and the
 * deferred frees.
 */
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>

#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

#define WORKER_SWEEP_MS	250
#define WORKER_TRIM_QUIET_MS 500 /* no request ended for this long: trim */
#define WORKER_BUF_CACHE 64	/* freed buffer blocks kept per size class */

struct gw_worker	*gw;
static struct gw_worker	 worker;

static void
worker_before_sleep(struct ev *ev, void *arg)
{
	(void)ev;
	(void)arg;
	tok_resume();
	conn_run_later();
	conn_reap();
	be_reap();
	sub_reap();
}

static void
worker_drain_check(void)
{
	if (!gw->w_draining)
		return;
	if (gw->w_nconns == 0 || util_now_ms() >= gw->w_drain_until)
		gw->w_ev.ev_stop = 1;
}

/*
 * Gives the memory of freed request buffers back to the kernel once the
 * worker goes quiet. Requests free their buffers when they end, but the
 * heap keeps the pages, interleaved with the connections that stay: after
 * a burst, thousands of idle keep-alive connections would cost what the
 * burst's buffers did (HAProxy trims its pools the same way). Under steady
 * traffic nothing is trimmed: the next request reuses the memory.
 */
static void
worker_trim(uint64_t now)
{
	if (!gw->w_trim_due || now - gw->w_last_end < WORKER_TRIM_QUIET_MS)
		return;
	gw->w_trim_due = 0;
	buf_cache_drop();
	(void)malloc_trim(0);
}

static void
worker_sweep_cb(struct ev *ev, void *arg)
{
	uint64_t now = util_now_ms();

	(void)arg;
	conn_sweep(now);
	be_sweep(now);
	lease_sync();
	up_sweep();
	tok_sweep(now);
	worker_trim(now);
	worker_drain_check();
	ev_timer_set(ev, &gw->w_sweep, WORKER_SWEEP_MS);
}

static void
worker_stop_listening(void)
{
	size_t i;

	for (i = 0; i < gw->w_conf->gc_nlisten; i++) {
		ev_del(&gw->w_ev, gw->w_conf->gc_listen[i].l_fd);
		/* Our copy only; the master and a new generation keep
		 * theirs, so no connection is refused during a reload. */
		close(gw->w_conf->gc_listen[i].l_fd);
		gw->w_conf->gc_listen[i].l_fd = -1;
	}
}

static void
worker_open_access(void)
{
	const char *path = gw->w_conf->gc_access_log;

	if (gw->w_access_fd != -1)
		close(gw->w_access_fd);
	gw->w_access_fd = -1;
	if (path == NULL || *path == '\0')
		return;
	gw->w_access_fd = open(path, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0640);
	if (gw->w_access_fd == -1)
		log_warn("access log %s", path);
}

static void
worker_signal_cb(struct ev *ev, int fd, void *arg, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)ev;
	(void)arg;
	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			log_reopen();
			worker_open_access();
		} else if (si.ssi_signo == SIGTERM && !gw->w_draining) {
			gw->w_draining = 1;
			gw->w_drain_until = util_now_ms() +
			    gw->w_conf->gc_to.to_drain;
			worker_stop_listening();
			hc_stop();
			conn_drain();
			/* Idle backend connections go back now, not at exit:
			 * the next generation needs their slots. */
			up_sweep();
			worker_drain_check();
		}
	}
}

static int
worker_setup(struct gw_conf *gc)
{
	struct rlimit rl;
	sigset_t set;
	size_t i;

	memset(&worker, 0, sizeof(worker));
	gw = &worker;
	gw->w_conf = gc;
	gw->w_access_fd = -1;
	if (getrandom(&gw->w_idseed, sizeof(gw->w_idseed), 0) == -1)
		gw->w_idseed = (uint32_t)getpid();
	/* Buffers come and go with every request: reuse their blocks. */
	buf_cache_enable(WORKER_BUF_CACHE);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur > 1048576)
		rl.rlim_cur = 65536;
	if (ev_init(&gw->w_ev, (int)rl.rlim_cur) == -1)
		return -1;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	gw->w_sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (gw->w_sigfd == -1 || ev_add(&gw->w_ev, gw->w_sigfd,
	    worker_signal_cb, NULL) == -1)
		return -1;
	/* The keys before the traffic: the shared copy, or a fetch. */
	tok_init();
	for (i = 0; i < gc->gc_nlisten; i++)
		if (ev_add_listener(&gw->w_ev, gc->gc_listen[i].l_fd,
		    conn_accept_cb, &gc->gc_listen[i]) == -1)
			return -1;
	worker_open_access();
	gw->w_ev.ev_before_sleep = worker_before_sleep;
	gw->w_sweep.et_cb = worker_sweep_cb;
	ev_timer_set(&gw->w_ev, &gw->w_sweep, WORKER_SWEEP_MS);
	return 0;
}

/*
 * Drops root for good once the listeners and logs are open: the workers
 * parse untrusted input and need no privilege. Returns 0 or -1.
 */
static int
worker_drop_privileges(const struct gw_conf *gc)
{
	uid_t r, e, s;

	if (*gc->gc_user == '\0' || geteuid() != 0)
		return 0;
	if (setgroups(1, &gc->gc_gid) == -1 ||
	    setresgid(gc->gc_gid, gc->gc_gid, gc->gc_gid) == -1 ||
	    setresuid(gc->gc_uid, gc->gc_uid, gc->gc_uid) == -1)
		return -1;
	/* Never regained: check that root is really gone. */
	if (getresuid(&r, &e, &s) == -1 || r == 0 || e == 0 || s == 0 ||
	    setuid(0) != -1)
		return -1;
	return 0;
}

int
worker_run(struct gw_conf *gc, int idx)
{
	if (worker_setup(gc) == -1) {
		log_warn("worker setup");
		return 1;
	}
	if (worker_drop_privileges(gc) == -1) {
		log_warn("cannot run as user %s", gc->gc_user);
		return 1;
	}
	gw->w_idx = idx;
	if (shm != NULL && (gw->w_proc = shm_proc_claim()) == NULL)
		log_warnx("no shared process record: connections not counted");
	/* One worker checks for all; a restarted worker 0 takes over. */
	if (idx == 0 && shm != NULL && hc_start(gc) == -1)
		log_warnx("active health checks not started");
	/* The leased instances before the first request. */
	lease_sync();
	log_debug("%s: worker %d ready", __func__, idx);
	ev_run(&gw->w_ev);
	hc_stop();
	tok_release();
	worker_before_sleep(&gw->w_ev, NULL);
	ev_release(&gw->w_ev);
	/* Idle pooled connections die with the process: give their slots
	 * back so other workers can use them at once. */
	shm_proc_release(gw->w_proc);
	gw->w_proc = NULL;
	return 0;
}
