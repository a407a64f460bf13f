/*
 * svcc: the client side of service-to-service calls (DESIGN.md: "course
 * -> messaging", "user -> auth admin API"): JSON over HTTP with a
 * client-credentials bearer token, through libelp's HTTP client (http.h).
 *
 * Calls are plain blocking transfers: a FastCGI worker (or a background
 * process) does one thing at a time, and each transfer is bounded by the
 * configured timeout (connecting included) and response size, restricted
 * to http and https, and follows no redirects and no proxy. The token is
 * fetched from the token endpoint with the client_credentials grant and
 * kept until shortly before it expires (half its life when that is
 * shorter than 30 s); a call answered 401 drops it and is tried once more
 * with a fresh one. The client secret is read from its file at each token
 * fetch (a new secret needs no restart), refused when group or others
 * may read the file, and never logged.
 *
 * The program calls curl_global_init() once before forking (svc does).
 */
#ifndef ELP_SVCC_H
#define ELP_SVCC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* What a client talks to and as whom; copied by svcc_new(). */
struct svcc_def {
	const char	*sv_name;	/* for the log, e.g. "idp" */
	const char	*sv_token_url;	/* the realm's token endpoint */
	const char	*sv_client;	/* confidential client id */
	const char	*sv_secret_file; /* first line: the client secret */
	uint64_t	 sv_timeout;	/* ms for one whole transfer */
	uint64_t	 sv_max;	/* bytes of one response body */
	const char	*sv_ca_file;	/* https CA file; NULL or "": the
					   system store */
};

/*
 * Returned instead of an HTTP status when no answer came: the peer is
 * unreachable or timed out, the gateway in front of it answered 502, 503
 * or 504, the answer was over the size limit, or no token could be had.
 */
#define SVCC_UNAVAILABLE	(-1)

struct svcc;

/* Copies <def>; fetches nothing yet. Call it after the fork. Never NULL. */
struct svcc	*svcc_new(const struct svcc_def *def);
/* Frees the client and the token it holds; NULL is a no-op. */
void		 svcc_free(struct svcc *);

/*
 * One call: <method> on <url> with the JSON <body> (NULL: none) and the
 * Idempotency-Key <key> (NULL: none), carrying the bearer token. Returns
 * the HTTP status, with the parsed answer in *<out> when <out> is not
 * NULL (a new reference the caller drops; NULL when the answer is empty
 * or not JSON), or SVCC_UNAVAILABLE (*<out> NULL). Logs only transitions
 * into and out of an outage, never the token or the secret.
 */
int	 svcc_call(struct svcc *, const char *method, const char *url,
	    json_t *body, const char *key, json_t **out);

#endif
