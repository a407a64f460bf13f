/*
 * Unit tests for proxy/rl.c: rate and method parsing, the token bucket of
 * a zone (burst, refusal with the wait, refill), which requests a <limit>
 * matches (method, exact path with trailing slashes, prefix on a segment
 * boundary), exempt addresses, one bucket per address, a bucket shared
 * with a forked process, eviction when a set is full, tables kept or
 * renewed by rl_assign(), and a lock word taken over from a dead holder.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

/* One zone "z" and a route /a with the limits <lims>. */
struct fixture {
	struct gw_conf	 gc;
	struct rl_zone	 zone;
	struct route	 rt;
	struct rl_limit	 lims[2];
};

static struct fixture *
fixture_new(const char *rate, int64_t burst, int64_t size)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->zone.rz_name = "z";
	f->zone.rz_burst = burst;
	f->zone.rz_size = size;
	assert_int_equal(rl_parse_rate(rate, &f->zone.rz_interval), 0);
	f->gc.gc_zones = &f->zone;
	f->gc.gc_nzones = 1;
	f->rt.rt_prefix = "/a";
	f->rt.rt_limits = f->lims;
	f->lims[0].rl_zone = &f->zone;
	f->lims[0].rl_path = "/a/login";
	f->lims[0].rl_prefix = "";
	assert_int_equal(rl_parse_methods("POST", &f->lims[0].rl_mbits), 0);
	f->lims[1].rl_zone = &f->zone;
	f->lims[1].rl_path = "";
	f->lims[1].rl_prefix = "/a/up";
	f->rt.rt_nlimits = 2;
	assert_int_equal(rl_assign(&f->gc), 0);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	rl_release(&f->gc);
	free(f->zone.rz_nets);
	free(f);
}

static uint32_t
check(struct fixture *f, enum h1_method m, const char *path,
    const char *client)
{
	const char *zone = NULL;
	uint32_t wait;

	wait = rl_check(&f->rt, m, str_make(path, strlen(path)), client,
	    &zone);
	if (wait != 0)
		assert_string_equal(zone, "z");
	return wait;
}

static void
test_parse_rate(void **state)
{
	uint64_t iv;

	(void)state;
	assert_int_equal(rl_parse_rate("10r/m", &iv), 0);
	assert_int_equal(iv, 6000000);
	assert_int_equal(rl_parse_rate("5r/s", &iv), 0);
	assert_int_equal(iv, 200000);
	assert_int_equal(rl_parse_rate("1000000r/s", &iv), 0);
	assert_int_equal(iv, 1);
	assert_int_equal(rl_parse_rate("0r/s", &iv), -1);
	assert_int_equal(rl_parse_rate("10r/h", &iv), -1);
	assert_int_equal(rl_parse_rate("r/s", &iv), -1);
	assert_int_equal(rl_parse_rate("10", &iv), -1);
	assert_int_equal(rl_parse_rate("-1r/s", &iv), -1);
	assert_int_equal(rl_parse_rate("1000001r/s", &iv), -1);
	assert_int_equal(rl_parse_rate("10r/s ", &iv), -1);
}

static void
test_parse_methods(void **state)
{
	uint32_t bits;

	(void)state;
	assert_int_equal(rl_parse_methods("", &bits), 0);
	assert_int_equal(bits, 0);
	assert_int_equal(rl_parse_methods("POST", &bits), 0);
	assert_int_equal(bits, 1u << H1_M_POST);
	assert_int_equal(rl_parse_methods(" GET HEAD,PUT ", &bits), 0);
	assert_int_equal(bits, (1u << H1_M_GET) | (1u << H1_M_HEAD) |
	    (1u << H1_M_PUT));
	assert_int_equal(rl_parse_methods("FETCH", &bits), -1);
	assert_int_equal(rl_parse_methods("post", &bits), -1);
	assert_int_equal(rl_parse_methods("POSTS", &bits), -1);
}

