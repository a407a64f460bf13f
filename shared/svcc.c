/*
 * svcc: service-to-service JSON calls with a client-credentials token
 * (see svcc.h).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "http.h"
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
	struct http_client *sc_http;	/* token fetches and calls */
	char		*sc_token;	/* NULL: none held */
	uint64_t	 sc_token_until; /* monotonic ms */
	int		 sc_failing;	/* the last call failed, logged */
};

struct svcc *
svcc_new(const struct svcc_def *def)
{
	struct svcc *sc = xcalloc(1, sizeof(*sc));
	struct http_opts ho;

	sc->sc_name = xstrdup(def->sv_name);
	sc->sc_token_url = xstrdup(def->sv_token_url);
	sc->sc_client = xstrdup(def->sv_client);
	sc->sc_secret_file = xstrdup(def->sv_secret_file);
	memset(&ho, 0, sizeof(ho));
	ho.ho_connect_timeout = def->sv_timeout;
	ho.ho_timeout = def->sv_timeout;
	ho.ho_max = def->sv_max;
	ho.ho_ca_file = def->sv_ca_file;
	sc->sc_http = http_new(&ho);
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
	http_free(sc->sc_http);
	if (sc->sc_token != NULL)
		explicit_bzero(sc->sc_token, strlen(sc->sc_token));
	free(sc->sc_token);
	free(sc);
}

/*
 * Performs <rq> into <resp>. Returns 0 with a whole answer (any status),
 * or -1 (logged at debug level; the caller logs the outage) when none
 * came. The caller releases <resp> either way.
 */
static int
svcc_perform(const struct svcc *sc, const struct http_req *rq,
    struct http_resp *resp)
{
	if (http_do(sc->sc_http, rq, resp) == 0)
		return 0;
	log_debug("%s: %s %s: %s", __func__, rq->hq_method, rq->hq_url,
	    resp->hr_why);
	return -1;
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
	char *secret, *es, *ec, *form;

	if ((secret = svcc_secret(sc)) == NULL)
		return NULL;
	ec = http_escape(sc->sc_client);
	es = http_escape(secret);
	form = xasprintf("grant_type=client_credentials&client_id=%s&"
	    "client_secret=%s", ec, es);
	explicit_bzero(es, strlen(es));
	free(es);
	free(ec);
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
	struct http_req rq;
	struct http_resp resp;
	char *form;
	int rc = -1;

	if (sc->sc_token != NULL && util_now_ms() < sc->sc_token_until)
		return 0;
	svcc_token_drop(sc);
	if ((form = svcc_token_form(sc)) == NULL)
		return -1;
	memset(&rq, 0, sizeof(rq));
	rq.hq_method = "POST";
	rq.hq_url = sc->sc_token_url;
	rq.hq_ctype = "application/x-www-form-urlencoded";
	rq.hq_body = form;
	rq.hq_bodylen = strlen(form);
	if (svcc_perform(sc, &rq, &resp) == -1)
		goto done;
	if (resp.hr_status != 200) {
		if (resp.hr_status < 502 || resp.hr_status > 504)
			log_warnx("%s: token endpoint answered %ld for client "
			    "%s", sc->sc_name, resp.hr_status, sc->sc_client);
		goto done;
	}
	if ((rc = svcc_token_keep(sc, &resp.hr_body)) == -1)
		log_warnx("%s: token endpoint answer has no usable token",
		    sc->sc_name);
done:
	explicit_bzero(form, strlen(form));
	free(form);
	http_resp_release(&resp);
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
	struct http_req rq;
	struct http_resp resp;
	char *text = NULL;
	int attempt, status = SVCC_UNAVAILABLE;

	if (out != NULL)
		*out = NULL;
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		fatalx("json_dumps: out of memory");
	memset(&resp, 0, sizeof(resp));
	for (attempt = 0; attempt < 2; attempt++) {
		http_resp_release(&resp);
		if (svcc_token(sc) == -1)
			break;
		memset(&rq, 0, sizeof(rq));
		rq.hq_method = method;
		rq.hq_url = url;
		rq.hq_ctype = text != NULL ? "application/json" : NULL;
		rq.hq_body = text;
		rq.hq_bodylen = text != NULL ? strlen(text) : 0;
		rq.hq_key = key;
		rq.hq_bearer = sc->sc_token;
		if (svcc_perform(sc, &rq, &resp) == -1)
			break;
		status = (int)resp.hr_status;
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
	if (out != NULL && status != SVCC_UNAVAILABLE &&
	    buf_avail(&resp.hr_body))
		*out = json_loadb(buf_data(&resp.hr_body),
		    buf_avail(&resp.hr_body), 0, NULL);
	http_resp_release(&resp);
	free(text);
	return status;
}
