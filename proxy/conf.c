/*
 * conf: loads conf/gateway.xml and the registry (services.xml) into a
 * fresh struct gw_conf. Every attribute is one entry of a key table
 * (name, type, default, bounds); every error is reported as file:line and
 * all of them are printed before the load is refused.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

#define K(n, t, d, lo, hi, s, f) \
	{ n, t, d, lo, hi, offsetof(s, f) }

static const struct cfg_key conf_gw_keys[] = {
	K("workers", CFG_T_STR, "auto", 0, 0, struct gw_conf, gc_workers_text),
	K("registry", CFG_T_PATH, "services.xml", 0, 0, struct gw_conf,
	    gc_registry),
	K("pidfile", CFG_T_PATH, "", 0, 0, struct gw_conf, gc_pidfile),
	K("user", CFG_T_STR, "", 0, 0, struct gw_conf, gc_user),
	K("leases", CFG_T_PATH, "", 0, 0, struct gw_conf, gc_leases),
};

static const struct cfg_key conf_auth_keys[] = {
	K("issuer", CFG_T_STR, "", 0, 0, struct gw_auth, au_issuer),
	K("service", CFG_T_STR, "", 0, 0, struct gw_auth, au_service),
	K("jwks", CFG_T_STR,
	    "/realms/e-learning-platform/protocol/openid-connect/certs", 0, 0,
	    struct gw_auth, au_jwks),
	K("audience", CFG_T_STR, "", 0, 0, struct gw_auth, au_audience),
	K("leeway", CFG_T_DURATION, "60s", 0, 3600000, struct gw_auth,
	    au_leeway),
	K("refresh", CFG_T_DURATION, "5m", 1000, 86400000, struct gw_auth,
	    au_refresh),
	K("refresh-min", CFG_T_DURATION, "10s", 0, 3600000, struct gw_auth,
	    au_refresh_min),
	K("timeout", CFG_T_DURATION, "2s", 1, 600000, struct gw_auth,
	    au_timeout),
	K("cache", CFG_T_INT, "10000", 1, 10000000, struct gw_auth, au_cache),
};

static const struct cfg_key conf_cors_keys[] = {
	K("origins", CFG_T_STR, "", 0, 0, struct gw_conf, gc_cors),
	K("max-age", CFG_T_DURATION, "600s", 0, 86400000, struct gw_conf,
	    gc_cors_max_age),
};

static const struct cfg_key conf_log_keys[] = {
	K("level", CFG_T_STR, "info", 0, 0, struct gw_conf, gc_log_level),
	K("error", CFG_T_PATH, "", 0, 0, struct gw_conf, gc_error_log),
	K("access", CFG_T_PATH, "", 0, 0, struct gw_conf, gc_access_log),
};

struct conf_listen_attrs {
	char	*name;
	char	*address;
	int	 admin;
	int64_t	 backlog;
	char	*hosts;
	int64_t	 redirect;
};

static const struct cfg_key conf_listen_keys[] = {
	K("name", CFG_T_STR, NULL, 0, 0, struct conf_listen_attrs, name),
	K("address", CFG_T_ADDR, NULL, 0, 0, struct conf_listen_attrs, address),
	K("admin", CFG_T_BOOL, "no", 0, 0, struct conf_listen_attrs, admin),
	K("backlog", CFG_T_INT, "511", 1, 65535, struct conf_listen_attrs,
	    backlog),
	K("hosts", CFG_T_STR, "localhost 127.0.0.1 [::1]", 0, 0,
	    struct conf_listen_attrs, hosts),
	K("redirect-https", CFG_T_INT, "0", 0, 65535,
	    struct conf_listen_attrs, redirect),
};

/* <tls> of a <listen>. */
struct conf_tls_attrs {
	char	*cert;
	char	*key;
	char	*ciphers;
	char	*hsts;
};

static const struct cfg_key conf_tls_keys[] = {
	K("cert-file", CFG_T_PATH, NULL, 0, 0, struct conf_tls_attrs, cert),
	K("key-file", CFG_T_PATH, NULL, 0, 0, struct conf_tls_attrs, key),
	K("ciphers", CFG_T_STR, TLS_CIPHERS_DEFAULT, 0, 0,
	    struct conf_tls_attrs, ciphers),
	K("hsts", CFG_T_STR, "max-age=31536000", 0, 0, struct conf_tls_attrs,
	    hsts),
};

static const struct cfg_key conf_realip_keys[] = {
	K("from", CFG_T_STR, "", 0, 0, struct gw_conf, gc_realip_from),
};

static const struct cfg_key conf_timeout_keys[] = {
	K("header", CFG_T_DURATION, "10s", 1, 3600000, struct gw_timeouts,
	    to_header),
	K("body-idle", CFG_T_DURATION, "30s", 1, 3600000, struct gw_timeouts,
	    to_body_idle),
	K("keepalive", CFG_T_DURATION, "75s", 1, 3600000, struct gw_timeouts,
	    to_keepalive),
	K("connect", CFG_T_DURATION, "2s", 1, 600000, struct gw_timeouts,
	    to_connect),
	K("response", CFG_T_DURATION, "30s", 1, 3600000, struct gw_timeouts,
	    to_response),
	K("send", CFG_T_DURATION, "60s", 1, 3600000, struct gw_timeouts,
	    to_send),
	K("backend-idle", CFG_T_DURATION, "60s", 1, 3600000,
	    struct gw_timeouts, to_backend_idle),
	K("drain", CFG_T_DURATION, "30s", 0, 3600000, struct gw_timeouts,
	    to_drain),
	K("queue", CFG_T_DURATION, "10s", 1, 3600000, struct gw_timeouts,
	    to_queue),
};

