/*
 * Unit tests for shared/cfg.c: loading with XSD validation, error reports
 * as file:line: reason, and the typed key tables of cfg_read().
 *
 * Fixtures live in t/unit/data/cfg/ and are found relative to this source
 * file, so the tests run from the top of the tree. Log output is captured
 * by pointing the log (and fd 2) at a temporary file.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "log.h"
#include "util.h"

#define LOG_MAX		(1024 * 1024)

struct capture {
	char	path[64];
	int	saved_fd;
};

/* Every cfg_read() test writes into this. */
struct dst {
	char		*str;
	int64_t		 num;
	int		 flag;
	uint64_t	 qty;
	int		 mode;
	uint64_t	 ms;
	char		*other;
};

static char *
data_path(const char *name)
{
	const char *slash = strrchr(__FILE__, '/');
	int dirlen = slash != NULL ? (int)(slash - __FILE__) + 1 : 0;

	return xasprintf("%.*sdata/cfg/%s", dirlen, __FILE__, name);
}

static void
capture_start(struct capture *cap)
{
	int fd;

	snprintf(cap->path, sizeof(cap->path), "/tmp/test_cfg_log.XXXXXX");
	fd = mkstemp(cap->path);
	assert_int_not_equal(fd, -1);
	close(fd);
	cap->saved_fd = dup(STDERR_FILENO);
	assert_int_not_equal(cap->saved_fd, -1);
	assert_int_equal(log_open(cap->path), 0);
}

/* Restores stderr and returns what was logged (caller frees). */
static char *
capture_end(struct capture *cap)
{
	char *text = NULL;

	assert_int_equal(log_open(NULL), 0);
	assert_int_not_equal(dup2(cap->saved_fd, STDERR_FILENO), -1);
	close(cap->saved_fd);
	assert_int_equal(util_read_file(cap->path, LOG_MAX, &text, NULL), 0);
	unlink(cap->path);
	return text;
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("expected \"%s\" in log:\n%s", needle, hay);
}

static void
assert_not_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) != NULL)
		fail_msg("unexpected \"%s\" in log:\n%s", needle, hay);
}

