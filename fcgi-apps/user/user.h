/*
 * user: the user service (elp-user). Profiles live in the service's own
 * database; accounts, passwords and roles live in elp-auth and are reached
 * through its admin API (libelp idpc.h). Handlers in user.c implement
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
#include "idpc.h"
#include "uuid.h"

#define USER_FIELD_MAX	255	/* bytes of a stored text field */

/* Per-worker state, handed to every handler as r_ctx. */
struct user_svc {
	struct db	*us_db;		/* this worker's connection */
	struct authz	*us_az;		/* token checks */
	struct idpc	*us_idp;	/* elp-auth admin API client */
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
