/*
 * authz: bearer-token checks inside a FastCGI service.
 *
 * The gateway already verifies tokens and applies the route's role list;
 * each service checks again with its own keys and cache (defence in depth)
 * and applies the contract's access levels (docs/contract/api.md 2.5) and error
 * behaviour (docs/contract/api.md 2.6):
 *
 *	public			authz_check(), then treat anything but
 *				AUTHZ_OK as an anonymous caller
 *	ADMIN			authz_require_role(.., "ADMIN")
 *	USER-role		authz_require_role(.., "USER")
 *	ADMIN or USER		authz_require_any_role()
 *	ADMIN or self(x)	authz_require_admin_or_self()
 *	self(x)			authz_require_self()
 *	USER-role and self(x)	authz_require_user_self()
 *
 * The token comes from the Authorization header (FastCGI param
 * HTTP_AUTHORIZATION, "Bearer <token>", scheme case-insensitive); any
 * other scheme counts as no token. It is verified with jwt_verify()
 * (RS256, issuer, optional audience, exp/nbf/iat with leeway, typ
 * "Bearer" so that an ID token is never taken for an access token)
 * against the keys of the identity service's JWKS. The gateway's AUTH_SUB
 * param, when present, must name the same account as the token: a
 * mismatch means the request did not come through the gateway's checks,
 * and is refused.
 *
 * Keys are fetched with libelp's HTTP client (http.h; blocking, bounded by
 * the configured timeout: a FastCGI worker serves one request at a time,
 * https verified against ca-file or the system store) on first use and
 * again when a token names an unknown kid, at most once per refresh-min
 * (once a second while no keys are held, or per refresh-min if shorter).
 * A failed fetch keeps the old keys. Verified tokens are cached until
 * their exp; the cache is cleared whenever new keys are loaded.
 *
 * The program calls curl_global_init() once in main, before the workers
 * are forked; each worker then makes its own struct authz.
 */
#ifndef ELP_AUTHZ_H
#define ELP_AUTHZ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app.h"
#include "cfg.h"
#include "jwt.h"
#include "uuid.h"

#define AUTHZ_ROLES_MAX	32	/* roles kept from one token */
#define AUTHZ_ROLE_MAX	64	/* bytes of a role name; longer ones are
				   skipped, never truncated */
#define AUTHZ_CLAIM_MAX	255	/* bytes of email, names, client; a longer
				   value is left empty, never truncated */

/* Settings of an <auth> element; read with authz_cfg_keys. */
struct authz_cfg {
	char		*azc_jwks_url;	/* http(s) URL of the JWKS */
	char		*azc_issuer;	/* required iss */
	char		*azc_audience;	/* required aud; "" = no check */
	uint64_t	 azc_leeway;	/* ms of clock skew for exp/nbf/iat */
	uint64_t	 azc_refresh_min; /* ms between two JWKS fetches */
	uint64_t	 azc_timeout;	/* ms for a whole JWKS fetch */
	int64_t		 azc_cache;	/* verified tokens kept; 0 = none */
	uint64_t	 azc_max_size;	/* bytes of a JWKS body */
	char		*azc_ca_file;	/* https CA file; "" = system store */
};

/*
 * Key table for an <auth> element (see cfg.h); dst is struct authz_cfg.
 * jwks-url and issuer are required; audience "" (no check), leeway 60s,
 * refresh-min 10s, timeout 2s, cache 10000, max-jwks-size 256k, ca-file
 * "" (the system store).
 */
extern const struct cfg_key	authz_cfg_keys[];
extern const size_t		authz_cfg_nkeys;

/* Frees the strings cfg_read() stored in <cfg>; <cfg> is reusable. */
void	 authz_cfg_release(struct authz_cfg *cfg);

enum authz_res {
	AUTHZ_ANON = 0,		/* no bearer token */
	AUTHZ_OK,		/* token verified; the id is filled */
	AUTHZ_INVALID,		/* token refused; see ai_err, ai_why */
	AUTHZ_UNAVAILABLE,	/* a token, but no keys could be loaded to
				   verify it (JWKS unreachable since start) */
	AUTHZ_COUNT
};

const char	*authz_res_str(enum authz_res);

/*
 * The caller's identity. Every member is a copy except ai_claims, a
 * reference owned by the struct; authz_id_release() drops it. Only
 * AUTHZ_OK fills the identity; otherwise it stays empty (ai_sub "", no
 * roles) and the predicates answer 0.
 */
struct authz_id {
	char		 ai_sub[UUID_STR_LEN + 1];	/* lowercase UUID */
	char		 ai_roles[AUTHZ_ROLES_MAX][AUTHZ_ROLE_MAX + 1];
	size_t		 ai_nroles;	/* realm_access.roles, strings only */
	char		 ai_email[AUTHZ_CLAIM_MAX + 1];
	char		 ai_username[AUTHZ_CLAIM_MAX + 1];
					/* preferred_username */
	char		 ai_given_name[AUTHZ_CLAIM_MAX + 1];
	char		 ai_family_name[AUTHZ_CLAIM_MAX + 1];
	char		 ai_client[AUTHZ_CLAIM_MAX + 1];	/* azp */
	json_t		*ai_claims;	/* all claims; NULL unless AUTHZ_OK */
	enum jwt_err	 ai_err;	/* why jwt_verify refused the token
					   (JWT_E_KID for AUTHZ_UNAVAILABLE);
					   JWT_OK for other refusals */
	const char	*ai_why;	/* static text for a refused token:
					   error_description and message */
};

