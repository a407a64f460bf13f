/*
 * rl: request rate limits per client address (<rate-limit> zones, the
 * <limit>s of routes), like nginx limit_req.
 *
 * A zone is a token bucket per address: <burst> tokens deep, one token
 * back every 1/<rate>. It is kept as GCRA: one "theoretical arrival
 * time" (tat, monotonic microseconds) per address; the bucket is full
 * again once tat has passed, so a passed tat is a free entry.
 *
 * The buckets of a zone are one table shared by all workers, mapped by
 * the master before it forks, so every worker takes from the same bucket
 * for an address. The table is set-associative: an address hashes (with
 * a random seed per table) to one set of RL_WAYS entries under a short
 * spin lock whose holder's pid is in the lock word, so a worker killed
 * while holding it is found dead and the lock taken over (shm.c). When
 * all entries of a set are still refilling, a new address takes the one
 * closest to full (smallest tat) and its old address starts again with a
 * full bucket: that is counted as an eviction.
 *
 * A table is held by every configuration whose zone has the same name,
 * rate, burst and size, so an unchanged zone keeps its buckets over a
 * reload; a changed one starts empty. The holds live in the master's
 * private memory, like shm.c's keys.
 */
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "util.h"

#define RLX		memory_order_relaxed
#define RL_RATE_MAX	1000000	/* requests per second or minute */

/* One address's bucket. */
struct rl_entry {
	_Atomic uint64_t re_tat;	/* us its bucket is full again;
					   passed: the entry is free */
	uint64_t	 re_key[2];	/* the address, network order */
	uint32_t	 re_fam;	/* AF_INET, AF_INET6, AF_UNIX */
	uint32_t	 re_pad;
};

struct rl_set {
	_Atomic uint32_t rs_lock;	/* holder's pid, or 0 */
	uint32_t	 rs_pad;
	struct rl_entry	 rs_e[RL_WAYS];
};

/* A zone's shared table: pointer-free, mapped MAP_SHARED. */
struct rl_table {
	uint64_t	 tb_seed;	/* of the set hash */
	uint64_t	 tb_nsets;
	_Atomic uint64_t tb_allowed;
	_Atomic uint64_t tb_limited;
	_Atomic uint64_t tb_evicted;
	struct rl_set	 tb_sets[];
};

/* Master only: a mapped table and the configurations holding it. */
struct rl_hold {
	char		*rh_key;	/* "name rate burst size" */
	struct rl_table	*rh_tab;
	size_t		 rh_len;	/* bytes mapped */
	size_t		 rh_refs;
	struct rl_hold	*rh_next;
};

struct rl_key {
	uint64_t	 k_addr[2];
	uint32_t	 k_fam;
};

static struct rl_hold	*rl_holds;

int
rl_parse_rate(const char *text, uint64_t *interval)
{
	unsigned long n;
	char *end;

	if (*text < '1' || *text > '9')
		return -1;
	n = strtoul(text, &end, 10);
	if (n > RL_RATE_MAX)
		return -1;
	if (strcmp(end, "r/s") == 0)
		*interval = 1000000 / n;
	else if (strcmp(end, "r/m") == 0)
		*interval = 60000000 / n;
	else
		return -1;
	if (*interval == 0)
		*interval = 1;
	return 0;
}

int
rl_parse_methods(const char *text, uint32_t *bits)
{
	static const char sep[] = " \t\r\n,";
	const char *name;
	size_t len;
	int m;

	*bits = 0;
	for (;;) {
		text += strspn(text, sep);
		if (*text == '\0')
			return 0;
		len = strcspn(text, sep);
		for (m = H1_M_UNKNOWN + 1; m < H1_M_COUNT; m++) {
			name = h1_method_str((enum h1_method)m);
			if (strlen(name) == len && memcmp(name, text, len) == 0)
				break;
		}
		if (m == H1_M_COUNT)
			return -1;
		*bits |= 1u << m;
		text += len;
	}
}

/* --- the master's tables --- */

