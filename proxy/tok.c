/*
 * tok: bearer-token checks at the gateway.
 *
 * Routes declare a policy: public (a valid token is passed on, an invalid
 * one ignored), token (a valid token required) or a role list (a valid
 * token holding one of the roles). Tokens are RS256 access tokens (typ
 * "Bearer") from elp-auth, verified with the keys of its JWKS. Verified
 * tokens are cached per worker until they expire.
 *
 * Keys. The JWKS is fetched over FastCGI from an instance of the identity
 * service (sub.c) on a schedule (<auth refresh>) and when a token names an
 * unknown kid (at most once per refresh-min). One process fetches at a
 * time, the holder of the lease in the shared area (shm.c); a good body
 * goes there as a new generation. Every worker picks a new generation up
 * in its sweep, when a request needs keys, and in tok_init() before it
 * takes traffic, so a worker of a new generation (reload) or a restarted
 * one starts with the keys. The master fetches once before it forks the
 * first workers (tok_prefetch). A keyset that drops or replaces a key
 * clears the cache, so a key removed from the JWKS stops being accepted
 * within one refresh interval.
 *
 * Outcomes. A token that verifies is TOK_VALID; one that is checkably bad
 * is TOK_INVALID (401, or anonymous on a public route). A token that
 * cannot be checked because keys cannot be had -- no keys at all, or an
 * unknown kid while the last fetch failed -- is TOK_UNAVAILABLE (503 with
 * Retry-After, on every route): a token that may well be valid must never
 * log its user out. Before deciding, a request waits once for a running
 * fetch (or one it starts), bounded by its deadline.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

#define TOK_TYP		"Bearer"	/* typ of an access token */
#define TOK_RETRY_MS	1000	/* least gap after a failed fetch */
#define TOK_LEASE_SLACK	1000	/* ms a lease outlives its fetch */

struct tok_state {
	struct jwt_keyset	 t_keys;
	uint64_t		 t_src;		/* tok_src() of ours */
	uint64_t		 t_gen;		/* shared generation */
	uint64_t		 t_ends;	/* sj_ends seen */
	struct sub		*t_fetch;	/* this process's fetch */
	size_t			 t_rr;		/* instance rotation */
	struct conn		*t_waitq;	/* awaiting a fetch */
	struct conn		**t_waitq_tail;
	struct conn		*t_readyq;	/* woken: tok_resume() */
	struct conn		**t_readyq_tail;
	struct jwt_cache	*t_cache;
};

static struct tok_state	 tok;

static const struct gw_auth *
tok_conf(void)
{
	return &gw->w_conf->gc_auth;
}

/* FNV-1a of the service name and the JWKS path: which provider the
 * shared copy belongs to (a reload may name another). */
static uint64_t
tok_src(const struct gw_auth *au)
{
	const char *parts[2] = { au->au_service, au->au_jwks };
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *p;
	size_t i;

	for (i = 0; i < NITEMS(parts); i++)
		for (p = parts[i]; ; p++) {
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
			if (*p == '\0')
				break;
		}
	return h;
}

/* Gap after a failed fetch before the next one: short while no keys are
 * held, refresh-min (at least TOK_RETRY_MS) otherwise. */
static uint64_t
tok_retry_gap(const struct gw_auth *au, int have_keys)
{
	if (!have_keys || au->au_refresh_min < TOK_RETRY_MS)
		return TOK_RETRY_MS;
	return au->au_refresh_min;
}

/* Classifies a fetch that gave CGI <status> (0: no answer) and <body>;
 * on METRICS_JWKS_OK its keys are in <set>. */
static enum metrics_jwks
tok_parse(int status, struct str body, struct jwt_keyset *set)
{
	if (status == 0)
		return METRICS_JWKS_UNREACHABLE;
	if (status != 200)
		return METRICS_JWKS_STATUS;
	if (body.len > SHM_JWKS_MAX ||
	    jwt_keyset_parse(set, body.p, body.len) <= 0)
		return METRICS_JWKS_INVALID;
	return METRICS_JWKS_OK;
}

/*
 * Books the end of the fetch this process ran with outcome <res>: the
 * shared failing flag and times, the counters, the log (transitions only:
 * the first failure of an outage, the first success after it), then the
 * lease goes back and the end is announced to every worker.
 */
