/*
 * pool: the pool master of a FastCGI service, and the worker-side signal
 * handling.
 *
 * The master never runs handlers: it blocks SIGCHLD, SIGTERM, SIGINT,
 * SIGHUP, SIGUSR1 and SIGUSR2 and reads them from a signalfd, so every
 * reaction runs in plain code and the only timers (restart backoff, drain
 * deadlines, the process manager's tick) are the poll's timeout. Workers
 * are forked, never exec'd: they inherit the listening socket and run the
 * worker function.
 *
 * The optional background process has its own slot (p_bg_pid) and its own
 * restart pacing; when retired it joins p_old.
 *
 * Process manager (php-fpm's pm): workers live in p_wk[], indexed like the
 * scoreboard, a MAP_SHARED area the master maps before forking in which
 * each worker records its state around every request (pool_worker_busy,
 * pool_worker_done). A worker of the current generation has w_kill_at 0;
 * one being retired (reaped as spare, old generation after SIGHUP, or
 * everyone on SIGTERM) has its SIGKILL deadline there. static keeps
 * <workers> running; dynamic spawns while fewer than min-spare are idle
 * (at most max-spawn-rate a second, the rate doubling each second the
 * shortage lasts, as php-fpm does) and retires one idle worker a second
 * above max-spare; ondemand starts none and watches the listening socket
 * while no worker is idle, spawning one per connection that finds none,
 * and retires workers idle for idle-timeout. A worker that leaves the
 * idle ones short signals the master (SIGUSR2), so a shortage that lasts
 * POOL_SHORT_GRACE_MS is met then rather than at the next tick. The master takes its signals through
 * a signalfd, so one poll() waits for them, the listening socket and the
 * next deadline.
 */
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
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
#define POOL_SB_SLOTS		(2 * POOL_MAX_WORKERS)	/* two generations */
#define POOL_TICK_MS		1000	/* the process manager's second */
#define POOL_SHORT_GRACE_MS	50	/* dynamic: a shortage lasts this long
					 * before a spare is started for it */

#define POOL_SB_EMPTY		0	/* slot free */
#define POOL_SB_STARTING	1	/* forked, counts as idle */
#define POOL_SB_IDLE		2	/* waiting for a request */
#define POOL_SB_BUSY		3	/* in a request */
#define POOL_SB_EXITING		4	/* leaving after max-requests */
#define POOL_SB_KEPT		5	/* waiting on a kept connection: not
					   accepting new ones */

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
	{ "pm", CFG_T_STR, "static", 0, 0,
	    offsetof(struct pool_cfg, pc_pm) },
	{ "max-children", CFG_T_INT, "0", 0, POOL_MAX_WORKERS,
	    offsetof(struct pool_cfg, pc_max_children) },
	{ "start-servers", CFG_T_INT, "0", 0, POOL_MAX_WORKERS,
	    offsetof(struct pool_cfg, pc_start_servers) },
	{ "min-spare", CFG_T_INT, "1", 1, POOL_MAX_WORKERS,
	    offsetof(struct pool_cfg, pc_min_spare) },
	{ "max-spare", CFG_T_INT, "3", 1, POOL_MAX_WORKERS,
	    offsetof(struct pool_cfg, pc_max_spare) },
	{ "max-spawn-rate", CFG_T_INT, "32", 1, POOL_MAX_WORKERS,
	    offsetof(struct pool_cfg, pc_spawn_rate) },
	{ "idle-timeout", CFG_T_DURATION, "10s", 100, 24 * 3600 * 1000,
	    offsetof(struct pool_cfg, pc_idle_timeout) },
	{ "max-requests", CFG_T_INT, "0", 0, INT64_C(1000000000),
	    offsetof(struct pool_cfg, pc_max_requests) },
	{ "slow-log", CFG_T_DURATION, "0", 0, 24 * 3600 * 1000,
	    offsetof(struct pool_cfg, pc_slow_log) },
	{ "status-path", CFG_T_STR, "/pool-status", 0, 0,
	    offsetof(struct pool_cfg, pc_status_path) },
};
const size_t pool_cfg_nkeys = NITEMS(pool_cfg_keys);

/* One worker's record in the scoreboard; written by it, read by all. */
struct pool_sb_proc {
	_Atomic int		 sp_state;	/* POOL_SB_* */
	_Atomic int		 sp_retiring;	/* set by the master */
	_Atomic pid_t		 sp_pid;
	uint64_t		 sp_born;	/* wall clock ms */
	_Atomic uint64_t	 sp_requests;	/* begun, this one included */
	_Atomic uint64_t	 sp_req_start;	/* monotonic ms; 0 when idle */
	_Atomic uint64_t	 sp_idle_since;	/* monotonic ms */
	_Atomic uint64_t	 sp_last_ms;	/* duration of the last one */
	_Atomic uint64_t	 sp_req_wall;	/* wall clock ms it began */
	char			 sp_reqid[64];
	char			 sp_method[16];
	char			 sp_uri[160];
};

/* The scoreboard: pool-wide figures, then one record per worker slot. */
struct pool_sb {
	_Atomic uint64_t	 sb_accepted;	/* requests begun */
	_Atomic uint64_t	 sb_served;	/* requests ended */
	_Atomic uint64_t	 sb_slow;	/* slow requests logged */
	_Atomic uint64_t	 sb_max_reached; /* spawns max-children denied */
	_Atomic int		 sb_max_active;
	_Atomic int		 sb_notified;	/* SIGUSR2 sent, not yet seen */
	_Atomic int		 sb_want_idle;	/* signal the master below */
	_Atomic int		 sb_nslots;	/* slots ever used */
	_Atomic int64_t		 sb_max_requests;
	_Atomic int		 sb_mode;	/* POOL_PM_* */
	_Atomic int		 sb_max_children;
	pid_t			 sb_master;
	uint64_t		 sb_start;	/* wall clock s */
	struct pool_sb_proc	 sb_proc[POOL_SB_SLOTS];
};

