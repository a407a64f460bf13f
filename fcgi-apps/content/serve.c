/*
 * serve: the downloads. The service only decides; the gateway sends the
 * bytes (X-Accel-Redirect, served with sendfile() from the route's
 * offload-root, which is <storage root>), so ranges, validators and
 * conditional requests are the gateway's (conf/README.md, "File offload").
 *
 * Contract sections (docs/contract/api.md):
 *   GET /file-system-storage/{fileName}		4.6.3
 *   GET /content/file-system-storage/{fileName}	4.5.1, through
 *	/content-management-api on the public listener
 *   GET /content/stream/file-system-storage/{fileName}	4.6.2
 *
 * A name must pass media_name_ok() and be a regular file directly in the
 * storage directory (no symlink), else 404. Lecture media follow the media rule
 * (access.c); other files are public. The token comes from the Authorization
 * header or, failing that, an access_token query parameter. The type is the one
 * recorded at upload, or, for files put there by other means (the demo media),
 * detected from the leading bytes. The stream path answers video types as they
 * are and everything else as application/octet-stream (docs/contract/api.md
 * 4.6.2); the static paths answer the type.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "authz.h"
#include "content.h"
#include "db.h"
#include "log.h"
#include "media.h"
#include "util.h"

#define SERVE_STATIC_404						\
	"Failed to fetch the content! Reason: Error occurred while "	\
	"calling CONTENT-DELIVERY-SERVICE!"
#define SERVE_STREAM_404	"File not found"
#define SERVE_OCTET		"application/octet-stream"
#define SQL_TYPE		"SELECT mime FROM file WHERE name = ?"
#define SERVE_TOKEN_MAX		8192	/* bytes of an access_token */

const char *
serve_sniff(magic_t m, const char *buf, size_t len)
{
	const struct media_type *mt;
	const char *mime;

	if ((mime = magic_buffer(m, buf, len)) == NULL ||
	    (mt = media_type_find(mime)) == NULL)
		return SERVE_OCTET;
	return mt->mt_mime;
}

static int
serve_type_row(void *arg, const struct db_val *cols, size_t ncol)
{
	const struct media_type **out = arg;

	if (ncol == 1 && cols[0].dv_type == DB_T_STR)
		*out = media_type_find(cols[0].dv_s);
	return 0;
}

