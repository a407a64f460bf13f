/*
 * params: the CGI/1.1 meta-variables of one request as FastCGI records.
 * See params.h for the contract and the variables.
 *
 * Records go straight into the caller's output buffer: a span of free
 * room at its tail is handed to the fcgi_params writer, and when a pair
 * does not fit, the span is closed (its records committed) and a larger
 * one opened, so a value of any length ends up split over as many PARAMS
 * records as it needs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "fcgi.h"
#include "h1.h"
#include "params.h"

#define PARAMS_SPAN	4096	/* least room handed to the writer */
#define PARAMS_NAME_MAX	256	/* "HTTP_" + name; longer names dropped */

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* One params_build() or params_finish() call. */
struct params_ctx {
	struct buf		*px_out;	/* records go to its tail */
	struct buf		*px_arena;	/* scratch; NULL in finish */
	struct fcgi_params	 px_w;		/* over px_out's free room */
};

/* Hands the free room of px_out, at least <need> bytes, to the writer. */
static void
params_open(struct params_ctx *x, size_t need)
{
	buf_reserve(x->px_out, need < PARAMS_SPAN ? PARAMS_SPAN : need);
	fcgi_params_init(&x->px_w, buf_tail(x->px_out), buf_room(x->px_out),
	    PARAMS_REQID);
}

/* Commits the writer's records; <last> also ends the PARAMS stream. */
static void
params_close(struct params_ctx *x, int last)
{
	buf_commit(x->px_out, fcgi_params_end(&x->px_w, last));
}

/*
 * Appends one pair, in a fresh span when the open one is full. A name or
 * value over FCGI_MAX_PAIR_LEN cannot be encoded; it cannot come out of a
 * head within the configured limits either, so it is simply left out.
 */
static void
params_add(struct params_ctx *x, struct str name, struct str value)
{
	size_t need;

	if (fcgi_params_add(&x->px_w, name, value) == 0 ||
	    (need = fcgi_params_need(name.len, value.len)) == 0)
		return;
	params_close(x, 0);
	/* A fresh span of <need> bytes takes the pair, by contract. */
	params_open(x, need);
	(void)fcgi_params_add(&x->px_w, name, value);
}

static void
params_add_s(struct params_ctx *x, const char *name, struct str value)
{
	params_add(x, str_make(name, strlen(name)), value);
}

static void
params_add_c(struct params_ctx *x, const char *name, const char *value)
{
	params_add(x, str_make(name, strlen(name)),
	    str_make(value, strlen(value)));
}

static unsigned char
params_lc(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch;
}

/* Whether two field names are the same, ignoring ASCII case. */
static int
params_name_eq(struct str a, struct str b)
{
	size_t i;

	if (a.len != b.len)
		return 0;
	for (i = 0; i < a.len; i++)
		if (params_lc(a.p[i]) != params_lc(b.p[i]))
			return 0;
	return 1;
}

/* Whether a field before headers[<i>] of <req> has the same name. */
static int
params_seen(const struct h1_req *req, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (params_name_eq(req->headers[j].name, req->headers[i].name))
			return 1;
	return 0;
}

/*
 * The one value of the fields of <req> named like headers[<first>], the
 * first of them: its value when it is alone; else the non-empty values in
 * order, joined with <sep>, copied to the arena (the view lives until the
 * arena grows again).
 */
static struct str
params_join(struct params_ctx *x, const struct h1_req *req, size_t first,
    const char *sep)
{
	struct str	name = req->headers[first].name, v;
	size_t		i, off;

	for (i = first + 1; i < req->nheaders; i++)
		if (params_name_eq(req->headers[i].name, name))
			break;
	if (i == req->nheaders)
		return req->headers[first].value;
	off = buf_avail(x->px_arena);
	for (i = first; i < req->nheaders; i++) {
		v = req->headers[i].value;
		if (v.len == 0 || !params_name_eq(req->headers[i].name, name))
			continue;
		if (buf_avail(x->px_arena) > off)
			buf_append(x->px_arena, sep, strlen(sep));
		buf_append(x->px_arena, v.p, v.len);
	}
	if (buf_avail(x->px_arena) == off)
		return STR_LIT("");
	return str_make(buf_data(x->px_arena) + off,
	    buf_avail(x->px_arena) - off);
}

/* Headers never forwarded as HTTP_* params: hop-by-hop ones, those
 * carried as CGI variables, and those only the gateway may set. */
