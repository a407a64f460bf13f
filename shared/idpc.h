/*
 * idpc: the client of elp-auth's admin API (fcgi-apps/auth/README.md,
 * "Admin API"), shared by elp-user (accounts, passwords, names, role
 * members) and elp-messaging (recipients by id and by role). Transfers,
 * the client-credentials token and the secret file are libelp's service
 * client (svcc.h, over http.h); this module knows the URLs, the <idp>
 * settings and the shapes of the answers.
 *
 * Every idpc_* call returns the HTTP status of the admin API's answer
 * (201, 204, 200, 400, 404, 409, ...), or IDPC_UNAVAILABLE when no
 * answer came: the provider is unreachable or timed out, the gateway in
 * front of it answered 502, 503 or 504, or no client-credentials token
 * could be had (logged once per outage). An answer of the wrong shape is
 * 502. <why>, when not NULL, receives the provider's errorMessage of a
 * failure answer.
 */
#ifndef ELP_IDPC_H
#define ELP_IDPC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cfg.h"
#include "uuid.h"

/* Settings of the <idp> element; read with idpc_cfg_keys. */
struct idpc_cfg {
	char		*ic_base_url;	/* admin listener, "http://host:port" */
	char		*ic_realm;	/* realm name */
	char		*ic_client_id;	/* confidential client; "": the
					   program's default */
	char		*ic_secret_file; /* first line is the client secret */
	uint64_t	 ic_timeout;	/* ms for one whole transfer */
	uint64_t	 ic_max_size;	/* bytes of one response body */
	char		*ic_ca_file;	/* https CA file; "" = system store */
};

/*
 * Key table for an <idp> element (see cfg.h); dst is struct idpc_cfg.
 * base-url and secret-file are required; realm e-learning-platform,
 * client-id "" (the default idpc_new() is given), timeout 5s (1ms..10m),
 * max-response 1m (1k..64m), ca-file "" (the system store).
 */
extern const struct cfg_key	idpc_cfg_keys[];
extern const size_t		idpc_cfg_nkeys;

/* Frees the strings cfg_read() stored in <cfg>. */
void	 idpc_cfg_release(struct idpc_cfg *cfg);

/* An account as sent to idpc_user_create(). NULL members are left out. */
struct idpc_user {
	const char	*iu_email;	/* lowercased */
	const char	*iu_first;
	const char	*iu_last;
	const char	*iu_password;
	const char	*iu_role;	/* "USER" or "ADMIN" */
};

#define IDPC_UNAVAILABLE	(-1)

struct idpc;

/*
 * Copies <cfg>; <def_client> is the client id used when <cfg> names none
 * (elp-user: "elp-user"). Fetches nothing yet: call it in each worker,
 * after the fork. Never NULL.
 */
struct idpc	*idpc_new(const struct idpc_cfg *cfg, const char *def_client);
/* Frees the client and its token; NULL is a no-op. */
void		 idpc_free(struct idpc *);

/*
 * Creates account <u> with <key> as its Idempotency-Key (NULL: none); on
 * 201 writes the new account id to <id>. A retry with the same key after
 * a lost answer gets the same 201 and id.
 */
int	 idpc_user_create(struct idpc *, const struct idpc_user *u,
	    const char *key, char id[UUID_STR_LEN + 1], char *why,
	    size_t whylen);
/* Deletes account <id>: 204, or 404 when there is none. */
int	 idpc_user_delete(struct idpc *, const char *id);
/* Replaces the password of <id> (not temporary): 204, 400 or 404. */
int	 idpc_user_password(struct idpc *, const char *id, const char *pw,
	    char *why, size_t whylen);
/*
 * idpc_user_password() on behalf of a caller: <token> is the caller's
 * access token (elp-auth decides from it whether this is a self change or
 * an admin reset, and which session survives), <current> the current
 * password or NULL. 204; 400 (rule) or 403 (current password missing or
 * wrong, or caller not allowed) with the reason in <why>; 404; 429
 * (no password-hashing slot free: retry shortly).
 */
int	 idpc_user_password_as(struct idpc *, const char *id, const char *pw,
	    const char *current, const char *token, char *why, size_t whylen);
/*
 * Reads account <id>: 200 with its representation (an object) in *<out>
 * (a new reference the caller drops), or another status with *<out> NULL.
 */
int	 idpc_user_get(struct idpc *, const char *id, json_t **out);
/* Sets first and last name of <id> (NULL clears to ""): 204 or 404. */
int	 idpc_user_names(struct idpc *, const char *id, const char *first,
	    const char *last);
/*
 * The direct members of realm role <role>: 200 with the array of their
 * account representations in *<out> (a new reference the caller drops),
 * or another status with *<out> NULL.
 */
int	 idpc_role_users(struct idpc *, const char *role, json_t **out);
/*
 * The same members as a new array of their ids (lowercase UUID strings;
 * members without a usable id are skipped) in *<out>.
 */
int	 idpc_role_ids(struct idpc *, const char *role, json_t **out);

#endif
