/*
 * svc: the main() of a FastCGI service. Parses "-c FILE" and "-t" (also
 * --config, --test, and --help and --version, which print and exit), loads
 * and checks the configuration (every error as file:line), sets the log
 * level, refuses a database older than the program (schema.h), initialises
 * libcurl once before any fork, runs the pool master, and on SIGHUP swaps
 * in a fresh configuration snapshot when it loads cleanly (keeping the
 * settings that only take effect at start).
 *
 * A service describes itself with a struct svc_def; its configuration is
 * one struct of sd_size bytes that svc_main() owns. Workers get a pointer
 * to it: the snapshot current when they were forked.
 */
#ifndef ELP_SVC_H
#define ELP_SVC_H

#include <stddef.h>

#include "app.h"
#include "cfg.h"
#include "db.h"
#include "pool.h"
#include "schema.h"

struct svc_def {
	const char	*sd_prog;	/* "elp-course" */
	const char	*sd_conf;	/* default configuration path */
	size_t		 sd_size;	/* bytes of the configuration struct */
	/* Reads a loaded document into the zeroed struct <cfg>; reports
	 * problems with cfg_error(), which counts them. */
	void		(*sd_read)(struct cfg_doc *cd, void *cfg);
	/* Frees what sd_read stored; <cfg> is zeroed afterwards. */
	void		(*sd_release)(void *cfg);
	/* The <pool> settings and the log level inside <cfg>. */
	struct pool_cfg	*(*sd_pool)(void *cfg);
	const char	*(*sd_level)(void *cfg);
	/* Serves on <fd> (pool_worker_fn); <cfg> is the snapshot. */
	int		(*sd_worker)(int fd, void *cfg);
	/* Optional: runs a command (operands after the options) instead of
	 * serving, and returns the exit status. NULL: no operands allowed. */
	int		(*sd_command)(void *cfg, int argc, char *argv[]);
	/* Optional: the synopsis of those commands for the usage line;
	 * NULL: "[command ...]". */
	const char	*sd_operands;
	/* Optional: last checks before serving; -1 stops the program. */
	int		(*sd_prepare)(void *cfg);
	/* Optional: the pool's background process (pool_bg_fn); <cfg> is
	 * the snapshot current when it was forked. NULL: none. */
	int		(*sd_background)(void *cfg);
	/* Optional: the <database> settings inside <cfg>, and the
	 * migrations the program needs (&schema_app). With both set, the
	 * master refuses to serve (exit SCHEMA_EXIT) while the database
	 * lacks one of them; an unreachable database is not checked. */
	struct db_cfg	*(*sd_db)(void *cfg);
	const struct schema_set	*sd_schema;
};

/* One element of a service configuration and where its keys go. */
struct svc_section {
	const char		*ss_name;	/* NULL: the root element */
	const struct cfg_key	*ss_keys;
	const size_t		*ss_nkeys;
	size_t			 ss_off;	/* offset of its key struct */
	int			 ss_required;	/* 1 required; 0 optional, with
						   defaults when absent; -1
						   optional, left empty */
};

/*
 * Reads the sections <sec> (<n> of them) of the loaded document <cd> into
 * <cfg>, applying defaults to absent optional ones and reporting missing
 * required ones. Errors are counted in <cd>.
 */
void	 svc_read_sections(struct cfg_doc *cd, const struct svc_section *sec,
	    size_t n, void *cfg);
/* Frees what svc_read_sections() stored in <cfg>. */
void	 svc_release_sections(const struct svc_section *sec, size_t n,
	    void *cfg);
/*
 * Checks the root's name attribute against <want> and the log level
 * <level> (either may be NULL when unset), reporting errors in <cd>.
 */
void	 svc_check_common(struct cfg_doc *cd, const char *name,
	    const char *want, const char *level);

/*
 * Loads <path> (schema service.xsd beside it or in ../schema) into <cfg>
 * through def->sd_read. Returns 0, or -1 with every error logged and
 * <cfg> released.
 */
int	 svc_load(const struct svc_def *def, const char *path, void *cfg);

/*
 * GET /health of a service (what the gateway's health checks call): 200
 * {"status":"UP","database":"UP"} when <db> answers a ping, else 503
 * "Database unavailable" (a failure other than an unreachable server is
 * logged).
 */
void	 svc_health(struct app_req *req, struct db *db);

/* The whole life of the program; returns its exit status. */
int	 svc_main(const struct svc_def *def, int argc, char *argv[]);

#endif
