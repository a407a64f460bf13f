/*
 * pool: the pool master of a FastCGI service, and the worker-side signal
 * handling.
 *
 * The master never runs handlers: it blocks SIGCHLD, SIGTERM, SIGINT,
 * SIGHUP and SIGUSR1 and takes them one at a time with sigtimedwait(), so
 * every reaction runs in plain code and the only timers (restart backoff,
 * drain deadlines) are the wait's timeout. Workers are forked, never
 * exec'd: they inherit the listening socket and run the worker function.
 *
 * Worker slots: p_slot[] holds the current generation (0 = empty, to be
 * forked once p_restart_at has passed). Workers being retired (old
 * generation after SIGHUP, or everyone on SIGTERM) move to p_old[] with a
 * deadline after which they get SIGKILL.
 *
 * The optional background process has its own slot (p_bg_pid) and its own
 * restart pacing; when retired it joins p_old like a worker.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "cfg.h"
#include "log.h"
#include "pool.h"
#include "util.h"

#define POOL_MAX_WORKERS	1024
#define POOL_QUICK_MS		1000	/* a death sooner than this is quick */
#define POOL_BACKOFF_MIN	1000	/* ms, first delay after quick deaths */
#define POOL_BACKOFF_MAX	30000	/* ms, the delay stops doubling here */
#define POOL_KILLED		UINT64_MAX	/* po_kill_at once SIGKILLed */

const struct cfg_key pool_cfg_keys[] = {
	{ "listen", CFG_T_ADDR, NULL, 0, 0,
	    offsetof(struct pool_cfg, pc_listen) },
	{ "workers", CFG_T_INT, "4", 1, POOL_MAX_WORKERS,
	    offsetof(struct pool_cfg, pc_workers) },
	{ "backlog", CFG_T_INT, "128", 1, 65535,
	    offsetof(struct pool_cfg, pc_backlog) },
	{ "mode", CFG_T_OCTAL, "0660", 0, 0,
	    offsetof(struct pool_cfg, pc_mode) },
	{ "drain", CFG_T_DURATION, "10s", 0, 3600 * 1000,
	    offsetof(struct pool_cfg, pc_drain) },
	{ "pidfile", CFG_T_PATH, "", 0, 0,
	    offsetof(struct pool_cfg, pc_pidfile) },
};
const size_t pool_cfg_nkeys = NITEMS(pool_cfg_keys);

struct pool_old {
	pid_t		 po_pid;
	uint64_t	 po_kill_at;	/* ms; POOL_KILLED once SIGKILL sent */
};

/* Restart pacing of one kind of child (workers, background process). */
struct pool_pace {
	uint64_t	 pp_restart_at;	/* ms; nothing is forked before */
	unsigned	 pp_streak;	/* quick deaths in a row */
};

struct pool {
	const struct pool_cfg	*p_cfg;
	pool_worker_fn		 p_fn;
	pool_bg_fn		 p_bg;		/* NULL: no background process */
	pool_reload_fn		 p_reload;
	void			*p_arg;
	pool_bg_fn		 p_reg;		/* NULL: no registrar */
	pid_t			 p_reg_pid;	/* 0: not running */
	uint64_t		 p_reg_born;
	struct pool_pace	 p_reg_pace;
	pid_t			 p_bg_pid;	/* 0: not running */
	uint64_t		 p_bg_born;	/* ms it was forked */
	struct pool_pace	 p_bg_pace;
	int			 p_fd;		/* listening socket */
	pid_t			*p_slot;	/* current workers; 0 = empty */
	uint64_t		*p_born;	/* ms each slot was forked */
	size_t			 p_nslot;
	struct pool_old		*p_old;		/* workers being retired */
	size_t			 p_nold;
	size_t			 p_oldcap;
	struct pool_pace	 p_pace;	/* of the worker slots */
	int			 p_stopping;	/* SIGTERM/SIGINT received */
};

/* Worker side: set by the handlers, read between requests. */
static volatile sig_atomic_t	 pool_stop_flag;
static volatile sig_atomic_t	 pool_reopen_flag;
static void			(*pool_stop_hook)(void);

