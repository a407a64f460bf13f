/*
 * web: what the provider's handlers share on the HTTP side: form fields,
 * cookies, HTML escaping and pages with the security headers of
 * docs/contract/auth.md section 3, redirects, RFC 6749 error bodies, random
 * secrets, hashes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "app.h"
#include "auth.h"
#include "log.h"
#include "util.h"

#define WEB_CSP	"default-src 'none'; style-src 'unsafe-inline'; " \
	"frame-src 'self'; frame-ancestors 'self'; " \
	"object-src 'none'; base-uri 'none'"

int
web_field(const char *src, const char *name, char *out, size_t len)
{
	if (src == NULL)
		return 0;
	return app_query_get(src, name, out, len);
}

int
web_cookie(struct app_req *req, const char *name, char *out, size_t len)
{
	const char *c = app_param(req, "HTTP_COOKIE"), *p, *end;
	size_t n = strlen(name), vlen;

	for (p = c; p != NULL && *p != '\0'; p = end) {
		while (*p == ' ' || *p == ';')
			p++;
		end = p + strcspn(p, ";");
		if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 &&
		    p[n] == '=') {
			vlen = (size_t)(end - p) - n - 1;
			if (vlen >= len)
				return -1;
			memcpy(out, p + n + 1, vlen);
			out[vlen] = '\0';
			return 1;
		}
	}
	return 0;
}

void
web_html(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			buf_append_str(b, "&lt;");
			break;
		case '>':
			buf_append_str(b, "&gt;");
			break;
		case '&':
			buf_append_str(b, "&amp;");
			break;
		case '"':
			buf_append_str(b, "&quot;");
			break;
		case '\'':
			buf_append_str(b, "&#39;");
			break;
		default:
			buf_append(b, s, 1);
		}
	}
}

void
web_pct(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL)
			buf_append(b, s, 1);
		else
			buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
}

void
web_page_headers(struct app_req *req)
{
	app_header(req, "X-Frame-Options", "SAMEORIGIN");
	app_header(req, "Content-Security-Policy", WEB_CSP);
	app_header(req, "X-Content-Type-Options", "nosniff");
	app_header(req, "X-Robots-Tag", "none");
	app_header(req, "X-XSS-Protection", "1; mode=block");
	app_header(req, "Strict-Transport-Security",
	    "max-age=31536000; includeSubDomains");
	app_header(req, "Referrer-Policy", "no-referrer");
	app_header(req, "Cache-Control", "no-store, must-revalidate, "
	    "max-age=0");
}

void
web_page(struct app_req *req, int status, const char *html, size_t len)
{
	web_page_headers(req);
	app_send_raw(req, status, "text/html; charset=utf-8", html, len);
}

void
web_message(struct app_req *req, int status, const char *title,
    const char *msg)
{
	struct buf b = BUF_INIT;

	buf_append_str(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\"><title>");
	web_html(&b, title);
	buf_append_str(&b, "</title><style>body{font-family:system-ui,"
	    "sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;"
	    "color:#1a1a1a}</style></head><body><main><h1>");
	web_html(&b, title);
	buf_append_str(&b, "</h1><p>");
	web_html(&b, msg);
	buf_append_str(&b, "</p></main></body></html>\n");
	web_page(req, status, buf_data(&b), buf_avail(&b));
	buf_release(&b);
}

void
web_redirect(struct app_req *req, const char *url)
{
	app_header(req, "Location", url);
	app_header(req, "Cache-Control", "no-store");
	app_send_raw(req, 302, "text/plain; charset=utf-8", "", 0);
}

void
web_json_nostore(struct app_req *req, int status, json_t *json)
{
	app_header(req, "Cache-Control", "no-store");
	app_header(req, "Pragma", "no-cache");
	app_send_json(req, status, json);
}

void
web_oauth_error(struct app_req *req, int status, const char *error,
    const char *desc, int basic)
{
	if (status == 401 && basic)
		app_header(req, "WWW-Authenticate",
		    "Basic realm=\"e-learning-platform\"");
	web_json_nostore(req, status, json_pack("{s:s, s:s}", "error", error,
	    "error_description", desc));
}

int
web_random(char out[AUTH_SECRET_LEN + 1])
{
	unsigned char raw[32];
	char *s;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	s = jwt_b64url_encode(raw, sizeof(raw));
	if (s == NULL || strlen(s) != AUTH_SECRET_LEN) {
		free(s);
		return -1;
	}
	memcpy(out, s, AUTH_SECRET_LEN + 1);
	free(s);
	return 0;
}

void
web_sha256_hex(const char *s, size_t len, char out[AUTH_HASH_LEN + 1])
{
	unsigned char md[32];
	unsigned int n = 0;
	size_t i;

	EVP_Digest(s, len, md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[AUTH_HASH_LEN] = '\0';
}

int
web_ct_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return 0;
	return CRYPTO_memcmp(a, b, la) == 0;
}

void
web_set_cookie(struct app_req *req, const struct auth_cfg *cfg,
    const char *name, const char *value, long long max_age)
{
	/* HTTPS=on: the gateway says the request came over TLS (its own,
	 * or a trusted proxy's); never a client header. */
	const char *https = app_param(req, "HTTPS");
	struct buf b = BUF_INIT;

	buf_printf(&b, "%s=%s; Path=/realms/%s/; HttpOnly; SameSite=Lax",
	    name, value, cfg->ac_realm);
	if (max_age >= 0)
		buf_printf(&b, "; Max-Age=%lld", max_age);
	if (https != NULL && strcmp(https, "on") == 0)
		buf_append_str(&b, "; Secure");
	buf_append(&b, "", 1);
	app_header(req, "Set-Cookie", buf_data(&b));
	buf_release(&b);
}

int
web_form_body(struct app_req *req)
{
	const char *ct = app_param(req, "CONTENT_TYPE");

	if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
	    33) != 0) {
		web_oauth_error(req, 400, "invalid_request", "Content-Type "
		    "must be application/x-www-form-urlencoded", 0);
		return -1;
	}
	return app_read_body(req);
}

const char *
web_addr(struct app_req *req)
{
	const char *a = app_param(req, "REMOTE_ADDR");

	return a != NULL ? a : "-";
}
