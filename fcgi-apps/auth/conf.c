/*
 * conf: the configuration of elp-auth (conf/services/auth.xml), validated
 * by conf/schema/service.xsd, then checked here: issuer shape, clients,
 * grants, secrets. Client secrets are read from their files (refused when
 * group or others may read them) and never logged.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "svc.h"
#include "cfg.h"
#include "log.h"
#include "util.h"

#define ACFG_SECRET_MAX	1024

#define OFF(f)	offsetof(struct auth_cfg, f)
#define COFF(f)	offsetof(struct auth_client, f)

static const struct cfg_key service_keys[] = {
	{ "name", CFG_T_STR, NULL, 0, 0, OFF(ac_name) },
};
static const struct cfg_key log_keys[] = {
	{ "level", CFG_T_STR, "info", 0, 0, OFF(ac_level) },
};
static const struct cfg_key limits_keys[] = {
	{ "max-body", CFG_T_SIZE, "64k", 1, INT64_C(1) << 24,
	    OFF(ac_max_body) },
};
static const struct cfg_key realm_keys[] = {
	{ "name", CFG_T_STR, "e-learning-platform", 0, 0, OFF(ac_realm) },
	{ "issuer", CFG_T_STR, NULL, 0, 0, OFF(ac_issuer) },
	{ "audience", CFG_T_STR, "elp-api", 0, 0, OFF(ac_audience) },
	{ "keys", CFG_T_PATH, "var/auth/keys", 0, 0, OFF(ac_keys_dir) },
	{ "roles", CFG_T_STR, "ADMIN USER admin-service offline_access", 0, 0,
	    OFF(ac_roles) },
	{ "default-roles", CFG_T_STR, "offline_access", 0, 0,
	    OFF(ac_default_roles) },
	{ "admin-role", CFG_T_STR, "admin-service", 0, 0,
	    OFF(ac_admin_role) },
};
static const struct cfg_key lifetime_keys[] = {
	{ "access", CFG_T_DURATION, "300s", 10000, INT64_C(864000000),
	    OFF(ac_access_ms) },
	{ "code", CFG_T_DURATION, "60s", 1000, 60000, OFF(ac_code_ms) },
	{ "login", CFG_T_DURATION, "30m", 10000, 86400000, OFF(ac_login_ms) },
	{ "sso-idle", CFG_T_DURATION, "30m", 1000, INT64_C(31536000000),
	    OFF(ac_sso_idle_ms) },
	{ "sso-max", CFG_T_DURATION, "10h", 1000, INT64_C(31536000000),
	    OFF(ac_sso_max_ms) },
	{ "offline-idle", CFG_T_DURATION, "720h", 1000, INT64_C(31536000000),
	    OFF(ac_offline_idle_ms) },
	{ "offline-max", CFG_T_DURATION, "2160h", 1000, INT64_C(31536000000),
	    OFF(ac_offline_max_ms) },
};
static const struct cfg_key password_keys[] = {
	{ "t-cost", CFG_T_INT, "3", 1, 100, OFF(ac_t_cost) },
	{ "m-cost", CFG_T_INT, "65536", 1024, 4194304, OFF(ac_m_cost) },
	{ "parallelism", CFG_T_INT, "1", 1, 64, OFF(ac_parallelism) },
	{ "max-concurrent", CFG_T_INT, "0", 0, 1024, OFF(ac_hash_max) },
	{ "slot-wait", CFG_T_DURATION, "200ms", 0, 10000,
	    OFF(ac_hash_wait_ms) },
	{ "recent-auth", CFG_T_DURATION, "5m", 0, 86400000,
	    OFF(ac_recent_auth_ms) },
};
static const struct cfg_key bf_keys[] = {
	{ "failures", CFG_T_INT, "5", 1, 1000, OFF(ac_bf_failures) },
	{ "wait", CFG_T_DURATION, "60s", 1000, 86400000, OFF(ac_bf_wait_ms) },
	{ "max-wait", CFG_T_DURATION, "15m", 1000, 86400000,
	    OFF(ac_bf_max_ms) },
	{ "half-life", CFG_T_DURATION, "10m", 1000, 604800000,
	    OFF(ac_bf_half_life_ms) },
	{ "account-failures", CFG_T_INT, "10", 1, 100000,
	    OFF(ac_bf_acct_failures) },
	{ "account-delay", CFG_T_DURATION, "250ms", 0, 10000,
	    OFF(ac_bf_acct_delay_ms) },
	{ "account-max-delay", CFG_T_DURATION, "2s", 0, 10000,
	    OFF(ac_bf_acct_max_ms) },
};
static const struct cfg_key account_keys[] = {
	{ "client", CFG_T_STR, "account-console", 0, 0,
	    OFF(ac_acct.ap_client) },
	{ "verify-email", CFG_T_BOOL, "no", 0, 0, OFF(ac_acct.ap_verify) },
	{ "reset-lifetime", CFG_T_DURATION, "15m", 1000, 86400000,
	    OFF(ac_acct.ap_reset_ms) },
	{ "verify-lifetime", CFG_T_DURATION, "24h", 1000, INT64_C(2592000000),
	    OFF(ac_acct.ap_verify_ms) },
	{ "mail-window", CFG_T_DURATION, "1h", 1000, INT64_C(604800000),
	    OFF(ac_acct.ap_window_ms) },
	{ "mails-per-address", CFG_T_INT, "5", 1, 1000,
	    OFF(ac_acct.ap_per_address) },
	{ "mails-per-account", CFG_T_INT, "5", 1, 1000,
	    OFF(ac_acct.ap_per_account) },
};
static const struct cfg_key adm_keys[] = {
	{ "view", CFG_T_STR, "view-users", 0, 0, OFF(ac_op_view) },
	{ "manage", CFG_T_STR, "manage-users", 0, 0, OFF(ac_op_manage) },
	{ "reset-password", CFG_T_STR, "reset-passwords", 0, 0,
	    OFF(ac_op_reset) },
	{ "delete", CFG_T_STR, "delete-users", 0, 0, OFF(ac_op_delete) },
	{ "sessions", CFG_T_STR, "manage-sessions", 0, 0,
	    OFF(ac_op_sessions) },
	{ "events", CFG_T_STR, "view-events", 0, 0, OFF(ac_op_events) },
	{ "max-page", CFG_T_INT, "1000", 1, 100000, OFF(ac_adm_max_page) },
};
static const struct cfg_key client_keys[] = {
	{ "id", CFG_T_STR, NULL, 0, 0, COFF(cl_id) },
	{ "public", CFG_T_BOOL, "no", 0, 0, COFF(cl_public) },
	{ "grants", CFG_T_STR, NULL, 0, 0, COFF(cl_grants_s) },
	{ "redirect-uris", CFG_T_STR, "", 0, 0, COFF(cl_redirects) },
	{ "post-logout-uris", CFG_T_STR, "", 0, 0, COFF(cl_logout_uris) },
	{ "web-origins", CFG_T_STR, "", 0, 0, COFF(cl_origins) },
	{ "pkce", CFG_T_STR, "", 0, 0, COFF(cl_pkce) },
	{ "secret-file", CFG_T_PATH, "", 0, 0, COFF(cl_secret_file) },
	{ "roles", CFG_T_STR, "", 0, 0, COFF(cl_roles) },
};

/* Sections of <service>: element name (NULL: root), keys, required. */
static const struct acfg_section {
	const char		*sec_name;
	const struct cfg_key	*sec_keys;
	size_t			 sec_nkeys;
	size_t			 sec_off;
	int			 sec_in_realm;
	int			 sec_required;
} acfg_sections[] = {
	{ NULL, service_keys, NITEMS(service_keys), 0, 0, 1 },
	{ "log", log_keys, NITEMS(log_keys), 0, 0, 0 },
	{ "limits", limits_keys, NITEMS(limits_keys), 0, 0, 0 },
	{ "realm", realm_keys, NITEMS(realm_keys), 0, 0, 1 },
	{ "lifetimes", lifetime_keys, NITEMS(lifetime_keys), 0, 1, 0 },
	{ "password", password_keys, NITEMS(password_keys), 0, 1, 0 },
	{ "brute-force", bf_keys, NITEMS(bf_keys), 0, 1, 0 },
	{ "account", account_keys, NITEMS(account_keys), 0, 1, 0 },
	{ "admin-api", adm_keys, NITEMS(adm_keys), 0, 1, 0 },
};