static void
pool_worker_sig(int sig)
{
	int save = errno;

	if (sig == SIGUSR1)
		pool_reopen_flag = 1;
	else {
		pool_stop_flag = 1;
		if (pool_stop_hook != NULL)
			pool_stop_hook();
	}
	errno = save;
}

void
pool_worker_signals(void (*stop_hook)(void))
{
	struct sigaction sa;

	pool_stop_hook = stop_hook;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: an idle accept() or read() must see EINTR. */
	sa.sa_handler = pool_worker_sig;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
}

int
pool_should_stop(void)
{
	return pool_stop_flag != 0;
}

void
pool_worker_pause(uint64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (nanosleep(&ts, NULL) == -1 && errno != EINTR)
		log_warn("nanosleep");
}

void
pool_worker_idle(void)
{
	if (pool_reopen_flag) {
		pool_reopen_flag = 0;
		log_reopen();
	}
}

void
pool_cfg_release(struct pool_cfg *pc)
{
	free(pc->pc_listen);
	pc->pc_listen = NULL;
	free(pc->pc_pidfile);
	pc->pc_pidfile = NULL;
}

/*
 * Removes the socket file at <sun> if nothing listens on it. Returns 0
 * when the path is free, -1 (logged) when it is in use or not a socket.
 */
static int
pool_unlink_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc, err;

	if (lstat(sun->sun_path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("%s", sun->sun_path);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("%s: exists and is not a socket", sun->sun_path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	err = errno;
	close(fd);
	if (rc == 0 || err != ECONNREFUSED) {
		log_warnx("%s: in use by another process", sun->sun_path);
		return -1;
	}
	if (unlink(sun->sun_path) == -1 && errno != ENOENT) {
		log_warn("unlink %s", sun->sun_path);
		return -1;
	}
	log_info("removed stale socket %s", sun->sun_path);
	return 0;
}

/* Binds <fd> to <sun> with <mode>, never wider than <mode> meanwhile. */
static int
pool_bind_unix(int fd, const struct sockaddr_un *sun, int mode)
{
	mode_t omask;
	int rc;

	omask = umask(0177);
	rc = bind(fd, (const struct sockaddr *)sun, sizeof(*sun));
	umask(omask);
	if (rc == -1) {
		log_warn("bind %s", sun->sun_path);
		return -1;
	}
	if (chmod(sun->sun_path, (mode_t)mode) == -1) {
		log_warn("chmod %s", sun->sun_path);
		unlink(sun->sun_path);
		return -1;
	}
	return 0;
}

static int
pool_listen_unix(const char *path, int backlog, int mode)
{
	struct sockaddr_un sun;
	int fd = -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("unix:%s: bad or too long socket path", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (pool_unlink_stale(&sun) == -1)
		goto fail;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		goto fail;
	}
	if (pool_bind_unix(fd, &sun, mode) == -1)
		goto fail;
	if (listen(fd, backlog) == -1) {
		log_warn("listen %s", path);
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

/*
 * Splits "host:port" or "[v6]:port" into <host> (room <hostlen>) and
 * <port>. An empty host or "*" means any address (NULL). Returns 0 or -1.
 */
static int
pool_split_hostport(const char *addr, char *host, size_t hostlen,
    const char **hostp, const char **port)
{
	const char *colon, *end;

	if (addr[0] == '[') {
		if ((end = strchr(addr, ']')) == NULL || end[1] != ':')
			return -1;
		addr++;
	} else {
		if ((end = strrchr(addr, ':')) == NULL)
			return -1;
	}
	colon = end[0] == ']' ? end + 1 : end;
	if ((size_t)(end - addr) >= hostlen || colon[1] == '\0')
		return -1;
	memcpy(host, addr, (size_t)(end - addr));
	host[end - addr] = '\0';
	*hostp = (host[0] == '\0' || strcmp(host, "*") == 0) ? NULL : host;
	*port = colon + 1;
	return 0;
}

/* Tries one getaddrinfo() result. Returns the listening fd or -1. */
static int
pool_listen_ai(const struct addrinfo *ai, int backlog)
{
	int fd, on = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    ai->ai_protocol);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, backlog) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
pool_listen_tcp(const char *addr, int backlog)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256];
	const char *hostp, *port;
	int fd = -1, rc;

	if (pool_split_hostport(addr, host, sizeof(host), &hostp,
	    &port) == -1) {
		log_warnx("%s: expected host:port, [v6]:port or unix:/path",
		    addr);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(hostp, port, &hints, &res)) != 0) {
		log_warnx("%s: %s", addr, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next)
		fd = pool_listen_ai(ai, backlog);
	if (fd == -1)
		log_warn("cannot listen on %s", addr);
	freeaddrinfo(res);
	return fd;
}

int
pool_listen(const char *addr, int backlog, int mode)
{
	if (strncmp(addr, "unix:", 5) == 0)
		return pool_listen_unix(addr + 5, backlog, mode);
	return pool_listen_tcp(addr, backlog);
}

static int
pool_pidfile_write(const char *path)
{
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		log_warn("pidfile %s", path);
		return -1;
	}
	rc = dprintf(fd, "%ld\n", (long)getpid());
	if (close(fd) == -1 || rc < 0) {
		log_warn("pidfile %s", path);
		unlink(path);
		return -1;
	}
	return 0;
}