static char *
rl_zone_key(const struct rl_zone *z)
{
	return xasprintf("%s %llu %lld %lld", z->rz_name,
	    (unsigned long long)z->rz_interval, (long long)z->rz_burst,
	    (long long)z->rz_size);
}

/* Maps a fresh zeroed table for <z>; NULL when mmap fails. */
static struct rl_hold *
rl_map(const struct rl_zone *z, char *key)
{
	struct rl_hold *h;
	struct rl_table *tb;
	uint64_t nsets = ((uint64_t)z->rz_size + RL_WAYS - 1) / RL_WAYS;
	size_t len = sizeof(*tb) + nsets * sizeof(struct rl_set);
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED) {
		log_warn("rate-limit %s: cannot map %zu bytes", z->rz_name,
		    len);
		return NULL;
	}
	tb = p;
	tb->tb_nsets = nsets;
	if (getrandom(&tb->tb_seed, sizeof(tb->tb_seed), 0) !=
	    (ssize_t)sizeof(tb->tb_seed))
		tb->tb_seed = util_now_ms() * 0x9e3779b97f4a7c15ULL ^
		    (uint64_t)getpid();
	h = xcalloc(1, sizeof(*h));
	h->rh_key = key;
	h->rh_tab = tb;
	h->rh_len = len;
	h->rh_next = rl_holds;
	rl_holds = h;
	return h;
}

/* Holds the table of <z> once more: the known one or a fresh one. */
static struct rl_table *
rl_hold(const struct rl_zone *z)
{
	struct rl_hold *h;
	char *key = rl_zone_key(z);

	for (h = rl_holds; h != NULL; h = h->rh_next)
		if (strcmp(h->rh_key, key) == 0) {
			free(key);
			h->rh_refs++;
			return h->rh_tab;
		}
	if ((h = rl_map(z, key)) == NULL) {
		free(key);
		return NULL;
	}
	h->rh_refs = 1;
	log_info("rate-limit %s: new table for %lld addresses", z->rz_name,
	    (long long)z->rz_size);
	return h->rh_tab;
}

/* Drops one hold on <tb>; the last one unmaps it. */
static void
rl_unhold(struct rl_table *tb)
{
	struct rl_hold **hp, *h;

	for (hp = &rl_holds; (h = *hp) != NULL; hp = &h->rh_next) {
		if (h->rh_tab != tb)
			continue;
		if (--h->rh_refs > 0)
			return;
		*hp = h->rh_next;
		(void)munmap(h->rh_tab, h->rh_len);
		free(h->rh_key);
		free(h);
		return;
	}
}

int
rl_assign(struct gw_conf *gc)
{
	size_t i;

	for (i = 0; i < gc->gc_nzones; i++)
		if ((gc->gc_zones[i].rz_tab = rl_hold(&gc->gc_zones[i])) ==
		    NULL) {
			rl_release(gc);
			return -1;
		}
	return 0;
}

void
rl_release(const struct gw_conf *gc)
{
	size_t i;

	for (i = 0; i < gc->gc_nzones; i++) {
		if (gc->gc_zones[i].rz_tab != NULL)
			rl_unhold(gc->gc_zones[i].rz_tab);
		gc->gc_zones[i].rz_tab = NULL;
	}
}

/* --- the request path --- */

static uint64_t
rl_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The key of client address text <client> ("unix" for a unix peer: all
 * of those share one bucket). */
static void
rl_key(const char *client, struct rl_key *k)
{
	uint8_t a[16];

	memset(k, 0, sizeof(*k));
	memset(a, 0, sizeof(a));
	if (inet_pton(AF_INET, client, a) == 1)
		k->k_fam = AF_INET;
	else if (inet_pton(AF_INET6, client, a) == 1)
		k->k_fam = AF_INET6;
	else
		k->k_fam = AF_UNIX;
	memcpy(k->k_addr, a, sizeof(a));
}

