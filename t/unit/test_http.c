/*
 * Unit tests for shared/http.c against a scripted HTTP/1.1 server that
 * the test runs itself on a loopback port (one thread, poll over the
 * listener and its connections, keep-alive): status, body and selected
 * headers, the request headers sent, keep-alive reuse, the size cap
 * (with and without Content-Length), connect and total timeouts, proxy
 * variables of the environment ignored, schemes other than http(s)
 * refused, redirects not followed unless asked (and then only to http),
 * a 5xx body returned, TLS settings applied; and http_escape().
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "buf.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define SRV_CONNS	16
#define SRV_REQ_MAX	8192

/* --- the scripted server ---------------------------------------------- */

struct srv_conn {
	int	 sc_fd;			/* -1: free slot */
	int	 sc_stalled;		/* never answered again */
	size_t	 sc_len;
	char	 sc_in[SRV_REQ_MAX + 1];
};

struct srv {
	int		 s_lfd;
	int		 s_pipe[2];	/* a byte stops the thread */
	int		 s_port;
	pthread_t	 s_thread;
	pthread_mutex_t	 s_mu;		/* guards the counters */
	int		 s_naccept;
	int		 s_nreq;
	struct srv_conn	 s_conns[SRV_CONNS];
};

static struct srv	 srv;

static void
srv_send(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0 && (n = send(fd, p, len, MSG_NOSIGNAL)) > 0) {
		p += n;
		len -= (size_t)n;
	}
}

/* Sends a response with <extra> header lines and <body> (<len> bytes). */
static void
srv_reply(int fd, const char *status, const char *extra, const char *body,
    size_t len)
{
	char *head;

	head = xasprintf("HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n",
	    status, extra, len);
	srv_send(fd, head, strlen(head));
	srv_send(fd, body, len);
	free(head);
}

/* The number after "n=" in <target>, or 0. */
static size_t
srv_arg(const char *target)
{
	const char *p = strstr(target, "n=");

	return p != NULL ? (size_t)strtoul(p + 2, NULL, 10) : 0;
}

/*
 * Answers the request <req> (<len> bytes, head and body) on <c> by its
 * path. Returns 0 to keep the connection, -1 to close it.
 */
static int
srv_route(struct srv_conn *c, const char *req, size_t len)
{
	char target[256], *big, *etag;
	size_t n;

	if (sscanf(req, "%*s %255s", target) != 1)
		return -1;
	n = srv_arg(target);
	if (strncmp(target, "/echo", 5) == 0) {
		srv_reply(c->sc_fd, "200 OK", "Content-Type: text/plain\r\n"
		    "ETag: \"v1\"\r\nRetry-After:  7 \r\n", req, len);
	} else if (strncmp(target, "/big", 4) == 0) {
		big = xmalloc(n + 1);
		memset(big, 'x', n);
		if (strncmp(target, "/bignolen", 9) == 0) {
			srv_send(c->sc_fd, "HTTP/1.0 200 OK\r\n\r\n", 19);
			srv_send(c->sc_fd, big, n);
			free(big);
			return -1;
		}
		srv_reply(c->sc_fd, "200 OK", "", big, n);
		free(big);
	} else if (strcmp(target, "/stall") == 0) {
		c->sc_stalled = 1;
	} else if (strcmp(target, "/redirect") == 0) {
		srv_reply(c->sc_fd, "302 Found", "Location: /echo\r\n",
		    "moved", 5);
	} else if (strcmp(target, "/redirect-file") == 0) {
		srv_reply(c->sc_fd, "302 Found", "Location: file:///etc/"
		    "passwd\r\n", "moved", 5);
	} else if (strcmp(target, "/fail") == 0) {
		srv_reply(c->sc_fd, "503 Service Unavailable",
		    "Retry-After: 30\r\n", "{\"error\":\"down\"}", 16);
	} else if (strcmp(target, "/longhdr") == 0) {
		etag = xmalloc(HTTP_VALUE_MAX + 32);
		memset(etag, 'e', HTTP_VALUE_MAX + 1);
		etag[HTTP_VALUE_MAX + 1] = '\0';
		big = xasprintf("ETag: %s\r\nRetry-After: 1\r\n", etag);
		srv_reply(c->sc_fd, "200 OK", big, "ok", 2);
		free(big);
		free(etag);
	} else
		srv_reply(c->sc_fd, "404 Not Found", "", "", 0);
	return 0;
}