static int
pool_has_pidfile(const struct pool_cfg *cfg)
{
	return cfg->pc_pidfile != NULL && cfg->pc_pidfile[0] != '\0';
}

static void
pool_unlink_socket(const struct pool_cfg *cfg)
{
	if (strncmp(cfg->pc_listen, "unix:", 5) == 0 &&
	    unlink(cfg->pc_listen + 5) == -1 && errno != ENOENT)
		log_warn("unlink %s", cfg->pc_listen + 5);
}

/* Sizes the current generation from the config; all slots are empty. */
static void
pool_slots_alloc(struct pool *p)
{
	int64_t n = p->p_cfg->pc_workers;

	if (n < 1)
		n = 1;
	if (n > POOL_MAX_WORKERS)
		n = POOL_MAX_WORKERS;
	p->p_nslot = (size_t)n;
	p->p_slot = xrealloc(p->p_slot, p->p_nslot * sizeof(*p->p_slot));
	p->p_born = xrealloc(p->p_born, p->p_nslot * sizeof(*p->p_born));
	memset(p->p_slot, 0, p->p_nslot * sizeof(*p->p_slot));
	memset(p->p_born, 0, p->p_nslot * sizeof(*p->p_born));
}

static void __attribute__((noreturn))
pool_child(struct pool *p)
{
	sigset_t none;
	int rc;

	pool_worker_signals(NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	rc = p->p_fn(p->p_fd, p->p_arg);
	/* _exit: the worker shares the master's stdio and atexit state. */
	_exit(rc & 0xff);
}

/* Forks the worker for empty slot <i>. Returns 0 or -1 (backoff set). */
static int
pool_spawn(struct pool *p, size_t i)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_warn("fork");
		p->p_pace.pp_restart_at = util_now_ms() + POOL_BACKOFF_MIN;
		return -1;
	}
	if (pid == 0)
		pool_child(p);
	p->p_slot[i] = pid;
	p->p_born[i] = util_now_ms();
	log_debug("%s: worker %ld started", __func__, (long)pid);
	return 0;
}

static void
pool_spawn_missing(struct pool *p)
{
	size_t i;

	if (p->p_stopping || util_now_ms() < p->p_pace.pp_restart_at)
		return;
	for (i = 0; i < p->p_nslot; i++)
		if (p->p_slot[i] == 0 && pool_spawn(p, i) == -1)
			return;
}

