/*
 * jwt: RS256 JSON Web Tokens and JSON Web Key Sets on OpenSSL.
 *
 * elp-auth signs with a private key (jwt_sign); the gateway and the
 * services verify with the public keys of the provider's JWKS
 * (jwt_verify), and keep verified tokens in a bounded cache until they
 * expire (jwt_cache). The algorithm is pinned to RS256: a token whose
 * header names anything else ("none", HS256, ...) is refused before any
 * key is looked at.
 *
 * Payloads are serialised as pure ASCII with every non-ASCII character and
 * every '>', '?', '~' and DEL written as a \uXXXX escape, so the base64url
 * text of the payload never holds '-' or '_' and a browser's plain atob()
 * decodes it (the original client relies on that).
 */
#ifndef ELP_JWT_H
#define ELP_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#define JWT_KID_MAX	64	/* bytes of a key id */
#define JWT_MAX_LEN	16384	/* longest token accepted */
#define JWT_KEYSET_MAX	16	/* keys kept from one JWKS */
#define JWT_RSA_MIN_BITS	2048	/* smaller RSA keys are refused */
#define JWT_RSA_MAX_BITS	8192	/* larger RSA keys are refused */

struct jwt_key {
	char		 jk_kid[JWT_KID_MAX + 1];
	EVP_PKEY	*jk_pkey;	/* private (signing) or public */
	int64_t		 jk_created;	/* epoch seconds, 0 unknown */
};

struct jwt_keyset {
	struct jwt_key	*js_keys;
	size_t		 js_n;
};

/* --- base64url (RFC 4648 section 5, no padding) --- */

/* Returns the unpadded encoding of <in> as a NUL-terminated heap string
 * (caller frees). Never NULL. */
char	*jwt_b64url_encode(const void *in, size_t len);
/*
 * Decodes <in> (padding optional) into a heap buffer (caller frees), length
 * in <outlen>. Returns NULL on an invalid character or length, on padding
 * when <len> is not a multiple of 4, and on non-zero unused trailing bits
 * (so the unpadded text of a byte string is unique). An empty input
 * gives a non-NULL buffer of length 0.
 */
unsigned char	*jwt_b64url_decode(const char *in, size_t len, size_t *outlen);

/* --- keys --- */

/*
 * Generates an RSA key of <bits> (JWT_RSA_MIN_BITS to JWT_RSA_MAX_BITS).
 * The kid is the RFC 7638 thumbprint, as for jwt_key_load, so a saved and
 * reloaded key keeps its kid. 0 or -1 (<key> left zeroed).
 */
int	 jwt_key_generate(struct jwt_key *, int bits);
/*
 * Loads a PEM RSA private key from <path>, refusing (with a logged error
 * naming <path>) a file that is not regular, is larger than 64 KiB, or
 * that group or others can access (mode & 077). The kid is derived from
 * the public key (RFC 7638 thumbprint, base64url), so it is stable across
 * restarts; jk_created is the file's mtime. 0 or -1.
 */
int	 jwt_key_load(struct jwt_key *, const char *path);
/* Writes the private key as PEM to <path> with mode 0600 (atomically,
 * through a temporary file in the same directory, fsync and rename). 0 or
 * -1 (<path> untouched, temporary file removed). */
int	 jwt_key_save(const struct jwt_key *, const char *path);
/* The public JWK {"kty":"RSA","kid","use":"sig","alg":"RS256","n","e"}. */
json_t	*jwt_key_jwk(const struct jwt_key *);
/* Frees the key; <key> is zeroed and reusable. A zeroed key is a no-op. */
void	 jwt_key_release(struct jwt_key *);

/* --- signing --- */

/*
 * Signs <claims> (not stolen) with <key>: header {"alg":"RS256","typ":
 * "JWT","kid":<kid>}, ASCII-safe payload. Returns the compact token (heap,
 * caller frees) or NULL.
 */
char	*jwt_sign(const struct jwt_key *key, const json_t *claims);

/* --- key sets and verification --- */

/*
 * Parses a JWKS document ({"keys":[...]}) and keeps its RSA signature keys
 * (kty RSA, and use "sig" or absent, and alg RS256 or absent, n of
 * JWT_RSA_MIN_BITS to JWT_RSA_MAX_BITS). A key without "kid" gets its RFC
 * 7638 thumbprint. Keys it cannot use, repeated kids and keys beyond
 * JWT_KEYSET_MAX are skipped. Returns the number of keys kept (<set> is
 * replaced), or -1 when the document is not a JWKS (<set> untouched, so a
 * bad refresh keeps the old keys).
 */