/* Writes <text> to a new temporary file; returns its heap path. */
static char *
write_tmp(const char *text)
{
	char *path = xstrdup("/tmp/test_cfg_xml.XXXXXX");
	int fd = mkstemp(path);
	size_t len = strlen(text);

	assert_int_not_equal(fd, -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

/*
 * Loads <path> against the test schema, capturing the log. Returns the
 * cfg_load() result; the log text goes to <logp> (caller frees).
 */
static int
load(struct cfg_doc *cd, const char *path, char **logp)
{
	struct capture cap;
	char *xsd = data_path("schema/test.xsd");
	int rc;

	capture_start(&cap);
	rc = cfg_load(cd, path, xsd);
	*logp = capture_end(&cap);
	free(xsd);
	return rc;
}

static void
test_load_good(void **state)
{
	struct cfg_doc cd;
	char *path = data_path("good.xml"), *log = NULL;
	xmlNodePtr root, n;
	int count = 0;

	(void)state;
	assert_int_equal(load(&cd, path, &log), 0);
	assert_int_equal(cd.cd_nerr, 0);
	assert_string_equal(cd.cd_path, path);
	assert_string_equal(log, "");
	root = cfg_root(&cd);
	assert_non_null(root);
	assert_string_equal((const char *)root->name, "test");
	for (n = NULL; (n = cfg_next(root, n, "server")) != NULL; count++)
		assert_string_equal((const char *)n->name, "server");
	assert_int_equal(count, 2);
	n = cfg_next(root, NULL, "item");
	assert_non_null(n);
	/* libxml2 numbers an element by the line its start tag ends on. */
	assert_int_equal(xmlGetLineNo(n), 7);
	assert_non_null(cfg_next(root, n, "item"));
	assert_null(cfg_next(root, cfg_next(root, n, "item"), "item"));
	assert_null(cfg_next(root, NULL, "nosuch"));
	cfg_release(&cd);
	assert_null(cd.cd_doc);
	assert_null(cd.cd_path);
	cfg_release(&cd);
	free(log);
	free(path);
}

static void
test_bad_syntax_line(void **state)
{
	struct cfg_doc cd;
	char *path = data_path("bad-syntax.xml"), *log = NULL, *want;

	(void)state;
	assert_int_equal(load(&cd, path, &log), -1);
	assert_true(cd.cd_nerr >= 1);
	assert_null(cd.cd_doc);
	assert_null(cd.cd_path);
	want = xasprintf("%s:5: Opening and ending tag mismatch", path);
	assert_contains(log, want);
	assert_contains(log, "configuration not loaded");
	free(want);
	free(log);
	free(path);
}

/* All four schema violations are reported, each with its own line. */
static void
test_bad_schema_all_errors(void **state)
{
	static const char *const wants[] = {
		"%s:5: Element 'server', attribute 'port': 'not-a-port'",
		"%s:6: Element 'server': The attribute 'name' is required",
		"%s:7: Element 'server', attribute 'password'",
		"%s:8: Element 'bogus': This element is not expected",
	};
	struct cfg_doc cd;
	char *path = data_path("bad-schema.xml"), *log = NULL, *want;
	size_t i;

	(void)state;
	/* The tree is kept for the caller's semantic checks. */
	assert_int_equal(load(&cd, path, &log), 0);
	assert_int_equal(cd.cd_nerr, 4);
	assert_non_null(cd.cd_doc);
	cfg_release(&cd);
	for (i = 0; i < NITEMS(wants); i++) {
		want = xasprintf(wants[i], path);
		assert_contains(log, want);
		free(want);
	}
	/* The schema error quotes the value; a password never shows. */
	assert_not_contains(log, "hunter2");
	assert_contains(log, "(hidden)");
	free(log);
	free(path);
}

static void
test_doctype_refused(void **state)
{
	struct cfg_doc cd;
	char *path = data_path("doctype.xml"), *log = NULL, *want;

	(void)state;
	assert_int_equal(load(&cd, path, &log), -1);
	assert_int_equal(cd.cd_nerr, 1);
	want = xasprintf("%s:3: DOCTYPE is not allowed", path);
	assert_contains(log, want);
	assert_not_contains(log, "root:");
	free(want);
	free(log);
	free(path);
}

static void
test_missing_files(void **state)
{
	struct cfg_doc cd;
	struct capture cap;
	char *good = data_path("good.xml"), *log = NULL;

	(void)state;
	assert_int_equal(load(&cd, "/nonexistent/x.xml", &log), -1);
	assert_int_equal(cd.cd_nerr, 1);
	assert_contains(log, "/nonexistent/x.xml: cannot read: No such file");
	free(log);

	capture_start(&cap);
	assert_int_equal(cfg_load(&cd, good, "/nonexistent/s.xsd"), 0);
	log = capture_end(&cap);
	cfg_release(&cd);
	assert_int_equal(cd.cd_nerr, 1);
	assert_contains(log, "cannot read schema /nonexistent/s.xsd");
	free(log);

	/* A document that is not a schema is reported, not crashed on. */
	capture_start(&cap);
	assert_int_equal(cfg_load(&cd, good, good), 0);
	log = capture_end(&cap);
	cfg_release(&cd);
	assert_true(cd.cd_nerr >= 1);
	assert_contains(log, "not a schema document");
	free(log);
	free(good);
}

/* One cfg_read() case: a value for attribute "v" on line 3. */
struct read_case {
	enum cfg_type	 type;
	const char	*name;	/* attribute name; NULL = "v" */
	const char	*text;
	int64_t		 min, max;
	int		 ok;
	int64_t		 want;	/* for numeric types when ok */
	const char	*msg;	/* expected after "file:3: " when !ok */
};

static const struct read_case read_cases[] = {
	{ CFG_T_INT, NULL, "42", 0, 0, 1, 42, NULL },
	{ CFG_T_INT, NULL, "-7", 0, 0, 1, -7, NULL },
	{ CFG_T_INT, NULL, "10", 1, 10, 1, 10, NULL },
	{ CFG_T_INT, NULL, "1", 1, 10, 1, 1, NULL },
	{ CFG_T_INT, NULL, "11", 1, 10, 0, 0,
	    "attribute 'v': '11' is out of range [1, 10]\n" },
	{ CFG_T_INT, NULL, "0", 1, 10, 0, 0, "out of range [1, 10]" },
	{ CFG_T_INT, NULL, "", 0, 0, 0, 0, "'' is not an integer" },
	{ CFG_T_INT, NULL, " 1", 0, 0, 0, 0, "is not an integer" },
	{ CFG_T_INT, NULL, "+1", 0, 0, 0, 0, "is not an integer" },
	{ CFG_T_INT, NULL, "1x", 0, 0, 0, 0, "'1x' is not an integer" },
	{ CFG_T_INT, NULL, "-", 0, 0, 0, 0, "is not an integer" },
	{ CFG_T_INT, NULL, "99999999999999999999", 0, 0, 0, 0,
	    "is not a 64-bit integer" },
	{ CFG_T_BOOL, NULL, "yes", 0, 0, 1, 1, NULL },
	{ CFG_T_BOOL, NULL, "true", 0, 0, 1, 1, NULL },
	{ CFG_T_BOOL, NULL, "on", 0, 0, 1, 1, NULL },
	{ CFG_T_BOOL, NULL, "1", 0, 0, 1, 1, NULL },
	{ CFG_T_BOOL, NULL, "no", 0, 0, 1, 0, NULL },
	{ CFG_T_BOOL, NULL, "false", 0, 0, 1, 0, NULL },
	{ CFG_T_BOOL, NULL, "off", 0, 0, 1, 0, NULL },
	{ CFG_T_BOOL, NULL, "0", 0, 0, 1, 0, NULL },
	{ CFG_T_BOOL, NULL, "maybe", 0, 0, 0, 0, "'maybe' is not a boolean" },
	{ CFG_T_BOOL, NULL, "2", 0, 0, 0, 0, "is not a boolean" },
	{ CFG_T_SIZE, NULL, "512", 0, 0, 1, 512, NULL },
	{ CFG_T_SIZE, NULL, "64k", 0, 0, 1, 65536, NULL },
	{ CFG_T_SIZE, NULL, "1m", 0, 1048576, 1, 1048576, NULL },
	{ CFG_T_SIZE, NULL, "2g", 0, 0, 1, 2147483648LL, NULL },
	{ CFG_T_SIZE, NULL, "1025", 0, 1024, 0, 0,
	    "attribute 'v': '1025' is out of range [0, 1024] bytes" },
	{ CFG_T_SIZE, NULL, "1k", 2048, 4096, 0, 0,
	    "'1k' is out of range [2048, 4096] bytes" },
	{ CFG_T_SIZE, NULL, "12q", 0, 0, 0, 0, "'12q' is not a size" },
	{ CFG_T_SIZE, NULL, "k", 0, 0, 0, 0, "is not a size" },
	{ CFG_T_SIZE, NULL, "-1", 0, 0, 0, 0, "is not a size" },
	{ CFG_T_DURATION, NULL, "250ms", 0, 0, 1, 250, NULL },
	{ CFG_T_DURATION, NULL, "2s", 0, 0, 1, 2000, NULL },
	{ CFG_T_DURATION, NULL, "5", 0, 0, 1, 5000, NULL },
	{ CFG_T_DURATION, NULL, "1m", 1, 60000, 1, 60000, NULL },
	{ CFG_T_DURATION, NULL, "1h", 1, 60000, 0, 0,
	    "'1h' is out of range [1, 60000] ms" },
	{ CFG_T_DURATION, NULL, "0ms", 1, 60000, 0, 0,
	    "out of range [1, 60000] ms" },
	{ CFG_T_DURATION, NULL, "2x", 0, 0, 0, 0, "'2x' is not a duration" },
	{ CFG_T_DURATION, NULL, "s", 0, 0, 0, 0, "is not a duration" },
	{ CFG_T_OCTAL, NULL, "0660", 0, 0, 1, 0660, NULL },
	{ CFG_T_OCTAL, NULL, "755", 0, 0, 1, 0755, NULL },
	{ CFG_T_OCTAL, NULL, "0", 0, 0, 1, 0, NULL },
	{ CFG_T_OCTAL, NULL, "07777", 0, 0, 1, 07777, NULL },
	{ CFG_T_OCTAL, NULL, "0888", 0, 0, 0, 0, "'0888' is not an octal" },
	{ CFG_T_OCTAL, NULL, "17777", 0, 0, 0, 0, "at most 07777" },
	{ CFG_T_OCTAL, NULL, "", 0, 0, 0, 0, "is not an octal" },
	{ CFG_T_OCTAL, NULL, "-1", 0, 0, 0, 0, "is not an octal" },
	{ CFG_T_STR, NULL, "hello world", 0, 0, 1, 0, NULL },
	{ CFG_T_STR, NULL, "", 0, 0, 1, 0, NULL },
	{ CFG_T_INT, "db-password", "s3cretvalue", 0, 0, 0, 0,
	    "attribute 'db-password': '(hidden)' is not an integer" },
	{ CFG_T_INT, "client_secret", "9999", 1, 10, 0, 0,
	    "'(hidden)' is out of range [1, 10]" },
};

static size_t
type_off(enum cfg_type type)
{
	switch (type) {
	case CFG_T_STR:
		return offsetof(struct dst, str);
	case CFG_T_INT:
		return offsetof(struct dst, num);
	case CFG_T_BOOL:
		return offsetof(struct dst, flag);
	case CFG_T_SIZE:
	case CFG_T_DURATION:
		return offsetof(struct dst, qty);
	default:
		return offsetof(struct dst, mode);
	}
}

static int64_t
dst_value(const struct dst *d, enum cfg_type type)
{
	switch (type) {
	case CFG_T_INT:
		return d->num;
	case CFG_T_BOOL:
		return d->flag;
	case CFG_T_SIZE:
	case CFG_T_DURATION:
		return (int64_t)d->qty;
	default:
		return d->mode;
	}
}

/* Asserts the outcome of one read_case; <log> is what cfg_read() said. */
static void
check_read_case(const struct read_case *rc, const struct cfg_doc *cd,
    const struct dst *d, int got, const char *log)
{
	char *want;

	if (rc->ok) {
		if (got != 0)
			fail_msg("'%s' (type %d) refused: %s", rc->text,
			    rc->type, log);
		assert_int_equal(cd->cd_nerr, 0);
		if (rc->type == CFG_T_STR)
			assert_string_equal(d->str, rc->text);
		else
			assert_int_equal(dst_value(d, rc->type), rc->want);
		return;
	}
	if (got != -1)
		fail_msg("'%s' (type %d) accepted", rc->text, rc->type);
	assert_int_equal(cd->cd_nerr, 1);
	want = xasprintf("%s:3: ", cd->cd_path);
	assert_contains(log, want);
	free(want);
	assert_contains(log, rc->msg);
	if (rc->name != NULL)
		assert_not_contains(log, rc->text);
}

static void
run_read_case(const struct read_case *rc)
{
	const char *name = rc->name != NULL ? rc->name : "v";
	struct cfg_key key = { name, rc->type, NULL, rc->min, rc->max,
	    type_off(rc->type) };
	struct dst d = { 0 };
	struct cfg_doc cd;
	struct capture cap;
	char *xml, *path, *log = NULL;
	int got;

	xml = xasprintf("<?xml version=\"1.0\"?>\n<test>\n"
	    "<item %s=\"%s\"/>\n</test>\n", name, rc->text);
	path = write_tmp(xml);
	assert_int_equal(load(&cd, path, &log), 0);
	free(log);
	capture_start(&cap);
	got = cfg_read(&cd, cfg_next(cfg_root(&cd), NULL, "item"), &key, 1,
	    &d);
	log = capture_end(&cap);
	check_read_case(rc, &cd, &d, got, log);
	cfg_release_keys(&key, 1, &d);
	cfg_release(&cd);
	unlink(path);
	free(log);
	free(path);
	free(xml);
}

static void
test_read_types(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(read_cases); i++)
		run_read_case(&read_cases[i]);
}

static const struct cfg_key item_keys[] = {
	{ "name", CFG_T_STR, NULL, 0, 0, offsetof(struct dst, str) },
	{ "workers", CFG_T_INT, "2", 1, 64, offsetof(struct dst, num) },
	{ "tls", CFG_T_BOOL, "no", 0, 0, offsetof(struct dst, flag) },
	{ "max-body", CFG_T_SIZE, "1m", 0, 0, offsetof(struct dst, qty) },
	{ "mode", CFG_T_OCTAL, "0600", 0, 0, offsetof(struct dst, mode) },
	{ "timeout", CFG_T_DURATION, "30s", 1, 3600000,
	    offsetof(struct dst, ms) },
	{ "label", CFG_T_STR, "none", 0, 0, offsetof(struct dst, other) },
};

/* good.xml's first <item> sets every key, the second only "name". */
static void
test_read_table_and_defaults(void **state)
{
	struct cfg_doc cd;
	struct dst d = { 0 };
	char *path = data_path("good.xml"), *log = NULL;
	xmlNodePtr item;

	(void)state;
	assert_int_equal(load(&cd, path, &log), 0);
	free(log);
	item = cfg_next(cfg_root(&cd), NULL, "item");
	assert_int_equal(cfg_read(&cd, item, item_keys, NITEMS(item_keys),
	    &d), 0);
	assert_string_equal(d.str, "api");
	assert_int_equal(d.num, 4);
	assert_int_equal(d.flag, 1);
	assert_int_equal(d.qty, 65536);
	assert_int_equal(d.mode, 0660);
	assert_int_equal(d.ms, 2000);
	assert_string_equal(d.other, "none");
	cfg_release_keys(item_keys, NITEMS(item_keys), &d);
	assert_null(d.str);
	assert_null(d.other);

	item = cfg_next(cfg_root(&cd), item, "item");
	assert_int_equal(cfg_read(&cd, item, item_keys, NITEMS(item_keys),
	    &d), 0);
	assert_string_equal(d.str, "bare");
	assert_int_equal(d.num, 2);
	assert_int_equal(d.flag, 0);
	assert_int_equal(d.qty, 1048576);
	assert_int_equal(d.mode, 0600);
	assert_int_equal(d.ms, 30000);
	assert_string_equal(d.other, "none");
	assert_int_equal(cd.cd_nerr, 0);
	cfg_release_keys(item_keys, NITEMS(item_keys), &d);
	cfg_release(&cd);
	free(path);
}

/* A missing required key and a bad one are both reported in one call. */
static void
test_read_required_and_all_errors(void **state)
{
	static const struct cfg_key keys[] = {
		{ "name", CFG_T_STR, NULL, 0, 0, offsetof(struct dst, str) },
		{ "address", CFG_T_STR, NULL, 0, 0,
		    offsetof(struct dst, other) },
		{ "workers", CFG_T_INT, NULL, 1, 3, offsetof(struct dst, num) },
	};
	struct cfg_doc cd;
	struct dst d = { 0 };
	struct capture cap;
	char *path = data_path("good.xml"), *log = NULL, *want;
	xmlNodePtr item;

	(void)state;
	assert_int_equal(load(&cd, path, &log), 0);
	free(log);
	item = cfg_next(cfg_root(&cd), NULL, "item");
	capture_start(&cap);
	assert_int_equal(cfg_read(&cd, item, keys, NITEMS(keys), &d), -1);
	log = capture_end(&cap);
	assert_int_equal(cd.cd_nerr, 2);
	want = xasprintf("%s:7: <item>: required attribute 'address' is "
	    "missing", path);
	assert_contains(log, want);
	free(want);
	want = xasprintf("%s:7: attribute 'workers': '4' is out of range "
	    "[1, 3]", path);
	assert_contains(log, want);
	free(want);
	/* The good key was still stored. */
	assert_string_equal(d.str, "api");
	cfg_release_keys(keys, NITEMS(keys), &d);
	cfg_release(&cd);
	free(log);
	free(path);
}

static void
test_cfg_error_format(void **state)
{
	struct cfg_doc cd;
	struct capture cap;
	char *path = data_path("good.xml"), *log = NULL, *want;

	(void)state;
	assert_int_equal(load(&cd, path, &log), 0);
	free(log);
	capture_start(&cap);
	cfg_error(&cd, cfg_next(cfg_root(&cd), NULL, "server"),
	    "duplicate server '%s'", "alpha");
	cfg_error(&cd, NULL, "no listener defined");
	log = capture_end(&cap);
	assert_int_equal(cd.cd_nerr, 2);
	want = xasprintf("%s:3: duplicate server 'alpha'\n", path);
	assert_contains(log, want);
	free(want);
	want = xasprintf("%s: no listener defined\n", path);
	assert_contains(log, want);
	free(want);
	cfg_release(&cd);
	free(log);
	free(path);
}

static const char *const schema_dirs[] = { "conf", "conf/schema", "schema" };

static char *
make_path(const char *top, const char *rel)
{
	return xasprintf("%s/%s", top, rel);
}

static void
remove_dirs(const char *top)
{
	size_t i;
	char *p;

	for (i = NITEMS(schema_dirs); i > 0; i--) {
		p = make_path(top, schema_dirs[i - 1]);
		rmdir(p);
		free(p);
	}
	rmdir(top);
}

static void
touch(const char *path)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fclose(fp);
}

