/*
 * pool: the pool master of a FastCGI service (php-fpm style).
 *
 * The master opens the listening socket (unix path with a mode, or TCP
 * host:port), forks N workers that each run the worker function, restarts
 * a worker that dies (with a backoff when they die at once), and handles
 * signals:
 *   SIGTERM/SIGINT  stop accepting, let workers finish the request in
 *                   hand (drain timeout, then SIGKILL), exit 0.
 *   SIGHUP          call the reload hook; if it succeeds, start new
 *                   workers and retire the old ones gracefully.
 *   SIGUSR1         reopen logs (master and workers).
 *
 * A pool may also run one background process beside the workers (e.g. a
 * delivery loop): forked by the master, restarted when it dies (with the
 * same backoff when it dies right after starting), sent SIGTERM on stop
 * (SIGKILL after the drain timeout), and replaced by a fresh one after a
 * successful reload.
 */
#ifndef ELP_POOL_H
#define ELP_POOL_H

#include <sys/types.h>

#include <stdint.h>

#include <jansson.h>

#include "cfg.h"

struct pool_cfg {
	char		*pc_listen;	/* "unix:/path" or "host:port" */
	int64_t		 pc_workers;	/* worker processes */
	int64_t		 pc_backlog;	/* listen(2) backlog */
	int		 pc_mode;	/* unix socket mode, e.g. 0660 */
	uint64_t	 pc_drain;	/* ms to finish in-flight work */
	char		*pc_pidfile;	/* NULL = none */
	/* The process manager (php-fpm's pm): see pool_cfg_check(). */
	char		*pc_pm;		/* "static" (NULL too), "dynamic",
					   "ondemand" */
	int64_t		 pc_max_children; /* dynamic/ondemand; 0 = workers */
	int64_t		 pc_start_servers; /* dynamic; 0 = php-fpm's default */
	int64_t		 pc_min_spare;	/* dynamic: idle workers wanted */
	int64_t		 pc_max_spare;	/* dynamic: idle workers kept */
	int64_t		 pc_spawn_rate;	/* dynamic: spawns per second cap */
	uint64_t	 pc_idle_timeout; /* ondemand: ms idle before reaped */
	int64_t		 pc_max_requests; /* recycle after N; 0 = never */
	uint64_t	 pc_slow_log;	/* ms; 0 = off */
	char		*pc_status_path; /* NULL or "" = no status page */
};

/* The process manager modes. */
#define POOL_PM_STATIC		0
#define POOL_PM_DYNAMIC		1
#define POOL_PM_ONDEMAND	2

/* Key table for a <pool> element; dst is struct pool_cfg. */
extern const struct cfg_key	pool_cfg_keys[];
extern const size_t		pool_cfg_nkeys;

/* Runs in each worker with the listening socket; returns the exit code. */
typedef int (*pool_worker_fn)(int fd, void *arg);
/* Runs in the master on SIGHUP; returns 0 to replace workers, -1 to keep
 * the old ones (reason already logged). */
typedef int (*pool_reload_fn)(void *arg);
/* Runs in the background process (without the listening socket); returns
 * the exit code. Should return soon after pool_should_stop() turns on. */
typedef int (*pool_bg_fn)(void *arg);

/* What a pool runs; every member but pf_worker may be NULL. */
struct pool_fns {
	pool_worker_fn	 pf_worker;
	pool_bg_fn	 pf_background;	/* NULL: no background process */
	pool_reload_fn	 pf_reload;
	void		*pf_arg;	/* passed to each of them */
	/* NULL: none. The registrar (reg.h): forked once the socket
	 * listens, restarted when it dies, kept over a reload; on SIGTERM
	 * it is stopped (it deregisters) before the workers drain, for at
	 * most POOL_REG_STOP_MS. */
	pool_bg_fn	 pf_register;
};

#define POOL_REG_STOP_MS	8000

/*
 * Opens the socket, runs the pool until SIGTERM, returns the process exit
 * status (0 after a clean drain). Fatal on startup errors (bind failure,
 * pidfile). The master blocks its signals and takes them with
 * sigtimedwait(); the mask is restored before returning. A worker that
 * dies is restarted; when workers die within 1 s of starting, restarts
 * back off from 1 s doubling to 30 s. After a successful reload the
 * master re-reads pc_workers, pc_drain and the process manager settings
 * (pc_pm and after) from <cfg> (the hook may update the struct in place)
 * and starts a new generation; a new listen address needs a restart. sd_notify()
 * READY=1, RELOADING=1 and STOPPING=1 go to systemd when NOTIFY_SOCKET is
 * set. A pc_pidfile of NULL or "" means none.
 */
