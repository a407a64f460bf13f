/*
 * elp-gateway: master process. Reads and validates the configuration,
 * binds the listeners, forks the worker processes (each one epoll loop),
 * restarts a worker that dies, and handles the signals:
 *   SIGHUP   load and validate the config again; if valid, start new
 *            workers on it and let the old ones finish their requests;
 *            if not, log why and keep serving on the old one. Each
 *            retiring generation keeps its configuration, and with it
 *            its records in the shared state, until its last worker has
 *            exited, however many reloads come in between.
 *   SIGTERM  stop accepting, let workers drain (timeouts drain=), exit.
 *   SIGUSR1  reopen the log files.
 * "elp-gateway -t -c FILE" checks a configuration and exits. Under
 * systemd (NOTIFY_SOCKET set, Type=notify) it reports READY=1 once
 * serving, RELOADING=1 and READY=1 around a reload, STOPPING=1.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "proxy.h"
#include "util.h"
#include "version.h"

#define GW_MAX_WORKERS	256

/* A retiring generation: workers draining on an older configuration. */
struct gen {
	struct gw_conf	*g_conf;	/* held in the shared state too */
	pid_t		 g_pids[GW_MAX_WORKERS];	/* 0: exited */
	unsigned int	 g_id;
	struct gen	*g_next;
};

struct master {
	struct gw_conf	*m_conf;
	pid_t		 m_pids[GW_MAX_WORKERS];
	unsigned int	 m_gen;		/* generation of m_conf */
	struct gen	*m_old;		/* retiring generations, newest first */
	const char	*m_confpath;
	uint64_t	 m_restart_at;	/* backoff for crash loops */
	uint64_t	 m_backoff;
};

static int	 sig_term, sig_hup, sig_usr1, sig_chld;

/* Records signal <sig> (from sigtimedwait) for the loop to act on. */
static void
main_sig(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		sig_term = 1;
		break;
	case SIGHUP:
		sig_hup = 1;
		break;
	case SIGUSR1:
		sig_usr1 = 1;
		break;
	case SIGCHLD:
		sig_chld = 1;
		break;
	}
}

