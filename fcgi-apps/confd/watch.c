/*
 * watch: elp-confd's background process. It watches the configuration
 * directory with inotify, checks every file with the programs' own -t
 * after a quiet moment (debounce), and either publishes a new version
 * (then signals the gateway and the pools whose configuration changed)
 * or keeps the last good one and records why the new one was refused.
 * Once per sweep interval it also drops expired leases, unless too many
 * lapse at once (self-preservation).
 *
 * Published versions live in the state directory: vN/SERVICE/PROFILE.json
 * (the whole GET /config response body), "current" (a symlink to the
 * newest vN, swapped atomically), state.json (last good and last refused
 * version, read by GET /config/status) and registry.json (the sweeper's
 * state, read by GET /registry).
 */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libxml/tree.h>

#include "buf.h"
#include "cfg.h"
#include "confd.h"
#include "env.h"
#include "log.h"
#include "pool.h"
#include "util.h"

#define WATCH_EVENTS	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
			 IN_CREATE | IN_DELETE)
#define WATCH_MAX_FILES	256	/* files per directory considered */

struct watch {
	const struct confd_cfg	*w_cfg;
	char		*w_services;	/* conf/services */
	char		*w_profiles;	/* conf/profiles */
	char		*w_bin;		/* where elp-* are */
	char		*w_lease_name;	/* basename of leases.xml */
	int		 w_ifd;		/* inotify */
	json_t		*w_state;	/* state.json */
	int		 w_preserving;	/* self-preservation on */
	time_t		 w_sp_ended;	/* when it last turned off, or 0 */
	json_t		*w_reg;		/* registry.json */
};

/* A sorted list of the NAME of every NAME.xml in <dir>. */
static json_t *
watch_list(const char *dir)
{
	json_t *names = json_array();
	struct dirent **ents = NULL;
	size_t len;
	int n, i;

	if ((n = scandir(dir, &ents, NULL, alphasort)) == -1)
		return names;
	for (i = 0; i < n; i++) {
		len = strlen(ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && len > 4 &&
		    strcmp(ents[i]->d_name + len - 4, ".xml") == 0 &&
		    json_array_size(names) < WATCH_MAX_FILES)
			json_array_append_new(names, json_stringn(
			    ents[i]->d_name, len - 4));
		free(ents[i]);
	}
	free(ents);
	return names;
}

/* Adds the name and contents of <path> to the digest input <b>. */
static void
watch_digest_file(struct buf *b, const char *path)
{
	char *s = NULL;
	size_t len = 0;

	buf_printf(b, "%s\n", path);
	if (util_read_file(path, CONFD_FILE_MAX, &s, &len) == 0)
		buf_append(b, s, len);
	buf_append(b, "\0", 1);
	free(s);
}

/* The registry file gateway.xml names, resolved (heap), or NULL. */
static char *
watch_gw_attr(const char *gateway, const char *attr)
{
	xmlDocPtr doc = merge_read(gateway);
	xmlChar *v = NULL;
	char *r = NULL;

	if (doc != NULL && xmlDocGetRootElement(doc) != NULL)
		v = xmlGetProp(xmlDocGetRootElement(doc), (const xmlChar *)attr);
	if (v != NULL && *v != '\0')
		r = cfg_path(gateway, (const char *)v);
	xmlFree(v);
	xmlFreeDoc(doc);
	return r;
}

/* Digest of the gateway's files: gateway.xml and its registry. */
static void
watch_gw_digest(struct watch *w, char out[65])
{
	struct buf b = BUF_INIT;
	char *reg = watch_gw_attr(w->w_cfg->cc_pub.pc_gateway, "registry");

	watch_digest_file(&b, w->w_cfg->cc_pub.pc_gateway);
	if (reg != NULL)
		watch_digest_file(&b, reg);
	merge_sha256(buf_data(&b), buf_avail(&b), out);
	free(reg);
	buf_release(&b);
}

/* Digest of every input: the version's identity. */
static void
watch_digest(struct watch *w, json_t *svcs, json_t *profs, char out[65])
{
	struct buf b = BUF_INIT;
	char gw[65], *p;
	size_t i;

	watch_gw_digest(w, gw);
	buf_append_str(&b, gw);
	for (i = 0; i < json_array_size(svcs); i++) {
		p = xasprintf("%s/%s.xml", w->w_services,
		    json_string_value(json_array_get(svcs, i)));
		watch_digest_file(&b, p);
		free(p);
	}
	for (i = 0; i < json_array_size(profs); i++) {
		p = xasprintf("%s/%s.xml", w->w_profiles,
		    json_string_value(json_array_get(profs, i)));
		watch_digest_file(&b, p);
		free(p);
	}
	merge_sha256(buf_data(&b), buf_avail(&b), out);
	buf_release(&b);
}

