/*
 * Unit tests for the shared JWKS of proxy/shm.c: generations (a new one
 * only when the body or its source changes), reads of an empty slot, the
 * size bound, the fetch lease (held, expired, given back, taken over from
 * a dead process), and a writer process replacing the body while this one
 * reads: every read is one whole body, never a mix. And the records of
 * aggregate counters across reloads.
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

static int
setup_shm(void **state)
{
	(void)state;
	log_init("test_shm", LOG_LVL_ERROR);
	return shm_init();
}

/* Empties the JWKS slot between tests. */
static int
reset_jwks(void **state)
{
	(void)state;
	memset(&shm->sh_jwks, 0, sizeof(shm->sh_jwks));
	return 0;
}

static void
test_generations(void **state)
{
	char *out = xmalloc(SHM_JWKS_MAX);
	uint64_t gen, gen2, src;
	size_t len;

	(void)state;
	assert_int_equal(shm_jwks_get(out, &len, &gen, &src), -1);
	assert_int_equal(shm_jwks_put(7, "{\"keys\":[1]}", 12, 1, &gen), 1);
	assert_int_equal(gen, 1);
	assert_int_equal(shm_jwks_get(out, &len, &gen2, &src), 0);
	assert_int_equal(gen2, 1);
	assert_int_equal(src, 7);
	assert_int_equal(len, 12);
	assert_memory_equal(out, "{\"keys\":[1]}", 12);
	/* The same body again: no new generation. */
	assert_int_equal(shm_jwks_put(7, "{\"keys\":[1]}", 12, 1, &gen), 0);
	assert_int_equal(gen, 1);
	/* Another body, or the same from another source: a new one. */
	assert_int_equal(shm_jwks_put(7, "{\"keys\":[2]}", 12, 2, &gen), 1);
	assert_int_equal(gen, 2);
	assert_int_equal(shm_jwks_put(8, "{\"keys\":[2]}", 12, 2, &gen), 1);
	assert_int_equal(gen, 3);
	assert_int_equal(atomic_load(&shm->sh_jwks.sj_nkeys), 2);
	assert_int_equal(shm_jwks_get(out, &len, &gen, &src), 0);
	assert_int_equal(src, 8);
	/* The sequence count is even (no write in progress). */
	assert_int_equal(atomic_load(&shm->sh_jwks.sj_seq) & 1, 0);
	free(out);
}

/* A writer that died half-way left the count odd: readers give up, the
 * next writer completes and readers see its body. */
