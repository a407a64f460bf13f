/*
 * jwt: RS256 JSON Web Tokens, JSON Web Key Sets and a bounded cache of
 * verified tokens, on OpenSSL 3 and jansson. Contracts are in jwt.h.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "jwt.h"
#include "log.h"
#include "util.h"

#define JWT_KEYFILE_MAX	65536	/* bytes of a PEM key file */
#define JWT_LEEWAY_MAX	86400	/* seconds; larger leeways are clamped */
#define JWT_SHA256_LEN	32
#define JWT_NIL		SIZE_MAX	/* no entry (cache links) */

static const char jwt_b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char *const jwt_err_names[JWT_E_COUNT] = {
	[JWT_OK] = "Valid access token",
	[JWT_E_MALFORMED] = "Malformed access token",
	[JWT_E_ALG] = "Unsupported token algorithm",
	[JWT_E_KID] = "Unknown token signing key",
	[JWT_E_SIGNATURE] = "Invalid token signature",
	[JWT_E_EXPIRED] = "Access token expired",
	[JWT_E_NOT_YET] = "Access token not yet valid",
	[JWT_E_ISSUER] = "Invalid token issuer",
	[JWT_E_AUDIENCE] = "Invalid token audience",
	[JWT_E_TYPE] = "Invalid token type",
};

/*
 * Drains OpenSSL's error queue into the log at <lvl>, each line prefixed
 * by <what>; logs one line even when the queue is empty.
 */
static void
jwt_ssl_log(enum log_level lvl, const char *what)
{
	char buf[256];
	unsigned long e;
	int n = 0;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_msg(lvl, "%s: %s", what, buf);
		n++;
	}
	if (n == 0)
		log_msg(lvl, "%s failed", what);
}

/* Whether <v> is a JSON string equal to <s> (embedded NULs never match). */
static int
jwt_json_streq(const json_t *v, const char *s)
{
	size_t len = strlen(s);

	return json_is_string(v) && json_string_length(v) == len &&
	    memcmp(json_string_value(v), s, len) == 0;
}

/* --- base64url --- */

char *
jwt_b64url_encode(const void *in, size_t len)
{
	const unsigned char *p = in;
	char *out, *o;
	uint32_t v;
	size_t i;

	out = o = xmalloc(len / 3 * 4 + 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = jwt_b64chars[v >> 18];
		*o++ = jwt_b64chars[v >> 12 & 0x3f];
		*o++ = jwt_b64chars[v >> 6 & 0x3f];
		*o++ = jwt_b64chars[v & 0x3f];
	}
	if (len - i > 0) {
		v = (uint32_t)p[i] << 16;
		if (len - i == 2)
			v |= (uint32_t)p[i + 1] << 8;
		*o++ = jwt_b64chars[v >> 18];
		*o++ = jwt_b64chars[v >> 12 & 0x3f];
		if (len - i == 2)
			*o++ = jwt_b64chars[v >> 6 & 0x3f];
	}
	*o = '\0';
	return out;
}

/* Value of base64url digit <c>, or -1. */
static int
jwt_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

unsigned char *
jwt_b64url_decode(const char *in, size_t len, size_t *outlen)
{
	unsigned char *out;
	uint32_t v = 0;
	size_t i, o = 0;
	int c;

	/* Padding only as a whole group: "QQ==" or "QQE=", never "QQ=". */
	if (len > 0 && len % 4 == 0 && in[len - 1] == '=')
		len -= in[len - 2] == '=' ? 2 : 1;
	if (len % 4 == 1)
		return NULL;
	out = xmalloc(len / 4 * 3 + 2);
	for (i = 0; i < len; i++) {
		if ((c = jwt_b64val((unsigned char)in[i])) == -1)
			goto fail;
		v = v << 6 | (uint32_t)c;
		if (i % 4 == 3) {
			out[o++] = v >> 16 & 0xff;
			out[o++] = v >> 8 & 0xff;
			out[o++] = v & 0xff;
			v = 0;
		}
	}
	/* The unused low bits of a short group must be zero (canonical). */
	if ((len % 4 == 2 && (v & 0xf) != 0) || (len % 4 == 3 && (v & 3) != 0))
		goto fail;
	if (len % 4 == 2)
		out[o++] = v >> 4 & 0xff;
	if (len % 4 == 3) {
		out[o++] = v >> 10 & 0xff;
		out[o++] = v >> 2 & 0xff;
	}
	*outlen = o;
	return out;
fail:
	free(out);
	return NULL;
}

/* --- ASCII-safe JSON --- */

/* Bytes that can make base64 digits 62 and 63 ('-', '_'); see jwt.h. */
static int
jwt_ascii_unsafe(char c)
{
	return c == '>' || c == '?' || c == '~' || c == 0x7f;
}

/*
 * Serialises the object or array <j> compactly as pure ASCII: jansson
 * escapes every non-ASCII character (surrogate pairs above U+FFFF), and
 * '>', '?', '~' and DEL are escaped here. In compact JSON those bytes can
 * only stand for themselves inside a string, so replacing each by its
 * \u escape keeps the document equal. Returns a heap string (caller
 * frees), its length in <lenp>, or NULL.
 */