static void __attribute__((noreturn))
pool_bg_child(struct pool *p)
{
	sigset_t none;
	int rc;

	pool_worker_signals(NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* It serves no requests: the socket stays with the workers. */
	close(p->p_fd);
	rc = p->p_bg(p->p_arg);
	_exit(rc & 0xff);
}

/* Forks the background process when one is wanted and due. */
static void
pool_spawn_bg(struct pool *p)
{
	pid_t pid;

	if (p->p_bg == NULL || p->p_bg_pid != 0 || p->p_stopping ||
	    util_now_ms() < p->p_bg_pace.pp_restart_at)
		return;
	if ((pid = fork()) == -1) {
		log_warn("fork");
		p->p_bg_pace.pp_restart_at = util_now_ms() + POOL_BACKOFF_MIN;
		return;
	}
	if (pid == 0)
		pool_bg_child(p);
	p->p_bg_pid = pid;
	p->p_bg_born = util_now_ms();
	log_info("background process %ld started", (long)pid);
}

static void __attribute__((noreturn))
pool_reg_child(struct pool *p)
{
	sigset_t none;

	pool_worker_signals(NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	close(p->p_fd);
	_exit(p->p_reg(p->p_arg) & 0xff);
}

/* Forks the registrar when one is wanted and due. */
static void
pool_spawn_reg(struct pool *p)
{
	pid_t pid;

	if (p->p_reg == NULL || p->p_reg_pid != 0 || p->p_stopping ||
	    util_now_ms() < p->p_reg_pace.pp_restart_at)
		return;
	if ((pid = fork()) == -1) {
		log_warn("fork");
		p->p_reg_pace.pp_restart_at = util_now_ms() + POOL_BACKOFF_MIN;
		return;
	}
	if (pid == 0)
		pool_reg_child(p);
	p->p_reg_pid = pid;
	p->p_reg_born = util_now_ms();
	log_info("registrar %ld started", (long)pid);
}

/*
 * Stopping: the registrar deregisters first, so that the gateway sends
 * nothing new before the workers drain. Waits for it (at most
 * POOL_REG_STOP_MS, then SIGKILL); other children's SIGCHLD stay pending.
 */
static void
pool_stop_reg(struct pool *p)
{
	uint64_t until = util_now_ms() + POOL_REG_STOP_MS;
	struct timespec ts = { 0, 10 * 1000000L };

	if (p->p_reg_pid == 0)
		return;
	kill(p->p_reg_pid, SIGTERM);
	while (waitpid(p->p_reg_pid, NULL, WNOHANG) == 0) {
		if (util_now_ms() >= until) {
			log_warnx("registrar %ld still running, killing it",
			    (long)p->p_reg_pid);
			kill(p->p_reg_pid, SIGKILL);
			(void)waitpid(p->p_reg_pid, NULL, 0);
			break;
		}
		nanosleep(&ts, NULL);
	}
	p->p_reg_pid = 0;
	log_info("registrar stopped");
}

static int
pool_has_empty(const struct pool *p)
{
	size_t i;

	for (i = 0; i < p->p_nslot; i++)
		if (p->p_slot[i] == 0)
			return 1;
	return 0;
}

/* Appends <pid> to the retiring list with SIGKILL due at <deadline>. */
static void
pool_old_add(struct pool *p, pid_t pid, uint64_t deadline)
{
	if (p->p_nold == p->p_oldcap) {
		p->p_oldcap = p->p_oldcap ? p->p_oldcap * 2 : 8;
		p->p_old = xrealloc(p->p_old, p->p_oldcap * sizeof(*p->p_old));
	}
	p->p_old[p->p_nold].po_pid = pid;
	p->p_old[p->p_nold].po_kill_at = deadline;
	p->p_nold++;
}

/*
 * Moves every current worker and the background process to the retiring
 * list with a drain deadline; sends nothing. Returns the index of the
 * first moved entry.
 */
static size_t
pool_slots_retire(struct pool *p)
{
	size_t i, first = p->p_nold;
	uint64_t deadline = util_now_ms() + p->p_cfg->pc_drain;

	for (i = 0; i < p->p_nslot; i++) {
		if (p->p_slot[i] == 0)
			continue;
		pool_old_add(p, p->p_slot[i], deadline);
		p->p_slot[i] = 0;
	}
	/* The background process drains with the same deadline. */
	if (p->p_bg_pid != 0) {
		pool_old_add(p, p->p_bg_pid, deadline);
		p->p_bg_pid = 0;
	}
	return first;
}

static void
pool_signal_old(struct pool *p, size_t from, int sig)
{
	size_t i;

	for (i = from; i < p->p_nold; i++)
		if (p->p_old[i].po_kill_at != POOL_KILLED)
			kill(p->p_old[i].po_pid, sig);
}

/* Formats a wait status for the log: "status N" or "signal N". */
static const char *
pool_status_str(int st, char *out, size_t outlen)
{
	if (WIFEXITED(st))
		snprintf(out, outlen, "status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(out, outlen, "signal %d", WTERMSIG(st));
	else
		snprintf(out, outlen, "wait status %#x", st);
	return out;
}

/*
 * A child of kind <what> born at <born> died: a quick death backs off the
 * next start of that kind (1 s doubling to 30 s); a death after running a
 * while resets the pacing.
 */
static void
pool_pace_death(struct pool_pace *pp, uint64_t born, const char *what)
{
	uint64_t now = util_now_ms(), delay;

	if (now - born >= POOL_QUICK_MS) {
		pp->pp_streak = 0;
		return;
	}
	/* Children dying together count as one failure. */
	if (pp->pp_restart_at > now)
		return;
	delay = (uint64_t)POOL_BACKOFF_MIN << (pp->pp_streak < 5 ?
	    pp->pp_streak : 5);
	if (delay > POOL_BACKOFF_MAX)
		delay = POOL_BACKOFF_MAX;
	pp->pp_streak++;
	pp->pp_restart_at = now + delay;
	log_warnx("%s die right after starting; next start in %llu ms", what,
	    (unsigned long long)delay);
}

/* Slot <i>'s worker died unexpectedly: log it and pace its restart. */
static void
pool_died(struct pool *p, size_t i, pid_t pid, int st)
{
	char why[32];

	log_warnx("worker %ld exited with %s, restarting", (long)pid,
	    pool_status_str(st, why, sizeof(why)));
	pool_pace_death(&p->p_pace, p->p_born[i], "workers");
}

/* The background process died unexpectedly: log it, pace its restart. */
static void
pool_bg_died(struct pool *p, pid_t pid, int st)
{
	char why[32];

	p->p_bg_pid = 0;
	log_warnx("background process %ld exited with %s, restarting",
	    (long)pid, pool_status_str(st, why, sizeof(why)));
	pool_pace_death(&p->p_bg_pace, p->p_bg_born, "background processes");
}

/* Forgets <pid> if it is a retiring worker. Returns 1 if it was. */
static int
pool_old_remove(struct pool *p, pid_t pid)
{
	size_t i;

	for (i = 0; i < p->p_nold; i++) {
		if (p->p_old[i].po_pid != pid)
			continue;
		p->p_old[i] = p->p_old[--p->p_nold];
		return 1;
	}
	return 0;
}

static void
pool_reap(struct pool *p)
{
	pid_t pid;
	size_t i;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pool_old_remove(p, pid)) {
			log_debug("%s: retired worker %ld gone", __func__,
			    (long)pid);
			continue;
		}
		if (pid == p->p_bg_pid) {
			pool_bg_died(p, pid, st);
			continue;
		}
		if (pid == p->p_reg_pid) {
			p->p_reg_pid = 0;
			pool_pace_death(&p->p_reg_pace, p->p_reg_born,
			    "registrars");
			continue;
		}
		for (i = 0; i < p->p_nslot; i++) {
			if (p->p_slot[i] != pid)
				continue;
			p->p_slot[i] = 0;
			pool_died(p, i, pid, st);
			break;
		}
	}
}

static void
pool_kill_overdue(struct pool *p)
{
	uint64_t now = util_now_ms();
	size_t i;

	for (i = 0; i < p->p_nold; i++) {
		if (p->p_old[i].po_kill_at > now)
			continue;
		log_warnx("worker %ld still busy after the drain timeout, "
		    "killing it", (long)p->p_old[i].po_pid);
		kill(p->p_old[i].po_pid, SIGKILL);
		p->p_old[i].po_kill_at = POOL_KILLED;
	}
}

/*
 * Stopping: no connection may wait in the listen queue for a worker that
 * will never accept it (until the last retiring worker exits, and the
 * socket with it, up to the drain time later). shutdown() makes connect()
 * fail at once, even one that found the socket before it was unlinked,
 * and wakes a worker blocked in accept(); what already waits in the queue
 * is accepted here and closed unread, so its client sees the close now.
 * Requests the workers hold are not touched.
 */
static void
pool_refuse(struct pool *p)
{
	int fd, flags, n = 0;

	if (shutdown(p->p_fd, SHUT_RD) == -1) {
		log_warn("shutdown of the listening socket");
		return;
	}
	/* Never block here, whatever the socket type makes of the
	 * shutdown; stopping workers take EAGAIN from accept() as well. */
	if ((flags = fcntl(p->p_fd, F_GETFL)) == -1 ||
	    fcntl(p->p_fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		log_warn("listening socket");
		return;
	}
	while ((fd = accept4(p->p_fd, NULL, NULL, SOCK_CLOEXEC)) != -1) {
		close(fd);
		n++;
	}
	if (n > 0)
		log_info("closed %d queued connection(s) no worker will "
		    "serve", n);
}

static void
pool_stop(struct pool *p, int sig)
{
	if (p->p_stopping)
		return;
	p->p_stopping = 1;
	sd_notify(0, "STOPPING=1");
	pool_stop_reg(p);
	log_info("signal %d: draining workers (%llu ms)", sig,
	    (unsigned long long)p->p_cfg->pc_drain);
	/* Nothing new reaches us by path; in-flight work continues. */
	pool_unlink_socket(p->p_cfg);
	pool_slots_retire(p);
	/* Signalled first: a worker woken in accept() by the shutdown
	 * sees that it is stopping, not an error. */
	pool_signal_old(p, 0, SIGTERM);
	pool_refuse(p);
}

static void
pool_reload(struct pool *p)
{
	size_t first;

	if (p->p_stopping)
		return;
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)util_now_ms() * 1000);
	log_info("SIGHUP: reloading");
	if (p->p_reload != NULL && p->p_reload(p->p_arg) == -1) {
		log_warnx("reload failed; the running workers stay");
		sd_notify(0, "READY=1");
		return;
	}
	/* New generation first, so accepting never pauses. */
	first = pool_slots_retire(p);
	pool_slots_alloc(p);
	p->p_pace.pp_restart_at = 0;
	p->p_pace.pp_streak = 0;
	p->p_bg_pace.pp_restart_at = 0;
	p->p_bg_pace.pp_streak = 0;
	pool_spawn_missing(p);
	pool_spawn_bg(p);
	pool_signal_old(p, first, SIGTERM);
	log_info("reloaded: %zu new workers, %zu retiring", p->p_nslot,
	    p->p_nold);
	sd_notify(0, "READY=1");
}

