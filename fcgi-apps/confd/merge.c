/*
 * merge: a service's configuration under a profile, and its JSON form
 * (conf/README.md, "Profiles"; docs in man/elp-confd.8).
 */
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "cfg.h"
#include "confd.h"
#include "util.h"

/* Attributes that name the element among its siblings, in order. */
static const char *const merge_keys[] = { "name", "id" };

int
merge_name_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		if (i >= CONFD_NAME_MAX)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '-'))
			return 0;
	}
	return 1;
}

xmlDocPtr
merge_read(const char *path)
{
	return xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
	    XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
}

/* The key attribute <src> carries (its name in *<key>), or NULL. */
static xmlChar *
merge_key(xmlNodePtr src, const char **key)
{
	xmlChar *v;
	size_t i;

	for (i = 0; i < NITEMS(merge_keys); i++) {
		v = xmlGetProp(src, (const xmlChar *)merge_keys[i]);
		if (v != NULL) {
			*key = merge_keys[i];
			return v;
		}
	}
	return NULL;
}

/*
 * The child of <dst> that element <src> of a profile overrides: same
 * element name and same key attribute value when <src> has one, else the
 * first of that name. NULL when none; *<last> is then the last child of
 * that name (or NULL).
 */
static xmlNodePtr
merge_match(xmlNodePtr dst, xmlNodePtr src, xmlNodePtr *last)
{
	const char *key = NULL;
	xmlChar *want, *have;
	xmlNodePtr c, found = NULL;

	*last = NULL;
	want = merge_key(src, &key);
	for (c = dst->children; c != NULL && found == NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(c->name, src->name) != 0)
			continue;
		*last = c;
		if (want == NULL) {
			found = c;
			break;
		}
		have = xmlGetProp(c, (const xmlChar *)key);
		if (have != NULL && xmlStrcmp(have, want) == 0)
			found = c;
		xmlFree(have);
	}
	xmlFree(want);
	return found;
}

/* Applies element <src> of a profile to <dst>: attributes, then children. */
static void
merge_node(xmlNodePtr dst, xmlNodePtr src, int keep_name)
{
	xmlAttrPtr a;
	xmlNodePtr c, m, last, copy;
	xmlChar *v;

	for (a = src->properties; a != NULL; a = a->next) {
		if (keep_name && xmlStrcmp(a->name, BAD_CAST "name") == 0)
			continue;
		v = xmlNodeGetContent((xmlNodePtr)a);
		xmlSetProp(dst, a->name, v != NULL ? v : BAD_CAST "");
		xmlFree(v);
	}
	for (c = src->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if ((m = merge_match(dst, c, &last)) != NULL) {
			merge_node(m, c, 0);
			continue;
		}
		copy = xmlDocCopyNode(c, dst->doc, 1);
		if (copy == NULL)
			continue;
		if (last != NULL)
			xmlAddNextSibling(last, copy);
		else
			xmlAddChild(dst, copy);
	}
}

int
merge_apply(xmlDocPtr base, xmlDocPtr prof)
{
	xmlNodePtr root = xmlDocGetRootElement(base);
	xmlNodePtr proot = xmlDocGetRootElement(prof), s;
	xmlChar *want, *have;
	int touched = 0;

	if (root == NULL || proot == NULL)
		return 0;
	want = xmlGetProp(root, BAD_CAST "name");
	if (want == NULL)
		return 0;
	/* Every section for the service applies, in document order: the
	 * later one wins. */
	for (s = proot->children; s != NULL; s = s->next) {
		if (s->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(s->name, BAD_CAST "service") != 0)
			continue;
		have = xmlGetProp(s, BAD_CAST "name");
		if (have != NULL && xmlStrcmp(have, want) == 0) {
			merge_node(root, s, 1);
			touched = 1;
		}
		xmlFree(have);
	}
	xmlFree(want);
	return touched;
}

/* The absolute form of relative reference <v> of <file>, or NULL. */
static char *
merge_abs_value(const char *v, const char *file)
{
	char *p, *r;

	if (strncmp(v, "./", 2) == 0 || strncmp(v, "../", 3) == 0)
		return cfg_path(file, v);
	if (strncmp(v, "unix:./", 7) == 0 || strncmp(v, "unix:../", 8) == 0) {
		p = cfg_path(file, v + 5);
		r = xasprintf("unix:%s", p);
		free(p);
		return r;
	}
	return NULL;
}

static void
merge_abs_node(xmlNodePtr n, const char *file)
{
	xmlAttrPtr a;
	xmlNodePtr c;
	xmlChar *v;
	char *abs;

	for (a = n->properties; a != NULL; a = a->next) {
		v = xmlNodeGetContent((xmlNodePtr)a);
		abs = v != NULL ? merge_abs_value((const char *)v, file) :
		    NULL;
		if (abs != NULL)
			xmlSetProp(n, a->name, BAD_CAST abs);
		free(abs);
		xmlFree(v);
	}
	for (c = n->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			merge_abs_node(c, file);
}

void
merge_absolute(xmlDocPtr doc, const char *file)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);

	if (root != NULL)
		merge_abs_node(root, file);
}

json_t *
merge_to_json(xmlNodePtr node)
{
	json_t *o = json_object(), *attrs = json_object();
	json_t *kids = json_array();
	xmlAttrPtr a;
	xmlNodePtr c;
	xmlChar *v;

	for (a = node->properties; a != NULL; a = a->next) {
		v = xmlNodeGetContent((xmlNodePtr)a);
		json_object_set_new(attrs, (const char *)a->name,
		    json_string(v != NULL ? (const char *)v : ""));
		xmlFree(v);
	}
	for (c = node->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			json_array_append_new(kids, merge_to_json(c));
	json_object_set_new(o, "name", json_string((const char *)node->name));
	json_object_set_new(o, "attributes", attrs);
	json_object_set_new(o, "children", kids);
	return o;
}

void
merge_sha256(const void *p, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t i;

	if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md))
		memset(md, 0, sizeof(md));
	for (i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void
merge_time_str(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* fsync of the directory of <path>, so a rename in it is durable. */
static int
merge_sync_dir(const char *path)
{
	char *copy = xstrdup(path);
	int fd, rc = -1;

	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) !=
	    -1) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

int
merge_write_atomic(const char *path, const void *p, size_t len)
{
	char *copy = xstrdup(path), *copy2 = xstrdup(path), *tmp;
	const char *q = p;
	ssize_t n;
	int fd, rc = -1, saved;

	tmp = xasprintf("%s/.%s.tmp", dirname(copy), basename(copy2));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		goto done;
	while (len > 0) {
		if ((n = write(fd, q, len)) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		q += n;
		len -= (size_t)n;
	}
	if (len == 0 && fsync(fd) == 0 && close(fd) == 0) {
		fd = -1;
		if (rename(tmp, path) == 0) {
			rc = 0;
			(void)merge_sync_dir(path);
		}
	}
	saved = errno;
	if (fd != -1)
		close(fd);
	if (rc == -1)
		(void)unlink(tmp);
	errno = saved;
done:
	free(tmp);
	free(copy);
	free(copy2);
	return rc;
}
