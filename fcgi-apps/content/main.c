/*
 * elp-content: the content service's pool master and workers.
 *
 *   elp-content [-t] [-c conf/services/content.xml]
 *
 * -t checks the configuration and exits 0 (valid) or 1 (invalid).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "app.h"
#include "authz.h"
#include "cfg.h"
#include "content.h"
#include "db.h"
#include "log.h"
#include "mrefs.h"
#include "pool.h"
#include "svc.h"
#include "util.h"

#define CONTENT_PROG	"elp-content"
#define CONTENT_CONF	"conf/services/content.xml"

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct content_cfg, field) }

static const struct cfg_key service_keys[] = {
	K("name", CFG_T_STR, NULL, 0, 0, cc_name),
};

static const struct cfg_key log_keys[] = {
	K("level", CFG_T_STR, "info", 0, 0, cc_level),
};

static const struct cfg_key storage_keys[] = {
	K("root", CFG_T_PATH, NULL, 0, 0, cc_root),
	K("max-file", CFG_T_SIZE, "1000m", 1, INT64_C(1) << 40, cc_max_file),
	K("max-request", CFG_T_SIZE, "1000m", 1, INT64_C(1) << 40,
	    cc_max_request),
	K("max-files", CFG_T_INT, "20", 1, 1000, cc_max_files),
	K("max-parts", CFG_T_INT, "64", 1, 10000, cc_max_parts),
	K("types", CFG_T_STR, "image/jpeg image/png image/gif image/webp "
	    "video/mp4 video/webm video/ogg", 0, 0, cc_types),
	K("file-mode", CFG_T_OCTAL, "0640", 0, 0, cc_file_mode),
	K("fsync", CFG_T_BOOL, "yes", 0, 0, cc_fsync),
};

static const struct cfg_key access_keys[] = {
	K("url", CFG_T_STR, NULL, 0, 0, cc_ma_url),
	K("timeout", CFG_T_DURATION, "2s", 1, 600000, cc_ma_timeout),
	K("cache", CFG_T_DURATION, "5s", 0, 3600000, cc_ma_cache),
	K("ca-file", CFG_T_PATH, "", 0, 0, cc_ma_ca_file),
};

static const struct cfg_key quota_keys[] = {
	K("files-per-day", CFG_T_INT, "1000", 0, INT64_C(1000000000),
	    cc_quota_files),
	K("bytes-per-day", CFG_T_SIZE, "20g", 0, INT64_C(1) << 50,
	    cc_quota_bytes),
};

static const struct cfg_key sweep_keys[] = {
	K("grace", CFG_T_DURATION, "24h", 1000, INT64_C(31536000000),
	    cc_sw_grace),
	K("timeout", CFG_T_DURATION, "10s", 1, 600000, cc_sw_timeout),
	K("manifest", CFG_T_PATH, "", 0, 0, cc_sw_manifest),
	K("refs", CFG_T_STR, "", 0, 0, cc_sw_refs),
	K("page-size", CFG_T_INT, "1000", 1, MREFS_LIMIT_MAX, cc_sw_page),
	K("max-pages", CFG_T_INT, "10000", 1, 10000000, cc_sw_pages),
};

#undef K

static const size_t sweep_nkeys = NITEMS(sweep_keys);
static const size_t quota_nkeys = NITEMS(quota_keys);
static const size_t service_nkeys = NITEMS(service_keys);
static const size_t log_nkeys = NITEMS(log_keys);
static const size_t storage_nkeys = NITEMS(storage_keys);
static const size_t access_nkeys = NITEMS(access_keys);

static const struct svc_section content_sections[] = {
	{ NULL, service_keys, &service_nkeys, 0, 1 },
	{ "log", log_keys, &log_nkeys, 0, 0 },
	{ "pool", pool_cfg_keys, &pool_cfg_nkeys,
	    offsetof(struct content_cfg, cc_pool), 1 },
	{ "database", db_cfg_keys, &db_cfg_nkeys,
	    offsetof(struct content_cfg, cc_db), 1 },
	{ "auth", authz_cfg_keys, &authz_cfg_nkeys,
	    offsetof(struct content_cfg, cc_auth), -1 },
	{ "storage", storage_keys, &storage_nkeys, 0, 1 },
	{ "quota", quota_keys, &quota_nkeys, 0, 0 },
	{ "sweep", sweep_keys, &sweep_nkeys, 0, 0 },
	{ "media-access", access_keys, &access_nkeys, 0, -1 },
};

static void	content_health(struct app_req *);

const struct app_route content_routes[] = {
	{ "POST", "/content", upload_post, APP_BODY_MULTIPART },
	{ "GET", "/content/file-system-storage/{fileName}",
	    serve_static, APP_BODY_ANY },
	{ "GET", "/content/stream/file-system-storage/{fileName}",
	    serve_stream, APP_BODY_ANY },
	{ "GET", "/file-system-storage/{fileName}",
	    serve_static, APP_BODY_ANY },
	{ "GET", "/health", content_health, APP_BODY_ANY },
};
const size_t content_nroutes = NITEMS(content_routes);

/* GET /health: the database answers and the storage is writable. */
static void
content_health(struct app_req *req)
{
	struct content_svc *cs = req->r_ctx;

	if (faccessat(cs->cs_rootfd, ".", W_OK | X_OK, AT_EACCESS) == -1) {
		log_warn("health check: storage %s", cs->cs_cfg->cc_root);
		app_fail(req, 503, "Storage unavailable");
		return;
	}
	svc_health(req, cs->cs_db);
}

