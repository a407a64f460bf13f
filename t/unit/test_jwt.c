/*
 * Unit tests for shared/jwt.c: base64url, keys and JWKS, RS256 signing and
 * verification (every error), the ASCII-safe payload and the token cache.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "jwt.h"
#include "log.h"
#include "util.h"

#define NOW	INT64_C(1700000000)
#define ISS	"http://localhost:8080/realms/e-learning-platform"
#define AUD	"elp-api"

/* Two keys generated once for the whole run (generation is slow). */
static struct jwt_key	 key_a, key_b;

static int
setup_keys(void **state)
{
	(void)state;
	log_init("test_jwt", LOG_LVL_ERROR);
	if (jwt_key_generate(&key_a, 2048) == -1 ||
	    jwt_key_generate(&key_b, 2048) == -1)
		return -1;
	return 0;
}

static int
teardown_keys(void **state)
{
	(void)state;
	jwt_key_release(&key_a);
	jwt_key_release(&key_b);
	return 0;
}

/* Expectations used by most tests. */
static struct jwt_expect
expect_std(void)
{
	struct jwt_expect e = { ISS, AUD, 60, NOW, NULL };

	return e;
}

/* Claims valid at NOW with the standard expectations (new reference). */
static json_t *
claims_std(void)
{
	json_t *c;

	c = json_pack("{s:s, s:s, s:I, s:I, s:s, s:{s:[s, s]}}", "iss", ISS,
	    "sub", "6f1c2b8e-1d1e-4c5a-9d53-0a5f0d1b2c3d", "exp",
	    (json_int_t)(NOW + 300), "iat", (json_int_t)NOW, "aud", AUD,
	    "realm_access", "roles", "student", "teacher");
	assert_non_null(c);
	return c;
}

/* A set holding the public parts of both test keys. */
static void
set_ab(struct jwt_keyset *set)
{
	memset(set, 0, sizeof(*set));
	assert_int_equal(jwt_keyset_add(set, &key_a), 0);
	assert_int_equal(jwt_keyset_add(set, &key_b), 0);
}

/*
 * Builds a token from raw header and payload text, signed RS256 with <k>
 * over exactly those bytes (heap, caller frees). Lets tests craft what
 * jwt_sign would never produce.
 */
static char *
craft(const struct jwt_key *k, const char *hdr, const char *payload)
{
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	char *h, *p, *in, *s, *tok;
	EVP_MD_CTX *md;

	h = jwt_b64url_encode(hdr, strlen(hdr));
	p = jwt_b64url_encode(payload, strlen(payload));
	in = xasprintf("%s.%s", h, p);
	assert_non_null(md = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
	    k->jk_pkey), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen,
	    (const unsigned char *)in, strlen(in)), 1);
	s = jwt_b64url_encode(sig, siglen);
	tok = xasprintf("%s.%s", in, s);
	EVP_MD_CTX_free(md);
	free(s);
	free(in);
	free(p);
	free(h);
	return tok;
}

/* A header for key <k> with alg RS256. */
static char *
hdr_for(const struct jwt_key *k)
{
	return xasprintf("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
	    k->jk_kid);
}

/* Verifies <tok> against both keys with <e>; returns the error. */
static enum jwt_err
verify_ab(const char *tok, const struct jwt_expect *e)
{
	struct jwt_keyset set;
	enum jwt_err err;
	json_t *claims = NULL;

	set_ab(&set);
	err = jwt_verify(&set, tok, strlen(tok), e, &claims);
	if (err == JWT_OK)
		assert_non_null(claims);
	else
		assert_null(claims);
	json_decref(claims);
	jwt_keyset_release(&set);
	return err;
}

/* Crafts a token with key A's header and <payload>, verifies it with the
 * standard expectations and returns the error. */
static enum jwt_err
verify_payload(const char *payload)
{
	struct jwt_expect e = expect_std();
	char *hdr, *tok;
	enum jwt_err err;

	hdr = hdr_for(&key_a);
	tok = craft(&key_a, hdr, payload);
	err = verify_ab(tok, &e);
	free(tok);
	free(hdr);
	return err;
}

/* --- base64url --- */

static void
test_b64url_vectors(void **state)
{
	/* RFC 4648 section 10, unpadded, plus both base64url digits. */
	static const struct {
		const char	*raw;
		const char	*enc;
	} v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
	};
	unsigned char *d;
	size_t i, len;
	char *e;

	(void)state;
	for (i = 0; i < NITEMS(v); i++) {
		e = jwt_b64url_encode(v[i].raw, strlen(v[i].raw));
		assert_string_equal(e, v[i].enc);
		assert_non_null(d = jwt_b64url_decode(e, strlen(e), &len));
		assert_int_equal(len, strlen(v[i].raw));
		assert_memory_equal(d, v[i].raw, len);
		free(d);
		free(e);
	}
}

