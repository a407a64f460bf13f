/*
 * cfg: XML configuration files validated against an XSD, read through
 * key tables.
 *
 * Every libxml2 diagnostic is routed through cfg_xml_error(), which prints
 * it as "file:line: reason" and counts it, so an operator sees every
 * problem in one run. Documents are parsed without network access, without
 * entity substitution or XInclude, and a DOCTYPE stops the parse: a config
 * file never needs one, and refusing it closes the door on XXE and entity
 * expansion bombs.
 *
 * cfg_load() swaps libxml2's process-wide error handler and entity loader
 * while it runs, so two threads must not load at the same time (our
 * programs load before they fork workers).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlIO.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>

#include "cfg.h"
#include "log.h"
#include "util.h"

/* No NOENT, DTDLOAD or XINCLUDE: entities stay unexpanded, nothing loads. */
#define CFG_XML_OPTIONS	(XML_PARSE_NONET | XML_PARSE_BIG_LINES)
#define CFG_MAX_FILE	(4 * 1024 * 1024)
#define CFG_HIDDEN	"(hidden)"
/* Attributes naming a file that must be readable at load. */
#define CFG_FILE_ATTRS	"password-file secret-file ca-file cert-file key-file"

/* libxml2 process state swapped in for the duration of cfg_load(). */
struct cfg_saved {
	xmlStructuredErrorFunc	 cs_serror;
	void			*cs_sctx;
	xmlExternalEntityLoader	 cs_loader;
};

/* One value parser per enum cfg_type; 0 or -1 after reporting. */
typedef int (*cfg_parse_fn)(struct cfg_doc *, xmlNodePtr,
    const struct cfg_key *, const char *, void *);

/*
 * Returns 1 when values of attribute <name> must never be echoed in a
 * message (passwords, secrets, tokens), 0 otherwise.
 */
static int
cfg_is_secret(const char *name)
{
	static const char *const words[] = {
		"password", "passwd", "secret", "token",
	};
	size_t i;

	for (i = 0; i < NITEMS(words); i++)
		if (strcasestr(name, words[i]) != NULL)
			return 1;
	return 0;
}

/*
 * Returns a heap copy of <msg> in which every quoted occurrence of <val>
 * ('val') is replaced with a placeholder. Consumes <msg>.
 */
static char *
cfg_mask(char *msg, const char *val)
{
	char *quoted, *hit, *out;

	if (*val == '\0')
		return msg;
	quoted = xasprintf("'%s'", val);
	while ((hit = strstr(msg, quoted)) != NULL) {
		out = xasprintf("%.*s'" CFG_HIDDEN "'%s", (int)(hit - msg), msg,
		    hit + strlen(quoted));
		free(msg);
		msg = out;
	}
	free(quoted);
	return msg;
}

/*
 * Returns a heap copy of libxml2 message <msg> without its trailing
 * newline, and with the values of the secret attributes of the element
 * behind <node> masked (schema errors quote the offending value).
 */
static char *
cfg_redact(const char *msg, xmlNodePtr node)
{
	char *out = xstrndup(msg, strcspn(msg, "\n"));
	xmlAttrPtr a;
	xmlChar *v;

	if (node != NULL && node->type == XML_ATTRIBUTE_NODE)
		node = node->parent;
	if (node == NULL || node->type != XML_ELEMENT_NODE)
		return out;
	for (a = node->properties; a != NULL; a = a->next) {
		if (!cfg_is_secret((const char *)a->name))
			continue;
		if ((v = xmlNodeListGetString(node->doc, a->children, 1)) ==
		    NULL)
			continue;
		out = cfg_mask(out, (const char *)v);
		xmlFree(v);
	}
	return out;
}

/*
 * Structured error handler for the parser, the schema parser and the
 * validator: reports <e> as file:line: reason. Warnings are printed but
 * not counted.
 */
static void
cfg_xml_error(void *arg, xmlErrorPtr e)
{
	struct cfg_doc *cd = arg;
	const char *file = e->file != NULL ? e->file : cd->cd_path;
	const char *sev = e->level == XML_ERR_WARNING ? "warning: " : "";
	enum log_level lvl = e->level == XML_ERR_WARNING ? LOG_LVL_WARN :
	    LOG_LVL_ERROR;
	long line = e->line;
	char *msg;

	if (line <= 0 && e->node != NULL)
		line = xmlGetLineNo(e->node);
	msg = cfg_redact(e->message != NULL ? e->message : "unknown error",
	    e->node);
	if (line > 0)
		log_msg(lvl, "%s:%ld: %s%s", file, line, sev, msg);
	else
		log_msg(lvl, "%s: %s%s", file, sev, msg);
	if (e->level != XML_ERR_WARNING)
		cd->cd_nerr++;
	free(msg);
}