static const struct cfg_key conf_limit_keys[] = {
	K("header-bytes", CFG_T_SIZE, "16k", 256, 1048576, struct gw_limits,
	    lim_header_bytes),
	K("headers", CFG_T_INT, "100", 1, H1_MAX_HEADERS, struct gw_limits,
	    lim_headers),
	K("target", CFG_T_SIZE, "8k", 16, 1048576, struct gw_limits,
	    lim_target),
	K("max-body", CFG_T_SIZE, "1m", 0, INT64_MAX, struct gw_limits,
	    lim_max_body),
	K("connections", CFG_T_INT, "10000", 1, 1000000, struct gw_limits,
	    lim_connections),
	K("response-head", CFG_T_SIZE, "32k", 1024, 1048576, struct gw_limits,
	    lim_response_head),
	K("buffer", CFG_T_SIZE, "64k", 4096, 16777216, struct gw_limits,
	    lim_buffer),
	K("queue-length", CFG_T_INT, "1024", 1, 1000000, struct gw_limits,
	    lim_queue_length),
	K("min-body-rate", CFG_T_SIZE, "0", 0, 1073741824, struct gw_limits,
	    lim_min_body_rate),
};

static const struct cfg_key conf_buffering_keys[] = {
	K("request", CFG_T_BOOL, "on", 0, 0, struct gw_buffering, bu_request),
	K("response", CFG_T_BOOL, "on", 0, 0, struct gw_buffering,
	    bu_response),
	K("request-memory", CFG_T_SIZE, "64k", 0, 1073741824,
	    struct gw_buffering, bu_request_memory),
	K("response-memory", CFG_T_SIZE, "64k", 4096, 1073741824,
	    struct gw_buffering, bu_response_memory),
	K("max-temp-file", CFG_T_SIZE, "1g", 0, INT64_MAX,
	    struct gw_buffering, bu_max_temp_file),
	K("temp-dir", CFG_T_PATH, "/tmp", 0, 0, struct gw_buffering,
	    bu_temp_dir),
};

static const struct cfg_key conf_route_keys[] = {
	K("listen", CFG_T_STR, NULL, 0, 0, struct route, rt_listen),
	K("prefix", CFG_T_STR, NULL, 0, 0, struct route, rt_prefix),
	K("service", CFG_T_STR, NULL, 0, 0, struct route, rt_service),
	K("rewrite", CFG_T_STR, "", 0, 0, struct route, rt_rewrite),
	K("max-body", CFG_T_SIZE, "0", 0, INT64_MAX, struct route,
	    rt_max_body),
	K("cors", CFG_T_STR, "", 0, 0, struct route, rt_cors),
	K("auth", CFG_T_STR, "public", 0, 0, struct route, rt_auth),
	K("offload-root", CFG_T_PATH, "", 0, 0, struct route, rt_offload_root),
	K("request-buffering", CFG_T_STR, "", 0, 0, struct route,
	    rt_req_buf_text),
	K("response-buffering", CFG_T_STR, "", 0, 0, struct route,
	    rt_resp_buf_text),
	K("min-body-rate", CFG_T_SIZE, "0", 0, 1073741824, struct route,
	    rt_min_body_rate),
	K("retries", CFG_T_INT, "2", 0, 10, struct route, rt_retries),
};

/* <rate-limit> zones and the <limit>s of a route (rl.c). */
static const struct cfg_key conf_zone_keys[] = {
	K("name", CFG_T_STR, NULL, 0, 0, struct rl_zone, rz_name),
	K("rate", CFG_T_STR, NULL, 0, 0, struct rl_zone, rz_rate),
	K("burst", CFG_T_INT, "1", 1, 100000, struct rl_zone, rz_burst),
	K("size", CFG_T_INT, "10000", RL_WAYS, RL_MAX_SIZE, struct rl_zone,
	    rz_size),
	K("allow", CFG_T_STR, "", 0, 0, struct rl_zone, rz_allow),
};

static const struct cfg_key conf_rlimit_keys[] = {
	K("zone", CFG_T_STR, NULL, 0, 0, struct rl_limit, rl_zone_name),
	K("methods", CFG_T_STR, "", 0, 0, struct rl_limit, rl_methods),
	K("path", CFG_T_STR, "", 0, 0, struct rl_limit, rl_path),
	K("prefix", CFG_T_STR, "", 0, 0, struct rl_limit, rl_prefix),
};

struct conf_service_attrs {
	char	*name;
	char	*balance;
};

static const struct cfg_key conf_service_keys[] = {
	K("name", CFG_T_STR, NULL, 0, 0, struct conf_service_attrs, name),
	K("balance", CFG_T_STR, "round-robin", 0, 0, struct conf_service_attrs,
	    balance),
};

static const struct cfg_key conf_health_keys[] = {
	K("enabled", CFG_T_BOOL, "yes", 0, 0, struct hc_conf, hk_enabled),
	K("path", CFG_T_STR, "/health", 0, 0, struct hc_conf, hk_path),
	K("interval", CFG_T_DURATION, "2s", 100, 3600000, struct hc_conf,
	    hk_interval),
	K("timeout", CFG_T_DURATION, "1s", 10, 600000, struct hc_conf,
	    hk_timeout),
	K("rise", CFG_T_INT, "2", 1, 100, struct hc_conf, hk_rise),
	K("fall", CFG_T_INT, "3", 1, 100, struct hc_conf, hk_fall),
};