static char *
jwt_json_ascii(const json_t *j, size_t *lenp)
{
	static const char hex[] = "0123456789ABCDEF";	/* as jansson */
	char *raw, *out;
	size_t i, n = 0, o = 0;

	if ((raw = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII)) == NULL)
		return NULL;
	for (i = 0; raw[i] != '\0'; i++)
		n += jwt_ascii_unsafe(raw[i]);
	out = xmalloc(i + n * 5 + 1);
	for (i = 0; raw[i] != '\0'; i++) {
		if (!jwt_ascii_unsafe(raw[i])) {
			out[o++] = raw[i];
			continue;
		}
		memcpy(out + o, "\\u00", 4);
		out[o + 4] = hex[(unsigned char)raw[i] >> 4];
		out[o + 5] = hex[raw[i] & 0xf];
		o += 6;
	}
	out[o] = '\0';
	*lenp = o;
	free(raw);
	return out;
}

/* --- RSA key material --- */

/*
 * Stores the base64url big-endian bytes of the BIGNUM parameter <name>
 * (n or e) of <pkey> in <out> (heap, caller frees). 0 or -1.
 */
static int
jwt_pkey_b64param(const EVP_PKEY *pkey, const char *name, char **out)
{
	BIGNUM *bn = NULL;
	unsigned char *bin = NULL;
	int n, rc = -1;

	if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
		jwt_ssl_log(LOG_LVL_WARN, "EVP_PKEY_get_bn_param");
		goto done;
	}
	n = BN_num_bytes(bn);
	bin = xmalloc((size_t)n);
	BN_bn2bin(bn, bin);
	*out = jwt_b64url_encode(bin, (size_t)n);
	rc = 0;
done:
	free(bin);
	BN_free(bn);
	return rc;
}

/* Stores base64url n and e of <pkey> in <n> and <e> (heap). 0 or -1. */
static int
jwt_pkey_ne(const EVP_PKEY *pkey, char **n, char **e)
{
	*n = *e = NULL;
	if (jwt_pkey_b64param(pkey, OSSL_PKEY_PARAM_RSA_N, n) == -1 ||
	    jwt_pkey_b64param(pkey, OSSL_PKEY_PARAM_RSA_E, e) == -1) {
		free(*n);
		*n = NULL;
		return -1;
	}
	return 0;
}

/* Whether <pkey> is a plain RSA key of a size we sign and verify with. */
static int
jwt_pkey_usable(const EVP_PKEY *pkey)
{
	int bits;

	if (!EVP_PKEY_is_a(pkey, "RSA"))
		return 0;
	bits = EVP_PKEY_get_bits(pkey);
	return bits >= JWT_RSA_MIN_BITS && bits <= JWT_RSA_MAX_BITS;
}

/*
 * Sets <key>'s kid to the RFC 7638 thumbprint of its public key: SHA-256
 * of {"e":..,"kty":"RSA","n":..} (required members, sorted, no
 * whitespace), base64url. 0 or -1.
 */
static int
jwt_key_thumbprint(struct jwt_key *key)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char *n, *e, *doc = NULL, *t = NULL;
	int rc = -1;

	if (jwt_pkey_ne(key->jk_pkey, &n, &e) == -1)
		return -1;
	doc = xasprintf("{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
	if (EVP_Digest(doc, strlen(doc), md, &mdlen, EVP_sha256(), NULL) != 1) {
		jwt_ssl_log(LOG_LVL_WARN, "thumbprint digest");
		goto done;
	}
	t = jwt_b64url_encode(md, mdlen);
	snprintf(key->jk_kid, sizeof(key->jk_kid), "%s", t);
	rc = 0;
done:
	free(t);
	free(doc);
	free(e);
	free(n);
	return rc;
}

