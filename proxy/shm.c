/*
 * shm: the state all worker processes share: one fixed array of
 * pointer-free records per kind (instances, services, routes, aggregates,
 * processes), and the identity provider's JWKS, mapped MAP_SHARED by the
 * master before it forks, so every generation of workers sees the same
 * records. Counters and flags are C11 atomics; the breaker, which changes
 * several fields at once, sits under a per-record lock; the JWKS body
 * under a lock for its writers and a sequence count for its readers.
 *
 * Records are found by index (ins_slot, svc_slot, rt_slot, ag_slot). Only
 * the master assigns them, by key, so health and breaker state and the
 * counters carry over a reload for an instance that stays: the key table
 * lives in the master's private memory. Each key counts the configurations
 * that hold it (shm_assign() to shm_release()); the master holds a
 * configuration until the last worker forked with it has exited, so a
 * record is never given to another key while a draining worker of an
 * older generation may still write to it.
 */
#include <sys/mman.h>
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

#define SHM_SPINS	1000	/* lock attempts before looking at the holder */
#define SHM_SEQ_TRIES	64	/* JWKS reads before giving up for now */
#define RLX		memory_order_relaxed

enum shm_kind {
	SHM_K_INS = 0,
	SHM_K_SVC,
	SHM_K_ROUTE,
	SHM_K_AGG,
	SHM_K_COUNT
};

/* Master only: the key each record belongs to (NULL: free). */
struct shm_keys {
	char	**sk_key;
	size_t	 *sk_refs;	/* configurations holding the key */
	size_t	  sk_cap;
	size_t	  sk_cursor;	/* freed records are reused last */
};

struct shm_area		*shm;
static struct shm_keys	 shm_keys[SHM_K_COUNT];
static pid_t		 shm_pid;	/* ours, 0 until asked (and in a child) */

/* A forked child asks the kernel again. */
static void
shm_forked(void)
{
	shm_pid = 0;
}

/* Our PID, the holder mark of the spin locks: asked once per process,
 * not on every lock (a system call, and the locks are taken per request). */
static pid_t
shm_self(void)
{
	static int hooked;

	if (shm_pid == 0) {
		if (!hooked && pthread_atfork(NULL, NULL, shm_forked) == 0)
			hooked = 1;
		if (!hooked)
			return getpid();	/* no hook: no cache */
		shm_pid = getpid();
	}
	return shm_pid;
}

int
shm_init(void)
{
	static const size_t cap[SHM_K_COUNT] = {
		SHM_MAX_INSTANCES, SHM_MAX_SERVICES, SHM_MAX_ROUTES,
		SHM_MAX_AGGS,
	};
	void *p;
	size_t k;

	p = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	shm = p;
	for (k = 0; k < SHM_K_COUNT; k++) {
		shm_keys[k].sk_key = xcalloc(cap[k], sizeof(char *));
		shm_keys[k].sk_refs = xcalloc(cap[k], sizeof(size_t));
		shm_keys[k].sk_cap = cap[k];
	}
	return 0;
}

static int
shm_find(const struct shm_keys *sk, const char *key)
{
	size_t i;

	for (i = 0; i < sk->sk_cap; i++)
		if (sk->sk_key[i] != NULL && strcmp(sk->sk_key[i], key) == 0)
			return (int)i;
	return -1;
}

/* Zeroes record <slot> of <kind> for a new key. */
static void
shm_fresh(enum shm_kind kind, size_t slot)
{
	struct shm_ins *si;

	switch (kind) {
	case SHM_K_INS:
		si = &shm->sh_ins[slot];
		memset(si, 0, sizeof(*si));
		atomic_store(&si->si_up, 1);
		brk_init(&si->si_brk, util_now_ms());
		break;
	case SHM_K_SVC:
		memset(&shm->sh_svc[slot], 0, sizeof(shm->sh_svc[slot]));
		break;
	case SHM_K_AGG:
		memset(&shm->sh_agg[slot], 0, sizeof(shm->sh_agg[slot]));
		break;
	default:
		memset(&shm->sh_route[slot], 0, sizeof(shm->sh_route[slot]));
		break;
	}
}

/*
 * The record of <key>, held once more: the known one, or a fresh one. -1
 * when full.
 */