/* Runs cfg_schema_path() for <conf> and checks the answer against <want>. */
static void
check_schema_path(const char *conf, const char *name, const char *want)
{
	char *p = cfg_schema_path(conf, name);

	if (want == NULL) {
		assert_null(p);
		return;
	}
	assert_non_null(p);
	assert_string_equal(p, want);
	free(p);
}

static void
test_schema_path(void **state)
{
	char top[] = "/tmp/test_cfg_dir.XXXXXX", cwd[4096];
	char *conf, *up, *near, *p;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(top));
	for (i = 0; i < NITEMS(schema_dirs); i++) {
		p = make_path(top, schema_dirs[i]);
		assert_int_equal(mkdir(p, 0700), 0);
		free(p);
	}
	conf = make_path(top, "conf/gateway.xml");
	up = make_path(top, "conf/../schema/gateway.xsd");
	near = make_path(top, "conf/schema/gateway.xsd");
	check_schema_path(conf, "gateway.xsd", NULL);
	touch(up);
	check_schema_path(conf, "gateway.xsd", up);
	/* <dir>/schema wins over <dir>/../schema. */
	touch(near);
	check_schema_path(conf, "gateway.xsd", near);
	check_schema_path(conf, "other.xsd", NULL);

	/* A bare file name means the current directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	p = make_path(top, "conf");
	assert_int_equal(chdir(p), 0);
	free(p);
	check_schema_path("gateway.xml", "gateway.xsd",
	    "./schema/gateway.xsd");
	assert_int_equal(chdir(cwd), 0);

	unlink(near);
	unlink(up);
	remove_dirs(top);
	free(near);
	free(up);
	free(conf);
}

/* cfg_path() and cfg_addr() of <conf>: one case each. */
static const struct {
	const char	*conf;
	const char	*in;
	const char	*want;
	int		 addr;
} path_cases[] = {
	{ "/etc/elp/gateway.xml", "var/log/g.log", "/etc/elp/var/log/g.log",
	    0 },
	{ "/etc/elp/services/a.xml", "../secrets/a.pw",
	    "/etc/elp/services/../secrets/a.pw", 0 },
	{ "/etc/elp/gateway.xml", "/var/log/elp/g.log", "/var/log/elp/g.log",
	    0 },
	{ "/etc/elp/gateway.xml", "", "", 0 },
	{ "/etc/elp/gateway.xml", "./media", "/etc/elp/media", 0 },
	{ "/etc/elp/gateway.xml", ".//./media", "/etc/elp/media", 0 },
	{ "/etc/elp/gateway.xml", ".", "/etc/elp", 0 },
	{ "/etc/elp/gateway.xml", "..", "/etc/elp/..", 0 },
	{ "/gateway.xml", "x", "/x", 0 },
	{ "/gateway.xml", ".", "/", 0 },
	{ "/etc/elp/services.xml", "unix:run/a.sock",
	    "unix:/etc/elp/run/a.sock", 1 },
	{ "/etc/elp/services.xml", "unix:/run/elp/a.sock",
	    "unix:/run/elp/a.sock", 1 },
	{ "/etc/elp/services.xml", "127.0.0.1:9000", "127.0.0.1:9000", 1 },
	{ "/etc/elp/services.xml", "[::1]:80", "[::1]:80", 1 },
	{ "/etc/elp/services.xml", "unix:", "unix:", 1 },
	{ "/etc/elp/services.xml", "run/a.sock", "run/a.sock", 1 },
};