static void
test_b64url_padding_and_errors(void **state)
{
	static const char *const good[] = { "Zg==", "Zm8=", "Zm9v", "" };
	static const char *const bad[] = {
		"Z", "Zm9vY", "Zg=", "Zg===", "Z===", "====", "Zm9v=",
		"Zm9+", "Zm9/", "Zm 9", "Zm9v\n", "Zm=v", "=Zm9",
		"Zh", "Zm9", "Zm9vYh",	/* non-zero unused bits */
		"Zg%3D%3D", "Z\xc3\xa9",
	};
	unsigned char *d;
	size_t i, len;

	(void)state;
	for (i = 0; i < NITEMS(good); i++) {
		d = jwt_b64url_decode(good[i], strlen(good[i]), &len);
		assert_non_null(d);
		free(d);
	}
	for (i = 0; i < NITEMS(bad); i++)
		if (jwt_b64url_decode(bad[i], strlen(bad[i]), &len) != NULL)
			fail_msg("accepted \"%s\"", bad[i]);
	/* Only <len> bytes count: "Zm9vYmFy" cut at 4 is "foo". */
	assert_non_null(d = jwt_b64url_decode("Zm9vYmFy", 4, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(d, "foo", 3);
	free(d);
	/* An embedded NUL is an invalid character. */
	assert_null(jwt_b64url_decode("Zm\0v", 4, &len));
}

static void
test_b64url_roundtrip_all_lengths(void **state)
{
	unsigned char raw[200], *d;
	size_t n, i, len;
	char *e;

	(void)state;
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 37 + 11);
	for (n = 0; n <= sizeof(raw); n++) {
		e = jwt_b64url_encode(raw, n);
		assert_int_equal(strlen(e), (n * 4 + 2) / 3);
		assert_int_not_equal(strlen(e) % 4, 1);
		assert_non_null(d = jwt_b64url_decode(e, strlen(e), &len));
		assert_int_equal(len, n);
		assert_memory_equal(d, raw, n);
		free(d);
		free(e);
	}
}

/* --- sign and verify --- */

static void
test_sign_verify_roundtrip(void **state)
{
	struct jwt_expect e = expect_std();
	struct jwt_keyset set = { NULL, 0 };
	json_t *claims, *got = NULL;
	char *tok;

	(void)state;
	claims = claims_std();
	assert_non_null(tok = jwt_sign(&key_a, claims));
	assert_int_equal(jwt_keyset_add(&set, &key_a), 0);
	assert_int_equal(jwt_verify(&set, tok, strlen(tok), &e, &got),
	    JWT_OK);
	assert_true(json_equal(got, claims));
	assert_true(jwt_has_role(got, "teacher"));
	assert_false(jwt_has_role(got, "admin"));
	/* <claims> may be NULL when only the verdict matters. */
	assert_int_equal(jwt_verify(&set, tok, strlen(tok), &e, NULL),
	    JWT_OK);
	/* The set holds public keys only: it cannot sign. */
	assert_null(jwt_sign(&set.js_keys[0], claims));
	json_decref(got);
	json_decref(claims);
	free(tok);
	jwt_keyset_release(&set);
}

static void
test_sign_refuses_bad_input(void **state)
{
	struct jwt_key none;
	json_t *arr;

	(void)state;
	memset(&none, 0, sizeof(none));
	arr = json_array();
	assert_null(jwt_sign(&key_a, arr));
	assert_null(jwt_sign(&none, arr));
	json_decref(arr);
}

static void
test_jwks_two_keys(void **state)
{
	struct jwt_expect e = expect_std();
	struct jwt_keyset set = { NULL, 0 };
	json_t *jwks, *claims;
	char *doc, *ta, *tb;

	(void)state;
	jwks = json_pack("{s:[o, o]}", "keys", jwt_key_jwk(&key_a),
	    jwt_key_jwk(&key_b));
	assert_non_null(jwks);
	doc = json_dumps(jwks, JSON_COMPACT);
	assert_int_equal(jwt_keyset_parse(&set, doc, strlen(doc)), 2);
	assert_string_not_equal(key_a.jk_kid, key_b.jk_kid);
	assert_non_null(jwt_keyset_find(&set, key_a.jk_kid,
	    strlen(key_a.jk_kid)));
	assert_null(jwt_keyset_find(&set, "nope", 4));
	claims = claims_std();
	ta = jwt_sign(&key_a, claims);
	tb = jwt_sign(&key_b, claims);
	assert_int_equal(jwt_verify(&set, ta, strlen(ta), &e, NULL), JWT_OK);
	assert_int_equal(jwt_verify(&set, tb, strlen(tb), &e, NULL), JWT_OK);
	/* Parsing again replaces the set; a non-JWKS keeps it. */
	assert_int_equal(jwt_keyset_parse(&set, doc, strlen(doc)), 2);
	assert_int_equal(jwt_keyset_parse(&set, "[1]", 3), -1);
	assert_int_equal(jwt_keyset_parse(&set, "{\"keys\":{}}", 11), -1);
	assert_int_equal(jwt_keyset_parse(&set, "{", 1), -1);
	assert_int_equal(set.js_n, 2);
	assert_int_equal(jwt_verify(&set, tb, strlen(tb), &e, NULL), JWT_OK);
	free(tb);
	free(ta);
	json_decref(claims);
	free(doc);
	json_decref(jwks);
	jwt_keyset_release(&set);
}

/* Parses <doc> (a JWKS text) into a fresh set, returning the count. */
static int
parse_count(const char *doc, struct jwt_keyset *set)
{
	memset(set, 0, sizeof(*set));
	return jwt_keyset_parse(set, doc, strlen(doc));
}

static void
test_jwks_skips_unusable(void **state)
{
	struct jwt_keyset set;
	json_t *a, *keys, *jwks;
	char *doc;

	(void)state;
	a = jwt_key_jwk(&key_a);
	keys = json_array();
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s}", "kty", "EC",
	    "crv", "P-256", "kid", "ec"));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:O, s:O}",
	    "kty", "RSA", "kid", "enc", "use", "enc", "n",
	    json_object_get(a, "n"), "e", json_object_get(a, "e")));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:O, s:O}",
	    "kty", "RSA", "kid", "ps", "alg", "PS256", "n",
	    json_object_get(a, "n"), "e", json_object_get(a, "e")));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:O}", "kty",
	    "RSA", "kid", "bad-n", "n", "!!!", "e", json_object_get(a, "e")));
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s, s:s}", "kty",
	    "RSA", "kid", "small", "n", "AQAB", "e", "AQAB"));
	json_array_append_new(keys, json_pack("{s:s, s:i}", "kty", "RSA",
	    "kid", 7));
	json_array_append_new(keys, json_string("not an object"));
	json_array_append(keys, a);
	json_array_append(keys, a);	/* repeated kid: first one kept */
	jwks = json_pack("{s:o}", "keys", keys);
	doc = json_dumps(jwks, JSON_COMPACT);
	assert_int_equal(parse_count(doc, &set), 1);
	assert_string_equal(set.js_keys[0].jk_kid, key_a.jk_kid);
	jwt_keyset_release(&set);
	assert_int_equal(parse_count("{\"keys\":[]}", &set), 0);
	jwt_keyset_release(&set);
	free(doc);
	json_decref(jwks);
	json_decref(a);
}

/* Repeated kids keep the first key of each. */
static void
test_jwks_repeated_kids(void **state)
{
	json_t *a, *keys, *jwks;
	struct jwt_keyset set;
	char *doc;
	int i;

	(void)state;
	a = jwt_key_jwk(&key_a);
	keys = json_array();
	for (i = 0; i < JWT_KEYSET_MAX + 3; i++)
		json_array_append_new(keys, json_pack("{s:s, s:s, s:O, s:O}",
		    "kty", "RSA", "kid", i % 2 ? "odd" : "even", "n",
		    json_object_get(a, "n"), "e", json_object_get(a, "e")));
	jwks = json_pack("{s:o}", "keys", keys);
	doc = json_dumps(jwks, JSON_COMPACT);
	assert_int_equal(parse_count(doc, &set), 2);
	assert_string_equal(set.js_keys[0].jk_kid, "even");
	assert_string_equal(set.js_keys[1].jk_kid, "odd");
	jwt_keyset_release(&set);
	free(doc);
	json_decref(jwks);
	json_decref(a);
}

/* A JWKS of <n> distinct kids for one modulus is cut at JWT_KEYSET_MAX. */
static void
test_jwks_cap(void **state)
{
	json_t *a, *keys, *jwks;
	struct jwt_keyset set;
	char kid[16], *doc;
	int i;

	(void)state;
	a = jwt_key_jwk(&key_a);
	keys = json_array();
	for (i = 0; i < JWT_KEYSET_MAX + 5; i++) {
		snprintf(kid, sizeof(kid), "k%d", i);
		json_array_append_new(keys, json_pack("{s:s, s:s, s:O, s:O}",
		    "kty", "RSA", "kid", kid, "n", json_object_get(a, "n"),
		    "e", json_object_get(a, "e")));
	}
	jwks = json_pack("{s:o}", "keys", keys);
	doc = json_dumps(jwks, JSON_COMPACT);
	assert_int_equal(parse_count(doc, &set), JWT_KEYSET_MAX);
	jwt_keyset_release(&set);
	free(doc);
	json_decref(jwks);
	json_decref(a);
}

