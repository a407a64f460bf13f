/*
 * sub: internal subrequests. One FastCGI GET of a path on an instance,
 * over a connection of its own (never one of the request pool) through
 * the client core (fcx.c), counted against the instance's maxconn like
 * any exchange, with its own deadline, delivering the status and a
 * bounded body to a callback.
 * The gateway uses it to fetch the identity provider's JWKS; the master
 * runs the same exchange blocking, under poll(), before it forks the
 * workers (sub_get_sync).
 *
 * Exactly one callback per subrequest: with the CGI status and body on
 * END_REQUEST, or with status 0 on any failure (connect, timeout, protocol
 * error, body over the limit). The subrequest is freed by the before-sleep
 * hook after its callback, never inside it.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

#define SUB_REQID	1

struct sub {
	struct instance	*sb_ins;
	int		 sb_fd;
	int		 sb_done;
	int		 sb_sync;	/* sub_get_sync: no event loop */
	int		 sb_slot;	/* holds one of the maxconn slots */
	size_t		 sb_max;
	struct buf	 sb_out;
	struct buf	 sb_in;
	struct buf	 sb_resp;	/* STDOUT bytes: head then body */
	struct fcgi_dec	 sb_dec;
	struct ev_timer	 sb_timer;
	sub_done_cb	 sb_cb;
	void		*sb_arg;
	struct sub	*sb_next;	/* closing list */
};

static struct sub	*sub_closing;

static void	sub_io_cb(struct ev *, int, void *, uint32_t);

static void
sub_param(struct fcgi_params *w, const char *name, const char *value)
{
	(void)fcgi_params_add(w, str_make(name, strlen(name)),
	    str_make(value, strlen(value)));
}

void
sub_build_get(struct buf *out, uint16_t reqid, const char *path,
    const char *who)
{
	struct fcgi_params w;

	buf_reserve(out, 1024 + 3 * strlen(path) + strlen(who));
	buf_commit(out, fcgi_put_begin(buf_tail(out), buf_room(out), reqid,
	    0));
	fcgi_params_init(&w, buf_tail(out), buf_room(out), reqid);
	sub_param(&w, "GATEWAY_INTERFACE", "CGI/1.1");
	sub_param(&w, "SERVER_SOFTWARE", "elp-gateway");
	sub_param(&w, "SERVER_PROTOCOL", "HTTP/1.1");
	sub_param(&w, "SERVER_NAME", who);
	sub_param(&w, "REQUEST_METHOD", "GET");
	sub_param(&w, "SCRIPT_NAME", path);
	sub_param(&w, "PATH_INFO", "");
	sub_param(&w, "DOCUMENT_URI", path);
	sub_param(&w, "REQUEST_URI", path);
	sub_param(&w, "QUERY_STRING", "");
	sub_param(&w, "REMOTE_ADDR", "127.0.0.1");
	sub_param(&w, "REMOTE_PORT", "0");
	sub_param(&w, "REQUEST_ID", who);
	sub_param(&w, "HTTP_USER_AGENT", "elp-gateway");
	buf_commit(out, fcgi_params_end(&w, 1));
	buf_reserve(out, FCGI_HEADER_LEN);
	buf_commit(out, fcgi_put_stdin_header(buf_tail(out), buf_room(out),
	    reqid, 0));
}

/* Gives back the maxconn slot <s> held, if any. */
static void
sub_unslot(struct sub *s)
{
	if (s->sb_slot)
		up_conn_closed(s->sb_ins);
	s->sb_slot = 0;
}