/* Builds an RSA public key from modulus <n> and exponent <e>, or NULL. */
static EVP_PKEY *
jwt_rsa_public(const BIGNUM *n, const BIGNUM *e)
{
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		jwt_ssl_log(LOG_LVL_WARN, "RSA public key from n and e");
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* A new public-only copy of the RSA key <src>, or NULL. */
static EVP_PKEY *
jwt_pkey_public_copy(const EVP_PKEY *src)
{
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *pkey = NULL;

	if (EVP_PKEY_get_bn_param(src, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(src, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
		jwt_ssl_log(LOG_LVL_WARN, "EVP_PKEY_get_bn_param");
	else
		pkey = jwt_rsa_public(n, e);
	BN_free(e);
	BN_free(n);
	return pkey;
}

/* --- keys --- */

int
jwt_key_generate(struct jwt_key *key, int bits)
{
	memset(key, 0, sizeof(*key));
	if (bits < JWT_RSA_MIN_BITS || bits > JWT_RSA_MAX_BITS) {
		log_warnx("%s: %d bits is outside %d to %d", __func__, bits,
		    JWT_RSA_MIN_BITS, JWT_RSA_MAX_BITS);
		return -1;
	}
	key->jk_pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (key->jk_pkey == NULL) {
		jwt_ssl_log(LOG_LVL_WARN, "RSA key generation");
		return -1;
	}
	if (jwt_key_thumbprint(key) == -1) {
		jwt_key_release(key);
		return -1;
	}
	key->jk_created = (int64_t)time(NULL);
	return 0;
}

/* Refuses to take a passphrase: a key file must not need one. */
static int
jwt_pem_nopass(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* Whether the key file <path> with status <st> may be read. 0 or -1. */
static int
jwt_keyfile_check(const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode)) {
		log_error("%s: key file is not a regular file", path);
		return -1;
	}
	if ((st->st_mode & 077) != 0) {
		log_error("%s: key file mode %04o lets group or others access "
		    "it; refusing it (chmod 600)", path,
		    (unsigned int)(st->st_mode & 07777));
		return -1;
	}
	if (st->st_size > JWT_KEYFILE_MAX) {
		log_error("%s: key file larger than %d bytes", path,
		    JWT_KEYFILE_MAX);
		return -1;
	}
	return 0;
}

/*
 * Opens the key file <path> for reading once jwt_keyfile_check() passed
 * on its status (stored in <st>). Returns the stream (caller fcloses) or
 * NULL, logged.
 */
static FILE *
jwt_keyfile_open(const char *path, struct stat *st)
{
	FILE *fp;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s: open", path);
		return NULL;
	}
	/* fstat, not stat: the checked file is the one read. */
	fp = NULL;
	if (fstat(fd, st) == -1)
		log_warn("%s: fstat", path);
	else if (jwt_keyfile_check(path, st) == 0 &&
	    (fp = fdopen(fd, "r")) == NULL)
		log_warn("%s: fdopen", path);
	if (fp == NULL)
		close(fd);
	return fp;
}

int
jwt_key_load(struct jwt_key *key, const char *path)
{
	struct stat st;
	EVP_PKEY *pkey = NULL;
	FILE *fp;
	int rc = -1;

	memset(key, 0, sizeof(*key));
	if ((fp = jwt_keyfile_open(path, &st)) == NULL)
		return -1;
	if ((pkey = PEM_read_PrivateKey(fp, NULL, jwt_pem_nopass, NULL)) ==
	    NULL) {
		jwt_ssl_log(LOG_LVL_ERROR, path);
		goto done;
	}
	if (!jwt_pkey_usable(pkey)) {
		log_error("%s: not an RSA key of %d to %d bits", path,
		    JWT_RSA_MIN_BITS, JWT_RSA_MAX_BITS);
		goto done;
	}
	key->jk_pkey = pkey;
	pkey = NULL;
	if (jwt_key_thumbprint(key) == -1) {
		jwt_key_release(key);
		goto done;
	}
	key->jk_created = (int64_t)st.st_mtime;
	rc = 0;
done:
	EVP_PKEY_free(pkey);
	fclose(fp);
	return rc;
}

int
jwt_key_save(const struct jwt_key *key, const char *path)
{
	char *tmp;
	FILE *fp = NULL;
	int fd, rc = -1;

	tmp = xasprintf("%s.XXXXXX", path);
	if (key->jk_pkey == NULL || (fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		log_warn("%s: cannot create a temporary file", path);
		free(tmp);
		return -1;
	}
	if (fchmod(fd, 0600) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		log_warn("%s", tmp);
		close(fd);
		goto done;
	}
	if (PEM_write_PrivateKey(fp, key->jk_pkey, NULL, NULL, 0, NULL,
	    NULL) != 1) {
		jwt_ssl_log(LOG_LVL_ERROR, tmp);
		goto done;
	}
	if (fflush(fp) == EOF || fsync(fd) == -1) {
		log_warn("%s: write", tmp);
		goto done;
	}
	if (rename(tmp, path) == -1) {
		log_warn("%s: rename", path);
		goto done;
	}
	rc = 0;
done:
	if (fp != NULL && fclose(fp) == EOF && rc == 0) {
		/* Already renamed and fsynced; a close error loses nothing. */
		log_warn("%s: close", path);
	}
	if (rc == -1)
		unlink(tmp);
	free(tmp);
	return rc;
}

json_t *
jwt_key_jwk(const struct jwt_key *key)
{
	char *n = NULL, *e = NULL;
	json_t *jwk = NULL;

	if (key->jk_pkey != NULL && jwt_pkey_ne(key->jk_pkey, &n, &e) == 0)
		jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA",
		    "kid", key->jk_kid, "use", "sig", "alg", "RS256", "n", n,
		    "e", e);
	free(e);
	free(n);
	return jwk;
}

void
jwt_key_release(struct jwt_key *key)
{
	EVP_PKEY_free(key->jk_pkey);
	memset(key, 0, sizeof(*key));
}

/* --- key sets --- */

/* Whether member <name> of <jwk> is the string <want>, or absent when
 * <optional>. */
static int
jwt_jwk_member_is(const json_t *jwk, const char *name, const char *want,
    int optional)
{
	const json_t *v = json_object_get(jwk, name);

	return (v == NULL && optional) || jwt_json_streq(v, want);
}

/* Whether <kid> is a usable key id: a string of 1 to JWT_KID_MAX bytes. */
static int
jwt_kid_ok(const json_t *kid)
{
	return json_is_string(kid) && json_string_length(kid) > 0 &&
	    json_string_length(kid) <= JWT_KID_MAX;
}

/* Decodes the base64url member <name> of <jwk> (at most <max> bytes) into
 * a new BIGNUM, or NULL. */
static BIGNUM *
jwt_jwk_bn(const json_t *jwk, const char *name, size_t max)
{
	const json_t *v = json_object_get(jwk, name);
	unsigned char *bin;
	BIGNUM *bn = NULL;
	size_t len;

	if (!json_is_string(v))
		return NULL;
	bin = jwt_b64url_decode(json_string_value(v), json_string_length(v),
	    &len);
	if (bin == NULL)
		return NULL;
	if (len > 0 && len <= max)
		bn = BN_bin2bn(bin, (int)len, NULL);
	free(bin);
	return bn;
}

/*
 * Fills <key> with the public RSA signature key that <jwk> describes.
 * Returns 0, or -1 (<key> zeroed) when the JWK is not one we can use.
 */
static int
jwt_key_from_jwk(const json_t *jwk, struct jwt_key *key)
{
	const json_t *kid = json_object_get(jwk, "kid");
	BIGNUM *n = NULL, *e = NULL;
	int rc = -1;

	memset(key, 0, sizeof(*key));
	if (!jwt_jwk_member_is(jwk, "kty", "RSA", 0) ||
	    !jwt_jwk_member_is(jwk, "use", "sig", 1) ||
	    !jwt_jwk_member_is(jwk, "alg", "RS256", 1) ||
	    (kid != NULL && !jwt_kid_ok(kid)))
		goto done;
	if ((n = jwt_jwk_bn(jwk, "n", JWT_RSA_MAX_BITS / 8 + 1)) == NULL ||
	    (e = jwt_jwk_bn(jwk, "e", 8)) == NULL ||
	    (key->jk_pkey = jwt_rsa_public(n, e)) == NULL ||
	    !jwt_pkey_usable(key->jk_pkey))
		goto done;
	if (kid != NULL)
		memcpy(key->jk_kid, json_string_value(kid),
		    json_string_length(kid));
	else if (jwt_key_thumbprint(key) == -1)
		goto done;
	rc = 0;
done:
	if (rc == -1)
		jwt_key_release(key);
	BN_free(e);
	BN_free(n);
	return rc;
}

int
jwt_keyset_parse(struct jwt_keyset *set, const char *json, size_t len)
{
	struct jwt_keyset tmp = { NULL, 0 };
	struct jwt_key *k;
	json_error_t jerr;
	json_t *doc, *keys, *jwk;
	size_t i;

	if ((doc = json_loadb(json, len, 0, &jerr)) == NULL ||
	    !json_is_array(keys = json_object_get(doc, "keys"))) {
		log_warnx("%s: not a JWKS document: %s", __func__,
		    doc == NULL ? jerr.text : "no \"keys\" array");
		json_decref(doc);
		return -1;
	}
	tmp.js_keys = xcalloc(JWT_KEYSET_MAX, sizeof(*tmp.js_keys));
	json_array_foreach(keys, i, jwk) {
		if (tmp.js_n == JWT_KEYSET_MAX) {
			log_warnx("%s: keys after the first %d ignored",
			    __func__, JWT_KEYSET_MAX);
			break;
		}
		k = &tmp.js_keys[tmp.js_n];
		if (jwt_key_from_jwk(jwk, k) == -1)
			log_debug("%s: JWKS key %zu skipped (unusable)",
			    __func__, i);
		else if (jwt_keyset_find(&tmp, k->jk_kid,
		    strlen(k->jk_kid)) != NULL)
			jwt_key_release(k);
		else
			tmp.js_n++;
	}
	json_decref(doc);
	jwt_keyset_release(set);
	*set = tmp;
	return (int)set->js_n;
}

int
jwt_keyset_add(struct jwt_keyset *set, const struct jwt_key *key)
{
	EVP_PKEY *pub;
	struct jwt_key *k;

	if (key->jk_pkey == NULL)
		return -1;
	if (jwt_keyset_find(set, key->jk_kid, strlen(key->jk_kid)) != NULL)
		return 0;
	if ((pub = jwt_pkey_public_copy(key->jk_pkey)) == NULL)
		return -1;
	set->js_keys = xrealloc(set->js_keys,
	    (set->js_n + 1) * sizeof(*set->js_keys));
	k = &set->js_keys[set->js_n++];
	memcpy(k->jk_kid, key->jk_kid, sizeof(k->jk_kid));
	k->jk_pkey = pub;
	k->jk_created = key->jk_created;
	return 0;
}

int
jwt_keyset_covers(const struct jwt_keyset *new, const struct jwt_keyset *old)
{
	const struct jwt_key *k;
	size_t i;

	for (i = 0; i < old->js_n; i++) {
		k = jwt_keyset_find(new, old->js_keys[i].jk_kid,
		    strlen(old->js_keys[i].jk_kid));
		if (k == NULL ||
		    EVP_PKEY_eq(k->jk_pkey, old->js_keys[i].jk_pkey) != 1)
			return 0;
	}
	return 1;
}

const struct jwt_key *
jwt_keyset_find(const struct jwt_keyset *set, const char *kid, size_t len)
{
	size_t i;

	if (len > JWT_KID_MAX)
		return NULL;
	for (i = 0; i < set->js_n; i++)
		if (strlen(set->js_keys[i].jk_kid) == len &&
		    memcmp(set->js_keys[i].jk_kid, kid, len) == 0)
			return &set->js_keys[i];
	return NULL;
}

void
jwt_keyset_release(struct jwt_keyset *set)
{
	size_t i;

	for (i = 0; i < set->js_n; i++)
		jwt_key_release(&set->js_keys[i]);
	free(set->js_keys);
	set->js_keys = NULL;
	set->js_n = 0;
}

/* --- signing --- */

/*
 * Signs <len> bytes at <data> with <pkey> (RSASSA-PKCS1-v1_5 over
 * SHA-256). Returns a heap signature, its length in <siglen>, or NULL.
 */
static unsigned char *
jwt_rs256_sign(EVP_PKEY *pkey, const char *data, size_t len, size_t *siglen)
{
	const unsigned char *d = (const unsigned char *)data;
	EVP_MD_CTX *md;
	unsigned char *sig = NULL;

	if ((md = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	    EVP_DigestSign(md, NULL, siglen, d, len) == 1) {
		sig = xmalloc(*siglen);
		if (EVP_DigestSign(md, sig, siglen, d, len) != 1) {
			free(sig);
			sig = NULL;
		}
	}
	if (sig == NULL)
		jwt_ssl_log(LOG_LVL_WARN, "RS256 sign");
	EVP_MD_CTX_free(md);
	return sig;
}

char *
jwt_sign(const struct jwt_key *key, const json_t *claims)
{
	json_t *hdr = NULL;
	char *h = NULL, *p = NULL, *hb = NULL, *pb = NULL, *in = NULL;
	char *sb = NULL, *tok = NULL;
	unsigned char *sig = NULL;
	size_t hlen, plen, siglen;

	if (key->jk_pkey == NULL || !json_is_object(claims) ||
	    (hdr = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT",
	    "kid", key->jk_kid)) == NULL ||
	    (h = jwt_json_ascii(hdr, &hlen)) == NULL ||
	    (p = jwt_json_ascii(claims, &plen)) == NULL)
		goto done;
	hb = jwt_b64url_encode(h, hlen);
	pb = jwt_b64url_encode(p, plen);
	in = xasprintf("%s.%s", hb, pb);
	if ((sig = jwt_rs256_sign(key->jk_pkey, in, strlen(in), &siglen)) ==
	    NULL)
		goto done;
	sb = jwt_b64url_encode(sig, siglen);
	tok = xasprintf("%s.%s", in, sb);
	if (strlen(tok) > JWT_MAX_LEN) {
		log_warnx("%s: token longer than %d bytes", __func__,
		    JWT_MAX_LEN);
		free(tok);
		tok = NULL;
	}
done:
	free(sb);
	free(sig);
	free(in);
	free(pb);
	free(hb);
	free(p);
	free(h);
	json_decref(hdr);
	return tok;
}

/* --- verification --- */

/* A compact token cut at its dots: views into the caller's bytes. */
struct jwt_parts {
	const char	*jp_seg[3];	/* header, payload, signature */
	size_t		 jp_len[3];
};

/* Cuts <tok> into exactly three segments. 0, or -1 for another count. */
static int
jwt_split(const char *tok, size_t len, struct jwt_parts *jp)
{
	const char *p = tok, *end = tok + len, *dot;
	int i;

	for (i = 0; i < 2; i++) {
		if ((dot = memchr(p, '.', (size_t)(end - p))) == NULL)
			return -1;
		jp->jp_seg[i] = p;
		jp->jp_len[i] = (size_t)(dot - p);
		p = dot + 1;
	}
	if (memchr(p, '.', (size_t)(end - p)) != NULL)
		return -1;
	jp->jp_seg[2] = p;
	jp->jp_len[2] = (size_t)(end - p);
	return 0;
}

/* Decodes base64url <s> of <len> bytes as a JSON object (new reference),
 * or NULL. Duplicate member names are refused. */
static json_t *
jwt_seg_json(const char *s, size_t len)
{
	unsigned char *raw;
	size_t rawlen;
	json_t *j;

	if ((raw = jwt_b64url_decode(s, len, &rawlen)) == NULL)
		return NULL;
	j = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/*
 * Checks the header of <jp>: RS256, no "crit", and a kid found in <set>
 * (or none when <set> holds a single key). On JWT_OK the key is in
 * <keyp> (borrowed from <set>).
 */
static enum jwt_err
jwt_check_header(const struct jwt_keyset *set, const struct jwt_parts *jp,
    const struct jwt_key **keyp)
{
	const json_t *kid;
	json_t *hdr;
	enum jwt_err err = JWT_E_ALG;

	if ((hdr = jwt_seg_json(jp->jp_seg[0], jp->jp_len[0])) == NULL)
		return JWT_E_MALFORMED;
	if (!jwt_json_streq(json_object_get(hdr, "alg"), "RS256"))
		goto done;
	/* We understand no extension, so any "crit" refuses (RFC 7515). */
	err = JWT_E_MALFORMED;
	kid = json_object_get(hdr, "kid");
	if (json_object_get(hdr, "crit") != NULL ||
	    (kid != NULL && !json_is_string(kid)))
		goto done;
	err = JWT_E_KID;
	if (kid != NULL)
		*keyp = jwt_keyset_find(set, json_string_value(kid),
		    json_string_length(kid));
	else
		*keyp = set->js_n == 1 ? &set->js_keys[0] : NULL;
	if (*keyp != NULL)
		err = JWT_OK;
done:
	json_decref(hdr);
	return err;
}

/* Verifies the signature of <jp> over "header.payload" with <key>. */
static enum jwt_err
jwt_check_sig(const struct jwt_key *key, const struct jwt_parts *jp)
{
	const unsigned char *in = (const unsigned char *)jp->jp_seg[0];
	EVP_MD_CTX *md = NULL;
	unsigned char *sig;
	size_t siglen;
	enum jwt_err err = JWT_E_SIGNATURE;

	if ((sig = jwt_b64url_decode(jp->jp_seg[2], jp->jp_len[2],
	    &siglen)) == NULL)
		return JWT_E_MALFORMED;
	if (siglen != (size_t)EVP_PKEY_get_size(key->jk_pkey))
		goto done;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
	    key->jk_pkey) != 1) {
		jwt_ssl_log(LOG_LVL_WARN, "RS256 verify setup");
		goto done;
	}
	/* The signing input is the first two segments as sent, dot included. */
	if (EVP_DigestVerify(md, sig, siglen, in,
	    jp->jp_len[0] + 1 + jp->jp_len[1]) == 1)
		err = JWT_OK;
	else
		jwt_ssl_log(LOG_LVL_DEBUG, "RS256 verify");
done:
	EVP_MD_CTX_free(md);
	free(sig);
	return err;
}

/*
 * Reads the time claim <name> of <c> into <out>. Returns 1 when present,
 * 0 when absent, -1 when not a number. Reals are truncated and saturate
 * at the int64_t range, so a huge value never overflows.
 */
static int
jwt_claim_time(const json_t *c, const char *name, int64_t *out)
{
	const json_t *v;
	double d;

	if ((v = json_object_get(c, name)) == NULL)
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 1;
	}
	if (!json_is_real(v))
		return -1;
	d = json_real_value(v);
	if (d >= 9.2e18)
		*out = INT64_MAX;
	else if (d <= -9.2e18)
		*out = INT64_MIN;
	else
		*out = (int64_t)d;
	return 1;
}

