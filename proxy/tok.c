/*
 * tok: bearer-token checks at the gateway.
 *
 * Routes declare a policy: public (a valid token is passed on, an invalid
 * one ignored), token (a valid token required) or a role list (a valid
 * token holding one of the roles). Tokens are RS256 JWTs from elp-auth,
 * verified with the keys of its JWKS, which each worker fetches over
 * FastCGI from an instance of the identity service (sub.c) at start and
 * again when a token names an unknown kid (at most once per refresh-min).
 * Verified tokens are cached until they expire. A request that needs keys
 * not fetched yet waits for the fetch, bounded by its timeout.
 */
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

#define TOK_JWKS_MAX	(256 * 1024)	/* JWKS body limit */

struct tok_state {
	struct jwt_keyset	 t_keys;
	int			 t_have_keys;
	uint64_t		 t_fetch_at;	/* last fetch start, ms */
	struct sub		*t_fetch;	/* running fetch */
	size_t			 t_rr;		/* instance rotation */
	struct conn		*t_waitq;	/* requests awaiting keys */
	struct conn		**t_waitq_tail;
	struct jwt_cache	*t_cache;
};

static struct tok_state	 tok;

static const struct gw_auth *
tok_conf(void)
{
	return &gw->w_conf->gc_auth;
}

static void	tok_fetch(void);

void
tok_init(void)
{
	memset(&tok, 0, sizeof(tok));
	tok.t_waitq_tail = &tok.t_waitq;
	if (tok_conf()->au_svc == NULL)
		return;
	tok.t_cache = jwt_cache_new((size_t)tok_conf()->au_cache);
	tok_fetch();
}

void
tok_release(void)
{
	sub_cancel(tok.t_fetch);
	tok.t_fetch = NULL;
	jwt_keyset_release(&tok.t_keys);
	jwt_cache_free(tok.t_cache);
	tok.t_cache = NULL;
}

/* Wakes every request that waited for keys. */
static void
tok_wake(void)
{
	struct conn *c;

	while ((c = tok.t_waitq) != NULL) {
		tok.t_waitq = c->c_qnext;
		c->c_qnext = NULL;
		conn_auth_resume(c);
	}
	tok.t_waitq_tail = &tok.t_waitq;
}

static void
tok_fetched(void *arg, int status, struct str body)
{
	struct jwt_keyset set;
	int n;

	(void)arg;
	tok.t_fetch = NULL;
	memset(&set, 0, sizeof(set));
	if (status != 200 || (n = jwt_keyset_parse(&set, body.p,
	    body.len)) <= 0) {
		log_warnx("JWKS fetch from %s failed (status %d)",
		    tok_conf()->au_service, status);
		jwt_keyset_release(&set);
	} else {
		jwt_keyset_release(&tok.t_keys);
		tok.t_keys = set;
		if (!tok.t_have_keys)
			log_info("JWKS loaded: %d keys", n);
		else
			log_info("JWKS refreshed: %d keys", n);
		tok.t_have_keys = 1;
		jwt_cache_clear(tok.t_cache);
	}
	tok_wake();
}

/* Starts a JWKS fetch on the next instance of the identity service. */
static void
tok_fetch(void)
{
	struct service *svc = tok_conf()->au_svc;
	struct instance *ins;
	size_t i;

	if (tok.t_fetch != NULL || svc->svc_nins == 0)
		return;
	tok.t_fetch_at = util_now_ms();
	for (i = 0; i < svc->svc_nins && tok.t_fetch == NULL; i++) {
		ins = svc->svc_ins[tok.t_rr++ % svc->svc_nins];
		tok.t_fetch = sub_get(ins, tok_conf()->au_jwks,
		    tok_conf()->au_timeout, TOK_JWKS_MAX, tok_fetched, NULL);
	}
	if (tok.t_fetch == NULL)
		log_warnx("JWKS fetch from %s could not start",
		    tok_conf()->au_service);
}

/* Whether a new fetch may start now (rate limit, one at a time). */
static int
tok_may_fetch(void)
{
	uint64_t now = util_now_ms();

	if (tok.t_fetch != NULL)
		return 1;	/* one is running: wait for it */
	return tok.t_fetch_at == 0 || now - tok.t_fetch_at >=
	    (tok.t_have_keys ? tok_conf()->au_refresh_min : 1000);
}

static void
tok_wait(struct conn *c)
{
	c->c_qnext = NULL;
	*tok.t_waitq_tail = c;
	tok.t_waitq_tail = &c->c_qnext;
	tok_fetch();
}

void
tok_unwait(struct conn *c)
{
	struct conn **pp;

	for (pp = &tok.t_waitq; *pp != NULL; pp = &(*pp)->c_qnext)
		if (*pp == c) {
			*pp = c->c_qnext;
			if (tok.t_waitq_tail == &c->c_qnext)
				tok.t_waitq_tail = pp;
			c->c_qnext = NULL;
			return;
		}
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
	memset(&ex, 0, sizeof(ex));
	ex.je_iss = tok_conf()->au_issuer;
	ex.je_aud = *tok_conf()->au_audience ? tok_conf()->au_audience : NULL;
	ex.je_leeway = (int64_t)(tok_conf()->au_leeway / 1000);
	ex.je_now = now;
	*err = jwt_verify(&tok.t_keys, token.p, token.len, &ex, claims);
	if (*err == JWT_OK) {
		j = json_object_get(*claims, "exp");
		jwt_cache_put(tok.t_cache, token.p, token.len, *claims,
		    json_is_integer(j) ? json_integer_value(j) : now);
		return TOK_VALID;
	}
	if (*err == JWT_E_KID && !(c->c_flags & CONN_F_KEYWAIT) &&
	    tok_may_fetch()) {
		c->c_flags |= CONN_F_KEYWAIT;
		tok_wait(c);
		return TOK_WAIT;
	}
	return TOK_INVALID;
}