static void
test_thumbprint_rfc7638(void **state)
{
	/* The example key of RFC 7638 section 3.1, without its kid. */
	static const char doc[] = "{\"keys\":[{\"kty\":\"RSA\",\"n\":\""
	    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86z"
	    "wu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5J"
	    "sGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMi"
	    "cAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdk"
	    "t-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-"
	    "csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\"}]}";
	struct jwt_keyset set;
	json_t *a, *jwks;
	char *s;

	(void)state;
	assert_int_equal(parse_count(doc, &set), 1);
	assert_string_equal(set.js_keys[0].jk_kid,
	    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	jwt_keyset_release(&set);
	/* Our kids are thumbprints too: dropping "kid" gives the same one. */
	a = jwt_key_jwk(&key_a);
	json_object_del(a, "kid");
	jwks = json_pack("{s:[O]}", "keys", a);
	s = json_dumps(jwks, JSON_COMPACT);
	assert_int_equal(parse_count(s, &set), 1);
	assert_string_equal(set.js_keys[0].jk_kid, key_a.jk_kid);
	assert_int_equal(strlen(key_a.jk_kid), 43);
	jwt_keyset_release(&set);
	free(s);
	json_decref(jwks);
	json_decref(a);
}

static void
test_jwk_members(void **state)
{
	json_t *a;

	(void)state;
	assert_non_null(a = jwt_key_jwk(&key_a));
	assert_string_equal(json_string_value(json_object_get(a, "kty")),
	    "RSA");
	assert_string_equal(json_string_value(json_object_get(a, "kid")),
	    key_a.jk_kid);
	assert_string_equal(json_string_value(json_object_get(a, "use")),
	    "sig");
	assert_string_equal(json_string_value(json_object_get(a, "alg")),
	    "RS256");
	assert_string_equal(json_string_value(json_object_get(a, "e")),
	    "AQAB");
	/* 2048-bit modulus: 256 bytes, 342 base64url digits. */
	assert_int_equal(strlen(json_string_value(json_object_get(a, "n"))),
	    342);
	assert_int_equal(json_object_size(a), 6);
	json_decref(a);
}

static void
test_kid_rules(void **state)
{
	struct jwt_expect e = expect_std();
	struct jwt_keyset one = { NULL, 0 }, two;
	char *payload, *tok_nokid, *tok_unknown, *tok_kid;
	json_t *claims;

	(void)state;
	claims = claims_std();
	payload = json_dumps(claims, JSON_COMPACT);
	tok_nokid = craft(&key_a, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
	    payload);
	tok_unknown = craft(&key_a, "{\"alg\":\"RS256\",\"kid\":\"other\"}",
	    payload);
	tok_kid = craft(&key_a, "{\"alg\":\"RS256\",\"kid\":7}", payload);
	assert_int_equal(jwt_keyset_add(&one, &key_a), 0);
	assert_int_equal(jwt_keyset_add(&one, &key_a), 0);	/* no dup */
	assert_int_equal(one.js_n, 1);
	set_ab(&two);
	/* Without kid: fine with a single key, refused with two. */
	assert_int_equal(jwt_verify(&one, tok_nokid, strlen(tok_nokid), &e,
	    NULL), JWT_OK);
	assert_int_equal(jwt_verify(&two, tok_nokid, strlen(tok_nokid), &e,
	    NULL), JWT_E_KID);
	assert_int_equal(jwt_verify(&one, tok_unknown, strlen(tok_unknown),
	    &e, NULL), JWT_E_KID);
	assert_int_equal(jwt_verify(&one, tok_kid, strlen(tok_kid), &e,
	    NULL), JWT_E_MALFORMED);
	jwt_keyset_release(&one);
	/* An empty set knows no key at all. */
	assert_int_equal(jwt_verify(&one, tok_nokid, strlen(tok_nokid), &e,
	    NULL), JWT_E_KID);
	jwt_keyset_release(&two);
	free(tok_kid);
	free(tok_unknown);
	free(tok_nokid);
	free(payload);
	json_decref(claims);
}

static void
test_alg_refused(void **state)
{
	static const char *const hdrs[] = {
		"{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
		"{\"alg\":\"RS384\"}",
		"{\"alg\":\"rs256\"}",
		"{\"alg\":\"RS256 \"}",
		"{\"alg\":\"PS256\"}",
		"{\"alg\":256}",
		"{\"alg\":null}",
		"{\"alg\":[\"RS256\"]}",
		"{\"typ\":\"JWT\"}",
	};
	struct jwt_expect e = expect_std();
	char *payload, *tok, *none, *h, *p;
	json_t *claims;
	size_t i;

	(void)state;
	claims = claims_std();
	payload = json_dumps(claims, JSON_COMPACT);
	for (i = 0; i < NITEMS(hdrs); i++) {
		tok = craft(&key_a, hdrs[i], payload);
		if (verify_ab(tok, &e) != JWT_E_ALG)
			fail_msg("header %s not refused as alg", hdrs[i]);
		free(tok);
	}
	/* The classic: alg none and an empty signature. */
	h = jwt_b64url_encode(hdrs[0], strlen(hdrs[0]));
	p = jwt_b64url_encode(payload, strlen(payload));
	none = xasprintf("%s.%s.", h, p);
	assert_int_equal(verify_ab(none, &e), JWT_E_ALG);
	free(none);
	free(p);
	free(h);
	free(payload);
	json_decref(claims);
}

/* Replaces the segment <idx> of <tok> by the encoding of <text>. */
static char *
replace_segment(const char *tok, int idx, const char *text)
{
	const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
	char *enc, *out;

	enc = jwt_b64url_encode(text, strlen(text));
	if (idx == 1)
		out = xasprintf("%.*s.%s%s", (int)(d1 - tok), tok, enc, d2);
	else
		out = xasprintf("%.*s%s", (int)(d2 + 1 - tok), tok, enc);
	free(enc);
	return out;
}

static void
test_signature_errors(void **state)
{
	struct jwt_expect e = expect_std();
	char *tok, *bad, *hdr, *payload;
	json_t *claims;
	size_t n;

	(void)state;
	claims = claims_std();
	tok = jwt_sign(&key_a, claims);
	/* Payload swapped for one granting more roles. */
	bad = replace_segment(tok, 1, "{\"iss\":\"" ISS "\",\"exp\":1700000300,"
	    "\"aud\":\"" AUD "\",\"realm_access\":{\"roles\":[\"admin\"]}}");
	assert_int_equal(verify_ab(bad, &e), JWT_E_SIGNATURE);
	free(bad);
	/* One signature digit changed (the first: no unused bits there). */
	bad = xstrdup(tok);
	n = (size_t)(strrchr(bad, '.') - bad) + 1;
	bad[n] = bad[n] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_ab(bad, &e), JWT_E_SIGNATURE);
	/* Signature 3 bytes short (its first 4 digits gone), and empty. */
	memmove(bad + n, tok + n + 4, strlen(tok + n + 4) + 1);
	assert_int_equal(verify_ab(bad, &e), JWT_E_SIGNATURE);
	bad[n] = '\0';
	assert_int_equal(verify_ab(bad, &e), JWT_E_SIGNATURE);
	free(bad);
	/* Signature not base64url. */
	bad = xasprintf("%s*", tok);
	assert_int_equal(verify_ab(bad, &e), JWT_E_MALFORMED);
	free(bad);
	/* Signed by key B but naming key A. */
	hdr = hdr_for(&key_a);
	payload = json_dumps(claims, JSON_COMPACT);
	bad = craft(&key_b, hdr, payload);
	assert_int_equal(verify_ab(bad, &e), JWT_E_SIGNATURE);
	free(bad);
	free(payload);
	free(hdr);
	free(tok);
	json_decref(claims);
}

