/*
 * sweep: removes stored files that nothing references (conf/README.md
 * <sweep>; run as "elp-content -c FILE sweep", e.g. from a timer).
 *
 * Which rows name a file is known to the services that own them: the
 * course service (banners, lecture media) and the user service (profile
 * pictures) each list the names at GET /internal/media-refs on the
 * gateway's admin listener (<sweep refs>), so elp-content needs no access
 * to their databases. Each list is read in keyset pages of <sweep
 * page-size> names (shared/mrefs.h), following "next" for at most <sweep
 * max-pages> pages; a page that fails, is malformed (names not media names
 * in ascending order after the last page's) or whose "next" is not its
 * last name (one that does not advance) means the list did not come
 * whole. A file is removed only when every list came whole, it is in
 * none of them, it is not in the manifest of kept files (demo media), and
 * it is older than <sweep grace>: an upload in flight, or one whose URL
 * is not yet saved in a course or profile, stays. Any doubt (a list
 * missing or cut short, a stat failing) keeps the file.
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

/* Bytes of one page: 10000 names (the most a page holds) of MEDIA_NAME_MAX
 * bytes, quoted, with the envelope, fit well within. */
#define SWEEP_MAX_RESP	(4 << 20)
#define SQL_FORGET	"DELETE FROM file WHERE name = ?"

/* One reference list, read page by page. */
struct sweep_list {
	const char	*sl_url;	/* an entry of <sweep refs> */
	char		 sl_after[MEDIA_NAME_MAX + 1]; /* "" on the first page */
	int64_t		 sl_limit;	/* <sweep page-size> */
	const char	*sl_why;	/* why a page was refused */
};

/*
 * Adds the names of page <files> of <sl> to <keep>. They must be media
 * names in ascending byte order after sl_after, at most sl_limit of them.
 * Returns 0, or -1 with sl_why set.
 */
static int
sweep_add_names(struct sweep_list *sl, json_t *files, json_t *keep)
{
	const char *prev = sl->sl_after, *name;
	json_t *v;
	size_t i;

	if (!json_is_array(files)) {
		sl->sl_why = "no files array";
		return -1;
	}
	if (json_array_size(files) > (size_t)sl->sl_limit) {
		sl->sl_why = "more names than asked for";
		return -1;
	}
	json_array_foreach(files, i, v) {
		name = json_string_value(v);
		if (!media_name_ok(name) || strcmp(name, prev) <= 0) {
			sl->sl_why = "a name that is not a media name or not "
			    "after the one before";
			return -1;
		}
		json_object_set(keep, name, json_true());
		prev = name;
	}
	return 0;
}

/*
 * Adds the names of page <body> of <sl> to <keep> and moves sl_after to
 * its "next". Returns 1 when another page follows, 0 after the last page,
 * or -1 with sl_why set: malformed, or a "next" other than the page's
 * last name (one that does not advance, or one that would skip names).
 */
static int
sweep_add_page(struct sweep_list *sl, const struct buf *body, json_t *keep)
{
	json_t *j, *rb, *files, *next;
	size_t n;
	int rc = -1;

	if ((j = json_loadb(buf_data(body), buf_avail(body), 0, NULL)) ==
	    NULL) {
		sl->sl_why = "not JSON";
		return -1;
	}
	rb = json_object_get(j, "responseBody");
	files = json_object_get(rb, "files");
	next = json_object_get(rb, "next");
	if (sweep_add_names(sl, files, keep) == -1)
		goto done;
	n = json_array_size(files);
	if (json_is_null(next))
		rc = 0;
	else if (n > 0 && json_is_string(next) &&
	    strcmp(json_string_value(next),
	    json_string_value(json_array_get(files, n - 1))) == 0) {
		snprintf(sl->sl_after, sizeof(sl->sl_after), "%s",
		    json_string_value(next));
		rc = 1;
	} else
		sl->sl_why = "next is missing or not the last name of the page";
done:
	json_decref(j);
	return rc;
}

/*
 * Fetches one page of <sl> with <hc> into <keep>. Returns as
 * sweep_add_page(); -1 after logging why.
 */
static int
sweep_page(struct http_client *hc, struct sweep_list *sl, json_t *keep)
{
	struct http_req rq = { 0 };
	struct http_resp rs;
	char *url;
	int rc = -1;

	url = xasprintf("%s%climit=%lld%s%s", sl->sl_url,
	    strchr(sl->sl_url, '?') != NULL ? '&' : '?',
	    (long long)sl->sl_limit, sl->sl_after[0] != '\0' ? "&after=" : "",
	    sl->sl_after);
	memset(&rs, 0, sizeof(rs));
	rq.hq_url = url;
	rq.hq_accept = "application/json";
	sl->sl_why = NULL;
	if (http_do(hc, &rq, &rs) == -1 || rs.hr_status != 200)
		sl->sl_why = rs.hr_why[0] != '\0' ? rs.hr_why : "not 200";
	else
		rc = sweep_add_page(sl, &rs.hr_body, keep);
	if (rc == -1)
		log_warnx("sweep: reference list %s: %s (status %ld); nothing "
		    "removed", url, sl->sl_why, rs.hr_status);
	http_resp_release(&rs);
	free(url);
	return rc;
}

/*
 * Reads every page of list <url> into <keep>, following "next" for at
 * most <sweep max-pages> pages. Returns 0 when the list came whole, or
 * -1 after logging why.
 */
static int
sweep_list(const struct content_cfg *cc, struct http_client *hc,
    const char *url, json_t *keep)
{
	struct sweep_list sl;
	int64_t pages;
	int rc = 1;

	memset(&sl, 0, sizeof(sl));
	sl.sl_url = url;
	sl.sl_limit = cc->cc_sw_page;
	for (pages = 0; rc == 1 && pages < cc->cc_sw_pages; pages++)
		rc = sweep_page(hc, &sl, keep);
	if (rc == 1)
		log_warnx("sweep: reference list %s: more than %lld pages "
		    "(<sweep max-pages>); nothing removed", url,
		    (long long)cc->cc_sw_pages);
	return rc == 0 ? 0 : -1;
}

/* Fetches every list of <refs> (space-separated URLs) into <keep>. */
static int
sweep_fetch(const struct content_cfg *cc, json_t *keep)
{
	struct http_opts ho = { 0 };
	struct http_client *hc;
	char *list = xstrdup(cc->cc_sw_refs), *url, *save = NULL;
	int rc = 0, n = 0;

	ho.ho_timeout = cc->cc_sw_timeout;
	ho.ho_max = SWEEP_MAX_RESP;
	hc = http_new(&ho);
	for (url = strtok_r(list, " \t\n", &save); rc == 0 && url != NULL;
	    url = strtok_r(NULL, " \t\n", &save), n++)
		rc = sweep_list(cc, hc, url, keep);
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