/*
 * The length of the first whole request in <c> (head plus Content-Length
 * body), or 0 while it is incomplete.
 */
static size_t
srv_complete(struct srv_conn *c)
{
	const char *end, *cl;
	size_t head, body = 0;

	if ((end = strstr(c->sc_in, "\r\n\r\n")) == NULL)
		return 0;
	head = (size_t)(end - c->sc_in) + 4;
	if ((cl = strcasestr(c->sc_in, "\r\nContent-Length:")) != NULL &&
	    cl < end)
		body = (size_t)strtoul(cl + 17, NULL, 10);
	return c->sc_len >= head + body ? head + body : 0;
}

static void
srv_close(struct srv_conn *c)
{
	close(c->sc_fd);
	c->sc_fd = -1;
}

/* Reads from <c> and answers each whole request in it. */
static void
srv_input(struct srv *s, struct srv_conn *c)
{
	ssize_t n;
	size_t len;

	n = read(c->sc_fd, c->sc_in + c->sc_len, SRV_REQ_MAX - c->sc_len);
	if (n <= 0) {
		srv_close(c);
		return;
	}
	c->sc_len += (size_t)n;
	c->sc_in[c->sc_len] = '\0';
	if ((unsigned char)c->sc_in[0] == 0x16) {	/* a TLS hello */
		srv_send(c->sc_fd, "HTTP/1.1 400 No\r\n\r\n", 19);
		srv_close(c);
		return;
	}
	while (!c->sc_stalled && c->sc_fd != -1 &&
	    (len = srv_complete(c)) > 0) {
		pthread_mutex_lock(&s->s_mu);
		s->s_nreq++;
		pthread_mutex_unlock(&s->s_mu);
		if (srv_route(c, c->sc_in, len) == -1) {
			srv_close(c);
			return;
		}
		memmove(c->sc_in, c->sc_in + len, c->sc_len - len + 1);
		c->sc_len -= len;
	}
}

static void
srv_accept(struct srv *s)
{
	size_t i;
	int fd;

	if ((fd = accept(s->s_lfd, NULL, NULL)) == -1)
		return;
	for (i = 0; i < SRV_CONNS && s->s_conns[i].sc_fd != -1; i++)
		continue;
	if (i == SRV_CONNS) {
		close(fd);
		return;
	}
	memset(&s->s_conns[i], 0, sizeof(s->s_conns[i]));
	s->s_conns[i].sc_fd = fd;
	pthread_mutex_lock(&s->s_mu);
	s->s_naccept++;
	pthread_mutex_unlock(&s->s_mu);
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	struct pollfd pfd[SRV_CONNS + 2];
	size_t i;

	for (;;) {
		pfd[0] = (struct pollfd){ s->s_pipe[0], POLLIN, 0 };
		pfd[1] = (struct pollfd){ s->s_lfd, POLLIN, 0 };
		for (i = 0; i < SRV_CONNS; i++)
			pfd[i + 2] = (struct pollfd){ s->s_conns[i].sc_fd,
			    POLLIN, 0 };
		if (poll(pfd, SRV_CONNS + 2, -1) == -1 || pfd[0].revents != 0)
			break;
		for (i = 0; i < SRV_CONNS; i++)
			if (pfd[i + 2].revents != 0 &&
			    s->s_conns[i].sc_fd != -1)
				srv_input(s, &s->s_conns[i]);
		if (pfd[1].revents != 0)
			srv_accept(s);
	}
	return NULL;
}