static void
test_time_claims(void **state)
{
	static const struct {
		const char	*payload;
		enum jwt_err	 want;
	} cases[] = {
		{ "{\"exp\":1700000300}", JWT_OK },
		{ "{\"exp\":1700000001}", JWT_OK },
		{ "{\"exp\":1699999970}", JWT_OK },	/* within leeway */
		/* exp + leeway == now */
		{ "{\"exp\":1699999940}", JWT_E_EXPIRED },
		{ "{\"exp\":1699999000}", JWT_E_EXPIRED },
		{ "{\"exp\":-1}", JWT_E_EXPIRED },
		{ "{\"exp\":-9223372036854775808}", JWT_E_EXPIRED },
		{ "{\"exp\":9223372036854775807}", JWT_OK },
		{ "{\"exp\":1e300}", JWT_OK },
		{ "{\"exp\":-1e300}", JWT_E_EXPIRED },
		{ "{\"exp\":1700000300.5}", JWT_OK },
		{ "{\"exp\":99999999999999999999}", JWT_E_MALFORMED },
		{ "{\"exp\":1e999}", JWT_E_MALFORMED },
		{ "{}", JWT_E_MALFORMED },
		{ "{\"exp\":\"1700000300\"}", JWT_E_MALFORMED },
		{ "{\"exp\":null}", JWT_E_MALFORMED },
		{ "{\"exp\":true}", JWT_E_MALFORMED },
		{ "{\"exp\":1700000300,\"nbf\":1700000030}", JWT_OK },
		{ "{\"exp\":1700000300,\"nbf\":1700000060}", JWT_OK },
		{ "{\"exp\":1700000300,\"nbf\":1700000061}", JWT_E_NOT_YET },
		{ "{\"exp\":1700000300,\"nbf\":9e99}", JWT_E_NOT_YET },
		{ "{\"exp\":1700000300,\"nbf\":\"x\"}", JWT_E_MALFORMED },
		{ "{\"exp\":1700000300,\"iat\":1700000059}", JWT_OK },
		{ "{\"exp\":1700000300,\"iat\":1700000100}", JWT_E_NOT_YET },
		{ "{\"exp\":1700000300,\"iat\":[]}", JWT_E_MALFORMED },
		{ "{\"exp\":1,\"nbf\":1700009999}", JWT_E_EXPIRED },
	};
	struct jwt_expect e = { NULL, NULL, 60, NOW, NULL };
	char *hdr, *tok;
	size_t i;

	(void)state;
	hdr = hdr_for(&key_a);
	for (i = 0; i < NITEMS(cases); i++) {
		tok = craft(&key_a, hdr, cases[i].payload);
		if (verify_ab(tok, &e) != cases[i].want)
			fail_msg("%s: want %s", cases[i].payload,
			    jwt_err_str(cases[i].want));
		free(tok);
	}
	free(hdr);
}

static void
test_leeway_clamped_and_now(void **state)
{
	struct jwt_expect e = { NULL, NULL, -100, NOW, NULL };
	char *hdr, *tok;

	(void)state;
	hdr = hdr_for(&key_a);
	/* A negative leeway counts as none. */
	tok = craft(&key_a, hdr, "{\"exp\":1700000001,\"nbf\":1700000000}");
	assert_int_equal(verify_ab(tok, &e), JWT_OK);
	free(tok);
	tok = craft(&key_a, hdr, "{\"exp\":1700000000}");
	assert_int_equal(verify_ab(tok, &e), JWT_E_EXPIRED);
	/* je_now 0 means the clock: a 2023 token has expired by now. */
	e.je_now = 0;
	e.je_leeway = INT64_MAX;
	assert_int_equal(verify_ab(tok, &e), JWT_E_EXPIRED);
	free(tok);
	free(hdr);
}