/* Runs "<bin>/elp-<prog> -t -c <file>"; its lines go to <errs>. */
static int
watch_run_check(struct watch *w, const char *prog, const char *file,
    const char *tag, json_t *errs)
{
	char *path = xasprintf("%s/elp-%s", w->w_bin, prog);
	char *fc = xstrdup(file), t[] = "-t", c[] = "-c";
	char *argv[] = { path, t, c, fc, NULL };
	json_t *lines = json_array();
	int rc;

	if (access(path, X_OK) == -1) {
		json_array_append_new(errs, json_sprintf("%s: no program %s "
		    "to check it with", file, path));
		rc = -1;
	} else
		rc = check_run(argv, w->w_cfg->cc_pub.pc_timeout, tag, lines);
	/* A passing check's lines are noise (its summary line). */
	if (rc != 0)
		json_array_extend(errs, lines);
	json_decref(lines);
	free(fc);
	free(path);
	return rc == 0 ? 0 : -1;
}

/* Whether <name> is in the string array <arr>. */
static int
watch_has(json_t *arr, const char *name)
{
	size_t i;

	for (i = 0; i < json_array_size(arr); i++)
		if (strcmp(json_string_value(json_array_get(arr, i)), name) ==
		    0)
			return 1;
	return 0;
}

/* Structural checks of profile file <path> named <name>. */
static int
watch_check_profile(const char *path, const char *name, json_t *svcs,
    json_t *errs)
{
	xmlDocPtr doc = merge_read(path);
	xmlNodePtr root, s;
	xmlChar *v;
	size_t before = json_array_size(errs);

	if (!merge_name_ok(name))
		json_array_append_new(errs, json_sprintf("%s: a profile name "
		    "is [a-z][a-z0-9_-]{0,31}", path));
	if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL) {
		json_array_append_new(errs, json_sprintf("%s: not "
		    "well-formed XML", path));
		xmlFreeDoc(doc);
		return -1;
	}
	v = xmlGetProp(root, BAD_CAST "name");
	if (xmlStrcmp(root->name, BAD_CAST "profile") != 0)
		json_array_append_new(errs, json_sprintf("%s:%ld: the root "
		    "element is <profile>", path, xmlGetLineNo(root)));
	else if (v == NULL || strcmp((const char *)v, name) != 0)
		json_array_append_new(errs, json_sprintf("%s:%ld: <profile "
		    "name> must be \"%s\", as the file", path,
		    xmlGetLineNo(root), name));
	xmlFree(v);
	for (s = root->children; s != NULL; s = s->next) {
		if (s->type != XML_ELEMENT_NODE)
			continue;
		v = xmlGetProp(s, BAD_CAST "name");
		if (xmlStrcmp(s->name, BAD_CAST "service") != 0)
			json_array_append_new(errs, json_sprintf("%s:%ld: "
			    "unknown element <%s> (only <service>)", path,
			    xmlGetLineNo(s), (const char *)s->name));
		else if (v == NULL || !watch_has(svcs, (const char *)v))
			json_array_append_new(errs, json_sprintf("%s:%ld: no "
			    "service \"%s\" (services/NAME.xml)", path,
			    xmlGetLineNo(s), v != NULL ? (const char *)v : ""));
		xmlFree(v);
	}
	xmlFreeDoc(doc);
	return json_array_size(errs) == before ? 0 : -1;
}

/*
 * The effective document of service <svc> under profile <prof>, file
 * references made absolute; NULL when a file does not parse. *<touched>
 * tells whether the profile changed anything.
 */
static xmlDocPtr
watch_merged(struct watch *w, const char *svc, const char *prof,
    int *touched)
{
	char *sp = xasprintf("%s/%s.xml", w->w_services, svc);
	char *pp = xasprintf("%s/%s.xml", w->w_profiles, prof);
	xmlDocPtr base = merge_read(sp), p = merge_read(pp);

	*touched = 0;
	if (base != NULL && p != NULL) {
		merge_absolute(base, sp);
		merge_absolute(p, pp);
		*touched = merge_apply(base, p);
	} else {
		xmlFreeDoc(base);
		base = NULL;
	}
	xmlFreeDoc(p);
	free(sp);
	free(pp);
	return base;
}

