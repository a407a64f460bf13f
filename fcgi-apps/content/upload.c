/*
 * upload: POST /content (docs/contract/api.md 4.5.2 and 4.6.1),
 * multipart/form-data with one or more file parts named "contents".
 *
 * The body is never held in memory: it is read from STDIN in pieces into
 * one buffer, framed by the incremental parser of libelp mpart, and each
 * file part is written as it arrives into a file that has no name yet
 * (O_TMPFILE; where the filesystem lacks it, a ".upload-<random>" name
 * that the master removes at start if a worker died holding it). Its
 * leading bytes decide its type with libmagic as soon as CONTENT_SNIFF of
 * them (or the whole part) are in; a type outside <storage types> stops
 * the upload at once with 415, a file over max-file with 413. Only when
 * the close delimiter has arrived are the files given their names
 * (<32 hex of 128 random bits>.<canonical extension>, linked without
 * replacing anything), flushed, and their metadata rows inserted in one
 * transaction; if that fails the names are removed again. So a failed or
 * interrupted upload stores nothing: no file, no row, no URL.
 *
 * Parts with another name are read and dropped (browsers send submit
 * buttons and the like). The caller must be ADMIN or USER; the token is
 * checked before a byte of the body is read.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "app.h"
#include "authz.h"
#include "buf.h"
#include "content.h"
#include "db.h"
#include "log.h"
#include "media.h"
#include "mpart.h"
#include "util.h"

#define UP_FAIL		"Failed to save contents in the file system! Reason: "
#define UP_INVALID	UP_FAIL "Please provide valid contents for upload!"
#define UP_BUF		(256 * 1024)	/* body bytes read at a time */
#define UP_HEAD_MAX	8192		/* bytes of one part head */
#define UP_HEADERS_MAX	16		/* lines of one part head */
#define UP_ORIG_MAX	255		/* bytes of a kept client file name */
#define UP_NAME_LEN	(32 + 1 + 8)	/* hex "." extension */
#define UP_TMP_PREFIX	".upload-"
#define UP_DRAIN_MAX	(64 * 1024)	/* epilogue bytes read, then left */

#define SQL_INSERT							\
	"INSERT INTO file (name, owner, original_name, size, mime, "	\
	"sha256) VALUES (?, ?, ?, ?, ?, ?)"

/* One file part. */
struct up_file {
	int			 f_fd;
	char			 f_tmp[32];	/* named temp, "" with O_TMPFILE */
	char			 f_name[UP_NAME_LEN + 1];	/* once linked */
	char			*f_orig;	/* client's name or NULL */
	const struct media_type	*f_type;	/* NULL until sniffed */
	uint64_t		 f_size;
	EVP_MD_CTX		*f_sha;
	char			 f_hex[65];
	char			 f_head[CONTENT_SNIFF];
	size_t			 f_nhead;
};

struct upload {
	struct content_svc	*u_cs;
	struct app_req		*u_req;
	struct authz_id		 u_id;
	struct up_file		*u_files;
	size_t			 u_nfiles;
	struct up_file		*u_cur;		/* the file part being read */
	uint64_t		 u_total;	/* body bytes read */
};

/* Writes all of <p>. 0 or -1 (errno set). */
static int
up_write(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 32 lowercase hex digits of 16 random bytes into <out>. 0 or -1. */
static int
up_random_hex(char out[33])
{
	unsigned char r[16];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	return 0;
}

int
upload_tmpfile_ok(int rootfd)
{
	int fd;

	if (access("/proc/self/fd", X_OK) == -1)
		return 0;
	fd = openat(rootfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd == -1)
		return 0;
	close(fd);
	return 1;
}

void
upload_sweep(int rootfd)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = dup(rootfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		log_warn("storage: cannot list for leftover temporary files");
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, UP_TMP_PREFIX,
		    sizeof(UP_TMP_PREFIX) - 1) != 0)
			continue;
		if (unlinkat(rootfd, de->d_name, 0) == -1)
			log_warn("storage: %s", de->d_name);
		else
			log_info("storage: removed %s, left by an interrupted "
			    "upload", de->d_name);
	}
	closedir(d);
}