static void
pool_reopen(struct pool *p)
{
	size_t i;

	log_reopen();
	for (i = 0; i < p->p_nslot; i++)
		if (p->p_slot[i] != 0)
			kill(p->p_slot[i], SIGUSR1);
	if (p->p_bg_pid != 0)
		kill(p->p_bg_pid, SIGUSR1);
	pool_signal_old(p, 0, SIGUSR1);
}

/* The wait until the next deadline, or NULL when there is none. */
static struct timespec *
pool_timeout(const struct pool *p, struct timespec *ts)
{
	uint64_t now = util_now_ms(), next = UINT64_MAX, d;
	size_t i;

	if (!p->p_stopping && pool_has_empty(p))
		next = p->p_pace.pp_restart_at;
	if (!p->p_stopping && p->p_bg != NULL && p->p_bg_pid == 0 &&
	    p->p_bg_pace.pp_restart_at < next)
		next = p->p_bg_pace.pp_restart_at;
	if (!p->p_stopping && p->p_reg != NULL && p->p_reg_pid == 0 &&
	    p->p_reg_pace.pp_restart_at < next)
		next = p->p_reg_pace.pp_restart_at;
	for (i = 0; i < p->p_nold; i++)
		if (p->p_old[i].po_kill_at < next)
			next = p->p_old[i].po_kill_at;
	if (next == UINT64_MAX)
		return NULL;
	d = next > now ? next - now : 0;
	ts->tv_sec = (time_t)(d / 1000);
	ts->tv_nsec = (long)(d % 1000) * 1000000;
	return ts;
}