static void
tok_book(const struct gw_auth *au, enum metrics_jwks res, size_t nkeys)
{
	struct shm_jwks *sj = &shm->sh_jwks;
	uint32_t was;

	was = atomic_exchange(&sj->sj_failing, res != METRICS_JWKS_OK);
	metrics_jwks_fetch(res);
	if (res == METRICS_JWKS_OK) {
		atomic_store(&sj->sj_ok_at, util_now_ms());
		if (was)
			log_info("JWKS fetch from %s works again: %zu keys",
			    au->au_service, nkeys);
	} else if (!was)
		log_warnx("JWKS fetch from %s failed (%s); keeping %zu keys",
		    au->au_service, metrics_jwks_str(res), nkeys);
	else
		log_debug("%s: JWKS fetch from %s failed (%s)", __func__,
		    au->au_service, metrics_jwks_str(res));
	shm_jwks_unlease();
	atomic_fetch_add_explicit(&sj->sj_ends, 1, memory_order_release);
}

/* Moves every waiting request to the ready queue (tok_resume). */
static void
tok_wake(void)
{
	if (tok.t_waitq == NULL)
		return;
	*tok.t_readyq_tail = tok.t_waitq;
	tok.t_readyq_tail = tok.t_waitq_tail;
	tok.t_waitq = NULL;
	tok.t_waitq_tail = &tok.t_waitq;
}

void
tok_resume(void)
{
	struct conn *c;

	while ((c = tok.t_readyq) != NULL) {
		tok.t_readyq = c->c_qnext;
		if (tok.t_readyq == NULL)
			tok.t_readyq_tail = &tok.t_readyq;
		c->c_qnext = NULL;
		conn_auth_resume(c);
	}
}

/* Takes over <set> as the keys of generation <gen>. Verified tokens are
 * forgotten unless every key held so far is still there, unchanged. */
static void
tok_install(struct jwt_keyset *set, uint64_t gen)
{
	if (!jwt_keyset_covers(set, &tok.t_keys)) {
		log_debug("%s: keys dropped or replaced, token cache cleared",
		    __func__);
		jwt_cache_clear(tok.t_cache);
	}
	jwt_keyset_release(&tok.t_keys);
	tok.t_keys = *set;
	memset(set, 0, sizeof(*set));
	tok.t_gen = gen;
}

/* Loads the shared copy when its generation is not the one held. Returns
 * 1 when the keys changed. */
static int
tok_sync(void)
{
	struct jwt_keyset set;
	uint64_t gen, src;
	size_t len;
	char *body;
	int rc = 0;

	if (shm == NULL || atomic_load(&shm->sh_jwks.sj_gen) == tok.t_gen)
		return 0;
	body = xmalloc(SHM_JWKS_MAX);
	memset(&set, 0, sizeof(set));
	if (shm_jwks_get(body, &len, &gen, &src) == -1)
		goto done;	/* being written: the next look gets it */
	if (src == tok.t_src && jwt_keyset_parse(&set, body, len) > 0) {
		log_debug("%s: shared JWKS generation %llu: %zu keys",
		    __func__, (unsigned long long)gen, set.js_n);
		tok_install(&set, gen);
		rc = 1;
	} else
		tok.t_gen = gen;	/* another provider's: not ours */
done:
	jwt_keyset_release(&set);
	free(body);
	return rc;
}

static void
tok_fetched(void *arg, int status, struct str body)
{
	struct jwt_keyset set;
	enum metrics_jwks res;
	uint64_t gen;

	(void)arg;
	tok.t_fetch = NULL;
	memset(&set, 0, sizeof(set));
	res = tok_parse(status, body, &set);
	if (res == METRICS_JWKS_OK) {
		if (shm_jwks_put(tok.t_src, body.p, body.len,
		    (uint32_t)set.js_n, &gen))
			log_info("JWKS %s: %zu keys", tok.t_keys.js_n == 0 ?
			    "loaded" : "refreshed", set.js_n);
		if (gen != tok.t_gen)
			tok_install(&set, gen);
	}
	tok_book(tok_conf(), res, tok.t_keys.js_n);
	jwt_keyset_release(&set);
	tok_wake();
}

/*
 * Starts a JWKS fetch on the next instance of the identity service unless
 * one runs somewhere. Returns 0 when one runs now (ours or another
 * process's), -1 when none does (a fetch that cannot start is booked as
 * failed).
 */
