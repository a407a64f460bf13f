/*
 * fcgi-echo: a minimal FastCGI app on libelp for gateway tests and the
 * benchmark. Usage: fcgi-echo -l unix:/path|host:port [-w workers] [-F file]
 *	    [-p static|dynamic|ondemand] [-M max-children] [-s start-servers]
 *	    [-n min-spare] [-x max-spare] [-i idle-timeout-ms]
 *	    [-r max-requests] [-S slow-log-ms]
 *	the pool's process manager (pool.h, conf/README.md <pool>); the pool
 *	answers GET /pool-status itself
 *	-F file            while <file> exists, /small answers 500 (breaker
 *	                   tests flip an instance bad and good without a
 *	                   restart; /health stays 200)
 *	GET  /small        a small JSON envelope
 *	GET  /bytes?n=N    N bytes, streamed in 64 KiB writes
 *	GET  /sleep?ms=M   sleeps M ms, then the small JSON
 *	POST /echo         the request body back (up to 1 MiB)
 *	POST /count        streams any body; answers its length and sha256,
 *	                   and the CONTENT_LENGTH param it got (-1: none)
 *	GET  /health       {"status":"UP"}
 *	GET  /stderr       writes a line to FCGI_STDERR, then the small JSON
 *	GET  /whoami       the AUTH_* params and any HTTP_AUTH_* header params
 *	GET  /fail?status=N  an error envelope with status N (400..599)
 *	GET  /param?name=P   {"name":P,"value":V}: V is FastCGI param P as
 *	                     received, null when absent (POST too)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "app.h"
#include "log.h"
#include "pool.h"
#include "util.h"

#define ECHO_CHUNK	65536

static const char small[] =
    "{\"httpStatus\":\"OK\",\"responseBody\":{\"message\":\"hello\"}}";

static const char	*fail_file;

static void
echo_small(struct app_req *r)
{
	if (fail_file != NULL && access(fail_file, F_OK) == 0) {
		app_fail(r, 500, "failing on purpose");
		return;
	}
	app_send_raw(r, 200, "application/json", small, sizeof(small) - 1);
}

static void
echo_bytes(struct app_req *r)
{
	static char chunk[ECHO_CHUNK];
	long long n, k;

	if (app_query_int(r, "n", 0, &n) == -1 || n < 0) {
		app_fail(r, 400, "n must be a byte count");
		return;
	}
	memset(chunk, 'x', sizeof(chunk));
	r->r_responded = 1;
	r->r_status = 200;
	FCGX_FPrintF(r->r_fx->out, "Status: 200 OK\r\nContent-Type: "
	    "application/octet-stream\r\nContent-Length: %lld\r\n\r\n", n);
	for (; n > 0; n -= k) {
		k = n > ECHO_CHUNK ? ECHO_CHUNK : n;
		if (FCGX_PutStr(chunk, (int)k, r->r_fx->out) != (int)k)
			return;
	}
}

static void
echo_sleep(struct app_req *r)
{
	long long ms;
	struct timespec ts;

	if (app_query_int(r, "ms", 0, &ms) == -1 || ms < 0 || ms > 600000) {
		app_fail(r, 400, "ms must be 0..600000");
		return;
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	echo_small(r);
}

static void
echo_echo(struct app_req *r)
{
	const char *ct = app_param(r, "CONTENT_TYPE");

	if (app_read_body(r) == -1)
		return;
	app_send_raw(r, 200, ct != NULL && *ct ? ct : "application/octet-stream",
	    r->r_body, r->r_body_len);
}

static void
echo_count(struct app_req *r)
{
	static char chunk[ECHO_CHUNK];
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1], out[256];
	unsigned int mdlen, i;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *cl = app_param(r, "CONTENT_LENGTH");
	long long total = 0;
	int n;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = FCGX_GetStr(chunk, sizeof(chunk), r->r_fx->in)) > 0) {
		EVP_DigestUpdate(ctx, chunk, (size_t)n);
		total += n;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	r->r_body_read = 1;
	/* contentLength: the CONTENT_LENGTH param as received (-1: none). */
	n = snprintf(out, sizeof(out), "{\"httpStatus\":\"OK\",\"responseBody\""
	    ":{\"bytes\":%lld,\"sha256\":\"%s\",\"contentLength\":%lld}}",
	    total, hex, cl != NULL ? atoll(cl) : -1LL);
	app_send_raw(r, 200, "application/json", out, (size_t)n);
}

/* The identity the gateway passed on, and what a client tried to spoof. */
static void
echo_whoami(struct app_req *r)
{
	static const char *const names[] = {
		"AUTH_SUB", "AUTH_ROLES", "AUTH_EMAIL", "AUTH_USERNAME",
		"AUTH_CLIENT", "HTTP_AUTH_SUB", "HTTP_AUTHORIZATION",
	};
	json_t *body = json_object();
	const char *v;
	size_t i;

	for (i = 0; i < NITEMS(names); i++)
		if ((v = app_param(r, names[i])) != NULL)
			json_object_set_new(body, names[i], json_string(v));
	app_ok(r, 200, body);
}