/* Splits <storage types> into cc_allowed; unknown names are errors. */
static void
content_read_types(struct cfg_doc *cd, struct content_cfg *cc)
{
	xmlNodePtr n = cfg_next(cfg_root(cd), NULL, "storage");
	const struct media_type *mt;
	const char *p = cc->cc_types;
	char one[64];
	size_t len, i;

	while (p != NULL && *p != '\0') {
		p += strspn(p, " \t\r\n");
		if ((len = strcspn(p, " \t\r\n")) == 0)
			break;
		snprintf(one, sizeof(one), "%.*s", (int)len, p);
		p += len;
		if ((mt = media_type_find(one)) == NULL) {
			cfg_error(cd, n, "storage types: unknown type \"%s\" "
			    "(known: image/jpeg image/png image/gif image/webp "
			    "video/mp4 video/webm video/ogg)", one);
			continue;
		}
		for (i = 0; i < cc->cc_nallowed; i++)
			if (cc->cc_allowed[i] == mt)
				break;
		if (i == cc->cc_nallowed && i < NITEMS(cc->cc_allowed))
			cc->cc_allowed[cc->cc_nallowed++] = mt;
	}
	if (cc->cc_nallowed == 0)
		cfg_error(cd, n, "storage types: no type accepted");
}

static void
content_cfg_read(struct cfg_doc *cd, void *arg)
{
	struct content_cfg *cc = arg;

	svc_read_sections(cd, content_sections, NITEMS(content_sections), cc);
	svc_check_common(cd, cc->cc_name, "content", cc->cc_level);
	if (cc->cc_types != NULL)
		content_read_types(cd, cc);
	if (cc->cc_max_file > cc->cc_max_request)
		cfg_error(cd, cfg_next(cfg_root(cd), NULL, "storage"),
		    "storage max-file is larger than max-request");
	if (cc->cc_ma_url != NULL && strncmp(cc->cc_ma_url, "http://", 7) != 0
	    && strncmp(cc->cc_ma_url, "https://", 8) != 0)
		cfg_error(cd, cfg_next(cfg_root(cd), NULL, "media-access"),
		    "media-access url must be http:// or https://");
	if (cc->cc_ma_url == NULL)
		log_warnx("%s: no <media-access>: lecture media cannot be "
		    "told from other files, so downloads are refused except "
		    "to ADMINs", cd->cd_path);
}

static void
content_cfg_release(void *arg)
{
	svc_release_sections(content_sections, NITEMS(content_sections), arg);
	memset(arg, 0, sizeof(struct content_cfg));
}

static struct pool_cfg *
content_cfg_pool(void *arg)
{
	return &((struct content_cfg *)arg)->cc_pool;
}

static const char *
content_cfg_level(void *arg)
{
	return ((struct content_cfg *)arg)->cc_level;
}

