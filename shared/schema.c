/*
 * schema: the applied migrations of a service's database against the ones
 * the program was built for (see schema.h).
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "schema.h"
#include "util.h"

#define SCHEMA_MAX	4096	/* applied migrations read at most */

#define SCHEMA_HAVE_SQL	"SELECT COUNT(*) FROM information_schema.tables " \
			"WHERE table_schema = DATABASE() " \
			"AND table_name = 'schema_migrations'"
#define SCHEMA_LIST_SQL	"SELECT version, name FROM schema_migrations " \
			"ORDER BY version LIMIT 4096"

/* The applied versions, read by schema_row(). */
struct schema_read {
	long long	*sr_v;		/* sr_n of them */
	size_t		 sr_n;
	const struct schema_set *sr_want;
};

static const char *const schema_state_names[SCHEMA_COUNT] = {
	"ok", "old", "fail", "unchecked",
};

const char *
schema_state_str(enum schema_state s)
{
	if ((unsigned)s >= SCHEMA_COUNT)
		return "unknown";
	return schema_state_names[s];
}

const struct schema_mig *
schema_missing(const struct schema_set *want, const long long *have,
    size_t nhave, size_t *nmissing)
{
	const struct schema_mig *first = NULL;
	size_t i, j;

	*nmissing = 0;
	for (i = 0; i < want->sch_n; i++) {
		for (j = 0; j < nhave; j++)
			if (have[j] == want->sch_migs[i].sm_version)
				break;
		if (j < nhave)
			continue;
		if (first == NULL)
			first = &want->sch_migs[i];
		(*nmissing)++;
	}
	return first;
}

/* Whether <want> lists version <v>. */
static int
schema_knows(const struct schema_set *want, long long v)
{
	size_t i;

	for (i = 0; i < want->sch_n; i++)
		if (want->sch_migs[i].sm_version == v)
			return 1;
	return 0;
}

/* Row callback (db_row_cb) of SCHEMA_LIST_SQL: version, name. */
static int
schema_row(void *arg, const struct db_val *cols, size_t ncol)
{
	struct schema_read *sr = arg;
	long long v;

	if (ncol != 2 || cols[0].dv_type != DB_T_STR || sr->sr_n >= SCHEMA_MAX)
		return -1;
	v = strtoll(cols[0].dv_s, NULL, 10);
	sr->sr_v[sr->sr_n++] = v;
	if (!schema_knows(sr->sr_want, v)) {
		/* A newer database is fine for an older program as long as
		 * migrations only add; say so, once per migration. */
		log_warnx("database has migration %s, which this program "
		    "does not know (built for an older schema)",
		    cols[1].dv_type == DB_T_STR ? cols[1].dv_s : "?");
	}
	return 0;
}

/* Row callback (db_row_cb) of SCHEMA_HAVE_SQL: the count. */
static int
schema_count_row(void *arg, const struct db_val *cols, size_t ncol)
{
	long long *n = arg;

	if (ncol != 1 || cols[0].dv_type != DB_T_STR)
		return -1;
	*n = strtoll(cols[0].dv_s, NULL, 10);
	return 0;
}

/* Reads the applied versions into <sr>; none when the table does not
 * exist yet. 0, or -1 (db_errmsg() says why). */
static int
schema_read(struct db *db, struct schema_read *sr)
{
	long long n = 0;

	if (db_exec(db, SCHEMA_HAVE_SQL, NULL, 0, schema_count_row, &n) == -1)
		return -1;
	if (n == 0)
		return 0;
	if (db_exec(db, SCHEMA_LIST_SQL, NULL, 0, schema_row, sr) == -1)
		return -1;
	return 0;
}

/* Logs the verdict on <sr> for database <name>; returns it. */
static enum schema_state
schema_judge(const char *name, const struct schema_read *sr)
{
	const struct schema_mig *m;
	size_t nmiss;

	m = schema_missing(sr->sr_want, sr->sr_v, sr->sr_n, &nmiss);
	if (m == NULL) {
		log_debug("%s: %s: all %zu migration(s) applied", __func__,
		    name, sr->sr_want->sch_n);
		return SCHEMA_OK;
	}
	log_error("%s: schema is older than this program: run migration %s "
	    "(scripts/db migrate)", name, m->sm_name);
	if (nmiss > 1)
		log_error("%s: %zu migration(s) missing in all, %s the first",
		    name, nmiss, m->sm_name);
	return SCHEMA_OLD;
}

enum schema_state
schema_check(const struct db_cfg *cfg, const struct schema_set *want)
{
	struct schema_read sr;
	enum schema_state st;
	struct db *db;

	memset(&sr, 0, sizeof(sr));
	sr.sr_want = want;
	sr.sr_v = xcalloc(SCHEMA_MAX, sizeof(*sr.sr_v));
	db = db_new(cfg);
	if (db_connect(db) == -1) {
		log_warnx("%s: schema version not checked: database "
		    "unreachable", cfg->dc_name);
		st = SCHEMA_UNCHECKED;
	} else if (schema_read(db, &sr) == -1) {
		log_error("%s: cannot read schema_migrations: %s",
		    cfg->dc_name, db_errmsg(db));
		st = SCHEMA_FAIL;
	} else
		st = schema_judge(cfg->dc_name, &sr);
	db_free(db);
	free(sr.sr_v);
	return st;
}