static int
shm_slot(enum shm_kind kind, const char *key)
{
	struct shm_keys *sk = &shm_keys[kind];
	size_t i, slot;
	int found;

	if ((found = shm_find(sk, key)) != -1) {
		sk->sk_refs[found]++;
		return found;
	}
	for (i = 0; i < sk->sk_cap; i++) {
		slot = (sk->sk_cursor + i) % sk->sk_cap;
		if (sk->sk_key[slot] != NULL)
			continue;
		sk->sk_key[slot] = xstrdup(key);
		sk->sk_refs[slot] = 1;
		sk->sk_cursor = (slot + 1) % sk->sk_cap;
		shm_fresh(kind, slot);
		return (int)slot;
	}
	return -1;
}

/* Drops one hold on record <slot> of <kind>; the last frees its key. */
static void
shm_unref(enum shm_kind kind, int slot)
{
	struct shm_keys *sk = &shm_keys[kind];

	if (slot < 0 || (size_t)slot >= sk->sk_cap ||
	    sk->sk_key[slot] == NULL || sk->sk_refs[slot] == 0)
		return;
	if (--sk->sk_refs[slot] > 0)
		return;
	free(sk->sk_key[slot]);
	sk->sk_key[slot] = NULL;
}

static char *
shm_route_key(const struct route *rt)
{
	return xasprintf("%s %s", rt->rt_listen, rt->rt_prefix);
}

/* Records <gc> needs beyond the ones already keyed, per kind. */
static int
shm_fits(const struct gw_conf *gc)
{
	size_t i, need[SHM_K_COUNT] = { 0 }, used[SHM_K_COUNT] = { 0 }, k, j;
	char *key;

	for (i = 0; i < gc->gc_ninstances; i++)
		need[SHM_K_INS] += shm_find(&shm_keys[SHM_K_INS],
		    gc->gc_instances[i].ins_name) == -1;
	for (i = 0; i < gc->gc_nservices; i++)
		need[SHM_K_SVC] += shm_find(&shm_keys[SHM_K_SVC],
		    gc->gc_services[i].svc_name) == -1;
	for (i = 0; i < gc->gc_nroutes; i++) {
		key = shm_route_key(&gc->gc_routes[i]);
		need[SHM_K_ROUTE] += shm_find(&shm_keys[SHM_K_ROUTE], key) == -1;
		free(key);
	}
	for (k = 0; k < SHM_K_COUNT; k++) {
		for (j = 0; j < shm_keys[k].sk_cap; j++)
			used[k] += shm_keys[k].sk_key[j] != NULL;
		if (used[k] + need[k] > shm_keys[k].sk_cap)
			return 0;
	}
	return 1;
}

int
shm_assign(struct gw_conf *gc)
{
	size_t i;
	char *key;

	if (!shm_fits(gc)) {
		log_warnx("%s: more instances, services or routes than the "
		    "shared state holds (%d, %d, %d)", gc->gc_path,
		    SHM_MAX_INSTANCES, SHM_MAX_SERVICES, SHM_MAX_ROUTES);
		return -1;
	}
	for (i = 0; i < gc->gc_ninstances; i++)
		gc->gc_instances[i].ins_slot = shm_slot(SHM_K_INS,
		    gc->gc_instances[i].ins_name);
	for (i = 0; i < gc->gc_nservices; i++)
		gc->gc_services[i].svc_slot = shm_slot(SHM_K_SVC,
		    gc->gc_services[i].svc_name);
	for (i = 0; i < gc->gc_nroutes; i++) {
		key = shm_route_key(&gc->gc_routes[i]);
		gc->gc_routes[i].rt_slot = shm_slot(SHM_K_ROUTE, key);
		free(key);
	}
	/* The rate-limit zones' tables (rl.c) go with the records. */
	if (rl_assign(gc) == -1) {
		shm_release(gc);
		return -1;
	}
	/* Aggregates beyond the records only go uncounted. */
	for (i = 0; i < gc->gc_naggs; i++) {
		key = xasprintf("%s %s", gc->gc_aggs[i].ag_listen,
		    gc->gc_aggs[i].ag_path);
		if ((gc->gc_aggs[i].ag_slot = shm_slot(SHM_K_AGG, key)) == -1)
			log_warnx("aggregate %s: no counters left (%d)",
			    gc->gc_aggs[i].ag_path, SHM_MAX_AGGS);
		free(key);
	}
	return 0;
}