static void
test_issuer_audience(void **state)
{
	static const struct {
		const char	*extra;	/* members after "exp" */
		const char	*aud;	/* expected audience or NULL */
		enum jwt_err	 want;
	} cases[] = {
		{ ",\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"", AUD, JWT_OK },
		{ ",\"iss\":\"" ISS "\",\"aud\":[\"x\",\"" AUD "\"]", AUD,
		    JWT_OK },
		{ ",\"iss\":\"" ISS "\",\"aud\":[\"x\",\"y\"]", AUD,
		    JWT_E_AUDIENCE },
		{ ",\"iss\":\"" ISS "\",\"aud\":[]", AUD, JWT_E_AUDIENCE },
		{ ",\"iss\":\"" ISS "\",\"aud\":\"account\"", AUD,
		    JWT_E_AUDIENCE },
		{ ",\"iss\":\"" ISS "\",\"aud\":\"elp-api2\"", AUD,
		    JWT_E_AUDIENCE },
		{ ",\"iss\":\"" ISS "\",\"aud\":7", AUD, JWT_E_AUDIENCE },
		{ ",\"iss\":\"" ISS "\",\"aud\":[7,[\"" AUD "\"]]", AUD,
		    JWT_E_AUDIENCE },
		{ ",\"iss\":\"" ISS "\",\"azp\":\"" AUD "\"", AUD,
		    JWT_E_AUDIENCE },
		{ ",\"iss\":\"" ISS "\"", AUD, JWT_E_AUDIENCE },
		{ ",\"iss\":\"" ISS "\"", NULL, JWT_OK },
		{ ",\"iss\":\"" ISS "\",\"aud\":\"account\"", NULL, JWT_OK },
		{ ",\"iss\":\"" ISS "/\",\"aud\":\"" AUD "\"", AUD,
		    JWT_E_ISSUER },
		{ ",\"iss\":\"http://evil\",\"aud\":\"" AUD "\"", AUD,
		    JWT_E_ISSUER },
		{ ",\"aud\":\"" AUD "\"", AUD, JWT_E_ISSUER },
		{ ",\"iss\":null", NULL, JWT_E_ISSUER },
		{ ",\"iss\":[\"" ISS "\"]", NULL, JWT_E_ISSUER },
	};
	struct jwt_expect e = expect_std();
	char *hdr, *payload, *tok;
	size_t i;

	(void)state;
	hdr = hdr_for(&key_a);
	for (i = 0; i < NITEMS(cases); i++) {
		payload = xasprintf("{\"exp\":1700000300%s}", cases[i].extra);
		tok = craft(&key_a, hdr, payload);
		e.je_aud = cases[i].aud;
		if (verify_ab(tok, &e) != cases[i].want)
			fail_msg("%s: want %s", payload,
			    jwt_err_str(cases[i].want));
		free(tok);
		free(payload);
	}
	/* No issuer expected: any (or none) passes. */
	e.je_iss = NULL;
	e.je_aud = NULL;
	tok = craft(&key_a, hdr, "{\"exp\":1700000300,\"iss\":\"x\"}");
	assert_int_equal(verify_ab(tok, &e), JWT_OK);
	free(tok);
	free(hdr);
}

/* typ is checked only when expected, exactly, and after aud. */
static void
test_typ(void **state)
{
	static const struct {
		const char	*extra;	/* members after "exp" */
		const char	*typ;	/* expected typ or NULL */
		enum jwt_err	 want;
	} cases[] = {
		{ ",\"typ\":\"Bearer\"", "Bearer", JWT_OK },
		{ ",\"typ\":\"ID\"", "Bearer", JWT_E_TYPE },
		{ ",\"typ\":\"Refresh\"", "Bearer", JWT_E_TYPE },
		{ ",\"typ\":\"bearer\"", "Bearer", JWT_E_TYPE },
		{ ",\"typ\":\"Bearer \"", "Bearer", JWT_E_TYPE },
		{ ",\"typ\":[\"Bearer\"]", "Bearer", JWT_E_TYPE },
		{ ",\"typ\":null", "Bearer", JWT_E_TYPE },
		{ "", "Bearer", JWT_E_TYPE },
		{ ",\"typ\":\"ID\"", NULL, JWT_OK },
		{ "", NULL, JWT_OK },
		/* The audience is checked first. */
		{ ",\"typ\":\"ID\",\"aud\":\"spa-client\"", "Bearer",
		    JWT_E_AUDIENCE },
	};
	struct jwt_expect e = expect_std();
	char *hdr, *payload, *tok;
	size_t i;

	(void)state;
	hdr = hdr_for(&key_a);
	for (i = 0; i < NITEMS(cases); i++) {
		payload = xasprintf("{\"exp\":1700000300,\"iss\":\"" ISS
		    "\",\"aud\":\"" AUD "\"%s}", cases[i].extra);
		/* A repeated aud is refused as malformed: drop ours. */
		if (strstr(cases[i].extra, "aud") != NULL) {
			free(payload);
			payload = xasprintf("{\"exp\":1700000300,\"iss\":"
			    "\"" ISS "\"%s}", cases[i].extra);
		}
		tok = craft(&key_a, hdr, payload);
		e.je_typ = cases[i].typ;
		if (verify_ab(tok, &e) != cases[i].want)
			fail_msg("%s: want %s", payload,
			    jwt_err_str(cases[i].want));
		free(tok);
		free(payload);
	}
	free(hdr);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"", ".", "..", "...", "a", "a.b", "a.b.c.d", "a..b", ".a.b",
		"eyJ.eyJ.sig", "e30.e30.e30.e30", "!!!.e30.AAAA",
		"W10.e30.AAAA",	/* header [] */
	};
	struct jwt_expect e = expect_std();
	char *hdr, *tok;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++)
		if (verify_ab(bad[i], &e) != JWT_E_MALFORMED)
			fail_msg("\"%s\" not malformed", bad[i]);
	assert_int_equal(jwt_verify(NULL, NULL, 0, &e, NULL),
	    JWT_E_MALFORMED);
	/* Headers that are not one JSON object, or that we must refuse. */
	tok = craft(&key_a, "[\"RS256\"]", "{\"exp\":1700000300}");
	assert_int_equal(verify_ab(tok, &e), JWT_E_MALFORMED);
	free(tok);
	tok = craft(&key_a, "{\"alg\":\"RS256\"", "{\"exp\":1700000300}");
	assert_int_equal(verify_ab(tok, &e), JWT_E_MALFORMED);
	free(tok);
	tok = craft(&key_a, "{\"alg\":\"none\",\"alg\":\"RS256\"}",
	    "{\"exp\":1700000300}");
	assert_int_equal(verify_ab(tok, &e), JWT_E_MALFORMED);
	free(tok);
	hdr = xasprintf("{\"alg\":\"RS256\",\"kid\":\"%s\",\"crit\":[\"b64\"],"
	    "\"b64\":false}", key_a.jk_kid);
	tok = craft(&key_a, hdr, "{\"exp\":1700000300}");
	assert_int_equal(verify_ab(tok, &e), JWT_E_MALFORMED);
	free(tok);
	free(hdr);
}

static void
test_malformed_payload(void **state)
{
	static const char *const bad[] = {
		"[1,2,3]", "\"claims\"", "17", "", "{", "{\"exp\":1}x",
		"{\"exp\":1700000300,\"exp\":1700000300}", "null",
		"{\"exp\":1700000300,\"s\":\"\\u0000\"}",
		"{\"exp\":1700000300,\"s\":\"\xff\"}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++)
		if (verify_payload(bad[i]) != JWT_E_MALFORMED)
			fail_msg("payload %s not malformed", bad[i]);
	assert_int_equal(verify_payload("{\"exp\":1700000300,\"iss\":\"" ISS
	    "\",\"aud\":\"" AUD "\"}"), JWT_OK);
}

static void
test_length_limit(void **state)
{
	struct jwt_expect e = expect_std();
	json_t *claims;
	char *pad, *tok;
	size_t base, n;

	(void)state;
	claims = claims_std();
	tok = jwt_sign(&key_a, claims);
	base = strlen(tok);
	free(tok);
	/* Each pad byte adds 4/3 of a digit: aim just under the limit. */
	n = (JWT_MAX_LEN - base) * 3 / 4 - 16;
	pad = xmalloc(JWT_MAX_LEN + 2);
	memset(pad, 'x', JWT_MAX_LEN + 1);
	pad[n] = '\0';
	json_object_set_new(claims, "pad", json_string(pad));
	assert_non_null(tok = jwt_sign(&key_a, claims));
	assert_in_range(strlen(tok), JWT_MAX_LEN - 64, JWT_MAX_LEN);
	assert_int_equal(verify_ab(tok, &e), JWT_OK);
	free(tok);
	/* Claims that no longer fit are refused at signing... */
	pad[n] = 'x';
	pad[n + 64] = '\0';
	json_object_set_new(claims, "pad", json_string(pad));
	assert_null(jwt_sign(&key_a, claims));
	/* ...and a verifier never looks past the limit. */
	pad[JWT_MAX_LEN + 1] = '\0';
	assert_int_equal(verify_ab(pad, &e), JWT_E_MALFORMED);
	free(pad);
	json_decref(claims);
}

/* Every cut and every one-byte change of a good token fails cleanly. */
static void
test_hostile_mutations(void **state)
{
	static const char subst[] = { '.', 'A', '-', '=', '\0', '\xff' };
	struct jwt_expect e = expect_std();
	struct jwt_keyset set;
	json_t *claims;
	char *tok, *m;
	size_t i, j, len;

	(void)state;
	claims = claims_std();
	tok = jwt_sign(&key_a, claims);
	len = strlen(tok);
	set_ab(&set);
	for (i = 0; i < len; i++)
		assert_int_not_equal(jwt_verify(&set, tok, i, &e, NULL),
		    JWT_OK);
	m = xmalloc(len);
	for (i = 0; i < len; i++) {
		for (j = 0; j < sizeof(subst); j++) {
			memcpy(m, tok, len);
			if (m[i] == subst[j])
				continue;
			m[i] = subst[j];
			assert_int_not_equal(jwt_verify(&set, m, len, &e,
			    NULL), JWT_OK);
		}
	}
	free(m);
	jwt_keyset_release(&set);
	free(tok);
	json_decref(claims);
}

/* --- ASCII-safe payload --- */

/* Decodes base64url <s> as standard base64 would (atob: '-' and '_' are
 * not digits, padding optional): OpenSSL's block decoder on padded text.
 * Returns the bytes (heap) or NULL when the text is not standard base64. */
static unsigned char *
std_b64_decode(const char *s, size_t len, size_t *outlen)
{
	unsigned char *out;
	char *padded;
	size_t pad = (4 - len % 4) % 4;
	int n;

	if (strcspn(s, "-_") < len || pad == 3)
		return NULL;
	padded = xmalloc(len + pad + 1);
	memcpy(padded, s, len);
	memset(padded + len, '=', pad);
	padded[len + pad] = '\0';
	out = xmalloc(len + pad);
	n = EVP_DecodeBlock(out, (unsigned char *)padded, (int)(len + pad));
	free(padded);
	if (n < 0) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)n - pad;
	return out;
}

