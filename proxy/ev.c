/*
 * ev: the per-worker epoll event loop (after Redis ae.c/ae_epoll.c).
 *
 * Sockets are registered once, edge-triggered, for both directions; the
 * callback receives the ready mask and the owner keeps "can read" / "can
 * write" state until it sees EAGAIN. Listening sockets are level-triggered
 * with EPOLLEXCLUSIVE so several workers share them without a thundering
 * herd. Timers are monotonic deadlines; there are few of them (sweeps and
 * health checks), so they live in a small array.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

#define EV_BATCH	256

int
ev_init(struct ev *ev, int maxfds)
{
	memset(ev, 0, sizeof(*ev));
	if ((ev->ev_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	ev->ev_maxfds = maxfds;
	ev->ev_fds = xcalloc((size_t)maxfds, sizeof(*ev->ev_fds));
	ev->ev_events = xcalloc(EV_BATCH, sizeof(*ev->ev_events));
	ev->ev_now = util_now_ms();
	return 0;
}

void
ev_release(struct ev *ev)
{
	if (ev->ev_epfd != -1)
		close(ev->ev_epfd);
	free(ev->ev_fds);
	ev->ev_fds = NULL;
	free(ev->ev_events);
	ev->ev_events = NULL;
	free(ev->ev_timers);
	ev->ev_timers = NULL;
}

static int
ev_ctl(struct ev *ev, int op, int fd, uint32_t events)
{
	struct epoll_event ee;

	memset(&ee, 0, sizeof(ee));
	ee.events = events;
	ee.data.fd = fd;
	return epoll_ctl(ev->ev_epfd, op, fd, &ee);
}

int
ev_add(struct ev *ev, int fd, ev_cb cb, void *arg)
{
	if (fd < 0 || fd >= ev->ev_maxfds) {
		errno = EMFILE;
		return -1;
	}
	if (ev_ctl(ev, EPOLL_CTL_ADD, fd,
	    EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) == -1)
		return -1;
	ev->ev_fds[fd].ef_cb = cb;
	ev->ev_fds[fd].ef_arg = arg;
	return 0;
}

int
ev_add_listener(struct ev *ev, int fd, ev_cb cb, void *arg)
{
	if (fd < 0 || fd >= ev->ev_maxfds) {
		errno = EMFILE;
		return -1;
	}
	if (ev_ctl(ev, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLEXCLUSIVE) == -1)
		return -1;
	ev->ev_fds[fd].ef_cb = cb;
	ev->ev_fds[fd].ef_arg = arg;
	return 0;
}

void
ev_del(struct ev *ev, int fd)
{
	if (fd < 0 || fd >= ev->ev_maxfds || ev->ev_fds[fd].ef_cb == NULL)
		return;
	/* Closing the fd removes it too; this also covers shared fds. */
	(void)ev_ctl(ev, EPOLL_CTL_DEL, fd, 0);
	ev->ev_fds[fd].ef_cb = NULL;
	ev->ev_fds[fd].ef_arg = NULL;
	ev->ev_fds[fd].ef_early = 0;
}

void
ev_set_early(struct ev *ev, int fd, int on)
{
	if (fd >= 0 && fd < ev->ev_maxfds)
		ev->ev_fds[fd].ef_early = on;
}

void
ev_timer_set(struct ev *ev, struct ev_timer *t, uint64_t after_ms)
{
	size_t i;

	t->et_at = util_now_ms() + after_ms;
	if (t->et_active)
		return;
	for (i = 0; i < ev->ev_ntimers; i++)
		if (ev->ev_timers[i] == NULL)
			break;
	if (i == ev->ev_ntimers) {
		ev->ev_timers = xrealloc(ev->ev_timers,
		    (ev->ev_ntimers + 1) * sizeof(*ev->ev_timers));
		ev->ev_ntimers++;
	}
	ev->ev_timers[i] = t;
	t->et_active = 1;
}

void
ev_timer_del(struct ev *ev, struct ev_timer *t)
{
	size_t i;

	for (i = 0; i < ev->ev_ntimers; i++)
		if (ev->ev_timers[i] == t)
			ev->ev_timers[i] = NULL;
	t->et_active = 0;
}

/* Milliseconds until the next timer (capped), for epoll_wait. */
static int
ev_next_wait(struct ev *ev, uint64_t now)
{
	uint64_t next = now + 1000;
	size_t i;

	for (i = 0; i < ev->ev_ntimers; i++)
		if (ev->ev_timers[i] != NULL && ev->ev_timers[i]->et_at < next)
			next = ev->ev_timers[i]->et_at;
	return next <= now ? 0 : (int)(next - now);
}

static void
ev_run_timers(struct ev *ev)
{
	uint64_t now = util_now_ms();
	struct ev_timer *t;
	size_t i;

	ev->ev_now = now;
	for (i = 0; i < ev->ev_ntimers; i++) {
		t = ev->ev_timers[i];
		if (t == NULL || t->et_at > now)
			continue;
		ev->ev_timers[i] = NULL;
		t->et_active = 0;
		t->et_cb(ev, t->et_arg);
	}
}

void
ev_run(struct ev *ev)
{
	struct epoll_event *ee;
	struct ev_fd *ef;
	int i, n, fd;

	while (!ev->ev_stop) {
		if (ev->ev_before_sleep != NULL)
			ev->ev_before_sleep(ev, ev->ev_before_arg);
		n = epoll_wait(ev->ev_epfd, ev->ev_events, EV_BATCH,
		    ev_next_wait(ev, util_now_ms()));
		if (n == -1) {
			if (errno != EINTR)
				log_warn("epoll_wait");
			n = 0;
		}
		ev->ev_gen++;
		ev->ev_now = util_now_ms();
		ev->ev_partial = n == EV_BATCH;
		/* The early ones first; a handled event gets fd -1. */
		for (i = 0; i < n; i++) {
			ee = &ev->ev_events[i];
			fd = ee->data.fd;
			ef = &ev->ev_fds[fd];
			if (ef->ef_early && ef->ef_cb != NULL) {
				ee->data.fd = -1;
				ef->ef_cb(ev, fd, ef->ef_arg, ee->events);
			}
		}
		for (i = 0; i < n; i++) {
			ee = &ev->ev_events[i];
			if ((fd = ee->data.fd) == -1)
				continue;
			ef = &ev->ev_fds[fd];
			if (ef->ef_cb != NULL)
				ef->ef_cb(ev, fd, ef->ef_arg, ee->events);
		}
		ev_run_timers(ev);
	}
}
