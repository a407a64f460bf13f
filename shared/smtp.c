/*
 * smtp: one message to one recipient through libcurl's SMTP client:
 * EHLO, STARTTLS as configured, AUTH when a username is set, MAIL FROM,
 * RCPT TO, DATA (libcurl dot-stuffs the upload). Every transfer is bounded
 * by the connect and total timeouts. The outcome is sorted into sent,
 * temporary (try again) and permanent (the server refused this message).
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "mail.h"
#include "smtp.h"
#include "util.h"

#define SMTP_SECRET_MAX	1024

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct smtp_cfg, field) }

const struct cfg_key smtp_cfg_keys[] = {
	K("url", CFG_T_STR, NULL, 0, 0, sc_url),
	K("tls", CFG_T_STR, "try", 0, 0, sc_tls),
	K("ca-file", CFG_T_PATH, "", 0, 0, sc_ca_file),
	K("username", CFG_T_STR, "", 0, 0, sc_username),
	K("password-file", CFG_T_PATH, "", 0, 0, sc_password_file),
	K("from", CFG_T_STR, NULL, 0, 0, sc_from),
	K("from-name", CFG_T_STR, "", 0, 0, sc_from_name),
	K("message-id-domain", CFG_T_STR, "elp", 0, 0, sc_msgid_domain),
	K("connect-timeout", CFG_T_DURATION, "10s", 1, 600000,
	    sc_connect_timeout),
	K("timeout", CFG_T_DURATION, "60s", 1, 3600000, sc_timeout),
};
const size_t smtp_cfg_nkeys = NITEMS(smtp_cfg_keys);

#undef K

static const char *const smtp_res_names[SMTP_RES_COUNT] = {
	[SMTP_SENT] = "sent",
	[SMTP_TEMP] = "temporary failure",
	[SMTP_PERM] = "permanent failure",
};

/* An upload in progress. */
struct smtp_up {
	const char	*su_p;
	size_t		 su_left;
};

const char *
smtp_res_str(enum smtp_res r)
{
	return (unsigned)r < SMTP_RES_COUNT ? smtp_res_names[r] : "?";
}

/* The CURLOPT_USE_SSL value of <tls>, or -1. */
static long
smtp_tls(const char *tls)
{
	if (strcmp(tls, "none") == 0)
		return CURLUSESSL_NONE;
	if (strcmp(tls, "try") == 0)
		return CURLUSESSL_TRY;
	if (strcmp(tls, "required") == 0)
		return CURLUSESSL_ALL;
	return -1;
}

void
smtp_cfg_check(struct cfg_doc *cd, xmlNodePtr node, const struct smtp_cfg *sc)
{
	char probe[MAIL_ADDR_MAX + 64];

	if (strncmp(sc->sc_url, "smtp://", 7) != 0 &&
	    strncmp(sc->sc_url, "smtps://", 8) != 0)
		cfg_error(cd, node, "smtp url must start with smtp:// or "
		    "smtps://");
	if (smtp_tls(sc->sc_tls) == -1)
		cfg_error(cd, node, "smtp tls must be none, try or required");
	if (!mail_addr_ok(sc->sc_from))
		cfg_error(cd, node, "smtp from \"%s\" is not a usable address",
		    sc->sc_from);
	if (sc->sc_username[0] != '\0' && sc->sc_password_file[0] == '\0')
		cfg_error(cd, node, "smtp username needs password-file");
	snprintf(probe, sizeof(probe), "<x@%s>", sc->sc_msgid_domain);
	if (!mail_msgid_ok(probe) || strchr(sc->sc_msgid_domain, '@'))
		cfg_error(cd, node, "smtp message-id-domain \"%s\" is not "
		    "usable in a Message-ID", sc->sc_msgid_domain);
}

/*
 * Reads the password file into a heap string (caller wipes and frees).
 * NULL, logged, when it is missing, empty or readable by group or others.
 */
static char *
smtp_password(const struct smtp_cfg *sc)
{
	struct stat st;
	char *s = NULL;

	if (stat(sc->sc_password_file, &st) == -1 ||
	    util_read_file(sc->sc_password_file, SMTP_SECRET_MAX, &s, NULL) ==
	    -1) {
		log_warn("smtp: %s", sc->sc_password_file);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		log_warnx("smtp: %s is readable by group or others; refused",
		    sc->sc_password_file);
		free(s);
		return NULL;
	}
	s[strcspn(s, "\r\n")] = '\0';
	return s;
}