/* The master's view of a worker slot (same index as the scoreboard). */
struct pool_wk {
	pid_t		 w_pid;		/* 0: free */
	uint64_t	 w_born;	/* monotonic ms */
	uint64_t	 w_kill_at;	/* 0: current generation; else SIGKILL
					   deadline, POOL_KILLED once sent */
	uint64_t	 w_slow;	/* request number logged as slow */
};

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
	int			 p_sfd;		/* signalfd */
	int			 p_mode;	/* POOL_PM_* */
	struct pool_wk		*p_wk;		/* POOL_SB_SLOTS of them */
	size_t			 p_nwk;		/* slots ever used */
	size_t			 p_nlive;	/* workers alive, any generation */
	uint64_t		 p_tick_at;	/* ms of the next tick */
	int64_t			 p_rate;	/* dynamic: spawns this second */
	int64_t			 p_spawned;	/* dynamic: spawned this second */
	int			 p_at_max;	/* max-children reached, logged */
	uint64_t		 p_short_since;	/* dynamic: fewer spares than
						 * min-spare since (ms), or 0 */
	struct pool_old		*p_old;		/* background being retired */
	size_t			 p_nold;
	size_t			 p_oldcap;
	struct pool_pace	 p_pace;	/* of the worker slots */
	int			 p_stopping;	/* SIGTERM/SIGINT received */
};

/* Worker side: set by the handlers, read between requests. */
static struct pool_sb		*pool_sb;	/* any process of a pool */
static struct pool_sb_proc	*pool_me;	/* a worker's own record */
static const struct pool_cfg	*pool_self_cfg;	/* in a worker */
static int			 pool_self_fd = -1;
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
	sigaction(SIGUSR2, &sa, NULL);
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
	free(pc->pc_pm);
	pc->pc_pm = NULL;
	free(pc->pc_status_path);
	pc->pc_status_path = NULL;
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

int
pool_cfg_mode(const struct pool_cfg *pc)
{
	if (pc->pc_pm == NULL || pc->pc_pm[0] == '\0' ||
	    strcmp(pc->pc_pm, "static") == 0)
		return POOL_PM_STATIC;
	if (strcmp(pc->pc_pm, "dynamic") == 0)
		return POOL_PM_DYNAMIC;
	if (strcmp(pc->pc_pm, "ondemand") == 0)
		return POOL_PM_ONDEMAND;
	return -1;
}

static const char *
pool_mode_str(int mode)
{
	switch (mode) {
	case POOL_PM_DYNAMIC:
		return "dynamic";
	case POOL_PM_ONDEMAND:
		return "ondemand";
	default:
		return "static";
	}
}

int64_t
pool_cfg_max_children(const struct pool_cfg *pc)
{
	int64_t n = pc->pc_workers;

	if (pool_cfg_mode(pc) > POOL_PM_STATIC && pc->pc_max_children > 0)
		n = pc->pc_max_children;
	if (n < 1)
		n = 1;
	return n > POOL_MAX_WORKERS ? POOL_MAX_WORKERS : n;
}

/* dynamic: start-servers, or php-fpm's default between the spares. */
static int64_t
pool_cfg_start(const struct pool_cfg *pc)
{
	if (pc->pc_start_servers > 0)
		return pc->pc_start_servers;
	return pc->pc_min_spare + (pc->pc_max_spare - pc->pc_min_spare) / 2;
}

void
pool_cfg_check(struct cfg_doc *cd, xmlNodePtr node, const struct pool_cfg *pc)
{
	int64_t max = pool_cfg_max_children(pc);
	int mode = pool_cfg_mode(pc);

	if (node == NULL)
		node = cfg_root(cd);
	if (mode == -1)
		cfg_error(cd, node, "pm \"%s\" is not static, dynamic or "
		    "ondemand", pc->pc_pm);
	if (pc->pc_status_path != NULL && pc->pc_status_path[0] != '\0' &&
	    pc->pc_status_path[0] != '/')
		cfg_error(cd, node, "status-path \"%s\" must start with /",
		    pc->pc_status_path);
	if (mode != POOL_PM_DYNAMIC)
		return;
	if (pc->pc_min_spare > pc->pc_max_spare)
		cfg_error(cd, node, "min-spare (%lld) is above max-spare "
		    "(%lld)", (long long)pc->pc_min_spare,
		    (long long)pc->pc_max_spare);
	if (pc->pc_max_spare > max)
		cfg_error(cd, node, "max-spare (%lld) is above max-children "
		    "(%lld)", (long long)pc->pc_max_spare, (long long)max);
	if (pc->pc_start_servers > 0 &&
	    (pc->pc_start_servers < pc->pc_min_spare ||
	    pc->pc_start_servers > pc->pc_max_spare))
		cfg_error(cd, node, "start-servers (%lld) is not between "
		    "min-spare (%lld) and max-spare (%lld)",
		    (long long)pc->pc_start_servers,
		    (long long)pc->pc_min_spare, (long long)pc->pc_max_spare);
}