static void
pool_step(struct pool *p, const sigset_t *set)
{
	struct timespec ts;
	siginfo_t si;

	switch (sigtimedwait(set, &si, pool_timeout(p, &ts))) {
	case SIGCHLD:
		pool_reap(p);
		break;
	case SIGTERM:
	case SIGINT:
		pool_stop(p, si.si_signo);
		break;
	case SIGHUP:
		pool_reload(p);
		break;
	case SIGUSR1:
		pool_reopen(p);
		break;
	default:	/* a deadline passed */
		break;
	}
	pool_kill_overdue(p);
	pool_spawn_missing(p);
	pool_spawn_bg(p);
	pool_spawn_reg(p);
}

static void
pool_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

/* Opens the socket and the pidfile; fatal when either fails. */
static void
pool_start(struct pool *p)
{
	const struct pool_cfg *cfg = p->p_cfg;

	p->p_fd = pool_listen(cfg->pc_listen, (int)cfg->pc_backlog,
	    cfg->pc_mode);
	if (p->p_fd == -1)
		fatalx("cannot listen on %s", cfg->pc_listen);
	if (pool_has_pidfile(cfg) && pool_pidfile_write(cfg->pc_pidfile)) {
		pool_unlink_socket(cfg);
		fatalx("cannot write pidfile %s", cfg->pc_pidfile);
	}
}