/* Whether <aud> (string or array of strings) names <want>. */
static int
jwt_aud_has(const json_t *aud, const char *want)
{
	const json_t *v;
	size_t i;

	if (json_is_string(aud))
		return jwt_json_streq(aud, want);
	json_array_foreach(aud, i, v)
		if (jwt_json_streq(v, want))
			return 1;
	return 0;
}

/* Checks the time claims of <c> at <now> with <leeway>. */
static enum jwt_err
jwt_check_times(const json_t *c, int64_t now, int64_t leeway)
{
	int64_t t;
	int rc;

	if (jwt_claim_time(c, "exp", &t) != 1)
		return JWT_E_MALFORMED;
	if (t <= now - leeway)
		return JWT_E_EXPIRED;
	if ((rc = jwt_claim_time(c, "nbf", &t)) == -1)
		return JWT_E_MALFORMED;
	if (rc == 1 && t > now + leeway)
		return JWT_E_NOT_YET;
	if ((rc = jwt_claim_time(c, "iat", &t)) == -1)
		return JWT_E_MALFORMED;
	if (rc == 1 && t > now + leeway)
		return JWT_E_NOT_YET;
	return JWT_OK;
}

/* Checks the verified claims <c> against <exp>. */
static enum jwt_err
jwt_check_claims(const json_t *c, const struct jwt_expect *exp)
{
	int64_t now, leeway;
	enum jwt_err err;

	now = exp->je_now != 0 ? exp->je_now : (int64_t)time(NULL);
	leeway = exp->je_leeway < 0 ? 0 : exp->je_leeway;
	if (leeway > JWT_LEEWAY_MAX)
		leeway = JWT_LEEWAY_MAX;
	if ((err = jwt_check_times(c, now, leeway)) != JWT_OK)
		return err;
	if (exp->je_iss != NULL &&
	    !jwt_json_streq(json_object_get(c, "iss"), exp->je_iss))
		return JWT_E_ISSUER;
	if (exp->je_aud != NULL &&
	    !jwt_aud_has(json_object_get(c, "aud"), exp->je_aud))
		return JWT_E_AUDIENCE;
	if (exp->je_typ != NULL &&
	    !jwt_json_streq(json_object_get(c, "typ"), exp->je_typ))
		return JWT_E_TYPE;
	return JWT_OK;
}