static const struct option main_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "debug", no_argument, NULL, 'd' },
	{ "help", no_argument, NULL, 'h' },
	{ "test", no_argument, NULL, 't' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/*
 * Prints the usage: on stdout with the options explained and exits 0 when
 * asked for (--help), else the synopsis on stderr and exits 2.
 */
static void __attribute__((noreturn))
usage(int help)
{
	FILE *f = help ? stdout : stderr;

	fprintf(f, "usage: elp-gateway [-dt] [-c gateway.xml] | -h | -V\n");
	if (!help)
		exit(2);
	fprintf(f, "\n"
	    "  -c, --config FILE  configuration (default conf/gateway.xml)\n"
	    "  -d, --debug        log at debug level, whatever log-level says\n"
	    "  -t, --test         check the configuration and exit\n"
	    "  -h, --help         print this help and exit\n"
	    "  -V, --version      print the version and exit\n");
	exit(fflush(f) == 0 ? 0 : 1);
}

static int
main_bind_unix(struct listener *l)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&l->l_addr.ga_ss;
	int fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)unlink(sun->sun_path);
	if (bind(fd, (struct sockaddr *)sun, l->l_addr.ga_len) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Opens listener <l>; returns the fd or -1 with the reason logged. */
static int
main_bind(struct listener *l)
{
	int fd, one = 1;
	sa_family_t af = l->l_addr.ga_ss.ss_family;

	if (af == AF_UNIX)
		fd = main_bind_unix(l);
	else if ((fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) != -1) {
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (af == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, (struct sockaddr *)&l->l_addr.ga_ss,
		    l->l_addr.ga_len) == -1) {
			close(fd);
			fd = -1;
		}
	}
	if (fd == -1 || listen(fd, (int)l->l_backlog) == -1) {
		log_warn("listener %s: cannot listen on %s", l->l_name,
		    l->l_addr.ga_text);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

/* Whether <fd> is a listener socket of <gc> too. */
static int
main_fd_shared(int fd, const struct gw_conf *gc)
{
	size_t i;

	for (i = 0; gc != NULL && i < gc->gc_nlisten; i++)
		if (gc->gc_listen[i].l_fd == fd)
			return 1;
	return 0;
}

/*
 * Gives every listener of <gc> a socket: reuses the one of <old> with the
 * same address (so a reload never drops a connection), binds new ones.
 * Returns 0 or -1 (new sockets closed again).
 */
static int
main_listen(struct gw_conf *gc, const struct gw_conf *old)
{
	size_t i, j;

	for (i = 0; i < gc->gc_nlisten; i++) {
		gc->gc_listen[i].l_fd = -1;
		for (j = 0; old != NULL && j < old->gc_nlisten; j++)
			if (old->gc_listen[j].l_fd != -1 &&
			    strcmp(old->gc_listen[j].l_addr.ga_text,
			    gc->gc_listen[i].l_addr.ga_text) == 0)
				gc->gc_listen[i].l_fd = old->gc_listen[j].l_fd;
		if (gc->gc_listen[i].l_fd == -1 &&
		    (gc->gc_listen[i].l_fd = main_bind(&gc->gc_listen[i])) ==
		    -1)
			goto fail;
	}
	return 0;
fail:
	for (j = 0; j < i; j++)
		if (!main_fd_shared(gc->gc_listen[j].l_fd, old))
			close(gc->gc_listen[j].l_fd);
	return -1;
}

/* Closes the listeners of <old> that <gc> no longer uses. */
static void
main_unlisten(struct gw_conf *old, const struct gw_conf *gc)
{
	size_t i;

	for (i = 0; i < old->gc_nlisten; i++)
		if (old->gc_listen[i].l_fd != -1 &&
		    !main_fd_shared(old->gc_listen[i].l_fd, gc)) {
			close(old->gc_listen[i].l_fd);
			old->gc_listen[i].l_fd = -1;
		}
}

/* Forks worker <idx> of the current generation (0 runs the checks). */
static pid_t
main_spawn(struct master *m, int idx)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0) {
		/* The worker reads its signals from a signalfd; keep
		 * them blocked, but let SIGINT from a terminal pass to the
		 * master only. */
		signal(SIGINT, SIG_IGN);
		_exit(worker_run(m->m_conf, idx));
	}
	return pid;
}

static void
main_spawn_all(struct master *m)
{
	int i;

	for (i = 0; i < m->m_conf->gc_workers; i++)
		if (m->m_pids[i] == 0)
			m->m_pids[i] = main_spawn(m, i);
}

static void
main_signal_all(pid_t *pids, int sig)
{
	int i;

	for (i = 0; i < GW_MAX_WORKERS; i++)
		if (pids[i] > 0)
			kill(pids[i], sig);
}

static int
main_alive(const pid_t *pids)
{
	int i;

	for (i = 0; i < GW_MAX_WORKERS; i++)
		if (pids[i] > 0)
			return 1;
	return 0;
}

/* Frees retiring generation <g>: its configuration and its hold on the
 * shared records (no process uses them any more). */
static void
main_gen_free(struct gen *g)
{
	shm_release(g->g_conf);
	conf_free(g->g_conf);
	free(g);
}

/*
 * Forgets <pid> if it was a worker of a retiring generation; the
 * generation whose last worker it was is freed. Returns 1 if it was one.
 */
static int
main_gen_gone(struct master *m, pid_t pid)
{
	struct gen **gp, *g;
	int i, found = 0;

	for (gp = &m->m_old; (g = *gp) != NULL; gp = &g->g_next) {
		for (i = 0; i < GW_MAX_WORKERS; i++)
			if (g->g_pids[i] == pid) {
				g->g_pids[i] = 0;
				found = 1;
			}
		if (found)
			break;
	}
	if (!found)
		return 0;
	if (!main_alive(g->g_pids)) {
		*gp = g->g_next;
		log_info("generation %u: last worker gone, its configuration "
		    "released", g->g_id);
		main_gen_free(g);
	}
	return 1;
}

/* Current worker <pid> died: restart it after a pause that grows while
 * they keep dying. */
