/*
 * tmpl: mail and notification templates. A template file is
 *
 *	Subject: <one line>
 *	<empty line>
 *	<body, any number of lines>
 *
 * where both parts may hold placeholders {{name}} (name: letters, digits,
 * '_' and '.'). Loading checks the shape and that every placeholder is one
 * of the names the caller allows, so a typo is a configuration error with
 * file:line instead of a blank in a sent mail. Rendering substitutes
 * values verbatim (the result is plain text, never markup).
 */
#ifndef ELP_TMPL_H
#define ELP_TMPL_H

#include <stddef.h>

#include "buf.h"

#define TMPL_MAX_SIZE	(64 * 1024)	/* bytes of a template file */
#define TMPL_NAME_MAX	64		/* bytes of a placeholder name */
#define TMPL_ERR_MAX	160		/* bytes of an error message */

struct tmpl {
	char	*tp_subject;	/* the subject line's text, NUL-terminated */
	char	*tp_body;	/* everything after the blank line */
};

/* A parse failure: the 1-based line and what is wrong there. */
struct tmpl_err {
	int	 te_line;
	char	 te_msg[TMPL_ERR_MAX];
};

/*
 * Parses <len> bytes of <text> into <t> (zeroed first), allowing the
 * <nnames> placeholders <names>. Returns 0 (<t> owns two heap strings;
 * tmpl_release() frees them), or -1 with <err> filled and <t> empty. A
 * NUL byte, a missing "Subject: " line or blank line, an empty subject,
 * an unclosed or empty "{{", and an unknown name are refused.
 */
int	 tmpl_parse(struct tmpl *t, const char *text, size_t len,
	    const char *const *names, size_t nnames, struct tmpl_err *err);

/*
 * Reads the file <path> (at most TMPL_MAX_SIZE bytes) and parses it as
 * tmpl_parse() does. On -1, <err> says why (te_line 0: the file itself).
 */
int	 tmpl_load(struct tmpl *t, const char *path,
	    const char *const *names, size_t nnames, struct tmpl_err *err);

/* Frees what <t> holds; <t> is empty and reusable afterwards. */
void	 tmpl_release(struct tmpl *t);

/*
 * Appends <src> (a checked subject or body) to <out> with each {{name}}
 * replaced by <vals>[i] for the i with <names>[i] equal to name (<nnames>
 * pairs); a NULL value, or a name not in <names>, renders as nothing.
 */
void	 tmpl_render(struct buf *out, const char *src,
	    const char *const *names, const char *const *vals, size_t nnames);

#endif