static uint64_t
rl_hash(uint64_t seed, const struct rl_key *k)
{
	uint64_t h = seed ^ k->k_fam;

	h = (h ^ k->k_addr[0]) * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	h = (h ^ k->k_addr[1]) * 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h;
}

/*
 * The entry of <k> in set <s> at <now> (under its lock): its own while
 * its bucket refills, else a free one, else the one closest to full,
 * taken over (an eviction).
 */
static struct rl_entry *
rl_entry(struct rl_table *tb, struct rl_set *s, const struct rl_key *k,
    uint64_t now)
{
	struct rl_entry *e, *spare = NULL, *low = NULL;
	uint64_t tat, low_tat = 0;
	size_t i;

	for (i = 0; i < RL_WAYS; i++) {
		e = &s->rs_e[i];
		tat = atomic_load_explicit(&e->re_tat, RLX);
		if (tat <= now) {
			if (spare == NULL)
				spare = e;
			continue;
		}
		if (e->re_fam == k->k_fam && e->re_key[0] == k->k_addr[0] &&
		    e->re_key[1] == k->k_addr[1])
			return e;
		if (low == NULL || tat < low_tat) {
			low = e;
			low_tat = tat;
		}
	}
	if (spare == NULL) {
		spare = low;
		atomic_fetch_add_explicit(&tb->tb_evicted, 1, RLX);
	}
	spare->re_fam = k->k_fam;
	spare->re_key[0] = k->k_addr[0];
	spare->re_key[1] = k->k_addr[1];
	atomic_store_explicit(&spare->re_tat, 0, RLX);
	return spare;
}

/*
 * Takes a token of zone <z> for <k>. Returns 0, or the microseconds
 * until one is there (the request is refused).
 */
static uint64_t
rl_take(const struct rl_zone *z, const struct rl_key *k)
{
	struct rl_table *tb = z->rz_tab;
	struct rl_set *s = &tb->tb_sets[rl_hash(tb->tb_seed, k) %
	    tb->tb_nsets];
	struct rl_entry *e;
	uint64_t now, tat, t = z->rz_interval;
	uint64_t tau = t * (uint64_t)z->rz_burst, wait = 0;

	shm_lock_word(&s->rs_lock);
	now = rl_now_us();
	e = rl_entry(tb, s, k, now);
	tat = atomic_load_explicit(&e->re_tat, RLX);
	if (tat < now)
		tat = now;
	/* GCRA: one more token must fit in the bucket's depth. */
	if (tat + t - now > tau)
		wait = tat + t - now - tau;
	else
		atomic_store_explicit(&e->re_tat, tat + t, RLX);
	shm_unlock_word(&s->rs_lock);
	atomic_fetch_add_explicit(wait == 0 ? &tb->tb_allowed :
	    &tb->tb_limited, 1, RLX);
	return wait;
}

/* Whether <path> is <p> exactly, trailing slashes aside. */
static int
rl_path_is(struct str path, const char *p)
{
	size_t n = strlen(p);

	while (path.len > n && path.p[path.len - 1] == '/')
		path.len--;
	return path.len == n && memcmp(path.p, p, n) == 0;
}

/* Whether <path> is under <p> on a segment boundary. */
static int
rl_path_under(struct str path, const char *p)
{
	size_t n = strlen(p);

	return path.len >= n && memcmp(path.p, p, n) == 0 &&
	    (path.len == n || path.p[n] == '/' || p[n - 1] == '/');
}

static int
rl_match(const struct rl_limit *l, enum h1_method m, struct str path)
{
	if (l->rl_mbits != 0 && !(l->rl_mbits & (1u << m)))
		return 0;
	if (*l->rl_path != '\0')
		return rl_path_is(path, l->rl_path);
	if (*l->rl_prefix != '\0')
		return rl_path_under(path, l->rl_prefix);
	return 1;
}

