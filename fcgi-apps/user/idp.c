/*
 * idp: the client of elp-auth's admin API (fcgi-apps/auth/README.md,
 * "Admin API (for the user service)").
 *
 * Calls are plain blocking libcurl transfers, like the JWKS fetch of
 * authz: a FastCGI worker serves one request at a time, and each transfer
 * is bounded by the configured timeout and response size, restricted to
 * http and https, and follows no redirects. The bearer token is a
 * client-credentials token of the configured client, fetched from the
 * realm's token endpoint and kept until shortly before it expires; an
 * admin call answered 401 drops it and is tried once more with a fresh
 * one. The client secret is read from its file at each token fetch (so a
 * new secret needs no restart) and never logged.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "user.h"
#include "util.h"
#include "uuid.h"

#define IDP_SECRET_MAX	1024	/* bytes of the secret file */
#define IDP_TOKEN_SLACK	30000	/* ms: refetch this long before expiry */

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct idp_cfg, field) }

const struct cfg_key idp_cfg_keys[] = {
	K("base-url", CFG_T_STR, NULL, 0, 0, ic_base_url),
	K("realm", CFG_T_STR, "e-learning-platform", 0, 0, ic_realm),
	K("client-id", CFG_T_STR, "elp-user", 0, 0, ic_client_id),
	K("secret-file", CFG_T_STR, NULL, 0, 0, ic_secret_file),
	K("timeout", CFG_T_DURATION, "5s", 1, 600000, ic_timeout),
	K("max-response", CFG_T_SIZE, "1m", 1024, 64 * 1024 * 1024,
	    ic_max_size),
};
const size_t idp_cfg_nkeys = NITEMS(idp_cfg_keys);

#undef K

struct idp {
	char		*ip_admin;	/* base + "/admin/realms/<realm>" */
	char		*ip_token_url;
	char		*ip_client;
	char		*ip_secret_file;
	long		 ip_timeout;	/* ms */
	size_t		 ip_max;	/* response bytes */
	char		*ip_token;	/* NULL: none held */
	uint64_t	 ip_token_until; /* monotonic ms */
	int		 ip_failing;	/* the last call failed, logged */
};

/* One HTTP exchange. */
struct idp_xfer {
	const char	*x_method;
	const char	*x_url;
	const char	*x_ctype;	/* of x_body; NULL: no body */
	const char	*x_body;
	const char	*x_key;		/* Idempotency-Key or NULL */
	const char	*x_token;	/* bearer token or NULL */
	long		 x_status;	/* out: HTTP status */
	struct buf	 x_resp;	/* out: response body */
	int		 x_over;	/* out: response over ip_max */
	size_t		 x_max;
};

void
idp_cfg_release(struct idp_cfg *cfg)
{
	cfg_release_keys(idp_cfg_keys, idp_cfg_nkeys, cfg);
}

struct idp *
idp_new(const struct idp_cfg *cfg)
{
	struct idp *ip;
	size_t n = strlen(cfg->ic_base_url);

	while (n > 0 && cfg->ic_base_url[n - 1] == '/')
		n--;
	ip = xcalloc(1, sizeof(*ip));
	ip->ip_admin = xasprintf("%.*s/admin/realms/%s", (int)n,
	    cfg->ic_base_url, cfg->ic_realm);
	ip->ip_token_url = xasprintf("%.*s/realms/%s/protocol/"
	    "openid-connect/token", (int)n, cfg->ic_base_url, cfg->ic_realm);
	ip->ip_client = xstrdup(cfg->ic_client_id);
	ip->ip_secret_file = xstrdup(cfg->ic_secret_file);
	ip->ip_timeout = (long)cfg->ic_timeout;
	ip->ip_max = (size_t)cfg->ic_max_size;
	return ip;
}

void
idp_free(struct idp *ip)
{
	if (ip == NULL)
		return;
	free(ip->ip_admin);
	free(ip->ip_token_url);
	free(ip->ip_client);
	free(ip->ip_secret_file);
	free(ip->ip_token);
	free(ip);
}

/* curl write callback: appends to the exchange, refusing past x_max. */
static size_t
idp_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct idp_xfer *x = arg;
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
idp_headers(const struct idp_xfer *x)
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
idp_setup(CURL *cu, const struct idp *ip, struct idp_xfer *x,
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
		rc = curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, ip->ip_timeout);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS,
		    ip->ip_timeout);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, x->x_method);
	if (rc == CURLE_OK && x->x_body != NULL)
		rc = curl_easy_setopt(cu, CURLOPT_POSTFIELDS, x->x_body);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, idp_write_cb);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_WRITEDATA, x);
	return rc;
}

/*
 * Performs <x>. Returns 0 with x_status and x_resp set, or -1 (logged at
 * debug level; the caller logs the outage) when no complete answer came.
 */