/* Whether plain base64url of jansson's compact dump of <c> has '-'/'_'. */
static int
naive_has_dash(const json_t *c)
{
	char *d, *e;
	int r;

	d = json_dumps(c, JSON_COMPACT | JSON_ENSURE_ASCII);
	e = jwt_b64url_encode(d, strlen(d));
	r = strcspn(e, "-_") < strlen(e);
	free(e);
	free(d);
	return r;
}

/* Checks that token <tok> carries <claims> as ASCII-safe base64. */
static void
check_ascii_payload(const char *tok, const json_t *claims)
{
	const char *p = strchr(tok, '.') + 1;
	size_t plen = (size_t)(strchr(p, '.') - p), n = 0, i;
	unsigned char *raw;
	json_t *back;

	raw = std_b64_decode(p, plen, &n);
	if (raw == NULL)
		fail_msg("payload segment is not plain base64: %.*s",
		    (int)plen, p);
	for (i = 0; i < n; i++) {
		assert_true(raw[i] >= 0x20 && raw[i] < 0x7f);
		assert_null(strchr(">?~", raw[i]));
	}
	back = json_loadb((const char *)raw, n, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(back, claims));
	json_decref(back);
	free(raw);
}

static void
test_ascii_safe_payload(void **state)
{
	static const char *const names[] = {
		"a>b?c~", "\x7f>>>???~~~", "Zo\xc3\xab M\xc3\xbcller",
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x98\x80 ok?",
		"<script>?x=1&y=~</script>", "?\?>>~~",
	};
	struct jwt_expect e = expect_std();
	json_t *claims;
	char *tok, pad[4];
	size_t i, shift;
	int dashes = 0;

	(void)state;
	for (i = 0; i < NITEMS(names); i++) {
		for (shift = 0; shift < 3; shift++) {
			memset(pad, 'x', shift);
			pad[shift] = '\0';
			claims = claims_std();
			json_object_set_new(claims, "name",
			    json_string(names[i]));
			json_object_set_new(claims, "p", json_string(pad));
			json_object_set_new(claims, names[i], json_true());
			dashes += naive_has_dash(claims);
			assert_non_null(tok = jwt_sign(&key_a, claims));
			check_ascii_payload(tok, claims);
			assert_int_equal(verify_ab(tok, &e), JWT_OK);
			free(tok);
			json_decref(claims);
		}
	}
	/* The inputs do hit the problem without the extra escapes. */
	assert_true(dashes > 0);
}

static void
test_ascii_escapes_exact(void **state)
{
	const char *p, *end;
	unsigned char *raw;
	json_t *claims;
	char *tok, *txt;
	size_t n;

	(void)state;
	claims = json_pack("{s:s}", "s", "\xf0\x9f\x98\x80>?~\x7f\xc3\xa9");
	tok = jwt_sign(&key_a, claims);
	p = strchr(tok, '.') + 1;
	end = strchr(p, '.');
	raw = jwt_b64url_decode(p, (size_t)(end - p), &n);
	txt = xstrndup((const char *)raw, n);
	assert_string_equal(txt, "{\"s\":\"\\uD83D\\uDE00\\u003E\\u003F"
	    "\\u007E\\u007F\\u00E9\"}");
	free(txt);
	free(raw);
	free(tok);
	json_decref(claims);
}

/* --- key files --- */

