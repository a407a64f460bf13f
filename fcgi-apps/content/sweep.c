/*
 * sweep: removes stored files that nothing references (conf/README.md
 * <sweep>; run as "elp-content -c FILE sweep", e.g. from a timer).
 *
 * Which rows name a file is known to the services that own them: the
 * course service (banners, lecture media) and the user service (profile
 * pictures) each list the names at GET /internal/media-refs on the
 * gateway's admin listener (<sweep refs>), so elp-content needs no access
 * to their databases. A file is removed only when every list came whole,
 * it is in none of them, it is not in the manifest of kept files (demo
 * media), and it is older than <sweep grace>: an upload in flight, or
 * one whose URL is not yet saved in a course or profile, stays. Any
 * doubt (a list missing, a stat failing) keeps the file.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "content.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "media.h"
#include "util.h"

#define SWEEP_MAX_RESP	(64 << 20)	/* bytes of one reference list */
#define SQL_FORGET	"DELETE FROM file WHERE name = ?"

/* Adds the names of reference list <body> to object <keep>. 0 or -1. */
static int
sweep_add_list(json_t *keep, const struct buf *body)
{
	json_t *j, *files, *v;
	size_t i;
	int rc = -1;

	j = json_loadb(buf_data(body), buf_avail(body), 0, NULL);
	files = json_object_get(json_object_get(j, "responseBody"), "files");
	if (json_is_array(files)) {
		json_array_foreach(files, i, v)
			if (json_is_string(v))
				json_object_set(keep, json_string_value(v),
				    json_true());
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* Fetches every list of <refs> (space-separated URLs) into <keep>. */
static int
sweep_fetch(const struct content_cfg *cc, json_t *keep)
{
	struct http_opts ho = { 0 };
	struct http_client *hc;
	struct http_req rq = { 0 };
	struct http_resp rs;
	char *list = xstrdup(cc->cc_sw_refs), *url, *save = NULL;
	int rc = 0, n = 0;

	ho.ho_timeout = cc->cc_sw_timeout;
	ho.ho_max = SWEEP_MAX_RESP;
	hc = http_new(&ho);
	for (url = strtok_r(list, " \t\n", &save); rc == 0 && url != NULL;
	    url = strtok_r(NULL, " \t\n", &save), n++) {
		memset(&rs, 0, sizeof(rs));
		rq.hq_url = url;
		rq.hq_accept = "application/json";
		if (http_do(hc, &rq, &rs) == -1 || rs.hr_status != 200 ||
		    sweep_add_list(keep, &rs.hr_body) == -1) {
			log_warnx("sweep: reference list %s: %s (status %ld); "
			    "nothing removed", url, rs.hr_why, rs.hr_status);
			rc = -1;
		}
		http_resp_release(&rs);
	}
	if (rc == 0 && n == 0) {
		log_warnx("sweep: no <sweep refs>: references unknown; "
		    "nothing removed");
		rc = -1;
	}
	http_free(hc);
	free(list);
	return rc;
}

/* Adds the names in manifest file <path> ("" = none) to <keep>. */
static int
sweep_manifest(const char *path, json_t *keep)
{
	char line[512];
	size_t n;
	FILE *f;

	if (path == NULL || path[0] == '\0')
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		log_warn("sweep: manifest %s; nothing removed", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (line[0] != '\0' && line[0] != '#')
			json_object_set(keep, line, json_true());
	}
	fclose(f);
	return 0;
}

/* Whether entry <name> of <dfd> is an unreferenced file past grace. */
static int
sweep_doomed(const struct content_cfg *cc, int dfd, const char *name,
    json_t *keep, time_t now)
{
	struct stat st;

	if (!media_name_ok(name) || json_object_get(keep, name) != NULL)
		return 0;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode))
		return 0;
	return (uint64_t)(now - st.st_mtime) * 1000 >= cc->cc_sw_grace &&
	    st.st_mtime <= now;
}

/* Removes the doomed files of the storage root. Returns the exit status. */
static int
sweep_dir(const struct content_cfg *cc, json_t *keep)
{
	struct db *db = db_new(&cc->cc_db);
	struct db_val p[1];
	struct dirent *de;
	time_t now = time(NULL);
	int gone = 0, kept = 0, rc = 0;
	DIR *d;

	if ((d = opendir(cc->cc_root)) == NULL) {
		log_warn("sweep: storage root %s", cc->cc_root);
		db_free(db);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!sweep_doomed(cc, dirfd(d), de->d_name, keep, now)) {
			kept += de->d_name[0] != '.';
			continue;
		}
		if (unlinkat(dirfd(d), de->d_name, 0) == -1) {
			log_warn("sweep: removing %s", de->d_name);
			rc = 1;
			continue;
		}
		log_info("sweep: removed %s (no reference)", de->d_name);
		gone++;
		p[0] = DB_STR(de->d_name);
		if (db_exec(db, SQL_FORGET, p, 1, NULL, NULL) == -1)
			log_warnx("sweep: forgetting %s: %s", de->d_name,
			    db_errmsg(db));
	}
	closedir(d);
	db_free(db);
	log_info("sweep: %d removed, %d kept", gone, kept);
	return rc;
}

int
sweep_run(const struct content_cfg *cc)
{
	json_t *keep = json_object();
	int rc = 1;

	if (sweep_manifest(cc->cc_sw_manifest, keep) == 0 &&
	    sweep_fetch(cc, keep) == 0)
		rc = sweep_dir(cc, keep);
	json_decref(keep);
	return rc;
}