void
shm_release(const struct gw_conf *gc)
{
	size_t i;

	for (i = 0; i < gc->gc_ninstances; i++)
		shm_unref(SHM_K_INS, gc->gc_instances[i].ins_slot);
	for (i = 0; i < gc->gc_nservices; i++)
		shm_unref(SHM_K_SVC, gc->gc_services[i].svc_slot);
	for (i = 0; i < gc->gc_nroutes; i++)
		shm_unref(SHM_K_ROUTE, gc->gc_routes[i].rt_slot);
	for (i = 0; i < gc->gc_naggs; i++)
		shm_unref(SHM_K_AGG, gc->gc_aggs[i].ag_slot);
	rl_release(gc);
}

int
shm_ins_hold(const char *key)
{
	return shm_slot(SHM_K_INS, key);
}

void
shm_ins_drop(int slot)
{
	shm_unref(SHM_K_INS, slot);
}

size_t
shm_ins_refs(int slot)
{
	if (slot < 0 || (size_t)slot >= shm_keys[SHM_K_INS].sk_cap ||
	    shm_keys[SHM_K_INS].sk_key[slot] == NULL)
		return 0;
	return shm_keys[SHM_K_INS].sk_refs[slot];
}

/* Returns the backend connection slots a (dead) process still held. */
static void
shm_proc_give_back(struct shm_proc *sp)
{
	int32_t n;
	size_t i;

	for (i = 0; i < SHM_MAX_INSTANCES; i++)
		if ((n = atomic_exchange(&sp->sp_ins_conns[i], 0)) != 0)
			atomic_fetch_sub(&shm->sh_ins[i].si_conns, n);
}

struct shm_proc *
shm_proc_claim(void)
{
	int32_t zero, me = (int32_t)shm_self();
	size_t i;

	for (i = 0; i < SHM_MAX_PROCS; i++) {
		zero = 0;
		if (atomic_compare_exchange_strong(&shm->sh_proc[i].sp_pid,
		    &zero, me)) {
			atomic_fetch_add(&shm->sh_nprocs, 1);
			atomic_store(&shm->sh_proc[i].sp_conns, 0);
			atomic_store(&shm->sh_proc[i].sp_lease_gen, 0);
			shm_proc_give_back(&shm->sh_proc[i]);
			return &shm->sh_proc[i];
		}
	}
	return NULL;
}

void
shm_proc_release(struct shm_proc *sp)
{
	if (sp == NULL)
		return;
	atomic_store(&sp->sp_conns, 0);
	shm_proc_give_back(sp);
	if (atomic_exchange(&sp->sp_pid, 0) != 0)
		atomic_fetch_sub(&shm->sh_nprocs, 1);
}

void
shm_proc_gone(pid_t pid)
{
	size_t i;

	if (shm == NULL)
		return;
	for (i = 0; i < SHM_MAX_PROCS; i++)
		if (atomic_load(&shm->sh_proc[i].sp_pid) == (int32_t)pid) {
			atomic_store(&shm->sh_proc[i].sp_conns, 0);
			shm_proc_give_back(&shm->sh_proc[i]);
			if (atomic_exchange(&shm->sh_proc[i].sp_pid, 0) != 0)
				atomic_fetch_sub(&shm->sh_nprocs, 1);
		}
}

/*
 * The critical sections are a few loads and stores, so a spin is cheaper
 * than anything else. A process killed inside one would leave the lock
 * held: after a while the waiter checks whether the holder still exists
 * and takes the lock over from a dead one.
 */
static void
shm_spin_lock(_Atomic uint32_t *lock)
{
	uint32_t me = (uint32_t)shm_self(), cur;
	unsigned int spins = 0;

	for (;;) {
		cur = 0;
		if (atomic_compare_exchange_weak_explicit(lock, &cur, me,
		    memory_order_acquire, memory_order_relaxed))
			return;
		if (++spins < SHM_SPINS || cur == 0)
			continue;
		spins = 0;
		if (kill((pid_t)cur, 0) == -1 && errno == ESRCH &&
		    atomic_compare_exchange_strong_explicit(lock, &cur, me,
		    memory_order_acquire, memory_order_relaxed))
			return;
		sched_yield();
	}
}

static void
shm_spin_unlock(_Atomic uint32_t *lock)
{
	atomic_store_explicit(lock, 0, memory_order_release);
}

void
shm_lock(struct shm_ins *si)
{
	shm_spin_lock(&si->si_lock);
}

void
shm_unlock(struct shm_ins *si)
{
	shm_spin_unlock(&si->si_lock);
}

/* --- the shared JWKS --- */

