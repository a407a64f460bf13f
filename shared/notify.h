/*
 * notify: how a service posts events to elp-messaging's internal API
 * (fcgi-apps/messaging/README.md), configured by an optional <messaging>
 * element. An event is a JSON object {"eventId", "type", ...fields};
 * elp-messaging stores one notification per recipient, idempotently per
 * eventId. Services do not post from their handlers: they queue events in
 * their own database (libelp evq) and a background process posts them.
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
	uint64_t	 nc_poll;	/* ms between looks at an idle queue */
	uint64_t	 nc_backoff_max; /* ms, longest wait between tries */
	char		*nc_ca_file;	/* https CA file; "" = system store */
};

/*
 * Key table for a <messaging> element (see cfg.h); dst is struct
 * notify_cfg. url, token-url, client-id and secret-file are required;
 * timeout 2s (1ms..1m), poll 1s (10ms..1h), backoff-max 5m (1s..1d),
 * ca-file "" (the system store).
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
 * Posts <event> (the whole object, eventId and type included). Returns
 * the HTTP status, or SVCC_UNAVAILABLE when no answer came (logged on
 * transitions by svcc, never with the token).
 */
int	 notify_send(struct notify *n, json_t *event);

#endif
