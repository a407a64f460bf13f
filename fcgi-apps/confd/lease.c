/*
 * lease: the runtime registry file leases.xml (conf/schema/leases.xsd),
 * written by elp-confd only: under an exclusive flock(2) of a lock file
 * beside it (workers and the sweeper write it), atomically (temporary
 * file, fsync, rename, fsync of the directory).
 */
#include <sys/file.h>
#include <sys/random.h>
#include <arpa/inet.h>
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

#include "buf.h"
#include "cfg.h"
#include "confd.h"
#include "log.h"
#include "util.h"

int
lease_lock(const char *file)
{
	char *c1 = xstrdup(file), *c2 = xstrdup(file), *lk;
	int fd;

	lk = xasprintf("%s/.%s.lock", dirname(c1), basename(c2));
	fd = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		log_warn("%s", lk);
	else
		while (flock(fd, LOCK_EX) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("flock %s", lk);
			close(fd);
			fd = -1;
			break;
		}
	free(lk);
	free(c1);
	free(c2);
	return fd;
}

void
lease_unlock(int fd)
{
	if (fd != -1)
		close(fd);
}

struct lease *
lease_add(struct lease_set *set)
{
	if (set->ls_n == set->ls_cap) {
		set->ls_cap = set->ls_cap == 0 ? 16 : set->ls_cap * 2;
		set->ls_v = xrealloc(set->ls_v, set->ls_cap *
		    sizeof(*set->ls_v));
	}
	memset(&set->ls_v[set->ls_n], 0, sizeof(*set->ls_v));
	return &set->ls_v[set->ls_n++];
}

void
lease_del(struct lease_set *set, struct lease *l)
{
	size_t i = (size_t)(l - set->ls_v);

	memmove(&set->ls_v[i], &set->ls_v[i + 1], (set->ls_n - i - 1) *
	    sizeof(*set->ls_v));
	set->ls_n--;
}

void
lease_set_release(struct lease_set *set)
{
	free(set->ls_v);
	memset(set, 0, sizeof(*set));
}

struct lease *
lease_find(struct lease_set *set, const char *service, const char *id)
{
	size_t i;

	for (i = 0; i < set->ls_n; i++)
		if (strcmp(set->ls_v[i].l_service, service) == 0 &&
		    strcmp(set->ls_v[i].l_id, id) == 0)
			return &set->ls_v[i];
	return NULL;
}

struct lease *
lease_byaddr(struct lease_set *set, const char *service, const char *address)
{
	size_t i;

	for (i = 0; i < set->ls_n; i++)
		if (strcmp(set->ls_v[i].l_service, service) == 0 &&
		    strcmp(set->ls_v[i].l_address, address) == 0)
			return &set->ls_v[i];
	return NULL;
}

/* Parses "YYYY-MM-DDTHH:MM:SSZ"; -1 when malformed. */
static time_t
lease_parse_time(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	return timegm(&tm);
}

/* Copies attribute <name> of <n> into <dst> (<size> bytes); -1 if absent
 * or too long. */
static int
lease_attr(xmlNodePtr n, const char *name, char *dst, size_t size)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	int rc = -1;

	if (v != NULL && strlen((const char *)v) < size) {
		memcpy(dst, v, strlen((const char *)v) + 1);
		rc = 0;
	}
	xmlFree(v);
	return rc;
}

static int64_t
lease_attr_int(xmlNodePtr n, const char *name, int64_t def)
{
	char v[32];

	if (lease_attr(n, name, v, sizeof(v)) == -1)
		return def;
	return strtoll(v, NULL, 10);
}

/* Reads one <instance> of <service>; -1 when malformed. */
static int
lease_read_one(struct lease_set *set, const char *service, xmlNodePtr n)
{
	struct lease *l = lease_add(set);
	char when[32], state[16] = "up";

	snprintf(l->l_service, sizeof(l->l_service), "%s", service);
	if (lease_attr(n, "address", l->l_address, sizeof(l->l_address)) ==
	    -1 || lease_attr(n, "lease-id", l->l_id, sizeof(l->l_id)) == -1 ||
	    lease_attr(n, "expires", when, sizeof(when)) == -1 ||
	    (l->l_expires = lease_parse_time(when)) == -1) {
		set->ls_n--;
		return -1;
	}
	(void)lease_attr(n, "state", state, sizeof(state));
	l->l_drain = strcmp(state, "drain") == 0;
	l->l_maxconn = lease_attr_int(n, "maxconn", 1);
	l->l_weight = lease_attr_int(n, "weight", 1);
	l->l_lease = lease_attr_int(n, "lease", 30);
	return 0;
}