int
params_header_dropped(struct str name)
{
	static const char *const drop[] = {
		"Connection", "Keep-Alive", "Proxy-Connection", "TE",
		"Trailer", "Transfer-Encoding", "Upgrade", "Expect",
		"Content-Length", "Content-Type", "Proxy", "X-Request-Id",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP",
		"Forwarded",
	};
	size_t i;

	for (i = 0; i < NITEMS(drop); i++)
		if (str_caseeq(name, drop[i]))
			return 1;
	/* "Foo_Bar" would collide with "Foo-Bar" as HTTP_FOO_BAR: a
	 * classic way to spoof headers a backend trusts (nginx drops
	 * them too). */
	return memchr(name.p, '_', name.len) != NULL;
}

/* HTTP_<NAME> for headers[<i>] of <req>, unless dropped or done. */
static void
params_header(struct params_ctx *x, const struct h1_req *req, size_t i)
{
	struct str	name = req->headers[i].name, value;
	char		tmp[PARAMS_NAME_MAX];
	size_t		k;

	if (name.len + 5 > sizeof(tmp) || params_header_dropped(name) ||
	    params_seen(req, i))
		return;
	memcpy(tmp, "HTTP_", 5);
	for (k = 0; k < name.len; k++) {
		char ch = name.p[k];

		tmp[5 + k] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z' ?
		    (char)(ch - 32) : ch);
	}
	/* RFC 9112 3.2.2: an absolute-form target's authority overrides
	 * Host (the parser put it in req->host; Host is never repeated).
	 * RFC 6265 5.4: a user agent sends one Cookie field, "; " between
	 * pairs; a list field combines with ", " (RFC 9110 5.3). */
	if (str_caseeq(name, "Host"))
		value = req->host;
	else
		value = params_join(x, req, i, str_caseeq(name, "Cookie") ?
		    "; " : ", ");
	params_add(x, str_make(tmp, name.len + 5), value);
}

/*
 * Copies REQUEST_URI to the arena: the backend path (the rewrite plus
 * what follows the route's prefix, or the path as is), then "?query"
 * when the query is not empty. Sets <*pathlen> to the path's length.
 */
static struct str
params_uri(struct params_ctx *x, const struct params_in *in,
    size_t *pathlen)
{
	const struct h1_req	*req = in->pi_req;
	struct buf		*a = x->px_arena;
	struct str		 rest = req->path;
	size_t			 off = buf_avail(a);

	if (in->pi_rewrite.len > 0) {
		rest = str_make(req->path.p + in->pi_prefix_len,
		    req->path.len - in->pi_prefix_len);
		/* "/x/y" with "/x" rewritten to "/" is "/y", not "//y". */
		if (in->pi_rewrite.len == 1 && in->pi_rewrite.p[0] == '/' &&
		    rest.len > 0 && rest.p[0] == '/')
			rest = str_make(rest.p + 1, rest.len - 1);
		buf_append(a, in->pi_rewrite.p, in->pi_rewrite.len);
	}
	buf_append(a, rest.p, rest.len);
	*pathlen = buf_avail(a) - off;
	if (req->query.len > 0) {
		buf_append(a, "?", 1);
		buf_append(a, req->query.p, req->query.len);
	}
	/* Empty only for an absolute target without a path. */
	if (buf_avail(a) == off)
		return STR_LIT("");
	return str_make(buf_data(a) + off, buf_avail(a) - off);
}

/* The variables that come from the request line. */
static void
params_reqline(struct params_ctx *x, const struct params_in *in)
{
	const struct h1_req	*req = in->pi_req;
	struct str		 uri, path;
	size_t			 pathlen;

	uri = params_uri(x, in, &pathlen);
	path = str_make(uri.p, pathlen);
	params_add_c(x, "GATEWAY_INTERFACE", "CGI/1.1");
	params_add_c(x, "SERVER_SOFTWARE", "elp-gateway");
	params_add_c(x, "SERVER_PROTOCOL", req->minor ? "HTTP/1.1" :
	    "HTTP/1.0");
	params_add_s(x, "REQUEST_METHOD", req->method_str);
	params_add_s(x, "SCRIPT_NAME", path);
	params_add_c(x, "PATH_INFO", "");
	params_add_s(x, "DOCUMENT_URI", path);
	params_add_s(x, "QUERY_STRING", req->query);
	params_add_s(x, "REQUEST_URI", uri);
}