/* Checks each service under each profile that changes it. */
static void
watch_check_merged(struct watch *w, json_t *svcs, json_t *profs,
    json_t *errs)
{
	const char *state = w->w_cfg->cc_pub.pc_state;
	char *dir, *file, *tag, *schema, *target;
	xmlDocPtr doc;
	size_t i, j;
	int touched;

	dir = xasprintf("%s/check", state);
	(void)mkdir(dir, 0755);
	schema = xasprintf("%s/schema", dir);
	target = xasprintf("%s/schema", w->w_cfg->cc_pub.pc_dir);
	(void)unlink(schema);
	if (symlink(target, schema) == -1)
		log_warn("symlink %s", schema);
	for (i = 0; i < json_array_size(profs); i++)
		for (j = 0; j < json_array_size(svcs); j++) {
			doc = watch_merged(w, json_string_value(
			    json_array_get(svcs, j)), json_string_value(
			    json_array_get(profs, i)), &touched);
			if (doc == NULL || !touched) {
				xmlFreeDoc(doc);
				continue;
			}
			file = xasprintf("%s/%s.%s.xml", dir,
			    json_string_value(json_array_get(profs, i)),
			    json_string_value(json_array_get(svcs, j)));
			tag = xasprintf("profile %s",
			    json_string_value(json_array_get(profs, i)));
			if (xmlSaveFormatFileEnc(file, doc, "UTF-8", 1) == -1)
				json_array_append_new(errs, json_sprintf(
				    "%s: cannot write", file));
			else
				(void)watch_run_check(w, json_string_value(
				    json_array_get(svcs, j)), file, tag, errs);
			xmlFreeDoc(doc);
			free(tag);
			free(file);
		}
	free(target);
	free(schema);
	free(dir);
}

/* Checks everything; returns the number of errors put in <errs>. */
static size_t
watch_check_all(struct watch *w, json_t *svcs, json_t *profs, json_t *errs)
{
	char *path;
	const char *name;
	size_t i;

	(void)watch_run_check(w, "gateway", w->w_cfg->cc_pub.pc_gateway, NULL,
	    errs);
	for (i = 0; i < json_array_size(svcs); i++) {
		name = json_string_value(json_array_get(svcs, i));
		path = xasprintf("%s/%s.xml", w->w_services, name);
		if (!merge_name_ok(name))
			json_array_append_new(errs, json_sprintf("%s: a service "
			    "name is [a-z][a-z0-9_-]{0,31}", path));
		else
			(void)watch_run_check(w, name, path, NULL, errs);
		free(path);
	}
	for (i = 0; i < json_array_size(profs); i++) {
		name = json_string_value(json_array_get(profs, i));
		path = xasprintf("%s/%s.xml", w->w_profiles, name);
		(void)watch_check_profile(path, name, svcs, errs);
		free(path);
	}
	/* Merged documents only make sense once their parts are sound. */
	if (json_array_size(errs) == 0)
		watch_check_merged(w, svcs, profs, errs);
	return json_array_size(errs);
}

/* Writes the GET /config body of <svc> under <prof> into <dir>; the
 * body's digest is added to <dg>. */
static int
watch_publish_one(struct watch *w, const char *dir, const char *svc,
    const char *prof, struct buf *dg)
{
	json_t *body;
	xmlDocPtr doc;
	char *s, *path, h[65];
	int touched, rc = -1;

	if ((doc = watch_merged(w, svc, prof, &touched)) == NULL)
		return -1;
	body = json_pack("{s:s, s:s, s:o}", "service", svc, "profile", prof,
	    "configuration", merge_to_json(xmlDocGetRootElement(doc)));
	xmlFreeDoc(doc);
	s = json_dumps(env_ok(200, body), JSON_COMPACT | JSON_PRESERVE_ORDER);
	path = xasprintf("%s/%s/%s.json", dir, svc, prof);
	if (s != NULL) {
		merge_sha256(s, strlen(s), h);
		buf_append_str(dg, h);
		rc = merge_write_atomic(path, s, strlen(s));
	}
	free(path);
	free(s);
	return rc;
}