static int
idp_perform(const struct idp *ip, struct idp_xfer *x)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdrs;
	CURL *cu;
	CURLcode rc;
	int ret = -1;

	errbuf[0] = '\0';
	x->x_max = ip->ip_max;
	if ((cu = curl_easy_init()) == NULL) {
		log_warnx("idp: cannot create a curl handle");
		return -1;
	}
	hdrs = idp_headers(x);
	rc = idp_setup(cu, ip, x, hdrs, errbuf);
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
idp_secret(const struct idp *ip)
{
	struct stat st;
	char *s = NULL;

	if (stat(ip->ip_secret_file, &st) == -1 ||
	    util_read_file(ip->ip_secret_file, IDP_SECRET_MAX, &s, NULL)
	    == -1) {
		log_warn("idp: %s", ip->ip_secret_file);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		log_warnx("idp: %s is readable by group or others; refused",
		    ip->ip_secret_file);
		free(s);
		return NULL;
	}
	s[strcspn(s, "\r\n")] = '\0';
	if (s[0] == '\0') {
		log_warnx("idp: %s is empty", ip->ip_secret_file);
		free(s);
		return NULL;
	}
	return s;
}

/* The form body of a client-credentials request, or NULL. Caller frees. */
static char *
idp_token_form(const struct idp *ip)
{
	char *secret, *es = NULL, *ec = NULL, *form = NULL;
	CURL *cu;

	if ((secret = idp_secret(ip)) == NULL)
		return NULL;
	if ((cu = curl_easy_init()) != NULL) {
		ec = curl_easy_escape(cu, ip->ip_client, 0);
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
idp_token_keep(struct idp *ip, const struct buf *body)
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
	free(ip->ip_token);
	ip->ip_token = xstrdup(tok);
	/* Short-lived tokens are renewed at half their life. */
	slack = (uint64_t)ttl * 1000 / 2;
	if (slack > IDP_TOKEN_SLACK)
		slack = IDP_TOKEN_SLACK;
	ip->ip_token_until = util_now_ms() + (uint64_t)ttl * 1000 - slack;
	json_decref(j);
	return 0;
}

/* Drops the held token. */
static void
idp_token_drop(struct idp *ip)
{
	free(ip->ip_token);
	ip->ip_token = NULL;
	ip->ip_token_until = 0;
}

/*
 * Makes sure a token is held, fetching one when there is none or it is
 * about to expire. Returns 0, or -1 (logged) when none can be had.
 */
static int
idp_token(struct idp *ip)
{
	struct idp_xfer x;
	char *form;
	int rc = -1;

	if (ip->ip_token != NULL && util_now_ms() < ip->ip_token_until)
		return 0;
	idp_token_drop(ip);
	if ((form = idp_token_form(ip)) == NULL)
		return -1;
	memset(&x, 0, sizeof(x));
	x.x_method = "POST";
	x.x_url = ip->ip_token_url;
	x.x_ctype = "application/x-www-form-urlencoded";
	x.x_body = form;
	if (idp_perform(ip, &x) == -1)
		goto done;
	if (x.x_status != 200) {
		if (x.x_status < 502 || x.x_status > 504)
			log_warnx("idp: token endpoint answered %ld for client "
			    "%s", x.x_status, ip->ip_client);
		goto done;
	}
	if ((rc = idp_token_keep(ip, &x.x_resp)) == -1)
		log_warnx("idp: token endpoint answer has no usable token");
done:
	explicit_bzero(form, strlen(form));
	free(form);
	buf_release(&x.x_resp);
	return rc;
}

/* Logs the transition into or out of an outage. */
static void
idp_note(struct idp *ip, int failed)
{
	if (failed && !ip->ip_failing)
		log_warnx("idp: identity provider unavailable at %s",
		    ip->ip_admin);
	else if (!failed && ip->ip_failing)
		log_info("idp: identity provider reachable again");
	ip->ip_failing = failed;
}

/*
 * One admin API call: <method> on <path> (below the realm's admin base)
 * with JSON <body> (NULL: none) and Idempotency-Key <key> (NULL: none).
 * Returns the status, with the parsed answer in *<out> when <out> is not
 * NULL (NULL when the answer is empty or not JSON), or IDP_UNAVAILABLE.
 */
static int
idp_call(struct idp *ip, const char *method, const char *path,
    json_t *body, const char *key, json_t **out)
{
	struct idp_xfer x;
	char *url, *text = NULL;
	int attempt, status = IDP_UNAVAILABLE;

	if (out != NULL)
		*out = NULL;
	url = xasprintf("%s%s", ip->ip_admin, path);
	if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL)
		fatalx("json_dumps: out of memory");
	memset(&x, 0, sizeof(x));
	for (attempt = 0; attempt < 2; attempt++) {
		buf_release(&x.x_resp);
		memset(&x, 0, sizeof(x));
		if (idp_token(ip) == -1)
			break;
		x.x_method = method;
		x.x_url = url;
		x.x_ctype = text != NULL ? "application/json" : NULL;
		x.x_body = text;
		x.x_key = key;
		x.x_token = ip->ip_token;
		if (idp_perform(ip, &x) == -1)
			break;
		status = (int)x.x_status;
		/* The gateway's own answers when elp-auth is down. */
		if (status == 502 || status == 503 || status == 504) {
			status = IDP_UNAVAILABLE;
			break;
		}
		if (status != 401)
			break;
		/* Revoked, or signed with a key since rotated away. */
		idp_token_drop(ip);
		status = IDP_UNAVAILABLE;
	}
	idp_note(ip, status == IDP_UNAVAILABLE);
	if (out != NULL && status != IDP_UNAVAILABLE && buf_avail(&x.x_resp))
		*out = json_loadb(buf_data(&x.x_resp), buf_avail(&x.x_resp),
		    0, NULL);
	buf_release(&x.x_resp);
	free(text);
	free(url);
	return status;
}