static void
test_path_absolute_conf(void **state)
{
	char *p;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(path_cases); i++) {
		p = path_cases[i].addr ?
		    cfg_addr(path_cases[i].conf, path_cases[i].in) :
		    cfg_path(path_cases[i].conf, path_cases[i].in);
		if (strcmp(p, path_cases[i].want) != 0)
			fail_msg("case %zu: \"%s\" in %s: got \"%s\", want "
			    "\"%s\"", i, path_cases[i].in, path_cases[i].conf,
			    p, path_cases[i].want);
		free(p);
	}
}

/* Returns the physical working directory (caller frees). */
static char *
cwd_now(void)
{
	char *cwd = getcwd(NULL, 0);

	assert_non_null(cwd);
	return cwd;
}

/* A relative <conf> is taken from the working directory at load time. */
static void
test_path_relative_conf(void **state)
{
	char top[] = "/tmp/test_cfg_rel.XXXXXX";
	char *saved = cwd_now(), *here, *p, *want;

	(void)state;
	assert_non_null(mkdtemp(top));
	assert_int_equal(chdir(top), 0);
	here = cwd_now();
	p = cfg_path("conf/gateway.xml", "var/log/g.log");
	want = xasprintf("%s/conf/var/log/g.log", here);
	assert_string_equal(p, want);
	free(p);
	free(want);
	p = cfg_path("gateway.xml", "services.xml");
	want = xasprintf("%s/services.xml", here);
	assert_string_equal(p, want);
	free(p);
	free(want);
	p = cfg_addr("./conf/services.xml", "unix:run/a.sock");
	want = xasprintf("unix:%s/./conf/run/a.sock", here);
	assert_string_equal(p, want);
	free(p);
	free(want);

	/* From "/", no double slash. */
	assert_int_equal(chdir("/"), 0);
	p = cfg_path("etc/elp/gateway.xml", "x");
	assert_string_equal(p, "/etc/elp/x");
	free(p);
	p = cfg_path("gateway.xml", "x");
	assert_string_equal(p, "/x");
	free(p);

	assert_int_equal(chdir(saved), 0);
	assert_int_equal(rmdir(top), 0);
	free(here);
	free(saved);
}