/* Removes directory <dir> of a version: its service dirs and files. */
static void
watch_rm_version(const char *dir)
{
	struct dirent **ents = NULL, **files;
	char *sub, *f;
	int n, i, m, k;

	if ((n = scandir(dir, &ents, NULL, NULL)) == -1)
		return;
	for (i = 0; i < n; i++) {
		sub = xasprintf("%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' &&
		    (m = scandir(sub, &files, NULL, NULL)) != -1) {
			for (k = 0; k < m; k++) {
				f = xasprintf("%s/%s", sub, files[k]->d_name);
				(void)unlink(f);
				free(f);
				free(files[k]);
			}
			free(files);
			(void)rmdir(sub);
		}
		free(sub);
		free(ents[i]);
	}
	free(ents);
	(void)rmdir(dir);
}

/* Points state/current at version <v> atomically. */
static int
watch_swap_current(struct watch *w, uint64_t v)
{
	const char *state = w->w_cfg->cc_pub.pc_state;
	char *tmp = xasprintf("%s/.current.tmp", state);
	char *cur = xasprintf("%s/current", state);
	char *target = xasprintf("v%llu", (unsigned long long)v);
	char *old;
	int rc = -1;

	(void)unlink(tmp);
	if (symlink(target, tmp) == 0 && rename(tmp, cur) == 0)
		rc = 0;
	else
		log_warn("publishing %s", cur);
	/* The version before stays for readers that just opened it. */
	if (rc == 0 && v > 2) {
		old = xasprintf("%s/v%llu", state, (unsigned long long)(v - 2));
		watch_rm_version(old);
		free(old);
	}
	free(target);
	free(cur);
	free(tmp);
	return rc;
}

/* Sends SIGHUP to the pid in <pidfile>, for <what>. */
static void
watch_hup(const char *pidfile, const char *what)
{
	char *s = NULL;
	long pid;

	if (pidfile == NULL || *pidfile == '\0') {
		log_info("%s changed; it names no pidfile, not signalled", what);
		return;
	}
	if (util_read_file(pidfile, 64, &s, NULL) == -1 ||
	    (pid = strtol(s, NULL, 10)) <= 1) {
		log_warnx("%s changed; no pid in %s, not signalled", what,
		    pidfile);
		free(s);
		return;
	}
	free(s);
	if (kill((pid_t)pid, SIGHUP) == -1)
		log_warn("%s changed; SIGHUP to %ld (%s)", what, pid, pidfile);
	else
		log_info("%s changed; SIGHUP sent to %ld", what, pid);
}

/* The <pool pidfile> of services/<svc>.xml, resolved (heap) or NULL. */
static char *
watch_pool_pidfile(struct watch *w, const char *svc)
{
	char *path = xasprintf("%s/%s.xml", w->w_services, svc), *r = NULL;
	xmlDocPtr doc = merge_read(path);
	xmlNodePtr n;
	xmlChar *v;

	for (n = doc != NULL && xmlDocGetRootElement(doc) != NULL ?
	    xmlDocGetRootElement(doc)->children : NULL; n != NULL;
	    n = n->next)
		if (n->type == XML_ELEMENT_NODE &&
		    xmlStrcmp(n->name, BAD_CAST "pool") == 0) {
			v = xmlGetProp(n, BAD_CAST "pidfile");
			if (v != NULL && *v != '\0')
				r = cfg_path(path, (const char *)v);
			xmlFree(v);
			break;
		}
	xmlFreeDoc(doc);
	free(path);
	return r;
}

/* Signals the gateway and each pool whose digest moved. */
static void
watch_signal(struct watch *w, json_t *old, json_t *new)
{
	const char *svc, *was;
	char *pf;
	json_t *v;

	if (old == NULL)
		return;
	was = json_string_value(json_object_get(old, "gateway"));
	if (was == NULL || strcmp(was, json_string_value(json_object_get(new,
	    "gateway"))) != 0) {
		pf = watch_gw_attr(w->w_cfg->cc_pub.pc_gateway, "pidfile");
		watch_hup(pf, "gateway configuration");
		free(pf);
	}
	json_object_foreach(json_object_get(new, "services"), svc, v) {
		was = json_string_value(json_object_get(json_object_get(old,
		    "services"), svc));
		if (was != NULL && strcmp(was, json_string_value(v)) == 0)
			continue;
		pf = watch_pool_pidfile(w, svc);
		watch_hup(pf, svc);
		free(pf);
	}
}