/* Copies the errorMessage of <ans> (or a generic text) to <why>. */
static void
idp_why(json_t *ans, int status, char *why, size_t whylen)
{
	const char *m = json_string_value(json_object_get(ans, "errorMessage"));

	if (why == NULL || whylen == 0)
		return;
	if (m != NULL)
		snprintf(why, whylen, "%s", m);
	else
		snprintf(why, whylen, "HTTP %d", status);
}

int
idp_user_create(struct idp *ip, const struct idp_user *u, const char *key,
    char id[UUID_STR_LEN + 1], char *why, size_t whylen)
{
	json_t *body, *ans = NULL;
	const char *s;
	int rc;

	body = json_pack("{s:s, s:s?, s:s?, s:s?, s:s}", "email", u->iu_email,
	    "firstName", u->iu_first, "lastName", u->iu_last, "password",
	    u->iu_password, "role", u->iu_role);
	if (body == NULL)
		fatalx("json_pack: out of memory");
	rc = idp_call(ip, "POST", "/users", body, key, &ans);
	json_decref(body);
	if (rc == 201) {
		s = json_string_value(json_object_get(ans, "id"));
		if (s == NULL || uuid_parse(s, strlen(s), id) == -1) {
			log_warnx("idp: account created without a usable id");
			rc = 502;
		}
	}
	if (rc != 201 && rc != IDP_UNAVAILABLE)
		idp_why(ans, rc, why, whylen);
	json_decref(ans);
	return rc;
}

int
idp_user_delete(struct idp *ip, const char *id)
{
	char *path = xasprintf("/users/%s", id);
	int rc;

	rc = idp_call(ip, "DELETE", path, NULL, NULL, NULL);
	free(path);
	return rc;
}

int
idp_user_password(struct idp *ip, const char *id, const char *pw,
    char *why, size_t whylen)
{
	char *path = xasprintf("/users/%s/reset-password", id);
	json_t *body, *ans = NULL;
	int rc;

	body = json_pack("{s:s, s:b, s:s}", "type", "password", "temporary", 0,
	    "value", pw);
	if (body == NULL)
		fatalx("json_pack: out of memory");
	rc = idp_call(ip, "PUT", path, body, NULL, &ans);
	if (rc != 204 && rc != IDP_UNAVAILABLE)
		idp_why(ans, rc, why, whylen);
	json_decref(body);
	json_decref(ans);
	free(path);
	return rc;
}

int
idp_user_get(struct idp *ip, const char *id, json_t **out)
{
	char *path = xasprintf("/users/%s", id);
	int rc;

	rc = idp_call(ip, "GET", path, NULL, NULL, out);
	if (rc == 200 && !json_is_object(*out))
		rc = 502;
	if (rc != 200) {
		json_decref(*out);
		*out = NULL;
	}
	free(path);
	return rc;
}

int
idp_user_names(struct idp *ip, const char *id, const char *first,
    const char *last)
{
	char *path = xasprintf("/users/%s", id);
	json_t *body;
	int rc;

	/* The admin API keeps a name sent as null; "" clears it. */
	body = json_pack("{s:s, s:s}", "firstName", first != NULL ? first : "",
	    "lastName", last != NULL ? last : "");
	if (body == NULL)
		fatalx("json_pack: out of memory");
	rc = idp_call(ip, "PUT", path, body, NULL, NULL);
	json_decref(body);
	free(path);
	return rc;
}

int
idp_role_ids(struct idp *ip, const char *role, json_t **out)
{
	char *path = xasprintf("/roles/%s/users", role);
	char id[UUID_STR_LEN + 1];
	json_t *ans = NULL, *v;
	const char *s;
	size_t i;
	int rc;

	*out = NULL;
	rc = idp_call(ip, "GET", path, NULL, NULL, &ans);
	free(path);
	if (rc == 200 && !json_is_array(ans))
		rc = 502;
	if (rc == 200) {
		*out = json_array();
		json_array_foreach(ans, i, v) {
			s = json_string_value(json_object_get(v, "id"));
			if (s != NULL && uuid_parse(s, strlen(s), id) == 0)
				json_array_append_new(*out, json_string(id));
		}
	}
	json_decref(ans);
	return rc;
}