static uint64_t
pool_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copies <src> (NULL: "") into <dst> of <len> bytes, truncating. */
static void
pool_sb_copy(char *dst, size_t len, const char *src)
{
	size_t n = src != NULL ? strlen(src) : 0;

	if (n >= len)
		n = len - 1;
	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * Counts the workers: <idle> of the current generation (in accept() or
 * just forked), <kept> waiting on a kept connection, <busy> and <total>
 * of any; any may be NULL.
 */
static void
pool_sb_count(const struct pool_sb *sb, int *idle, int *kept, int *busy,
    int *total)
{
	int i, n = atomic_load(&sb->sb_nslots), st, ni = 0, nk = 0, nb = 0;
	int nt = 0;

	for (i = 0; i < n; i++) {
		const struct pool_sb_proc *sp = &sb->sb_proc[i];

		if (atomic_load(&sp->sp_pid) == 0)
			continue;
		nt++;
		st = atomic_load(&sp->sp_state);
		if (st == POOL_SB_BUSY)
			nb++;
		else if ((st == POOL_SB_IDLE || st == POOL_SB_STARTING) &&
		    !atomic_load(&sp->sp_retiring))
			ni++;
		else if (st == POOL_SB_KEPT)
			nk++;
	}
	if (idle != NULL)
		*idle = ni;
	if (kept != NULL)
		*kept = nk;
	if (busy != NULL)
		*busy = nb;
	if (total != NULL)
		*total = nt;
}

/*
 * Signals the master when fewer workers accept than the pool wants, once
 * until the master has looked (it clears the flag).
 */
static void
pool_notify_short(void)
{
	int idle;

	pool_sb_count(pool_sb, &idle, NULL, NULL, NULL);
	if (idle < atomic_load(&pool_sb->sb_want_idle) &&
	    atomic_exchange(&pool_sb->sb_notified, 1) == 0)
		kill(pool_sb->sb_master, SIGUSR2);
}

void
pool_worker_busy(const char *method, const char *uri, const char *reqid)
{
	struct pool_sb_proc *me = pool_me;
	int busy, max;

	if (me == NULL)
		return;
	pool_sb_copy(me->sp_method, sizeof(me->sp_method), method);
	pool_sb_copy(me->sp_uri, sizeof(me->sp_uri), uri);
	pool_sb_copy(me->sp_reqid, sizeof(me->sp_reqid), reqid);
	atomic_store(&me->sp_req_start, util_now_ms());
	atomic_store(&me->sp_req_wall, pool_wall_ms());
	atomic_fetch_add(&me->sp_requests, 1);
	atomic_store(&me->sp_state, POOL_SB_BUSY);
	atomic_fetch_add(&pool_sb->sb_accepted, 1);
	pool_sb_count(pool_sb, NULL, NULL, &busy, NULL);
	max = atomic_load(&pool_sb->sb_max_active);
	while (busy > max && !atomic_compare_exchange_weak(
	    &pool_sb->sb_max_active, &max, busy))
		;
	pool_notify_short();
}

void
pool_worker_done(void)
{
	struct pool_sb_proc *me = pool_me;
	uint64_t now = util_now_ms(), max;

	if (me == NULL)
		return;
	atomic_store(&me->sp_last_ms, now - atomic_load(&me->sp_req_start));
	atomic_store(&me->sp_idle_since, now);
	atomic_store(&me->sp_req_start, 0);
	atomic_fetch_add(&pool_sb->sb_served, 1);
	max = (uint64_t)atomic_load(&pool_sb->sb_max_requests);
	if (max > 0 && atomic_load(&me->sp_requests) >= max) {
		/* Recycled: the master replaces it at once, no warning. */
		atomic_store(&me->sp_state, POOL_SB_EXITING);
		pool_stop_flag = 1;
		kill(pool_sb->sb_master, SIGUSR2);
		return;
	}
	atomic_store(&me->sp_state, POOL_SB_IDLE);
}

void
pool_worker_wait(int kept)
{
	struct pool_sb_proc *me = pool_me;
	int st, want = kept ? POOL_SB_KEPT : POOL_SB_IDLE;

	if (me == NULL)
		return;
	st = atomic_load(&me->sp_state);
	if ((st != POOL_SB_IDLE && st != POOL_SB_KEPT) || st == want)
		return;
	atomic_store(&me->sp_state, want);
	/* One accepting worker fewer: as pool_worker_busy(). */
	if (kept)
		pool_notify_short();
}

const char *
pool_status_path(void)
{
	const char *s;

	if (pool_self_cfg == NULL)
		return NULL;
	s = pool_self_cfg->pc_status_path;
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/*
 * The accept queue of unix listening socket <fd>, from sock_diag
 * (UNIX_DIAG_RQLEN). Returns it, or -1 when the kernel does not say.
 */
static int64_t
pool_queue_unix(int fd)
{
	struct {
		struct nlmsghdr		nlh;
		struct unix_diag_req	req;
	} rq;
	union {
		struct nlmsghdr	nlh;
		char		buf[8192];
	} rs;
	struct sockaddr_nl sa;
	struct stat st;
	struct unix_diag_msg *m;
	struct nlattr *a;
	struct unix_diag_rqlen *rl;
	int64_t q = -1;
	ssize_t n;
	size_t off;
	int nl;

	if (fstat(fd, &st) == -1)
		return -1;
	if ((nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	    NETLINK_SOCK_DIAG)) == -1)
		return -1;
	memset(&rq, 0, sizeof(rq));
	rq.nlh.nlmsg_len = sizeof(rq);
	rq.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	rq.nlh.nlmsg_flags = NLM_F_REQUEST;
	rq.req.sdiag_family = AF_UNIX;
	rq.req.udiag_states = -1;
	rq.req.udiag_ino = (unsigned)st.st_ino;
	rq.req.udiag_show = UDIAG_SHOW_RQLEN;
	rq.req.udiag_cookie[0] = rq.req.udiag_cookie[1] = ~0U;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (sendto(nl, &rq, sizeof(rq), 0, (struct sockaddr *)&sa,
	    sizeof(sa)) == -1 || (n = recv(nl, &rs, sizeof(rs), 0)) <
	    (ssize_t)NLMSG_LENGTH(sizeof(*m)) ||
	    rs.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY)
		goto done;
	m = NLMSG_DATA(&rs.nlh);
	off = NLMSG_LENGTH(sizeof(*m));
	while (off + sizeof(*a) <= (size_t)n && off < rs.nlh.nlmsg_len) {
		a = (struct nlattr *)(rs.buf + off);
		if (a->nla_len < sizeof(*a))
			break;
		if (a->nla_type == UNIX_DIAG_RQLEN &&
		    a->nla_len >= sizeof(*a) + sizeof(*rl)) {
			rl = (struct unix_diag_rqlen *)(a + 1);
			q = rl->udiag_rqueue;
			break;
		}
		off += NLA_ALIGN(a->nla_len);
	}
done:
	close(nl);
	return q;
}

/* The accept queue of listening socket <fd>, or -1 when unknown. */
static int64_t
pool_listen_queue(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct tcp_info ti;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_UNIX)
		return pool_queue_unix(fd);
	len = sizeof(ti);
	/* On a listening socket, unacked is the accept queue. */
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return -1;
	return ti.tcpi_unacked;
}