/* Number of entries in directory <dir> besides "." and "..". */
static int
dir_count(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Writes <text> to <path> with <mode>. */
static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp;

	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_key_save_load(void **state)
{
	char dir[] = "/tmp/test_jwt.XXXXXX", *path, *tok;
	struct jwt_expect e = expect_std();
	struct jwt_keyset set = { NULL, 0 };
	struct jwt_key k;
	struct stat st;
	json_t *claims;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/signing.pem", dir);
	assert_int_equal(jwt_key_save(&key_a, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(dir_count(dir), 1);	/* no temporary left */
	/* Saving again replaces the file atomically. */
	assert_int_equal(jwt_key_save(&key_a, path), 0);
	assert_int_equal(dir_count(dir), 1);
	assert_int_equal(jwt_key_load(&k, path), 0);
	assert_string_equal(k.jk_kid, key_a.jk_kid);
	assert_true(k.jk_created > 0);
	/* The loaded key signs what the original's public part verifies. */
	claims = claims_std();
	tok = jwt_sign(&k, claims);
	assert_int_equal(jwt_keyset_add(&set, &key_a), 0);
	assert_int_equal(jwt_verify(&set, tok, strlen(tok), &e, NULL), JWT_OK);
	free(tok);
	json_decref(claims);
	jwt_keyset_release(&set);
	jwt_key_release(&k);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(jwt_key_load(&k, path), -1);
	assert_null(k.jk_pkey);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(jwt_key_load(&k, path), -1);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(jwt_key_load(&k, path), -1);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(jwt_key_load(&k, path), 0);
	jwt_key_release(&k);
	assert_int_equal(unlink(path), 0);
	free(path);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_key_load_errors(void **state)
{
	char dir[] = "/tmp/test_jwt.XXXXXX", *path, *sub;
	struct jwt_key k, pub;
	struct jwt_keyset set = { NULL, 0 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/key.pem", dir);
	sub = xasprintf("%s/sub", dir);
	assert_int_equal(jwt_key_load(&k, path), -1);	/* missing */
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(jwt_key_load(&k, sub), -1);	/* a directory */
	write_file(path, "not a key\n", 0600);
	assert_int_equal(jwt_key_load(&k, path), -1);
	write_file(path, "-----BEGIN PRIVATE KEY-----\nAAAA\n"
	    "-----END PRIVATE KEY-----\n", 0600);
	assert_int_equal(jwt_key_load(&k, path), -1);
	/* A public-only key cannot be saved; nothing is left behind. */
	assert_int_equal(jwt_keyset_add(&set, &key_a), 0);
	pub = set.js_keys[0];
	assert_int_equal(unlink(path), 0);
	assert_int_equal(jwt_key_save(&pub, path), -1);
	assert_int_equal(dir_count(dir), 1);
	jwt_keyset_release(&set);
	/* A directory that does not exist. */
	free(path);
	path = xasprintf("%s/none/key.pem", dir);
	assert_int_equal(jwt_key_save(&key_a, path), -1);
	assert_int_equal(rmdir(sub), 0);
	free(sub);
	free(path);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_key_generate_bits(void **state)
{
	struct jwt_key k;

	(void)state;
	assert_int_equal(jwt_key_generate(&k, 1024), -1);
	assert_null(k.jk_pkey);
	assert_int_equal(jwt_key_generate(&k, 1 << 20), -1);
	jwt_key_release(&k);
}

/* --- cache --- */

/* Puts a fresh object for token "tok<i>" expiring at <exp>. */
static void
cache_put_i(struct jwt_cache *c, int i, int64_t exp)
{
	char tok[32];
	json_t *v;

	snprintf(tok, sizeof(tok), "tok%d", i);
	v = json_pack("{s:i}", "i", i);
	jwt_cache_put(c, tok, strlen(tok), v, exp);
	json_decref(v);
}

/* The "i" of the cached claims of token "tok<i>" at <now>, or -1. */
static int
cache_get_i(struct jwt_cache *c, int i, int64_t now)
{
	char tok[32];
	json_t *v;

	snprintf(tok, sizeof(tok), "tok%d", i);
	if ((v = jwt_cache_get(c, tok, strlen(tok), now)) == NULL)
		return -1;
	return (int)json_integer_value(json_object_get(v, "i"));
}

static void
test_cache_hit_miss_expiry(void **state)
{
	struct jwt_cache *c;
	json_t *v;

	(void)state;
	c = jwt_cache_new(4);
	assert_int_equal(cache_get_i(c, 1, NOW), -1);
	cache_put_i(c, 1, NOW + 10);
	cache_put_i(c, 2, NOW + 20);
	assert_int_equal(cache_get_i(c, 1, NOW), 1);
	assert_int_equal(cache_get_i(c, 2, NOW + 19), 2);
	assert_int_equal(cache_get_i(c, 3, NOW), -1);
	/* Same prefix, other length: a different token. */
	assert_null(jwt_cache_get(c, "tok1x", 5, NOW));
	assert_null(jwt_cache_get(c, "tok", 3, NOW));
	/* Expired at exactly <expires>, and dropped. */
	assert_int_equal(cache_get_i(c, 1, NOW + 10), -1);
	assert_int_equal(cache_get_i(c, 1, NOW), -1);
	/* A second put of a token replaces its entry. */
	v = json_pack("{s:i}", "i", 42);
	jwt_cache_put(c, "tok2", 4, v, NOW + 100);
	assert_int_equal(v->refcount, 2);
	assert_int_equal(cache_get_i(c, 2, NOW + 50), 42);
	jwt_cache_clear(c);
	assert_int_equal(v->refcount, 1);
	assert_int_equal(cache_get_i(c, 2, NOW), -1);
	jwt_cache_put(c, "tok2", 4, v, NOW + 100);
	jwt_cache_free(c);
	assert_int_equal(v->refcount, 1);
	json_decref(v);
	jwt_cache_free(NULL);
}

static void
test_cache_eviction(void **state)
{
	struct jwt_cache *c;
	int i;

	(void)state;
	c = jwt_cache_new(3);
	/* Full and nothing expired: the oldest inserted goes. */
	cache_put_i(c, 1, NOW + 100);
	cache_put_i(c, 2, NOW + 100);
	cache_put_i(c, 3, NOW + 100);
	assert_int_equal(cache_get_i(c, 1, NOW), 1);	/* a hit: still old */
	cache_put_i(c, 4, NOW + 100);
	assert_int_equal(cache_get_i(c, 1, NOW), -1);
	for (i = 2; i <= 4; i++)
		assert_int_equal(cache_get_i(c, i, NOW), i);
	/* Expired entries go before the oldest live one. */
	cache_put_i(c, 5, NOW + 5);	/* evicts 2 */
	assert_int_equal(cache_get_i(c, 9, NOW + 10), -1);	/* clock on */
	cache_put_i(c, 6, NOW + 100);	/* evicts 5 (expired), not 3 */
	assert_int_equal(cache_get_i(c, 3, NOW + 10), 3);
	assert_int_equal(cache_get_i(c, 4, NOW + 10), 4);
	assert_int_equal(cache_get_i(c, 6, NOW + 10), 6);
	assert_int_equal(cache_get_i(c, 2, NOW + 10), -1);
	jwt_cache_free(c);
}

static void
test_cache_many(void **state)
{
	struct jwt_cache *c, *zero;
	int i;

	(void)state;
	c = jwt_cache_new(64);
	for (i = 0; i < 5000; i++)
		cache_put_i(c, i, NOW + 1000);
	for (i = 0; i < 5000 - 64; i++)
		assert_int_equal(cache_get_i(c, i, NOW), -1);
	for (i = 5000 - 64; i < 5000; i++)
		assert_int_equal(cache_get_i(c, i, NOW), i);
	/* Half expire: the new ones replace exactly those. */
	for (i = 0; i < 5000; i++)
		cache_put_i(c, i, NOW + 1000 + (i % 2));
	assert_int_equal(cache_get_i(c, 4998, NOW + 1000), -1);
	for (i = 10000; i < 10032; i++)
		cache_put_i(c, i, NOW + 2000);
	for (i = 5000 - 64; i < 5000; i += 2)
		assert_int_equal(cache_get_i(c, i + 1, NOW + 1000), i + 1);
	jwt_cache_free(c);
	zero = jwt_cache_new(0);
	cache_put_i(zero, 1, NOW + 10);
	assert_int_equal(cache_get_i(zero, 1, NOW), -1);
	jwt_cache_free(zero);
}

/*
 * The slots grow as tokens arrive (16, 32, 64, then the capacity of 100):
 * every entry stays found across each growth and rehash, the order of
 * eviction is kept, and a capacity that is not a power of two is the
 * limit.
 */
static void
test_cache_grows(void **state)
{
	struct jwt_cache *c;
	int i;

	(void)state;
	c = jwt_cache_new(100);
	for (i = 0; i < 100; i++) {
		cache_put_i(c, i, NOW + 1000);
		assert_int_equal(cache_get_i(c, 0, NOW), 0);
		assert_int_equal(cache_get_i(c, i, NOW), i);
	}
	for (i = 0; i < 100; i++)
		assert_int_equal(cache_get_i(c, i, NOW), i);
	cache_put_i(c, 100, NOW + 1000);	/* full: 0 goes */
	assert_int_equal(cache_get_i(c, 0, NOW), -1);
	for (i = 1; i <= 100; i++)
		assert_int_equal(cache_get_i(c, i, NOW), i);
	cache_put_i(c, 50, NOW + 2000);		/* replaced, not added */
	cache_put_i(c, 101, NOW + 1000);	/* full again: 1 goes */
	assert_int_equal(cache_get_i(c, 1, NOW), -1);
	assert_int_equal(cache_get_i(c, 2, NOW), 2);
	assert_int_equal(cache_get_i(c, 50, NOW + 1500), 50);
	jwt_cache_clear(c);
	for (i = 0; i < 100; i++)
		assert_int_equal(cache_get_i(c, i, NOW), -1);
	cache_put_i(c, 7, NOW + 10);
	assert_int_equal(cache_get_i(c, 7, NOW), 7);
	jwt_cache_free(c);
}

/* --- small helpers --- */

static void
test_has_role(void **state)
{
	static const struct {
		const char	*json;
		int		 want;
	} cases[] = {
		{ "{\"realm_access\":{\"roles\":[\"admin\",\"teacher\"]}}", 1 },
		{ "{\"realm_access\":{\"roles\":[\"admins\"]}}", 0 },
		{ "{\"realm_access\":{\"roles\":[]}}", 0 },
		{ "{\"realm_access\":{\"roles\":\"admin\"}}", 0 },
		{ "{\"realm_access\":{\"roles\":[[\"admin\"],1]}}", 0 },
		{ "{\"realm_access\":[\"admin\"]}", 0 },
		{ "{\"roles\":[\"admin\"]}", 0 },
		{ "[]", 0 },
	};
	json_t *j;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		assert_non_null(j = json_loads(cases[i].json, 0, NULL));
		assert_int_equal(jwt_has_role(j, "admin"), cases[i].want);
		json_decref(j);
	}
	assert_int_equal(jwt_has_role(NULL, "admin"), 0);
}

/* A set with key <k>'s public part published under kid <kid>. */
static void
set_kid_as(struct jwt_keyset *set, const struct jwt_key *k, const char *kid)
{
	json_t *jwk, *doc;
	char *txt;

	memset(set, 0, sizeof(*set));
	assert_non_null(jwk = jwt_key_jwk(k));
	json_object_set_new(jwk, "kid", json_string(kid));
	doc = json_pack("{s:[o]}", "keys", jwk);
	assert_non_null(txt = json_dumps(doc, 0));
	assert_int_equal(jwt_keyset_parse(set, txt, strlen(txt)), 1);
	free(txt);
	json_decref(doc);
}

static void
test_keyset_covers(void **state)
{
	struct jwt_keyset ab, a, b, none, fake;

	(void)state;
	set_ab(&ab);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&none, 0, sizeof(none));
	assert_int_equal(jwt_keyset_add(&a, &key_a), 0);
	assert_int_equal(jwt_keyset_add(&b, &key_b), 0);
	/* Keys added: tokens verified before still verify. */
	assert_true(jwt_keyset_covers(&ab, &a));
	assert_true(jwt_keyset_covers(&ab, &ab));
	assert_true(jwt_keyset_covers(&a, &none));
	assert_true(jwt_keyset_covers(&none, &none));
	/* A key gone: they may not. */
	assert_false(jwt_keyset_covers(&a, &ab));
	assert_false(jwt_keyset_covers(&b, &a));
	assert_false(jwt_keyset_covers(&none, &a));
	/* The same kid with another public key is a different key. */
	set_kid_as(&fake, &key_b, key_a.jk_kid);
	assert_false(jwt_keyset_covers(&fake, &a));
	assert_false(jwt_keyset_covers(&a, &fake));
	jwt_keyset_release(&fake);
	jwt_keyset_release(&b);
	jwt_keyset_release(&a);
	jwt_keyset_release(&ab);
}

static void
test_err_str(void **state)
{
	(void)state;
	assert_string_equal(jwt_err_str(JWT_E_MALFORMED),
	    "Malformed access token");
	assert_string_equal(jwt_err_str(JWT_E_ALG),
	    "Unsupported token algorithm");
	assert_string_equal(jwt_err_str(JWT_E_KID),
	    "Unknown token signing key");
	assert_string_equal(jwt_err_str(JWT_E_SIGNATURE),
	    "Invalid token signature");
	assert_string_equal(jwt_err_str(JWT_E_EXPIRED),
	    "Access token expired");
	assert_string_equal(jwt_err_str(JWT_E_NOT_YET),
	    "Access token not yet valid");
	assert_string_equal(jwt_err_str(JWT_E_ISSUER),
	    "Invalid token issuer");
	assert_string_equal(jwt_err_str(JWT_E_AUDIENCE),
	    "Invalid token audience");
	assert_string_equal(jwt_err_str(JWT_E_TYPE), "Invalid token type");
	assert_non_null(jwt_err_str(JWT_OK));
	assert_non_null(jwt_err_str(JWT_E_COUNT));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_padding_and_errors),
		cmocka_unit_test(test_b64url_roundtrip_all_lengths),
		cmocka_unit_test(test_sign_verify_roundtrip),
		cmocka_unit_test(test_sign_refuses_bad_input),
		cmocka_unit_test(test_jwks_two_keys),
		cmocka_unit_test(test_jwks_skips_unusable),
		cmocka_unit_test(test_jwks_repeated_kids),
		cmocka_unit_test(test_jwks_cap),
		cmocka_unit_test(test_thumbprint_rfc7638),
		cmocka_unit_test(test_jwk_members),
		cmocka_unit_test(test_kid_rules),
		cmocka_unit_test(test_alg_refused),
		cmocka_unit_test(test_signature_errors),
		cmocka_unit_test(test_time_claims),
		cmocka_unit_test(test_leeway_clamped_and_now),
		cmocka_unit_test(test_issuer_audience),
		cmocka_unit_test(test_typ),
		cmocka_unit_test(test_keyset_covers),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_malformed_payload),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_hostile_mutations),
		cmocka_unit_test(test_ascii_safe_payload),
		cmocka_unit_test(test_ascii_escapes_exact),
		cmocka_unit_test(test_key_save_load),
		cmocka_unit_test(test_key_load_errors),
		cmocka_unit_test(test_key_generate_bits),
		cmocka_unit_test(test_cache_hit_miss_expiry),
		cmocka_unit_test(test_cache_eviction),
		cmocka_unit_test(test_cache_many),
		cmocka_unit_test(test_cache_grows),
		cmocka_unit_test(test_has_role),
		cmocka_unit_test(test_err_str),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