struct authz;

/*
 * Makes a checker from <cfg> (copied; <cfg> may be released afterwards).
 * Fetches nothing yet. Call it in each worker after the fork. Never NULL.
 */
struct authz	*authz_new(const struct authz_cfg *cfg);
/* Frees the keys, the cache and the checker; NULL is a no-op. */
void		 authz_free(struct authz *);

/*
 * Replaces the keys with copies of the public parts of <set> and clears
 * the cache, as a successful fetch would; later fetches (unknown kid) may
 * replace them again. For tests, and for a program that already holds
 * the keyset. 0, or -1 (keys unchanged) when a key cannot be copied.
 */
int	 authz_set_keys(struct authz *, const struct jwt_keyset *set);

/*
 * Fetches the JWKS now unless the last fetch started less than
 * refresh-min ago (<force> ignores that limit). Returns the number of keys
 * held afterwards, or -1 when the fetch failed or was skipped (the old
 * keys, if any, are kept). Logs only transitions: keys first loaded,
 * fetches failing (once per outage), fetches working again.
 */
int	 authz_refresh(struct authz *, int force);
/* Number of keys held. */
size_t	 authz_nkeys(const struct authz *);

/*
 * The core check. <hdr> is the Authorization header value (NULL: none);
 * <gw_sub> is the gateway's AUTH_SUB param (NULL: none). Fills <id>
 * (which the caller releases with authz_id_release in every case) and
 * returns:
 *	AUTHZ_ANON	no "Bearer" token, and no AUTH_SUB
 *	AUTHZ_OK	the token verifies, its sub is a UUID and matches
 *			<gw_sub> when that is given
 *	AUTHZ_INVALID	the token fails (ai_err says why), its sub is not
 *			a UUID, or <gw_sub> is present and differs from the
 *			token's sub (or is present without a token)
 *	AUTHZ_UNAVAILABLE the signing key is unknown and no keys at all
 *			could be fetched
 * May block in a JWKS fetch (see above). Never logs the token.
 */
enum authz_res	 authz_check_header(struct authz *, const char *hdr,
		    const char *gw_sub, struct authz_id *id);

/* authz_check_header() with the params HTTP_AUTHORIZATION and AUTH_SUB
 * of <req>. Does not respond. */
enum authz_res	 authz_check(struct authz *, struct app_req *req,
		    struct authz_id *id);

/* Drops the claims reference and empties <id>; an empty id is a no-op. */
void	 authz_id_release(struct authz_id *id);

/* --- predicates on a checked identity (0 for an empty one) --- */

/* Whether the token's realm_access.roles holds exactly <role>. */
int	 authz_has_role(const struct authz_id *id, const char *role);
/*
 * Whether <userid> is the caller's own id: <userid> must be a UUID (any
 * case) equal to ai_sub once lowercased. NULL or a non-UUID gives 0.
 */
int	 authz_is_self(const struct authz_id *id, const char *userid);

/*
 * --- rules that respond ---
 *
 * Each checks the token of <req> into <id> and applies one access level.
 * It returns 0 when the caller may go on (<id> filled; the caller
 * releases it), or -1 after responding (<id> left empty):
 *	401 "Missing access token", WWW-Authenticate: Bearer -- no token
 *	401 <why>, WWW-Authenticate: Bearer error="invalid_token",
 *	    error_description="<why>" -- a refused token
 *	503 "Access token cannot be verified now" -- AUTHZ_UNAVAILABLE
 *	400 "<field> is required" -- a self rule whose <userid> is NULL
 *	403 "Access Denied" -- the rule itself fails
 * in that order. The self rules do not check that <userid> is a UUID: a
 * non-UUID is simply not the caller (403). A handler that must answer 400
 * "Invalid UUID" validates it first.
 */
int	 authz_require_token(struct app_req *req, struct authz *az,
	    struct authz_id *id);
/*
 * Answers the 401 (missing or refused token, with WWW-Authenticate) or
 * 503 (keys unavailable) for a check result <res> other than AUTHZ_OK,
 * as the rules above do; <id> is the identity the check left.
 */
void	 authz_deny(struct app_req *req, const struct authz_id *id,
	    enum authz_res res);
/* A token whose roles hold <role> ("ADMIN", or "USER" for USER-role). */
int	 authz_require_role(struct app_req *req, struct authz *az,
	    struct authz_id *id, const char *role);
/* A token whose roles hold one of the <n> <roles>. */
int	 authz_require_any_role(struct app_req *req, struct authz *az,
	    struct authz_id *id, const char *const *roles, size_t n);
/* ADMIN, or sub equals <userid> (named <field> in the 400 message). */
int	 authz_require_admin_or_self(struct app_req *req, struct authz *az,
	    struct authz_id *id, const char *userid, const char *field);
/* sub equals <userid>; ADMIN is not exempt. */
int	 authz_require_self(struct app_req *req, struct authz *az,
	    struct authz_id *id, const char *userid, const char *field);
/* The USER role and sub equals <userid> (payment submission). */
int	 authz_require_user_self(struct app_req *req, struct authz *az,
	    struct authz_id *id, const char *userid, const char *field);

#endif
