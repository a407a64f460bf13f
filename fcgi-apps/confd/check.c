/*
 * check: runs a program's own configuration check (elp-NAME -t -c FILE,
 * elp-gateway -t -c FILE) as a child process and keeps what it says, so
 * the watcher validates with exactly the code of -t.
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "confd.h"
#include "log.h"
#include "util.h"

#define CHECK_OUT_MAX	(64 * 1024)	/* bytes of output kept */

/* Appends each line of <b> to <lines>, prefixed with <tag>. */
static void
check_lines(struct buf *b, const char *tag, json_t *lines)
{
	char *s, *line, *save = NULL;

	buf_append(b, "", 1);
	s = buf_data(b);
	for (line = strtok_r(s, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (*line == '\0' || json_array_size(lines) >=
		    CONFD_REASONS_MAX)
			continue;
		if (tag != NULL)
			json_array_append_new(lines, json_sprintf("%s: %s",
			    tag, line));
		else
			json_array_append_new(lines, json_string(line));
	}
}

/* In the child: output to <fd>, then exec <argv>. */
static void __attribute__((noreturn))
check_child(char *const argv[], int fd)
{
	int null = open("/dev/null", O_RDONLY);

	if (null != -1)
		dup2(null, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	execv(argv[0], argv);
	dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Reads <fd> into <b> until EOF or the <deadline> (monotonic ms). */
static int
check_read(int fd, struct buf *b, uint64_t deadline)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char tmp[4096];
	uint64_t now;
	ssize_t n;

	for (;;) {
		now = util_now_ms();
		if (now >= deadline)
			return -1;
		if (poll(&pfd, 1, (int)(deadline - now)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if ((n = read(fd, tmp, sizeof(tmp))) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		if (buf_avail(b) < CHECK_OUT_MAX)
			buf_append(b, tmp, (size_t)n);
	}
}

int
check_run(char *const argv[], uint64_t timeout, const char *tag,
    json_t *lines)
{
	struct buf b = BUF_INIT;
	pid_t pid;
	int p[2], st = 0, rc = -1, killed = 0;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("pipe");
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0)
		check_child(argv, p[1]);
	close(p[1]);
	if (check_read(p[0], &b, util_now_ms() + timeout) == -1) {
		kill(pid, SIGKILL);
		killed = 1;
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	check_lines(&b, tag, lines);
	if (killed)
		json_array_append_new(lines, json_sprintf("%s%s%s: no answer "
		    "within %llu ms", tag != NULL ? tag : "", tag != NULL ?
		    ": " : "", argv[0], (unsigned long long)timeout));
	else if (WIFEXITED(st))
		rc = WEXITSTATUS(st);
	buf_release(&b);
	return rc;
}