/* A loopback listener on a free port with <backlog>; its port in *<port>. */
static int
listen_any(int backlog, int *port)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
srv_start(void **state)
{
	size_t i;

	(void)state;
	log_init("test_http", LOG_LVL_ERROR);
	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.s_mu, NULL);
	for (i = 0; i < SRV_CONNS; i++)
		srv.s_conns[i].sc_fd = -1;
	if (pipe(srv.s_pipe) == -1)
		return -1;
	srv.s_lfd = listen_any(16, &srv.s_port);
	return pthread_create(&srv.s_thread, NULL, srv_main, &srv) == 0 ?
	    0 : -1;
}

static int
srv_stop(void **state)
{
	size_t i;

	(void)state;
	if (write(srv.s_pipe[1], "x", 1) != 1)
		return -1;
	pthread_join(srv.s_thread, NULL);
	for (i = 0; i < SRV_CONNS; i++)
		if (srv.s_conns[i].sc_fd != -1)
			srv_close(&srv.s_conns[i]);
	close(srv.s_lfd);
	close(srv.s_pipe[0]);
	close(srv.s_pipe[1]);
	pthread_mutex_destroy(&srv.s_mu);
	return 0;
}

static int
srv_count(const int *counter)
{
	int n;

	pthread_mutex_lock(&srv.s_mu);
	n = *counter;
	pthread_mutex_unlock(&srv.s_mu);
	return n;
}

/* --- helpers ------------------------------------------------------------ */

/*
 * A keep-alive client with <timeout> ms (connect <ctimeout>), <max> bytes,
 * <redirs>.
 */
static struct http_client *
client(uint64_t ctimeout, uint64_t timeout, uint64_t max, long redirs)
{
	struct http_opts o;

	memset(&o, 0, sizeof(o));
	o.ho_connect_timeout = ctimeout;
	o.ho_timeout = timeout;
	o.ho_max = max;
	o.ho_redirects = redirs;
	o.ho_keepalive = 1;
	return http_new(&o);
}

/* The URL of <path> on the test server (static buffer). */
static const char *
url(const char *path)
{
	static char u[256];

	snprintf(u, sizeof(u), "http://127.0.0.1:%d%s", srv.s_port, path);
	return u;
}

/* GETs <path> with <hc> into <resp>; returns what http_do returns. */
static int
get(struct http_client *hc, const char *path, struct http_resp *resp)
{
	struct http_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.hq_url = url(path);
	return http_do(hc, &rq, resp);
}

/* Whether the body of <resp> holds <needle>. */
static int
body_has(const struct http_resp *resp, const char *needle)
{
	return memmem(buf_data(&resp->hr_body), buf_avail(&resp->hr_body),
	    needle, strlen(needle)) != NULL;
}

/* --- tests --------------------------------------------------------------- */

/* Status, body and the selected headers of a 200. */
static void
test_get(void **state)
{
	struct http_client *hc = client(0, 2000, 65536, 0);
	struct http_resp r;

	(void)state;
	assert_int_equal(get(hc, "/echo", &r), 0);
	assert_int_equal(r.hr_err, HTTP_E_OK);
	assert_int_equal(r.hr_status, 200);
	assert_true(body_has(&r, "GET /echo HTTP/1.1\r\n"));
	assert_string_equal(r.hr_ctype, "text/plain");
	assert_string_equal(r.hr_etag, "\"v1\"");
	assert_string_equal(r.hr_retry_after, "7");
	assert_string_equal(r.hr_location, "");
	assert_string_equal(r.hr_why, "");
	/* No header the caller did not ask for. */
	assert_false(body_has(&r, "Authorization"));
	assert_false(body_has(&r, "X-Request-Id"));
	http_resp_release(&r);
	/* A value longer than HTTP_VALUE_MAX is left empty, not cut. */
	assert_int_equal(get(hc, "/longhdr", &r), 0);
	assert_string_equal(r.hr_etag, "");
	assert_string_equal(r.hr_retry_after, "1");
	http_resp_release(&r);
	/* Missing path: a 404 is a response, not an error. */
	assert_int_equal(get(hc, "/nothing", &r), 0);
	assert_int_equal(r.hr_status, 404);
	assert_int_equal(buf_avail(&r.hr_body), 0);
	http_resp_release(&r);
	http_free(hc);
	http_free(NULL);
}

