/*
 * user: the user service (elp-user). Profiles live in the service's own
 * database; accounts, passwords and roles live in elp-auth and are reached
 * through its admin API (idp.c). Handlers in user.c implement
 * docs/contract/api.md 4.1.
 */
#ifndef ELP_USER_H
#define ELP_USER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "cfg.h"
#include "db.h"
#include "uuid.h"

#define USER_FIELD_MAX	255	/* bytes of a stored text field */

/* Settings of the <idp> element; read with idp_cfg_keys. */
struct idp_cfg {
	char		*ic_base_url;	/* admin listener, "http://host:port" */
	char		*ic_realm;	/* realm name */
	char		*ic_client_id;	/* confidential client */
	char		*ic_secret_file; /* first line is the client secret */
	uint64_t	 ic_timeout;	/* ms for one whole transfer */
	uint64_t	 ic_max_size;	/* bytes of one response body */
};

/* Key table for an <idp> element (see cfg.h); dst is struct idp_cfg. */
extern const struct cfg_key	idp_cfg_keys[];
extern const size_t		idp_cfg_nkeys;

/* Frees the strings cfg_read() stored in <cfg>. */
void	 idp_cfg_release(struct idp_cfg *cfg);

/* An account as sent to idp_user_create(). NULL members are left out. */
struct idp_user {
	const char	*iu_email;	/* lowercased */
	const char	*iu_first;
	const char	*iu_last;
	const char	*iu_password;
	const char	*iu_role;	/* "USER" or "ADMIN" */
};

/*
 * Every idp_* call below returns the HTTP status of the admin API's
 * answer (201, 204, 200, 400, 404, 409, ...), or IDP_UNAVAILABLE when no
 * answer came: the provider is unreachable or timed out, the gateway in
 * front of it answered 502, 503 or 504, or no client-credentials token
 * could be had (logged once per outage). <why>, when
 * not NULL, receives the provider's errorMessage of a failure answer.
 */
#define IDP_UNAVAILABLE	(-1)

struct idp;

/* Copies <cfg>; fetches nothing yet. Call it in each worker. */
struct idp	*idp_new(const struct idp_cfg *cfg);
void		 idp_free(struct idp *);

/*
 * Creates account <u> with <key> as its Idempotency-Key (NULL: none); on
 * 201 writes the new account id to <id>. A retry with the same key after
 * a lost answer gets the same 201 and id.
 */
int	 idp_user_create(struct idp *, const struct idp_user *u,
	    const char *key, char id[UUID_STR_LEN + 1], char *why,
	    size_t whylen);
/* Deletes account <id>: 204, or 404 when there is none. */
int	 idp_user_delete(struct idp *, const char *id);
/* Replaces the password of <id> (not temporary): 204, 400 or 404. */
int	 idp_user_password(struct idp *, const char *id, const char *pw,
	    char *why, size_t whylen);
/*
 * Reads account <id>: 200 with its representation in *<out> (a new
 * reference the caller drops), or 404.
 */
int	 idp_user_get(struct idp *, const char *id, json_t **out);
/* Sets first and last name of <id> (NULL clears to ""): 204 or 404. */
int	 idp_user_names(struct idp *, const char *id, const char *first,
	    const char *last);
/*
 * Lists the direct members of realm role <role>: 200 with a new array of
 * their ids (lowercase UUID strings) in *<out>.
 */
int	 idp_role_ids(struct idp *, const char *role, json_t **out);

/* Per-worker state, handed to every handler as r_ctx. */
struct user_svc {
	struct db	*us_db;		/* this worker's connection */
	struct authz	*us_az;		/* token checks */
	struct idp	*us_idp;	/* elp-auth admin API client */
	int		 us_events;	/* queue events for elp-messaging
					   (<messaging> configured) */
};

/* The route table served by elp-user. */
extern const struct app_route	user_routes[];
extern const size_t		user_nroutes;

/*
 * Whether <s> satisfies the email rule of docs/contract/api.md 5.1 (and fits in
 * a stored field). Compiles its expression on first use.
 */
int	 user_email_ok(const char *s);

#endif
