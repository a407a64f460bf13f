/*
 * Unit tests for shared/pool.c: listening sockets, and the master run in a
 * forked child with trivial workers: restart, reload, drain, backoff.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "pool.h"
#include "util.h"

#define MAXW	16

struct tp {
	char		 dir[64];
	char		 listen[80];	/* "unix:<dir>/s" */
	char		 sock[72];
	char		 pidfile[72];
	char		 flag[72];	/* exists: the reload hook fails */
	char		 starts[72];	/* one byte per crashing worker start */
	struct pool_cfg	 cfg;
	pid_t		 master;
};

/* Answers each connection with its pid; polls so a stop is never lost. */
static int
w_echo(int fd, void *arg)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	int c;

	(void)arg;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (!pool_should_stop()) {
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if ((c = accept(fd, NULL, NULL)) == -1)
			continue;
		dprintf(c, "%ld\n", (long)getpid());
		close(c);
	}
	return 0;
}

/* Dies at once, leaving a mark in the starts file. */
static int
w_crash(int fd, void *arg)
{
	struct tp *t = arg;
	ssize_t n = -1;
	int f;

	(void)fd;
	f = open(t->starts, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (f != -1) {
		n = write(f, "x", 1);
		close(f);
	}
	(void)n;
	return 3;
}

/* Ignores SIGTERM: only the drain timeout's SIGKILL ends it. */
static int
w_stubborn(int fd, void *arg)
{
	(void)fd;
	(void)arg;
	signal(SIGTERM, SIG_IGN);
	for (;;)
		pause();
	return 0;
}

/* A background process: idles until asked to stop. */
static int
b_idle(void *arg)
{
	(void)arg;
	while (!pool_should_stop())
		usleep(20 * 1000);
	return 0;
}

static int
r_hook(void *arg)
{
	struct tp *t = arg;

	return access(t->flag, F_OK) == 0 ? -1 : 0;
}

/* Live (non-zombie) children of <ppid>, from /proc. */
static size_t
children(pid_t ppid, pid_t *out, size_t max)
{
	char path[300], buf[512], *p;
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	FILE *f;
	long pp;
	char st;

	assert_non_null(d = opendir("/proc"));
	while ((de = readdir(d)) != NULL && n < max) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (p == NULL || (p = strrchr(buf, ')')) == NULL)
			continue;
		if (sscanf(p + 1, " %c %ld", &st, &pp) == 2 && pp == ppid &&
		    st != 'Z')
			out[n++] = (pid_t)atol(de->d_name);
	}
	closedir(d);
	return n;
}

static int
contains(const pid_t *set, size_t n, pid_t pid)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i] == pid)
			return 1;
	return 0;
}

/*
 * Waits up to <ms> until the master has exactly <want> workers, none of
 * them in <avoid> (navoid entries). Returns the count seen last.
 */
static size_t
wait_workers(struct tp *t, size_t want, const pid_t *avoid, size_t navoid,
    pid_t *out, int ms)
{
	size_t n = 0, i;
	int k;

	for (k = 0; k <= ms; k += 10) {
		n = children(t->master, out, MAXW);
		for (i = 0; i < n && !contains(avoid, navoid, out[i]); i++)
			continue;
		if (n == want && i == n)
			break;
		usleep(10 * 1000);
	}
	return n;
}

/* Waits up to <ms> for the master to exit; returns its status or -1. */
static int
wait_master(struct tp *t, int ms)
{
	int st, k;

	for (k = 0; k <= ms; k += 10) {
		if (waitpid(t->master, &st, WNOHANG) == t->master) {
			t->master = 0;
			return st;
		}
		usleep(10 * 1000);
	}
	return -1;
}

static void
start(struct tp *t, pool_worker_fn fn, int64_t workers, uint64_t drain)
{
	t->cfg.pc_listen = t->listen;
	t->cfg.pc_workers = workers;
	t->cfg.pc_backlog = 16;
	t->cfg.pc_mode = 0600;
	t->cfg.pc_drain = drain;
	t->cfg.pc_pidfile = t->pidfile;
	t->master = fork();
	assert_true(t->master != -1);
	if (t->master == 0)
		_exit(pool_run(&t->cfg, fn, r_hook, t));
}