int
lease_load(const char *file, struct lease_set *set)
{
	xmlDocPtr doc;
	xmlNodePtr root, s, i;
	char name[CONFD_NAME_MAX + 1];
	int bad = 0;

	memset(set, 0, sizeof(*set));
	if (access(file, F_OK) == -1 && errno == ENOENT)
		return 0;
	if ((doc = merge_read(file)) == NULL ||
	    (root = xmlDocGetRootElement(doc)) == NULL) {
		log_error("%s: cannot be parsed", file);
		xmlFreeDoc(doc);
		return -1;
	}
	set->ls_version = (uint64_t)lease_attr_int(root, "version", 0);
	for (s = root->children; s != NULL; s = s->next) {
		if (s->type != XML_ELEMENT_NODE ||
		    lease_attr(s, "name", name, sizeof(name)) == -1)
			continue;
		for (i = s->children; i != NULL; i = i->next)
			if (i->type == XML_ELEMENT_NODE &&
			    lease_read_one(set, name, i) == -1)
				bad++;
	}
	if (bad > 0)
		log_warnx("%s: %d malformed instance(s) dropped", file, bad);
	xmlFreeDoc(doc);
	return 0;
}

/* Appends <s> to <b> with the XML special characters escaped. */
static void
lease_put_esc(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '&')
			buf_append_str(b, "&amp;");
		else if (*s == '<')
			buf_append_str(b, "&lt;");
		else if (*s == '>')
			buf_append_str(b, "&gt;");
		else if (*s == '"')
			buf_append_str(b, "&quot;");
		else
			buf_append(b, s, 1);
	}
}

static void
lease_put_one(struct buf *b, const struct lease *l)
{
	char when[32];

	merge_time_str(l->l_expires, when);
	buf_append_str(b, "    <instance address=\"");
	lease_put_esc(b, l->l_address);
	buf_printf(b, "\" maxconn=\"%lld\" weight=\"%lld\" lease-id=\"%s\" "
	    "expires=\"%s\" state=\"%s\" lease=\"%lld\"/>\n",
	    (long long)l->l_maxconn, (long long)l->l_weight, l->l_id, when,
	    l->l_drain ? "drain" : "up", (long long)l->l_lease);
}

int
lease_save(const char *file, struct lease_set *set)
{
	struct buf b = BUF_INIT;
	size_t i, j;
	int rc, seen;

	set->ls_version++;
	buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<!-- Written by elp-confd; do not edit. -->\n"
	    "<leases version=\"%llu\">\n",
	    (unsigned long long)set->ls_version);
	for (i = 0; i < set->ls_n; i++) {
		for (seen = 0, j = 0; j < i && !seen; j++)
			seen = strcmp(set->ls_v[j].l_service,
			    set->ls_v[i].l_service) == 0;
		if (seen)
			continue;
		buf_printf(&b, "  <service name=\"%s\">\n",
		    set->ls_v[i].l_service);
		for (j = i; j < set->ls_n; j++)
			if (strcmp(set->ls_v[j].l_service,
			    set->ls_v[i].l_service) == 0)
				lease_put_one(&b, &set->ls_v[j]);
		buf_append_str(&b, "  </service>\n");
	}
	buf_append_str(&b, "</leases>\n");
	rc = merge_write_atomic(file, buf_data(&b), buf_avail(&b));
	if (rc == -1)
		log_warn("writing %s", file);
	buf_release(&b);
	return rc;
}

static int
lease_port_ok(const char *p)
{
	return cfg_port_ok(p, strlen(p));
}

