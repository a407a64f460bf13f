/*
 * reg: self-registration of a pool with elp-confd's registry
 * (<register> in a service's configuration; docs/contract and
 * conf/README.md "Registry").
 *
 * The pool master forks a registrar process once its socket listens
 * (pool_fns.pf_register). The registrar POSTs {url}/{service} with the
 * address, maxconn, weight and lease length, keeps the lease id it gets,
 * renews it with PUT {url}/{service}/{leaseId} at a third of the lease,
 * registers again with POST when the registry answers 404 (the lease
 * expired or the registry lost it), and retries with a doubling backoff
 * (1 s up to backoff-max) while the registry is unreachable or refuses.
 * On SIGTERM it deletes its lease (DELETE {url}/{service}/{leaseId}),
 * waits drain-delay (the time gateways take to see leases.xml change) and
 * exits: the pool master waits for that before its workers start to
 * drain, so the gateway stops sending new requests first. With token-url,
 * client-id and secret-file every call carries a client-credentials
 * token (svcc.h). Nothing here ever blocks serving.
 */
#ifndef ELP_REG_H
#define ELP_REG_H

#include <stdint.h>

#include "cfg.h"
#include "pool.h"

struct reg_cfg {
	char		*rc_service;
	char		*rc_address;	/* "" until defaulted to the listen
					   address */
	int64_t		 rc_maxconn;	/* 0 until defaulted to the pool's
					   max children (pool_cfg_max_children) */
	int64_t		 rc_weight;
	uint64_t	 rc_lease;	/* ms */
	char		*rc_url;
	char		*rc_token_url;	/* "": no token */
	char		*rc_client;
	char		*rc_secret_file;
	uint64_t	 rc_timeout;	/* ms per call */
	uint64_t	 rc_backoff_max; /* ms */
	uint64_t	 rc_drain_delay; /* ms between the DELETE and the
					   drain */
};

/*
 * Reads <register> of a loaded service configuration, if present, into
 * <rc>, defaulting address and maxconn from <pool>. Problems are reported
 * with cfg_error() (counted in <cd>). Returns 1 when the element is there,
 * 0 when it is not (<rc> then zeroed), -1 when it is there but wrong.
 */
int	 reg_read(struct cfg_doc *cd, const struct pool_cfg *pool,
	    struct reg_cfg *rc);
/* Frees the strings of <rc>. */
void	 reg_release(struct reg_cfg *rc);
/*
 * The registrar's life (a pool_bg_fn body): registers, renews, retries,
 * and deregisters once pool_should_stop(). Returns the exit status.
 */
int	 reg_run(const struct reg_cfg *rc);

#endif