enum jwt_err
jwt_verify(const struct jwt_keyset *set, const char *tok, size_t len,
    const struct jwt_expect *exp, json_t **claims)
{
	const struct jwt_key *key = NULL;
	struct jwt_parts jp;
	json_t *payload;
	enum jwt_err err;

	if (tok == NULL || len == 0 || len > JWT_MAX_LEN ||
	    jwt_split(tok, len, &jp) == -1)
		return JWT_E_MALFORMED;
	if ((err = jwt_check_header(set, &jp, &key)) != JWT_OK ||
	    (err = jwt_check_sig(key, &jp)) != JWT_OK)
		return err;
	/* Only now is the payload parsed: it comes from the key's owner. */
	if ((payload = jwt_seg_json(jp.jp_seg[1], jp.jp_len[1])) == NULL)
		return JWT_E_MALFORMED;
	if ((err = jwt_check_claims(payload, exp)) == JWT_OK && claims != NULL)
		*claims = json_incref(payload);
	json_decref(payload);
	return err;
}

const char *
jwt_err_str(enum jwt_err err)
{
	if ((unsigned int)err >= JWT_E_COUNT)
		return "Invalid access token";
	return jwt_err_names[err];
}

int
jwt_has_role(const json_t *claims, const char *role)
{
	const json_t *roles, *v;
	size_t i;

	roles = json_object_get(json_object_get(claims, "realm_access"),
	    "roles");
	json_array_foreach(roles, i, v)
		if (jwt_json_streq(v, role))
			return 1;
	return 0;
}