static int
tok_fetch(void)
{
	const struct gw_auth *au = tok_conf();
	struct service *svc = au->au_svc;
	struct instance *ins;
	uint64_t now = util_now_ms();
	size_t i;

	if (tok.t_fetch != NULL)
		return 0;
	if (svc->svc_nins == 0)
		return -1;
	if (!shm_jwks_lease(now + au->au_timeout + TOK_LEASE_SLACK))
		return shm_jwks_leased(now) ? 0 : -1;
	atomic_store(&shm->sh_jwks.sj_fetch_at, now);
	for (i = 0; i < svc->svc_nins && tok.t_fetch == NULL; i++) {
		ins = svc->svc_ins[tok.t_rr++ % svc->svc_nins];
		tok.t_fetch = sub_get(ins, au->au_jwks, au->au_timeout,
		    SHM_JWKS_MAX, tok_fetched, NULL);
	}
	if (tok.t_fetch != NULL)
		return 0;
	tok_book(au, METRICS_JWKS_UNREACHABLE, tok.t_keys.js_n);
	tok_wake();
	return -1;
}

/* Whether keys cannot be had now: none held, or the last fetch failed. */
static int
tok_unusable(void)
{
	return tok.t_keys.js_n == 0 ||
	    (shm != NULL && atomic_load(&shm->sh_jwks.sj_failing));
}

/* Whether the scheduled fetch is due at <now>. */
static int
tok_due(uint64_t now)
{
	const struct gw_auth *au = tok_conf();
	uint64_t at = atomic_load(&shm->sh_jwks.sj_fetch_at);

	if (at == 0)
		return 1;
	if (tok_unusable())
		return now - at >= tok_retry_gap(au, tok.t_keys.js_n > 0);
	return now - at >= au->au_refresh;
}

/* Whether a fetch runs, or may start now for an unknown kid and did. */
static int
tok_fetch_for_kid(void)
{
	const struct gw_auth *au = tok_conf();
	uint64_t now = util_now_ms(), at, gap;

	if (tok.t_fetch != NULL || shm_jwks_leased(now))
		return 1;
	at = atomic_load(&shm->sh_jwks.sj_fetch_at);
	gap = tok.t_keys.js_n == 0 ? TOK_RETRY_MS : au->au_refresh_min;
	if (at != 0 && now - at < gap)
		return 0;
	return tok_fetch() == 0;
}

void
tok_init(void)
{
	memset(&tok, 0, sizeof(tok));
	tok.t_waitq_tail = &tok.t_waitq;
	tok.t_readyq_tail = &tok.t_readyq;
	if (tok_conf()->au_svc == NULL || shm == NULL)
		return;
	tok.t_cache = jwt_cache_new((size_t)tok_conf()->au_cache);
	tok.t_src = tok_src(tok_conf());
	tok.t_ends = atomic_load(&shm->sh_jwks.sj_ends);
	if (tok_sync())
		log_debug("%s: %zu keys from the shared JWKS", __func__,
		    tok.t_keys.js_n);
	if (tok_due(util_now_ms()))
		(void)tok_fetch();
}

void
tok_release(void)
{
	if (tok.t_fetch != NULL) {
		sub_cancel(tok.t_fetch);
		tok.t_fetch = NULL;
		shm_jwks_unlease();
	}
	jwt_keyset_release(&tok.t_keys);
	jwt_cache_free(tok.t_cache);
	tok.t_cache = NULL;
}

void
tok_sweep(uint64_t now)
{
	uint64_t ends;

	if (tok.t_cache == NULL)
		return;
	ends = atomic_load_explicit(&shm->sh_jwks.sj_ends,
	    memory_order_acquire);
	if (tok_sync() || ends != tok.t_ends)
		tok_wake();
	tok.t_ends = ends;
	if (tok_due(now))
		(void)tok_fetch();
	/* Waiters for a fetch that died with its process decide now. */
	if (tok.t_waitq != NULL && tok.t_fetch == NULL &&
	    !shm_jwks_leased(now))
		tok_wake();
}

uint32_t
tok_retry_after(void)
{
	uint64_t now = util_now_ms(), at, next;

	if (shm == NULL || gw == NULL || tok.t_cache == NULL)
		return 1;
	at = atomic_load(&shm->sh_jwks.sj_fetch_at);
	next = at + tok_retry_gap(tok_conf(), tok.t_keys.js_n > 0);
	if (at == 0 || next <= now + 1000)
		return 1;
	return (uint32_t)((next - now + 999) / 1000);
}

static void
tok_wait(struct conn *c)
{
	uint64_t ends = atomic_load_explicit(&shm->sh_jwks.sj_ends,
	    memory_order_acquire);

	/* Requests parked before a fetch ended wait for that one, not for
	 * the next: wake them now, then count ends from here. */
	if (ends != tok.t_ends) {
		tok_wake();
		tok.t_ends = ends;
	}
	c->c_qnext = NULL;
	*tok.t_waitq_tail = c;
	tok.t_waitq_tail = &c->c_qnext;
}