static void
main_died(struct master *m, pid_t pid, int status)
{
	int i;

	for (i = 0; i < GW_MAX_WORKERS; i++) {
		if (m->m_pids[i] != pid)
			continue;
		m->m_pids[i] = 0;
		if (sig_term)
			continue;
		log_warnx("worker %ld died (%s %d), restarting", (long)pid,
		    WIFSIGNALED(status) ? "signal" : "status",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status));
		m->m_backoff = m->m_backoff ? m->m_backoff * 2 : 100;
		if (m->m_backoff > 5000)
			m->m_backoff = 5000;
		m->m_restart_at = util_now_ms() + m->m_backoff;
	}
}

/* Reaps children: retiring ones are forgotten, current ones restarted. */
static void
main_reap(struct master *m)
{
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		shm_proc_gone(pid);
		if (!main_gen_gone(m, pid))
			main_died(m, pid, status);
	}
}

/* The new configuration, loaded, assigned and bound; NULL if refused. */
static struct gw_conf *
main_reload_load(struct master *m)
{
	struct gw_conf *gc;

	if ((gc = conf_load(m->m_confpath)) == NULL) {
		log_warnx("reload refused, still serving the old "
		    "configuration");
		return NULL;
	}
	/* Health, breaker and counters carry over by instance key. */
	if (shm_assign(gc) == -1) {
		log_warnx("reload refused: shared state full");
		conf_free(gc);
		return NULL;
	}
	if (main_listen(gc, m->m_conf) == -1) {
		log_warnx("reload refused: cannot open listeners");
		shm_release(gc);
		conf_free(gc);
		return NULL;
	}
	return gc;
}

/*
 * Moves the current workers and configuration to a new retiring
 * generation; returns it, or NULL when no worker is left (then the
 * configuration is freed at once).
 */
static struct gen *
main_retire(struct master *m)
{
	struct gen *g;

	g = xcalloc(1, sizeof(*g));
	g->g_conf = m->m_conf;
	g->g_id = m->m_gen;
	memcpy(g->g_pids, m->m_pids, sizeof(g->g_pids));
	memset(m->m_pids, 0, sizeof(m->m_pids));
	m->m_conf = NULL;
	if (!main_alive(g->g_pids)) {
		main_gen_free(g);
		return NULL;
	}
	g->g_next = m->m_old;
	m->m_old = g;
	return g;
}

/* SIGHUP: new config aside; swap only when it is valid and bound. The
 * new workers start before the old ones stop accepting. */
static void
main_reload(struct master *m)
{
	struct gw_conf *gc;
	struct gen *g;

	log_info("reloading %s", m->m_confpath);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)util_now_ms() * 1000);
	if ((gc = main_reload_load(m)) == NULL) {
		sd_notify(0, "READY=1");
		return;
	}
	main_unlisten(m->m_conf, gc);
	g = main_retire(m);
	m->m_conf = gc;
	m->m_gen++;
	atomic_store(&shm->sh_conf_gen, m->m_gen);
	/* The static registry may have changed: merge the leases again. */
	lease_master_poll(gc, 1);
	/* Only when the identity provider changed: the shared keys serve. */
	tok_prefetch(gc);
	main_spawn_all(m);
	if (g != NULL)
		main_signal_all(g->g_pids, SIGTERM);
	log_info("reload done: %d workers on the new configuration",
	    gc->gc_workers);
	sd_notify(0, "READY=1");
}

/* Signals every worker of every retiring generation. */
static void
main_signal_old(struct master *m, int sig)
{
	struct gen *g;

	for (g = m->m_old; g != NULL; g = g->g_next)
		main_signal_all(g->g_pids, sig);
}

/* Waits up to <ms> for one of the blocked signals; returns it or 0. */
static int
main_wait_signal(const sigset_t *set, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	int sig;

	sig = sigtimedwait(set, NULL, &ts);
	return sig == -1 ? 0 : sig;
}

