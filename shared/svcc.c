/*
 * svcc: service-to-service JSON calls with a client-credentials token
 * (see svcc.h).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "log.h"
#include "svcc.h"
#include "util.h"

#define SVCC_SECRET_MAX	1024	/* bytes of the secret file */
#define SVCC_TOKEN_SLACK 30000	/* ms: refetch this long before expiry */

struct svcc {
	char		*sc_name;
	char		*sc_token_url;
	char		*sc_client;
	char		*sc_secret_file;
	long		 sc_timeout;	/* ms */
	size_t		 sc_max;	/* response bytes */
	char		*sc_token;	/* NULL: none held */
	uint64_t	 sc_token_until; /* monotonic ms */
	int		 sc_failing;	/* the last call failed, logged */
};

/* One HTTP exchange. */
struct svcc_xfer {
	const char	*x_method;
	const char	*x_url;
	const char	*x_ctype;	/* of x_body; NULL: no body */
	const char	*x_body;
	const char	*x_key;		/* Idempotency-Key or NULL */
	const char	*x_token;	/* bearer token or NULL */
	long		 x_status;	/* out: HTTP status */
	struct buf	 x_resp;	/* out: response body */
	int		 x_over;	/* out: response over sc_max */
	size_t		 x_max;
};

struct svcc *
svcc_new(const struct svcc_def *def)
{
	struct svcc *sc = xcalloc(1, sizeof(*sc));

	sc->sc_name = xstrdup(def->sv_name);
	sc->sc_token_url = xstrdup(def->sv_token_url);
	sc->sc_client = xstrdup(def->sv_client);
	sc->sc_secret_file = xstrdup(def->sv_secret_file);
	sc->sc_timeout = (long)def->sv_timeout;
	sc->sc_max = (size_t)def->sv_max;
	return sc;
}

void
svcc_free(struct svcc *sc)
{
	if (sc == NULL)
		return;
	free(sc->sc_name);
	free(sc->sc_token_url);
	free(sc->sc_client);
	free(sc->sc_secret_file);
	if (sc->sc_token != NULL)
		explicit_bzero(sc->sc_token, strlen(sc->sc_token));
	free(sc->sc_token);
	free(sc);
}

/* curl write callback: appends to the exchange, refusing past x_max. */
static size_t
svcc_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct svcc_xfer *x = arg;
	size_t n = size * nmemb;

	if (n > x->x_max - buf_avail(&x->x_resp)) {
		x->x_over = 1;
		return 0;	/* curl stops with CURLE_WRITE_ERROR */
	}
	buf_append(&x->x_resp, p, n);
	return n;
}

/* Builds the request headers of <x>; NULL when there are none. */
static struct curl_slist *
svcc_headers(const struct svcc_xfer *x)
{
	struct curl_slist *h = NULL, *t;
	char *line[3] = { NULL, NULL, NULL };
	size_t i;

	if (x->x_ctype != NULL)
		line[0] = xasprintf("Content-Type: %s", x->x_ctype);
	if (x->x_key != NULL)
		line[1] = xasprintf("Idempotency-Key: %s", x->x_key);
	if (x->x_token != NULL)
		line[2] = xasprintf("Authorization: Bearer %s", x->x_token);
	for (i = 0; i < NITEMS(line); i++) {
		if (line[i] == NULL)
			continue;
		if ((t = curl_slist_append(h, line[i])) == NULL)
			fatalx("curl_slist_append: out of memory");
		h = t;
		free(line[i]);
		line[i] = NULL;
	}
	return h;
}

/* Sets every option of <x>; the first failure is returned. */
static CURLcode
svcc_setup(CURL *cu, const struct svcc *sc, struct svcc_xfer *x,
    struct curl_slist *hdrs, char *errbuf)
{
	CURLcode rc;