int	 jwt_keyset_parse(struct jwt_keyset *set, const char *json, size_t len);
/* Adds a copy of <key>'s public part to <set>; a kid already in <set> is
 * left as it is. 0 or -1. */
int	 jwt_keyset_add(struct jwt_keyset *set, const struct jwt_key *key);
/*
 * Whether every key of <old> is in <new> under the same kid with the same
 * public key: then a token <old> verified still verifies with <new>, and
 * verified tokens may be kept across the change. An empty <old> is
 * covered by anything.
 */
int	 jwt_keyset_covers(const struct jwt_keyset *new,
	    const struct jwt_keyset *old);
/* The key with <kid>, or NULL. Borrowed. */
const struct jwt_key	*jwt_keyset_find(const struct jwt_keyset *,
			    const char *kid, size_t len);
/* Frees every key; <set> is left empty and reusable. */
void	 jwt_keyset_release(struct jwt_keyset *);

enum jwt_err {
	JWT_OK = 0,
	JWT_E_MALFORMED,	/* not three base64url parts of JSON objects,
				   a "crit" header, kid not a string, exp
				   missing or not a number, nbf/iat not
				   numbers */
	JWT_E_ALG,		/* header alg is not RS256 */
	JWT_E_KID,		/* no key with that kid (refresh the JWKS) */
	JWT_E_SIGNATURE,	/* signature does not verify */
	JWT_E_EXPIRED,		/* exp + leeway <= now */
	JWT_E_NOT_YET,		/* nbf - leeway > now, or iat in the future */
	JWT_E_ISSUER,		/* iss differs */
	JWT_E_AUDIENCE,		/* aud does not name the audience */
	JWT_E_TYPE,		/* typ claim differs (an ID token where an
				   access token is due) */
	JWT_E_COUNT
};

/* Short English text, suitable for WWW-Authenticate error_description and
 * the JSON error message ("Access token expired", ...). */
const char	*jwt_err_str(enum jwt_err);

struct jwt_expect {
	const char	*je_iss;	/* required issuer (exact); NULL: no
					   issuer check */
	const char	*je_aud;	/* NULL: no audience check; else aud
					   (string or array) must contain it */
	int64_t		 je_leeway;	/* seconds, for exp/nbf/iat; clamped
					   to 0..86400 */
	int64_t		 je_now;	/* epoch seconds; 0 = time(NULL) */
	const char	*je_typ;	/* required typ claim (exact), e.g.
					   "Bearer" for access tokens; NULL:
					   no typ check */
};

/*
 * Verifies <tok> (<len> bytes) against <set> and <exp>. On JWT_OK, stores
 * the claims (new reference, caller decrefs) in <claims> if not NULL;
 * otherwise <claims> is left alone. The header must carry "kid" unless
 * <set> holds exactly one key. Requires exp; nbf and iat are checked when
 * present. The first failure is returned, checked in this order: the
 * three segments and header JSON, alg, kid, signature, then the payload
 * (a JSON object, parsed only once the signature holds), exp, nbf, iat,
 * iss, aud, typ. Allocates nothing that outlives the call.
 */
enum jwt_err	 jwt_verify(const struct jwt_keyset *set, const char *tok,
		    size_t len, const struct jwt_expect *exp, json_t **claims);

/* --- cache of verified tokens --- */

struct jwt_cache;

/* A cache of at most <cap> verified tokens (0: a cache that keeps
 * nothing). Entries are keyed by the SHA-256 of the token. Never NULL. */
struct jwt_cache	*jwt_cache_new(size_t cap);
/* Drops every entry and frees the cache; NULL is a no-op. */
void			 jwt_cache_free(struct jwt_cache *);
/*
 * Returns the claims of <tok> (borrowed, valid until the next cache call)
 * if it was put and has not expired at <now> (epoch seconds), else NULL.
 */
json_t	*jwt_cache_get(struct jwt_cache *, const char *tok, size_t len,
	    int64_t now);
/*
 * Keeps <claims> (a reference is taken) for <tok> until <expires>,
 * replacing an entry for the same token. When full, evicts expired
 * entries first (expired at the latest <now> given to jwt_cache_get; at
 * most one sweep per distinct <now>), then the oldest inserted.
 */
void	 jwt_cache_put(struct jwt_cache *, const char *tok, size_t len,
	    json_t *claims, int64_t expires);
/* Drops every entry (after a key rotation or JWKS change). */
void	 jwt_cache_clear(struct jwt_cache *);

/* Whether the claims' realm_access.roles array contains <role>. */
int	 jwt_has_role(const json_t *claims, const char *role);

#endif