static const struct cfg_key conf_breaker_keys[] = {
	K("failures", CFG_T_INT, "5", 0, 10000, struct brk_conf, bc_failures),
	K("error-rate", CFG_T_INT, "50", 0, 100, struct brk_conf,
	    bc_error_rate),
	K("window", CFG_T_DURATION, "10s", 100, 3600000, struct brk_conf,
	    bc_window),
	K("min-requests", CFG_T_INT, "20", 1, 1000000, struct brk_conf,
	    bc_min_requests),
	K("cooldown", CFG_T_DURATION, "10s", 100, 3600000, struct brk_conf,
	    bc_cooldown),
	K("trials", CFG_T_INT, "1", 1, 1000, struct brk_conf, bc_trials),
};

struct conf_instance_attrs {
	char	*address;
	int64_t	 maxconn;
	int64_t	 weight;
};

static const struct cfg_key conf_instance_keys[] = {
	K("address", CFG_T_ADDR, NULL, 0, 0, struct conf_instance_attrs,
	    address),
	K("maxconn", CFG_T_INT, "8", 1, 10000, struct conf_instance_attrs,
	    maxconn),
	K("weight", CFG_T_INT, "1", 1, 1000, struct conf_instance_attrs,
	    weight),
};

#undef K

static int
conf_parse_unix(const char *path, struct gw_addr *out)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&out->ga_ss;

	if (*path == '\0' || strlen(path) >= sizeof(sun->sun_path))
		return -1;
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	out->ga_len = (socklen_t)sizeof(*sun);
	return 0;
}

int
conf_parse_addr(const char *text, struct gw_addr *out)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *colon, *h;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (strncmp(text, "unix:", 5) == 0)
		return conf_parse_unix(text + 5, out);
	if ((colon = strrchr(text, ':')) == NULL ||
	    !cfg_port_ok(colon + 1, strlen(colon + 1)))
		return -1;
	h = text;
	hlen = (size_t)(colon - text);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	/* Names resolve here, at config load, never on the request path. */
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL)
		return -1;
	memcpy(&out->ga_ss, res->ai_addr, res->ai_addrlen);
	out->ga_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
conf_workers(struct cfg_doc *cd, struct gw_conf *gc)
{
	long n;
	char *end;

	if (strcmp(gc->gc_workers_text, "auto") == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		gc->gc_workers = n < 1 ? 1 : (n > 64 ? 64 : (int)n);
		return 0;
	}
	n = strtol(gc->gc_workers_text, &end, 10);
	if (*end != '\0' || n < 1 || n > 256) {
		cfg_error(cd, cfg_root(cd), "workers: \"%s\" is not \"auto\" "
		    "or 1..256", gc->gc_workers_text);
		return -1;
	}
	gc->gc_workers = (int)n;
	return 0;
}

/* Resolves <gateway user=...> now: the workers never look names up. */
static void
conf_user(struct cfg_doc *cd, struct gw_conf *gc)
{
	struct passwd *pw;

	if (*gc->gc_user == '\0')
		return;
	if ((pw = getpwnam(gc->gc_user)) == NULL) {
		cfg_error(cd, cfg_root(cd), "user \"%s\" does not exist",
		    gc->gc_user);
		return;
	}
	gc->gc_uid = pw->pw_uid;
	gc->gc_gid = pw->pw_gid;
}

/* The buffering directory must exist and take unlinked files now, not
 * at the first large body. */
static void
conf_temp_dir(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc)
{
	int fd;

	if (gc->gc_buf.bu_temp_dir == NULL)
		return;
	if ((fd = spool_tmpfile(gc->gc_buf.bu_temp_dir)) == -1) {
		cfg_error(cd, n, "buffering temp-dir \"%s\": %s",
		    gc->gc_buf.bu_temp_dir, strerror(errno));
		return;
	}
	close(fd);
}

/* Whether <h> (<len> bytes) is a host name without port: "[...]" with
 * no other bracket, or a name without ":/?#@[]". */
static int
conf_host_ok(const char *h, size_t len)
{
	if (len > 2 && h[0] == '[' && h[len - 1] == ']')
		return strcspn(h + 1, "[]") == len - 2;
	return len > 0 && strcspn(h, ":/?#@[]") >= len;
}

static void
conf_hosts_free(char **hosts)
{
	size_t i;

	if (hosts == NULL)
		return;
	for (i = 0; hosts[i] != NULL; i++)
		free(hosts[i]);
	free(hosts);
}

/*
 * Splits the listener attribute hosts="<text>" at blanks into a
 * NULL-terminated array of copies. Returns it, or NULL after cfg_error()
 * when a name is not a host without port.
 */
static char **
conf_hosts(struct cfg_doc *cd, xmlNodePtr n, const char *text)
{
	static const char blank[] = " \t\r\n";
	char **hosts;
	size_t len, k = 0;

	/* n names take at least 2n - 1 bytes. */
	hosts = xcalloc(strlen(text) / 2 + 2, sizeof(*hosts));
	for (;;) {
		text += strspn(text, blank);
		if (*text == '\0')
			break;
		len = strcspn(text, blank);
		if (!conf_host_ok(text, len)) {
			cfg_error(cd, n, "hosts: \"%.*s\" is not a host name "
			    "without port (IPv6 in brackets)", (int)len, text);
			conf_hosts_free(hosts);
			return NULL;
		}
		hosts[k++] = xstrndup(text, len);
		text += len;
	}
	return hosts;
}

