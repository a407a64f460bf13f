/*
 * env: the JSON response envelope of the public API contract
 * (docs/contract/api.md §2.1, §2.2).
 *
 * env_error() builds the envelope with jansson for the FastCGI apps;
 * env_error_write() serialises the same envelope by hand for the gateway's
 * error path. Both turn invalid UTF-8 in the message into U+FFFD, one per
 * bad byte, so the two always carry the same text.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "env.h"
#include "jsonw.h"
#include "util.h"

struct env_status {
	int		 es_code;
	const char	*es_name;	/* Spring HttpStatus constant */
	const char	*es_reason;	/* RFC 9110 reason phrase */
};

static const struct env_status env_statuses[] = {
	{ 100, "CONTINUE", "Continue" },
	{ 101, "SWITCHING_PROTOCOLS", "Switching Protocols" },
	{ 102, "PROCESSING", "Processing" },
	{ 103, "EARLY_HINTS", "Early Hints" },
	{ 200, "OK", "OK" },
	{ 201, "CREATED", "Created" },
	{ 202, "ACCEPTED", "Accepted" },
	{ 203, "NON_AUTHORITATIVE_INFORMATION",
	    "Non-Authoritative Information" },
	{ 204, "NO_CONTENT", "No Content" },
	{ 205, "RESET_CONTENT", "Reset Content" },
	{ 206, "PARTIAL_CONTENT", "Partial Content" },
	{ 207, "MULTI_STATUS", "Multi-Status" },
	{ 208, "ALREADY_REPORTED", "Already Reported" },
	{ 226, "IM_USED", "IM Used" },
	{ 300, "MULTIPLE_CHOICES", "Multiple Choices" },
	{ 301, "MOVED_PERMANENTLY", "Moved Permanently" },
	{ 302, "FOUND", "Found" },
	{ 303, "SEE_OTHER", "See Other" },
	{ 304, "NOT_MODIFIED", "Not Modified" },
	{ 307, "TEMPORARY_REDIRECT", "Temporary Redirect" },
	{ 308, "PERMANENT_REDIRECT", "Permanent Redirect" },
	{ 400, "BAD_REQUEST", "Bad Request" },
	{ 401, "UNAUTHORIZED", "Unauthorized" },
	{ 402, "PAYMENT_REQUIRED", "Payment Required" },
	{ 403, "FORBIDDEN", "Forbidden" },
	{ 404, "NOT_FOUND", "Not Found" },
	{ 405, "METHOD_NOT_ALLOWED", "Method Not Allowed" },
	{ 406, "NOT_ACCEPTABLE", "Not Acceptable" },
	{ 407, "PROXY_AUTHENTICATION_REQUIRED",
	    "Proxy Authentication Required" },
	{ 408, "REQUEST_TIMEOUT", "Request Timeout" },
	{ 409, "CONFLICT", "Conflict" },
	{ 410, "GONE", "Gone" },
	{ 411, "LENGTH_REQUIRED", "Length Required" },
	{ 412, "PRECONDITION_FAILED", "Precondition Failed" },
	{ 413, "PAYLOAD_TOO_LARGE", "Content Too Large" },
	{ 414, "URI_TOO_LONG", "URI Too Long" },
	{ 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type" },
	{ 416, "REQUESTED_RANGE_NOT_SATISFIABLE", "Range Not Satisfiable" },
	{ 417, "EXPECTATION_FAILED", "Expectation Failed" },
	{ 418, "I_AM_A_TEAPOT", "I'm a teapot" },
	{ 421, "MISDIRECTED_REQUEST", "Misdirected Request" },
	{ 422, "UNPROCESSABLE_ENTITY", "Unprocessable Content" },
	{ 423, "LOCKED", "Locked" },
	{ 424, "FAILED_DEPENDENCY", "Failed Dependency" },
	{ 425, "TOO_EARLY", "Too Early" },
	{ 426, "UPGRADE_REQUIRED", "Upgrade Required" },
	{ 428, "PRECONDITION_REQUIRED", "Precondition Required" },
	{ 429, "TOO_MANY_REQUESTS", "Too Many Requests" },
	{ 431, "REQUEST_HEADER_FIELDS_TOO_LARGE",
	    "Request Header Fields Too Large" },
	{ 451, "UNAVAILABLE_FOR_LEGAL_REASONS",
	    "Unavailable For Legal Reasons" },
	{ 500, "INTERNAL_SERVER_ERROR", "Internal Server Error" },
	{ 501, "NOT_IMPLEMENTED", "Not Implemented" },
	{ 502, "BAD_GATEWAY", "Bad Gateway" },
	{ 503, "SERVICE_UNAVAILABLE", "Service Unavailable" },
	{ 504, "GATEWAY_TIMEOUT", "Gateway Timeout" },
	{ 505, "HTTP_VERSION_NOT_SUPPORTED", "HTTP Version Not Supported" },
	{ 506, "VARIANT_ALSO_NEGOTIATES", "Variant Also Negotiates" },
	{ 507, "INSUFFICIENT_STORAGE", "Insufficient Storage" },
	{ 508, "LOOP_DETECTED", "Loop Detected" },
	{ 510, "NOT_EXTENDED", "Not Extended" },
	{ 511, "NETWORK_AUTHENTICATION_REQUIRED",
	    "Network Authentication Required" },
};

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
static const char env_fffd[] = "\xef\xbf\xbd";

static const struct env_status *
env_status_find(int code)
{
	size_t i;

	for (i = 0; i < NITEMS(env_statuses); i++)
		if (env_statuses[i].es_code == code)
			return &env_statuses[i];
	return NULL;
}

const char *
env_status_name(int code)
{
	const struct env_status *es = env_status_find(code);

	return es != NULL ? es->es_name : "UNKNOWN";
}

const char *
env_reason(int code)
{
	const struct env_status *es = env_status_find(code);

	return es != NULL ? es->es_reason : "Unknown";
}

/*
 * Appends <msg> to <out> as the body of a JSON string: '"' and '\' are
 * escaped, control characters become \u00XX, valid UTF-8 is copied and
 * each invalid byte becomes U+FFFD. With <escape> 0 only the UTF-8 repair
 * is done (the jansson path escapes by itself).
 */
static void
env_put_text(struct buf *out, const char *msg, int escape)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t len = strlen(msg), run = 0, n;

	while (run < len) {
		n = jsonw_utf8_len(s + run, len - run);
		if (n != 0 && (!escape || (s[run] >= 0x20 && s[run] != '"' &&
		    s[run] != '\\' && s[run] != 0x7f))) {
			run += n;
			continue;
		}
		buf_append(out, s, run);
		if (n == 0)
			buf_append(out, env_fffd, sizeof(env_fffd) - 1);
		else if (s[run] == '"' || s[run] == '\\')
			buf_printf(out, "\\%c", s[run]);
		else
			buf_printf(out, "\\u%04x", s[run]);
		s += run + 1;
		len -= run + 1;
		run = 0;
	}
	buf_append(out, s, run);
}

