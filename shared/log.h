/*
 * log: leveled logging to stderr, journald-friendly.
 *
 * Each line: "<ts> <prog>[<pid>] <level>: [rid=<id>] message". When stderr
 * is connected to the journal (JOURNAL_STREAM set), lines carry the kernel
 * "<N>" priority prefix instead of the timestamp so journald keeps the
 * level. Vocabulary as in OpenBSD log.c: log_warn appends strerror(errno);
 * the x variants do not. fatal/fatalx exit(1) and are for startup only.
 * Never log tokens, passwords, secrets or bodies.
 */
#ifndef ELP_LOG_H
#define ELP_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL_COUNT
};

/* Sets the program name shown in every line and the threshold. */
void	 log_init(const char *prog, enum log_level);
void	 log_set_level(enum log_level);
enum log_level	 log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int	 log_level_parse(const char *);
const char	*log_level_str(enum log_level);
/*
 * Sets the request id written in every following line until cleared with
 * NULL. The string is copied (at most 64 bytes).
 */
void	 log_set_reqid(const char *);
/*
 * Redirects output to <path> (appended, created 0640); NULL means stderr.
 * Used for SIGUSR1 log reopening. Returns 0 or -1 (old target kept).
 */
int	 log_open(const char *path);
int	 log_reopen(void);

void	 log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_msg(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 log_vmsg(enum log_level, int with_errno, const char *, va_list)
	    __attribute__((format(printf, 3, 0)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