/* Method, body and request headers as the callers send them. */
static void
test_request_headers(void **state)
{
	struct http_client *hc = client(0, 2000, 65536, 0);
	struct http_resp r;
	struct http_req rq;

	(void)state;
	memset(&rq, 0, sizeof(rq));
	rq.hq_method = "PUT";
	rq.hq_url = url("/echo");
	rq.hq_bearer = "tok-123";
	rq.hq_authz = "Basic ignored";
	rq.hq_reqid = "rid-42";
	rq.hq_accept = "application/json";
	rq.hq_ctype = "application/json";
	rq.hq_key = "idem-1";
	rq.hq_body = "{\"a\":1}";
	rq.hq_bodylen = 7;
	assert_int_equal(http_do(hc, &rq, &r), 0);
	assert_int_equal(r.hr_status, 200);
	assert_true(body_has(&r, "PUT /echo HTTP/1.1\r\n"));
	assert_true(body_has(&r, "\r\nAuthorization: Bearer tok-123\r\n"));
	assert_false(body_has(&r, "Basic"));
	assert_true(body_has(&r, "\r\nX-Request-Id: rid-42\r\n"));
	assert_true(body_has(&r, "\r\nAccept: application/json\r\n"));
	assert_true(body_has(&r, "\r\nContent-Type: application/json\r\n"));
	assert_true(body_has(&r, "\r\nIdempotency-Key: idem-1\r\n"));
	assert_true(body_has(&r, "\r\nContent-Length: 7\r\n"));
	assert_true(body_has(&r, "\r\n\r\n{\"a\":1}"));
	http_resp_release(&r);
	/* An Authorization value passed on as is; DELETE without a body. */
	memset(&rq, 0, sizeof(rq));
	rq.hq_method = "DELETE";
	rq.hq_url = url("/echo");
	rq.hq_authz = "Bearer passed.on";
	assert_int_equal(http_do(hc, &rq, &r), 0);
	assert_true(body_has(&r, "DELETE /echo HTTP/1.1\r\n"));
	assert_true(body_has(&r, "\r\nAuthorization: Bearer passed.on\r\n"));
	assert_false(body_has(&r, "Content-Length"));
	http_resp_release(&r);
	/* POST without a body still says how long it is. */
	rq.hq_method = "POST";
	rq.hq_authz = NULL;
	assert_int_equal(http_do(hc, &rq, &r), 0);
	assert_true(body_has(&r, "POST /echo HTTP/1.1\r\n"));
	assert_true(body_has(&r, "\r\nContent-Length: 0\r\n"));
	http_resp_release(&r);
	http_free(hc);
}

/* A header value with a line break is never sent. */
static void
test_header_injection(void **state)
{
	struct http_client *hc = client(0, 2000, 65536, 0);
	struct http_resp r;
	struct http_req rq;
	int nreq = srv_count(&srv.s_nreq);

	(void)state;
	memset(&rq, 0, sizeof(rq));
	rq.hq_url = url("/echo");
	rq.hq_reqid = "a\r\nX-Evil: 1";
	assert_int_equal(http_do(hc, &rq, &r), -1);
	assert_int_equal(r.hr_err, HTTP_E_REQUEST);
	assert_int_equal(buf_avail(&r.hr_body), 0);
	http_resp_release(&r);
	rq.hq_reqid = NULL;
	rq.hq_bearer = "tok\n";
	assert_int_equal(http_do(hc, &rq, &r), -1);
	assert_int_equal(r.hr_err, HTTP_E_REQUEST);
	http_resp_release(&r);
	assert_int_equal(srv_count(&srv.s_nreq), nreq);
	http_free(hc);
}

/*
 * Consecutive requests of a keep-alive client share one connection;
 * without ho_keepalive each has its own.
 */