/* Whether two parsed addresses name the same socket. */
static int
conf_addr_eq(const struct gw_addr *a, const struct gw_addr *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a->ga_ss.ss_family != b->ga_ss.ss_family)
		return 0;
	switch (a->ga_ss.ss_family) {
	case AF_INET:
		a4 = (const struct sockaddr_in *)&a->ga_ss;
		b4 = (const struct sockaddr_in *)&b->ga_ss;
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	case AF_INET6:
		a6 = (const struct sockaddr_in6 *)&a->ga_ss;
		b6 = (const struct sockaddr_in6 *)&b->ga_ss;
		return a6->sin6_port == b6->sin6_port &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr,
		    sizeof(a6->sin6_addr)) == 0;
	default:
		return strcmp(((const struct sockaddr_un *)&a->ga_ss)->sun_path,
		    ((const struct sockaddr_un *)&b->ga_ss)->sun_path) == 0;
	}
}

/*
 * The <tls> child of listener <l> (element <n>): its context, made now so
 * that -t and a reload check the files, and its HSTS value. A listener
 * that redirects to HTTPS may not be one. Returns 0, or -1 after
 * cfg_error().
 */
static int
conf_listen_tls(struct cfg_doc *cd, xmlNodePtr n, struct listener *l)
{
	struct conf_tls_attrs a;
	xmlNodePtr t = cfg_next(n, NULL, "tls");
	char err[512];
	int rc = -1;

	if (l->l_redirect != 0 && (t != NULL || l->l_admin)) {
		cfg_error(cd, n, "listener \"%s\": redirect-https on a listener "
		    "with %s", l->l_name, t != NULL ? "<tls>" : "admin=\"yes\"");
		return -1;
	}
	if (t == NULL)
		return 0;
	memset(&a, 0, sizeof(a));
	if (cfg_read(cd, t, conf_tls_keys, NITEMS(conf_tls_keys), &a) == -1)
		goto done;
	if ((l->l_tls = tls_ctx_new(a.cert, a.key, a.ciphers, err,
	    sizeof(err))) == NULL) {
		cfg_error(cd, t, "listener \"%s\": %s", l->l_name, err);
		goto done;
	}
	if (a.hsts[strcspn(a.hsts, "\r\n")] != '\0') {
		cfg_error(cd, t, "listener \"%s\": hsts holds a line break",
		    l->l_name);
		goto done;
	}
	if (strcmp(a.hsts, "off") != 0 && *a.hsts != '\0')
		l->l_hsts = xstrdup(a.hsts);
	rc = 0;
done:
	cfg_release_keys(conf_tls_keys, NITEMS(conf_tls_keys), &a);
	return rc;
}

static int
conf_listen(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc)
{
	struct conf_listen_attrs a;
	struct listener *l;
	size_t i;
	int rc = -1;

	memset(&a, 0, sizeof(a));
	if (cfg_read(cd, n, conf_listen_keys, NITEMS(conf_listen_keys),
	    &a) == -1)
		goto done;
	for (i = 0; i < gc->gc_nlisten; i++)
		if (strcmp(gc->gc_listen[i].l_name, a.name) == 0) {
			cfg_error(cd, n, "listener \"%s\" defined twice",
			    a.name);
			goto done;
		}
	l = &gc->gc_listen[gc->gc_nlisten];
	if (cfg_check_address(cd, n, "address", a.address) == -1)
		goto done;
	if (conf_parse_addr(a.address, &l->l_addr) == -1) {
		cfg_error(cd, n, "listener \"%s\": bad address \"%s\" (want "
		    "host:port, [v6]:port or unix:path)", a.name, a.address);
		goto done;
	}
	for (i = 0; i < gc->gc_nlisten; i++)
		if (conf_addr_eq(&gc->gc_listen[i].l_addr, &l->l_addr)) {
			cfg_error(cd, n, "listener \"%s\": address \"%s\" is "
			    "already used by listener \"%s\"", a.name,
			    a.address, gc->gc_listen[i].l_name);
			goto done;
		}
	if ((l->l_hosts = conf_hosts(cd, n, a.hosts)) == NULL)
		goto done;
	l->l_addr.ga_text = xstrdup(a.address);
	l->l_name = xstrdup(a.name);
	l->l_admin = a.admin;
	l->l_backlog = a.backlog;
	l->l_fd = -1;
	l->l_idx = (int)gc->gc_nlisten++;
	l->l_redirect = a.redirect;
	rc = conf_listen_tls(cd, n, l);
done:
	cfg_release_keys(conf_listen_keys, NITEMS(conf_listen_keys), &a);
	return rc;
}

static size_t	conf_count(xmlNodePtr, const char *);

/* Whether <p> is <prefix> or under it on a segment boundary. */
static int
conf_under(const char *p, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(p, prefix, n) == 0 && (p[n] == '\0' || p[n] == '/' ||
	    (n > 0 && prefix[n - 1] == '/'));
}

/* The semantic checks of <limit> <l> (element <n>) of route <rt>. */
static void
conf_rlimit_check(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc,
    const struct route *rt, struct rl_limit *l)
{
	const char *p = *l->rl_path != '\0' ? l->rl_path : l->rl_prefix;
	size_t i;

	for (i = 0; i < gc->gc_nzones; i++)
		if (gc->gc_zones[i].rz_name != NULL &&
		    strcmp(gc->gc_zones[i].rz_name, l->rl_zone_name) == 0)
			l->rl_zone = &gc->gc_zones[i];
	if (l->rl_zone == NULL)
		cfg_error(cd, n, "route %s: limit: no <rate-limit> zone named "
		    "\"%s\"", rt->rt_prefix, l->rl_zone_name);
	if (rl_parse_methods(l->rl_methods, &l->rl_mbits) == -1)
		cfg_error(cd, n, "route %s: limit: methods \"%s\" is not a "
		    "list of GET HEAD POST PUT DELETE OPTIONS PATCH ...",
		    rt->rt_prefix, l->rl_methods);
	if (*l->rl_path != '\0' && *l->rl_prefix != '\0')
		cfg_error(cd, n, "route %s: limit: path and prefix together",
		    rt->rt_prefix);
	else if (*p != '\0' && (*p != '/' || !conf_under(p, rt->rt_prefix)))
		cfg_error(cd, n, "route %s: limit: \"%s\" is not under the "
		    "route's prefix", rt->rt_prefix, p);
	else if (*l->rl_prefix != '\0' && strlen(p) > 1 &&
	    p[strlen(p) - 1] == '/')
		cfg_error(cd, n, "route %s: limit: prefix \"%s\" must not end "
		    "in /", rt->rt_prefix, p);
}

