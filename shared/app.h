/*
 * app: the FastCGI application framework over libfcgi.
 *
 * A service declares a route table of METHOD + path pattern (with {var}
 * captures) and handlers. app_serve() handles one accepted FastCGI request:
 * it matches the route, answers 404 (no such path) or 405 with Allow (path
 * known, method not), runs the handler, and guarantees exactly one
 * response, in the contract's JSON envelope for every error.
 *
 * The path routed on is the FastCGI param SCRIPT_NAME followed by
 * PATH_INFO; the query string is QUERY_STRING; the request id REQUEST_ID.
 */
#ifndef ELP_APP_H
#define ELP_APP_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "buf.h"

#define APP_MAX_CAPS	8	/* {var} captures per pattern */
#define APP_MAX_PATH	2048	/* longer paths get 414 */
#define APP_DEF_MAX_BODY (1024 * 1024)	/* a_max_body 0 means this */

struct app_req;

/*
 * What a route accepts as a request body; app_serve() checks it before the
 * handler runs (docs/contract/api.md 2.4).
 */
enum app_body {
	APP_BODY_ANY = 0,	/* not checked: the handler decides */
	APP_BODY_JSON,		/* application/json, charset utf-8 only:
				   else 415; no type with a body is 415 */
	APP_BODY_MULTIPART,	/* multipart/form-data without a boundary
				   parameter is 400; other types go on to
				   the handler */
	APP_BODY_COUNT
};

/* A handler writes its response with app_ok/app_fail/app_send_*. If it
 * returns without responding, the framework sends a 500 envelope. */
typedef void (*app_handler)(struct app_req *);

struct app_route {
	const char	*ar_method;	/* "GET", "POST", ... */
	const char	*ar_pattern;	/* "/course/{courseId}" */
	app_handler	 ar_handler;
	enum app_body	 ar_body;	/* request body it accepts */
};

struct app {
	const struct app_route	*a_routes;
	size_t			 a_nroutes;
	uint64_t		 a_max_body;	/* bytes; larger gets 413; 0 =
						   APP_DEF_MAX_BODY */
	void			*a_ctx;		/* service state (db, cfg) */
};

struct app_cap {
	char	name[32];
	char	*value;		/* percent-decoded, NUL-terminated */
};

struct app_req {
	FCGX_Request		*r_fx;
	const struct app	*r_app;
	const char		*r_method;
	char			*r_path;	/* SCRIPT_NAME + PATH_INFO */
	const char		*r_query;	/* QUERY_STRING, "" if none */
	const char		*r_reqid;	/* REQUEST_ID or "-" */
	struct app_cap		 r_caps[APP_MAX_CAPS];
	size_t			 r_ncaps;
	char			*r_body;	/* NUL-terminated once read */
	size_t			 r_body_len;
	int			 r_body_read;
	int			 r_responded;
	int			 r_status;	/* status sent */
	void			*r_ctx;		/* = app->a_ctx */
	struct buf		 r_hdrs;	/* app_header() lines, CRLF each */
};

/*
 * Handles one request accepted on <fx>: route, run, respond. Never exits
 * the process; all failures end in an envelope response.
 */
void	 app_serve(const struct app *, FCGX_Request *fx);

/*
 * Matches <method> <path> against the table. Returns the route, or NULL;
 * on NULL *<path_known> tells whether some other method matches the path
 * (for 405) and, if <allow> is not NULL, the allowed methods are written
 * to it comma-separated. Captures go into <req>. Exposed for unit tests.
 *
 * Rules: a pattern segment is literal or {name}; {name} matches exactly
 * one non-empty segment, percent-decoded into the capture (a malformed
 * escape or %00 makes the pattern not match). One trailing '/' on <path>
 * is ignored ("/a/b/" routes like "/a/b"; "/a/b//" does not). Among the
 * routes whose method and pattern match, the one with more literal
 * segments wins, ties going to table order. Routing is method-aware: when
 * a route of another method matches the path with more literal segments
 * than the best one of <method> ("GET /course/update" with the routes
 * "POST /course/update" and "GET /course/{id}"), the path is that literal
 * route's and the answer is NULL with *<path_known> set (405); Allow then
 * lists the methods of the most literal routes only. HEAD falls back to the GET
 * route when the table has no HEAD route for the path; the Allow list
 * names methods in table order, plus HEAD at the end when GET is there.
 * A pattern with more than APP_MAX_CAPS captures, or a capture name over
 * 31 bytes, never matches.
 */
