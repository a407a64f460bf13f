/*
 * http: libelp's one HTTP client (see http.h).
 *
 * The libcurl handle of a client is reset before and after each transfer:
 * before, so no option of an earlier request leaks into this one; after,
 * so the handle keeps no pointer to the header list and sink this call
 * frees. A reset keeps the connection cache, hence keep-alive (unless
 * the client forbids reuse).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "buf.h"
#include "http.h"
#include "log.h"
#include "util.h"

#if !CURL_AT_LEAST_VERSION(7, 85, 0)
#define HTTP_PROTO_BITS	(CURLPROTO_HTTP | CURLPROTO_HTTPS)
#endif

struct http_client {
	long		 hc_connect_timeout;	/* ms */
	long		 hc_timeout;		/* ms */
	size_t		 hc_max;		/* response body bytes */
	char		*hc_ca_file;		/* NULL: system store */
	long		 hc_redirects;		/* 0: none followed */
	int		 hc_keepalive;
	CURL		*hc_curl;		/* NULL until first use */
	char		 hc_err[CURL_ERROR_SIZE]; /* libcurl's error text */
};

/* What the callbacks of one transfer fill. */
struct http_sink {
	struct http_resp	*hs_resp;
	size_t			 hs_max;
	int			 hs_over;	/* the body went past hs_max */
};

/* A response header kept in struct http_resp. */
struct http_keep {
	const char	*hk_name;
	size_t		 hk_off;	/* offsetof(struct http_resp, ...) */
};

static const struct http_keep http_keeps[] = {
	{ "Content-Type", offsetof(struct http_resp, hr_ctype) },
	{ "ETag", offsetof(struct http_resp, hr_etag) },
	{ "Retry-After", offsetof(struct http_resp, hr_retry_after) },
	{ "Location", offsetof(struct http_resp, hr_location) },
};

static const char *const http_err_names[HTTP_E_COUNT] = {
	[HTTP_E_OK] = "ok",
	[HTTP_E_REQUEST] = "bad-request",
	[HTTP_E_CONNECT] = "connect",
	[HTTP_E_TIMEOUT] = "timeout",
	[HTTP_E_TLS] = "tls",
	[HTTP_E_TOOBIG] = "too-large",
	[HTTP_E_TRANSFER] = "transfer",
};

const char *
http_err_str(enum http_err err)
{
	if ((unsigned int)err >= HTTP_E_COUNT)
		return "unknown";
	return http_err_names[err];
}

struct http_client *
http_new(const struct http_opts *opts)
{
	struct http_client *hc = xcalloc(1, sizeof(*hc));

	hc->hc_timeout = opts->ho_timeout > 0 ? (long)opts->ho_timeout : 1;
	hc->hc_connect_timeout = opts->ho_connect_timeout > 0 &&
	    opts->ho_connect_timeout < opts->ho_timeout ?
	    (long)opts->ho_connect_timeout : hc->hc_timeout;
	hc->hc_max = opts->ho_max > 0 ? (size_t)opts->ho_max : 1;
	if (opts->ho_ca_file != NULL && opts->ho_ca_file[0] != '\0')
		hc->hc_ca_file = xstrdup(opts->ho_ca_file);
	hc->hc_redirects = opts->ho_redirects > 0 ? opts->ho_redirects : 0;
	hc->hc_keepalive = opts->ho_keepalive != 0;
	return hc;
}

void
http_free(struct http_client *hc)
{
	if (hc == NULL)
		return;
	if (hc->hc_curl != NULL)
		curl_easy_cleanup(hc->hc_curl);
	free(hc->hc_ca_file);
	free(hc);
}

void
http_resp_release(struct http_resp *resp)
{
	buf_release(&resp->hr_body);
	memset(resp, 0, sizeof(*resp));
}

char *
http_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out, *o;

	o = out = xmalloc(3 * n + 1);
	for (; *s != '\0'; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s) != NULL) {
			*o++ = *s;
			continue;
		}
		*o++ = '%';
		*o++ = hex[(unsigned char)*s >> 4];
		*o++ = hex[(unsigned char)*s & 0xf];
	}
	*o = '\0';
	return out;
}

/* Empties the selected headers (a new response begins). */
static void
http_keep_clear(struct http_resp *resp)
{
	size_t i;

	for (i = 0; i < NITEMS(http_keeps); i++)
		((char *)resp + http_keeps[i].hk_off)[0] = '\0';
}