/* Writes state.json. */
static void
watch_save_state(struct watch *w)
{
	char *path = watch_state_path(w->w_cfg);
	char *s = json_dumps(w->w_state, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

	if (s == NULL || merge_write_atomic(path, s, strlen(s)) == -1)
		log_warn("writing %s", path);
	free(s);
	free(path);
}

/* Publishes every service under every profile as version <v>. */
static int
watch_publish(struct watch *w, json_t *svcs, json_t *profs, const char *hash)
{
	const char *state = w->w_cfg->cc_pub.pc_state;
	json_t *good, *digests = json_object(), *old;
	struct buf dg = BUF_INIT;
	uint64_t v;
	char *dir, *sub, *raw, h[65], when[32];
	size_t i, j, rawlen;
	int rc = 0;

	old = json_object_get(w->w_state, "lastGood");
	v = (uint64_t)json_integer_value(json_object_get(old, "version")) + 1;
	dir = xasprintf("%s/v%llu", state, (unsigned long long)v);
	watch_rm_version(dir);
	(void)mkdir(dir, 0755);
	for (j = 0; j < json_array_size(svcs) && rc == 0; j++) {
		sub = xasprintf("%s/%s", dir, json_string_value(
		    json_array_get(svcs, j)));
		(void)mkdir(sub, 0755);
		free(sub);
		buf_reset(&dg);
		/* The service's own file counts too: a pool must re-read
		 * an edit of it even when no profile is published. */
		sub = xasprintf("%s/%s.xml", w->w_services, json_string_value(
		    json_array_get(svcs, j)));
		if (util_read_file(sub, 16 * 1024 * 1024, &raw, &rawlen) == 0) {
			buf_append(&dg, raw, rawlen);
			free(raw);
		}
		free(sub);
		for (i = 0; i < json_array_size(profs) && rc == 0; i++)
			rc = watch_publish_one(w, dir, json_string_value(
			    json_array_get(svcs, j)), json_string_value(
			    json_array_get(profs, i)), &dg);
		merge_sha256(buf_data(&dg), buf_avail(&dg), h);
		json_object_set_new(digests, json_string_value(
		    json_array_get(svcs, j)), json_string(h));
	}
	if (rc == 0)
		rc = watch_swap_current(w, v);
	if (rc == 0) {
		watch_gw_digest(w, h);
		merge_time_str(time(NULL), when);
		good = json_pack("{s:I, s:s, s:s, s:s, s:o, s:O, s:O}",
		    "version", (json_int_t)v, "hash", hash, "time", when,
		    "gateway", h, "services", digests, "serviceNames", svcs,
		    "profiles", profs);
		watch_signal(w, old, good);
		json_object_set_new(w->w_state, "lastGood", good);
		json_object_set_new(w->w_state, "current", json_string("good"));
		log_info("configuration version %llu (%.12s) published",
		    (unsigned long long)v, hash);
	} else {
		json_decref(digests);
		log_error("configuration %.12s could not be published", hash);
	}
	buf_release(&dg);
	free(dir);
	return rc;
}

/* Records refused version <hash> and its reasons <errs> (stolen). */
static void
watch_refuse(struct watch *w, const char *hash, json_t *errs)
{
	char when[32];
	size_t i;

	for (i = 0; i < json_array_size(errs); i++)
		log_error("configuration refused: %s",
		    json_string_value(json_array_get(errs, i)));
	log_error("configuration %.12s refused (%zu reason(s)); the last "
	    "good version keeps serving", hash, json_array_size(errs));
	merge_time_str(time(NULL), when);
	json_object_set_new(w->w_state, "lastRefused", json_pack(
	    "{s:s, s:s, s:o}", "hash", hash, "time", when, "reasons", errs));
	json_object_set_new(w->w_state, "current", json_string("refused"));
}

/* One look at the whole configuration. */
static void
watch_check(struct watch *w)
{
	json_t *svcs = watch_list(w->w_services);
	json_t *profs = watch_list(w->w_profiles), *errs = json_array();
	const char *good, *bad, *cur;
	char hash[65];

	watch_digest(w, svcs, profs, hash);
	good = json_string_value(json_object_get(json_object_get(w->w_state,
	    "lastGood"), "hash"));
	bad = json_string_value(json_object_get(json_object_get(w->w_state,
	    "lastRefused"), "hash"));
	cur = json_string_value(json_object_get(w->w_state, "current"));
	if ((good != NULL && strcmp(good, hash) == 0) ||
	    (bad != NULL && strcmp(bad, hash) == 0 && cur != NULL &&
	    strcmp(cur, "refused") == 0)) {
		log_debug("%s: configuration %.12s already seen", __func__,
		    hash);
		if (good != NULL && strcmp(good, hash) == 0)
			json_object_set_new(w->w_state, "current",
			    json_string("good"));
		goto done;
	}
	if (watch_check_all(w, svcs, profs, errs) > 0) {
		watch_refuse(w, hash, errs);
		errs = NULL;
	} else if (watch_publish(w, svcs, profs, hash) == -1) {
		json_array_append_new(errs, json_string("publishing failed"));
		watch_refuse(w, hash, errs);
		errs = NULL;
	}
done:
	json_object_set_new(w->w_state, "checks", json_integer(
	    json_integer_value(json_object_get(w->w_state, "checks")) + 1));
	watch_save_state(w);
	json_decref(errs);
	json_decref(svcs);
	json_decref(profs);
}

/* Writes registry.json. */
static void
watch_save_reg(struct watch *w)
{
	char *path = watch_reg_path(w->w_cfg);
	char *s = json_dumps(w->w_reg, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

	if (s == NULL || merge_write_atomic(path, s, strlen(s)) == -1)
		log_warn("writing %s", path);
	free(s);
	free(path);
}

/*
 * One expiry sweep: drops the leases expired for at least the window,
 * unless more than the self-preservation share of all leases has expired
 * (and there are at least self-preservation-min of them): then it keeps
 * every lease and says so once. When the fault ends, the instances renew
 * one by one; so that the first renewals do not turn the protection off
 * for the others, a lease that lapsed during it has one more lease
 * period, counted from the end, to come back before it is dropped.
 */
static void
watch_sweep(struct watch *w)
{
	const struct lease_cfg *lc = &w->w_cfg->cc_lease;
	struct lease_set set;
	time_t now = time(NULL), window = (time_t)(lc->lc_window / 1000);
	size_t i, expired = 0, dropped = 0;
	int fd, keep;

	if ((fd = lease_lock(lc->lc_file)) == -1)
		return;
	if (lease_load(lc->lc_file, &set) == -1)
		goto done;
	for (i = 0; i < set.ls_n; i++)
		if (set.ls_v[i].l_expires <= now)
			expired++;
	keep = set.ls_n >= (size_t)lc->lc_sp_min && expired > 0 &&
	    (double)expired > lc->lc_share * (double)set.ls_n;
	if (keep != w->w_preserving) {
		if (keep)
			log_warnx("self-preservation on: %zu of %zu leases "
			    "lapsed at once (a network fault?); keeping them",
			    expired, set.ls_n);
		else {
			log_info("self-preservation off");
			w->w_sp_ended = now;
		}
		w->w_preserving = keep;
		json_object_set_new(w->w_reg, "selfPreservation",
		    json_boolean(keep));
	}
	json_object_set_new(w->w_reg, "leases", json_integer(
	    (json_int_t)set.ls_n));
	json_object_set_new(w->w_reg, "expired", json_integer(
	    (json_int_t)expired));
	for (i = 0; !keep && i < set.ls_n; ) {
		if (set.ls_v[i].l_expires + window > now ||
		    (w->w_sp_ended != 0 && set.ls_v[i].l_expires <=
		    w->w_sp_ended && w->w_sp_ended + (time_t)
		    set.ls_v[i].l_lease + window > now)) {
			i++;
			continue;
		}
		log_info("lease %s of %s at %s expired; removed",
		    set.ls_v[i].l_id, set.ls_v[i].l_service,
		    set.ls_v[i].l_address);
		lease_del(&set, &set.ls_v[i]);
		dropped++;
	}
	if (dropped > 0) {
		(void)lease_save(lc->lc_file, &set);
		json_object_set_new(w->w_reg, "expiredTotal", json_integer(
		    json_integer_value(json_object_get(w->w_reg,
		    "expiredTotal")) + (json_int_t)dropped));
	}
	watch_save_reg(w);
	lease_set_release(&set);
done:
	lease_unlock(fd);
}

/* Watches the directory <dir> (a missing one is fine). */
static void
watch_add(struct watch *w, const char *dir)
{
	if (inotify_add_watch(w->w_ifd, dir, WATCH_EVENTS | IN_ONLYDIR) ==
	    -1 && errno != ENOENT)
		log_warn("inotify %s", dir);
}

/*
 * Whether event <ev> may change the configuration: an *.xml file other
 * than leases.xml, not hidden (editors' swap files are ".NAME.swp", vim's
 * probe is "4913", backups end in "~": none ends in ".xml"); or a
 * directory appearing (services/ or profiles/, then watched).
 */
static int
watch_relevant(struct watch *w, const struct inotify_event *ev)
{
	size_t len;

	if (ev->len == 0 || ev->name[0] == '.')
		return 0;
	if (ev->mask & IN_ISDIR) {
		watch_add(w, w->w_services);
		watch_add(w, w->w_profiles);
		return 1;
	}
	len = strlen(ev->name);
	return len > 4 && strcmp(ev->name + len - 4, ".xml") == 0 &&
	    strcmp(ev->name, w->w_lease_name) != 0;
}

/* Reads the pending events; 1 when one of them matters. */
static int
watch_events(struct watch *w)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct
	    inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;
	int hit = 0;

	while ((n = read(w->w_ifd, buf, sizeof(buf))) > 0)
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				hit = 1;
			else if (watch_relevant(w, ev)) {
				log_debug("%s: %s changed", __func__,
				    ev->name);
				hit = 1;
			}
		}
	return hit;
}