/* Ends <s> with one callback, then queues it for the free. */
static void
sub_finish(struct sub *s, int status, struct str body)
{
	if (s->sb_done)
		return;
	s->sb_done = 1;
	if (s->sb_sync) {
		s->sb_cb(s->sb_arg, status, body);
		return;
	}
	ev_timer_del(&gw->w_ev, &s->sb_timer);
	if (s->sb_fd != -1) {
		ev_del(&gw->w_ev, s->sb_fd);
		/* Closed before the callback, which may start the next
		 * subrequest to the same peer: one at a time means one
		 * connection at a time. */
		close(s->sb_fd);
		s->sb_fd = -1;
	}
	sub_unslot(s);
	s->sb_cb(s->sb_arg, status, body);
	s->sb_next = sub_closing;
	sub_closing = s;
}

static void
sub_fail(struct sub *s, const char *why)
{
	log_warnx("%s: subrequest failed: %s", s->sb_ins->ins_name, why);
	sub_finish(s, 0, STR_NULL);
}

static void
sub_timeout_cb(struct ev *ev, void *arg)
{
	(void)ev;
	sub_fail(arg, "timed out");
}

/* A non-blocking socket connecting to <ins>, or -1. */
static int
sub_connect(const struct instance *ins)
{
	int fd;

	return fcx_connect(ins, &fd) == 0 ? fd : -1;
}

/* Readies <s> on <fd> for "GET <path>" with its callback. */
static void
sub_setup(struct sub *s, struct instance *ins, int fd, const char *path,
    size_t max)
{
	s->sb_ins = ins;
	s->sb_fd = fd;
	s->sb_max = max;
	fcgi_dec_init(&s->sb_dec, SUB_REQID);
	sub_build_get(&s->sb_out, SUB_REQID, path, "gateway-subrequest");
}