/* curl read callback: the next bytes of the message. */
static size_t
smtp_read_cb(char *out, size_t size, size_t nmemb, void *arg)
{
	struct smtp_up *u = arg;
	size_t n = size * nmemb;

	if (n > u->su_left)
		n = u->su_left;
	memcpy(out, u->su_p, n);
	u->su_p += n;
	u->su_left -= n;
	return n;
}

/* Sets every option; the first failure is returned. */
static CURLcode
smtp_setup(CURL *cu, const struct smtp_cfg *sc, struct curl_slist *rcpt,
    struct smtp_up *up, char *from)
{
	CURLcode rc;

	rc = curl_easy_setopt(cu, CURLOPT_URL, sc->sc_url);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_USE_SSL, smtp_tls(sc->sc_tls));
	if (rc == CURLE_OK && sc->sc_ca_file[0] != '\0')
		rc = curl_easy_setopt(cu, CURLOPT_CAINFO, sc->sc_ca_file);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS,
		    (long)sc->sc_connect_timeout);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS,
		    (long)sc->sc_timeout);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_MAIL_FROM, from);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_MAIL_RCPT, rcpt);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_UPLOAD, 1L);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)up->su_left);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_READFUNCTION, smtp_read_cb);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_READDATA, up);
	if (rc == CURLE_OK && sc->sc_username[0] != '\0')
		rc = curl_easy_setopt(cu, CURLOPT_USERNAME, sc->sc_username);
	return rc;
}

/* Sets the password of the configured account. 0, or -1 (logged). */
static int
smtp_auth(CURL *cu, const struct smtp_cfg *sc)
{
	char *pw;
	CURLcode rc;

	if (sc->sc_username[0] == '\0')
		return 0;
	if ((pw = smtp_password(sc)) == NULL)
		return -1;
	/* libcurl copies it. */
	rc = curl_easy_setopt(cu, CURLOPT_PASSWORD, pw);
	explicit_bzero(pw, strlen(pw));
	free(pw);
	return rc == CURLE_OK ? 0 : -1;
}

/*
 * Sorts a finished transfer: <rc> from libcurl, <code> the server's last
 * reply code (0: none). Authentication refusals (530, 534, 535, 538) are
 * the configuration's fault, not the message's: temporary.
 */
static enum smtp_res
smtp_classify(CURLcode rc, long code)
{
	if (rc == CURLE_OK)
		return SMTP_SENT;
	if (rc == CURLE_LOGIN_DENIED || code == 530 || code == 534 ||
	    code == 535 || code == 538)
		return SMTP_TEMP;
	if (code >= 500 && code <= 599)
		return SMTP_PERM;
	return SMTP_TEMP;
}

enum smtp_res
smtp_send(const struct smtp_cfg *sc, const char *rcpt, const struct buf *msg,
    char *why, size_t whylen)
{
	char errbuf[CURL_ERROR_SIZE], *from, *to;
	struct curl_slist *list = NULL;
	struct smtp_up up = { buf_data(msg), buf_avail(msg) };
	enum smtp_res res = SMTP_TEMP;
	CURLcode rc = CURLE_FAILED_INIT;
	long code = 0;
	CURL *cu;

	errbuf[0] = '\0';
	from = xasprintf("<%s>", sc->sc_from);
	to = xasprintf("<%s>", rcpt);
	if ((cu = curl_easy_init()) == NULL ||
	    (list = curl_slist_append(NULL, to)) == NULL)
		goto done;
	rc = curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf);
	if (rc == CURLE_OK)
		rc = smtp_setup(cu, sc, list, &up, from);
	if (rc == CURLE_OK && smtp_auth(cu, sc) == -1)
		rc = CURLE_LOGIN_DENIED;
	else if (rc == CURLE_OK)
		rc = curl_easy_perform(cu);
	if (curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	res = smtp_classify(rc, code);
done:
	if (res != SMTP_SENT)
		snprintf(why, whylen, "smtp %ld: %s", code, errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(rc));
	curl_slist_free_all(list);
	curl_easy_cleanup(cu);
	free(to);
	free(from);
	return res;
}