static void
test_keepalive(void **state)
{
	struct http_opts o;
	struct http_client *hc = client(0, 2000, 65536, 0);
	struct http_resp r;
	int n0 = srv_count(&srv.s_naccept), i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(get(hc, "/echo", &r), 0);
		assert_int_equal(r.hr_status, 200);
		http_resp_release(&r);
	}
	assert_int_equal(srv_count(&srv.s_naccept), n0 + 1);
	http_free(hc);
	memset(&o, 0, sizeof(o));
	o.ho_timeout = 2000;
	o.ho_max = 65536;
	hc = http_new(&o);
	n0 = srv_count(&srv.s_naccept);
	for (i = 0; i < 3; i++) {
		assert_int_equal(get(hc, "/echo", &r), 0);
		assert_int_equal(r.hr_status, 200);
		http_resp_release(&r);
	}
	assert_int_equal(srv_count(&srv.s_naccept), n0 + 3);
	http_free(hc);
}

/* A 5xx answer is a response: status, body and Retry-After. */
static void
test_5xx(void **state)
{
	struct http_client *hc = client(0, 2000, 65536, 0);
	struct http_resp r;

	(void)state;
	assert_int_equal(get(hc, "/fail", &r), 0);
	assert_int_equal(r.hr_status, 503);
	assert_int_equal(buf_avail(&r.hr_body), 16);
	assert_memory_equal(buf_data(&r.hr_body), "{\"error\":\"down\"}", 16);
	assert_string_equal(r.hr_retry_after, "30");
	http_resp_release(&r);
	http_free(hc);
}

/* A body over the cap is an error, with or without a Content-Length. */
static void
test_size_cap(void **state)
{
	static const struct {
		const char	*path;
		int		 ok;
	} cases[] = {
		{ "/big?n=1024", 1 },
		{ "/big?n=1025", 0 },
		{ "/big?n=200000", 0 },
		{ "/bignolen?n=1024", 1 },
		{ "/bignolen?n=1025", 0 },
		{ "/bignolen?n=200000", 0 },
	};
	struct http_client *hc = client(0, 2000, 1024, 0);
	struct http_resp r;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		if (get(hc, cases[i].path, &r) != (cases[i].ok ? 0 : -1))
			fail_msg("%s: %s", cases[i].path, r.hr_why);
		if (cases[i].ok) {
			assert_int_equal(r.hr_status, 200);
			assert_int_equal(buf_avail(&r.hr_body), 1024);
		} else {
			assert_int_equal(r.hr_err, HTTP_E_TOOBIG);
			assert_int_equal(buf_avail(&r.hr_body), 0);
			assert_string_equal(r.hr_why,
			    "body larger than 1024 bytes");
		}
		http_resp_release(&r);
	}
	/* The client works on afterwards. */
	assert_int_equal(get(hc, "/echo", &r), 0);
	http_resp_release(&r);
	http_free(hc);
}

/* A server that accepts and never answers costs the timeout. */
static void
test_total_timeout(void **state)
{
	struct http_client *hc = client(0, 400, 65536, 0);
	struct http_resp r;
	uint64_t t0, dt;

	(void)state;
	t0 = util_now_ms();
	assert_int_equal(get(hc, "/stall", &r), -1);
	dt = util_now_ms() - t0;
	assert_int_equal(r.hr_err, HTTP_E_TIMEOUT);
	assert_true(dt >= 300);
	assert_true(dt < 4000);
	http_resp_release(&r);
	/* The handle is usable again. */
	assert_int_equal(get(hc, "/echo", &r), 0);
	assert_int_equal(r.hr_status, 200);
	http_resp_release(&r);
	http_free(hc);
}

/*
 * A listener whose accept queue is full drops SYNs: connecting hangs, and
 * the connect timeout (well under the total one) ends it.
 */
