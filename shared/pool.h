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
 */
#ifndef ELP_POOL_H
#define ELP_POOL_H

#include <sys/types.h>

#include <stdint.h>

#include "cfg.h"

struct pool_cfg {
	char		*pc_listen;	/* "unix:/path" or "host:port" */
	int64_t		 pc_workers;	/* worker processes */
	int64_t		 pc_backlog;	/* listen(2) backlog */
	int		 pc_mode;	/* unix socket mode, e.g. 0660 */
	uint64_t	 pc_drain;	/* ms to finish in-flight work */
	char		*pc_pidfile;	/* NULL = none */
};

/* Key table for a <pool> element; dst is struct pool_cfg. */
extern const struct cfg_key	pool_cfg_keys[];
extern const size_t		pool_cfg_nkeys;

/* Runs in each worker with the listening socket; returns the exit code. */
typedef int (*pool_worker_fn)(int fd, void *arg);
/* Runs in the master on SIGHUP; returns 0 to replace workers, -1 to keep
 * the old ones (reason already logged). */
typedef int (*pool_reload_fn)(void *arg);

/*
 * Opens the socket, runs the pool until SIGTERM, returns the process exit
 * status (0 after a clean drain). Fatal on startup errors (bind failure).
 */
int	 pool_run(const struct pool_cfg *, pool_worker_fn, pool_reload_fn,
	    void *arg);

/* In a worker: nonzero once the master asked it to stop. */
int	 pool_should_stop(void);

/*
 * Opens a listening socket for "unix:/path" (stale socket removed, mode
 * applied) or "host:port" (IPv4/IPv6, SO_REUSEADDR), non-blocking off.
 * Returns the fd or -1 with the reason logged.
 */
int	 pool_listen(const char *addr, int backlog, int mode);

void	 pool_cfg_release(struct pool_cfg *);

#endif