static const char *
pool_state_str(int st)
{
	switch (st) {
	case POOL_SB_STARTING:
		return "starting";
	case POOL_SB_IDLE:
		return "idle";
	case POOL_SB_KEPT:
		return "kept";
	case POOL_SB_BUSY:
		return "busy";
	case POOL_SB_EXITING:
		return "exiting";
	default:
		return "empty";
	}
}

/* One worker of the "processes" list. */
static json_t *
pool_status_proc(const struct pool_sb_proc *sp, uint64_t now)
{
	char reqid[sizeof(sp->sp_reqid)], method[sizeof(sp->sp_method)];
	char uri[sizeof(sp->sp_uri)];
	uint64_t start = atomic_load(&sp->sp_req_start);
	int st = atomic_load(&sp->sp_state);
	json_t *o;

	/* Torn text is possible while the worker changes request. */
	memcpy(reqid, sp->sp_reqid, sizeof(reqid));
	reqid[sizeof(reqid) - 1] = '\0';
	memcpy(method, sp->sp_method, sizeof(method));
	method[sizeof(method) - 1] = '\0';
	memcpy(uri, sp->sp_uri, sizeof(uri));
	uri[sizeof(uri) - 1] = '\0';
	o = json_pack("{s:I, s:s, s:b, s:I, s:I, s:I, s:I}",
	    "pid", (json_int_t)atomic_load(&sp->sp_pid),
	    "state", pool_state_str(st),
	    "retiring", atomic_load(&sp->sp_retiring),
	    "requests", (json_int_t)atomic_load(&sp->sp_requests),
	    "startTime", (json_int_t)(sp->sp_born / 1000),
	    "startTimeMs", (json_int_t)sp->sp_born,
	    "lastRequestMs", (json_int_t)atomic_load(&sp->sp_last_ms));
	if (st == POOL_SB_BUSY && start != 0)
		json_object_set_new(o, "request", json_pack(
		    "{s:s, s:s, s:s, s:I, s:I}", "requestId", reqid, "method",
		    method, "uri", uri, "startMs",
		    (json_int_t)atomic_load(&sp->sp_req_wall), "durationMs",
		    (json_int_t)(now > start ? now - start : 0)));
	return o;
}

json_t *
pool_status_json(int full)
{
	const struct pool_sb *sb = pool_sb;
	uint64_t now = util_now_ms();
	int idle, kept, busy, total, i, n;
	int64_t q;
	json_t *o, *procs;

	if (sb == NULL || pool_self_cfg == NULL)
		return NULL;
	pool_sb_count(sb, &idle, &kept, &busy, &total);
	q = pool_self_fd != -1 ? pool_listen_queue(pool_self_fd) : -1;
	o = json_pack("{s:s, s:s, s:I, s:I, s:i, s:i, s:i, s:i, s:I, s:I, "
	    "s:i, s:I, s:I}",
	    "pool", pool_self_cfg->pc_listen,
	    "processManager", pool_mode_str(atomic_load(&sb->sb_mode)),
	    "startTime", (json_int_t)sb->sb_start,
	    "startSince", (json_int_t)(time(NULL) - (time_t)sb->sb_start),
	    "idleProcesses", idle + kept,
	    "activeProcesses", busy,
	    "totalProcesses", total,
	    "maxChildren", atomic_load(&sb->sb_max_children),
	    "acceptedRequests", (json_int_t)atomic_load(&sb->sb_accepted),
	    "servedRequests", (json_int_t)atomic_load(&sb->sb_served),
	    "maxActiveProcesses", atomic_load(&sb->sb_max_active),
	    "maxChildrenReached", (json_int_t)atomic_load(&sb->sb_max_reached),
	    "slowRequests", (json_int_t)atomic_load(&sb->sb_slow));
	json_object_set_new(o, "listenQueue", q >= 0 ?
	    json_integer((json_int_t)q) : json_null());
	json_object_set_new(o, "listenQueueMax",
	    json_integer((json_int_t)pool_self_cfg->pc_backlog));
	if (!full)
		return o;
	procs = json_array();
	n = atomic_load(&sb->sb_nslots);
	for (i = 0; i < n; i++)
		if (atomic_load(&sb->sb_proc[i].sp_pid) != 0)
			json_array_append_new(procs,
			    pool_status_proc(&sb->sb_proc[i], now));
	json_object_set_new(o, "processes", procs);
	return o;
}