/*
 * SAX hook called when the parser meets a DOCTYPE: reports it and stops
 * the parse before any of the internal subset is read.
 */
static void
cfg_no_doctype(void *ctx, const xmlChar *name, const xmlChar *eid,
    const xmlChar *sid)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct cfg_doc *cd = ctxt->_private;
	int line = ctxt->input != NULL ? ctxt->input->line : 0;

	(void)name;
	(void)eid;
	(void)sid;
	log_error("%s:%d: DOCTYPE is not allowed in a configuration file",
	    cd->cd_path, line);
	cd->cd_nerr++;
	xmlStopParser(ctxt);
}

/* Parses cd_path into cd_doc. Returns 0 or -1 after reporting. */
static int
cfg_parse(struct cfg_doc *cd)
{
	xmlParserCtxtPtr ctxt = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	if (util_read_file(cd->cd_path, CFG_MAX_FILE, &text, &len) == -1) {
		log_error("%s: cannot read: %s", cd->cd_path, strerror(errno));
		cd->cd_nerr++;
		goto done;
	}
	if ((ctxt = xmlNewParserCtxt()) == NULL)
		fatalx("%s: cannot allocate an XML parser", __func__);
	ctxt->sax->internalSubset = cfg_no_doctype;
	ctxt->_private = cd;
	cd->cd_doc = xmlCtxtReadMemory(ctxt, text, (int)len, cd->cd_path,
	    NULL, CFG_XML_OPTIONS);
	/* A stopped parse (DOCTYPE) may still hand back a document. */
	if (cd->cd_doc == NULL || !ctxt->wellFormed || cd->cd_nerr > 0) {
		if (cd->cd_nerr == 0) {
			log_error("%s: not well-formed XML", cd->cd_path);
			cd->cd_nerr++;
		}
		goto done;
	}
	rc = 0;
done:
	if (ctxt != NULL)
		xmlFreeParserCtxt(ctxt);
	free(text);
	return rc;
}

/*
 * Compiles the schema at <xsd>. Returns it (free with xmlSchemaFree) or
 * NULL after reporting why, including the schema's own errors.
 */
static xmlSchemaPtr
cfg_schema_load(struct cfg_doc *cd, const char *xsd)
{
	xmlSchemaParserCtxtPtr pctxt;
	xmlSchemaPtr schema;

	/* libxml2 would only say "failed to load external entity". */
	if (access(xsd, R_OK) == -1) {
		log_error("%s: cannot read schema %s: %s", cd->cd_path, xsd,
		    strerror(errno));
		cd->cd_nerr++;
		return NULL;
	}
	if ((pctxt = xmlSchemaNewParserCtxt(xsd)) == NULL)
		fatalx("%s: cannot allocate a schema parser", __func__);
	xmlSchemaSetParserStructuredErrors(pctxt, cfg_xml_error, cd);
	if ((schema = xmlSchemaParse(pctxt)) == NULL) {
		log_error("%s: cannot load schema %s", cd->cd_path, xsd);
		cd->cd_nerr++;
	}
	xmlSchemaFreeParserCtxt(pctxt);
	return schema;
}

/*
 * Validates cd_doc against the schema at <xsd>. Returns 0 when valid, -1
 * after reporting every violation.
 */
static int
cfg_validate(struct cfg_doc *cd, const char *xsd)
{
	xmlSchemaValidCtxtPtr vctxt = NULL;
	xmlSchemaPtr schema;
	int before = cd->cd_nerr, rc = -1;

	if ((schema = cfg_schema_load(cd, xsd)) == NULL)
		return -1;
	if ((vctxt = xmlSchemaNewValidCtxt(schema)) == NULL)
		fatalx("%s: cannot allocate a schema validator", __func__);
	xmlSchemaSetValidStructuredErrors(vctxt, cfg_xml_error, cd);
	if (xmlSchemaValidateDoc(vctxt, cd->cd_doc) != 0) {
		if (cd->cd_nerr == before) {
			log_error("%s: does not match schema %s", cd->cd_path,
			    xsd);
			cd->cd_nerr++;
		}
		goto done;
	}
	rc = cd->cd_nerr == before ? 0 : -1;
done:
	xmlSchemaFreeValidCtxt(vctxt);
	xmlSchemaFree(schema);
	return rc;
}