static void
test_connect_timeout(void **state)
{
	struct sockaddr_in sin;
	struct http_client *hc = client(300, 20000, 65536, 0);
	struct http_resp r;
	struct http_req rq;
	char u[64];
	uint64_t t0, dt;
	int lfd, port, fill[4], i;

	(void)state;
	lfd = listen_any(0, &port);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	for (i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fill[i] >= 0);
		(void)connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	usleep(100 * 1000);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/x", port);
	memset(&rq, 0, sizeof(rq));
	rq.hq_url = u;
	t0 = util_now_ms();
	assert_int_equal(http_do(hc, &rq, &r), -1);
	dt = util_now_ms() - t0;
	assert_int_equal(r.hr_err, HTTP_E_TIMEOUT);
	assert_true(dt < 5000);
	http_resp_release(&r);
	for (i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
	http_free(hc);
}

/* Nothing listening: a connect error, at once. */
static void
test_refused(void **state)
{
	struct http_client *hc = client(0, 5000, 65536, 0);
	struct http_resp r;
	struct http_req rq;
	char u[64];
	int lfd, port;
	uint64_t t0;

	(void)state;
	lfd = listen_any(1, &port);
	close(lfd);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/x", port);
	memset(&rq, 0, sizeof(rq));
	rq.hq_url = u;
	t0 = util_now_ms();
	assert_int_equal(http_do(hc, &rq, &r), -1);
	assert_int_equal(r.hr_err, HTTP_E_CONNECT);
	assert_true(util_now_ms() - t0 < 4000);
	assert_true(r.hr_why[0] != '\0');
	http_resp_release(&r);
	http_free(hc);
}

/* A plain libcurl GET of <u> with the environment's proxy settings. */
static CURLcode
plain_curl_get(const char *u)
{
	CURL *cu = curl_easy_init();
	CURLcode rc;
	FILE *null;

	assert_non_null(cu);
	assert_non_null(null = fopen("/dev/null", "w"));
	rc = curl_easy_setopt(cu, CURLOPT_URL, u);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_WRITEDATA, null);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, 3000L);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(cu);
	curl_easy_cleanup(cu);
	fclose(null);
	return rc;
}

/* Proxy variables pointing at a dead port: libcurl alone obeys them. */
static void
test_proxy_env_ignored(void **state)
{
	static const char *const vars[] = {
		"http_proxy", "https_proxy", "HTTPS_PROXY", "ALL_PROXY",
		"all_proxy",
	};
	struct http_client *hc = client(0, 2000, 65536, 0);
	struct http_resp r;
	char proxy[64];
	int lfd, port;
	size_t i;

	(void)state;
	lfd = listen_any(1, &port);
	close(lfd);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", port);
	for (i = 0; i < NITEMS(vars); i++)
		assert_int_equal(setenv(vars[i], proxy, 1), 0);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	/* The variables are in force: plain libcurl goes to the proxy. */
	assert_int_equal(plain_curl_get(url("/echo")), CURLE_COULDNT_CONNECT);
	assert_int_equal(get(hc, "/echo", &r), 0);
	assert_int_equal(r.hr_status, 200);
	assert_true(body_has(&r, "GET /echo HTTP/1.1\r\n"));
	http_resp_release(&r);
	for (i = 0; i < NITEMS(vars); i++)
		unsetenv(vars[i]);
	http_free(hc);
}

/* Only http and https. */
static void
test_schemes(void **state)
{
	static const char *const urls[] = {
		"file:///etc/passwd", "ftp://127.0.0.1:1/x",
		"dict://127.0.0.1:1/x", "gopher://127.0.0.1:1/",
		"scp://127.0.0.1:1/x", "ldap://127.0.0.1:1/",
		"not a url",
	};
	struct http_client *hc = client(0, 1000, 65536, 3);
	struct http_resp r;
	struct http_req rq;
	size_t i;

	(void)state;
	memset(&rq, 0, sizeof(rq));
	for (i = 0; i < NITEMS(urls); i++) {
		rq.hq_url = urls[i];
		if (http_do(hc, &rq, &r) != -1)
			fail_msg("%s accepted", urls[i]);
		if (r.hr_err != HTTP_E_REQUEST)
			fail_msg("%s: %s (%s)", urls[i],
			    http_err_str(r.hr_err), r.hr_why);
		assert_int_equal(buf_avail(&r.hr_body), 0);
		http_resp_release(&r);
	}
	http_free(hc);
}