/* Whether the shared body is <body>/<len> from <src> (under the lock). */
static int
shm_jwks_same(const struct shm_jwks *sj, uint64_t src, const char *body,
    size_t len)
{
	return atomic_load_explicit(&sj->sj_gen, RLX) != 0 &&
	    atomic_load_explicit(&sj->sj_src, RLX) == src &&
	    atomic_load_explicit(&sj->sj_len, RLX) == len &&
	    memcmp(sj->sj_body, body, len) == 0;
}

int
shm_jwks_put(uint64_t src, const char *body, size_t len, uint32_t nkeys,
    uint64_t *gen)
{
	struct shm_jwks *sj = &shm->sh_jwks;
	uint64_t seq;
	int changed = 0;

	if (len > SHM_JWKS_MAX)
		len = 0;
	shm_spin_lock(&sj->sj_lock);
	if (!shm_jwks_same(sj, src, body, len)) {
		/* Odd while it changes; a writer that died mid-way left it
		 * odd already, and moving it on tells its readers too. */
		seq = atomic_load_explicit(&sj->sj_seq, RLX);
		seq += 1 + (seq & 1);
		atomic_store_explicit(&sj->sj_seq, seq, RLX);
		atomic_thread_fence(memory_order_release);
		memcpy(sj->sj_body, body, len);
		atomic_store_explicit(&sj->sj_len, len, RLX);
		atomic_store_explicit(&sj->sj_src, src, RLX);
		atomic_fetch_add_explicit(&sj->sj_gen, 1, RLX);
		atomic_store_explicit(&sj->sj_seq, seq + 1,
		    memory_order_release);
		changed = 1;
	}
	atomic_store_explicit(&sj->sj_nkeys, nkeys, RLX);
	*gen = atomic_load_explicit(&sj->sj_gen, RLX);
	shm_spin_unlock(&sj->sj_lock);
	return changed;
}

int
shm_jwks_get(char *out, size_t *len, uint64_t *gen, uint64_t *src)
{
	struct shm_jwks *sj = &shm->sh_jwks;
	uint64_t seq, n;
	int tries;

	for (tries = 0; tries < SHM_SEQ_TRIES; tries++) {
		seq = atomic_load_explicit(&sj->sj_seq, memory_order_acquire);
		if (seq & 1) {
			sched_yield();
			continue;
		}
		*gen = atomic_load_explicit(&sj->sj_gen, RLX);
		*src = atomic_load_explicit(&sj->sj_src, RLX);
		n = atomic_load_explicit(&sj->sj_len, RLX);
		if (n > SHM_JWKS_MAX)
			n = 0;
		memcpy(out, sj->sj_body, (size_t)n);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&sj->sj_seq, RLX) != seq)
			continue;
		*len = (size_t)n;
		return *gen != 0 ? 0 : -1;
	}
	return -1;
}

/* Whether the lease is held at <now> by a live process (under the lock). */
static int
shm_jwks_held(const struct shm_jwks *sj, uint64_t now)
{
	uint32_t pid = atomic_load_explicit(&sj->sj_lease, RLX);

	if (pid == 0 || now >= atomic_load_explicit(&sj->sj_lease_until, RLX))
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

int
shm_jwks_lease(uint64_t until)
{
	struct shm_jwks *sj = &shm->sh_jwks;
	int got = 0;

	shm_spin_lock(&sj->sj_lock);
	if (!shm_jwks_held(sj, util_now_ms())) {
		atomic_store_explicit(&sj->sj_lease, (uint32_t)shm_self(), RLX);
		atomic_store_explicit(&sj->sj_lease_until, until, RLX);
		got = 1;
	}
	shm_spin_unlock(&sj->sj_lock);
	return got;
}

int
shm_jwks_leased(uint64_t now)
{
	struct shm_jwks *sj = &shm->sh_jwks;
	int held;

	shm_spin_lock(&sj->sj_lock);
	held = shm_jwks_held(sj, now);
	shm_spin_unlock(&sj->sj_lock);
	return held;
}

void
shm_jwks_unlease(void)
{
	struct shm_jwks *sj = &shm->sh_jwks;

	shm_spin_lock(&sj->sj_lock);
	if (atomic_load_explicit(&sj->sj_lease, RLX) == (uint32_t)shm_self())
		atomic_store_explicit(&sj->sj_lease, 0, RLX);
	shm_spin_unlock(&sj->sj_lock);
}

void
shm_lock_word(_Atomic uint32_t *lock)
{
	shm_spin_lock(lock);
}

void
shm_unlock_word(_Atomic uint32_t *lock)
{
	shm_spin_unlock(lock);
}