/* --- cache of verified tokens --- */

/*
 * Entries live in one array of c_alloc slots, grown by doubling up to
 * c_cap as tokens arrive, so an idle worker holds a few slots rather than
 * the whole configured capacity (10,000 slots and their buckets are about
 * 900 KiB a process). A used slot is on its hash bucket's chain
 * (ce_hnext) and on the insertion-order list (ce_older, ce_newer); a free
 * slot is on the free list through ce_hnext.
 */
struct jwt_centry {
	unsigned char	 ce_md[JWT_SHA256_LEN];	/* SHA-256 of the token */
	size_t		 ce_len;	/* token length */
	json_t		*ce_claims;	/* one reference */
	int64_t		 ce_expires;	/* epoch seconds */
	size_t		 ce_hnext;	/* bucket chain or free list */
	size_t		 ce_older;
	size_t		 ce_newer;
};

struct jwt_cache {
	struct jwt_centry	*c_ent;		/* c_alloc slots */
	size_t			*c_bucket;	/* c_nbucket chain heads */
	size_t			 c_cap;		/* most slots ever held */
	size_t			 c_alloc;	/* slots held now */
	size_t			 c_nbucket;	/* power of two >= c_alloc */
	size_t			 c_n;		/* slots in use */
	size_t			 c_free;	/* free list head */
	size_t			 c_oldest;
	size_t			 c_newest;
	int64_t			 c_now;		/* latest now given to get */
	int64_t			 c_swept;	/* c_now at the last sweep */
	EVP_MD			*c_md;		/* SHA-256, fetched once */
};

