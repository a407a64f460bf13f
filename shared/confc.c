/*
 * confc: a service's configuration from elp-confd (see confc.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "buf.h"
#include "cfg.h"
#include "confc.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define CONFC_XSD	"service.xsd"
#define CONFC_MAX_BODY	(4 * 1024 * 1024)	/* bytes of a configuration */
#define CONFC_DEPTH	32	/* element nesting accepted */

struct confc_cfg {
	char		*cf_url;
	char		*cf_profile;
	char		*cf_cache;
	uint64_t	 cf_timeout;
};

#define OFF(f)	offsetof(struct confc_cfg, f)
static const struct cfg_key confc_keys[] = {
	{ "url", CFG_T_STR, NULL, 0, 0, OFF(cf_url) },
	{ "profile", CFG_T_STR, NULL, 0, 0, OFF(cf_profile) },
	{ "cache", CFG_T_PATH, NULL, 0, 0, OFF(cf_cache) },
	{ "timeout", CFG_T_DURATION, "2s", 10, 600000, OFF(cf_timeout) },
};
#undef OFF

/* Whether <path>'s root has a <confd> child; no logging. */
static int
confc_wanted(const char *path)
{
	xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET |
	    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlNodePtr root;
	int found = 0;

	if (doc != NULL && (root = xmlDocGetRootElement(doc)) != NULL)
		found = cfg_next(root, NULL, "confd") != NULL;
	xmlFreeDoc(doc);
	return found;
}

/*
 * Reads the <confd> element of <path> into <cf> and the service name
 * into *<name>. Returns 0, or -1 after every file:line error.
 */
static int
confc_read(const char *path, struct confc_cfg *cf, char **name)
{
	struct cfg_doc cd;
	xmlNodePtr root, n;
	xmlChar *v;
	char *xsd;
	int rc = -1;

	if ((xsd = cfg_schema_path(path, CONFC_XSD)) == NULL) {
		log_error("%s: schema %s not found beside it", path, CONFC_XSD);
		return -1;
	}
	if (cfg_load(&cd, path, xsd) == -1) {
		free(xsd);
		return -1;
	}
	root = cfg_root(&cd);
	(void)cfg_read(&cd, cfg_next(root, NULL, "confd"), confc_keys,
	    NITEMS(confc_keys), cf);
	for (n = root->children; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE &&
		    xmlStrcmp(n->name, BAD_CAST "confd") != 0)
			cfg_error(&cd, n, "<%s> beside <confd>: the settings "
			    "come from elp-confd", (const char *)n->name);
	cfg_check_url(&cd, cfg_next(root, NULL, "confd"), "url", cf->cf_url,
	    "http https");
	v = xmlGetProp(root, BAD_CAST "name");
	*name = xstrdup(v != NULL ? (const char *)v : "");
	xmlFree(v);
	if (cd.cd_nerr == 0)
		rc = 0;
	else
		log_error("%s: %d error(s), configuration refused", path,
		    cd.cd_nerr);
	cfg_release(&cd);
	free(xsd);
	return rc;
}

/* Builds element <j> ({"name","attributes","children"}) under <parent>
 * (or as the root of <doc>); -1 when malformed. */
static int
confc_build(xmlDocPtr doc, xmlNodePtr parent, json_t *j, int depth)
{
	const char *name = json_string_value(json_object_get(j, "name"));
	json_t *attrs = json_object_get(j, "attributes");
	json_t *kids = json_object_get(j, "children"), *v;
	const char *k;
	xmlNodePtr n;
	size_t i;

	if (name == NULL || depth > CONFC_DEPTH ||
	    xmlValidateNCName((const xmlChar *)name, 0) != 0 ||
	    (attrs != NULL && !json_is_object(attrs)) ||
	    (kids != NULL && !json_is_array(kids)))
		return -1;
	n = xmlNewDocNode(doc, NULL, (const xmlChar *)name, NULL);
	if (parent == NULL)
		xmlDocSetRootElement(doc, n);
	else
		xmlAddChild(parent, n);
	json_object_foreach(attrs, k, v) {
		if (!json_is_string(v) || xmlValidateNCName((const xmlChar *)k, 0) !=
		    0)
			return -1;
		xmlNewProp(n, (const xmlChar *)k, (const xmlChar *)json_string_value(v));
	}
	json_array_foreach(kids, i, v)
		if (confc_build(doc, n, v, depth + 1) == -1)
			return -1;
	return 0;
}