/* The <database> settings (sd_db), for the schema check at start. */
static struct db_cfg *
content_cfg_db(void *arg)
{
	return &((struct content_cfg *)arg)->cc_db;
}

/* Opens the storage directory, checking it is one and writable. */
static int
content_open_root(const char *root)
{
	int fd;

	if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("storage root %s", root);
		return -1;
	}
	if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) == -1) {
		log_warn("storage root %s is not writable", root);
		close(fd);
		return -1;
	}
	return fd;
}

/* Before serving (sd_prepare): the storage is usable; old temporary
 * files of killed workers go. */
static int
content_prepare(void *arg)
{
	const struct content_cfg *cc = arg;
	int fd;

	if ((fd = content_open_root(cc->cc_root)) == -1)
		return -1;
	upload_sweep(fd);
	if (!upload_tmpfile_ok(fd))
		log_info("%s: no O_TMPFILE here; uploads use named temporary "
		    "files (removed at start when a worker was killed)",
		    cc->cc_root);
	/* Fail closed: without the rule, a paid video is never public. */
	if (cc->cc_ma_url == NULL)
		log_warnx("no <media-access>: the media rule cannot be asked; "
		    "every download is refused (401/403) except to ADMINs");
	close(fd);
	return 0;
}

static int
content_worker(int fd, void *arg)
{
	const struct content_cfg *cc = arg;
	struct content_svc cs;
	struct app app;
	int rc;

	memset(&cs, 0, sizeof(cs));
	cs.cs_cfg = cc;
	if ((cs.cs_rootfd = content_open_root(cc->cc_root)) == -1)
		return 1;
	cs.cs_tmpfile = upload_tmpfile_ok(cs.cs_rootfd);
	if ((cs.cs_magic = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR)) == NULL ||
	    magic_load(cs.cs_magic, NULL) == -1) {
		log_warnx("libmagic: %s", cs.cs_magic != NULL ?
		    magic_error(cs.cs_magic) : "cannot start");
		if (cs.cs_magic != NULL)
			magic_close(cs.cs_magic);
		close(cs.cs_rootfd);
		return 1;
	}
	cs.cs_db = db_new(&cc->cc_db);
	if (cc->cc_auth.azc_jwks_url != NULL)
		cs.cs_az = authz_new(&cc->cc_auth);
	else
		log_warnx("no <auth> configured: uploads answer 503");
	if (cc->cc_ma_url != NULL)
		cs.cs_access = access_new(cc);
	if (db_connect(cs.cs_db) == -1)
		log_info("serving anyway: uploads answer 503 until %s is "
		    "reachable", cc->cc_db.dc_name);
	memset(&app, 0, sizeof(app));
	app.a_routes = content_routes;
	app.a_nroutes = content_nroutes;
	app.a_max_body = 64 * 1024;
	app.a_ctx = &cs;
	rc = app_worker_loop(&app, fd);
	access_free(cs.cs_access);
	authz_free(cs.cs_az);
	db_free(cs.cs_db);
	magic_close(cs.cs_magic);
	close(cs.cs_rootfd);
	return rc == 0 ? 0 : 1;
}

/* Runs command <argv[0]> with the loaded configuration (sd_command). */
static int
content_command(void *arg, int argc, char *argv[])
{
	if (strcmp(argv[0], "sweep") == 0 && argc == 1)
		return sweep_run(arg);
	fprintf(stderr, "%s: unknown command %s\n", CONTENT_PROG, argv[0]);
	return 1;
}

static const struct svc_def content_def = {
	.sd_prog = CONTENT_PROG,
	.sd_conf = CONTENT_CONF,
	.sd_command = content_command,
	.sd_operands = "[sweep]",
	.sd_size = sizeof(struct content_cfg),
	.sd_read = content_cfg_read,
	.sd_release = content_cfg_release,
	.sd_pool = content_cfg_pool,
	.sd_level = content_cfg_level,
	.sd_db = content_cfg_db,
	.sd_schema = &schema_app,
	.sd_worker = content_worker,
	.sd_prepare = content_prepare,
};

int
main(int argc, char *argv[])
{
	return svc_main(&content_def, argc, argv);
}