int
cfg_load(struct cfg_doc *cd, const char *path, const char *xsd)
{
	struct cfg_saved saved;
	int rc = -1;

	memset(cd, 0, sizeof(*cd));
	cd->cd_path = xstrdup(path);
	saved.cs_serror = xmlStructuredError;
	saved.cs_sctx = xmlStructuredErrorContext;
	saved.cs_loader = xmlGetExternalEntityLoader();
	/*
	 * Catches diagnostics raised without a context, and keeps schema
	 * includes and imports off the network.
	 */
	xmlSetStructuredErrorFunc(cd, cfg_xml_error);
	xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader);
	/*
	 * A document that parsed but breaks the schema is kept: the caller's
	 * semantic checks still run on it, so the operator sees those errors
	 * in the same run, and the load is refused through cd_nerr.
	 */
	if (cfg_parse(cd) == -1)
		goto done;
	(void)cfg_validate(cd, xsd);
	rc = 0;
done:
	xmlSetExternalEntityLoader(saved.cs_loader);
	xmlSetStructuredErrorFunc(saved.cs_sctx, saved.cs_serror);
	if (rc == -1) {
		log_error("%s: %d error%s, configuration not loaded",
		    cd->cd_path, cd->cd_nerr, cd->cd_nerr == 1 ? "" : "s");
		cfg_release(cd);
	}
	return rc;
}

/*
 * Frees the document and path of <cd>. cd_nerr is kept so a caller can
 * still report the count after a failed cfg_load(). Safe to call twice.
 */
void
cfg_release(struct cfg_doc *cd)
{
	if (cd->cd_doc != NULL)
		xmlFreeDoc(cd->cd_doc);
	cd->cd_doc = NULL;
	free(cd->cd_path);
	cd->cd_path = NULL;
}

xmlNodePtr
cfg_root(const struct cfg_doc *cd)
{
	return xmlDocGetRootElement(cd->cd_doc);
}

xmlNodePtr
cfg_next(xmlNodePtr parent, xmlNodePtr prev, const char *name)
{
	xmlNodePtr n;

	n = prev != NULL ? prev->next : parent->children;
	for (; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE &&
		    xmlStrcmp(n->name, (const xmlChar *)name) == 0)
			return n;
	return NULL;
}

void
cfg_error(struct cfg_doc *cd, xmlNodePtr node, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	long line = node != NULL ? xmlGetLineNo(node) : -1;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatalx("%s: out of memory", __func__);
	if (line > 0)
		log_error("%s:%ld: %s", cd->cd_path, line, msg);
	else
		log_error("%s: %s", cd->cd_path, msg);
	cd->cd_nerr++;
	free(msg);
}

/* The value of <k> as it may appear in a message. */
static const char *
cfg_shown(const struct cfg_key *k, const char *text)
{
	return cfg_is_secret(k->ck_name) ? CFG_HIDDEN : text;
}

/*
 * Reports that <text> is not a valid value for <k>, with <want> naming
 * what was expected.
 */
static int
cfg_bad(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *k,
    const char *text, const char *want)
{
	cfg_error(cd, node, "attribute '%s': '%s' is not %s", k->ck_name,
	    cfg_shown(k, text), want);
	return -1;
}

/*
 * Checks <v> (negative only for CFG_T_INT) against the bounds of <k>;
 * reports and returns -1 when outside.
 */
static int
cfg_bounds(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *k,
    const char *text, int64_t v)
{
	static const char *const units[CFG_T_COUNT] = {
		[CFG_T_SIZE] = " bytes", [CFG_T_DURATION] = " ms",
	};
	const char *unit = units[k->ck_type] != NULL ? units[k->ck_type] : "";

	if (k->ck_min == 0 && k->ck_max == 0)
		return 0;
	if (v >= k->ck_min && v <= k->ck_max)
		return 0;
	cfg_error(cd, node, "attribute '%s': '%s' is out of range "
	    "[%" PRId64 ", %" PRId64 "]%s", k->ck_name, cfg_shown(k, text),
	    k->ck_min, k->ck_max, unit);
	return -1;
}