/* SIGTERM: workers drain on their own; SIGKILL after the drain time. */
static void
main_shutdown(struct master *m, const sigset_t *set)
{
	struct gen *g;
	uint64_t deadline, drain;

	log_info("shutting down");
	sd_notify(0, "STOPPING=1");
	main_signal_all(m->m_pids, SIGTERM);
	main_signal_old(m, SIGTERM);
	drain = m->m_conf->gc_to.to_drain;
	for (g = m->m_old; g != NULL; g = g->g_next)
		if (g->g_conf->gc_to.to_drain > drain)
			drain = g->g_conf->gc_to.to_drain;
	deadline = util_now_ms() + drain + 1000;
	while ((main_alive(m->m_pids) || m->m_old != NULL) &&
	    util_now_ms() < deadline) {
		(void)main_wait_signal(set, 50);
		main_reap(m);
	}
	main_signal_all(m->m_pids, SIGKILL);
	main_signal_old(m, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
	while ((g = m->m_old) != NULL) {
		m->m_old = g->g_next;
		main_gen_free(g);
	}
}

static void
main_loop(struct master *m, const sigset_t *set)
{
	int sig;

	lease_master_poll(m->m_conf, 1);
	main_spawn_all(m);
	while (!sig_term) {
		sig = main_wait_signal(set, 200);
		main_sig(sig);
		if (sig_chld) {
			sig_chld = 0;
			main_reap(m);
		}
		if (sig_hup) {
			sig_hup = 0;
			main_reload(m);
		}
		if (sig_usr1) {
			sig_usr1 = 0;
			log_reopen();
			main_signal_all(m->m_pids, SIGUSR1);
			main_signal_old(m, SIGUSR1);
		}
		/* leases.xml: picked up without a reload. */
		lease_master_poll(m->m_conf, 0);
		if (util_now_ms() >= m->m_restart_at)
			main_spawn_all(m);
		if (util_now_ms() > m->m_restart_at + 10000)
			m->m_backoff = 0;
	}
	main_shutdown(m, set);
}

static void
main_rlimit(const struct gw_conf *gc)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	/* Two fds per client connection plus backends and slack. */
	want = (rlim_t)gc->gc_lim.lim_connections * 2 + 256;
	if (want > rl.rlim_max)
		want = rl.rlim_max;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
main_pidfile(const char *path)
{
	FILE *f;

	if (path == NULL || *path == '\0')
		return;
	if ((f = fopen(path, "w")) == NULL)
		fatal("pidfile %s", path);
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

int
main(int argc, char *argv[])
{
	struct master m;
	sigset_t set;
	const char *path = "conf/gateway.xml";
	int ch, check = 0, debug = 0, lvl;

	while ((ch = getopt_long(argc, argv, "c:dhtV", main_opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'h':
			usage(1);
		case 't':
			check = 1;
			break;
		case 'V':
			return version_print("elp-gateway") == 0 ? 0 : 1;
		default:
			usage(0);
		}
	}
	if (optind != argc)
		usage(0);
	log_init("elp-gateway", debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	memset(&m, 0, sizeof(m));
	m.m_confpath = path;
	if ((m.m_conf = conf_load(path)) == NULL)
		return 1;
	if (check) {
		printf("elp-gateway: configuration %s is valid\n", path);
		conf_free(m.m_conf);
		return 0;
	}
	if (!debug && (lvl = log_level_parse(m.m_conf->gc_log_level)) != -1)
		log_set_level((enum log_level)lvl);
	if (*m.m_conf->gc_error_log != '\0' &&
	    log_open(m.m_conf->gc_error_log) == -1)
		fatal("error log %s", m.m_conf->gc_error_log);
	main_rlimit(m.m_conf);
	if (shm_init() == -1)
		fatal("shared state");
	if (shm_assign(m.m_conf) == -1)
		fatalx("cannot assign the shared state");
	if (main_listen(m.m_conf, NULL) == -1)
		fatalx("cannot open the listeners");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	main_pidfile(m.m_conf->gc_pidfile);
	/* The first workers start with the keys when the provider is up. */
	tok_prefetch(m.m_conf);
	log_info("started: %zu listeners, %d workers", m.m_conf->gc_nlisten,
	    m.m_conf->gc_workers);
	sd_notify(0, "READY=1");
	main_loop(&m, &set);
	if (*m.m_conf->gc_pidfile != '\0')
		(void)unlink(m.m_conf->gc_pidfile);
	conf_free(m.m_conf);
	log_info("stopped");
	return 0;
}