	rc = curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_URL, x->x_url);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);
	if (rc == CURLE_OK)	/* the admin listener is internal */
		rc = curl_easy_setopt(cu, CURLOPT_PROXY, "");
	if (rc == CURLE_OK)	/* timeouts without SIGALRM */
		rc = curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, sc->sc_timeout);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS,
		    sc->sc_timeout);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, x->x_method);
	if (rc == CURLE_OK && x->x_body != NULL)
		rc = curl_easy_setopt(cu, CURLOPT_POSTFIELDS, x->x_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, svcc_write_cb);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_WRITEDATA, x);
	return rc;
}

/*
 * Performs <x>. Returns 0 with x_status and x_resp set, or -1 (logged at
 * debug level; the caller logs the outage) when no complete answer came.
 */
static int
svcc_perform(const struct svcc *sc, struct svcc_xfer *x)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs;
	CURL *cu;
	CURLcode rc;
	int ret = -1;

	errbuf[0] = '\0';
	x->x_max = sc->sc_max;
	if ((cu = curl_easy_init()) == NULL) {
		log_warnx("%s: cannot create a curl handle", sc->sc_name);
		return -1;
	}
	hdrs = svcc_headers(x);
	rc = svcc_setup(cu, sc, x, hdrs, errbuf);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(cu);
	if (rc == CURLE_OK)
		rc = curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE,
		    &x->x_status);
	if (rc == CURLE_OK && !x->x_over)
		ret = 0;
	else
		log_debug("%s: %s %s: %s", __func__, x->x_method, x->x_url,
		    x->x_over ? "response too large" : errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(rc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(cu);
	return ret;
}

/*
 * Reads the client secret into a heap string (caller frees). NULL, logged,
 * when the file is missing, empty, or readable by group or others.
 */
static char *
svcc_secret(const struct svcc *sc)
{
	struct stat st;
	char *s = NULL;

	if (stat(sc->sc_secret_file, &st) == -1 ||
	    util_read_file(sc->sc_secret_file, SVCC_SECRET_MAX, &s, NULL)
	    == -1) {
		log_warn("%s: %s", sc->sc_name, sc->sc_secret_file);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		log_warnx("%s: %s is readable by group or others; refused",
		    sc->sc_name, sc->sc_secret_file);
		free(s);
		return NULL;
	}
	s[strcspn(s, "\r\n")] = '\0';
	if (s[0] == '\0') {
		log_warnx("%s: %s is empty", sc->sc_name, sc->sc_secret_file);
		free(s);
		return NULL;
	}
	return s;
}

/* The form body of a client-credentials request, or NULL. Caller frees. */
static char *
svcc_token_form(const struct svcc *sc)
{
	char *secret, *es = NULL, *ec = NULL, *form = NULL;
	CURL *cu;

	if ((secret = svcc_secret(sc)) == NULL)
		return NULL;
	if ((cu = curl_easy_init()) != NULL) {
		ec = curl_easy_escape(cu, sc->sc_client, 0);
		es = curl_easy_escape(cu, secret, 0);
		if (ec != NULL && es != NULL)
			form = xasprintf("grant_type=client_credentials&"
			    "client_id=%s&client_secret=%s", ec, es);
		curl_free(ec);
		curl_free(es);
		curl_easy_cleanup(cu);
	}
	explicit_bzero(secret, strlen(secret));
	free(secret);
	return form;
}

/* Keeps the access token of a 200 token answer <body>. 0 or -1. */
static int
svcc_token_keep(struct svcc *sc, const struct buf *body)
{
	json_t *j;
	const char *tok;
	json_int_t ttl;
	uint64_t slack;

	j = json_loadb(buf_data(body), buf_avail(body), 0, NULL);
	tok = json_string_value(json_object_get(j, "access_token"));
	ttl = json_integer_value(json_object_get(j, "expires_in"));
	if (tok == NULL || ttl <= 0) {
		json_decref(j);
		return -1;
	}
	free(sc->sc_token);
	sc->sc_token = xstrdup(tok);
	/* Short-lived tokens are renewed at half their life. */
	slack = (uint64_t)ttl * 1000 / 2;
	if (slack > SVCC_TOKEN_SLACK)
		slack = SVCC_TOKEN_SLACK;
	sc->sc_token_until = util_now_ms() + (uint64_t)ttl * 1000 - slack;
	json_decref(j);
	return 0;
}

/* Drops the held token. */
static void
svcc_token_drop(struct svcc *sc)
{
	free(sc->sc_token);
	sc->sc_token = NULL;
	sc->sc_token_until = 0;
}

/*
 * Makes sure a token is held, fetching one when there is none or it is
 * about to expire. Returns 0, or -1 (logged) when none can be had.
 */
static int
svcc_token(struct svcc *sc)
{
	struct svcc_xfer x;
	char *form;
	int rc = -1;

	if (sc->sc_token != NULL && util_now_ms() < sc->sc_token_until)
		return 0;
	svcc_token_drop(sc);
	if ((form = svcc_token_form(sc)) == NULL)
		return -1;
	memset(&x, 0, sizeof(x));
	x.x_method = "POST";
	x.x_url = sc->sc_token_url;
	x.x_ctype = "application/x-www-form-urlencoded";
	x.x_body = form;
	if (svcc_perform(sc, &x) == -1)
		goto done;
	if (x.x_status != 200) {
		if (x.x_status < 502 || x.x_status > 504)
			log_warnx("%s: token endpoint answered %ld for client "
			    "%s", sc->sc_name, x.x_status, sc->sc_client);
		goto done;
	}
	if ((rc = svcc_token_keep(sc, &x.x_resp)) == -1)
		log_warnx("%s: token endpoint answer has no usable token",
		    sc->sc_name);
done:
	explicit_bzero(form, strlen(form));
	free(form);
	buf_release(&x.x_resp);
	return rc;
}

/* Logs the transition into or out of an outage of the peer at <url>. */
static void
svcc_note(struct svcc *sc, const char *url, int failed)
{
	if (failed && !sc->sc_failing)
		log_warnx("%s: unavailable (%s)", sc->sc_name, url);
	else if (!failed && sc->sc_failing)
		log_info("%s: reachable again", sc->sc_name);
	sc->sc_failing = failed;
}

int
svcc_call(struct svcc *sc, const char *method, const char *url,
    json_t *body, const char *key, json_t **out)
{
	struct svcc_xfer x;
	char *text = NULL;
	int attempt, status = SVCC_UNAVAILABLE;

	if (out != NULL)
		*out = NULL;
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		fatalx("json_dumps: out of memory");
	memset(&x, 0, sizeof(x));
	for (attempt = 0; attempt < 2; attempt++) {
		buf_release(&x.x_resp);
		memset(&x, 0, sizeof(x));
		if (svcc_token(sc) == -1)
			break;
		x.x_method = method;
		x.x_url = url;
		x.x_ctype = text != NULL ? "application/json" : NULL;
		x.x_body = text;
		x.x_key = key;
		x.x_token = sc->sc_token;
		if (svcc_perform(sc, &x) == -1)
			break;
		status = (int)x.x_status;
		/* The gateway's own answers when the peer is down. */
		if (status == 502 || status == 503 || status == 504) {
			status = SVCC_UNAVAILABLE;
			break;
		}
		if (status != 401)
			break;
		/* Revoked, or signed with a key since rotated away. */
		svcc_token_drop(sc);
		status = SVCC_UNAVAILABLE;
	}
	svcc_note(sc, url, status == SVCC_UNAVAILABLE);
	if (out != NULL && status != SVCC_UNAVAILABLE && buf_avail(&x.x_resp))
		*out = json_loadb(buf_data(&x.x_resp), buf_avail(&x.x_resp),
		    0, NULL);
	buf_release(&x.x_resp);
	free(text);
	return status;
}