static int
cfg_parse_str(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *k,
    const char *text, void *field)
{
	(void)cd;
	(void)node;
	(void)k;
	*(char **)field = xstrdup(text);
	return 0;
}

static int
cfg_parse_int(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *k,
    const char *text, void *field)
{
	const char *p = text + (*text == '-');
	char *end;
	long long v;

	/* strtoll alone would accept blanks, '+' and an empty string. */
	if (!isdigit((unsigned char)*p))
		return cfg_bad(cd, node, k, text, "an integer");
	errno = 0;
	v = strtoll(text, &end, 10);
	if (*end != '\0')
		return cfg_bad(cd, node, k, text, "an integer");
	if (errno == ERANGE)
		return cfg_bad(cd, node, k, text, "a 64-bit integer");
	if (cfg_bounds(cd, node, k, text, v) == -1)
		return -1;
	*(int64_t *)field = v;
	return 0;
}

static int
cfg_parse_bool(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *k,
    const char *text, void *field)
{
	static const struct {
		const char	*word;
		int		 val;
	} words[] = {
		{ "yes", 1 }, { "true", 1 }, { "on", 1 }, { "1", 1 },
		{ "no", 0 }, { "false", 0 }, { "off", 0 }, { "0", 0 },
	};
	size_t i;

	for (i = 0; i < NITEMS(words); i++) {
		if (strcmp(text, words[i].word) == 0) {
			*(int *)field = words[i].val;
			return 0;
		}
	}
	return cfg_bad(cd, node, k, text, "a boolean (yes/no, true/false, "
	    "on/off, 1/0)");
}

/* SIZE and DURATION: unsigned quantities with a unit suffix. */
static int
cfg_parse_unit(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *k,
    const char *text, void *field)
{
	uint64_t v;
	int rc;

	if (k->ck_type == CFG_T_SIZE)
		rc = util_parse_size(text, &v);
	else
		rc = util_parse_duration(text, &v);
	if (rc == -1)
		return cfg_bad(cd, node, k, text, k->ck_type == CFG_T_SIZE ?
		    "a size such as 512, 64k, 1m or 2g" :
		    "a duration such as 250ms, 2s, 5m or 1h");
	if (cfg_bounds(cd, node, k, text,
	    v > INT64_MAX ? INT64_MAX : (int64_t)v) == -1)
		return -1;
	*(uint64_t *)field = v;
	return 0;
}

static int
cfg_parse_octal(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *k,
    const char *text, void *field)
{
	const char *p;
	long v;

	for (p = text; *p >= '0' && *p <= '7'; p++)
		;
	if (p == text || *p != '\0' || p - text > 5)
		return cfg_bad(cd, node, k, text, "an octal mode such as 0640");
	v = strtol(text, NULL, 8);
	if (v > 07777)
		return cfg_bad(cd, node, k, text,
		    "a file mode (at most 07777)");
	*(int *)field = (int)v;
	return 0;
}

/* PATH and ADDR: strings resolved against the file's directory. */
static int
cfg_parse_path(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *k,
    const char *text, void *field)
{
	(void)node;
	if (k->ck_type == CFG_T_ADDR)
		*(char **)field = cfg_addr(cd->cd_path, text);
	else
		*(char **)field = cfg_path(cd->cd_path, text);
	return 0;
}

static const cfg_parse_fn cfg_parsers[CFG_T_COUNT] = {
	[CFG_T_STR] = cfg_parse_str,
	[CFG_T_INT] = cfg_parse_int,
	[CFG_T_BOOL] = cfg_parse_bool,
	[CFG_T_SIZE] = cfg_parse_unit,
	[CFG_T_DURATION] = cfg_parse_unit,
	[CFG_T_OCTAL] = cfg_parse_octal,
	[CFG_T_PATH] = cfg_parse_path,
	[CFG_T_ADDR] = cfg_parse_path,
};

/* Reads one key of <node> into <dst>; 0 or -1 after reporting. */
static int
cfg_read_key(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *k,
    void *dst)
{
	xmlChar *val;
	const char *text;
	int rc;

	val = xmlGetNoNsProp(node, (const xmlChar *)k->ck_name);
	if (val == NULL && k->ck_def == NULL) {
		cfg_error(cd, node, "<%s>: required attribute '%s' is missing",
		    (const char *)node->name, k->ck_name);
		return -1;
	}
	text = val != NULL ? (const char *)val : k->ck_def;
	rc = cfg_parsers[k->ck_type](cd, node, k, text,
	    (char *)dst + k->ck_off);
	xmlFree(val);
	return rc;
}