/* Writes <s> to <path> and syncs it; -1 with errno. */
static int
confc_write(const char *path, const char *s, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd == -1)
		return -1;
	while (len > 0) {
		if ((n = write(fd, s, len)) == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* The JSON answer in <body> as an XML file at <tmp>; -1 after logging. */
static int
confc_save(const char *url, struct buf *body, const char *tmp)
{
	json_t *j = json_loadb(buf_data(body), buf_avail(body), 0, NULL);
	json_t *tree = json_object_get(json_object_get(j, "responseBody"),
	    "configuration");
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlChar *mem = NULL;
	int len = 0, rc = -1;

	if (tree == NULL || confc_build(doc, NULL, tree, 0) == -1)
		log_error("%s: not a configuration (JSON element tree)", url);
	else {
		xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
		if (mem == NULL || confc_write(tmp, (const char *)mem,
		    (size_t)len) == -1)
			log_warn("%s", tmp);
		else
			rc = 0;
	}
	xmlFree(mem);
	xmlFreeDoc(doc);
	json_decref(j);
	return rc;
}

/* GET <url> into <resp>; -1 after a warning naming why. */
static int
confc_fetch(const char *url, uint64_t timeout, struct http_resp *resp)
{
	struct http_opts ho;
	struct http_req hq;
	struct http_client *hc;
	int rc = -1;

	memset(&ho, 0, sizeof(ho));
	ho.ho_timeout = timeout;
	ho.ho_max = CONFC_MAX_BODY;
	memset(&hq, 0, sizeof(hq));
	hq.hq_url = url;
	hq.hq_accept = "application/json";
	hc = http_new(&ho);
	if (http_do(hc, &hq, resp) == -1)
		log_warnx("elp-confd unreachable: %s: %s", url, resp->hr_why);
	else if (resp->hr_status != 200)
		log_warnx("elp-confd: %s answered %ld", url, resp->hr_status);
	else
		rc = 0;
	http_free(hc);
	return rc;
}

/* Fetches, checks and caches; 0 when the cache is now fresh. */
static int
confc_refresh(const char *url, const struct confc_cfg *cf,
    confc_check_fn check, void *arg)
{
	struct http_resp resp;
	char *c1 = xstrdup(cf->cf_cache), *c2 = xstrdup(cf->cf_cache), *tmp;
	int rc = -1;

	memset(&resp, 0, sizeof(resp));
	tmp = xasprintf("%s/.%s.new", dirname(c1), basename(c2));
	if (confc_fetch(url, cf->cf_timeout, &resp) == 0 &&
	    confc_save(url, &resp.hr_body, tmp) == 0) {
		if (check(tmp, arg) == -1)
			log_error("%s: the configuration elp-confd sent is "
			    "refused (reasons above)", url);
		else if (rename(tmp, cf->cf_cache) == -1)
			log_warn("%s", cf->cf_cache);
		else {
			rc = 0;
			log_info("configuration %s checked and kept in %s", url,
			    cf->cf_cache);
		}
	}
	(void)unlink(tmp);
	http_resp_release(&resp);
	free(tmp);
	free(c1);
	free(c2);
	return rc;
}

char *
confc_resolve(const char *path, confc_check_fn check, void *arg)
{
	struct confc_cfg cf;
	char *name = NULL, *url = NULL, *r = NULL;

	if (!confc_wanted(path))
		return xstrdup(path);
	memset(&cf, 0, sizeof(cf));
	if (confc_read(path, &cf, &name) == -1)
		goto done;
	url = xasprintf("%s/%s/%s", cf.cf_url, name, cf.cf_profile);
	if (confc_refresh(url, &cf, check, arg) == 0)
		r = xstrdup(cf.cf_cache);
	else if (access(cf.cf_cache, R_OK) == 0) {
		log_warnx("%s: starting from the last good copy %s", path,
		    cf.cf_cache);
		r = xstrdup(cf.cf_cache);
	} else
		log_error("%s: no configuration: none from %s and no last "
		    "good copy at %s", path, url, cf.cf_cache);
done:
	cfg_release_keys(confc_keys, NITEMS(confc_keys), &cf);
	free(url);
	free(name);
	return r;
}