static void
test_dead_writer(void **state)
{
	char *out = xmalloc(SHM_JWKS_MAX);
	uint64_t gen, src;
	size_t len;

	(void)state;
	assert_int_equal(shm_jwks_put(1, "aaaa", 4, 1, &gen), 1);
	atomic_store(&shm->sh_jwks.sj_seq, 3);
	assert_int_equal(shm_jwks_get(out, &len, &gen, &src), -1);
	assert_int_equal(shm_jwks_put(1, "bbbbbb", 6, 1, &gen), 1);
	assert_int_equal(atomic_load(&shm->sh_jwks.sj_seq) & 1, 0);
	assert_int_equal(shm_jwks_get(out, &len, &gen, &src), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(out, "bbbbbb", 6);
	free(out);
}

static void
test_lease(void **state)
{
	uint64_t now = util_now_ms();
	pid_t pid;

	(void)state;
	assert_false(shm_jwks_leased(now));
	assert_true(shm_jwks_lease(now + 60000));
	assert_true(shm_jwks_leased(now));
	/* Held by a live process (this one): nobody else gets it. */
	assert_false(shm_jwks_lease(now + 60000));
	shm_jwks_unlease();
	assert_false(shm_jwks_leased(now));
	/* An expired lease is void. */
	assert_true(shm_jwks_lease(now - 1));
	assert_false(shm_jwks_leased(util_now_ms()));
	assert_true(shm_jwks_lease(now + 60000));
	shm_jwks_unlease();
	/* A lease of a process that is gone is void too. */
	if ((pid = fork()) == 0)
		_exit(shm_jwks_lease(util_now_ms() + 60000) ? 0 : 1);
	assert_int_not_equal(pid, -1);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(atomic_load(&shm->sh_jwks.sj_lease), (uint32_t)pid);
	assert_false(shm_jwks_leased(util_now_ms()));
	assert_true(shm_jwks_lease(util_now_ms() + 60000));
	/* Giving back a lease another process holds changes nothing. */
	atomic_store(&shm->sh_jwks.sj_lease, (uint32_t)getppid());
	shm_jwks_unlease();
	assert_int_equal(atomic_load(&shm->sh_jwks.sj_lease),
	    (uint32_t)getppid());
}

static void
test_torn_reads(void **state)
{
	char *a = xmalloc(SHM_JWKS_MAX), *b = xmalloc(SHM_JWKS_MAX);
	char *out = xmalloc(SHM_JWKS_MAX);
	size_t la = SHM_JWKS_MAX, lb = SHM_JWKS_MAX / 2, len, i;
	uint64_t gen, src, last = 0;
	int ok = 0, torn = 0, status;
	pid_t pid;

	(void)state;
	memset(a, 'a', la);
	memset(b, 'b', lb);
	assert_int_equal(shm_jwks_put(1, a, la, 1, &gen), 1);
	if ((pid = fork()) == 0) {
		for (i = 0; i < 4000; i++)
			(void)shm_jwks_put(1, i % 2 ? b : a, i % 2 ? lb : la,
			    1, &gen);
		_exit(0);
	}
	assert_int_not_equal(pid, -1);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (shm_jwks_get(out, &len, &gen, &src) == -1)
			continue;
		/* Generations only grow; bodies are whole. */
		assert_true(gen >= last);
		last = gen;
		if ((len == la && memcmp(out, a, la) == 0) ||
		    (len == lb && memcmp(out, b, lb) == 0))
			ok++;
		else
			torn++;
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(torn, 0);
	assert_true(ok > 0);
	free(out);
	free(b);
	free(a);
}

static void
test_size_bound(void **state)
{
	char *out = xmalloc(SHM_JWKS_MAX);
	uint64_t gen, src;
	size_t len;

	(void)state;
	/* Over the bound: stored empty, never past the slot. */
	assert_int_equal(shm_jwks_put(1, out, SHM_JWKS_MAX + 1, 1, &gen), 1);
	assert_int_equal(shm_jwks_get(out, &len, &gen, &src), 0);
	assert_int_equal(len, 0);
	free(out);
}

/*
 * Aggregate counters follow their key over reloads: a configuration that
 * keeps an aggregate keeps its counts, one that drops it frees the record
 * once the last configuration holding it is released, so any number of
 * reloads with changing aggregates never runs out of records.
 */
static void
test_agg_records(void **state)
{
	struct aggregate a1, a2;
	struct gw_conf g1, g2;
	char path[32];
	int slot;
	size_t i;

	(void)state;
	memset(&g1, 0, sizeof(g1));
	memset(&g2, 0, sizeof(g2));
	memset(&a1, 0, sizeof(a1));
	memset(&a2, 0, sizeof(a2));
	g1.gc_path = g2.gc_path = "test";
	g1.gc_aggs = &a1;
	g1.gc_naggs = 1;
	g2.gc_aggs = &a2;
	g2.gc_naggs = 1;
	a1.ag_listen = a2.ag_listen = "api";
	a1.ag_path = a2.ag_path = "/agg/same";
	assert_int_equal(shm_assign(&g1), 0);
	assert_true(a1.ag_slot >= 0 && a1.ag_slot < SHM_MAX_AGGS);
	slot = a1.ag_slot;
	atomic_store(&shm->sh_agg[slot].sa_req[2], 7);
	/* A reload keeping it: same record, counts kept. */
	assert_int_equal(shm_assign(&g2), 0);
	assert_int_equal(a2.ag_slot, slot);
	assert_int_equal(atomic_load(&shm->sh_agg[slot].sa_req[2]), 7);
	shm_release(&g1);
	shm_release(&g2);
	/* Four times as many reloads as records, each with a new path. */
	for (i = 0; i < 4 * SHM_MAX_AGGS; i++) {
		snprintf(path, sizeof(path), "/agg/%zu", i);
		a1.ag_path = path;
		assert_int_equal(shm_assign(&g1), 0);
		assert_true(a1.ag_slot >= 0);
		/* A fresh key starts from zero. */
		assert_int_equal(atomic_load(&shm->sh_agg[a1.ag_slot].
		    sa_req[2]), 0);
		atomic_store(&shm->sh_agg[a1.ag_slot].sa_req[2], 1);
		shm_release(&g1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_generations, reset_jwks),
		cmocka_unit_test_setup(test_dead_writer, reset_jwks),
		cmocka_unit_test_setup(test_lease, reset_jwks),
		cmocka_unit_test_setup(test_torn_reads, reset_jwks),
		cmocka_unit_test_setup(test_size_bound, reset_jwks),
		cmocka_unit_test(test_agg_records),
	};

	return cmocka_run_group_tests(tests, setup_shm, NULL);
}
