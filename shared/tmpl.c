/*
 * tmpl: loading, checking and rendering templates (see tmpl.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tmpl.h"
#include "util.h"

#define TMPL_SUBJECT	"Subject: "

static void
tmpl_fail(struct tmpl_err *err, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
tmpl_fail(struct tmpl_err *err, int line, const char *fmt, ...)
{
	va_list ap;

	err->te_line = line;
	va_start(ap, fmt);
	vsnprintf(err->te_msg, sizeof(err->te_msg), fmt, ap);
	va_end(ap);
}

/* Whether <c> may appear in a placeholder name. */
static int
tmpl_namec(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.';
}

/* The index of the <len> bytes <name> in <names>, or -1. */
static int
tmpl_find(const char *name, size_t len, const char *const *names,
    size_t nnames)
{
	size_t i;

	for (i = 0; i < nnames; i++)
		if (strlen(names[i]) == len &&
		    memcmp(names[i], name, len) == 0)
			return (int)i;
	return -1;
}

/*
 * Checks the placeholders of <s>, whose first line is line <line>.
 * Returns 0, or -1 with <err> filled.
 */
static int
tmpl_check(const char *s, int line, const char *const *names,
    size_t nnames, struct tmpl_err *err)
{
	const char *p, *end;
	size_t n;

	for (p = s; *p != '\0'; p++) {
		if (*p == '\n')
			line++;
		if (p[0] != '{' || p[1] != '{')
			continue;
		for (end = p + 2; tmpl_namec(*end); end++)
			;
		n = (size_t)(end - p - 2);
		if (end[0] != '}' || end[1] != '}' || n == 0 ||
		    n > TMPL_NAME_MAX) {
			tmpl_fail(err, line, "malformed placeholder: expected "
			    "{{name}} with a name of letters, digits, '_' or "
			    "'.'");
			return -1;
		}
		if (tmpl_find(p + 2, n, names, nnames) == -1) {
			tmpl_fail(err, line, "unknown placeholder {{%.*s}}",
			    (int)n, p + 2);
			return -1;
		}
		p = end + 1;
	}
	return 0;
}

int
tmpl_parse(struct tmpl *t, const char *text, size_t len,
    const char *const *names, size_t nnames, struct tmpl_err *err)
{
	const char *nl, *body;
	size_t slen;

	memset(t, 0, sizeof(*t));
	if (memchr(text, '\0', len) != NULL) {
		tmpl_fail(err, 0, "contains a NUL byte");
		return -1;
	}
	if (len < sizeof(TMPL_SUBJECT) - 1 ||
	    memcmp(text, TMPL_SUBJECT, sizeof(TMPL_SUBJECT) - 1) != 0) {
		tmpl_fail(err, 1, "the first line must be \"Subject: ...\"");
		return -1;
	}
	nl = memchr(text, '\n', len);
	slen = (nl != NULL ? (size_t)(nl - text) : len) -
	    (sizeof(TMPL_SUBJECT) - 1);
	if (slen > 0 && text[sizeof(TMPL_SUBJECT) - 1 + slen - 1] == '\r')
		slen--;
	if (slen == 0) {
		tmpl_fail(err, 1, "the subject is empty");
		return -1;
	}
	body = nl != NULL ? nl + 1 : text + len;
	if (body < text + len && body[0] == '\r')
		body++;
	if (body >= text + len || body[0] != '\n') {
		tmpl_fail(err, 2, "the subject line must be followed by an "
		    "empty line");
		return -1;
	}
	body++;
	t->tp_subject = xstrndup(text + sizeof(TMPL_SUBJECT) - 1, slen);
	t->tp_body = xstrndup(body, (size_t)(text + len - body));
	if (tmpl_check(t->tp_subject, 1, names, nnames, err) == -1 ||
	    tmpl_check(t->tp_body, 3, names, nnames, err) == -1) {
		tmpl_release(t);
		return -1;
	}
	return 0;
}

int
tmpl_load(struct tmpl *t, const char *path, const char *const *names,
    size_t nnames, struct tmpl_err *err)
{
	char *text = NULL;
	size_t len;
	int rc;

	memset(t, 0, sizeof(*t));
	if (util_read_file(path, TMPL_MAX_SIZE, &text, &len) == -1) {
		tmpl_fail(err, 0, "%s", errno == EFBIG ? "larger than 64k" :
		    strerror(errno));
		return -1;
	}
	rc = tmpl_parse(t, text, len, names, nnames, err);
	free(text);
	return rc;
}

void
tmpl_release(struct tmpl *t)
{
	free(t->tp_subject);
	t->tp_subject = NULL;
	free(t->tp_body);
	t->tp_body = NULL;
}

void
tmpl_render(struct buf *out, const char *src, const char *const *names,
    const char *const *vals, size_t nnames)
{
	const char *p = src, *open, *end;
	int i;

	while ((open = strstr(p, "{{")) != NULL) {
		for (end = open + 2; tmpl_namec(*end); end++)
			;
		if (end[0] != '}' || end[1] != '}') {
			buf_append(out, p, (size_t)(open + 2 - p));
			p = open + 2;
			continue;
		}
		buf_append(out, p, (size_t)(open - p));
		i = tmpl_find(open + 2, (size_t)(end - open - 2), names,
		    nnames);
		if (i != -1 && vals[i] != NULL)
			buf_append_str(out, vals[i]);
		p = end + 2;
	}
	buf_append_str(out, p);
}