struct pathdst {
	char	*sock;
	char	*pw;
	char	*log;
	char	*keys;
	char	*dflt;
	char	*tcp;
};

static const struct cfg_key path_keys[] = {
	{ "sock", CFG_T_ADDR, NULL, 0, 0, offsetof(struct pathdst, sock) },
	{ "pw", CFG_T_PATH, NULL, 0, 0, offsetof(struct pathdst, pw) },
	{ "log", CFG_T_PATH, NULL, 0, 0, offsetof(struct pathdst, log) },
	{ "keys", CFG_T_PATH, NULL, 0, 0, offsetof(struct pathdst, keys) },
	{ "dflt", CFG_T_PATH, "var/run", 0, 0,
	    offsetof(struct pathdst, dflt) },
	{ "tcp", CFG_T_ADDR, "127.0.0.1:80", 0, 0,
	    offsetof(struct pathdst, tcp) },
};

#define PATH_DOC "<?xml version=\"1.0\"?>\n<test>\n" \
	"  <item sock=\"unix:../run/x.sock\" pw=\"../secrets/x.pw\"\n" \
	"        log=\"/var/log/x.log\" keys=\"./keys\"/>\n" \
	"  <item password-file=\"pw.txt\" secret-file=\"none.secret\"/>\n" \
	"</test>\n"

