/*
 * access: the media rule (docs/contract/api.md 4.6.2) as the course service
 * answers it (GET <media-access url><fileName>, fcgi-apps/course/media.c), with
 * the caller's Authorization header passed along unchanged.
 *
 * One libelp HTTP client (http.h) per worker keeps its connection to the
 * gateway's admin listener alive. Answers are kept per worker for <media-access
 * cache> in a small direct-mapped table keyed by file and caller, so a
 * video player's many range requests cost one question; a rule change (a
 * lecture added, an enrollment approved) is seen within that time.
 * Failures (unreachable, timeout, an answer that is not the expected
 * JSON) are ACCESS_UNKNOWN and are not cached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "content.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define ACCESS_SLOTS	256
#define ACCESS_MAX_RESP	4096	/* bytes of an answer */

struct access_slot {
	char			 as_name[MEDIA_NAME_MAX + 1];
	char			 as_sub[40];
	enum access_verdict	 as_verdict;
	uint64_t		 as_until;	/* monotonic ms; 0: empty */
};

struct access {
	struct http_client	*a_http;
	char			*a_url;
	uint64_t		 a_ttl;		/* ms */
	int			 a_failing;	/* last call failed, logged */
	struct access_slot	 a_slots[ACCESS_SLOTS];
};

static const char *const access_names[ACCESS_COUNT] = {
	"public", "granted", "token-required", "denied", "unknown",
};

const char *
access_verdict_str(enum access_verdict v)
{
	return v < ACCESS_COUNT ? access_names[v] : "?";
}

struct access *
access_new(const struct content_cfg *cfg)
{
	struct access *a = xcalloc(1, sizeof(*a));
	struct http_opts ho;

	memset(&ho, 0, sizeof(ho));
	ho.ho_connect_timeout = cfg->cc_ma_timeout;
	ho.ho_timeout = cfg->cc_ma_timeout;
	ho.ho_max = ACCESS_MAX_RESP;
	ho.ho_ca_file = cfg->cc_ma_ca_file;
	ho.ho_keepalive = 1;
	a->a_http = http_new(&ho);
	a->a_url = xstrdup(cfg->cc_ma_url);
	a->a_ttl = cfg->cc_ma_cache;
	return a;
}

void
access_free(struct access *a)
{
	if (a == NULL)
		return;
	http_free(a->a_http);
	free(a->a_url);
	free(a);
}

/* FNV-1a of name and caller. */
static size_t
access_slot_of(const char *name, const char *sub)
{
	uint32_t h = 2166136261u;
	const char *p;

	for (p = name; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (p = sub; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % ACCESS_SLOTS;
}

/* Reads {"responseBody":{"access":"..."}}; ACCESS_UNKNOWN if not so. */
static enum access_verdict
access_parse(const struct buf *b)
{
	const char *s = NULL;
	json_t *j;
	size_t i;
	enum access_verdict v = ACCESS_UNKNOWN;

	j = json_loadb(buf_data(b), buf_avail(b), 0, NULL);
	if (j != NULL && json_unpack(j, "{s:{s:s}}", "responseBody",
	    "access", &s) == 0)
		for (i = 0; i < ACCESS_UNKNOWN; i++)
			if (strcmp(s, access_names[i]) == 0)
				v = (enum access_verdict)i;
	json_decref(j);
	return v;
}

/* Logs the transition into or out of a failure to ask the rule. */
static void
access_note(struct access *a, int failed, const char *why)
{
	if (failed && !a->a_failing)
		log_warnx("media rule: %s: %s", a->a_url, why);
	else if (!failed && a->a_failing)
		log_info("media rule: %s answers again", a->a_url);
	a->a_failing = failed;
}

/* Asks the course service. */
static enum access_verdict
access_ask(struct access *a, const char *name, const char *authz)
{
	struct http_req rq;
	struct http_resp resp;
	enum access_verdict v = ACCESS_UNKNOWN;
	const char *why;
	char *url;

	/* The name passed media_name_ok(): nothing to escape. */
	url = xasprintf("%s%s", a->a_url, name);
	memset(&rq, 0, sizeof(rq));
	rq.hq_url = url;
	rq.hq_authz = authz;
	rq.hq_accept = "application/json";
	if (http_do(a->a_http, &rq, &resp) == -1)
		why = resp.hr_why;
	else if (resp.hr_status != 200)
		why = "unexpected status";
	else if ((v = access_parse(&resp.hr_body)) == ACCESS_UNKNOWN)
		why = "unexpected answer";
	else
		why = NULL;
	access_note(a, why != NULL, why);
	http_resp_release(&resp);
	free(url);
	return v;
}

enum access_verdict
access_check(struct access *a, const char *name, const char *authz,
    const char *sub)
{
	struct access_slot *s = &a->a_slots[access_slot_of(name, sub)];
	uint64_t now = util_now_ms();
	enum access_verdict v;

	if (a->a_ttl > 0 && s->as_until > now &&
	    strcmp(s->as_name, name) == 0 && strcmp(s->as_sub, sub) == 0)
		return s->as_verdict;
	v = access_ask(a, name, authz);
	/* A verdict about a token is only reused for a verified caller:
	 * an anonymous or refused caller's token may be different next
	 * time, and "public" does not depend on the caller at all. */
	if (a->a_ttl > 0 && v != ACCESS_UNKNOWN &&
	    (sub[0] != '\0' || v == ACCESS_PUBLIC || v == ACCESS_TOKEN)) {
		snprintf(s->as_name, sizeof(s->as_name), "%s", name);
		snprintf(s->as_sub, sizeof(s->as_sub), "%s", sub);
		s->as_verdict = v;
		s->as_until = now + a->a_ttl;
	}
	return v;
}