/* Opens the unnamed (or temporarily named) file of a new part. */
static int
up_file_open(struct upload *u, struct up_file *f)
{
	struct content_svc *cs = u->u_cs;
	char hex[33];
	int mode = cs->cs_cfg->cc_file_mode;

	f->f_fd = -1;
	if (cs->cs_tmpfile)
		f->f_fd = openat(cs->cs_rootfd, ".", O_TMPFILE | O_WRONLY |
		    O_CLOEXEC, mode);
	else if (up_random_hex(hex) == 0) {
		snprintf(f->f_tmp, sizeof(f->f_tmp), UP_TMP_PREFIX "%.16s",
		    hex);
		f->f_fd = openat(cs->cs_rootfd, f->f_tmp, O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (f->f_fd == -1)
			f->f_tmp[0] = '\0';
	}
	if (f->f_fd == -1) {
		log_warn("storage: cannot create a file");
		return -1;
	}
	/* The mode argument is masked by the umask; set it exactly. */
	if (fchmod(f->f_fd, mode) == -1)
		log_warn("storage: fchmod");
	if ((f->f_sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(f->f_sha, EVP_sha256(), NULL) != 1) {
		log_warnx("sha256 unavailable");
		return -1;
	}
	return 0;
}

/* Closes <f> and removes whatever name it has. */
static void
up_file_drop(struct upload *u, struct up_file *f)
{
	int rootfd = u->u_cs->cs_rootfd;

	if (f->f_fd != -1)
		close(f->f_fd);
	f->f_fd = -1;
	if (f->f_tmp[0] != '\0' && unlinkat(rootfd, f->f_tmp, 0) == -1)
		log_warn("storage: %s", f->f_tmp);
	if (f->f_name[0] != '\0' && unlinkat(rootfd, f->f_name, 0) == -1)
		log_warn("storage: %s", f->f_name);
	f->f_tmp[0] = f->f_name[0] = '\0';
	EVP_MD_CTX_free(f->f_sha);
	f->f_sha = NULL;
	free(f->f_orig);
	f->f_orig = NULL;
}

/*
 * Keeps the client's file name as metadata: its last path segment (old
 * browsers sent whole paths), at most UP_ORIG_MAX bytes cut on a
 * character boundary, and only when it is UTF-8 without control bytes.
 */
static char *
up_orig_name(const struct mpart_event *ev)
{
	char raw[1024], *base, *p;
	size_t n, i;
	int more;

	if (!(ev->flags & MPART_F_FILENAME) || mpart_copy(ev->filename, raw,
	    sizeof(raw)) <= 0)
		return NULL;
	base = raw;
	for (p = raw; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	for (i = 0; base[i] != '\0'; i += 1 + (size_t)more) {
		unsigned char c = (unsigned char)base[i];

		if (c < 0x20 || c == 0x7f)
			return NULL;
		more = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 :
		    (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
		if (more == -1 || (c >= 0x80 && c < 0xc2) || c > 0xf4)
			return NULL;
		for (n = 1; n <= (size_t)more; n++)
			if (((unsigned char)base[i + n] & 0xc0) != 0x80)
				return NULL;
		if (i + 1 + (size_t)more > UP_ORIG_MAX) {
			base[i] = '\0';
			break;
		}
	}
	return base[0] != '\0' ? xstrdup(base) : NULL;
}

/* Decides the type of <f> from its leading bytes. 0, or -1 after 415. */
static int
up_sniff(struct upload *u, struct up_file *f)
{
	const struct content_cfg *cc = u->u_cs->cs_cfg;
	const char *mime;
	size_t i;

	mime = magic_buffer(u->u_cs->cs_magic, f->f_head, f->f_nhead);
	if (mime == NULL)
		mime = "application/octet-stream";
	for (i = 0; i < cc->cc_nallowed; i++)
		if (strcmp(cc->cc_allowed[i]->mt_mime, mime) == 0) {
			f->f_type = cc->cc_allowed[i];
			return 0;
		}
	log_info("upload refused: detected type %s", mime);
	app_fail(u->u_req, 415, UP_FAIL "Unsupported file type %s", mime);
	return -1;
}

/* Bytes of the current file part. 0, or -1 after responding. */
static int
up_data(struct upload *u, const char *p, size_t n)
{
	struct up_file *f = u->u_cur;
	const struct content_cfg *cc = u->u_cs->cs_cfg;
	size_t take;

	if (f == NULL)
		return 0;
	if (n > cc->cc_max_file - f->f_size) {
		app_fail(u->u_req, 413, UP_FAIL "File too large (limit %llu "
		    "bytes)", (unsigned long long)cc->cc_max_file);
		return -1;
	}
	f->f_size += n;
	if (f->f_type == NULL) {
		take = sizeof(f->f_head) - f->f_nhead;
		if (take > n)
			take = n;
		memcpy(f->f_head + f->f_nhead, p, take);
		f->f_nhead += take;
		if (f->f_nhead == sizeof(f->f_head) && up_sniff(u, f) == -1)
			return -1;
	}
	if (EVP_DigestUpdate(f->f_sha, p, n) != 1 ||
	    up_write(f->f_fd, p, n) == -1) {
		log_warn("storage: write");
		app_fail(u->u_req, 507, UP_FAIL "The storage cannot take the "
		    "file now");
		return -1;
	}
	return 0;
}

/* A part begins. 0, or -1 after responding. */
static int
up_part(struct upload *u, const struct mpart_event *ev)
{
	const struct content_cfg *cc = u->u_cs->cs_cfg;
	struct up_file *f;
	char name[64];

	u->u_cur = NULL;
	if (mpart_copy(ev->name, name, sizeof(name)) == -1 ||
	    strcmp(name, "contents") != 0)
		return 0;
	if (u->u_nfiles == (size_t)cc->cc_max_files) {
		app_fail(u->u_req, 413, UP_FAIL "Too many files (limit %lld "
		    "per upload)", (long long)cc->cc_max_files);
		return -1;
	}
	f = &u->u_files[u->u_nfiles++];
	memset(f, 0, sizeof(*f));
	f->f_orig = up_orig_name(ev);
	if (up_file_open(u, f) == -1) {
		app_fail(u->u_req, 503, UP_FAIL "The storage cannot take "
		    "files now");
		return -1;
	}
	u->u_cur = f;
	return 0;
}

/* The current part ended. 0, or -1 after responding. */
static int
up_part_end(struct upload *u)
{
	struct up_file *f = u->u_cur;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	u->u_cur = NULL;
	if (f == NULL)
		return 0;
	if (f->f_size == 0) {
		app_fail(u->u_req, 400, UP_INVALID);
		return -1;
	}
	if (f->f_type == NULL && up_sniff(u, f) == -1)
		return -1;
	if (EVP_DigestFinal_ex(f->f_sha, md, &mdlen) != 1 || mdlen != 32) {
		app_fail(u->u_req, 500, UP_FAIL "Checksum failed");
		return -1;
	}
	for (i = 0; i < mdlen; i++)
		snprintf(f->f_hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* Gives <f> its final name without replacing any file. 0 or -1. */
static int
up_link(struct upload *u, struct up_file *f)
{
	int rootfd = u->u_cs->cs_rootfd, tries, r;
	char hex[33], proc[64];

	for (tries = 0; tries < 4; tries++) {
		if (up_random_hex(hex) == -1)
			return -1;
		snprintf(f->f_name, sizeof(f->f_name), "%s.%s", hex,
		    f->f_type->mt_ext);
		if (f->f_tmp[0] == '\0') {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d",
			    f->f_fd);
			r = linkat(AT_FDCWD, proc, rootfd, f->f_name,
			    AT_SYMLINK_FOLLOW);
		} else {
			r = renameat2(rootfd, f->f_tmp, rootfd, f->f_name,
			    RENAME_NOREPLACE);
			if (r == 0)
				f->f_tmp[0] = '\0';
		}
		if (r == 0)
			return 0;
		f->f_name[0] = '\0';
		if (errno != EEXIST) {
			log_warn("storage: naming an upload");
			return -1;
		}
	}
	return -1;
}

/* Bytes of all the files of <u>. */
static uint64_t
up_bytes(const struct upload *u)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < u->u_nfiles; i++)
		n += u->u_files[i].f_size;
	return n;
}

/*
 * The metadata rows and the day's quota, all or none. 0, or -1 after
 * responding.
 */
static int
up_rows(struct upload *u)
{
	struct db *db = u->u_cs->cs_db;
	struct db_val p[6];
	size_t i = 0;
	int tries, q;

	for (tries = 0; tries < 3; tries++) {
		if (db_begin(db) == -1)
			break;
		if ((q = quota_take(u->u_cs, u->u_req, u->u_id.ai_sub,
		    u->u_nfiles, up_bytes(u))) == 1) {
			db_rollback(db);
			return -1;
		}
		for (i = 0; q == 0 && i < u->u_nfiles; i++) {
			struct up_file *f = &u->u_files[i];

			p[0] = DB_STR(f->f_name);
			p[1] = DB_STR(u->u_id.ai_sub);
			p[2] = f->f_orig != NULL ? DB_STR(f->f_orig) : DB_NULLV;
			p[3] = DB_INT((long long)f->f_size);
			p[4] = DB_STR(f->f_type->mt_mime);
			p[5] = DB_STR(f->f_hex);
			if (db_exec(db, SQL_INSERT, p, NITEMS(p), NULL,
			    NULL) == -1)
				break;
		}
		if (q == 0 && i == u->u_nfiles && db_commit(db) == 0)
			return 0;
		db_rollback(db);
		if (db_error(db) != DB_E_LOCK)
			break;
	}
	log_warnx("upload metadata: %s", db_errmsg(db));
	if (db_error(db) == DB_E_CONN)
		app_fail(u->u_req, 503, UP_FAIL "The database is unavailable, "
		    "try again later");
	else
		app_fail(u->u_req, 500, UP_FAIL "The files could not be "
		    "recorded");
	return -1;
}

/* Everything arrived: name, flush, record, answer. 0 or -1. */
static int
up_commit(struct upload *u)
{
	const struct content_cfg *cc = u->u_cs->cs_cfg;
	json_t *urls;
	size_t i;

	if (u->u_nfiles == 0) {
		app_fail(u->u_req, 400, UP_INVALID);
		return -1;
	}
	for (i = 0; i < u->u_nfiles; i++) {
		struct up_file *f = &u->u_files[i];

		if ((cc->cc_fsync && fsync(f->f_fd) == -1) ||
		    up_link(u, f) == -1) {
			log_warn("storage: saving an upload");
			app_fail(u->u_req, 507, UP_FAIL "The storage cannot "
			    "take the file now");
			return -1;
		}
	}
	if (cc->cc_fsync && fsync(u->u_cs->cs_rootfd) == -1)
		log_warn("storage: fsync of the directory");
	if (up_rows(u) == -1)
		return -1;
	urls = json_array();
	for (i = 0; i < u->u_nfiles; i++) {
		struct up_file *f = &u->u_files[i];

		json_array_append_new(urls, json_sprintf(MEDIA_URL_PREFIX "%s",
		    f->f_name));
		log_info("stored %s: %s, %llu bytes, sha256 %s, owner %s",
		    f->f_name, f->f_type->mt_mime,
		    (unsigned long long)f->f_size, f->f_hex, u->u_id.ai_sub);
		/* Kept: up_cleanup() must not remove it. */
		f->f_name[0] = '\0';
	}
	app_ok(u->u_req, 200, json_pack("{s:o}", "urlList", urls));
	return 0;
}

/* Reads and drops what follows the close delimiter, within reason. */
static void
up_drain(struct upload *u, char *buf)
{
	size_t drained = 0;
	ssize_t n;

	while (drained < UP_DRAIN_MAX &&
	    (n = app_body_read(u->u_req, buf, UP_BUF)) > 0)
		drained += (size_t)n;
}

/*
 * Feeds the body through the parser. Returns 0 once the close delimiter
 * was seen and the files are stored, or -1 after responding.
 */
static int
up_run(struct upload *u, struct mpart *mp, uint64_t declared)
{
	const struct content_cfg *cc = u->u_cs->cs_cfg;
	struct mpart_event ev;
	char *buf = xmalloc(UP_BUF);
	size_t have = 0, off = 0;
	ssize_t n;
	int rc = -1;

	for (;;) {
		n = off < have ? mpart_run(mp, buf + off, have - off, &ev) :
		    MPART_AGAIN;
		if (n == MPART_BAD) {
			app_fail(u->u_req, ev.status, UP_FAIL "%s",
			    ev.status == 413 ? "Too many parts in the upload" :
			    ev.status == 431 ? "A part header is too large" :
			    "The multipart body is malformed");
			break;
		}
		if (n == MPART_AGAIN) {
			memmove(buf, buf + off, have - off);
			have -= off;
			off = 0;
			n = app_body_read(u->u_req, buf + have, UP_BUF - have);
			if (n <= 0) {
				log_info("upload ended early after %llu of "
				    "%llu bytes", (unsigned long long)u->u_total,
				    (unsigned long long)declared);
				app_fail(u->u_req, 400, UP_FAIL "The upload "
				    "ended before its last part was complete");
				break;
			}
			u->u_total += (uint64_t)n;
			if (u->u_total > cc->cc_max_request) {
				app_fail(u->u_req, 413, UP_FAIL "File too "
				    "large (limit %llu bytes)",
				    (unsigned long long)cc->cc_max_request);
				break;
			}
			have += (size_t)n;
			continue;
		}
		off += (size_t)n;
		if (ev.type == MPART_EV_PART_BEGIN) {
			if (up_part(u, &ev) == -1)
				break;
		} else if (ev.type == MPART_EV_DATA) {
			if (up_data(u, ev.data.p, ev.data.len) == -1)
				break;
		} else if (ev.type == MPART_EV_PART_END) {
			if (up_part_end(u) == -1)
				break;
		} else if (ev.type == MPART_EV_END) {
			up_drain(u, buf);
			rc = up_commit(u);
			break;
		}
	}
	free(buf);
	return rc;
}

/* Closes every file; removes the names of an upload that failed. */
static void
up_cleanup(struct upload *u)
{
	size_t i;

	for (i = 0; i < u->u_nfiles; i++)
		up_file_drop(u, &u->u_files[i]);
	free(u->u_files);
	authz_id_release(&u->u_id);
}

void
upload_post(struct app_req *req)
{
	static const char *const roles[] = { "ADMIN", "USER" };
	struct content_svc *cs = req->r_ctx;
	const struct content_cfg *cc = cs->cs_cfg;
	struct mpart_limits lim;
	struct mpart mp;
	struct upload u;
	char boundary[MPART_BOUNDARY_MAX + 1];
	const char *ct;
	uint64_t len;
	int sized;

	memset(&u, 0, sizeof(u));
	u.u_cs = cs;
	u.u_req = req;
	if (cs->cs_az == NULL) {
		app_fail(req, 503, "Access token cannot be verified now");
		return;
	}
	if (authz_require_any_role(req, cs->cs_az, &u.u_id, roles,
	    NITEMS(roles)) == -1)
		return;
	ct = app_param(req, "CONTENT_TYPE");
	if ((sized = app_body_length(req, &len)) == -1) {
		app_fail(req, 400, "Invalid Content-Length");
		goto out;
	}
	if (sized && len > cc->cc_max_request) {
		app_fail(req, 413, UP_FAIL "File too large (limit %llu bytes)",
		    (unsigned long long)cc->cc_max_request);
		goto out;
	}
	if (quota_precheck(cs, req, u.u_id.ai_sub) == -1)
		goto out;
	if (ct == NULL || mpart_boundary((struct str){ ct, strlen(ct) },
	    boundary, sizeof(boundary)) == -1) {
		app_fail(req, 400, UP_INVALID);
		goto out;
	}
	lim.lim_head = UP_HEAD_MAX;
	lim.lim_headers = UP_HEADERS_MAX;
	lim.lim_parts = (size_t)cc->cc_max_parts;
	if (mpart_init(&mp, boundary, &lim) == -1) {
		app_fail(req, 400, UP_INVALID);
		goto out;
	}
	u.u_files = xcalloc((size_t)cc->cc_max_files, sizeof(*u.u_files));
	up_run(&u, &mp, sized ? len : 0);
out:
	up_cleanup(&u);
}