/*
 * Loads <conf> from the working directory at call time, reads the first
 * <item> through path_keys and checks every value against <dir>, the
 * physical directory of the file; then cfg_check_refs() finds pw.txt
 * beside the file and reports none.secret by its resolved path.
 */
static void
check_path_doc(const char *conf, const char *xsd, const char *dir)
{
	struct capture cap;
	struct cfg_doc cd;
	struct pathdst d = { 0 };
	char *log, *want;

	capture_start(&cap);
	assert_int_equal(cfg_load(&cd, conf, xsd), 0);
	assert_int_equal(cfg_read(&cd, cfg_next(cfg_root(&cd), NULL, "item"),
	    path_keys, NITEMS(path_keys), &d), 0);
	cfg_check_refs(&cd);
	log = capture_end(&cap);
	want = xasprintf("unix:%s/../run/x.sock", dir);
	assert_string_equal(d.sock, want);
	free(want);
	want = xasprintf("%s/../secrets/x.pw", dir);
	assert_string_equal(d.pw, want);
	free(want);
	assert_string_equal(d.log, "/var/log/x.log");
	want = xasprintf("%s/keys", dir);
	assert_string_equal(d.keys, want);
	free(want);
	want = xasprintf("%s/var/run", dir);
	assert_string_equal(d.dflt, want);
	free(want);
	assert_string_equal(d.tcp, "127.0.0.1:80");
	/* Exactly one error: the missing secret, by its resolved path. */
	assert_int_equal(cd.cd_nerr, 1);
	want = xasprintf("secret-file: \"%s/none.secret\": No such file", dir);
	assert_contains(log, want);
	free(want);
	assert_not_contains(log, "pw.txt");
	cfg_release_keys(path_keys, NITEMS(path_keys), &d);
	assert_null(d.sock);
	assert_null(d.dflt);
	cfg_release(&cd);
	free(log);
}

