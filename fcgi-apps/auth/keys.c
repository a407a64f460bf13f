/*
 * keys: the signing keys of the provider in a directory (0700).
 *
 * Each key is a PEM file (0600) key-<created>-<n>.pem. The state file
 * "keys.state" (0600, replaced atomically) lists them, one per line:
 *
 *	<file> <created epoch> <retired epoch, 0 while signing>
 *
 * The first line with retired 0 is the signing key. Rotation writes a new
 * key, puts it first and marks the old ones retired; a retired key stays
 * in the JWKS until <keep> seconds after its retirement (the longest
 * lifetime of a token it signed), then it is dropped and its file removed
 * at the next rotation. Workers notice a replaced state file by its inode
 * and mtime and reload, so a rotation needs no restart.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "util.h"

#define KEYS_STATE	"keys.state"
#define KEYS_BITS	2048
#define KEYS_LINE_MAX	256

struct keys_line {
	char	kl_file[128];
	long long kl_created;
	long long kl_retired;
};

/* Creates <dir> and its parents (0700 for the last). 0 or -1 (logged). */
static int
keys_mkdir(const char *dir)
{
	char *p = xstrdup(dir), *s;
	int rc = 0;

	for (s = strchr(p + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			rc = -1;
		*s = '/';
	}
	if (mkdir(p, 0700) == -1 && errno != EEXIST)
		rc = -1;
	if (rc == -1)
		log_warn("keys directory %s", dir);
	free(p);
	return rc;
}

/* Reads the state file of <dir> into <lines> (at most AUTH_MAX_KEYS * 2).
 * Returns the count, 0 when there is no file, -1 on a bad file. */
static int
keys_read_state(const char *dir, struct keys_line *lines, size_t max)
{
	char *path = xasprintf("%s/%s", dir, KEYS_STATE), buf[KEYS_LINE_MAX];
	FILE *f;
	int n = 0;

	if ((f = fopen(path, "r")) == NULL) {
		n = errno == ENOENT ? 0 : -1;
		if (n == -1)
			log_warn("%s", path);
		goto done;
	}
	while (fgets(buf, sizeof(buf), f) != NULL && (size_t)n < max) {
		if (sscanf(buf, "%127s %lld %lld", lines[n].kl_file,
		    &lines[n].kl_created, &lines[n].kl_retired) != 3 ||
		    strchr(lines[n].kl_file, '/') != NULL) {
			log_warnx("%s: malformed line %d", path, n + 1);
			n = -1;
			break;
		}
		n++;
	}
	fclose(f);
done:
	free(path);
	return n;
}

/* Replaces the state file of <dir> with <lines>. 0 or -1 (logged). */
static int
keys_write_state(const char *dir, const struct keys_line *lines, size_t n)
{
	char *path = xasprintf("%s/%s", dir, KEYS_STATE);
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f = NULL;
	size_t i;
	int rc = -1;
	mode_t om = umask(077);

	if ((f = fopen(tmp, "w")) == NULL)
		goto done;
	for (i = 0; i < n; i++)
		fprintf(f, "%s %lld %lld\n", lines[i].kl_file,
		    lines[i].kl_created, lines[i].kl_retired);
	if (fflush(f) == 0 && fsync(fileno(f)) == 0 && fclose(f) == 0) {
		f = NULL;
		rc = rename(tmp, path);
	}
done:
	if (f != NULL)
		fclose(f);
	if (rc == -1) {
		log_warn("%s", path);
		unlink(tmp);
	}
	umask(om);
	free(tmp);
	free(path);
	return rc;
}

/* Generates a key into <dir>, described in <line>. 0 or -1 (logged). */
static int
keys_new(const char *dir, struct keys_line *line, int seq)
{
	struct jwt_key k;
	char *path;
	int rc = -1;

	memset(&k, 0, sizeof(k));
	line->kl_created = (long long)time(NULL);
	line->kl_retired = 0;
	snprintf(line->kl_file, sizeof(line->kl_file), "key-%lld-%d.pem",
	    line->kl_created, seq);
	path = xasprintf("%s/%s", dir, line->kl_file);
	if (jwt_key_generate(&k, KEYS_BITS) == -1)
		log_warnx("generating an RSA key failed");
	else if (jwt_key_save(&k, path) == -1)
		log_warnx("saving the signing key to %s failed", path);
	else {
		log_info("new signing key %s (kid %s)", path, k.jk_kid);
		rc = 0;
	}
	jwt_key_release(&k);
	free(path);
	return rc;
}

/* Whether <l> is still to be published at <now>. */
static int
keys_live(const struct keys_line *l, int64_t keep, long long now)
{
	return l->kl_retired == 0 || l->kl_retired + keep > now;
}

/* Loads the PEM files of <lines> into <ak>; signing key first. */
static int
keys_load_files(struct auth_keys *ak, const struct keys_line *lines,
    size_t n, int64_t keep)
{
	long long now = (long long)time(NULL);
	char *path;
	size_t i;
	int rc = 0;

	for (i = 0; i < n && ak->ak_n < AUTH_MAX_KEYS; i++) {
		if (!keys_live(&lines[i], keep, now))
			continue;
		path = xasprintf("%s/%s", ak->ak_dir, lines[i].kl_file);
		if (jwt_key_load(&ak->ak_keys[ak->ak_n], path) == -1) {
			log_warnx("cannot load signing key %s (missing, not "
			    "a PEM RSA key, or readable by group or others)",
			    path);
			rc = -1;
		} else
			ak->ak_keys[ak->ak_n++].jk_created =
			    lines[i].kl_created;
		free(path);
	}
	if (rc == 0 && (ak->ak_n == 0 || lines[0].kl_retired != 0)) {
		log_warnx("%s: no signing key", ak->ak_dir);
		rc = -1;
	}
	return rc;
}

/* Remembers identity and mtime of the state file. */
static void
keys_stamp(struct auth_keys *ak)
{
	char *path = xasprintf("%s/%s", ak->ak_dir, KEYS_STATE);
	struct stat st;

	if (stat(path, &st) == 0) {
		ak->ak_mtime = st.st_mtim;
		ak->ak_ino = st.st_ino;
	}
	free(path);
}

int
keys_load(struct auth_keys *ak, const char *dir, int64_t keep)
{
	struct keys_line lines[AUTH_MAX_KEYS * 2];
	int n;

	memset(ak, 0, sizeof(*ak));
	ak->ak_dir = xstrdup(dir);
	if (keys_mkdir(dir) == -1)
		goto fail;
	if ((n = keys_read_state(dir, lines, NITEMS(lines))) == -1)
		goto fail;
	if (n == 0) {
		if (keys_new(dir, &lines[0], 0) == -1 ||
		    keys_write_state(dir, lines, 1) == -1)
			goto fail;
		n = 1;
	}
	keys_stamp(ak);
	if (keys_load_files(ak, lines, (size_t)n, keep) == -1)
		goto fail;
	return 0;
fail:
	keys_release(ak);
	return -1;
}

int
keys_refresh(struct auth_keys *ak, int64_t keep)
{
	struct auth_keys fresh;
	struct stat st;
	char *path = xasprintf("%s/%s", ak->ak_dir, KEYS_STATE);
	int rc = 0;

	if (stat(path, &st) == 0 && (st.st_ino != ak->ak_ino ||
	    st.st_mtim.tv_sec != ak->ak_mtime.tv_sec ||
	    st.st_mtim.tv_nsec != ak->ak_mtime.tv_nsec)) {
		if (keys_load(&fresh, ak->ak_dir, keep) == 0) {
			keys_release(ak);
			*ak = fresh;
			log_info("signing keys reloaded (current kid %s)",
			    ak->ak_keys[0].jk_kid);
		} else
			rc = -1;
	}
	free(path);
	return rc;
}

int
keys_rotate(const char *dir, int64_t keep)
{
	struct keys_line old[AUTH_MAX_KEYS * 2], out[AUTH_MAX_KEYS];
	long long now = (long long)time(NULL);
	size_t i, n = 1;
	char *path;
	int nold;

	if (keys_mkdir(dir) == -1 ||
	    (nold = keys_read_state(dir, old, NITEMS(old))) == -1 ||
	    keys_new(dir, &out[0], nold) == -1)
		return -1;
	for (i = 0; i < (size_t)nold; i++) {
		if (old[i].kl_retired == 0)
			old[i].kl_retired = now;
		if (keys_live(&old[i], keep, now) && n < NITEMS(out)) {
			out[n++] = old[i];
			continue;
		}
		path = xasprintf("%s/%s", dir, old[i].kl_file);
		if (unlink(path) == 0)
			log_info("expired signing key %s removed", path);
		free(path);
	}
	return keys_write_state(dir, out, n);
}

void
keys_release(struct auth_keys *ak)
{
	size_t i;

	for (i = 0; i < ak->ak_n; i++)
		jwt_key_release(&ak->ak_keys[i]);
	free(ak->ak_dir);
	memset(ak, 0, sizeof(*ak));
}
