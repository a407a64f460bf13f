/*
 * messaging: the messaging service (elp-messaging), private header.
 *
 * Other services post events to the internal API (event.c); each event
 * becomes one notification per recipient and, for a recipient with an
 * e-mail address, one outbox row in the same transaction. Users read and
 * mark their notifications through the public API (api.c). A background
 * process of the pool (outbox.c) delivers the outbox by SMTP (smtp.c).
 * Recipients and their addresses come from elp-auth's admin API (rcpt.c).
 * Files and prefixes: api.c (msg_: routes, shared helpers, public API),
 * event.c (event_), rcpt.c (rcpt_), outbox.c (outbox_), libelp smtp.c (smtp_),
 * main.c (configuration, templates, pool).
 */
#ifndef ELP_MESSAGING_H
#define ELP_MESSAGING_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "idpc.h"
#include "pool.h"
#include "smtp.h"
#include "tmpl.h"
#include "uuid.h"

#define MSG_TITLE_MAX	1000	/* bytes of a stored title/subject */
#define MSG_ERROR_MAX	500	/* bytes of a stored last_error */

/* The event types of the internal API. */
enum event_type {
	EV_PAY_SUBMITTED = 0,	/* payment.submitted: every ADMIN */
	EV_PAY_APPROVED,	/* payment.approved: the payer */
	EV_PAY_REJECTED,	/* payment.rejected: the payer */
	EV_USER_REGISTERED,	/* user.registered: the new user */
	EV_COUNT
};

/* "payment.submitted", ...; NULL past the end. */
const char	*event_type_str(enum event_type);
/* The type named <s>, or -1. */
int		 event_type_byname(const char *s);
/*
 * The placeholders templates of <t> may use, <n> of them. Their values
 * are set by event_values() in the same order.
 */
const char *const *event_names(enum event_type t, size_t *n);

/* <events>: the internal API. */
struct events_cfg {
	char		*ec_role;	/* realm role a caller must hold */
	char		*ec_admin_role;	/* recipients of payment.submitted */
	int64_t		 ec_max_rcpt;	/* recipients per event */
};

/* <outbox>: the delivery loop. */
struct outbox_cfg {
	uint64_t	 oc_poll;	/* ms between looks at an idle queue */
	uint64_t	 oc_lease;	/* ms a claimed row stays claimed */
	int64_t		 oc_max_attempts;
	uint64_t	 oc_backoff_base; /* ms */
	uint64_t	 oc_backoff_max;  /* ms */
	uint64_t	 oc_keep;	/* ms a sent row is kept; 0: always */
};

/* One configuration snapshot. */
struct msg_cfg {
	char		*mc_name;	/* <service name>, "messaging" */
	char		*mc_level;	/* <log level> */
	struct pool_cfg	 mc_pool;
	struct db_cfg	 mc_db;
	uint64_t	 mc_max_body;	/* <limits max-body> */
	int64_t		 mc_max_page;	/* <limits max-page-size> */
	struct authz_cfg mc_auth;
	struct idpc_cfg	 mc_rcpt;	/* <idp> */
	struct events_cfg mc_events;
	struct smtp_cfg	 mc_smtp;
	struct outbox_cfg mc_outbox;
	char		*mc_tmpl_dir;	/* <templates dir> */
	struct tmpl	 mc_tmpl[EV_COUNT]; /* loaded from mc_tmpl_dir */
};

/* Per-worker state, handed to every handler as r_ctx. */
struct msg_svc {
	const struct msg_cfg *ms_cfg;
	struct db	*ms_db;
	struct authz	*ms_az;
	struct idpc	*ms_idp;	/* elp-auth admin API */
};

/* A recipient (or the subject user of an event). */
struct rcpt {
	char	 r_id[UUID_STR_LEN + 1];
	char	*r_email;	/* NULL: none usable */
	char	*r_name;	/* "First Last", or the e-mail, or "" */
};

/* --- api.c --- */

extern const struct app_route	msg_routes[];
extern const size_t		msg_nroutes;

/*
 * Answers a failed database call (<what> failed): 503 when the server is
 * unreachable, else 500 with the details in the log only.
 */
void	 msg_db_fail(struct app_req *req, struct msg_svc *ms,
	    const char *what);

/* --- event.c --- */

/* POST /internal/events. */
void	 event_post(struct app_req *req);

/* --- rcpt.c --- */

/* Makes the admin API client of <ms> from <cfg> (<idp>, idpc.h). */
void	 rcpt_open(struct msg_svc *ms, const struct idpc_cfg *cfg);
/* Frees what rcpt_open() made. */
void	 rcpt_close(struct msg_svc *ms);

/*
 * Looks account <id> up into <out> (the caller releases it with
 * rcpt_release). Returns 200, 404 when there is none, or IDPC_UNAVAILABLE
 * / another status when elp-auth could not answer.
 */
int	 rcpt_user(struct msg_svc *ms, const char *id, struct rcpt *out);
/*
 * The members of realm role <role>, at most <max>, into a new array
 * *<out> of *<n> entries (each released with rcpt_release, then the
 * array freed). Returns 200 or the failing status.
 */
int	 rcpt_role(struct msg_svc *ms, const char *role, size_t max,
	    struct rcpt **out, size_t *n);
void	 rcpt_release(struct rcpt *r);

/* --- outbox.c --- */

/* Key table of <outbox>; dst is struct outbox_cfg. */
extern const struct cfg_key	outbox_cfg_keys[];
extern const size_t		outbox_cfg_nkeys;

/*
 * The background process (pool_bg_fn through svc): delivers due outbox
 * rows until pool_should_stop(). Returns its exit code.
 */
int	 outbox_run(const struct msg_cfg *mc);

#endif
