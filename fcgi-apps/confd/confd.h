/*
 * confd: the configuration and discovery daemon (elp-confd), private
 * header.
 *
 * The pool's workers answer GET /config (the effective configuration of
 * a service under a profile, published by the background process) and
 * the /registry API (leases of self-registered instances, kept in
 * leases.xml). The background process watches conf/ with inotify,
 * validates every file with the programs' own -t, publishes a new
 * version when all of them pass and signals the gateway and the pools
 * whose configuration changed; it also sweeps expired leases.
 *
 * Files and prefixes: main.c (configuration, pool), api.c (api_: the
 * HTTP API), merge.c (merge_: profile merge, JSON form), lease.c (lease_:
 * the lease store), check.c (check_: running the checkers), watch.c
 * (watch_: the background process).
 */
#ifndef ELP_CONFD_H
#define ELP_CONFD_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <libxml/tree.h>

#include "authz.h"
#include "buf.h"
#include "pool.h"

#define CONFD_NAME_MAX	32	/* bytes of a service or profile name */
#define CONFD_ADDR_MAX	108	/* bytes of an address, NUL included */
#define CONFD_ID_LEN	32	/* hex digits of a lease id */
#define CONFD_REASONS_MAX 200	/* reasons kept of one refused version */
#define CONFD_FILE_MAX	(4 * 1024 * 1024) /* bytes of a file read whole */

/* <publish>: what the watcher reads and where it publishes. */
struct publish_cfg {
	char		*pc_dir;	/* conf/: services/, profiles/ */
	char		*pc_gateway;	/* gateway.xml */
	char		*pc_state;	/* published versions, state.json */
	char		*pc_bin;	/* the checkers; "" = own directory */
	uint64_t	 pc_debounce;	/* ms of quiet before a check */
	uint64_t	 pc_timeout;	/* ms one checker may take */
};

/* <leases>: the registry. */
struct lease_cfg {
	char		*lc_file;	/* leases.xml */
	char		*lc_static;	/* services.xml */
	char		*lc_run_dir;	/* unix addresses must be under it */
	char		*lc_role;	/* realm role of a registering client */
	uint64_t	 lc_min_lease;	/* ms */
	uint64_t	 lc_max_lease;	/* ms */
	int64_t		 lc_max_leases;
	int64_t		 lc_max_maxconn;
	int64_t		 lc_max_weight;
	uint64_t	 lc_sweep;	/* ms between expiry sweeps */
	char		*lc_sp;		/* self-preservation share, "0.5" */
	double		 lc_share;	/* parsed lc_sp */
	int64_t		 lc_sp_min;	/* leases needed for it to apply */
	uint64_t	 lc_window;	/* ms an expired lease waits */
};

struct confd_cfg {
	char		*cc_name;
	char		*cc_level;
	uint64_t	 cc_max_body;
	struct pool_cfg	 cc_pool;
	struct authz_cfg cc_auth;
	struct publish_cfg cc_pub;
	struct lease_cfg cc_lease;
};

/* One lease, as in leases.xml. */
struct lease {
	char		 l_service[CONFD_NAME_MAX + 1];
	char		 l_address[CONFD_ADDR_MAX];
	int64_t		 l_maxconn;
	int64_t		 l_weight;
	int64_t		 l_lease;	/* seconds a renewal adds */
	char		 l_id[CONFD_ID_LEN + 1];
	time_t		 l_expires;	/* epoch seconds */
	int		 l_drain;	/* state="drain" */
};

/* The whole file. */
struct lease_set {
	struct lease	*ls_v;
	size_t		 ls_n;
	size_t		 ls_cap;
	uint64_t	 ls_version;
};

/* merge.c */
/*
 * Whether <s> is a service or profile name: [a-z][a-z0-9_-]{0,31}.
 */
int	 merge_name_ok(const char *s);
/*
 * Merges profile document <prof> (root <profile>) into service document
 * <base> (root <service name=S>) in place: the <service name=S> element
 * of the profile, if any, is applied to the root (see conf/README.md,
 * "Profiles"). Returns 1 when the profile touched <base>, 0 when it has
 * no section for S.
 */
int	 merge_apply(xmlDocPtr base, xmlDocPtr prof);
/*
 * Rewrites, in every attribute of <doc>, a relative file reference
 * ("./", "../", "unix:./", "unix:../") into an absolute one resolved
 * against the directory of <file>, the document's source.
 */