/*
 * curl header callback: a status line starts a new response (after a
 * redirect or a 1xx), so the kept headers are cleared; a kept header's
 * value is copied when it fits, else left empty, never cut.
 */
static size_t
http_header_cb(char *p, size_t size, size_t nitems, void *arg)
{
	struct http_sink *s = arg;
	size_t n = size * nitems, i, len, vlen;
	const char *v, *end = p + n;
	char *dst;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		http_keep_clear(s->hs_resp);
		return n;
	}
	for (i = 0; i < NITEMS(http_keeps); i++) {
		len = strlen(http_keeps[i].hk_name);
		if (n <= len || p[len] != ':' ||
		    strncasecmp(p, http_keeps[i].hk_name, len) != 0)
			continue;
		for (v = p + len + 1; v < end && (*v == ' ' || *v == '\t'); v++)
			continue;
		for (vlen = (size_t)(end - v); vlen > 0 && (v[vlen - 1] ==
		    '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ' ||
		    v[vlen - 1] == '\t'); vlen--)
			continue;
		dst = (char *)s->hs_resp + http_keeps[i].hk_off;
		if (vlen > HTTP_VALUE_MAX)
			vlen = 0;
		memcpy(dst, v, vlen);
		dst[vlen] = '\0';
	}
	return n;
}

/* curl write callback: appends to the body, refusing past the cap. */
static size_t
http_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct http_sink *s = arg;
	size_t n = size * nmemb;

	if (n > s->hs_max - buf_avail(&s->hs_resp->hr_body)) {
		s->hs_over = 1;
		return 0;	/* curl stops with CURLE_WRITE_ERROR */
	}
	buf_append(&s->hs_resp->hr_body, p, n);
	return n;
}

/*
 * Builds the request headers of <req> into *<out> (NULL when none).
 * Returns 0, or -1 when a value holds a line break (header injection).
 */
static int
http_headers(const struct http_req *req, struct curl_slist **out)
{
	const char *h[][2] = {
		{ "Authorization: Bearer ", req->hq_bearer },
		{ "Authorization: ", req->hq_bearer == NULL ?
		    req->hq_authz : NULL },
		{ "X-Request-Id: ", req->hq_reqid },
		{ "Accept: ", req->hq_accept },
		{ "Content-Type: ", req->hq_ctype },
		{ "Idempotency-Key: ", req->hq_key },
	};
	struct curl_slist *t;
	char *line;
	size_t i;

	*out = NULL;
	for (i = 0; i < NITEMS(h); i++) {
		if (h[i][1] == NULL)
			continue;
		if (strpbrk(h[i][1], "\r\n") != NULL) {
			curl_slist_free_all(*out);
			*out = NULL;
			return -1;
		}
		line = xasprintf("%s%s", h[i][0], h[i][1]);
		if ((t = curl_slist_append(*out, line)) == NULL)
			fatalx("curl_slist_append: out of memory");
		*out = t;
		/* Authorization values are secrets. */
		explicit_bzero(line, strlen(line));
		free(line);
	}
	return 0;
}

/*
 * Sets what every transfer of <hc> shares: limits, protocols, no proxy,
 * TLS. The first failure is returned.
 */
static CURLcode
http_setup_client(struct http_client *hc)
{
	CURL *cu = hc->hc_curl;
	CURLcode rc;

	rc = curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, hc->hc_err);
	if (rc == CURLE_OK)	/* timeouts without SIGALRM */
		rc = curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS,
		    hc->hc_connect_timeout);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, hc->hc_timeout);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_FORBID_REUSE,
		    hc->hc_keepalive ? 0L : 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_MAXFILESIZE_LARGE,
		    (curl_off_t)hc->hc_max);
#if CURL_AT_LEAST_VERSION(7, 85, 0)
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_REDIR_PROTOCOLS_STR,
		    "http,https");
#else
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_PROTOCOLS, HTTP_PROTO_BITS);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_REDIR_PROTOCOLS,
		    HTTP_PROTO_BITS);
#endif
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION,
		    hc->hc_redirects > 0 ? 1L : 0L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_MAXREDIRS, hc->hc_redirects);
	/* Every peer is internal: no proxy, whatever the environment says. */
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_PROXY, "");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_NOPROXY, "*");
	/* The one place for TLS settings. */
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 2L);
	if (rc == CURLE_OK && hc->hc_ca_file != NULL)
		rc = curl_easy_setopt(cu, CURLOPT_CAINFO, hc->hc_ca_file);
	return rc;
}

