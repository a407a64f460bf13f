/*
 * http: libelp's one HTTP client (JWKS fetches, service-to-service calls,
 * the identity provider's admin API, the media rule), over libcurl.
 *
 * Every transfer is a plain blocking one: a FastCGI worker (or a
 * background process) does one thing at a time. Each is bounded by a
 * connect timeout and a total timeout (no SIGALRM), and its response body
 * by a size cap: a larger body is an error (HTTP_E_TOOBIG), never cut.
 * Only http and https are spoken, for the URL and for any redirect;
 * redirects are not followed unless the client asks for some. Proxies
 * from the environment (http_proxy, https_proxy, ALL_PROXY, ...) never
 * apply: every peer is internal. TLS always verifies the peer's
 * certificate and host name, against <ca_file> when one is given, else
 * the system store. Every libcurl option and info call is checked.
 *
 * A client keeps one libcurl handle; with ho_keepalive, consecutive
 * requests to the same peer reuse its connection, else each request has
 * a connection of its own, closed after it. Make clients after the fork, in
 * the process that uses them; the program calls curl_global_init() once
 * before forking (svc does). Nothing here logs a header value or a body:
 * tokens and secrets stay out of the log.
 */
#ifndef ELP_HTTP_H
#define ELP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define HTTP_VALUE_MAX	255	/* bytes kept of a selected response
				   header; a longer one is left empty */
#define HTTP_WHY_MAX	320	/* bytes of an error text, NUL included */

/* Why no response came. */
enum http_err {
	HTTP_E_OK = 0,		/* a whole response came (any status) */
	HTTP_E_REQUEST,		/* not sent: the URL is malformed or its
				   scheme (or a redirect's) is not http or
				   https, or a header value holds a line
				   break */
	HTTP_E_CONNECT,		/* no connection: refused, unreachable, no
				   such host */
	HTTP_E_TIMEOUT,		/* connect or total timeout */
	HTTP_E_TLS,		/* handshake failed or the certificate did
				   not verify */
	HTTP_E_TOOBIG,		/* the body went past the size cap */
	HTTP_E_TRANSFER,	/* anything else: the peer closed early,
				   broke HTTP, too many redirects, ... */
	HTTP_E_COUNT
};

/* "ok", "bad-request", "connect", "timeout", "tls", "too-large", "transfer". */
const char	*http_err_str(enum http_err);

/* How a client behaves; copied by http_new(). */
struct http_opts {
	uint64_t	 ho_connect_timeout; /* ms; 0: ho_timeout */
	uint64_t	 ho_timeout;	/* ms for a whole transfer, > 0 */
	uint64_t	 ho_max;	/* bytes of a response body, > 0 */
	const char	*ho_ca_file;	/* NULL or "": the system store */
	long		 ho_redirects;	/* redirects followed; 0: none */
	int		 ho_keepalive;	/* keep the connection for the next
					   request */
};

/* One request. Unused members are NULL (or 0). */
struct http_req {
	const char	*hq_method;	/* NULL: "GET" */
	const char	*hq_url;	/* http:// or https:// */
	const char	*hq_bearer;	/* sent as "Authorization: Bearer" */
	const char	*hq_authz;	/* an Authorization value passed on as
					   is; ignored with hq_bearer */
	const char	*hq_reqid;	/* X-Request-Id to propagate */
	const char	*hq_accept;	/* Accept */
	const char	*hq_ctype;	/* Content-Type of the body */
	const char	*hq_key;	/* Idempotency-Key */
	const char	*hq_body;	/* NULL: no body */
	size_t		 hq_bodylen;
};

/* One response. Only hr_body holds memory: http_resp_release() frees it. */
struct http_resp {
	enum http_err	 hr_err;
	long		 hr_status;	/* HTTP status; 0 without a response */
	struct buf	 hr_body;	/* empty unless HTTP_E_OK */
	/* Selected headers of the last response, "" when absent. */
	char		 hr_ctype[HTTP_VALUE_MAX + 1];	/* Content-Type */
	char		 hr_etag[HTTP_VALUE_MAX + 1];	/* ETag */
	char		 hr_retry_after[HTTP_VALUE_MAX + 1]; /* Retry-After */
	char		 hr_location[HTTP_VALUE_MAX + 1]; /* Location */
	char		 hr_why[HTTP_WHY_MAX];	/* error text, for the log;
						   never holds a header
						   value or body */
};

struct http_client;

/* Copies <opts>; opens nothing yet. Never NULL. */
struct http_client	*http_new(const struct http_opts *opts);
/* Closes the kept connection and frees the client; NULL is a no-op. */
void			 http_free(struct http_client *);

/*
 * Performs <req> into <resp>, which it overwrites (pass a new or released
 * one: a body still held would leak). Returns 0 when a whole response
 * came, whatever its status (a 5xx body is kept too), or -1 with hr_err
 * and hr_why saying why and hr_body empty. Either way the caller calls http_resp_release(). Logs
 * nothing: the caller decides what an outage is worth.
 */
int	 http_do(struct http_client *, const struct http_req *req,
	    struct http_resp *resp);

/*
 * Percent-encodes <s> for a URL component or a form value: everything
 * but ALPHA, DIGIT and "-._~" becomes %XX (as curl_easy_escape does).
 * Returns a heap string the caller frees.
 */
char	*http_escape(const char *s);

/* Frees the body of <resp> and empties it; <resp> is reusable. */
void	 http_resp_release(struct http_resp *resp);

#endif
