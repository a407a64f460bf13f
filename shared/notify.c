/*
 * notify: events to elp-messaging's internal API (see notify.h).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfg.h"
#include "log.h"
#include "notify.h"
#include "svcc.h"
#include "util.h"
#include "uuid.h"

#define NOTIFY_MAX_RESPONSE	(64 * 1024)

#define K(name, type, def, min, max, field) \
	{ name, type, def, min, max, offsetof(struct notify_cfg, field) }

const struct cfg_key notify_cfg_keys[] = {
	K("url", CFG_T_STR, NULL, 0, 0, nc_url),
	K("token-url", CFG_T_STR, NULL, 0, 0, nc_token_url),
	K("client-id", CFG_T_STR, NULL, 0, 0, nc_client_id),
	K("secret-file", CFG_T_PATH, NULL, 0, 0, nc_secret_file),
	K("timeout", CFG_T_DURATION, "2s", 1, 60000, nc_timeout),
	K("poll", CFG_T_DURATION, "1s", 10, 3600000, nc_poll),
	K("backoff-max", CFG_T_DURATION, "5m", 1000, 86400000,
	    nc_backoff_max),
	K("ca-file", CFG_T_PATH, "", 0, 0, nc_ca_file),
};
const size_t notify_cfg_nkeys = NITEMS(notify_cfg_keys);

#undef K

struct notify {
	char		*n_url;		/* <url>/events */
	struct svcc	*n_svcc;
};

void
notify_cfg_release(struct notify_cfg *cfg)
{
	cfg_release_keys(notify_cfg_keys, notify_cfg_nkeys, cfg);
}

struct notify *
notify_new(const struct notify_cfg *cfg)
{
	struct svcc_def def;
	struct notify *n;
	size_t len = strlen(cfg->nc_url);

	while (len > 0 && cfg->nc_url[len - 1] == '/')
		len--;
	n = xcalloc(1, sizeof(*n));
	n->n_url = xasprintf("%.*s/events", (int)len, cfg->nc_url);
	memset(&def, 0, sizeof(def));
	def.sv_name = "messaging";
	def.sv_token_url = cfg->nc_token_url;
	def.sv_client = cfg->nc_client_id;
	def.sv_secret_file = cfg->nc_secret_file;
	def.sv_timeout = cfg->nc_timeout;
	def.sv_max = NOTIFY_MAX_RESPONSE;
	def.sv_ca_file = cfg->nc_ca_file;
	n->n_svcc = svcc_new(&def);
	return n;
}

void
notify_free(struct notify *n)
{
	if (n == NULL)
		return;
	free(n->n_url);
	svcc_free(n->n_svcc);
	free(n);
}

int
notify_send(struct notify *n, json_t *event)
{
	return svcc_call(n->n_svcc, "POST", n->n_url, event, NULL, NULL);
}
