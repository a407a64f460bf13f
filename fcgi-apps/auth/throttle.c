/*
 * throttle: login throttling and the bound on concurrent Argon2 work.
 *
 * Failures are counted per (subject, client address) and per subject over
 * every address (address ''), in the login_throttle table. The subject is
 * the account id, or for a login name that names no account a keyed hash
 * of the name, so unknown names behave like known ones and never reach
 * the database or the log in clear. A failure's weight halves every
 * brute-force half-life; when the weighted count of a pair reaches
 * brute-force/@failures the pair is locked for wait, doubling per further
 * lock up to max-wait. The per-subject count never locks: beyond
 * account-failures each further failure adds account-delay before the
 * password is checked, at most account-max-delay, for every address. So
 * an attacker locks out only his own address, and slows a victim by a
 * bounded delay at most.
 *
 * Hashing slots: the pool master makes an anonymous file (memfd) before
 * forking; a worker holds slot i while it computes an Argon2 hash by
 * holding a POSIX record lock on byte i. The kernel drops the lock when
 * the worker dies, so a crash mid-hash cannot leak a slot. At most
 * password/@max-concurrent slots (default: min(cores, workers - 1), at
 * least 1) exist, so a worker is left for refresh, code exchange and
 * JWKS requests while logins hash.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth.h"
#include "log.h"
#include "util.h"

#define THR_KEY_FILE	"names.key"
#define THR_KEY_LEN	32
#define THR_POLL_MS	2

#define SQL_THR_GET							\
	"SELECT address, score * POW(0.5, (? - updated_ms) / ?), "	\
	"locked_until_ms FROM login_throttle "				\
	"WHERE subject = ? AND address IN (?, '')"
/* Assignments run left to right: lockouts and score see the old row. */
#define SQL_THR_FAIL							\
	"INSERT INTO login_throttle (subject, address, score, lockouts, " \
	"updated_ms) VALUES (?, ?, 1, 0, ?) ON DUPLICATE KEY UPDATE "	\
	"lockouts = IF(score * POW(0.5, (VALUES(updated_ms) - updated_ms) " \
	"/ ?) < 0.5, 0, lockouts), "					\
	"score = score * POW(0.5, (VALUES(updated_ms) - updated_ms) / ?) " \
	"+ 1, updated_ms = VALUES(updated_ms)"
#define SQL_THR_READ	"SELECT score, lockouts FROM login_throttle "	\
	"WHERE subject = ? AND address = ?"
#define SQL_THR_LOCK	"UPDATE login_throttle SET lockouts = "		\
	"lockouts + 1, locked_until_ms = ? WHERE subject = ? AND address = ?"
#define SQL_THR_RESET	"DELETE FROM login_throttle WHERE subject = ?"
#define SQL_THR_OK	"DELETE FROM login_throttle WHERE subject = ? "	\
	"AND address = ?"
#define SQL_THR_SWEEP	"DELETE FROM login_throttle WHERE updated_ms < ? " \
	"AND locked_until_ms < ?"

static int		thr_fd = -1;	/* hashing slots, inherited */
static long		thr_nslots;
static long		thr_held = -1;	/* slot this worker holds */
static unsigned char	thr_key[THR_KEY_LEN];

/* Wall clock in milliseconds. */
static long long
thr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
thr_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
thr_sleep_ms(long long ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Reads <dir>/names.key, creating it (0600, 32 random bytes) if absent. */
static int
thr_key_load(const char *dir)
{
	char *path = xasprintf("%s/" THR_KEY_FILE, dir);
	unsigned char buf[THR_KEY_LEN];
	struct stat st;
	int fd, rc = -1;
	ssize_t n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 && errno == ENOENT) {
		if (RAND_bytes(buf, sizeof(buf)) != 1)
			goto done;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1 && write(fd, buf, sizeof(buf)) !=
		    (ssize_t)sizeof(buf)) {
			log_warn("%s", path);
			close(fd);
			unlink(path);
			goto done;
		}
		if (fd != -1)
			close(fd);
		/* Another instance may have won the race: read it back. */
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd == -1) {
		log_warn("%s", path);
		goto done;
	}
	if (fstat(fd, &st) == -1 || (st.st_mode & 077) != 0) {
		log_warnx("%s: accessible by group or others; chmod 600 it",
		    path);
		close(fd);
		goto done;
	}
	n = read(fd, thr_key, sizeof(thr_key));
	close(fd);
	if (n != (ssize_t)sizeof(thr_key)) {
		log_warnx("%s: not %d bytes", path, THR_KEY_LEN);
		goto done;
	}
	rc = 0;