/*
 * The same file read from "/", from its own directory (bare name) and
 * from its parent (relative path) gives the same resolved values.
 */
static void
test_path_keys_any_cwd(void **state)
{
	char top[] = "/tmp/test_cfg_keys.XXXXXX";
	char *saved = cwd_now(), *rel = data_path("schema/test.xsd");
	char *xsd, *dir, *conf, *pw;
	int fd;

	(void)state;
	assert_non_null(xsd = realpath(rel, NULL));
	assert_non_null(mkdtemp(top));
	assert_int_equal(chdir(top), 0);
	dir = cwd_now();
	assert_int_equal(chdir(saved), 0);
	conf = xasprintf("%s/x.xml", dir);
	pw = xasprintf("%s/pw.txt", dir);
	fd = open(conf, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_int_not_equal(fd, -1);
	assert_int_equal(write(fd, PATH_DOC, strlen(PATH_DOC)),
	    (ssize_t)strlen(PATH_DOC));
	close(fd);
	touch(pw);

	assert_int_equal(chdir("/"), 0);
	check_path_doc(conf, xsd, dir);
	assert_int_equal(chdir(dir), 0);
	check_path_doc("x.xml", xsd, dir);
	assert_int_equal(chdir(".."), 0);
	free(conf);
	conf = xasprintf("%s/x.xml", strrchr(dir, '/') + 1);
	check_path_doc(conf, xsd, dir);

	assert_int_equal(chdir(saved), 0);
	unlink(pw);
	free(conf);
	conf = xasprintf("%s/x.xml", dir);
	unlink(conf);
	assert_int_equal(rmdir(dir), 0);
	free(conf);
	free(pw);
	free(dir);
	free(xsd);
	free(rel);
	free(saved);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_bad_syntax_line),
		cmocka_unit_test(test_bad_schema_all_errors),
		cmocka_unit_test(test_doctype_refused),
		cmocka_unit_test(test_missing_files),
		cmocka_unit_test(test_read_types),
		cmocka_unit_test(test_read_table_and_defaults),
		cmocka_unit_test(test_read_required_and_all_errors),
		cmocka_unit_test(test_cfg_error_format),
		cmocka_unit_test(test_schema_path),
		cmocka_unit_test(test_path_absolute_conf),
		cmocka_unit_test(test_path_relative_conf),
		cmocka_unit_test(test_path_keys_any_cwd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
