/*
 * notify: how a service posts events to elp-messaging's internal API
 * (fcgi-apps/messaging/README.md), configured by an optional <messaging>
 * element. An event is a JSON object {"eventId", "type", ...fields};
 * elp-messaging stores one notification per recipient, idempotently per
 * eventId.
 *
 * Delivery is best effort and never fails the caller's request: the post
 * happens after the caller's own transaction committed, is bounded by the
 * configured timeout, is sent a second time with the same eventId when the
 * first try got no answer (the receiver deduplicates), and a failure is
 * logged as a warning naming the event. An event whose two tries both got
 * no answer is lost: at most once on the sender's side.
 */
#ifndef ELP_NOTIFY_H
#define ELP_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cfg.h"
#include "uuid.h"

/* Settings of a <messaging> element; read with notify_cfg_keys. */
struct notify_cfg {
	char		*nc_url;	/* base of the internal API */
	char		*nc_token_url;	/* token endpoint of the realm */
	char		*nc_client_id;	/* confidential client */
	char		*nc_secret_file; /* its secret */
	uint64_t	 nc_timeout;	/* ms per transfer */
};

/*
 * Key table for a <messaging> element (see cfg.h); dst is struct
 * notify_cfg. url, token-url, client-id and secret-file are required;
 * timeout 2s (1ms..1m).
 */
extern const struct cfg_key	notify_cfg_keys[];
extern const size_t		notify_cfg_nkeys;

/* Frees the strings cfg_read() stored in <cfg>. */
void	 notify_cfg_release(struct notify_cfg *cfg);

struct notify;

/* Copies <cfg>; fetches nothing yet. Call it in each worker. */
struct notify	*notify_new(const struct notify_cfg *cfg);
/* Frees it; NULL is a no-op. */
void		 notify_free(struct notify *);

/*
 * Posts event <type> with the members of <fields> (borrowed; it must not
 * hold eventId or type) under a new eventId, written to <id> when <id> is
 * not NULL. Returns 0 when elp-messaging accepted it (2xx), -1 when it
 * refused it or could not be reached (logged as a warning with the event
 * id and type, never the token). A NULL <n> does nothing and returns -1.
 */
int	 notify_post(struct notify *n, const char *type, json_t *fields,
	    char id[UUID_STR_LEN + 1]);

#endif