int
cfg_read(struct cfg_doc *cd, xmlNodePtr node, const struct cfg_key *keys,
    size_t nkeys, void *dst)
{
	size_t i;
	int rc = 0;

	/* No early exit: the operator should see every bad key at once. */
	for (i = 0; i < nkeys; i++)
		if (cfg_read_key(cd, node, &keys[i], dst) == -1)
			rc = -1;
	return rc;
}

void
cfg_release_keys(const struct cfg_key *keys, size_t nkeys, void *dst)
{
	char **field;
	size_t i;

	for (i = 0; i < nkeys; i++) {
		if (keys[i].ck_type != CFG_T_STR &&
		    keys[i].ck_type != CFG_T_PATH &&
		    keys[i].ck_type != CFG_T_ADDR)
			continue;
		field = (char **)(void *)((char *)dst + keys[i].ck_off);
		free(*field);
		*field = NULL;
	}
}

/*
 * Returns the directory of <conf> as a heap string, absolute when the
 * working directory can be read ("" for a file in "/").
 */
static char *
cfg_conf_dir(const char *conf)
{
	const char *slash = strrchr(conf, '/');
	char *cwd, *dir;

	if (slash == conf)
		return xstrdup("");
	if (conf[0] == '/')
		return xstrndup(conf, (size_t)(slash - conf));
	/* getcwd() fails only when the directory is gone or too deep:
	 * relative to the working directory is then the best left. */
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return slash != NULL ? xstrndup(conf, (size_t)(slash - conf)) :
		    xstrdup(".");
	if (slash == NULL)
		dir = xstrdup(strcmp(cwd, "/") == 0 ? "" : cwd);
	else
		dir = xasprintf("%s/%.*s", strcmp(cwd, "/") == 0 ? "" : cwd,
		    (int)(slash - conf), conf);
	free(cwd);
	return dir;
}

char *
cfg_path(const char *conf, const char *path)
{
	char *dir, *out;

	if (path[0] == '\0' || path[0] == '/')
		return xstrdup(path);
	while (path[0] == '.' && path[1] == '/')
		path += 2 + strspn(path + 2, "/");
	dir = cfg_conf_dir(conf);
	out = path[0] == '\0' || strcmp(path, ".") == 0 ?
	    xstrdup(dir[0] != '\0' ? dir : "/") :
	    xasprintf("%s/%s", dir, path);
	free(dir);
	return out;
}

char *
cfg_addr(const char *conf, const char *addr)
{
	char *path, *out;

	if (strncmp(addr, "unix:", 5) != 0 || addr[5] == '\0')
		return xstrdup(addr);
	path = cfg_path(conf, addr + 5);
	out = xasprintf("unix:%s", path);
	free(path);
	return out;
}

/* Returns a heap copy of "<dir>/<rel>/<name>" when readable, else NULL. */
static char *
cfg_try_schema(const char *dir, const char *rel, const char *name)
{
	char *path = xasprintf("%s/%s/%s", dir, rel, name);

	if (access(path, R_OK) == 0)
		return path;
	free(path);
	return NULL;
}

char *
cfg_schema_path(const char *conf, const char *name)
{
	const char *slash = strrchr(conf, '/');
	char *dir, *path;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == conf)
		dir = xstrdup("");
	else
		dir = xstrndup(conf, (size_t)(slash - conf));
	if ((path = cfg_try_schema(dir, "schema", name)) == NULL)
		path = cfg_try_schema(dir, "../schema", name);
	free(dir);
	return path;
}