done:
	explicit_bzero(buf, sizeof(buf));
	free(path);
	return rc;
}

long
thr_slots_auto(const struct auth_cfg *cfg)
{
	long n, cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->ac_hash_max > 0)
		return (long)cfg->ac_hash_max;
	n = (long)cfg->ac_pool.pc_workers - 1;
	if (cores > 0 && cores < n)
		n = cores;
	return n < 1 ? 1 : n;
}

int
thr_init(const struct auth_cfg *cfg)
{
	if (thr_key_load(cfg->ac_keys_dir) == -1)
		return -1;
	if (thr_fd != -1)
		return 0;
	thr_nslots = thr_slots_auto(cfg);
	if ((thr_fd = memfd_create("elp-auth-hash-slots", MFD_CLOEXEC)) == -1 ||
	    ftruncate(thr_fd, (off_t)thr_nslots) == -1) {
		log_warn("hashing slots");
		return -1;
	}
	log_info("password hashing: at most %ld at a time, %llu ms wait",
	    thr_nslots, (unsigned long long)cfg->ac_hash_wait_ms);
	return 0;
}

/* Tries to lock slot <i>: 1 got it, 0 taken, -1 error. */
static int
thr_try(long i, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = (off_t)i;
	fl.l_len = 1;
	if (fcntl(thr_fd, F_SETLK, &fl) == 0)
		return 1;
	return errno == EAGAIN || errno == EACCES ? 0 : -1;
}

int
thr_slot_get(const struct auth_cfg *cfg)
{
	long long end = thr_mono_ms() + (long long)cfg->ac_hash_wait_ms;
	long i, first;
	int rc;

	if (thr_fd == -1 || thr_held != -1)
		return 1;	/* not bounded here (commands), or nested */
	first = (long)getpid() % thr_nslots;
	for (;;) {
		for (i = 0; i < thr_nslots; i++) {
			rc = thr_try((first + i) % thr_nslots, F_WRLCK);
			if (rc == 1) {
				thr_held = (first + i) % thr_nslots;
				return 1;
			}
			if (rc == -1) {
				log_warn("hashing slot");
				return 1;
			}
		}
		if (thr_mono_ms() >= end)
			return 0;
		thr_sleep_ms(THR_POLL_MS);
	}
}

void
thr_slot_put(void)
{
	if (thr_held == -1)
		return;
	(void)thr_try(thr_held, F_UNLCK);
	thr_held = -1;
}

char *
thr_hash_password(const struct auth_cfg *cfg, const char *pw, int *busy)
{
	char *h;

	*busy = 0;
	if (!thr_slot_get(cfg)) {
		*busy = 1;
		return NULL;
	}
	h = tok_hash_password(cfg, pw);
	thr_slot_put();
	return h;
}