uint32_t
rl_check(const struct route *rt, enum h1_method method, struct str path,
    const char *client, const char **zone)
{
	const struct rl_limit *l;
	const struct rl_zone *z;
	struct rl_key k;
	uint64_t wait;
	size_t i;
	int keyed = 0;

	for (i = 0; i < rt->rt_nlimits; i++) {
		l = &rt->rt_limits[i];
		z = l->rl_zone;
		if (z == NULL || z->rz_tab == NULL ||
		    !rl_match(l, method, path))
			continue;
		if (z->rz_nnets > 0 && realip_trusted(z->rz_nets,
		    z->rz_nnets, str_make(client, strlen(client))))
			continue;
		if (!keyed) {
			rl_key(client, &k);
			keyed = 1;
		}
		if ((wait = rl_take(z, &k)) == 0)
			continue;
		*zone = z->rz_name;
		wait = (wait + 999999) / 1000000;
		return wait > UINT32_MAX ? UINT32_MAX : (uint32_t)wait;
	}
	return 0;
}

/* Addresses whose bucket still refills at <now> (a relaxed scan). */
static uint64_t
rl_fill(const struct rl_table *tb, uint64_t now)
{
	uint64_t n = 0, i;
	size_t w;

	for (i = 0; i < tb->tb_nsets; i++)
		for (w = 0; w < RL_WAYS; w++)
			n += atomic_load_explicit(&tb->tb_sets[i].rs_e[w].re_tat,
			    RLX) > now;
	return n;
}

/* The series of /metrics, one per zone each. */
enum rl_stat {
	RL_ST_REQUESTS = 0,
	RL_ST_EVICTED,
	RL_ST_ENTRIES,
	RL_ST_SIZE,
	RL_ST_COUNT
};

static const struct {
	const char	*name;
	const char	*type;
	const char	*help;
} rl_stats[RL_ST_COUNT] = {
	{ "elp_rate_limit_requests_total", "counter",
	    "Requests a rate-limit zone checked, by outcome." },
	{ "elp_rate_limit_evictions_total", "counter",
	    "Addresses forgotten before their bucket was full (table full)." },
	{ "elp_rate_limit_entries", "gauge",
	    "Addresses whose bucket is not full: the table's fill." },
	{ "elp_rate_limit_size", "gauge",
	    "Addresses the zone's table holds." },
};

static void
rl_metric(struct buf *out, enum rl_stat st, const struct rl_zone *z,
    uint64_t now)
{
	const struct rl_table *tb = z->rz_tab;
	const char *name = rl_stats[st].name;
	uint64_t v;

	switch (st) {
	case RL_ST_REQUESTS:
		buf_printf(out, "%s{zone=\"%s\",outcome=\"allowed\"} %llu\n"
		    "%s{zone=\"%s\",outcome=\"limited\"} %llu\n", name,
		    z->rz_name, (unsigned long long)atomic_load_explicit(
		    &tb->tb_allowed, RLX), name, z->rz_name,
		    (unsigned long long)atomic_load_explicit(&tb->tb_limited,
		    RLX));
		return;
	case RL_ST_EVICTED:
		v = atomic_load_explicit(&tb->tb_evicted, RLX);
		break;
	case RL_ST_ENTRIES:
		v = rl_fill(tb, now);
		break;
	default:
		v = tb->tb_nsets * RL_WAYS;
		break;
	}
	buf_printf(out, "%s{zone=\"%s\"} %llu\n", name, z->rz_name,
	    (unsigned long long)v);
}

void
rl_metrics(struct buf *out, const struct gw_conf *gc)
{
	uint64_t now = rl_now_us();
	size_t i, st;

	if (gc->gc_nzones == 0)
		return;
	for (st = 0; st < RL_ST_COUNT; st++) {
		buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
		    rl_stats[st].name, rl_stats[st].help, rl_stats[st].name,
		    rl_stats[st].type);
		for (i = 0; i < gc->gc_nzones; i++)
			if (gc->gc_zones[i].rz_tab != NULL)
				rl_metric(out, (enum rl_stat)st,
				    &gc->gc_zones[i], now);
	}
}