const struct app_route	*app_match(const struct app *, const char *method,
			    const char *path, struct app_req *req,
			    int *path_known, char *allow, size_t allowlen);

/*
 * Frees what <req> owns (path, captures, body, pending headers) and leaves
 * it reusable as an empty request. app_serve() calls it; tests that call
 * app_match() with a request call it too.
 */
void	 app_req_release(struct app_req *);

/* The name of <body> ("json"), for messages and tests. */
const char	*app_body_str(enum app_body body);

/*
 * Checks the request's CONTENT_TYPE against <body>. Returns 0 when the
 * handler may run, or -1 after responding 415 (JSON route: a type other
 * than application/json, a charset other than utf-8, or no type with a
 * non-empty body) or 400 (multipart/form-data without a boundary).
 * app_serve() calls it; exposed for unit tests.
 */
int	 app_body_check(struct app_req *, enum app_body body);

/* FastCGI param <name> or NULL. */
const char	*app_param(struct app_req *, const char *name);
/* Value of capture {name}, decoded, or NULL. */
const char	*app_cap(struct app_req *, const char *name);

/*
 * Finds query parameter <name> in <query>, percent-decodes it ('+' as
 * space) into <out> (NUL-terminated). Returns 1 if found, 0 if absent,
 * -1 if malformed or longer than <outlen> - 1.
 */
int	 app_query_get(const char *query, const char *name, char *out,
	    size_t outlen);

/*
 * Parses an optional integer query parameter. Returns 0 with *<out> set
 * (to <def> when absent), or -1 when present but not a decimal integer in
 * [min, max] of long long. Does not respond.
 */
int	 app_query_int(struct app_req *, const char *name, long long def,
	    long long *out);

/*
 * Reads the request body (CONTENT_LENGTH bytes, at most a_max_body).
 * Returns 0 with r_body/r_body_len set, or -1 after responding (413 too
 * large, 400 short/unreadable body).
 */
int	 app_read_body(struct app_req *);

/*
 * Streaming access to the body, for handlers that must not hold it in
 * memory (uploads); do not mix with app_read_body() on one request.
 * app_body_length() returns 1 with *<len> set from CONTENT_LENGTH, 0 when
 * the length is unknown (the client sent the body chunked: it ends at the
 * end of STDIN), or -1 when CONTENT_LENGTH is malformed. app_body_read()
 * reads up to <n> bytes into <dst> and returns how many, 0 at the end of
 * STDIN, or -1 when the stream failed (the gateway closed the
 * connection): an interrupted body ends in 0 or -1 before its length.
 */
int	 app_body_length(struct app_req *, uint64_t *len);
ssize_t	 app_body_read(struct app_req *, void *dst, size_t n);

/*
 * Reads the body and parses it as a JSON object. Returns a new reference
 * (caller decrefs), or NULL after responding 400 with a message saying what
 * is wrong (missing body, not JSON with line/column, not an object).
 */
json_t	*app_json_body(struct app_req *);

/* Adds a response header; valid only before the response is sent. */
void	 app_header(struct app_req *, const char *name, const char *value);

/* Sends <status> with the success envelope around <body> (stolen). */
void	 app_ok(struct app_req *, int status, json_t *body);
/*
 * Sends <status> with the success envelope of app_ok() around the <len>
 * bytes at <body>: JSON text the caller serialised (jsonw.h), byte for
 * byte what app_ok() would send for the same value. <body> stays the
 * caller's.
 */
void	 app_ok_text(struct app_req *, int status, const char *body,
	    size_t len);
/* Sends <status> with the failure envelope and a formatted message. */
void	 app_fail(struct app_req *, int status, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* Sends <status> with <json> (stolen) as the whole body. */
void	 app_send_json(struct app_req *, int status, json_t *json);
/* Sends raw bytes with <ctype>. */
void	 app_send_raw(struct app_req *, int status, const char *ctype,
	    const void *body, size_t len);

/*
 * The worker loop: accepts requests on listening socket <fd> and serves
 * them with <app> until pool_should_stop(). Returns 0 on orderly stop.
 */
int	 app_worker_loop(const struct app *, int fd);

#endif