struct sub *
sub_get(struct instance *ins, const char *path, uint64_t timeout,
    size_t max, sub_done_cb cb, void *arg)
{
	struct sub *s;
	int fd;

	if (!up_conn_open(ins))
		return NULL;	/* every slot busy: the caller tries later */
	if ((fd = sub_connect(ins)) == -1) {
		up_conn_closed(ins);
		return NULL;
	}
	if (ev_add(&gw->w_ev, fd, sub_io_cb, NULL) == -1) {
		close(fd);
		up_conn_closed(ins);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	sub_setup(s, ins, fd, path, max);
	s->sb_slot = 1;
	s->sb_cb = cb;
	s->sb_arg = arg;
	gw->w_ev.ev_fds[fd].ef_arg = s;
	s->sb_timer.et_cb = sub_timeout_cb;
	s->sb_timer.et_arg = s;
	ev_timer_set(&gw->w_ev, &s->sb_timer, timeout);
	return s;
}

void
sub_cancel(struct sub *s)
{
	if (s == NULL || s->sb_done)
		return;
	s->sb_cb = NULL;
	s->sb_done = 1;
	ev_timer_del(&gw->w_ev, &s->sb_timer);
	ev_del(&gw->w_ev, s->sb_fd);
	sub_unslot(s);
	s->sb_next = sub_closing;
	sub_closing = s;
}

void
sub_reap(void)
{
	struct sub *s;

	while ((s = sub_closing) != NULL) {
		sub_closing = s->sb_next;
		if (s->sb_fd != -1)
			close(s->sb_fd);
		buf_release(&s->sb_out);
		buf_release(&s->sb_in);
		buf_release(&s->sb_resp);
		free(s);
	}
}

/* END_REQUEST: parse the CGI head of what STDOUT carried, deliver. */
static void
sub_end(struct sub *s)
{
	struct fcgi_cgi_head *head = xmalloc(sizeof(*head));
	struct fcgi_head_limits lim = { 16384, FCGI_CGI_MAX_HEADERS };
	ssize_t n;

	n = fcgi_parse_cgi_head(buf_data(&s->sb_resp), buf_avail(&s->sb_resp),
	    &lim, head);
	if (n < 0)
		sub_fail(s, "invalid response head");
	else
		sub_finish(s, head->ch_status, str_make(buf_data(&s->sb_resp) +
		    n, buf_avail(&s->sb_resp) - (size_t)n));
	free(head);
}

/* One decoded record of the answer: 0 to go on, -1 once finished. */
static int
sub_event(void *arg, const struct fcgi_event *e)
{
	struct sub *s = arg;

	switch (e->ev_type) {
	case FCGI_EV_ERROR:
		sub_fail(s, fcgi_err_str(e->ev_err));
		return -1;
	case FCGI_EV_STDOUT:
		if (buf_avail(&s->sb_resp) + e->ev_data.len > s->sb_max) {
			sub_fail(s, "response too large");
			return -1;
		}
		buf_append(&s->sb_resp, e->ev_data.p, e->ev_data.len);
		return 0;
	case FCGI_EV_STDERR:
		fcx_stderr(s->sb_ins, "gateway-subrequest", e->ev_data);
		return 0;
	case FCGI_EV_END:
		sub_end(s);
		return -1;
	default:
		return 0;
	}
}

static void
sub_io(struct sub *s, uint32_t events)
{
	size_t n = 0;

	if ((events & EPOLLOUT) && buf_avail(&s->sb_out) > 0 &&
	    fcx_write(s->sb_fd, &s->sb_out, &n) == FCX_ERR) {
		sub_fail(s, "cannot send");
		return;
	}
	while (!s->sb_done) {
		switch (fcx_read(s->sb_fd, &s->sb_in, 16384, &n)) {
		case FCX_AGAIN:
			return;
		case FCX_OK:
			break;
		default:
			sub_fail(s, "connection closed before the response");
			return;
		}
		if (fcx_decode(&s->sb_dec, &s->sb_in, sub_event, s) == -1)
			return;
		buf_compact(&s->sb_in);
	}
}

static void
sub_io_cb(struct ev *ev, int fd, void *arg, uint32_t events)
{
	(void)ev;
	(void)fd;
	sub_io(arg, events);
}

/* Where sub_get_sync() keeps the outcome. */
struct sub_result {
	int		 sr_status;
	struct buf	*sr_body;
};

static void
sub_sync_cb(void *arg, int status, struct str body)
{
	struct sub_result *r = arg;

	r->sr_status = status;
	if (status != 0)
		buf_append(r->sr_body, body.p, body.len);
}

/* One poll() round of <s>: 0 to go on, -1 when the deadline passed. */
static int
sub_sync_round(struct sub *s, uint64_t deadline)
{
	struct pollfd pfd;
	uint64_t now = util_now_ms();
	int n;

	if (now >= deadline)
		return -1;
	pfd.fd = s->sb_fd;
	pfd.events = POLLIN | (buf_avail(&s->sb_out) > 0 ? POLLOUT : 0);
	pfd.revents = 0;
	n = poll(&pfd, 1, (int)(deadline - now));
	if (n == -1 && errno != EINTR)
		sub_fail(s, "poll failed");
	else if (n > 0)
		sub_io(s, (pfd.revents & POLLOUT ? EPOLLOUT : 0) | EPOLLIN);
	return 0;
}

int
sub_get_sync(struct instance *ins, const char *path, uint64_t timeout,
    size_t max, struct buf *body)
{
	struct sub_result r = { 0, body };
	struct sub s;
	uint64_t deadline = util_now_ms() + timeout;
	int fd;

	if ((fd = sub_connect(ins)) == -1) {
		log_warnx("%s: subrequest failed: cannot connect",
		    ins->ins_name);
		return 0;
	}
	memset(&s, 0, sizeof(s));
	sub_setup(&s, ins, fd, path, max);
	s.sb_sync = 1;
	s.sb_cb = sub_sync_cb;
	s.sb_arg = &r;
	while (!s.sb_done)
		if (sub_sync_round(&s, deadline) == -1)
			sub_fail(&s, "timed out");
	close(fd);
	buf_release(&s.sb_out);
	buf_release(&s.sb_in);
	buf_release(&s.sb_resp);
	return r.sr_status;
}