void
thr_subject(const char *login, char out[AUTH_HASH_LEN + 1])
{
	unsigned char md[32], low[AUTH_NAME_MAX + 1];
	unsigned int n = 0;
	size_t i;

	for (i = 0; login[i] != '\0' && i < AUTH_NAME_MAX; i++)
		low[i] = (unsigned char)tolower((unsigned char)login[i]);
	HMAC(EVP_sha256(), thr_key, sizeof(thr_key), low, i, md, &n);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* What thr_check reads: the pair's row and the subject's row. */
struct thr_rows {
	double		tr_pair_score;
	long long	tr_locked_until;
	double		tr_all_score;
};

static int
thr_rows_cb(void *arg, const struct db_val *c, size_t ncol)
{
	struct thr_rows *tr = arg;

	if (ncol < 3 || c[1].dv_type == DB_T_NULL)
		return 0;
	if (c[0].dv_len == 0)
		tr->tr_all_score = strtod(c[1].dv_s, NULL);
	else {
		tr->tr_pair_score = strtod(c[1].dv_s, NULL);
		tr->tr_locked_until = strtoll(c[2].dv_s, NULL, 10);
	}
	return 0;
}

int
thr_check(struct db *db, const struct auth_cfg *cfg, const char *subject,
    const char *addr, uint64_t *delay_ms)
{
	struct thr_rows tr;
	struct db_val p[4];
	long long now = thr_now_ms(), over;

	memset(&tr, 0, sizeof(tr));
	*delay_ms = 0;
	p[0] = DB_INT(now);
	p[1] = DB_INT((long long)cfg->ac_bf_half_life_ms);
	p[2] = DB_STR(subject);
	p[3] = DB_STRN(addr, strnlen(addr, 64));
	if (db_exec_idem(db, SQL_THR_GET, p, 4, thr_rows_cb, &tr) == -1) {
		log_warnx("database: %s (%s)", db_err_str(db_error(db)),
		    db_errmsg(db));
		return -1;
	}
	if (tr.tr_locked_until > now)
		return 1;
	over = (long long)(tr.tr_all_score + 0.5) -
	    cfg->ac_bf_acct_failures + 1;
	if (over > 0) {
		*delay_ms = (uint64_t)over * cfg->ac_bf_acct_delay_ms;
		if (*delay_ms > cfg->ac_bf_acct_max_ms)
			*delay_ms = cfg->ac_bf_acct_max_ms;
	}
	return 0;
}

void
thr_delay(uint64_t ms)
{
	if (ms > 0)
		thr_sleep_ms((long long)ms);
}

long long
thr_fail(struct db *db, const struct auth_cfg *cfg, const char *subject,
    const char *addr)
{
	struct db_val p[5];
	long long now = thr_now_ms(), lockouts, wait_ms;
	double score;
	char *c[2];
	size_t alen = strnlen(addr, 64);

	p[0] = DB_STR(subject);
	p[2] = DB_INT(now);
	p[3] = DB_INT((long long)cfg->ac_bf_half_life_ms);
	p[4] = p[3];
	p[1] = DB_STR("");
	if (st_exec(db, SQL_THR_FAIL, p, 5) == -1)
		return -1;
	p[1] = DB_STRN(addr, alen);
	if (st_exec(db, SQL_THR_FAIL, p, 5) == -1 ||
	    st_row(db, SQL_THR_READ, p, 2, c, 2) != 1)
		return -1;
	score = c[0] != NULL ? strtod(c[0], NULL) : 0;
	lockouts = c[1] != NULL ? strtoll(c[1], NULL, 10) : 0;
	st_row_free(c, 2);
	if (now % 32 == 0) {
		/* Rows whose weight has decayed to nothing (20 halvings). */
		p[0] = DB_INT(now - 20 * (long long)cfg->ac_bf_half_life_ms);
		p[1] = DB_INT(now);
		st_exec_idem(db, SQL_THR_SWEEP, p, 2);
	}
	if ((long long)(score + 0.5) < cfg->ac_bf_failures)
		return 0;
	/* wait = base * 2^lockouts, capped. */
	wait_ms = (long long)cfg->ac_bf_wait_ms;
	while (lockouts-- > 0 && wait_ms < (long long)cfg->ac_bf_max_ms)
		wait_ms *= 2;
	if (wait_ms > (long long)cfg->ac_bf_max_ms)
		wait_ms = (long long)cfg->ac_bf_max_ms;
	p[0] = DB_INT(now + wait_ms);
	p[1] = DB_STR(subject);
	p[2] = DB_STRN(addr, alen);
	if (st_exec(db, SQL_THR_LOCK, p, 3) == -1)
		return -1;
	return (wait_ms + 999) / 1000;
}

/* Forgets every failure of <subject> (a password reset by mail). */
int
thr_reset(struct db *db, const char *subject)
{
	struct db_val p[1];

	p[0] = DB_STR(subject);
	return st_exec_idem(db, SQL_THR_RESET, p, 1) == -1 ? -1 : 0;
}

void
thr_success(struct db *db, const char *subject, const char *addr)
{
	struct db_val p[2];

	p[0] = DB_STR(subject);
	p[1] = DB_STRN(addr, strnlen(addr, 64));
	st_exec_idem(db, SQL_THR_OK, p, 2);
}