/* Whether <method> is <m>. */
static int
http_is(const char *method, const char *m)
{
	return strcmp(method, m) == 0;
}

/* Sets the request itself: URL, method, headers, body, sinks. */
static CURLcode
http_setup_req(CURL *cu, const struct http_req *req, struct curl_slist *hdrs,
    struct http_sink *sink)
{
	const char *m = req->hq_method != NULL ? req->hq_method : "GET";
	const char *body = req->hq_body;
	CURLcode rc;

	/* A POST or PUT without a body still sends Content-Length: 0. */
	if (body == NULL && (http_is(m, "POST") || http_is(m, "PUT") ||
	    http_is(m, "PATCH")))
		body = "";
	rc = curl_easy_setopt(cu, CURLOPT_URL, req->hq_url);
	if (rc == CURLE_OK && body != NULL)
		rc = curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->hq_body != NULL ? req->hq_bodylen : 0));
	if (rc == CURLE_OK && body != NULL)
		rc = curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
	if (rc == CURLE_OK && http_is(m, "HEAD"))
		rc = curl_easy_setopt(cu, CURLOPT_NOBODY, 1L);
	else if (rc == CURLE_OK && !http_is(m, body != NULL ? "POST" : "GET"))
		rc = curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, m);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION,
		    http_header_cb);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_HEADERDATA, sink);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, http_write_cb);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_WRITEDATA, sink);
	return rc;
}

/* The class of a failed transfer's <rc>. */
static enum http_err
http_classify(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return HTTP_E_REQUEST;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return HTTP_E_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_E_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTP_E_TOOBIG;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
		return HTTP_E_TLS;
	default:
		return HTTP_E_TRANSFER;
	}
}

/* Records the outcome <rc> of a transfer in <resp>. Returns 0 or -1. */
static int
http_outcome(struct http_client *hc, CURLcode rc, struct http_sink *sink)
{
	struct http_resp *resp = sink->hs_resp;

	if (rc == CURLE_OK && !sink->hs_over)
		return 0;
	resp->hr_err = sink->hs_over ? HTTP_E_TOOBIG : http_classify(rc);
	if (resp->hr_err == HTTP_E_TOOBIG)
		snprintf(resp->hr_why, sizeof(resp->hr_why),
		    "body larger than %zu bytes", hc->hc_max);
	else
		snprintf(resp->hr_why, sizeof(resp->hr_why), "%s",
		    hc->hc_err[0] != '\0' ? hc->hc_err :
		    curl_easy_strerror(rc));
	return -1;
}

/* Fails <resp> with <err> before anything was sent. Returns -1. */
static int
http_refuse(struct http_resp *resp, enum http_err err, const char *why)
{
	resp->hr_err = err;
	snprintf(resp->hr_why, sizeof(resp->hr_why), "%s", why);
	return -1;
}

int
http_do(struct http_client *hc, const struct http_req *req,
    struct http_resp *resp)
{
	struct http_sink sink;
	struct curl_slist *hdrs = NULL;
	CURLcode rc;
	int ret;

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->hr_body);
	if (hc->hc_curl == NULL && (hc->hc_curl = curl_easy_init()) == NULL)
		return http_refuse(resp, HTTP_E_TRANSFER,
		    "cannot create a curl handle");
	if (http_headers(req, &hdrs) == -1)
		return http_refuse(resp, HTTP_E_REQUEST,
		    "a header value holds a line break");
	memset(&sink, 0, sizeof(sink));
	sink.hs_resp = resp;
	sink.hs_max = hc->hc_max;
	hc->hc_err[0] = '\0';
	curl_easy_reset(hc->hc_curl);
	rc = http_setup_client(hc);
	if (rc == CURLE_OK)
		rc = http_setup_req(hc->hc_curl, req, hdrs, &sink);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(hc->hc_curl);
	if (rc == CURLE_OK)
		rc = curl_easy_getinfo(hc->hc_curl, CURLINFO_RESPONSE_CODE,
		    &resp->hr_status);
	if ((ret = http_outcome(hc, rc, &sink)) == -1)
		buf_release(&resp->hr_body);
	curl_easy_reset(hc->hc_curl);
	curl_slist_free_all(hdrs);
	return ret;
}