json_t *
watch_load_json(char *path)
{
	json_t *j = json_load_file(path, 0, NULL);

	free(path);
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	return j;
}

static void
watch_release(struct watch *w)
{
	if (w->w_ifd != -1)
		close(w->w_ifd);
	json_decref(w->w_state);
	json_decref(w->w_reg);
	free(w->w_services);
	free(w->w_profiles);
	free(w->w_bin);
	free(w->w_lease_name);
}

/* The directory of this program (heap). */
static char *
watch_own_dir(void)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	if (n <= 0)
		return xstrdup(".");
	path[n] = '\0';
	return xstrdup(dirname(path));
}

static void
watch_init(struct watch *w, const struct confd_cfg *cc)
{
	char *c = xstrdup(cc->cc_lease.lc_file);

	memset(w, 0, sizeof(*w));
	w->w_cfg = cc;
	w->w_services = xasprintf("%s/services", cc->cc_pub.pc_dir);
	w->w_profiles = xasprintf("%s/profiles", cc->cc_pub.pc_dir);
	w->w_bin = *cc->cc_pub.pc_bin != '\0' ? xstrdup(cc->cc_pub.pc_bin) :
	    watch_own_dir();
	w->w_lease_name = xstrdup(basename(c));
	free(c);
	w->w_state = watch_load_json(watch_state_path(cc));
	w->w_reg = watch_load_json(watch_reg_path(cc));
	json_object_set_new(w->w_reg, "selfPreservation", json_false());
	(void)mkdir(cc->cc_pub.pc_state, 0755);
	if ((w->w_ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		log_warn("inotify_init1: changes are not noticed");
	else {
		watch_add(w, cc->cc_pub.pc_dir);
		watch_add(w, w->w_services);
		watch_add(w, w->w_profiles);
	}
}

int
watch_run(const struct confd_cfg *cc)
{
	struct watch w;
	struct pollfd pfd;
	uint64_t now, next_sweep, due = 0;
	int wait_ms;

	watch_init(&w, cc);
	log_info("watching %s (checkers in %s)", cc->cc_pub.pc_dir, w.w_bin);
	watch_check(&w);
	next_sweep = util_now_ms();
	while (!pool_should_stop()) {
		pool_worker_idle();
		now = util_now_ms();
		if (now >= next_sweep) {
			watch_sweep(&w);
			next_sweep = now + cc->cc_lease.lc_sweep;
		}
		if (due != 0 && now >= due) {
			due = 0;
			watch_check(&w);
			continue;
		}
		wait_ms = (int)(next_sweep - now);
		if (due != 0 && due - now < (uint64_t)wait_ms)
			wait_ms = (int)(due - now);
		pfd.fd = w.w_ifd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, w.w_ifd != -1 ? 1 : 0, wait_ms) > 0 &&
		    watch_events(&w))
			due = util_now_ms() + cc->cc_pub.pc_debounce;
	}
	watch_release(&w);
	return 0;
}

char *
watch_state_path(const struct confd_cfg *cc)
{
	return xasprintf("%s/state.json", cc->cc_pub.pc_state);
}

char *
watch_reg_path(const struct confd_cfg *cc)
{
	return xasprintf("%s/registry.json", cc->cc_pub.pc_state);
}