int	 pool_run(const struct pool_cfg *, pool_worker_fn, pool_reload_fn,
	    void *arg);

/*
 * pool_run() with the functions of <fns>, including the optional
 * background process (see the top of this file). Its signals are those of
 * a worker (pool_worker_signals(NULL)).
 */
int	 pool_run_fns(const struct pool_cfg *, const struct pool_fns *fns);

/* In a worker: nonzero once the master asked it to stop. */
int	 pool_should_stop(void);

/*
 * In a worker: installs its signal handlers. SIGTERM and SIGINT set the
 * stop flag and then call <stop_hook> (if not NULL) inside the handler,
 * so the hook must be async-signal-safe (e.g. FCGX_ShutdownPending);
 * SIGUSR1 asks for a log reopen (see pool_worker_idle); SIGHUP and SIGPIPE
 * are ignored. No SA_RESTART: blocking calls return EINTR. pool_run()
 * calls it with NULL in every worker it forks; a worker function may call
 * it again to set a hook. Also usable to run a worker outside a pool.
 */
void	 pool_worker_signals(void (*stop_hook)(void));

/*
 * In a worker, between requests: does the work signals deferred, i.e.
 * log_reopen() after SIGUSR1.
 */
void	 pool_worker_idle(void);

/*
 * In a worker or the background process: sleeps <ms>, or less when a
 * signal arrives (so SIGTERM stops a long pause at once).
 */
void	 pool_worker_pause(uint64_t ms);

/*
 * Opens a listening socket for "unix:/path" (stale socket removed, mode
 * applied) or "host:port" (IPv4/IPv6, SO_REUSEADDR), non-blocking off.
 * Returns the fd or -1 with the reason logged.
 */
int	 pool_listen(const char *addr, int backlog, int mode);

/*
 * The mode of <pc>'s pm attribute (NULL and "" are static), or -1 when it
 * names none.
 */
int	 pool_cfg_mode(const struct pool_cfg *pc);

/*
 * The most workers <pc> may run at once: workers when static, else
 * max-children (0 there means workers). What a registration's maxconn
 * defaults to.
 */
int64_t	 pool_cfg_max_children(const struct pool_cfg *pc);

/*
 * Checks the process manager settings of <pc>, read from element <node>
 * (NULL: the root) of <cd>: a known pm, min-spare <= start-servers <=
 * max-spare <= max-children for dynamic, a status path starting with
 * "/". Errors are reported with file:line and counted in <cd>.
 */
void	 pool_cfg_check(struct cfg_doc *cd, xmlNodePtr node,
	    const struct pool_cfg *pc);

/*
 * The scoreboard (shared memory the master maps before forking): each
 * worker records its state around every request. app_worker_loop() calls
 * these; a worker function of its own should too. Outside a pool they do
 * nothing.
 *
 * pool_worker_busy: a request begins (method, URI and request id are
 * copied, truncated). May signal the master when the idle workers fall
 * below what the pool wants, so that it spawns at once.
 * pool_worker_done: the request ended. When it was the max-requests'th,
 * the worker stops as on SIGTERM (pool_should_stop() turns on) and the
 * master starts a fresh one: no request is cut.
 * pool_worker_wait: the worker waits for its next request, on a
 * connection the client keeps open (<kept> 1) or in accept() (0). Only
 * the latter can take a new connection, so only those count as idle
 * when the pool decides to spawn: a gateway keeping its connections
 * open holds a worker with each.
 */
void	 pool_worker_busy(const char *method, const char *uri,
	    const char *reqid);
void	 pool_worker_done(void);
void	 pool_worker_wait(int kept);

/*
 * In a worker: the configured status path, or NULL when there is none
 * (or outside a pool).
 */
const char	*pool_status_path(void);

/*
 * In a worker: the pool's status as a new JSON object (php-fpm's status
 * page): pm mode, processes idle, active and total, listen queue,
 * requests accepted and served, max active reached, slow requests; with
 * <full> a "processes" array with one object per worker. NULL outside a
 * pool.
 */
json_t	*pool_status_json(int full);

/* Frees the strings of <pc> and sets them to NULL. */
void	 pool_cfg_release(struct pool_cfg *pc);

/*
 * For a reload hook: carries over from <old> to <fresh> the settings that
 * take effect only at start (socket address, backlog, mode, pid file),
 * warning when <fresh> asks for a change. The strings move: <old> no
 * longer owns them.
 */
void	 pool_cfg_keep_startup(struct pool_cfg *old, struct pool_cfg *fresh);

#endif