/* Redirects: answered as they are, or followed when asked, to http only. */
static void
test_redirects(void **state)
{
	struct http_client *hc = client(0, 2000, 65536, 0);
	struct http_resp r;

	(void)state;
	assert_int_equal(get(hc, "/redirect", &r), 0);
	assert_int_equal(r.hr_status, 302);
	assert_string_equal(r.hr_location, "/echo");
	assert_int_equal(buf_avail(&r.hr_body), 5);
	http_resp_release(&r);
	http_free(hc);
	hc = client(0, 2000, 65536, 2);
	assert_int_equal(get(hc, "/redirect", &r), 0);
	assert_int_equal(r.hr_status, 200);
	assert_string_equal(r.hr_location, "");
	assert_string_equal(r.hr_etag, "\"v1\"");
	assert_true(body_has(&r, "GET /echo HTTP/1.1\r\n"));
	http_resp_release(&r);
	assert_int_equal(get(hc, "/redirect-file", &r), -1);
	assert_int_equal(r.hr_err, HTTP_E_REQUEST);
	http_resp_release(&r);
	http_free(hc);
}

/* https verifies: a plain peer fails the handshake; a CA file applies. */
static void
test_tls(void **state)
{
	struct http_opts o;
	struct http_client *hc;
	struct http_resp r;
	struct http_req rq;
	char u[64];

	(void)state;
	snprintf(u, sizeof(u), "https://127.0.0.1:%d/echo", srv.s_port);
	memset(&rq, 0, sizeof(rq));
	rq.hq_url = u;
	hc = client(0, 2000, 65536, 0);
	assert_int_equal(http_do(hc, &rq, &r), -1);
	assert_int_equal(r.hr_err, HTTP_E_TLS);
	http_resp_release(&r);
	http_free(hc);
	memset(&o, 0, sizeof(o));
	o.ho_timeout = 2000;
	o.ho_max = 1024;
	o.ho_ca_file = "/nonexistent/ca.pem";
	hc = http_new(&o);
	assert_int_equal(http_do(hc, &rq, &r), -1);
	assert_int_equal(r.hr_err, HTTP_E_TLS);
	http_resp_release(&r);
	/* The CA file does not matter to plain http. */
	assert_int_equal(get(hc, "/echo", &r), 0);
	http_resp_release(&r);
	http_free(hc);
}

/* Percent-encoding as curl_easy_escape does it. */
static void
test_escape(void **state)
{
	static const char *const cases[] = {
		"", "plain-._~AZaz09", "a b&c=d+e/f?g#h%",
		"s\xc3\xa9" "cr\x01" "t\xff",
	};
	char *mine, *theirs;
	size_t i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		mine = http_escape(cases[i]);
		assert_non_null(theirs = curl_easy_escape(NULL, cases[i], 0));
		assert_string_equal(mine, theirs);
		curl_free(theirs);
		free(mine);
	}
	mine = http_escape("a b&c");
	assert_string_equal(mine, "a%20b%26c");
	free(mine);
}

static void
test_err_str(void **state)
{
	(void)state;
	assert_string_equal(http_err_str(HTTP_E_OK), "ok");
	assert_string_equal(http_err_str(HTTP_E_TOOBIG), "too-large");
	assert_string_equal(http_err_str(HTTP_E_TIMEOUT), "timeout");
	assert_string_equal(http_err_str(HTTP_E_COUNT), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_request_headers),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_5xx),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_total_timeout),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_proxy_env_ignored),
		cmocka_unit_test(test_schemes),
		cmocka_unit_test(test_redirects),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_err_str),
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	rc = cmocka_run_group_tests(tests, srv_start, srv_stop);
	curl_global_cleanup();
	return rc;
}