void	 merge_absolute(xmlDocPtr doc, const char *file);
/* The JSON element tree of <node>: {"name","attributes","children"}. */
json_t	*merge_to_json(xmlNodePtr node);
/* Reads file <path> without network or entities; NULL when unparsable. */
xmlDocPtr merge_read(const char *path);
/* SHA-256 of <len> bytes at <p> as 64 lowercase hex digits in <out>. */
void	 merge_sha256(const void *p, size_t len, char out[65]);
/* Current time as RFC 3339 UTC ("2026-12-06T13:00:00Z") into <out>. */
void	 merge_time_str(time_t t, char out[32]);
/*
 * Writes <len> bytes to <path> atomically: a temporary file ".NAME.tmp"
 * in the same directory, fsync, rename, fsync of the directory. Returns 0,
 * or -1 with errno set (the temporary file removed).
 */
int	 merge_write_atomic(const char *path, const void *p, size_t len);

/* lease.c */
/* Takes the exclusive lock of <file>'s lock file; returns its fd or -1. */
int	 lease_lock(const char *file);
/* Releases a lock taken by lease_lock(). */
void	 lease_unlock(int fd);
/*
 * Reads <file> into the empty <set>; a missing file is an empty set.
 * Returns 0, or -1 (logged) when it cannot be read or parsed.
 */
int	 lease_load(const char *file, struct lease_set *set);
/* Increments the version and writes <set> to <file> atomically. */
int	 lease_save(const char *file, struct lease_set *set);
void	 lease_set_release(struct lease_set *set);
/* The lease of <service> with id <id>, or NULL. Borrowed. */
struct lease	*lease_find(struct lease_set *set, const char *service,
		    const char *id);
/* The lease of <service> at <address>, or NULL. Borrowed. */
struct lease	*lease_byaddr(struct lease_set *set, const char *service,
		    const char *address);
/* Appends a zeroed lease and returns it (may move ls_v). */
struct lease	*lease_add(struct lease_set *set);
/* Removes the lease at <l> (a pointer into <set>). */
void	 lease_del(struct lease_set *set, struct lease *l);
/*
 * Checks address <addr> against the rule of the interface: "unix:" and
 * an absolute path under <run_dir> (no "..", no "//", characters from
 * [A-Za-z0-9._/-]), or a literal IPv4 or [IPv6] address and a port in
 * 1..65535. Returns 0, or -1 with a static reason in *<why>.
 */
int	 lease_addr_ok(const char *addr, const char *run_dir,
	    const char **why);
/* Fills <id> with 32 random lowercase hex digits; 0 or -1. */
int	 lease_new_id(char id[CONFD_ID_LEN + 1]);
/*
 * Adds the instances of static registry <file> (services.xml) to
 * <arr> as {"service","address","maxconn","weight","static":true}
 * objects, addresses resolved against <file>. Returns 0, or -1 when it
 * cannot be read.
 */
int	 lease_static(const char *file, json_t *arr);
/* Whether <service> <address> is a static instance of <file>. */
int	 lease_is_static(const char *file, const char *service,
	    const char *address);

/* check.c */
/*
 * Runs <argv> (argv[0] a path) with stdout and stderr captured, killing
 * it after <timeout> ms. Each output line, prefixed with <tag> when not
 * NULL, is appended to <lines> as a JSON string. Returns the exit status
 * (0 = passed), or -1 when it could not run or was killed.
 */
int	 check_run(char *const argv[], uint64_t timeout, const char *tag,
	    json_t *lines);

/* watch.c */
/* The background process: watcher and lease sweeper. Returns on stop. */
int	 watch_run(const struct confd_cfg *cc);
/* Path of the state file in <cc>'s state directory (heap). */
char	*watch_state_path(const struct confd_cfg *cc);
/* The JSON object in the state file <path> (freed here), or an empty one
 * when it is missing or not an object. */
json_t	*watch_load_json(char *path);
/* Path of the registry state file (self-preservation) (heap). */
char	*watch_reg_path(const struct confd_cfg *cc);

/* api.c */
extern const struct app_route	api_routes[];
extern const size_t		api_nroutes;

/* Per-worker state, the app's context. */
struct confd_svc {
	const struct confd_cfg	*cs_cfg;
	struct authz		*cs_az;
};

#endif