/* Maps the scoreboard shared, before any fork; fatal when it cannot. */
static void
pool_sb_map(struct pool *p)
{
	void *m;

	m = mmap(NULL, sizeof(*pool_sb), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		fatal("mmap of the scoreboard");
	pool_sb = m;
	pool_sb->sb_master = getpid();
	pool_sb->sb_start = (uint64_t)time(NULL);
	p->p_wk = xcalloc(POOL_SB_SLOTS, sizeof(*p->p_wk));
}

/* Publishes the settings of the configuration to the scoreboard. */
static void
pool_sb_config(struct pool *p)
{
	const struct pool_cfg *cfg = p->p_cfg;
	int want = 0;

	p->p_mode = pool_cfg_mode(cfg);
	if (p->p_mode == -1)
		p->p_mode = POOL_PM_STATIC;
	if (p->p_mode == POOL_PM_DYNAMIC)
		want = (int)cfg->pc_min_spare;
	else if (p->p_mode == POOL_PM_ONDEMAND)
		want = 1;
	atomic_store(&pool_sb->sb_want_idle, want);
	atomic_store(&pool_sb->sb_mode, p->p_mode);
	atomic_store(&pool_sb->sb_max_children,
	    (int)pool_cfg_max_children(cfg));
	atomic_store(&pool_sb->sb_max_requests, cfg->pc_max_requests);
	p->p_rate = 1;
	p->p_spawned = 0;
	p->p_at_max = 0;
}

/*
 * The current generation: <idle> in accept() (with just forked ones),
 * <kept> waiting on a kept connection (may be NULL), <total> (but those
 * leaving after max-requests, which are replaced at once).
 */
static void
pool_count(const struct pool *p, int *idle, int *kept, int *total)
{
	size_t i;
	int st, nk = 0;

	*idle = *total = 0;
	for (i = 0; i < p->p_nwk; i++) {
		if (p->p_wk[i].w_pid == 0 || p->p_wk[i].w_kill_at != 0)
			continue;
		st = atomic_load(&pool_sb->sb_proc[i].sp_state);
		if (st == POOL_SB_EXITING)
			continue;
		(*total)++;
		if (st == POOL_SB_IDLE || st == POOL_SB_STARTING)
			(*idle)++;
		else if (st == POOL_SB_KEPT)
			nk++;
	}
	if (kept != NULL)
		*kept = nk;
}

static void __attribute__((noreturn))
pool_child(struct pool *p, size_t slot)
{
	sigset_t none;
	int rc;

	close(p->p_sfd);
	pool_me = &pool_sb->sb_proc[slot];
	pool_self_cfg = p->p_cfg;
	pool_self_fd = p->p_fd;
	atomic_store(&pool_me->sp_pid, getpid());
	atomic_store(&pool_me->sp_state, POOL_SB_IDLE);
	pool_worker_signals(NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	rc = p->p_fn(p->p_fd, p->p_arg);
	/* _exit: the worker shares the master's stdio and atexit state. */
	_exit(rc & 0xff);
}

/* A free worker slot, or -1 when all are taken. */
static int
pool_free_slot(const struct pool *p)
{
	size_t i;

	for (i = 0; i < POOL_SB_SLOTS; i++)
		if (p->p_wk[i].w_pid == 0)
			return (int)i;
	return -1;
}

/* Forks a worker of the current generation. Returns 0 or -1. */
static int
pool_spawn(struct pool *p)
{
	struct pool_sb_proc *sp;
	uint64_t now = util_now_ms();
	pid_t pid;
	int i;

	if ((i = pool_free_slot(p)) == -1)
		return -1;
	sp = &pool_sb->sb_proc[i];
	memset(sp, 0, sizeof(*sp));
	atomic_store(&sp->sp_state, POOL_SB_STARTING);
	atomic_store(&sp->sp_idle_since, now);
	sp->sp_born = pool_wall_ms();
	if ((size_t)i >= p->p_nwk) {
		p->p_nwk = (size_t)i + 1;
		atomic_store(&pool_sb->sb_nslots, i + 1);
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		atomic_store(&sp->sp_state, POOL_SB_EMPTY);
		p->p_pace.pp_restart_at = now + POOL_BACKOFF_MIN;
		return -1;
	}
	if (pid == 0)
		pool_child(p, (size_t)i);
	atomic_store(&sp->sp_pid, pid);
	p->p_wk[i].w_pid = pid;
	p->p_wk[i].w_born = now;
	p->p_wk[i].w_kill_at = 0;
	p->p_wk[i].w_slow = 0;
	p->p_nlive++;
	log_debug("%s: worker %ld started", __func__, (long)pid);
	return 0;
}

/* Spawns up to <n> workers. Returns how many started. */
static int
pool_spawn_n(struct pool *p, int n)
{
	int k;

	for (k = 0; k < n; k++)
		if (pool_spawn(p) == -1)
			break;
	return k;
}

/* Retires worker slot <i>: SIGTERM now, SIGKILL after the drain time. */
static void
pool_retire(struct pool *p, size_t i, uint64_t deadline, int sig)
{
	p->p_wk[i].w_kill_at = deadline;
	atomic_store(&pool_sb->sb_proc[i].sp_retiring, 1);
	if (sig != 0)
		kill(p->p_wk[i].w_pid, sig);
}

/*
 * Retires idle workers of the current generation: with <timeout> 0 the
 * one in accept() idle the longest (a spare too many), else every one
 * idle for <timeout> ms, on a kept connection too (ondemand).
 */
static void
pool_reap_idle(struct pool *p, uint64_t timeout)
{
	uint64_t now = util_now_ms(), since, oldest = UINT64_MAX;
	size_t i, pick = SIZE_MAX;
	int st;

	for (i = 0; i < p->p_nwk; i++) {
		if (p->p_wk[i].w_pid == 0 || p->p_wk[i].w_kill_at != 0)
			continue;
		st = atomic_load(&pool_sb->sb_proc[i].sp_state);
		/*
		 * A worker on a kept connection takes no new one, but after
		 * idle-timeout it is idle all the same: its client (the
		 * gateway) reconnects when it needs one.
		 */
		if (st != POOL_SB_IDLE && st != POOL_SB_STARTING &&
		    (st != POOL_SB_KEPT || timeout == 0))
			continue;
		since = atomic_load(&pool_sb->sb_proc[i].sp_idle_since);
		if (timeout > 0 && now - since >= timeout) {
			log_debug("%s: worker %ld idle for %llu ms", __func__,
			    (long)p->p_wk[i].w_pid,
			    (unsigned long long)(now - since));
			pool_retire(p, i, now + p->p_cfg->pc_drain, SIGTERM);
		} else if (timeout == 0 && since < oldest) {
			oldest = since;
			pick = i;
		}
	}
	if (pick != SIZE_MAX) {
		log_debug("%s: worker %ld is a spare too many", __func__,
		    (long)p->p_wk[pick].w_pid);
		pool_retire(p, pick, now + p->p_cfg->pc_drain, SIGTERM);
	}
}

/*
 * dynamic: spawns when fewer than min-spare are idle (within the rate of
 * this second and max-children). <tick>: a second passed, so the rate
 * doubles while the shortage lasts (up to max-spawn-rate) or falls back
 * to 1, and one idle worker above max-spare is retired.
 */
static void
pool_manage_dynamic(struct pool *p, int tick)
{
	const struct pool_cfg *cfg = p->p_cfg;
	int idle, total, max = (int)pool_cfg_max_children(cfg), n;
	int burst = 0;
	int64_t q;

	pool_count(p, &idle, NULL, &total);
	if (tick) {
		if (idle < cfg->pc_min_spare && p->p_spawned >= p->p_rate)
			p->p_rate = p->p_rate * 2 > cfg->pc_spawn_rate ?
			    cfg->pc_spawn_rate : p->p_rate * 2;
		else if (idle >= cfg->pc_min_spare)
			p->p_rate = 1;
		p->p_spawned = 0;
	}
	if (idle < cfg->pc_min_spare) {
		n = (int)cfg->pc_min_spare - idle;
		/*
		 * Connections already wait in the backlog with no worker
		 * in accept(): one worker each at once, whatever the rate
		 * (max-children still bounds them), so that a burst (a
		 * start of the stack, a client opening several
		 * connections) waits a fork, not seconds of doubling.
		 */
		if (idle == 0 && (q = pool_listen_queue(p->p_fd)) > 0) {
			if (q > n)
				n = (int)q;
			burst = 1;
		}
		/*
		 * Without a connection waiting, the shortage may be one
		 * short request (a health check holds the spare for a
		 * millisecond): a spare started for it would be retired
		 * again a second later, over and over. So it must last
		 * POOL_SHORT_GRACE_MS first. A connection that then finds
		 * no worker in accept() is not kept waiting: the master
		 * watches the socket and starts one at once (above, or in
		 * pool_step()).
		 */
		if (!burst) {
			if (p->p_short_since == 0)
				p->p_short_since = util_now_ms();
			if (util_now_ms() - p->p_short_since <
			    POOL_SHORT_GRACE_MS)
				return;
		}
		if (n > max - total) {
			n = max - total;
			if (!p->p_at_max) {
				atomic_fetch_add(&pool_sb->sb_max_reached, 1);
				log_warnx("max-children (%d) reached; raise it "
				    "or the spares", max);
				p->p_at_max = 1;
			}
		}
		if (!burst && n > p->p_rate - p->p_spawned)
			n = (int)(p->p_rate - p->p_spawned);
		if (n > 0 && util_now_ms() >= p->p_pace.pp_restart_at)
			p->p_spawned += pool_spawn_n(p, n);
	} else {
		p->p_at_max = 0;
		p->p_short_since = 0;
	}
	/* Spares are the workers in accept(): one on a kept connection
	 * serves its client, which closes it when idle (backend-idle). */
	if (tick && idle > cfg->pc_max_spare)
		pool_reap_idle(p, 0);
}

/* Logs each request running longer than slow-log, once. */
static void
pool_slow_check(struct pool *p)
{
	uint64_t now = util_now_ms(), start, nreq, lim = p->p_cfg->pc_slow_log;
	struct pool_sb_proc *sp;
	char reqid[sizeof(sp->sp_reqid)], method[sizeof(sp->sp_method)];
	char uri[sizeof(sp->sp_uri)];
	size_t i;

	for (i = 0; i < p->p_nwk && lim > 0; i++) {
		sp = &pool_sb->sb_proc[i];
		if (p->p_wk[i].w_pid == 0 ||
		    atomic_load(&sp->sp_state) != POOL_SB_BUSY)
			continue;
		start = atomic_load(&sp->sp_req_start);
		nreq = atomic_load(&sp->sp_requests);
		if (start == 0 || now - start < lim ||
		    p->p_wk[i].w_slow == nreq)
			continue;
		pool_sb_copy(reqid, sizeof(reqid), sp->sp_reqid);
		pool_sb_copy(method, sizeof(method), sp->sp_method);
		pool_sb_copy(uri, sizeof(uri), sp->sp_uri);
		/* The worker moved on while we copied: not slow after all. */
		if (atomic_load(&sp->sp_requests) != nreq ||
		    atomic_load(&sp->sp_req_start) != start)
			continue;
		p->p_wk[i].w_slow = nreq;
		atomic_fetch_add(&pool_sb->sb_slow, 1);
		log_warnx("slow request: worker %ld, request id %s, %s %s, "
		    "running for %llu ms", (long)p->p_wk[i].w_pid, reqid,
		    method, uri, (unsigned long long)(now - start));
	}
}

/*
 * The process manager's step: spawns what the mode wants (restart pacing
 * allowing), retires spares, logs slow requests. <tick>: a second passed.
 */
static void
pool_manage(struct pool *p, int tick)
{
	int idle, total;

	if (p->p_stopping)
		return;
	/* Cleared before counting: a worker going busy after the count
	 * signals again. */
	atomic_store(&pool_sb->sb_notified, 0);
	if (tick)
		pool_slow_check(p);
	switch (p->p_mode) {
	case POOL_PM_DYNAMIC:
		pool_manage_dynamic(p, tick);
		break;
	case POOL_PM_ONDEMAND:
		if (tick)
			pool_reap_idle(p, p->p_cfg->pc_idle_timeout);
		break;
	default:
		pool_count(p, &idle, NULL, &total);
		if (util_now_ms() >= p->p_pace.pp_restart_at &&
		    total < p->p_cfg->pc_workers)
			pool_spawn_n(p, (int)(p->p_cfg->pc_workers - total));
		break;
	}
}

/*
 * ondemand and dynamic: whether the master should watch the listening
 * socket, i.e. no worker is in accept() and another may start (a
 * dynamic pool short of spares then starts one per waiting connection
 * at once, as ondemand does).
 */
static int
pool_watch_listen(struct pool *p)
{
	int idle, total;

	if (p->p_stopping || p->p_mode == POOL_PM_STATIC ||
	    util_now_ms() < p->p_pace.pp_restart_at)
		return 0;
	pool_count(p, &idle, NULL, &total);
	if (idle > 0)
		return 0;
	if (total >= pool_cfg_max_children(p->p_cfg)) {
		if (!p->p_at_max) {
			atomic_fetch_add(&pool_sb->sb_max_reached, 1);
			log_warnx("max-children (%lld) reached",
			    (long long)pool_cfg_max_children(p->p_cfg));
			p->p_at_max = 1;
		}
		return 0;
	}
	p->p_at_max = 0;
	return 1;
}

/* Starts the workers a fresh generation begins with. */
static void
pool_generation(struct pool *p)
{
	const struct pool_cfg *cfg = p->p_cfg;

	pool_sb_config(p);
	if (p->p_mode == POOL_PM_DYNAMIC)
		p->p_spawned = pool_spawn_n(p, (int)pool_cfg_start(cfg));
	else if (p->p_mode == POOL_PM_STATIC)
		pool_spawn_n(p, (int)cfg->pc_workers);
}

static void __attribute__((noreturn))
pool_bg_child(struct pool *p)
{
	sigset_t none;
	int rc;

	close(p->p_sfd);
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

	close(p->p_sfd);
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
 * ones with a drain deadline; sends nothing.
 */
static void
pool_slots_retire(struct pool *p)
{
	uint64_t deadline = util_now_ms() + p->p_cfg->pc_drain;
	size_t i;

	for (i = 0; i < p->p_nwk; i++)
		if (p->p_wk[i].w_pid != 0 && p->p_wk[i].w_kill_at == 0)
			pool_retire(p, i, deadline, 0);
	/* The background process drains with the same deadline. */
	if (p->p_bg_pid != 0) {
		pool_old_add(p, p->p_bg_pid, deadline);
		p->p_bg_pid = 0;
	}
}

/* Sends <sig> to every retiring worker and background process. */
static void
pool_signal_retiring(struct pool *p, int sig)
{
	size_t i;

	for (i = 0; i < p->p_nwk; i++)
		if (p->p_wk[i].w_pid != 0 && p->p_wk[i].w_kill_at != 0 &&
		    p->p_wk[i].w_kill_at != POOL_KILLED)
			kill(p->p_wk[i].w_pid, sig);
	for (i = 0; i < p->p_nold; i++)
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
	pool_pace_death(&p->p_pace, p->p_wk[i].w_born, "workers");
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

/* Worker <pid> exited with <st>: frees its slot. Returns 0, or -1 when
 * <pid> was no worker. */
static int
pool_reap_worker(struct pool *p, pid_t pid, int st)
{
	struct pool_sb_proc *sp;
	size_t i;

	for (i = 0; i < p->p_nwk; i++)
		if (p->p_wk[i].w_pid == pid)
			break;
	if (i == p->p_nwk)
		return -1;
	sp = &pool_sb->sb_proc[i];
	if (p->p_wk[i].w_kill_at != 0)
		log_debug("%s: retired worker %ld gone", __func__, (long)pid);
	else if (atomic_load(&sp->sp_state) == POOL_SB_EXITING &&
	    WIFEXITED(st) && WEXITSTATUS(st) == 0)
		log_info("worker %ld recycled after %llu requests", (long)pid,
		    (unsigned long long)atomic_load(&sp->sp_requests));
	else
		pool_died(p, i, pid, st);
	p->p_wk[i].w_pid = 0;
	p->p_wk[i].w_kill_at = 0;
	atomic_store(&sp->sp_pid, 0);
	atomic_store(&sp->sp_state, POOL_SB_EMPTY);
	p->p_nlive--;
	return 0;
}

static void
pool_reap(struct pool *p)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pool_old_remove(p, pid)) {
			log_debug("%s: retired process %ld gone", __func__,
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
		(void)pool_reap_worker(p, pid, st);
	}
}

static void
pool_kill_overdue(struct pool *p)
{
	uint64_t now = util_now_ms();
	size_t i;

	for (i = 0; i < p->p_nwk; i++) {
		if (p->p_wk[i].w_pid == 0 || p->p_wk[i].w_kill_at == 0 ||
		    p->p_wk[i].w_kill_at > now)
			continue;
		log_warnx("worker %ld still busy after the drain timeout, "
		    "killing it", (long)p->p_wk[i].w_pid);
		kill(p->p_wk[i].w_pid, SIGKILL);
		p->p_wk[i].w_kill_at = POOL_KILLED;
	}
	for (i = 0; i < p->p_nold; i++) {
		if (p->p_old[i].po_kill_at > now)
			continue;
		log_warnx("background process %ld still busy after the drain "
		    "timeout, killing it", (long)p->p_old[i].po_pid);
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
	pool_signal_retiring(p, SIGTERM);
	pool_refuse(p);
}

static void
pool_reload(struct pool *p)
{
	size_t before, fresh;

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
	if (pool_cfg_mode(p->p_cfg) == -1)
		log_warnx("reload: unknown pm \"%s\", running static",
		    p->p_cfg->pc_pm);
	/* New generation first, so accepting never pauses. */
	pool_slots_retire(p);
	p->p_pace.pp_restart_at = 0;
	p->p_pace.pp_streak = 0;
	p->p_bg_pace.pp_restart_at = 0;
	p->p_bg_pace.pp_streak = 0;
	before = p->p_nlive;
	pool_generation(p);
	fresh = p->p_nlive - before;
	pool_spawn_bg(p);
	pool_signal_retiring(p, SIGTERM);
	log_info("reloaded: %zu new workers (pm %s), %zu process(es) alive",
	    fresh, pool_mode_str(p->p_mode), p->p_nlive);
	sd_notify(0, "READY=1");
}

static void
pool_reopen(struct pool *p)
{
	size_t i;

	log_reopen();
	for (i = 0; i < p->p_nwk; i++)
		if (p->p_wk[i].w_pid != 0)
			kill(p->p_wk[i].w_pid, SIGUSR1);
	if (p->p_bg_pid != 0)
		kill(p->p_bg_pid, SIGUSR1);
	for (i = 0; i < p->p_nold; i++)
		kill(p->p_old[i].po_pid, SIGUSR1);
}

/* Whether the process manager needs its tick (mode, slow-log). */
static uint64_t
pool_tick_ms(const struct pool *p)
{
	uint64_t slow = p->p_cfg->pc_slow_log;

	if (slow > 0 && slow < 2 * POOL_TICK_MS)
		return slow / 2 > 50 ? slow / 2 : 50;
	if (slow > 0 || p->p_mode != POOL_PM_STATIC)
		return POOL_TICK_MS;
	return 0;
}

/* Milliseconds until the next deadline, or -1 when there is none. */
static int
pool_timeout(const struct pool *p)
{
	uint64_t now = util_now_ms(), next = UINT64_MAX;
	size_t i;
	int idle, total;

	if (!p->p_stopping) {
		pool_count(p, &idle, NULL, &total);
		if (p->p_pace.pp_restart_at > now)
			next = p->p_pace.pp_restart_at;
		if (pool_tick_ms(p) > 0 && p->p_tick_at < next)
			next = p->p_tick_at;
		if (p->p_short_since != 0 &&
		    p->p_short_since + POOL_SHORT_GRACE_MS < next)
			next = p->p_short_since + POOL_SHORT_GRACE_MS;
		if (p->p_bg != NULL && p->p_bg_pid == 0 &&
		    p->p_bg_pace.pp_restart_at < next)
			next = p->p_bg_pace.pp_restart_at;
		if (p->p_reg != NULL && p->p_reg_pid == 0 &&
		    p->p_reg_pace.pp_restart_at < next)
			next = p->p_reg_pace.pp_restart_at;
	}
	for (i = 0; i < p->p_nwk; i++)
		if (p->p_wk[i].w_pid != 0 && p->p_wk[i].w_kill_at != 0 &&
		    p->p_wk[i].w_kill_at < next)
			next = p->p_wk[i].w_kill_at;
	for (i = 0; i < p->p_nold; i++)
		if (p->p_old[i].po_kill_at < next)
			next = p->p_old[i].po_kill_at;
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	return next - now > 3600000 ? 3600000 : (int)(next - now);
}

/* Handles the signals the signalfd holds. */
static void
pool_signals(struct pool *p)
{
	struct signalfd_siginfo si;

	while (read(p->p_sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			pool_reap(p);
			break;
		case SIGTERM:
		case SIGINT:
			pool_stop(p, (int)si.ssi_signo);
			break;
		case SIGHUP:
			pool_reload(p);
			break;
		case SIGUSR1:
			pool_reopen(p);
			break;
		default:	/* SIGUSR2: a worker saw a shortage */
			break;
		}
	}
}

static void
pool_step(struct pool *p)
{
	struct pollfd pfd[2];
	uint64_t now, tick_ms;
	nfds_t n = 1;
	int tick = 0;

	pfd[0].fd = p->p_sfd;
	pfd[0].events = POLLIN;
	if (pool_watch_listen(p)) {
		pfd[1].fd = p->p_fd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		n = 2;
	}
	if (poll(pfd, n, pool_timeout(p)) == -1 && errno != EINTR)
		log_warn("poll");
	pool_signals(p);
	/* A connection no idle worker will take: start one for it. */
	if (n == 2 && (pfd[1].revents & POLLIN) && pool_watch_listen(p))
		pool_spawn(p);
	pool_kill_overdue(p);
	now = util_now_ms();
	if ((tick_ms = pool_tick_ms(p)) > 0 && now >= p->p_tick_at) {
		tick = 1;
		p->p_tick_at = now + tick_ms;
	}
	pool_manage(p, tick);
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
	sigaddset(set, SIGUSR2);
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
	if ((p.p_sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	pool_sb_map(&p);
	pool_start(&p);
	pool_generation(&p);
	pool_spawn_bg(&p);
	pool_spawn_reg(&p);
	sd_notify(0, "READY=1");
	log_info("pm %s, %zu worker(s) on %s", pool_mode_str(p.p_mode),
	    p.p_nlive, cfg->pc_listen);
	while (!p.p_stopping || p.p_nold > 0 || p.p_nlive > 0)
		pool_step(&p);
	close(p.p_fd);
	close(p.p_sfd);
	if (pool_has_pidfile(cfg))
		unlink(cfg->pc_pidfile);
	free(p.p_wk);
	free(p.p_old);
	munmap(pool_sb, sizeof(*pool_sb));
	pool_sb = NULL;
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