/* Burst, then refused with the wait; other requests pass. */
static void
test_burst(void **state)
{
	struct fixture *f = fixture_new("1r/m", 3, 1000);
	int i;

	(void)state;
	for (i = 0; i < 3; i++)
		assert_int_equal(check(f, H1_M_POST, "/a/login", "10.0.0.1"),
		    0);
	/* 3 tokens gone, one back every 60 s. */
	assert_in_range(check(f, H1_M_POST, "/a/login", "10.0.0.1"), 59, 60);
	assert_in_range(check(f, H1_M_POST, "/a/login/", "10.0.0.1"), 59,
	    60);
	/* Another method, another path, another address. */
	assert_int_equal(check(f, H1_M_GET, "/a/login", "10.0.0.1"), 0);
	assert_int_equal(check(f, H1_M_POST, "/a/login/x", "10.0.0.1"), 0);
	assert_int_equal(check(f, H1_M_POST, "/a/loginx", "10.0.0.1"), 0);
	assert_int_equal(check(f, H1_M_POST, "/a/login", "10.0.0.2"), 0);
	assert_int_equal(check(f, H1_M_POST, "/a/login", "2001:db8::1"), 0);
	fixture_free(f);
}

/* The prefix limit, any method, on a segment boundary. */
static void
test_prefix(void **state)
{
	struct fixture *f = fixture_new("1r/m", 1, 1000);

	(void)state;
	assert_int_equal(check(f, H1_M_GET, "/a/up/x", "10.0.0.1"), 0);
	assert_int_not_equal(check(f, H1_M_DELETE, "/a/up", "10.0.0.1"), 0);
	assert_int_equal(check(f, H1_M_GET, "/a/upx", "10.0.0.1"), 0);
	assert_int_equal(check(f, H1_M_GET, "/a/up/x", "10.0.0.3"), 0);
	fixture_free(f);
}

/* Refill: at 1000 r/s a refused address has a token 1 ms later. */
static void
test_refill(void **state)
{
	struct fixture *f = fixture_new("1000r/s", 1, 1000);
	uint32_t wait;

	(void)state;
	assert_int_equal(check(f, H1_M_POST, "/a/login", "10.0.0.1"), 0);
	while ((wait = check(f, H1_M_POST, "/a/login", "10.0.0.1")) == 0)
		;
	/* Rounded up to a whole second for Retry-After. */
	assert_int_equal(wait, 1);
	usleep(3000);
	assert_int_equal(check(f, H1_M_POST, "/a/login", "10.0.0.1"), 0);
	fixture_free(f);
}

static void
test_allow(void **state)
{
	struct fixture *f = fixture_new("1r/m", 1, 1000);
	struct str bad;
	int i;

	(void)state;
	f->zone.rz_nets = xcalloc(4, sizeof(*f->zone.rz_nets));
	assert_int_equal(realip_parse_list("192.0.2.0/24 unix:",
	    f->zone.rz_nets, 4, &bad), 2);
	f->zone.rz_nnets = 2;
	for (i = 0; i < 5; i++) {
		assert_int_equal(check(f, H1_M_POST, "/a/login", "192.0.2.9"),
		    0);
		assert_int_equal(check(f, H1_M_POST, "/a/login", "unix"), 0);
	}
	assert_int_equal(check(f, H1_M_POST, "/a/login", "192.0.3.9"), 0);
	assert_int_not_equal(check(f, H1_M_POST, "/a/login", "192.0.3.9"), 0);
	fixture_free(f);
}

/* A forked process takes from the same bucket. */
static void
test_shared(void **state)
{
	struct fixture *f = fixture_new("1r/m", 3, 1000);
	pid_t pid;
	int st;

	(void)state;
	if ((pid = fork()) == 0)
		_exit(check(f, H1_M_POST, "/a/login", "10.0.0.1") == 0 &&
		    check(f, H1_M_POST, "/a/login", "10.0.0.1") == 0 ? 0 : 1);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(check(f, H1_M_POST, "/a/login", "10.0.0.1"), 0);
	assert_int_not_equal(check(f, H1_M_POST, "/a/login", "10.0.0.1"), 0);
	fixture_free(f);
}