static const struct {
	const char	*name;
	int		 bit;
} acfg_grants[] = {
	{ "authorization_code", GRANT_CODE },
	{ "refresh_token", GRANT_REFRESH },
	{ "password", GRANT_PASSWORD },
	{ "client_credentials", GRANT_CLIENT },
};

int
acfg_list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	if (list == NULL || n == 0)
		return 0;
	while ((p = strstr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' ||
		    p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

const struct auth_client *
acfg_client(const struct auth_cfg *cfg, const char *id)
{
	size_t i;

	for (i = 0; i < cfg->ac_nclients; i++)
		if (strcmp(cfg->ac_clients[i].cl_id, id) == 0)
			return &cfg->ac_clients[i];
	return NULL;
}

/* Reads the first line of secret file <path> into a heap string. */
static char *
acfg_secret(struct cfg_doc *cd, xmlNodePtr node, const char *path)
{
	struct stat st;
	char *s = NULL;

	/* A missing or unreadable file is reported by cfg_check_refs(). */
	if (access(path, R_OK) == -1)
		return NULL;
	if (stat(path, &st) == -1) {
		cfg_error(cd, node, "secret file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		cfg_error(cd, node, "secret file %s is accessible by group or "
		    "others (mode %03o); chmod 600 it", path,
		    (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	if (util_read_file(path, ACFG_SECRET_MAX, &s, NULL) == -1) {
		cfg_error(cd, node, "secret file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	s[strcspn(s, "\r\n")] = '\0';
	if (strlen(s) < 16) {
		cfg_error(cd, node, "secret file %s: secret shorter than 16 "
		    "characters", path);
		free(s);
		s = NULL;
	}
	return s;
}

/* Parses cl_grants_s into bits; reports unknown names. */
static void
acfg_client_grants(struct cfg_doc *cd, xmlNodePtr node,
    struct auth_client *cl)
{
	char *dup = xstrdup(cl->cl_grants_s), *w, *save = NULL;
	size_t i;

	for (w = strtok_r(dup, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		for (i = 0; i < NITEMS(acfg_grants); i++)
			if (strcmp(w, acfg_grants[i].name) == 0)
				break;
		if (i == NITEMS(acfg_grants))
			cfg_error(cd, node, "client %s: unknown grant \"%s\"",
			    cl->cl_id, w);
		else
			cl->cl_grants |= acfg_grants[i].bit;
	}
	free(dup);
}

/* Semantic checks of one client. */
static void
acfg_client_check(struct cfg_doc *cd, xmlNodePtr node,
    struct auth_client *cl)
{
	acfg_client_grants(cd, node, cl);
	if (cl->cl_public && (cl->cl_grants & GRANT_CLIENT))
		cfg_error(cd, node, "client %s: a public client cannot use "
		    "client_credentials", cl->cl_id);
	if (!cl->cl_public && cl->cl_secret_file[0] == '\0')
		cfg_error(cd, node, "client %s: a confidential client needs "
		    "secret-file", cl->cl_id);
	if (!cl->cl_public && cl->cl_secret_file[0] != '\0')
		cl->cl_secret = acfg_secret(cd, node, cl->cl_secret_file);
	if ((cl->cl_grants & GRANT_CODE) && cl->cl_redirects[0] == '\0')
		cfg_error(cd, node, "client %s: authorization_code needs "
		    "redirect-uris", cl->cl_id);
	if (cl->cl_pkce[0] != '\0' && strcmp(cl->cl_pkce, "S256") != 0)
		cfg_error(cd, node, "client %s: pkce must be S256",
		    cl->cl_id);
}

/* Reads every <client> of <realm>. */
static void
acfg_clients(struct cfg_doc *cd, xmlNodePtr realm, struct auth_cfg *cfg)
{
	struct auth_client *cl;
	xmlNodePtr n = NULL;

	while ((n = cfg_next(realm, n, "client")) != NULL) {
		if (cfg->ac_nclients == AUTH_MAX_CLIENTS) {
			cfg_error(cd, n, "more than %d clients",
			    AUTH_MAX_CLIENTS);
			return;
		}
		cl = &cfg->ac_clients[cfg->ac_nclients++];
		if (cfg_read(cd, n, client_keys, NITEMS(client_keys), cl) == -1)
			continue;
		if (acfg_client(cfg, cl->cl_id) != cl)
			cfg_error(cd, n, "client %s defined twice", cl->cl_id);
		acfg_client_check(cd, n, cl);
	}
}

/*
 * <realm><account>: verification needs a way to send mail, and the
 * account page's client, when configured, must be able to come back to
 * the page (code flow, <issuer>/account as a redirect URI).
 */
static void
acfg_account_check(struct cfg_doc *cd, xmlNodePtr root,
    struct auth_cfg *cfg)
{
	const struct acct_cfg *ap = &cfg->ac_acct;
	xmlNodePtr realm = cfg_next(root, NULL, "realm"), node;
	const struct auth_client *cl;
	char *uri;

	node = realm != NULL ? cfg_next(realm, NULL, "account") : NULL;
	if (node == NULL)
		node = realm != NULL ? realm : root;
	if (ap->ap_verify && cfg_next(root, NULL, "smtp") == NULL)
		cfg_error(cd, node, "account verify-email=\"yes\" needs "
		    "<smtp> (the verification mail)");
	if (ap->ap_client == NULL ||
	    (cl = acfg_client(cfg, ap->ap_client)) == NULL)
		return;
	uri = xasprintf("%s/account", cfg->ac_issuer);
	if (!(cl->cl_grants & GRANT_CODE) ||
	    !acfg_list_has(cl->cl_redirects, uri))
		cfg_error(cd, node, "account client %s must have the grant "
		    "authorization_code and the redirect URI %s",
		    ap->ap_client, uri);
	free(uri);
}

/* Element <name> of <realm>, else <root> (for the line of an error). */
static xmlNodePtr
acfg_node(xmlNodePtr root, const char *name)
{
	xmlNodePtr realm, n;

	if ((realm = cfg_next(root, NULL, "realm")) == NULL)
		return root;
	return (n = cfg_next(realm, NULL, name)) != NULL ? n : realm;
}

/* The role names of <admin-api>: one word each. */
static void
acfg_check_ops(struct cfg_doc *cd, xmlNodePtr root,
    const struct auth_cfg *cfg)
{
	const char *ops[] = { cfg->ac_op_view, cfg->ac_op_manage,
	    cfg->ac_op_reset, cfg->ac_op_delete, cfg->ac_op_sessions,
	    cfg->ac_op_events };
	xmlNodePtr node;
	size_t i;

	node = cfg_next(cfg_next(root, NULL, "realm"), NULL, "admin-api");
	for (i = 0; i < NITEMS(ops); i++)
		if (ops[i] != NULL && (ops[i][0] == '\0' ||
		    strlen(ops[i]) > AUTH_ID_MAX || strchr(ops[i], ' ')))
			cfg_error(cd, node != NULL ? node : root, "admin-api: "
			    "role \"%s\" must be one word of 1 to %d "
			    "characters", ops[i], AUTH_ID_MAX);
}

/* Checks across sections. */
static void
acfg_check(struct cfg_doc *cd, xmlNodePtr root, struct auth_cfg *cfg)
{
	size_t n;

	if (cfg->ac_name != NULL && strcmp(cfg->ac_name, "auth") != 0)
		cfg_error(cd, root, "service name is \"%s\", this program "
		    "serves \"auth\"", cfg->ac_name);
	if (cfg->ac_level != NULL && log_level_parse(cfg->ac_level) == -1)
		cfg_error(cd, root, "unknown log level \"%s\"", cfg->ac_level);
	if (cfg->ac_issuer == NULL)
		return;
	n = strlen(cfg->ac_issuer);
	if ((strncmp(cfg->ac_issuer, "http://", 7) != 0 &&
	    strncmp(cfg->ac_issuer, "https://", 8) != 0) ||
	    cfg->ac_issuer[n - 1] == '/')
		cfg_error(cd, root, "issuer must be an http(s) URL without a "
		    "trailing slash");
	if (cfg->ac_realm != NULL && (n < strlen(cfg->ac_realm) ||
	    strcmp(cfg->ac_issuer + n - strlen(cfg->ac_realm),
	    cfg->ac_realm) != 0))
		cfg_error(cd, root, "issuer must end with /realms/%s",
		    cfg->ac_realm);
	if (cfg->ac_sso_idle_ms > cfg->ac_sso_max_ms)
		cfg_error(cd, root, "sso-idle longer than sso-max");
	acfg_account_check(cd, root, cfg);
	if (cfg->ac_bf_wait_ms > cfg->ac_bf_max_ms)
		cfg_error(cd, acfg_node(root, "brute-force"), "wait longer "
		    "than max-wait");
	if (cfg->ac_hash_max != 0 && cfg->ac_pool.pc_workers > 1 &&
	    cfg->ac_hash_max >= cfg->ac_pool.pc_workers)
		cfg_error(cd, acfg_node(root, "password"), "max-concurrent "
		    "%lld leaves no worker for refresh, code exchange and "
		    "JWKS while logins hash (the pool has %lld workers)",
		    (long long)cfg->ac_hash_max,
		    (long long)cfg->ac_pool.pc_workers);
	acfg_check_ops(cd, root, cfg);
}

/* Reads every section of <cd> into <cfg>; errors counted in <cd>. */
static void
acfg_read(struct cfg_doc *cd, struct auth_cfg *cfg)
{
	const struct acfg_section *sec;
	xmlNodePtr root = cfg_root(cd), realm, node;
	size_t i;

	realm = cfg_next(root, NULL, "realm");
	for (i = 0; i < NITEMS(acfg_sections); i++) {
		sec = &acfg_sections[i];
		if (sec->sec_name == NULL)
			node = root;
		else
			node = cfg_next(sec->sec_in_realm ? realm : root, NULL,
			    sec->sec_name);
		if (node == NULL && sec->sec_required) {
			cfg_error(cd, root, "<%s> is required", sec->sec_name);
			continue;
		}
		cfg_read(cd, node, sec->sec_keys, sec->sec_nkeys,
		    (char *)cfg + sec->sec_off);
	}
	cfg_read(cd, cfg_next(root, NULL, "pool"), pool_cfg_keys,
	    pool_cfg_nkeys, &cfg->ac_pool);
	node = cfg_next(root, NULL, "database");
	if (node == NULL)
		cfg_error(cd, root, "<database> is required");
	else
		cfg_read(cd, node, db_cfg_keys, db_cfg_nkeys, &cfg->ac_db);
	if (realm != NULL)
		acfg_clients(cd, realm, cfg);
	mq_cfg_read(cd, root, cfg);
	acfg_check(cd, root, cfg);
}

void
acfg_release(struct auth_cfg *cfg)
{
	size_t i;

	for (i = 0; i < NITEMS(acfg_sections); i++)
		cfg_release_keys(acfg_sections[i].sec_keys,
		    acfg_sections[i].sec_nkeys,
		    (char *)cfg + acfg_sections[i].sec_off);
	pool_cfg_release(&cfg->ac_pool);
	db_cfg_release(&cfg->ac_db);
	mq_cfg_release(cfg);
	for (i = 0; i < cfg->ac_nclients; i++) {
		cfg_release_keys(client_keys, NITEMS(client_keys),
		    &cfg->ac_clients[i]);
		if (cfg->ac_clients[i].cl_secret != NULL)
			explicit_bzero(cfg->ac_clients[i].cl_secret,
			    strlen(cfg->ac_clients[i].cl_secret));
		free(cfg->ac_clients[i].cl_secret);
	}
	memset(cfg, 0, sizeof(*cfg));
}

void
acfg_read_doc(struct cfg_doc *cd, void *cfg)
{
	acfg_read(cd, cfg);
}

void
acfg_release_doc(void *cfg)
{
	acfg_release(cfg);
}