int
cfg_port_ok(const char *port, size_t len)
{
	size_t i;
	long v = 0;

	if (len == 0 || len > 5)
		return 0;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)port[i]))
			return 0;
		v = v * 10 + (port[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

int
cfg_check_address(struct cfg_doc *cd, xmlNodePtr node, const char *attr,
    const char *addr)
{
	const char *colon;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (addr[5] != '\0')
			return 0;
		cfg_error(cd, node, "%s: \"%s\" names no socket path", attr,
		    addr);
		return -1;
	}
	if ((colon = strrchr(addr, ':')) == NULL || colon == addr) {
		cfg_error(cd, node, "%s: \"%s\" is not host:port, [v6]:port "
		    "or unix:path", attr, addr);
		return -1;
	}
	if (!cfg_port_ok(colon + 1, strlen(colon + 1))) {
		cfg_error(cd, node, "%s: port \"%s\" of \"%s\" is not a "
		    "number in 1..65535", attr, colon + 1, addr);
		return -1;
	}
	return 0;
}

int
cfg_check_file(struct cfg_doc *cd, xmlNodePtr node, const char *attr,
    const char *path)
{
	if (path == NULL || *path == '\0')
		return 0;
	if (access(path, R_OK) == 0)
		return 0;
	cfg_error(cd, node, "%s: \"%s\": %s", attr, path, strerror(errno));
	return -1;
}

/* Whether <s> (<len> bytes) is in the blank-separated list <words>. */
static int
cfg_word_in(const char *s, size_t len, const char *words)
{
	size_t wl;

	for (;;) {
		words += strspn(words, " ");
		if (*words == '\0')
			return 0;
		wl = strcspn(words, " ");
		if (wl == len && strncasecmp(s, words, len) == 0)
			return 1;
		words += wl;
	}
}

int
cfg_check_url(struct cfg_doc *cd, xmlNodePtr node, const char *attr,
    const char *url, const char *schemes)
{
	const char *p, *auth, *end, *host, *port = NULL;
	size_t hlen;

	if (url == NULL || *url == '\0')
		return 0;
	p = strstr(url, "://");
	if (p == NULL || !cfg_word_in(url, (size_t)(p - url), schemes)) {
		cfg_error(cd, node, "%s: \"%s\" is not a URL with scheme %s",
		    attr, url, schemes);
		return -1;
	}
	auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	host = auth;
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		host = (const char *)memchr(auth, '@', (size_t)(end - auth)) +
		    1;
	if (*host == '[') {
		if ((p = memchr(host, ']', (size_t)(end - host))) == NULL)
			goto bad_host;
		hlen = (size_t)(p - host) + 1;
		if (p + 1 < end) {
			if (p[1] != ':')
				goto bad_host;
			port = p + 2;
		}
	} else {
		p = memchr(host, ':', (size_t)(end - host));
		hlen = (size_t)((p != NULL ? p : end) - host);
		if (p != NULL)
			port = p + 1;
	}
	if (hlen == 0 || (*host != '[' && strcspn(host, "[]@ ") < hlen))
		goto bad_host;
	if (port != NULL && !cfg_port_ok(port, (size_t)(end - port))) {
		cfg_error(cd, node, "%s: \"%s\": port \"%.*s\" is not a "
		    "number in 1..65535", attr, url, (int)(end - port), port);
		return -1;
	}
	return 0;
bad_host:
	cfg_error(cd, node, "%s: \"%s\" names no valid host", attr, url);
	return -1;
}

/* cfg_check_file() on <path> resolved against the file's directory. */
static void
cfg_check_path(struct cfg_doc *cd, xmlNodePtr node, const char *attr,
    const char *path)
{
	char *full = cfg_path(cd->cd_path, path);

	cfg_check_file(cd, node, attr, full);
	free(full);
}

/* Checks the attributes of <node> by name, then its children. */
static void
cfg_check_tree(struct cfg_doc *cd, xmlNodePtr node)
{
	xmlAttrPtr a;
	xmlNodePtr c;
	xmlChar *v;
	const char *name, *val;
	size_t len;

	for (a = node->properties; a != NULL; a = a->next) {
		name = (const char *)a->name;
		len = strlen(name);
		if ((v = xmlNodeListGetString(node->doc, a->children, 1)) ==
		    NULL)
			continue;
		val = (const char *)v;
		if (strcmp(name, "listen") == 0)
			cfg_check_address(cd, node, name, val);
		else if (cfg_word_in(name, len, CFG_FILE_ATTRS))
			cfg_check_path(cd, node, name, val);
		else if (strcmp(name, "url") == 0 &&
		    xmlStrcmp(node->name, (const xmlChar *)"smtp") == 0)
			cfg_check_url(cd, node, name, val, "smtp smtps");
		else if (len >= 3 && strcmp(name + len - 3, "url") == 0)
			cfg_check_url(cd, node, name, val, "http https");
		xmlFree(v);
	}
	for (c = node->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			cfg_check_tree(cd, c);
}

void
cfg_check_refs(struct cfg_doc *cd)
{
	xmlNodePtr root = cfg_root(cd);

	if (root != NULL)
		cfg_check_tree(cd, root);
}