/* Like start(), with one w_echo worker and the background process b_idle. */
static void
start_bg(struct tp *t)
{
	struct pool_fns fns;

	memset(&fns, 0, sizeof(fns));
	fns.pf_worker = w_echo;
	fns.pf_background = b_idle;
	fns.pf_reload = r_hook;
	fns.pf_arg = t;
	t->cfg.pc_listen = t->listen;
	t->cfg.pc_workers = 1;
	t->cfg.pc_backlog = 16;
	t->cfg.pc_mode = 0600;
	t->cfg.pc_drain = 2000;
	t->cfg.pc_pidfile = t->pidfile;
	t->master = fork();
	assert_true(t->master != -1);
	if (t->master == 0)
		_exit(pool_run_fns(&t->cfg, &fns));
}

static int
setup(void **state)
{
	struct tp *t = xcalloc(1, sizeof(*t));

	strcpy(t->dir, "/tmp/test_pool.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->sock, sizeof(t->sock), "%s/s", t->dir);
	snprintf(t->listen, sizeof(t->listen), "unix:%s", t->sock);
	snprintf(t->pidfile, sizeof(t->pidfile), "%s/pid", t->dir);
	snprintf(t->flag, sizeof(t->flag), "%s/fail", t->dir);
	snprintf(t->starts, sizeof(t->starts), "%s/starts", t->dir);
	*state = t;
	return 0;
}

/* Kills whatever a failed test left running, then removes the files. */
static int
teardown(void **state)
{
	struct tp *t = *state;
	pid_t w[MAXW];
	size_t i, n;

	if (t->master > 0) {
		n = children(t->master, w, MAXW);
		for (i = 0; i < n; i++)
			kill(w[i], SIGKILL);
		kill(t->master, SIGKILL);
		waitpid(t->master, NULL, 0);
	}
	unlink(t->sock);
	unlink(t->pidfile);
	unlink(t->flag);
	unlink(t->starts);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* Connects to the pool and returns the pid of the worker that answered. */
static pid_t
ask(const struct tp *t)
{
	struct sockaddr_un sun;
	char buf[32];
	ssize_t n;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t->sock);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	return (pid_t)atol(buf);
}

static void
stop_clean(struct tp *t)
{
	struct stat st;
	int status;

	kill(t->master, SIGTERM);
	status = wait_master(t, 3000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(stat(t->sock, &st), -1);
	assert_int_equal(stat(t->pidfile, &st), -1);
}

static void
test_pool_restart(void **state)
{
	struct tp *t = *state;
	pid_t a[MAXW], b[MAXW], got;
	struct stat st;
	char buf[32];
	FILE *f;

	start(t, w_echo, 2, 2000);
	assert_int_equal(wait_workers(t, 2, NULL, 0, a, 2000), 2);
	assert_non_null(f = fopen(t->pidfile, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_int_equal(atol(buf), t->master);
	assert_int_equal(stat(t->sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	got = ask(t);
	assert_true(contains(a, 2, got));
	/* Older than the quick-death window: restarted at once. */
	usleep(1100 * 1000);
	kill(a[0], SIGKILL);
	assert_int_equal(wait_workers(t, 2, &a[0], 1, b, 500), 2);
	assert_true(contains(b, 2, a[1]));
	assert_true(contains(b, 2, ask(t)));
	stop_clean(t);
	assert_int_equal(children(getpid(), b, MAXW), 0);
}

static void
test_pool_reload(void **state)
{
	struct tp *t = *state;
	pid_t a[MAXW], b[MAXW], c[MAXW];
	int fd;

	start(t, w_echo, 2, 2000);
	assert_int_equal(wait_workers(t, 2, NULL, 0, a, 2000), 2);
	kill(t->master, SIGHUP);
	/* New generation, and the old one gone after its SIGTERM. */
	assert_int_equal(wait_workers(t, 2, a, 2, b, 2000), 2);
	assert_true(contains(b, 2, ask(t)));
	/* A failing reload keeps the running workers. */
	assert_true((fd = open(t->flag, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	kill(t->master, SIGHUP);
	usleep(300 * 1000);
	assert_int_equal(children(t->master, c, MAXW), 2);
	assert_true(contains(c, 2, b[0]) && contains(c, 2, b[1]));
	stop_clean(t);
}

static void
test_pool_drain_kills(void **state)
{
	struct tp *t = *state;
	pid_t a[MAXW];
	int status;

	start(t, w_stubborn, 1, 300);
	assert_int_equal(wait_workers(t, 1, NULL, 0, a, 2000), 1);
	usleep(50 * 1000);
	kill(t->master, SIGTERM);
	/* Still draining before the deadline, gone soon after it. */
	usleep(150 * 1000);
	assert_int_equal(waitpid(t->master, &status, WNOHANG), 0);
	status = wait_master(t, 2000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(kill(a[0], 0), -1);
}

static void
test_pool_backoff(void **state)
{
	struct tp *t = *state;
	struct stat st;

	start(t, w_crash, 2, 1000);
	/* Starts at 0 s and 1 s, next at 3 s: not a fork loop. */
	usleep(1500 * 1000);
	assert_int_equal(stat(t->starts, &st), 0);
	if (st.st_size < 3 || st.st_size > 6)
		fail_msg("%lld worker starts in 1.5 s", (long long)st.st_size);
	stop_clean(t);
}

static void
test_pool_listen(void **state)
{
	struct tp *t = *state;
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	socklen_t len = sizeof(ss);
	int fd, fd2;

	(void)state;
	assert_true((fd = pool_listen("127.0.0.1:0", 8, 0)) >= 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_true(((struct sockaddr_in *)&ss)->sin_port != 0);
	close(fd);
	assert_int_equal(pool_listen("127.0.0.1", 8, 0), -1);
	assert_int_equal(pool_listen("[::1", 8, 0), -1);
	assert_int_equal(pool_listen("unix:", 8, 0), -1);
	/* A stale socket file is replaced; a live one is refused. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t->sock);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_true((fd = pool_listen(t->listen, 8, 0640)) >= 0);
	assert_int_equal(pool_listen(t->listen, 8, 0640), -1);
	close(fd);
	unlink(t->sock);
	/* Anything but a socket is left alone. */
	assert_true((fd2 = open(t->sock, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd2);
	assert_int_equal(pool_listen(t->listen, 8, 0640), -1);
	assert_int_equal(access(t->sock, F_OK), 0);
}

static void
test_pool_cfg_keys(void **state)
{
	struct pool_cfg pc;
	size_t i;

	(void)state;
	assert_int_equal(pool_cfg_nkeys, 16);
	for (i = 0; i < pool_cfg_nkeys; i++)
		if (strcmp(pool_cfg_keys[i].ck_name, "listen") == 0)
			assert_null(pool_cfg_keys[i].ck_def);
		else
			assert_non_null(pool_cfg_keys[i].ck_def);
	memset(&pc, 0, sizeof(pc));
	pc.pc_listen = xstrdup("unix:/x");
	pc.pc_pidfile = xstrdup("");
	pool_cfg_release(&pc);
	assert_null(pc.pc_listen);
	assert_null(pc.pc_pidfile);
	pool_cfg_release(&pc);
}

/* The background process: beside the worker, restarted when it dies,
 * replaced on reload, stopped with the pool. */
static void
test_pool_background(void **state)
{
	struct tp *t = *state;
	pid_t a[MAXW], b[MAXW], c[MAXW], worker, bg;

	start_bg(t);
	assert_int_equal(wait_workers(t, 2, NULL, 0, a, 2000), 2);
	worker = ask(t);
	assert_true(contains(a, 2, worker));
	bg = a[0] == worker ? a[1] : a[0];
	/* It never answers requests: the worker does, every time. */
	assert_int_equal(ask(t), worker);
	usleep(1100 * 1000);
	kill(bg, SIGKILL);
	assert_int_equal(wait_workers(t, 2, &bg, 1, b, 1000), 2);
	assert_true(contains(b, 2, worker));
	kill(t->master, SIGHUP);
	assert_int_equal(wait_workers(t, 2, b, 2, c, 3000), 2);
	assert_true(contains(c, 2, ask(t)));
	stop_clean(t);
	assert_int_equal(children(getpid(), c, MAXW), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pool_listen, setup,
		    teardown),
		cmocka_unit_test(test_pool_cfg_keys),
		cmocka_unit_test_setup_teardown(test_pool_restart, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pool_background, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pool_reload, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pool_drain_kills,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_backoff, setup,
		    teardown),
	};

	log_init("test_pool", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