#define JWT_CACHE_MIN	16	/* slots of the first allocation */

struct jwt_cache *
jwt_cache_new(size_t cap)
{
	struct jwt_cache *c;

	c = xcalloc(1, sizeof(*c));
	c->c_cap = cap;
	c->c_free = c->c_oldest = c->c_newest = JWT_NIL;
	c->c_now = c->c_swept = INT64_MIN;
	if ((c->c_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		jwt_ssl_log(LOG_LVL_WARN, "EVP_MD_fetch SHA256");
	return c;
}

/* Digests <tok> into <md>. 0 or -1. */
static int
jwt_cache_digest(const struct jwt_cache *c, const char *tok, size_t len,
    unsigned char md[JWT_SHA256_LEN])
{
	if (EVP_Digest(tok, len, md, NULL,
	    c->c_md != NULL ? c->c_md : EVP_sha256(), NULL) != 1) {
		jwt_ssl_log(LOG_LVL_WARN, "token digest");
		return -1;
	}
	return 0;
}

/* The bucket of digest <md>: its first bytes are already uniform. */
static size_t *
jwt_cache_bucket(const struct jwt_cache *c, const unsigned char *md)
{
	size_t h;

	memcpy(&h, md, sizeof(h));
	return &c->c_bucket[h & (c->c_nbucket - 1)];
}

/* The slot holding digest <md> of a <len>-byte token, or JWT_NIL. */
static size_t
jwt_cache_find(const struct jwt_cache *c, const unsigned char *md,
    size_t len)
{
	size_t i;

	if (c->c_n == 0)
		return JWT_NIL;
	for (i = *jwt_cache_bucket(c, md); i != JWT_NIL;
	    i = c->c_ent[i].ce_hnext)
		if (c->c_ent[i].ce_len == len &&
		    memcmp(c->c_ent[i].ce_md, md, JWT_SHA256_LEN) == 0)
			return i;
	return JWT_NIL;
}

/* Unlinks slot <i> from its chain and the order list, drops its claims
 * and puts it on the free list. */
static void
jwt_cache_drop(struct jwt_cache *c, size_t i)
{
	struct jwt_centry *e = &c->c_ent[i];
	size_t *pp;

	for (pp = jwt_cache_bucket(c, e->ce_md); *pp != i;
	    pp = &c->c_ent[*pp].ce_hnext)
		;
	*pp = e->ce_hnext;
	if (e->ce_older != JWT_NIL)
		c->c_ent[e->ce_older].ce_newer = e->ce_newer;
	else
		c->c_oldest = e->ce_newer;
	if (e->ce_newer != JWT_NIL)
		c->c_ent[e->ce_newer].ce_older = e->ce_older;
	else
		c->c_newest = e->ce_older;
	json_decref(e->ce_claims);
	e->ce_claims = NULL;
	e->ce_hnext = c->c_free;
	c->c_free = i;
	c->c_n--;
}

/* Moves the filled head of the free list onto its bucket chain and to the
 * newest end of the order list. */
static void
jwt_cache_link(struct jwt_cache *c)
{
	size_t i = c->c_free, *head;
	struct jwt_centry *e = &c->c_ent[i];

	c->c_free = e->ce_hnext;
	head = jwt_cache_bucket(c, e->ce_md);
	e->ce_hnext = *head;
	*head = i;
	e->ce_older = c->c_newest;
	e->ce_newer = JWT_NIL;
	if (c->c_newest != JWT_NIL)
		c->c_ent[c->c_newest].ce_newer = i;
	else
		c->c_oldest = i;
	c->c_newest = i;
	c->c_n++;
}

/*
 * Makes room for more slots in a cache whose slots are all in use but
 * fewer than c_cap: doubles c_ent (at least JWT_CACHE_MIN, at most c_cap
 * slots), puts the new slots on the free list and, when the bucket array
 * must grow with it, rehashes the entries in use.
 */
static void
jwt_cache_grow(struct jwt_cache *c)
{
	size_t i, n, nb;

	n = c->c_alloc < JWT_CACHE_MIN / 2 ? JWT_CACHE_MIN : c->c_alloc * 2;
	if (n > c->c_cap || n < c->c_alloc)
		n = c->c_cap;
	c->c_ent = xrealloc(c->c_ent, n * sizeof(*c->c_ent));
	for (i = n; i > c->c_alloc; i--) {
		c->c_ent[i - 1].ce_hnext = c->c_free;
		c->c_free = i - 1;
	}
	c->c_alloc = n;
	for (nb = c->c_nbucket > 0 ? c->c_nbucket : 1; nb < n &&
	    nb <= SIZE_MAX / 4; nb <<= 1)
		;
	if (nb == c->c_nbucket)
		return;
	free(c->c_bucket);
	c->c_bucket = xcalloc(nb, sizeof(*c->c_bucket));
	c->c_nbucket = nb;
	for (i = 0; i < nb; i++)
		c->c_bucket[i] = JWT_NIL;
	for (i = c->c_oldest; i != JWT_NIL; i = c->c_ent[i].ce_newer) {
		c->c_ent[i].ce_hnext = *jwt_cache_bucket(c, c->c_ent[i].ce_md);
		*jwt_cache_bucket(c, c->c_ent[i].ce_md) = i;
	}
}

/* Frees one slot of a full cache: every expired entry goes (one sweep per
 * distinct c_now bounds the cost), else the oldest inserted. */
static void
jwt_cache_make_room(struct jwt_cache *c)
{
	size_t i, newer;

	if (c->c_swept != c->c_now) {
		c->c_swept = c->c_now;
		for (i = c->c_oldest; i != JWT_NIL; i = newer) {
			newer = c->c_ent[i].ce_newer;
			if (c->c_ent[i].ce_expires <= c->c_now)
				jwt_cache_drop(c, i);
		}
	}
	if (c->c_n == c->c_cap)
		jwt_cache_drop(c, c->c_oldest);
}

json_t *
jwt_cache_get(struct jwt_cache *c, const char *tok, size_t len, int64_t now)
{
	unsigned char md[JWT_SHA256_LEN];
	size_t i;

	if (now > c->c_now)
		c->c_now = now;
	if (c->c_n == 0 || jwt_cache_digest(c, tok, len, md) == -1 ||
	    (i = jwt_cache_find(c, md, len)) == JWT_NIL)
		return NULL;
	if (c->c_ent[i].ce_expires <= now) {
		jwt_cache_drop(c, i);
		return NULL;
	}
	return c->c_ent[i].ce_claims;
}

void
jwt_cache_put(struct jwt_cache *c, const char *tok, size_t len,
    json_t *claims, int64_t expires)
{
	unsigned char md[JWT_SHA256_LEN];
	struct jwt_centry *e;
	size_t i;

	if (c->c_cap == 0 || claims == NULL ||
	    jwt_cache_digest(c, tok, len, md) == -1)
		return;
	if ((i = jwt_cache_find(c, md, len)) != JWT_NIL)
		jwt_cache_drop(c, i);
	if (c->c_n == c->c_cap)
		jwt_cache_make_room(c);
	else if (c->c_free == JWT_NIL)
		jwt_cache_grow(c);
	e = &c->c_ent[c->c_free];
	memcpy(e->ce_md, md, sizeof(e->ce_md));
	e->ce_len = len;
	e->ce_claims = json_incref(claims);
	e->ce_expires = expires;
	jwt_cache_link(c);
}

void
jwt_cache_clear(struct jwt_cache *c)
{
	while (c->c_oldest != JWT_NIL)
		jwt_cache_drop(c, c->c_oldest);
}

void
jwt_cache_free(struct jwt_cache *c)
{
	if (c == NULL)
		return;
	jwt_cache_clear(c);
	EVP_MD_free(c->c_md);
	free(c->c_bucket);
	free(c->c_ent);
	free(c);
}