/* Unlinks <c> from the queue at <head>/<tail>. Returns 1 if it was on it. */
static int
tok_unlink(struct conn **head, struct conn ***tail, struct conn *c)
{
	struct conn **pp;

	for (pp = head; *pp != NULL; pp = &(*pp)->c_qnext)
		if (*pp == c) {
			*pp = c->c_qnext;
			if (*tail == &c->c_qnext)
				*tail = pp;
			c->c_qnext = NULL;
			return 1;
		}
	return 0;
}

void
tok_unwait(struct conn *c)
{
	if (!tok_unlink(&tok.t_waitq, &tok.t_waitq_tail, c))
		(void)tok_unlink(&tok.t_readyq, &tok.t_readyq_tail, c);
}

/* <c>'s token names a kid not held (or no keys are held): wait once for
 * a fetch, then refuse it, or say it cannot be checked. */
static enum tok_res
tok_no_key(struct conn *c)
{
	if (!(c->c_flags & CONN_F_KEYWAIT) && tok_fetch_for_kid()) {
		c->c_flags |= CONN_F_KEYWAIT;
		tok_wait(c);
		return TOK_WAIT;
	}
	return tok_unusable() ? TOK_UNAVAILABLE : TOK_INVALID;
}

enum tok_res
tok_verify(struct conn *c, struct str token, json_t **claims,
    enum jwt_err *err)
{
	struct jwt_expect ex;
	int64_t now = (int64_t)time(NULL);
	json_t *j;

	*claims = NULL;
	*err = JWT_OK;
	if (tok.t_cache == NULL) {
		*err = JWT_E_KID;	/* no identity service configured */
		return TOK_INVALID;
	}
	if ((j = jwt_cache_get(tok.t_cache, token.p, token.len, now)) != NULL) {
		*claims = json_incref(j);
		return TOK_VALID;
	}
	(void)tok_sync();	/* a generation another worker fetched */
	memset(&ex, 0, sizeof(ex));
	ex.je_iss = tok_conf()->au_issuer;
	ex.je_aud = *tok_conf()->au_audience ? tok_conf()->au_audience : NULL;
	ex.je_leeway = (int64_t)(tok_conf()->au_leeway / 1000);
	ex.je_now = now;
	ex.je_typ = TOK_TYP;
	*err = jwt_verify(&tok.t_keys, token.p, token.len, &ex, claims);
	if (*err == JWT_OK) {
		j = json_object_get(*claims, "exp");
		jwt_cache_put(tok.t_cache, token.p, token.len, *claims,
		    json_is_integer(j) ? json_integer_value(j) : now);
		return TOK_VALID;
	}
	return *err == JWT_E_KID ? tok_no_key(c) : TOK_INVALID;
}

void
tok_prefetch(const struct gw_conf *gc)
{
	const struct gw_auth *au = &gc->gc_auth;
	struct buf body = BUF_INIT;
	struct jwt_keyset set;
	enum metrics_jwks res;
	uint64_t src, deadline, now, gen;
	size_t i;
	int status = 0;

	if (au->au_svc == NULL || shm == NULL)
		return;
	src = tok_src(au);
	if ((atomic_load(&shm->sh_jwks.sj_gen) != 0 &&
	    atomic_load(&shm->sh_jwks.sj_src) == src) ||
	    !shm_jwks_lease(util_now_ms() + au->au_timeout + TOK_LEASE_SLACK))
		return;
	deadline = util_now_ms() + au->au_timeout;
	atomic_store(&shm->sh_jwks.sj_fetch_at, util_now_ms());
	for (i = 0; i < au->au_svc->svc_nins && status == 0 &&
	    (now = util_now_ms()) < deadline; i++)
		status = sub_get_sync(au->au_svc->svc_ins[i], au->au_jwks,
		    deadline - now, SHM_JWKS_MAX, &body);
	memset(&set, 0, sizeof(set));
	res = tok_parse(status, buf_avail(&body) > 0 ? str_make(buf_data(&body),
	    buf_avail(&body)) : STR_NULL, &set);
	if (res == METRICS_JWKS_OK) {
		(void)shm_jwks_put(src, buf_data(&body), buf_avail(&body),
		    (uint32_t)set.js_n, &gen);
		log_info("JWKS loaded: %zu keys", set.js_n);
	}
	tok_book(au, res, set.js_n);
	jwt_keyset_release(&set);
	buf_release(&body);
}