/* A unix address's path: absolute, under <run_dir>, tame characters. */
static int
lease_path_ok(const char *path, const char *run_dir, const char **why)
{
	size_t n = strlen(run_dir), i;

	while (n > 1 && run_dir[n - 1] == '/')
		n--;
	for (i = 0; path[i] != '\0'; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._/-", path[i]) == NULL) {
			*why = "address path holds a character outside "
			    "[A-Za-z0-9._/-]";
			return -1;
		}
	if (path[0] != '/' || strstr(path, "//") != NULL ||
	    strstr(path, "/../") != NULL || strstr(path, "/./") != NULL) {
		*why = "address path must be absolute and normalised";
		return -1;
	}
	if (strncmp(path, run_dir, n) != 0 || path[n] != '/' ||
	    path[n + 1] == '\0') {
		*why = "address path is not under the run directory";
		return -1;
	}
	return 0;
}

int
lease_addr_ok(const char *addr, const char *run_dir, const char **why)
{
	char host[INET6_ADDRSTRLEN + 2], buf[16];
	const char *colon;
	size_t hl;

	*why = "address must be unix:/PATH or ADDRESS:PORT";
	if (addr == NULL || strlen(addr) >= CONFD_ADDR_MAX)
		return -1;
	if (strncmp(addr, "unix:", 5) == 0)
		return lease_path_ok(addr + 5, run_dir, why);
	if (addr[0] == '[') {
		if ((colon = strstr(addr, "]:")) == NULL)
			return -1;
		hl = (size_t)(colon - addr - 1);
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, addr + 1, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, buf) != 1) {
			*why = "address is not a literal IPv6 address";
			return -1;
		}
		colon++;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			return -1;
		hl = (size_t)(colon - addr);
		if (hl == 0 || hl >= sizeof(host))
			return -1;
		memcpy(host, addr, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET, host, buf) != 1) {
			*why = "address is not a literal IPv4 address";
			return -1;
		}
	}
	if (!lease_port_ok(colon + 1)) {
		*why = "address port must be 1..65535";
		return -1;
	}
	return 0;
}

int
lease_new_id(char id[CONFD_ID_LEN + 1])
{
	unsigned char r[CONFD_ID_LEN / 2];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	for (i = 0; i < sizeof(r); i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
	return 0;
}

/*
 * Calls <fn> for every instance of static registry <file> with its
 * service name and resolved address. Returns 0, or -1 when unreadable.
 */
static int
lease_static_walk(const char *file, void (*fn)(const char *, const char *,
    xmlNodePtr, void *), void *arg)
{
	xmlDocPtr doc = merge_read(file);
	xmlNodePtr root, s, i;
	xmlChar *name, *addr;
	char *abs;

	if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL) {
		xmlFreeDoc(doc);
		return -1;
	}
	for (s = root->children; s != NULL; s = s->next) {
		if (s->type != XML_ELEMENT_NODE ||
		    (name = xmlGetProp(s, BAD_CAST "name")) == NULL)
			continue;
		for (i = s->children; i != NULL; i = i->next) {
			if (i->type != XML_ELEMENT_NODE ||
			    (addr = xmlGetProp(i, BAD_CAST "address")) == NULL)
				continue;
			abs = cfg_addr(file, (const char *)addr);
			fn((const char *)name, abs, i, arg);
			free(abs);
			xmlFree(addr);
		}
		xmlFree(name);
	}
	xmlFreeDoc(doc);
	return 0;
}

static void
lease_static_add(const char *service, const char *addr, xmlNodePtr n,
    void *arg)
{
	json_array_append_new(arg, json_pack("{s:s, s:s, s:I, s:I, s:b}",
	    "service", service, "address", addr, "maxconn",
	    (json_int_t)lease_attr_int(n, "maxconn", 1), "weight",
	    (json_int_t)lease_attr_int(n, "weight", 1), "static", 1));
}

int
lease_static(const char *file, json_t *arr)
{
	return lease_static_walk(file, lease_static_add, arr);
}

struct lease_probe {
	const char	*lp_service;
	const char	*lp_address;
	int		 lp_found;
};

static void
lease_static_match(const char *service, const char *addr, xmlNodePtr n,
    void *arg)
{
	struct lease_probe *lp = arg;

	(void)n;
	if (strcmp(service, lp->lp_service) == 0 &&
	    strcmp(addr, lp->lp_address) == 0)
		lp->lp_found = 1;
}

int
lease_is_static(const char *file, const char *service, const char *address)
{
	struct lease_probe lp = { service, address, 0 };

	(void)lease_static_walk(file, lease_static_match, &lp);
	return lp.lp_found;
}