/* BEGIN_REQUEST and the params the head decides; see params.h. */
void
params_build(struct buf *out, struct buf *arena, const struct params_in *in)
{
	const struct h1_req	*req = in->pi_req;
	struct params_ctx	 x;
	size_t			 i, mark = buf_avail(arena);

	x.px_out = out;
	x.px_arena = arena;
	buf_reserve(out, PARAMS_SPAN);
	buf_commit(out, fcgi_put_begin(buf_tail(out), buf_room(out),
	    PARAMS_REQID, 1));
	params_open(&x, 0);
	params_reqline(&x, in);
	for (i = 0; i < req->nheaders; i++)
		if (str_caseeq(req->headers[i].name, "Content-Type")) {
			params_add_s(&x, "CONTENT_TYPE",
			    params_join(&x, req, i, ", "));
			break;
		}
	params_add_c(&x, "REMOTE_ADDR", in->pi_peer);
	params_add_c(&x, "REMOTE_PORT", in->pi_peer_port);
	params_add_c(&x, "SERVER_NAME", in->pi_server);
	params_add_c(&x, "REQUEST_ID", in->pi_reqid);
	params_add_c(&x, "HTTP_X_REQUEST_ID", in->pi_reqid);
	params_add_c(&x, "HTTP_X_FORWARDED_FOR", in->pi_xff != NULL ?
	    in->pi_xff : in->pi_peer);
	params_add_c(&x, "HTTP_X_FORWARDED_PROTO", in->pi_scheme);
	params_add_c(&x, "REQUEST_SCHEME", in->pi_scheme);
	if (strcmp(in->pi_scheme, "https") == 0)
		params_add_c(&x, "HTTPS", "on");
	for (i = 0; i < req->nheaders; i++)
		params_header(&x, req, i);
	/* Not terminated: params_finish() follows. */
	params_close(&x, 0);
	/* Compaction keeps buf_avail(), so this is the length on entry. */
	arena->len = arena->off + mark;
}

/* Appends the claim <key> of <claims> as param <name>, if a string. */
static void
params_claim(struct params_ctx *x, const char *name, json_t *claims,
    const char *key)
{
	json_t *v = json_object_get(claims, key);

	if (json_is_string(v))
		params_add_s(x, name, str_make(json_string_value(v),
		    json_string_length(v)));
}

/* AUTH_ROLES: the strings of realm_access.roles joined with commas. */
static void
params_roles(struct params_ctx *x, json_t *claims)
{
	json_t		*roles, *r;
	struct buf	 b = BUF_INIT;
	size_t		 i;

	roles = json_object_get(json_object_get(claims, "realm_access"),
	    "roles");
	json_array_foreach(roles, i, r) {
		if (!json_is_string(r))
			continue;
		if (buf_avail(&b) > 0)
			buf_append(&b, ",", 1);
		buf_append(&b, json_string_value(r), json_string_length(r));
	}
	params_add(x, STR_LIT("AUTH_ROLES"), buf_avail(&b) > 0 ?
	    str_make(buf_data(&b), buf_avail(&b)) : STR_LIT(""));
	buf_release(&b);
}

/* CONTENT_LENGTH, the claims, the end of the stream; see params.h. */
void
params_finish(struct buf *out, json_t *claims, int64_t content_length)
{
	struct params_ctx	x;
	char			num[24];

	x.px_out = out;
	x.px_arena = NULL;
	params_open(&x, 0);
	if (content_length >= 0) {
		snprintf(num, sizeof(num), "%lld", (long long)content_length);
		params_add_c(&x, "CONTENT_LENGTH", num);
	}
	if (claims != NULL) {
		params_claim(&x, "AUTH_SUB", claims, "sub");
		params_roles(&x, claims);
		params_claim(&x, "AUTH_EMAIL", claims, "email");
		params_claim(&x, "AUTH_USERNAME", claims,
		    "preferred_username");
		params_claim(&x, "AUTH_GIVEN_NAME", claims, "given_name");
		params_claim(&x, "AUTH_FAMILY_NAME", claims, "family_name");
		params_claim(&x, "AUTH_CLIENT", claims, "azp");
		params_claim(&x, "AUTH_SCOPE", claims, "scope");
		params_claim(&x, "AUTH_SID", claims, "sid");
	}
	params_close(&x, 1);
}
