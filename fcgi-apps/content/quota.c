/*
 * quota: per-user upload quotas of elp-content (docs/contract/api.md
 * 4.5.2, adopted; conf/README.md <quota>). Each user may store at most
 * <quota files-per-day> files and <quota bytes-per-day> bytes per UTC day;
 * the day's counts live in table upload_quota, one row per user and day,
 * and an upload adds to them in the transaction that records its files,
 * under a row lock, so two concurrent uploads never pass the limit
 * together. Over the limit: 429 saying the limit and when it resets
 * (the next UTC midnight), with Retry-After.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "content.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define UP_FAIL		"Failed to save contents in the file system! Reason: "

/* Creates the day's row if missing; the no-op update takes its lock. */
#define SQL_ENSURE							\
	"INSERT INTO upload_quota (owner, day) VALUES (?, UTC_DATE()) "	\
	"ON DUPLICATE KEY UPDATE files = files"
#define SQL_USED							\
	"SELECT files, bytes FROM upload_quota "			\
	"WHERE owner = ? AND day = UTC_DATE()"
#define SQL_USED_LOCK	SQL_USED " FOR UPDATE"
#define SQL_ADD								\
	"UPDATE upload_quota SET files = files + ?, bytes = bytes + ? "	\
	"WHERE owner = ? AND day = UTC_DATE()"

struct quota_used {
	unsigned long long	 qu_files;
	unsigned long long	 qu_bytes;
};

static int
quota_row(void *arg, const struct db_val *cols, size_t ncol)
{
	struct quota_used *qu = arg;

	if (ncol != 2 || cols[0].dv_type != DB_T_STR ||
	    cols[1].dv_type != DB_T_STR)
		return 0;
	qu->qu_files = strtoull(cols[0].dv_s, NULL, 10);
	qu->qu_bytes = strtoull(cols[1].dv_s, NULL, 10);
	return 0;
}

/* Answers 429 for limit <what> of <limit>, resetting at next midnight. */
static void
quota_refuse(struct app_req *req, const char *what, unsigned long long limit,
    unsigned long long used)
{
	time_t now = time(NULL), next;
	struct tm tm;
	char when[32], secs[24];

	next = now - now % 86400 + 86400;
	gmtime_r(&next, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(secs, sizeof(secs), "%lld", (long long)(next - now));
	app_header(req, "Retry-After", secs);
	app_fail(req, 429, UP_FAIL "Upload quota exceeded: at most %llu %s "
	    "per day (%llu used today); it resets at %s", limit, what, used,
	    when);
}

/* Whether <qu> plus <files>/<bytes> passes a limit; answers 429 if so. */
static int
quota_over(struct app_req *req, const struct content_cfg *cc,
    const struct quota_used *qu, uint64_t files, uint64_t bytes)
{
	if (cc->cc_quota_files > 0 &&
	    qu->qu_files + files > (unsigned long long)cc->cc_quota_files) {
		quota_refuse(req, "files", (unsigned long long)
		    cc->cc_quota_files, qu->qu_files);
		return 1;
	}
	if (cc->cc_quota_bytes > 0 &&
	    qu->qu_bytes + bytes > (unsigned long long)cc->cc_quota_bytes) {
		quota_refuse(req, "bytes", (unsigned long long)
		    cc->cc_quota_bytes, qu->qu_bytes);
		return 1;
	}
	return 0;
}

int
quota_precheck(struct content_svc *cs, struct app_req *req, const char *sub)
{
	const struct content_cfg *cc = cs->cs_cfg;
	struct quota_used qu = { 0, 0 };
	struct db_val p[1];

	if (cc->cc_quota_files == 0 && cc->cc_quota_bytes == 0)
		return 0;
	p[0] = DB_STR(sub);
	/* A failure here is the final check's to report. */
	if (db_exec(cs->cs_db, SQL_USED, p, 1, quota_row, &qu) == -1)
		return 0;
	/* Full already: one more file, or one more byte, cannot fit. */
	return quota_over(req, cc, &qu, 1, cc->cc_quota_bytes > 0 ? 1 : 0) ?
	    -1 : 0;
}

int
quota_take(struct content_svc *cs, struct app_req *req, const char *sub,
    uint64_t files, uint64_t bytes)
{
	const struct content_cfg *cc = cs->cs_cfg;
	struct quota_used qu = { 0, 0 };
	struct db_val p[3];

	p[0] = DB_STR(sub);
	if (db_exec(cs->cs_db, SQL_ENSURE, p, 1, NULL, NULL) == -1 ||
	    db_exec(cs->cs_db, SQL_USED_LOCK, p, 1, quota_row, &qu) == -1)
		return -1;
	if (quota_over(req, cc, &qu, files, bytes))
		return 1;
	p[0] = DB_INT((long long)files);
	p[1] = DB_INT((long long)bytes);
	p[2] = DB_STR(sub);
	if (db_exec(cs->cs_db, SQL_ADD, p, 3, NULL, NULL) == -1)
		return -1;
	return 0;
}