static void
echo_health(struct app_req *r)
{
	static const char up[] =
	    "{\"httpStatus\":\"OK\",\"responseBody\":{\"status\":\"UP\"}}";

	app_send_raw(r, 200, "application/json", up, sizeof(up) - 1);
}

static void
echo_stderr(struct app_req *r)
{
	FCGX_FPrintF(r->r_fx->err, "echo stderr line for %s\n", r->r_reqid);
	echo_small(r);
}

static void
echo_fail(struct app_req *r)
{
	long long st;

	if (app_query_int(r, "status", 500, &st) == -1 || st < 400 ||
	    st > 599) {
		app_fail(r, 400, "status must be 400..599");
		return;
	}
	app_fail(r, (int)st, "failing on purpose");
}

/* One FastCGI param as the gateway sent it. */
static void
echo_param(struct app_req *r)
{
	static char name[256];
	const char *v;
	json_t *body;

	if (app_query_get(r->r_query, "name", name, sizeof(name)) != 1) {
		app_fail(r, 400, "name is required");
		return;
	}
	v = app_param(r, name);
	body = json_object();
	json_object_set_new(body, "name", json_string(name));
	json_object_set_new(body, "value", v != NULL ? json_string(v) :
	    json_null());
	app_ok(r, 200, body);
}

/* GET /offload?path=P&type=T: the gateway serves file P (X-Accel-Redirect)
 * with type T; no body of our own. */
static void
echo_offload(struct app_req *r)
{
	static char path[8192], type[256];

	if (app_query_get(r->r_query, "path", path, sizeof(path)) != 1 ||
	    app_query_get(r->r_query, "type", type, sizeof(type)) != 1) {
		app_fail(r, 400, "path and type are required");
		return;
	}
	r->r_responded = 1;
	r->r_status = 200;
	FCGX_FPrintF(r->r_fx->out, "Status: 200 OK\r\nContent-Type: %s\r\n"
	    "Cache-Control: private, max-age=60\r\n"
	    "X-Accel-Redirect: %s\r\n\r\n", type, path);
}

static const struct app_route echo_routes[] = {
	{ "GET", "/small", echo_small, APP_BODY_ANY },
	{ "GET", "/bytes", echo_bytes, APP_BODY_ANY },
	{ "GET", "/sleep", echo_sleep, APP_BODY_ANY },
	{ "POST", "/echo", echo_echo, APP_BODY_ANY },
	{ "POST", "/count", echo_count, APP_BODY_ANY },
	{ "GET", "/health", echo_health, APP_BODY_ANY },
	{ "GET", "/stderr", echo_stderr, APP_BODY_ANY },
	{ "GET", "/whoami", echo_whoami, APP_BODY_ANY },
	{ "GET", "/fail", echo_fail, APP_BODY_ANY },
	{ "GET", "/offload", echo_offload, APP_BODY_ANY },
	{ "GET", "/param", echo_param, APP_BODY_ANY },
	{ "POST", "/param", echo_param, APP_BODY_ANY },
};

static int
echo_worker(int fd, void *arg)
{
	struct app app;

	(void)arg;
	memset(&app, 0, sizeof(app));
	app.a_routes = echo_routes;
	app.a_nroutes = NITEMS(echo_routes);
	app.a_max_body = 1024 * 1024;
	return app_worker_loop(&app, fd);
}

int
main(int argc, char *argv[])
{
	struct pool_cfg pc;
	int ch;

	memset(&pc, 0, sizeof(pc));
	pc.pc_workers = 2;
	pc.pc_backlog = 1024;
	pc.pc_mode = 0660;
	pc.pc_drain = 5000;
	pc.pc_min_spare = 1;
	pc.pc_max_spare = 3;
	pc.pc_spawn_rate = 32;
	pc.pc_idle_timeout = 10000;
	pc.pc_status_path = "/pool-status";
	while ((ch = getopt(argc, argv, "F:i:l:M:n:p:r:s:S:w:x:")) != -1) {
		switch (ch) {
		case 'p':
			pc.pc_pm = optarg;
			break;
		case 'M':
			pc.pc_max_children = atoi(optarg);
			break;
		case 's':
			pc.pc_start_servers = atoi(optarg);
			break;
		case 'n':
			pc.pc_min_spare = atoi(optarg);
			break;
		case 'x':
			pc.pc_max_spare = atoi(optarg);
			break;
		case 'i':
			pc.pc_idle_timeout = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			pc.pc_max_requests = atoll(optarg);
			break;
		case 'S':
			pc.pc_slow_log = strtoull(optarg, NULL, 10);
			break;
		case 'l':
			pc.pc_listen = optarg;
			break;
		case 'w':
			pc.pc_workers = atoi(optarg);
			break;
		case 'F':
			fail_file = optarg;
			break;
		default:
			fprintf(stderr, "usage: fcgi-echo -l ADDR [-w N]\n");
			return 2;
		}
	}
	if (pc.pc_listen == NULL || pc.pc_workers < 1 ||
	    pool_cfg_mode(&pc) == -1) {
		fprintf(stderr, "usage: fcgi-echo -l ADDR [-w N]\n");
		return 2;
	}
	log_init("fcgi-echo", LOG_LVL_INFO);
	return pool_run(&pc, echo_worker, NULL, NULL);
}