/* The type of stored file <name>: recorded, else detected. */
static const char *
serve_type(struct content_svc *cs, const char *name)
{
	const struct media_type *mt = NULL;
	struct db_val p[1];
	char head[CONTENT_SNIFF];
	const char *mime = SERVE_OCTET;
	ssize_t n;
	int fd;

	p[0] = DB_STR(name);
	if (db_exec(cs->cs_db, SQL_TYPE, p, 1, serve_type_row, &mt) == -1)
		log_warnx("file type of %s: %s; detecting it", name,
		    db_errmsg(cs->cs_db));
	if (mt != NULL)
		return mt->mt_mime;
	fd = openat(cs->cs_rootfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return mime;
	while ((n = read(fd, head, sizeof(head))) == -1 && errno == EINTR)
		;
	if (n > 0)
		mime = serve_sniff(cs->cs_magic, head, (size_t)n);
	close(fd);
	return mime;
}

/*
 * The caller's bearer token as an Authorization value: the header, or
 * else the access_token query parameter of RFC 6750 section 2.3, which a
 * <video src> or <img src> can carry where a page cannot add headers
 * (the gateway keeps its value out of the access log). NULL when there
 * is neither; *<fromq> says whether it came from the query.
 */
static const char *
serve_token(struct app_req *req, char *buf, size_t len, int *fromq)
{
	const char *hdr = app_param(req, "HTTP_AUTHORIZATION");
	char tok[SERVE_TOKEN_MAX + 1];
	int r;

	*fromq = 0;
	if (hdr != NULL)
		return hdr;
	r = app_query_get(req->r_query, "access_token", tok, sizeof(tok));
	if (r == 0 || (r == 1 && tok[0] == '\0'))
		return NULL;
	/* Too long or malformed: a token that cannot verify. */
	snprintf(buf, len, "Bearer %s", r == 1 ? tok : "-");
	explicit_bzero(tok, sizeof(tok));
	*fromq = 1;
	return buf;
}

/*
 * The media rule's verdict on <name> for the caller <sub> ("" when
 * anonymous). Without <media-access> the rule fails closed: nothing is
 * public, a caller without a token must log in, anyone else is denied.
 */
static enum access_verdict
serve_rule(struct content_svc *cs, const char *name, const char *hdr,
    const char *sub)
{
	if (cs->cs_access == NULL)
		return sub[0] == '\0' ? ACCESS_TOKEN : ACCESS_DENIED;
	return access_check(cs->cs_access, name, hdr, sub);
}

/*
 * Applies the media rule to <name>. Returns the verdict (PUBLIC or
 * GRANTED) to go on with, or -1 after responding.
 */
static int
serve_access(struct app_req *req, struct content_svc *cs, const char *name)
{
	char qbuf[SERVE_TOKEN_MAX + 8];
	const char *hdr;
	enum authz_res res = AUTHZ_ANON;
	enum access_verdict v;
	struct authz_id id;
	char sub[sizeof(id.ai_sub)] = "";
	int fromq, rc;

	memset(&id, 0, sizeof(id));
	hdr = serve_token(req, qbuf, sizeof(qbuf), &fromq);
	if (cs->cs_az != NULL && hdr != NULL)
		res = authz_check_header(cs->cs_az, hdr, fromq ? NULL :
		    app_param(req, "AUTH_SUB"), &id);
	if (res == AUTHZ_OK) {
		snprintf(sub, sizeof(sub), "%s", id.ai_sub);
		v = authz_has_role(&id, "ADMIN") ? ACCESS_GRANTED :
		    serve_rule(cs, name, hdr, sub);
	} else
		v = serve_rule(cs, name, hdr, sub);
	explicit_bzero(qbuf, sizeof(qbuf));
	rc = -1;
	switch (v) {
	case ACCESS_PUBLIC:
	case ACCESS_GRANTED:
		rc = (int)v;
		break;
	case ACCESS_TOKEN:
		if (cs->cs_az == NULL)
			app_fail(req, 503, "Access token cannot be verified "
			    "now");
		else if (res != AUTHZ_OK)
			/* 401 with the reason: missing or refused. */
			authz_deny(req, &id, res);
		else {
			/* Valid here, not there: the two key sets differ
			 * for a moment (a key rotation). */
			app_header(req, "Retry-After", "1");
			app_fail(req, 503, "Media access cannot be checked "
			    "now");
		}
		break;
	case ACCESS_DENIED:
		app_fail(req, 403, "Access Denied");
		break;
	default:
		app_header(req, "Retry-After", "5");
		app_fail(req, 503, "Media access cannot be checked now");
		break;
	}
	authz_id_release(&id);
	return rc;
}

static void
serve(struct app_req *req, int stream)
{
	struct content_svc *cs = req->r_ctx;
	const char *name = app_cap(req, "fileName");
	const char *nf = stream ? SERVE_STREAM_404 : SERVE_STATIC_404;
	const char *mime;
	char target[MEDIA_NAME_MAX + 2];
	struct stat st;
	int v;

	if (!media_name_ok(name)) {
		app_fail(req, 404, "%s", nf);
		return;
	}
	if (fstatat(cs->cs_rootfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			log_warn("storage: %s", name);
		app_fail(req, 404, "%s", nf);
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		app_fail(req, 404, "%s", nf);
		return;
	}
	if ((v = serve_access(req, cs, name)) == -1)
		return;
	mime = serve_type(cs, name);
	if (stream && strncmp(mime, "video/", 6) != 0)
		mime = SERVE_OCTET;
	snprintf(target, sizeof(target), "/%s", name);
	app_header(req, "X-Accel-Redirect", target);
	app_header(req, "Cache-Control", v == ACCESS_PUBLIC ?
	    "public, max-age=300" : "private, max-age=60");
	app_header(req, "X-Content-Type-Options", "nosniff");
	app_send_raw(req, 200, mime, "", 0);
}

void
serve_static(struct app_req *req)
{
	serve(req, 0);
}

void
serve_stream(struct app_req *req)
{
	serve(req, 1);
}
