/*
 * params: the FastCGI BEGIN_REQUEST and PARAMS records (the CGI/1.1
 * meta-variables of RFC 3875) for one parsed HTTP request.
 *
 * Nearly pure: no sockets, no event loop, no globals, no logging. It takes
 * the parsed head and a few facts about the connection in a struct, and
 * appends records to the caller's buffer; the only allocation is the
 * growth of the caller's buffers.
 *
 * A request's PARAMS stream is written in two steps, so that the caller
 * can learn things between them (the verified token, the exact length of
 * a chunked body once it was read):
 *	params_build()	BEGIN_REQUEST (keep-conn) and every PARAMS pair
 *			that the head decides, the stream left open
 *	params_finish()	CONTENT_LENGTH, the AUTH_* claims, and the empty
 *			PARAMS record that ends the stream
 *
 * Meta-variables (in this order): GATEWAY_INTERFACE, SERVER_SOFTWARE,
 * SERVER_PROTOCOL, REQUEST_METHOD, SCRIPT_NAME and DOCUMENT_URI (the path
 * with the route's prefix replaced by its rewrite), PATH_INFO (empty),
 * QUERY_STRING, REQUEST_URI, CONTENT_TYPE (when sent), REMOTE_ADDR,
 * REMOTE_PORT, SERVER_NAME, REQUEST_ID, HTTP_X_REQUEST_ID,
 * HTTP_X_FORWARDED_FOR (what the gateway received with its peer appended,
 * as the caller gives it), HTTP_X_FORWARDED_PROTO and REQUEST_SCHEME (the
 * scheme), HTTPS "on" when the scheme is https, then one HTTP_<NAME> per
 * distinct forwarded header name, in order of first appearance. Repeated
 * fields become one variable (RFC 3875 4.1.18): their non-empty values in
 * the order received, joined with "; " for Cookie (RFC 6265 5.4) and with
 * ", " for every other field (RFC 9110 5.3). CONTENT_TYPE is joined the
 * same way. HTTP_HOST is the authority of an absolute-form target when
 * there is one (RFC 9112 3.2.2), else the Host field. Never forwarded as
 * HTTP_*: hop-by-hop fields, those carried as other variables, those only
 * the gateway sets (params_header_dropped) and any name with '_' (it
 * would alias the '-' spelling).
 */
#ifndef ELP_PARAMS_H
#define ELP_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "h1.h"

#define PARAMS_REQID	1	/* FastCGI request id: one request per
				   connection at a time */

/* What one request's params are made of; all borrowed for the call. */
struct params_in {
	const struct h1_req	*pi_req;	/* parsed head; views live */
	struct str		 pi_rewrite;	/* route's rewrite; empty:
						   the path goes as is */
	size_t			 pi_prefix_len;	/* bytes of the path that
						   the rewrite replaces */
	const char		*pi_peer;	/* REMOTE_ADDR text */
	const char		*pi_peer_port;	/* REMOTE_PORT text */
	const char		*pi_server;	/* SERVER_NAME: listener */
	const char		*pi_reqid;	/* REQUEST_ID */
	const char		*pi_scheme;	/* X-Forwarded-Proto and
						   REQUEST_SCHEME: "http" or
						   "https" (then HTTPS=on) */
	const char		*pi_xff;	/* X-Forwarded-For to send;
						   NULL: pi_peer */
};

/*
 * Appends to <out> a BEGIN_REQUEST record (RESPONDER, keep-conn) for
 * PARAMS_REQID and PARAMS records with every pair listed in params.h
 * except those of params_finish(); the PARAMS stream is left open.
 * <in>->pi_prefix_len must not exceed the path's length when a rewrite
 * is given. <arena> is scratch for the rewritten path and joined values:
 * its length is restored before returning, so offsets into it stay
 * valid, but it may move its memory, and so may <out>.
 */
void	 params_build(struct buf *out, struct buf *arena,
	    const struct params_in *in);

/*
 * Appends to <out> the pairs that end the PARAMS stream params_build()
 * began: CONTENT_LENGTH when <content_length> >= 0; when <claims> is not
 * NULL, the AUTH_* variables from its string claims (AUTH_SUB "sub",
 * AUTH_ROLES the strings of realm_access.roles joined with "," and
 * present even when empty, AUTH_EMAIL "email",
 * AUTH_USERNAME "preferred_username", AUTH_GIVEN_NAME "given_name",
 * AUTH_FAMILY_NAME "family_name", AUTH_CLIENT "azp", AUTH_SCOPE "scope",
 * AUTH_SID "sid"; a claim that is absent or not a string is left out);
 * then the empty PARAMS record. <claims> is borrowed. May move <out>'s
 * memory.
 */
void	 params_finish(struct buf *out, json_t *claims,
	    int64_t content_length);

/*
 * Returns 1 when the request header <name> is never forwarded as an
 * HTTP_* variable, 0 when it is.
 */
int	 params_header_dropped(struct str name);

#endif