/* The <limit> children of route <rt> (element <n>). */
static void
conf_rlimits(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc,
    struct route *rt)
{
	xmlNodePtr ln = NULL;
	struct rl_limit *l;

	rt->rt_limits = xcalloc(conf_count(n, "limit") + 1,
	    sizeof(*rt->rt_limits));
	while ((ln = cfg_next(n, ln, "limit")) != NULL) {
		l = &rt->rt_limits[rt->rt_nlimits++];
		l->rl_line = xmlGetLineNo(ln);
		if (cfg_read(cd, ln, conf_rlimit_keys,
		    NITEMS(conf_rlimit_keys), l) == -1)
			continue;
		conf_rlimit_check(cd, ln, gc, rt, l);
	}
}

/* A <rate-limit> zone (element <n>). */
static void
conf_zone(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc)
{
	struct rl_zone *z = &gc->gc_zones[gc->gc_nzones++];
	struct str bad;
	ssize_t k;
	size_t i;

	z->rz_line = xmlGetLineNo(n);
	if (cfg_read(cd, n, conf_zone_keys, NITEMS(conf_zone_keys), z) == -1)
		return;
	for (i = 0; i + 1 < gc->gc_nzones; i++)
		if (gc->gc_zones[i].rz_name != NULL &&
		    strcmp(gc->gc_zones[i].rz_name, z->rz_name) == 0)
			cfg_error(cd, n, "rate-limit \"%s\" defined twice",
			    z->rz_name);
	if (rl_parse_rate(z->rz_rate, &z->rz_interval) == -1)
		cfg_error(cd, n, "rate-limit %s: rate \"%s\" is not <n>r/s or "
		    "<n>r/m (n 1..1000000)", z->rz_name, z->rz_rate);
	if (*z->rz_allow == '\0')
		return;
	z->rz_nets = xcalloc(REALIP_MAX_NETS, sizeof(*z->rz_nets));
	if ((k = realip_parse_list(z->rz_allow, z->rz_nets, REALIP_MAX_NETS,
	    &bad)) == -1) {
		cfg_error(cd, n, "rate-limit %s: allow: \"%.*s\" is not an "
		    "address, address/bits without host bits or unix: (at "
		    "most %d)", z->rz_name, (int)bad.len, bad.p,
		    REALIP_MAX_NETS);
		return;
	}
	z->rz_nnets = (size_t)k;
}

static void
conf_zones(struct cfg_doc *cd, xmlNodePtr root, struct gw_conf *gc)
{
	xmlNodePtr n = NULL;
	size_t count = conf_count(root, "rate-limit");

	gc->gc_zones = xcalloc(count + 1, sizeof(*gc->gc_zones));
	if (count > RL_MAX_ZONES) {
		cfg_error(cd, cfg_next(root, NULL, "rate-limit"), "%zu "
		    "rate-limit zones, at most %d", count, RL_MAX_ZONES);
		return;
	}
	while ((n = cfg_next(root, n, "rate-limit")) != NULL)
		conf_zone(cd, n, gc);
}