int
pool_run(const struct pool_cfg *cfg, pool_worker_fn fn,
    pool_reload_fn reload, void *arg)
{
	struct pool_fns fns;

	memset(&fns, 0, sizeof(fns));
	fns.pf_worker = fn;
	fns.pf_reload = reload;
	fns.pf_arg = arg;
	return pool_run_fns(cfg, &fns);
}

int
pool_run_fns(const struct pool_cfg *cfg, const struct pool_fns *fns)
{
	struct pool p;
	sigset_t set, omask;

	memset(&p, 0, sizeof(p));
	p.p_cfg = cfg;
	p.p_fn = fns->pf_worker;
	p.p_bg = fns->pf_background;
	p.p_reg = fns->pf_register;
	p.p_reload = fns->pf_reload;
	p.p_arg = fns->pf_arg;
	pool_sigset(&set);
	sigprocmask(SIG_BLOCK, &set, &omask);
	/* SIGCHLD ignored would reap our workers behind our back. */
	signal(SIGCHLD, SIG_DFL);
	pool_start(&p);
	pool_slots_alloc(&p);
	pool_spawn_missing(&p);
	pool_spawn_bg(&p);
	pool_spawn_reg(&p);
	sd_notify(0, "READY=1");
	log_info("%zu worker(s) on %s", p.p_nslot, cfg->pc_listen);
	while (!p.p_stopping || p.p_nold > 0)
		pool_step(&p, &set);
	close(p.p_fd);
	if (pool_has_pidfile(cfg))
		unlink(cfg->pc_pidfile);
	free(p.p_slot);
	free(p.p_born);
	free(p.p_old);
	sigprocmask(SIG_SETMASK, &omask, NULL);
	log_info("stopped");
	return 0;
}

void
pool_cfg_keep_startup(struct pool_cfg *old, struct pool_cfg *fresh)
{
	if (strcmp(fresh->pc_listen, old->pc_listen) != 0 ||
	    fresh->pc_backlog != old->pc_backlog ||
	    fresh->pc_mode != old->pc_mode ||
	    strcmp(fresh->pc_pidfile, old->pc_pidfile) != 0)
		log_warnx("reload: listen, backlog, mode and pidfile take "
		    "effect at restart; still on %s", old->pc_listen);
	free(fresh->pc_listen);
	free(fresh->pc_pidfile);
	fresh->pc_listen = old->pc_listen;
	fresh->pc_pidfile = old->pc_pidfile;
	fresh->pc_backlog = old->pc_backlog;
	fresh->pc_mode = old->pc_mode;
	old->pc_listen = NULL;
	old->pc_pidfile = NULL;
}
