/*
 * log: leveled logging to stderr or a file, journald-friendly.
 */
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX	4096

static char		 log_prog[32] = "elp";
static enum log_level	 log_threshold = LOG_LVL_INFO;
static char		 log_rid[65];
static char		*log_path;	/* NULL: stderr as inherited */
static int		 log_journal;	/* stderr is a journal stream */

static const char *const log_names[LOG_LVL_COUNT] = {
	"error", "warn", "info", "debug",
};
/* syslog priorities for the "<N>" prefix journald understands. */
static const int log_prio[LOG_LVL_COUNT] = { 3, 4, 6, 7 };

void
log_init(const char *prog, enum log_level lvl)
{
	snprintf(log_prog, sizeof(log_prog), "%s", prog);
	log_threshold = lvl;
	log_journal = getenv("JOURNAL_STREAM") != NULL && log_path == NULL;
}

void
log_set_level(enum log_level lvl)
{
	log_threshold = lvl;
}

enum log_level
log_get_level(void)
{
	return log_threshold;
}

int
log_level_parse(const char *s)
{
	int i;

	for (i = 0; i < LOG_LVL_COUNT; i++)
		if (strcmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

const char *
log_level_str(enum log_level lvl)
{
	if ((int)lvl < 0 || lvl >= LOG_LVL_COUNT)
		return "?";
	return log_names[lvl];
}

void
log_set_reqid(const char *rid)
{
	if (rid == NULL)
		log_rid[0] = '\0';
	else
		snprintf(log_rid, sizeof(log_rid), "%s", rid);
}

/* Points fd 2 at <path>, so children and libraries writing to stderr land
 * in the same file. */
static int
log_dup_to_stderr(const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) == -1) {
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

int
log_open(const char *path)
{
	if (path == NULL) {
		free(log_path);
		log_path = NULL;
		return 0;
	}
	if (log_dup_to_stderr(path) == -1)
		return -1;
	if (log_path != path) {
		free(log_path);
		log_path = strdup(path);
	}
	log_journal = 0;
	return 0;
}

int
log_reopen(void)
{
	if (log_path == NULL)
		return 0;
	return log_dup_to_stderr(log_path);
}

static size_t
log_prefix(char *out, size_t room, enum log_level lvl)
{
	struct timeval tv;
	struct tm tm;
	int n;

	if (log_journal)
		n = snprintf(out, room, "<%d>%s: ", log_prio[lvl],
		    log_names[lvl]);
	else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n = snprintf(out, room,
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%ld] %s: ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, (long)tv.tv_usec / 1000, log_prog,
		    (long)getpid(), log_names[lvl]);
	}
	if (n > 0 && log_rid[0] != '\0' && (size_t)n < room)
		n += snprintf(out + n, room - (size_t)n, "[rid=%s] ", log_rid);
	return n < 0 ? 0 : ((size_t)n < room ? (size_t)n : room - 1);
}

void
log_vmsg(enum log_level lvl, int with_errno, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n;
	int saved = errno, m;

	if (lvl > log_threshold)
		return;
	n = log_prefix(line, sizeof(line) - 2, lvl);
	m = vsnprintf(line + n, sizeof(line) - 2 - n, fmt, ap);
	if (m > 0)
		n += (size_t)m < sizeof(line) - 2 - n ? (size_t)m :
		    sizeof(line) - 3 - n;
	if (with_errno) {
		m = snprintf(line + n, sizeof(line) - 2 - n, ": %s",
		    strerror(saved));
		if (m > 0)
			n += (size_t)m < sizeof(line) - 2 - n ? (size_t)m :
			    sizeof(line) - 3 - n;
	}
	line[n++] = '\n';
	/* One write per line so concurrent processes do not interleave. */
	if (write(STDERR_FILENO, line, n) == -1) {
		/* nowhere left to report it */
	}
	errno = saved;
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, 0, fmt, ap);
	va_end(ap);
}

#define LOG_FN(name, lvl, err)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
								\
	va_start(ap, fmt);					\
	log_vmsg(lvl, err, fmt, ap);				\
	va_end(ap);						\
}

LOG_FN(log_error, LOG_LVL_ERROR, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