json_t *
env_ok(int status, json_t *body)
{
	json_t *env = json_object();

	if (body == NULL)
		body = json_object();
	if (env == NULL || body == NULL) {
		json_decref(body);
		json_decref(env);
		return NULL;
	}
	/* set_new consumes its value even when it fails; httpStatus goes
	 * first so it leads the serialised object. */
	if (json_object_set_new(env, "httpStatus",
	    json_string(env_status_name(status))) == -1) {
		json_decref(body);
		json_decref(env);
		return NULL;
	}
	if (json_object_set_new(env, "responseBody", body) == -1) {
		json_decref(env);
		return NULL;
	}
	return env;
}

json_t *
env_error(int status, const char *msg)
{
	struct buf text = BUF_INIT;
	char code[16];
	json_t *env;

	env_put_text(&text, msg != NULL ? msg : "", 0);
	snprintf(code, sizeof(code), "%d", status);
	env = json_pack("{s:s, s:{s:s, s:s%}}",
	    "httpStatus", env_status_name(status),
	    "errorBody",
	    "errorCode", code,
	    "errorMessage", text.ptr != NULL ? text.ptr : "", buf_avail(&text));
	buf_release(&text);
	return env;
}

size_t
env_error_write(struct buf *out, int status, const char *msg)
{
	size_t before = out->len;

	buf_printf(out, "{\"httpStatus\":\"%s\",\"errorBody\":{"
	    "\"errorCode\":\"%d\",\"errorMessage\":\"",
	    env_status_name(status), status);
	env_put_text(out, msg != NULL ? msg : "", 1);
	buf_append_str(out, "\"}}");
	return out->len - before;
}