/* size 8 is one set: a 9th refilling address evicts the one closest to
 * full, which then starts again with a full bucket. */
static void
test_evict(void **state)
{
	struct fixture *f = fixture_new("1r/m", 1, 8);
	struct buf m = BUF_INIT;
	char addr[32];
	int i;

	(void)state;
	for (i = 1; i <= 8; i++) {
		snprintf(addr, sizeof(addr), "10.0.0.%d", i);
		assert_int_equal(check(f, H1_M_POST, "/a/login", addr), 0);
		usleep(1000);
	}
	assert_int_not_equal(check(f, H1_M_POST, "/a/login", "10.0.0.8"), 0);
	assert_int_equal(check(f, H1_M_POST, "/a/login", "10.0.0.9"), 0);
	/* 10.0.0.1 was the first, so the closest to full: forgotten. */
	assert_int_equal(check(f, H1_M_POST, "/a/login", "10.0.0.1"), 0);
	rl_metrics(&m, &f->gc);
	buf_append(&m, "", 1);
	assert_non_null(strstr(buf_data(&m),
	    "elp_rate_limit_evictions_total{zone=\"z\"} 2\n"));
	assert_non_null(strstr(buf_data(&m),
	    "elp_rate_limit_entries{zone=\"z\"} 8\n"));
	assert_non_null(strstr(buf_data(&m),
	    "elp_rate_limit_size{zone=\"z\"} 8\n"));
	assert_non_null(strstr(buf_data(&m), "elp_rate_limit_requests_total"
	    "{zone=\"z\",outcome=\"limited\"} 1\n"));
	buf_release(&m);
	fixture_free(f);
}

/* rl_assign() keeps the table of an unchanged zone, not a changed one. */
static void
test_assign(void **state)
{
	struct fixture *a = fixture_new("1r/m", 1, 1000);
	struct fixture *b = fixture_new("1r/m", 1, 1000);
	struct fixture *c = fixture_new("2r/m", 1, 1000);

	(void)state;
	assert_ptr_equal(a->zone.rz_tab, b->zone.rz_tab);
	assert_ptr_not_equal(a->zone.rz_tab, c->zone.rz_tab);
	assert_int_equal(check(a, H1_M_POST, "/a/login", "10.0.0.1"), 0);
	assert_int_not_equal(check(b, H1_M_POST, "/a/login", "10.0.0.1"), 0);
	assert_int_equal(check(c, H1_M_POST, "/a/login", "10.0.0.1"), 0);
	fixture_free(a);
	assert_int_not_equal(check(b, H1_M_POST, "/a/login", "10.0.0.1"), 0);
	fixture_free(b);
	fixture_free(c);
}

/* A process that died holding a lock word does not block the next. */
static void
test_dead_holder(void **state)
{
	_Atomic uint32_t *lock;
	void *p;
	pid_t pid;
	int st;

	(void)state;
	p = mmap(NULL, sizeof(*lock), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	lock = p;
	atomic_store(lock, 0);
	if ((pid = fork()) == 0) {
		shm_lock_word(lock);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(atomic_load(lock), (uint32_t)pid);
	shm_lock_word(lock);
	assert_int_equal(atomic_load(lock), (uint32_t)getpid());
	shm_unlock_word(lock);
	assert_int_equal(atomic_load(lock), 0);
	munmap(p, sizeof(*lock));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rate),
		cmocka_unit_test(test_parse_methods),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_refill),
		cmocka_unit_test(test_allow),
		cmocka_unit_test(test_shared),
		cmocka_unit_test(test_evict),
		cmocka_unit_test(test_assign),
		cmocka_unit_test(test_dead_holder),
	};

	log_init("test_rl", LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
