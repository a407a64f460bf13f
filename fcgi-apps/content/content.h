/*
 * elp-content: the content service (docs/contract/api.md 4.5, 4.6). Uploads are
 * streamed to disk; downloads are authorized here and served by the
 * gateway from the same directory (X-Accel-Redirect).
 */
#ifndef ELP_CONTENT_H
#define ELP_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#include <magic.h>

#include "app.h"
#include "authz.h"
#include "db.h"
#include "media.h"
#include "pool.h"

#define CONTENT_SNIFF	8192	/* leading bytes libmagic looks at */

/* One configuration snapshot (conf/services/content.xml). */
struct content_cfg {
	char		*cc_name;	/* <service name>, must be "content" */
	char		*cc_level;	/* <log level> */
	struct pool_cfg	 cc_pool;
	struct db_cfg	 cc_db;
	struct authz_cfg cc_auth;	/* azc_jwks_url NULL when absent */
	char		*cc_root;	/* <storage root> */
	uint64_t	 cc_max_file;	/* bytes */
	uint64_t	 cc_max_request; /* bytes */
	int64_t		 cc_max_files;
	int64_t		 cc_max_parts;
	char		*cc_types;	/* space-separated MIME types */
	int		 cc_file_mode;
	int		 cc_fsync;
	char		*cc_ma_url;	/* <media-access url>, NULL: none */
	uint64_t	 cc_ma_timeout;	/* ms */
	uint64_t	 cc_ma_cache;	/* ms */
	char		*cc_ma_ca_file;	/* <media-access ca-file>, "": system */
	int64_t		 cc_quota_files; /* <quota files-per-day>, 0: none */
	uint64_t	 cc_quota_bytes; /* <quota bytes-per-day>, 0: none */
	uint64_t	 cc_sw_grace;	/* <sweep grace>, ms */
	uint64_t	 cc_sw_timeout;	/* <sweep timeout>, ms */
	char		*cc_sw_manifest; /* <sweep manifest>, "": none */
	char		*cc_sw_refs;	/* <sweep refs>: URLs, "": none */
	int64_t		 cc_sw_page;	/* <sweep page-size>: names a page */
	int64_t		 cc_sw_pages;	/* <sweep max-pages>: pages a list */
	/* Derived when loaded: the accepted types. */
	const struct media_type *cc_allowed[16];
	size_t		 cc_nallowed;
};

/* What the media rule says about one file for one caller. */
enum access_verdict {
	ACCESS_PUBLIC = 0,	/* no lecture names the file */
	ACCESS_GRANTED,
	ACCESS_TOKEN,		/* lecture media, no valid token: 401 */
	ACCESS_DENIED,		/* lecture media, not enrolled: 403 */
	ACCESS_UNKNOWN,		/* the rule could not be asked: 503 */
	ACCESS_COUNT
};

struct access;

/* Per-worker state, handed to every handler as r_ctx. */
struct content_svc {
	const struct content_cfg *cs_cfg;
	struct db	*cs_db;
	struct authz	*cs_az;		/* NULL without <auth> */
	magic_t		 cs_magic;
	int		 cs_rootfd;	/* O_DIRECTORY of cc_root */
	int		 cs_tmpfile;	/* O_TMPFILE + linkat usable */
	struct access	*cs_access;	/* NULL without <media-access> */
};

extern const struct app_route	content_routes[];
extern const size_t		content_nroutes;

/* upload.c: POST /content. */
void	 upload_post(struct app_req *req);
/*
 * Removes temporary files a killed worker left in <rootfd> when O_TMPFILE
 * was not available (".upload-*"). Called by the master before serving.
 */
void	 upload_sweep(int rootfd);
/* Whether O_TMPFILE files can be created in <rootfd> and linked. */
int	 upload_tmpfile_ok(int rootfd);

/* serve.c: the downloads. */
void	 serve_static(struct app_req *req);
void	 serve_stream(struct app_req *req);
/*
 * The MIME type of an open file, from its leading bytes: a known type's
 * name or "application/octet-stream". <buf> is CONTENT_SNIFF bytes.
 */
const char	*serve_sniff(magic_t m, const char *buf, size_t len);

/* access.c: the media rule, asked of the course service and cached. */
struct access	*access_new(const struct content_cfg *cfg);
void		 access_free(struct access *);
/*
 * The verdict for file <name> and the caller whose Authorization header
 * is <authz> (NULL: none) and whose verified subject is <sub> ("" for an
 * anonymous or unverified caller; the cache key).
 */
enum access_verdict	 access_check(struct access *, const char *name,
			    const char *authz, const char *sub);
const char		*access_verdict_str(enum access_verdict);

/* quota.c */
/*
 * Before reading an upload: answers 429 and returns -1 when user <sub>
 * has used the whole of a daily quota already; else 0 (also when the
 * database cannot say: quota_take() decides).
 */
int	 quota_precheck(struct content_svc *, struct app_req *,
	    const char *sub);
/*
 * Inside the transaction that records an upload: adds <files> and
 * <bytes> to user <sub>'s count of the day under a row lock. Returns 0,
 * 1 after answering 429 (over a quota: the caller rolls back), or -1 on a
 * database failure (db_error() set, nothing answered).
 */
int	 quota_take(struct content_svc *, struct app_req *, const char *sub,
	    uint64_t files, uint64_t bytes);

/* sweep.c */
/*
 * The sweep command: removes the stored files no reference list names,
 * that are not in the manifest and are older than the grace period.
 * Removes nothing when a list or the manifest cannot be read. Returns the
 * exit status (0, or 1 after logging why).
 */
int	 sweep_run(const struct content_cfg *);

#endif