static int
conf_route(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc)
{
	struct route *rt = &gc->gc_routes[gc->gc_nroutes];
	size_t i;

	if (cfg_read(cd, n, conf_route_keys, NITEMS(conf_route_keys),
	    rt) == -1) {
		/* Not counted yet: the release at the end would miss it. */
		cfg_release_keys(conf_route_keys, NITEMS(conf_route_keys), rt);
		return -1;
	}
	gc->gc_nroutes++;
	rt->rt_line = xmlGetLineNo(n);
	conf_rlimits(cd, n, gc, rt);
	rt->rt_offload_fd = -1;
	rt->rt_lidx = -1;
	for (i = 0; i < gc->gc_nlisten; i++)
		if (strcmp(gc->gc_listen[i].l_name, rt->rt_listen) == 0)
			rt->rt_lidx = (int)i;
	if (rt->rt_lidx == -1) {
		cfg_error(cd, n, "route %s: no listener named \"%s\"",
		    rt->rt_prefix, rt->rt_listen);
		return -1;
	}
	/* elp-confd serves configuration and takes registrations: only
	 * on an admin (loopback) listener, never on a public one. */
	if (strcmp(rt->rt_service, "confd") == 0 &&
	    !gc->gc_listen[rt->rt_lidx].l_admin) {
		cfg_error(cd, n, "route %s: service confd only on an admin "
		    "listener, not on \"%s\"", rt->rt_prefix, rt->rt_listen);
		return -1;
	}
	rt->rt_prefix_len = strlen(rt->rt_prefix);
	/* A trailing slash would make "/x/" differ from "/x"; refuse it. */
	if (rt->rt_prefix_len > 1 && rt->rt_prefix[rt->rt_prefix_len - 1] ==
	    '/') {
		cfg_error(cd, n, "route prefix \"%s\" must not end in /",
		    rt->rt_prefix);
		return -1;
	}
	rt->rt_rewrite_len = strlen(rt->rt_rewrite);
	if (strcmp(rt->rt_auth, "public") == 0)
		rt->rt_auth_kind = ROUTE_AUTH_PUBLIC;
	else if (strcmp(rt->rt_auth, "token") == 0)
		rt->rt_auth_kind = ROUTE_AUTH_TOKEN;
	else
		rt->rt_auth_kind = ROUTE_AUTH_ROLES;
	if (rt->rt_max_body == 0)
		rt->rt_max_body = gc->gc_lim.lim_max_body;
	if (rt->rt_min_body_rate == 0)
		rt->rt_min_body_rate = gc->gc_lim.lim_min_body_rate;
	rt->rt_req_buffering = *rt->rt_req_buf_text == '\0' ?
	    gc->gc_buf.bu_request : strcmp(rt->rt_req_buf_text, "on") == 0;
	rt->rt_resp_buffering = *rt->rt_resp_buf_text == '\0' ?
	    gc->gc_buf.bu_response : strcmp(rt->rt_resp_buf_text, "on") == 0;
	if (*rt->rt_offload_root != '\0' && (rt->rt_offload_fd =
	    open(rt->rt_offload_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		cfg_error(cd, n, "route %s: offload-root \"%s\": %s",
		    rt->rt_prefix, rt->rt_offload_root, strerror(errno));
		return -1;
	}
	for (i = 0; i + 1 < gc->gc_nroutes; i++)
		if (gc->gc_routes[i].rt_lidx == rt->rt_lidx &&
		    strcmp(gc->gc_routes[i].rt_prefix, rt->rt_prefix) == 0) {
			cfg_error(cd, n, "route %s on %s defined twice",
			    rt->rt_prefix, rt->rt_listen);
			return -1;
		}
	return 0;
}

static size_t
conf_count(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n = NULL;
	size_t count = 0;

	while ((n = cfg_next(parent, n, name)) != NULL)
		count++;
	return count;
}

/* <real-ip from>: the networks whose X-Forwarded-For is believed. */
static void
conf_realip(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc)
{
	struct str bad;
	ssize_t k;

	if (gc->gc_realip_from == NULL)
		return;
	gc->gc_realip = xcalloc(REALIP_MAX_NETS, sizeof(*gc->gc_realip));
	k = realip_parse_list(gc->gc_realip_from, gc->gc_realip,
	    REALIP_MAX_NETS, &bad);
	if (k == -1) {
		cfg_error(cd, n, "real-ip from: \"%.*s\" is not an address, "
		    "address/bits without host bits or unix: (at most %d)",
		    (int)bad.len, bad.p, REALIP_MAX_NETS);
		return;
	}
	gc->gc_nrealip = (size_t)k;
}

static int
conf_gateway(struct cfg_doc *cd, struct gw_conf *gc)
{
	xmlNodePtr root = cfg_root(cd), n = NULL;

	cfg_read(cd, root, conf_gw_keys, NITEMS(conf_gw_keys), gc);
	conf_workers(cd, gc);
	conf_user(cd, gc);
	/* An absent element means all defaults: the schema keeps these
	 * attribute names off the root, so reading the root applies them. */
	n = cfg_next(root, NULL, "log");
	cfg_read(cd, n != NULL ? n : root, conf_log_keys,
	    NITEMS(conf_log_keys), gc);
	n = cfg_next(root, NULL, "auth");
	cfg_read(cd, n != NULL ? n : root, conf_auth_keys,
	    NITEMS(conf_auth_keys), &gc->gc_auth);
	gc->gc_auth.au_line = n != NULL ? xmlGetLineNo(n) : 0;
	n = cfg_next(root, NULL, "cors");
	cfg_read(cd, n != NULL ? n : root, conf_cors_keys,
	    NITEMS(conf_cors_keys), gc);
	n = cfg_next(root, NULL, "timeouts");
	cfg_read(cd, n != NULL ? n : root, conf_timeout_keys,
	    NITEMS(conf_timeout_keys), &gc->gc_to);
	n = cfg_next(root, NULL, "limits");
	cfg_read(cd, n != NULL ? n : root, conf_limit_keys,
	    NITEMS(conf_limit_keys), &gc->gc_lim);
	n = cfg_next(root, NULL, "buffering");
	cfg_read(cd, n != NULL ? n : root, conf_buffering_keys,
	    NITEMS(conf_buffering_keys), &gc->gc_buf);
	conf_temp_dir(cd, n != NULL ? n : root, gc);
	n = cfg_next(root, NULL, "real-ip");
	cfg_read(cd, n != NULL ? n : root, conf_realip_keys,
	    NITEMS(conf_realip_keys), gc);
	conf_realip(cd, n != NULL ? n : root, gc);
	conf_zones(cd, root, gc);
	n = NULL;
	while ((n = cfg_next(root, n, "listen")) != NULL &&
	    gc->gc_nlisten < GW_MAX_LISTEN)
		conf_listen(cd, n, gc);
	gc->gc_routes = xcalloc(conf_count(root, "route") + 1,
	    sizeof(*gc->gc_routes));
	n = NULL;
	while ((n = cfg_next(root, n, "route")) != NULL)
		conf_route(cd, n, gc);
	agg_conf_read(cd, root, gc);
	return cd->cd_nerr == 0 ? 0 : -1;
}

static int
conf_instance(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc,
    struct service *svc)
{
	struct conf_instance_attrs a;
	struct instance *ins = &gc->gc_instances[gc->gc_ninstances];
	int rc = -1;

	memset(&a, 0, sizeof(a));
	if (cfg_read(cd, n, conf_instance_keys, NITEMS(conf_instance_keys),
	    &a) == -1)
		goto done;
	if (cfg_check_address(cd, n, "address", a.address) == -1)
		goto done;
	if (conf_parse_addr(a.address, &ins->ins_addr) == -1) {
		cfg_error(cd, n, "service %s: bad instance address \"%s\"",
		    svc->svc_name, a.address);
		goto done;
	}
	ins->ins_addr.ga_text = xstrdup(a.address);
	ins->ins_name = xasprintf("%s@%s", svc->svc_name, a.address);
	ins->ins_maxconn = a.maxconn;
	ins->ins_weight = a.weight;
	ins->ins_id = (int)gc->gc_ninstances++;
	ins->ins_svc = svc;
	ins->ins_sidx = (int)svc->svc_nins;
	svc->svc_ins[svc->svc_nins++] = ins;
	rc = 0;
done:
	cfg_release_keys(conf_instance_keys, NITEMS(conf_instance_keys), &a);
	return rc;
}

/*
 * Balance, <health> and <breaker> of <svc> (element <n>). An absent
 * element means all defaults: the schema keeps these attribute names off
 * <service>, so reading the service element applies them.
 */
static void
conf_service_policy(struct cfg_doc *cd, xmlNodePtr n, struct service *svc,
    const char *balance)
{
	xmlNodePtr h, b;
	int bal;

	if ((bal = up_balance_parse(balance)) == -1)
		cfg_error(cd, n, "service %s: balance \"%s\" is not "
		    "round-robin or least-outstanding", svc->svc_name, balance);
	svc->svc_balance = bal == -1 ? UP_BAL_RR : bal;
	h = cfg_next(n, NULL, "health");
	cfg_read(cd, h != NULL ? h : n, conf_health_keys,
	    NITEMS(conf_health_keys), &svc->svc_hc);
	b = cfg_next(n, NULL, "breaker");
	cfg_read(cd, b != NULL ? b : n, conf_breaker_keys,
	    NITEMS(conf_breaker_keys), &svc->svc_brk);
	if (svc->svc_hc.hk_path != NULL && svc->svc_hc.hk_path[0] != '/')
		cfg_error(cd, h != NULL ? h : n, "service %s: health path "
		    "\"%s\" must start with /", svc->svc_name,
		    svc->svc_hc.hk_path);
	if (svc->svc_hc.hk_timeout > svc->svc_hc.hk_interval)
		cfg_error(cd, h != NULL ? h : n, "service %s: health timeout "
		    "(%llu ms) is longer than the interval (%llu ms)",
		    svc->svc_name, (unsigned long long)svc->svc_hc.hk_timeout,
		    (unsigned long long)svc->svc_hc.hk_interval);
}

static void
conf_service(struct cfg_doc *cd, xmlNodePtr n, struct gw_conf *gc)
{
	struct conf_service_attrs a;
	struct service *svc = &gc->gc_services[gc->gc_nservices];
	xmlNodePtr in = NULL;

	memset(&a, 0, sizeof(a));
	if (cfg_read(cd, n, conf_service_keys, NITEMS(conf_service_keys),
	    &a) == -1) {
		cfg_release_keys(conf_service_keys,
		    NITEMS(conf_service_keys), &a);
		return;
	}
	gc->gc_nservices++;
	svc->svc_name = a.name;
	conf_service_policy(cd, n, svc, a.balance);
	free(a.balance);
	svc->svc_waitq_tail = &svc->svc_waitq;
	svc->svc_ins = xcalloc(conf_count(n, "instance") + 1,
	    sizeof(*svc->svc_ins));
	while ((in = cfg_next(n, in, "instance")) != NULL)
		conf_instance(cd, in, gc, svc);
	svc->svc_nstatic = svc->svc_nins;
}

char *
conf_registry_path(const struct gw_conf *gc)
{
	char *copy, *dir, *path;

	if (gc->gc_registry[0] == '/')
		return xstrdup(gc->gc_registry);
	copy = xstrdup(gc->gc_path);
	dir = dirname(copy);
	path = xasprintf("%s/%s", dir, gc->gc_registry);
	free(copy);
	return path;
}

static int
conf_registry(struct gw_conf *gc)
{
	struct cfg_doc cd;
	xmlNodePtr root, n = NULL, s = NULL;
	char *path, *xsd;
	size_t ninst = 0;
	int rc = -1;

	path = conf_registry_path(gc);
	if ((xsd = cfg_schema_path(path, "services.xsd")) == NULL) {
		log_error("%s: schema services.xsd not found", path);
		free(path);
		return -1;
	}
	if (cfg_load(&cd, path, xsd) == -1)
		goto done;
	root = cfg_root(&cd);
	while ((s = cfg_next(root, s, "service")) != NULL)
		ninst += conf_count(s, "instance");
	gc->gc_services = xcalloc(conf_count(root, "service") + 1,
	    sizeof(*gc->gc_services));
	gc->gc_instances = xcalloc(ninst + 1, sizeof(*gc->gc_instances));
	while ((n = cfg_next(root, n, "service")) != NULL)
		conf_service(&cd, n, gc);
	rc = cd.cd_nerr == 0 ? 0 : -1;
	cfg_release(&cd);
done:
	free(xsd);
	free(path);
	return rc;
}

static struct service *
conf_service_byname(struct gw_conf *gc, const char *name)
{
	size_t i;

	for (i = 0; i < gc->gc_nservices; i++)
		if (strcmp(gc->gc_services[i].svc_name, name) == 0)
			return &gc->gc_services[i];
	return NULL;
}

/* Binds <auth service=...> to the registry; an issuer is then required. */
static int
conf_link_auth(struct gw_conf *gc)
{
	struct gw_auth *au = &gc->gc_auth;

	if (*au->au_service == '\0')
		return 0;
	if ((au->au_svc = conf_service_byname(gc, au->au_service)) == NULL) {
		log_error("%s:%ld: auth: service \"%s\" is not in the "
		    "registry", gc->gc_path, au->au_line, au->au_service);
		return -1;
	}
	if (*au->au_issuer == '\0') {
		log_error("%s:%ld: auth: an issuer is required", gc->gc_path,
		    au->au_line);
		return -1;
	}
	return 0;
}

/* Binds each route to its service; reports the unknown ones. */
static int
conf_link(struct gw_conf *gc)
{
	struct route *rt;
	size_t i;
	int rc = 0;

	for (i = 0; i < gc->gc_nroutes; i++) {
		rt = &gc->gc_routes[i];
		if ((rt->rt_svc = conf_service_byname(gc, rt->rt_service)) ==
		    NULL) {
			log_error("%s:%ld: route %s: service \"%s\" is not in "
			    "the registry", gc->gc_path, rt->rt_line,
			    rt->rt_prefix, rt->rt_service);
			rc = -1;
		}
		if (rt->rt_auth_kind != ROUTE_AUTH_PUBLIC &&
		    *gc->gc_auth.au_service == '\0') {
			log_error("%s:%ld: route %s: auth=\"%s\" needs an "
			    "<auth service=...> element", gc->gc_path,
			    rt->rt_line, rt->rt_prefix, rt->rt_auth);
			rc = -1;
		}
	}
	if (agg_conf_link(gc) == -1)
		rc = -1;
	return conf_link_auth(gc) == -1 ? -1 : rc;
}

struct gw_conf *
conf_load(const char *path)
{
	struct gw_conf *gc = xcalloc(1, sizeof(*gc));
	struct cfg_doc cd;
	char *xsd;
	int rc = -1;

	gc->gc_path = xstrdup(path);
	if ((xsd = cfg_schema_path(path, "gateway.xsd")) == NULL) {
		log_error("%s: schema gateway.xsd not found beside it", path);
		goto done;
	}
	/*
	 * Every stage runs whatever the previous ones found, so that one run
	 * shows every error; the registry needs the gateway file parsed.
	 */
	if (cfg_load(&cd, path, xsd) == 0) {
		rc = conf_gateway(&cd, gc);
		cfg_release(&cd);
		if (conf_registry(gc) == -1)
			rc = -1;
		else if (conf_link(gc) == -1)
			rc = -1;
	}
	free(xsd);
done:
	if (rc == -1) {
		log_error("%s: configuration refused", path);
		conf_free(gc);
		return NULL;
	}
	return gc;
}

static void
conf_rlimits_free(struct route *rt)
{
	size_t i;

	for (i = 0; i < rt->rt_nlimits; i++)
		cfg_release_keys(conf_rlimit_keys, NITEMS(conf_rlimit_keys),
		    &rt->rt_limits[i]);
	free(rt->rt_limits);
}

void
conf_free(struct gw_conf *gc)
{
	size_t i;

	if (gc == NULL)
		return;
	for (i = 0; i < gc->gc_nlisten; i++) {
		free(gc->gc_listen[i].l_name);
		free(gc->gc_listen[i].l_addr.ga_text);
		conf_hosts_free(gc->gc_listen[i].l_hosts);
		tls_ctx_free(gc->gc_listen[i].l_tls);
		free(gc->gc_listen[i].l_hsts);
	}
	for (i = 0; i < gc->gc_nroutes; i++) {
		conf_rlimits_free(&gc->gc_routes[i]);
		if (gc->gc_routes[i].rt_offload_fd != -1)
			close(gc->gc_routes[i].rt_offload_fd);
		cfg_release_keys(conf_route_keys, NITEMS(conf_route_keys),
		    &gc->gc_routes[i]);
	}
	for (i = 0; i < gc->gc_nservices; i++) {
		free(gc->gc_services[i].svc_name);
		free(gc->gc_services[i].svc_ins);
		cfg_release_keys(conf_health_keys, NITEMS(conf_health_keys),
		    &gc->gc_services[i].svc_hc);
	}
	for (i = 0; i < gc->gc_ninstances; i++) {
		free(gc->gc_instances[i].ins_name);
		free(gc->gc_instances[i].ins_addr.ga_text);
	}
	cfg_release_keys(conf_gw_keys, NITEMS(conf_gw_keys), gc);
	cfg_release_keys(conf_log_keys, NITEMS(conf_log_keys), gc);
	cfg_release_keys(conf_cors_keys, NITEMS(conf_cors_keys), gc);
	cfg_release_keys(conf_realip_keys, NITEMS(conf_realip_keys), gc);
	free(gc->gc_realip);
	cfg_release_keys(conf_auth_keys, NITEMS(conf_auth_keys), &gc->gc_auth);
	cfg_release_keys(conf_buffering_keys, NITEMS(conf_buffering_keys),
	    &gc->gc_buf);
	for (i = 0; i < gc->gc_nzones; i++) {
		cfg_release_keys(conf_zone_keys, NITEMS(conf_zone_keys),
		    &gc->gc_zones[i]);
		free(gc->gc_zones[i].rz_nets);
	}
	free(gc->gc_zones);
	agg_conf_free(gc);
	free(gc->gc_routes);
	free(gc->gc_services);
	free(gc->gc_instances);
	free(gc->gc_path);
	free(gc);
}
