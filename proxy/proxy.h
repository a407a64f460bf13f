/*
 * elp-gateway: private structs, limits and prototypes, grouped by file.
 *
 * Lifetimes (STYLE rule 10): the config snapshot (struct gw_conf) lives for
 * the whole run of a worker; a client connection (struct conn) owns its
 * socket, buffers and backend link; a backend connection (struct bconn)
 * belongs to its instance's pool when idle and to one client connection
 * while an exchange runs.
 */
#ifndef ELP_PROXY_H
#define ELP_PROXY_H

#include <sys/socket.h>
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "fcgi.h"
#include "h1.h"
#include "params.h"

#define GW_MAX_LISTEN	16
#define GW_REQID_MAX	64	/* bytes of an accepted X-Request-Id */

/* ev.c ---------------------------------------------------------------- */

struct ev;
typedef void (*ev_cb)(struct ev *, int fd, void *arg, uint32_t events);
typedef void (*ev_timer_cb)(struct ev *, void *arg);
typedef void (*ev_hook)(struct ev *, void *arg);

struct ev_fd {
	ev_cb	 ef_cb;
	void	*ef_arg;
	int	 ef_early;	/* handled before the other events of a batch */
};

struct ev_timer {
	uint64_t	 et_at;		/* monotonic ms deadline */
	ev_timer_cb	 et_cb;
	void		*et_arg;
	int		 et_active;
};

struct ev {
	int			  ev_epfd;
	int			  ev_maxfds;
	int			  ev_stop;
	struct ev_fd		 *ev_fds;	/* indexed by fd */
	struct epoll_event	 *ev_events;
	struct ev_timer		**ev_timers;	/* NULL slots are free */
	size_t			  ev_ntimers;
	ev_hook			  ev_before_sleep;
	void			 *ev_before_arg;
	uint64_t		  ev_gen;	/* epoll_wait calls returned */
	uint64_t		  ev_now;	/* util_now_ms() when the batch
						 * came (or the timers ran) */
	int			  ev_partial;	/* the last batch was full:
						 * events may be left */
};

int	 ev_init(struct ev *, int maxfds);
void	 ev_release(struct ev *);
/* Registers <fd> edge-triggered for read and write. 0 or -1. */
int	 ev_add(struct ev *, int fd, ev_cb, void *arg);
/* Registers listening <fd> level-triggered, exclusive wakeup. 0 or -1. */
int	 ev_add_listener(struct ev *, int fd, ev_cb, void *arg);
void	 ev_del(struct ev *, int fd);
/*
 * Marks registered <fd> (<on> 1) to have its events handled before all
 * others of the batch they come in, or unmarks it (0): an idle pooled
 * backend connection, whose close must be seen before a request in the
 * same batch could take it.
 */
void	 ev_set_early(struct ev *, int fd, int on);
/* (Re)arms <t> to fire once after <after_ms>. */
void	 ev_timer_set(struct ev *, struct ev_timer *t, uint64_t after_ms);
void	 ev_timer_del(struct ev *, struct ev_timer *t);
/* Runs until ev_stop is set. */
void	 ev_run(struct ev *);

/* conf.c -------------------------------------------------------------- */

struct gw_addr {
	struct sockaddr_storage	 ga_ss;
	socklen_t		 ga_len;
	char			*ga_text;	/* as configured */
};

struct listener {
	char		*l_name;
	struct gw_addr	 l_addr;
	int		 l_admin;	/* built-in /healthz here */
	char		**l_hosts;	/* names an absolute-form target may
					   have, NULL-terminated */
	int64_t		 l_backlog;
	int		 l_fd;
	int		 l_idx;
	/* TLS (the <tls> child) and the redirect to it (redirect-https). */
	struct ssl_ctx_st *l_tls;	/* NULL: plain HTTP */
	char		*l_hsts;	/* Strict-Transport-Security value;
					   NULL: none */
	int64_t		 l_redirect;	/* HTTPS port every request is sent
					   to; 0: off */
};

/* Active health check settings of a service (<health>). */
struct hc_conf {
	int		 hk_enabled;
	char		*hk_path;	/* SCRIPT_NAME of the check request */
	uint64_t	 hk_interval;	/* ms between checks */
	uint64_t	 hk_timeout;	/* ms a check may take */
	int64_t		 hk_rise;	/* passed checks that bring it up */
	int64_t		 hk_fall;	/* failed checks that take it down */
};

/* Circuit breaker settings of a service (<breaker>). */
struct brk_conf {
	int64_t		 bc_failures;	/* consecutive failures; 0 off */
	int64_t		 bc_error_rate;	/* percent in a window; 0 off */
	uint64_t	 bc_window;	/* ms */
	int64_t		 bc_min_requests; /* per window before the rate counts */
	uint64_t	 bc_cooldown;	/* ms OPEN lasts */
	int64_t		 bc_trials;	/* requests HALF_OPEN lets through */
};

struct instance {
	char		*ins_name;	/* "<service>@<address>" */
	struct gw_addr	 ins_addr;
	int64_t		 ins_maxconn;
	int64_t		 ins_weight;
	int		 ins_id;	/* index in gw_conf.gc_instances */
	int		 ins_sidx;	/* index in its service's svc_ins */
	struct service	*ins_svc;
	/* Runtime, per worker. */
	struct bconn	*ins_idle;	/* kept-alive, free connections */
	int		 ins_nconn;	/* open connections (idle + busy) */
	int		 ins_outstanding; /* exchanges in progress */
	int64_t		 ins_cw;	/* smooth weighted round robin */
	uint32_t	 ins_trim_seen;	/* last si_trim acted on */
	int		 ins_slot;	/* record in shm->sh_ins */
	/* A leased instance (lease.c, from leases.xml); 0 for a static one. */
	int		 ins_leased;
	int		 ins_gone;	/* left the lease table: no new work */
	int		 ins_ldrain;	/* state="drain" in leases.xml */
	char		 ins_lease_id[40];
	char		 ins_expires[40]; /* RFC 3339, as written */
	struct hc	*ins_hc;	/* its active check (worker 0) */
	struct instance	*ins_lnext;	/* the worker's leased instances */
};

struct service {
	char		 *svc_name;
	struct instance	**svc_ins;
	size_t		  svc_nins;
	size_t		  svc_rr;	/* round-robin cursor */
	struct conn	 *svc_waitq;	/* requests waiting for a slot */
	size_t		  svc_nwait;	/* length of svc_waitq */
	struct conn	**svc_waitq_tail;
	int		  svc_balance;	/* enum up_balance */
	struct hc_conf	  svc_hc;
	struct brk_conf	  svc_brk;
	int		  svc_slot;	/* record in shm->sh_svc */
	size_t		  svc_nstatic;	/* svc_ins[0..n) are services.xml's;
					   leased ones follow */
};

struct route {
	char		*rt_listen;
	int		 rt_lidx;
	char		*rt_prefix;
	size_t		 rt_prefix_len;
	char		*rt_service;
	struct service	*rt_svc;
	long		 rt_line;	/* of <route> in gc_path, for messages */
	char		*rt_rewrite;	/* NULL: path unchanged */
	size_t		 rt_rewrite_len;
	uint64_t	 rt_max_body;
	int		 rt_slot;	/* record in shm->sh_route */
	char		*rt_cors;	/* "" = gateway default, "off", "*",
					   or a list of origins */
	char		*rt_auth;	/* "public", "token" or role list */
	int		 rt_auth_kind;	/* ROUTE_AUTH_* */
	char		*rt_offload_root; /* "" = X-Accel-Redirect off */
	int		 rt_offload_fd;	/* O_DIRECTORY fd of it, or -1 */
	char		*rt_req_buf_text; /* "", "on", "off" as configured */
	char		*rt_resp_buf_text;
	int		 rt_req_buffering; /* whole body read before a backend
					   is taken (resolved) */
	int		 rt_resp_buffering; /* response read at backend speed */
	uint64_t	 rt_min_body_rate; /* bytes/s; 0 = gateway's */
	int64_t		 rt_retries;	/* more attempts after a failure */
	struct rl_limit	*rt_limits;	/* <limit> children, in order */
	size_t		 rt_nlimits;
};

#define ROUTE_AUTH_PUBLIC	0	/* token optional, ignored if bad */
#define ROUTE_AUTH_TOKEN	1	/* valid token required */
#define ROUTE_AUTH_ROLES	2	/* and one of the roles in rt_auth */

/* <auth>: how bearer tokens are checked (tok.c). */
struct gw_auth {
	char		*au_issuer;
	char		*au_service;	/* identity service in the registry */
	long		 au_line;	/* of <auth> in gc_path; 0: absent */
	struct service	*au_svc;	/* NULL: token checks off */
	char		*au_jwks;	/* JWKS path on that service */
	char		*au_audience;	/* "" = no audience check */
	uint64_t	 au_leeway;	/* ms, exp/nbf/iat */
	uint64_t	 au_refresh;	/* ms between scheduled fetches */
	uint64_t	 au_refresh_min; /* ms between JWKS refetches on an
					   unknown kid */
	uint64_t	 au_timeout;	/* ms for a JWKS fetch */
	int64_t		 au_cache;	/* verified tokens kept per worker */
};

struct gw_timeouts {
	uint64_t	 to_header;
	uint64_t	 to_body_idle;
	uint64_t	 to_keepalive;
	uint64_t	 to_connect;
	uint64_t	 to_response;
	uint64_t	 to_send;
	uint64_t	 to_backend_idle;
	uint64_t	 to_drain;
	uint64_t	 to_queue;
};

struct gw_limits {
	uint64_t	 lim_header_bytes;
	int64_t		 lim_headers;
	uint64_t	 lim_target;
	uint64_t	 lim_max_body;
	int64_t		 lim_connections;
	uint64_t	 lim_response_head;
	uint64_t	 lim_buffer;	/* per-direction high watermark */
	int64_t		 lim_queue_length; /* waiting requests per service,
					   all workers together */
	uint64_t	 lim_min_body_rate; /* bytes/s a body must keep up;
					   0 = off */
};

/* <buffering>: request and response bodies held by the gateway. */
struct gw_buffering {
	int		 bu_request;	/* default of route request-buffering */
	int		 bu_response;	/* default of route response-buffering */
	uint64_t	 bu_request_memory; /* body bytes kept in memory */
	uint64_t	 bu_response_memory; /* response bytes in memory */
	uint64_t	 bu_max_temp_file; /* per response file; 0: memory only */
	char		*bu_temp_dir;	/* where the unlinked files live */
};

struct gw_conf {
	char			*gc_path;
	char			*gc_workers_text;
	int			 gc_workers;
	char			*gc_registry;
	char			*gc_pidfile;
	char			*gc_user;	/* workers run as this user */
	uid_t			 gc_uid;
	gid_t			 gc_gid;
	char			*gc_cors;	/* default CORS origins */
	uint64_t		 gc_cors_max_age; /* ms */
	char			*gc_log_level;
	char			*gc_error_log;
	char			*gc_access_log;
	struct listener		 gc_listen[GW_MAX_LISTEN];
	size_t			 gc_nlisten;
	struct route		*gc_routes;
	size_t			 gc_nroutes;
	struct service		*gc_services;
	size_t			 gc_nservices;
	struct instance		*gc_instances;
	size_t			 gc_ninstances;
	struct gw_auth		 gc_auth;
	struct gw_timeouts	 gc_to;
	struct gw_limits	 gc_lim;
	struct gw_buffering	 gc_buf;
	struct realip_net	*gc_realip;	/* <real-ip from>: trusted
						   proxies */
	size_t			 gc_nrealip;
	char			*gc_realip_from; /* as configured */
	char			*gc_leases;	/* leases.xml; "": beside the
						   registry (lease.c) */
	struct rl_zone		*gc_zones;	/* <rate-limit> zones (rl.c) */
	size_t			 gc_nzones;
	struct aggregate	*gc_aggs;	/* <aggregate> routes (agg.c) */
	size_t			 gc_naggs;
};

/*
 * Loads <path> and the registry it names into a fresh snapshot. Returns it,
 * or NULL after logging every error as file:line: reason.
 */
struct gw_conf	*conf_load(const char *path);
void		 conf_free(struct gw_conf *);
/* The path of <gc>'s registry (services.xml), resolved (heap string). */
char		*conf_registry_path(const struct gw_conf *gc);
/* Parses "unix:/p", "host:port", "[v6]:port" into <out>. 0 or -1. */
int		 conf_parse_addr(const char *, struct gw_addr *out);

/* spool.c ------------------------------------------------------------- */

/* A body held by the gateway: memory first, then an unlinked file. */
struct spool {
	struct buf	 sp_mem;	/* the first bytes, up to a limit */
	int		 sp_fd;		/* -1, or the file with the rest */
	uint64_t	 sp_len;	/* bytes held in all */
};

void	 spool_init(struct spool *);
/* Frees the memory and closes the file; <sp> is empty and reusable. */
void	 spool_release(struct spool *);
/*
 * Opens an unlinked read-write file in directory <dir> (O_TMPFILE, or a
 * unique name removed at once). Returns the fd or -1 (errno).
 */
int	 spool_tmpfile(const char *dir);
/*
 * Appends <len> bytes of <p>: into memory while it holds fewer than
 * <memmax> bytes, the rest into a file made in <dir> on first need.
 * Returns 0, or -1 with errno when the file cannot be made or written
 * (the spool then holds an unknown part of <p>: give it up).
 */
int	 spool_append(struct spool *, const char *p, size_t len,
	    size_t memmax, const char *dir);
/*
 * Reads up to <len> bytes at offset <off>: from memory as a view (no
 * copy), from the file into <out>; *<view> points at the bytes either
 * way. Returns the count, 0 at the end, -1 on a read error.
 */
ssize_t	 spool_read(const struct spool *, uint64_t off, char *out,
	    size_t len, const char **view);
/* Whether part of the body went to a file. */
int	 spool_in_file(const struct spool *);

/* route.c ------------------------------------------------------------- */

/*
 * Finds the route of listener <lidx> whose prefix matches <path> on a
 * segment boundary (longest prefix wins). Borrowed pointer or NULL.
 */
const struct route	*route_find(const struct gw_conf *, int lidx,
			    struct str path);

#endif

/* Why a request was sent again. */
enum metrics_retry {
	METRICS_RETRY_CONNECT = 0,	/* connect failed or timed out */
	METRICS_RETRY_UNSENT,		/* connection dead before a byte left */
	METRICS_RETRY_RESET,		/* closed before any response byte */
	METRICS_RETRY_COUNT
};

/* Where a body the gateway held went. */
enum metrics_buf {
	METRICS_BUF_REQ_MEMORY = 0,	/* request body, memory only */
	METRICS_BUF_REQ_FILE,		/* request body, partly in a file */
	METRICS_BUF_RESP_FILE,		/* response spilled to a file */
	METRICS_BUF_COUNT
};

/* conn.c -------------------------------------------------------------- */

enum conn_state {
	CONN_ST_HEAD = 0,	/* reading a request head */
	CONN_ST_AUTH,		/* waiting for the identity provider's keys */
	CONN_ST_BODY,		/* reading the whole request body (buffering) */
	CONN_ST_QUEUED,		/* waiting for a backend slot */
	CONN_ST_BACKEND,	/* exchange with a backend running */
	CONN_ST_FLUSH,		/* response complete, writing it out */
	CONN_ST_FILE,		/* head in c_out, then an offloaded file */
	CONN_ST_LINGER,		/* closing: FIN sent, discarding input */
	CONN_ST_CLOSING,	/* queued for the before-sleep free */
	CONN_ST_AGG,		/* an aggregate's parts are running (agg.c) */
	CONN_ST_COUNT
};

/* c_flags */
#define CONN_F_RD	0x0001	/* socket may have bytes to read */
#define CONN_F_WR	0x0002	/* socket may accept bytes */
#define CONN_F_EOF	0x0004	/* client half-closed or reset */
#define CONN_F_KEEP	0x0008	/* keep alive after this response */
#define CONN_F_CLOSE	0x0010	/* close once c_out is flushed */
#define CONN_F_HEADSENT	0x0020	/* response head written to c_out */
#define CONN_F_CHUNKED	0x0040	/* response framed with chunked */
#define CONN_F_BODYDONE	0x0080	/* request body fully forwarded */
#define CONN_F_REQBODY	0x0100	/* request carries a chunked body */
#define CONN_F_HEAD	0x0200	/* HEAD request: no response body */
#define CONN_F_SENT_BE	0x0400	/* a byte of this request reached a backend */
#define CONN_F_CONTINUE	0x0800	/* client expects 100-continue */
#define CONN_F_EOFBODY	0x1000	/* response delimited by close (1.0) */
#define CONN_F_PUMPED	0x2000	/* request body bytes left c_in */
#define CONN_F_ORIGIN	0x4000	/* request carried Origin (CORS) */
#define CONN_F_LATER	0x8000	/* on gw->w_later */
#define CONN_F_KEYWAIT	0x10000	/* waited for the JWKS once already */
#define CONN_F_RDHUP	0x20000	/* client closed its side: read to EOF */
#define CONN_F_DISPATCH	0x40000	/* queued request got a slot: dispatch */
#define CONN_F_OFFLOAD	0x80000	/* backend said X-Accel-Redirect: the
				   gateway answers, backend body dropped */
#define CONN_F_BUFFERED	0x100000 /* request body read whole into c_body
				   before a backend is taken */
#define CONN_F_BODYREAD	0x200000 /* request body fully read from the client */
#define CONN_F_RESPBUF	0x400000 /* response read at backend speed, spilled
				   to c_rf_fd beyond memory */
#define CONN_F_RESPFILE	0x800000 /* this response used the spill file */
#define CONN_F_LOGGED	0x1000000 /* access log line written */
#define CONN_F_PART	0x2000000 /* socketless request of an aggregate's
				   part: its answer goes to agg.c */

/* How a request ended, for the access log (end=). */
enum conn_end {
	CONN_END_OK = 0,	/* response complete */
	CONN_END_ABORT,		/* client closed or reset first */
	CONN_END_SLOW,		/* client too slow reading: closed */
	CONN_END_CUT,		/* response cut short after its head */
	CONN_END_COUNT
};

/* c_cors: what the CORS policy of the route says about the Origin. */
#define CONN_CORS_NONE	0	/* no Origin, or not allowed: no headers */
#define CONN_CORS_ANY	1	/* Access-Control-Allow-Origin: * */
#define CONN_CORS_ECHO	2	/* allowed by list: echo the Origin */

/* Result of one state-machine step. */
enum step {
	STEP_AGAIN = 0,	/* state changed, run again */
	STEP_WAIT,	/* blocked on I/O or a timer */
	STEP_DONE,	/* connection finished */
	STEP_FAIL,	/* conn_fail() already chose the response */
};

/*
 * One request of a connection: allocated when its head is complete (or
 * refused), freed once its response is out, so an idle keep-alive
 * connection holds no request state at all.
 */
struct creq {
	struct buf		 r_arena;	/* request-lifetime copies */
	struct buf		 r_rhead;	/* backend CGI head, until parsed */
	struct buf		 r_fcgi;	/* BEGIN_REQUEST + PARAMS */
	const struct route	*r_route;
	enum h1_method		 r_method;
	char			 r_reqid[GW_REQID_MAX + 1];
	int			 r_minor;	/* HTTP/1.<minor> */
	uint64_t		 r_body_left;	/* Content-Length to forward */
	struct h1_chunk		 r_chunk;	/* chunked request decoder */
	uint64_t		 r_body_max;
	int			 r_status;	/* response status */
	int64_t			 r_resp_left;	/* body bytes due; -1 unknown */
	uint64_t		 r_resp_bytes;
	uint64_t		 r_t_start;	/* request start, ms */
	uint64_t		 r_t_be;	/* exchange start, ms */
	size_t			 r_a_method, r_a_target, r_a_ua, r_a_ref;
	size_t			 r_a_origin;
	size_t			 r_a_token;	/* bearer token in the arena */
	size_t			 r_token_len;	/* 0: none */
	const char		*r_www_auth;	/* WWW-Authenticate for a 401 */
	int			 r_cors;	/* CONN_CORS_* for this request */
	int			 r_retries;
	uint64_t		 r_tried;	/* instances (ins_sidx bits) that
						   failed this request */
	uint32_t		 r_retry_after;	/* 503/429 Retry-After seconds;
						   0 none */
	enum conn_end		 r_end;
	int64_t			 r_content_length; /* CONTENT_LENGTH; -1 none */
	json_t			*r_claims;	/* verified claims until the params
						   are finished */
	struct spool		 r_body;	/* buffered request body */
	uint64_t		 r_body_sent;	/* replay cursor into r_body */
	uint64_t		 r_body_got;	/* body bytes read so far */
	uint64_t		 r_t_body;	/* ms the body started, for the rate */
	uint64_t		 r_sent;	/* bytes sent for this response */
	uint64_t		 r_head_len;	/* of them, head (and interim 100) */
	int			 r_rf_fd;	/* response spill file, or -1 */
	uint64_t		 r_rf_len;	/* bytes written to it */
	uint64_t		 r_rf_off;	/* bytes of it sent */
	struct bconn		*r_be;
	struct instance		*r_ins;
	/* File offload (CONN_F_OFFLOAD). */
	size_t			 r_a_range, r_a_inm, r_a_ims, r_a_ifrange;
					/* request validators in the arena;
					   SIZE_MAX when absent */
	int			 r_file_status;	/* error to answer, or 0 */
	int			 r_file_fd;	/* -1 when none */
	off_t			 r_file_off;	/* next byte to send */
	off_t			 r_file_end;	/* one past the last one */
	/* The client as trusted proxies tell it (realip.c). */
	char			 r_client[46];	/* REMOTE_ADDR, access log;
						   "" before the head */
	const char		*r_scheme;	/* "https" or "http" */
	const char		*r_limited;	/* zone that refused it (429),
						   for the access log; NULL */
	struct agg_run		*r_agg;		/* an aggregate's run, or NULL */
};

struct conn {
	int			 c_fd;
	enum conn_state		 c_state;
	uint32_t		 c_flags;
	struct listener		*c_listener;
	char			 c_peer[46];	/* client address text */
	char			 c_peer_port[8];
	struct buf		 c_in;
	struct buf		 c_out;
	uint64_t		 c_deadline;	/* monotonic ms; 0 = none */
	struct h1_req		*c_req;	/* only while a head is partial */
	struct creq		*c_r;		/* the current request; NULL while
					   idle between requests */
	/* Lists. */
	struct conn		*c_next, *c_prev;	/* gw->w_conns */
	struct conn		*c_qnext;	/* service wait queue */
	struct conn		*c_cnext;	/* gw->w_closing */
	struct conn		*c_lnext;	/* gw->w_later */
	struct ssl_st		*c_ssl;		/* TLS listener; else NULL */
	uint32_t		 c_tls_flags;	/* TLS_F_* */
	struct agg_run		*c_agg;		/* CONN_F_PART: its aggregate */
	size_t			 c_apart;	/* CONN_F_PART: its part index */
};

/* Accept callback for a listener (arg: struct listener). */
void	 conn_accept_cb(struct ev *, int fd, void *arg, uint32_t events);
/*
 * Ends the current request with the contract's JSON error <status> and
 * message <why> (or, once a response head went out, by closing).
 */
void	 conn_fail(struct conn *, int status, const char *why);
/* Marks <c> closing and queues it for the before-sleep hook. */
void	 conn_close(struct conn *);
/* Runs the state machine until it waits. */
void	 conn_run(struct conn *);
/* Frees the closed connections (before-sleep hook). */
void	 conn_reap(void);
/* Timeout sweep over all connections. */
void	 conn_sweep(uint64_t now);
/* Resumes connections whose run was cut short (before-sleep hook). */
void	 conn_run_later(void);
/* SIGTERM: close idle connections, close the others after a response. */
void	 conn_drain(void);
const char	*conn_state_str(enum conn_state);

/* Backend exchange hooks into the client connection (called by be.c). */
/* Response head from the backend is ready: write it to the client. */
int	 conn_resp_head(struct conn *, const struct fcgi_cgi_head *);
/* Response body bytes. Returns 0, or -1 if the client side failed. */
int	 conn_resp_body(struct conn *, const char *, size_t);
/* The exchange ended (END_REQUEST); <ok> 0 means broken. */
void	 conn_resp_done(struct conn *, int ok);
/* Whether c_out is under its high watermark (backend reads go on). */
int	 conn_out_room(const struct conn *);
/* The request can go to a backend now (slot granted, queue left). */
void	 conn_dispatch(struct conn *);
/* The JWKS fetch a request waited for ended: check its token again. */
void	 conn_auth_resume(struct conn *);
/* Runs <c> from the before-sleep hook instead of now (no recursion). */
void	 conn_later(struct conn *);
/* Moves request body bytes from c_in into the backend's STDIN. */
void	 conn_pump_body(struct conn *);
/* No instance can take the request: 503 naming the service, with
 * Retry-After when open breakers are the reason. */
void	 conn_fail_unavailable(struct conn *);
/*
 * Whether the current request may be sent again after a failure <why>:
 * attempts left on the route, no response head out, its body still at
 * hand (buffered, or none of it streamed), and a safe method when the
 * backend may have read it (METRICS_RETRY_RESET).
 */
int	 conn_can_retry(const struct conn *, enum metrics_retry why);
/*
 * Sends the current request again, avoiding instance <failed> (NULL:
 * none) while others are usable; it waits in the queue like any request
 * when all are busy, and gets 503 when none is usable.
 */
void	 conn_retry(struct conn *, struct instance *failed,
	    enum metrics_retry why);

const char	*conn_end_str(enum conn_end);
void	 conn_set_state(struct conn *, enum conn_state);
/* Closes the offloaded file of the request, if any. */
void	 conn_file_close(struct conn *);
/* A string conn_keep() stored in the request arena at <off>, or "-". */
const char	*conn_kept(const struct conn *, size_t off);

/* reply.c ------------------------------------------------------------- */

/* The standard reason phrase of <status>. */
struct str	 reply_reason(int status);
/* Appends the status line, Date and X-Request-Id to c_out. */
void	 reply_head_start(struct conn *, int status, struct str reason);
/* The head is complete in c_out (bytes beyond it count as body). */
void	 reply_head_done(struct conn *);
/* Appends the Connection header the keep-alive decision needs. */
void	 reply_connection(struct conn *);
/* Ends a head the gateway wrote itself: CORS, Connection, blank line. */
void	 reply_head_finish(struct conn *);
/* The contract's JSON error as the whole response (after conn_fail()). */
void	 reply_error(struct conn *, int status, const char *why);
/* Answers /healthz and /metrics on an admin listener. 1 if handled. */
int	 reply_admin(struct conn *, const struct h1_req *);
/* Whether a backend response header must not reach the client. */
int	 reply_header_dropped(struct str name);
/* Whether a response with <status> to this request carries no body. */
int	 reply_bodiless(const struct conn *, int status);
/* The message of a head the parser refused with <status>. */
const char	*reply_h1_reason(int status);
/* Whether backend header <name> gives way to the listener's HSTS. */
int	 reply_hsts_dropped(const struct conn *, struct str name);
/* Answers the request with a redirect to https (redirect-https). */
void	 reply_redirect(struct conn *, const struct h1_req *);

/* cors.c -------------------------------------------------------------- */

/* Decides the request's CORS answer from the route's policy. */
void	 cors_decide(struct conn *);
/* Appends the CORS response headers the decision calls for. */
void	 cors_headers(struct conn *);
/* Answers a CORS preflight itself. Returns 1 if it was one. */
int	 cors_preflight(struct conn *, const struct h1_req *);

/* alog.c -------------------------------------------------------------- */

/* Request target <in> for logs: access_token values replaced. */
void	 alog_target(const char *in, char *out, size_t len);
/* Writes the access log line of <c>'s request (once). */
void	 alog_write(struct conn *);

/* offload.c ----------------------------------------------------------- */

struct stat;

enum off_range {
	OFF_RANGE_IGNORE = 0,	/* malformed: serve the whole file */
	OFF_RANGE_OK,		/* satisfiable: 206 */
	OFF_RANGE_UNSAT,	/* 416 */
	OFF_RANGE_COUNT
};

/*
 * Opens <rel>, a path a backend named, beneath the directory <rootfd>: a
 * leading "/" stands for the root; NUL bytes, "..", empty or over-long
 * names, symlinks anywhere on the way and anything but a regular file are
 * refused. Returns the fd (O_NONBLOCK, O_CLOEXEC; the caller closes it)
 * with its <st>, or -1 with *<why> set for the log.
 */
int	 off_open(int rootfd, struct str rel, struct stat *st,
	    const char **why);
/* Writes the strong ETag of <st> (quotes included) into <out>/<len>. */
void	 off_etag(const struct stat *st, char *out, size_t len);
/* Writes <t> as an IMF-fixdate (RFC 7231) into <out>/<len>. */
void	 off_date(time_t t, char *out, size_t len);
/* Parses an IMF-fixdate <s> into <t>. 0, or -1 if it is not one. */
int	 off_date_parse(const char *s, time_t *t);
/*
 * Whether <etag> is in the If-None-Match / If-Range list <list>. <strong>
 * 0: weak comparison ("W/" ignored, "*" matches); 1: strong (a weak tag
 * never matches).
 */
int	 off_etag_match(const char *list, const char *etag, int strong);
/*
 * Parses the Range value <spec> for a file of <size> bytes. The first
 * range of a list counts. OFF_RANGE_OK sets [<start>, <end>) within the
 * file; the others leave them alone.
 */
enum off_range	 off_range_parse(const char *spec, uint64_t size,
		    uint64_t *start, uint64_t *end);
/*
 * The X-Accel-Redirect of backend head <h> when it asks the gateway to
 * serve a file on this route (offload-root set, 2xx), or NULL.
 */
const struct fcgi_cgi_hdr *off_find(const struct conn *,
		    const struct fcgi_cgi_head *h);
/* Opens the file <x> names and writes the head of the gateway's answer
 * (a refusal is noted and answered once the exchange ended). */
void	 off_head(struct conn *, const struct fcgi_cgi_head *h,
	    const struct fcgi_cgi_hdr *x);
/* The exchange of an offloaded answer ended: refuse, or send the file. */
void	 off_start(struct conn *);
/* FILE state: sendfile() while the client takes bytes. */
enum step	 off_step(struct conn *);

/* fcx.c --------------------------------------------------------------- */

/* Outcome of one socket operation of the FastCGI client core. */
enum fcx_io {
	FCX_OK = 0,	/* all written / some bytes read */
	FCX_AGAIN,	/* the socket would block */
	FCX_EOF,	/* the peer closed (reads only) */
	FCX_ERR,	/* failed; errno says why */
	FCX_IO_COUNT
};

/* One decoded record event for the owner: 0 to go on, -1 to stop. */
typedef int (*fcx_event_cb)(void *arg, const struct fcgi_event *e);

/*
 * Starts a non-blocking connection to <ins> into *<fd>. Returns 0; -1
 * when no socket could be made (a local shortage, not the instance's
 * fault); -2 when connect failed at once (errno kept).
 */
int	 fcx_connect(const struct instance *ins, int *fd);
/* Whether the non-blocking connect of <fd> succeeded: 0, or -1 (errno). */
int	 fcx_connected(int fd);
/* Writes <out> until it is empty or the socket is full; *<sent> grows by
 * the bytes written. FCX_OK, FCX_AGAIN or FCX_ERR. */
enum fcx_io	 fcx_write(int fd, struct buf *out, size_t *sent);
/* One read of at most <chunk> bytes into <in> (*<got> of them). FCX_OK,
 * FCX_AGAIN, FCX_EOF or FCX_ERR. May move <in>'s memory. */
enum fcx_io	 fcx_read(int fd, struct buf *in, size_t chunk, size_t *got);
/*
 * Decodes the records in <in> and hands each event to <cb>; a protocol
 * error arrives as FCGI_EV_ERROR and ends the run. Returns 0 when more
 * bytes are needed, -1 when <cb> said stop or after an error.
 */
int	 fcx_decode(struct fcgi_dec *, struct buf *in, fcx_event_cb cb,
	    void *arg);
/* Logs an instance's STDERR line by line, tagged with it and <rid>. */
void	 fcx_stderr(const struct instance *, const char *rid, struct str s);

/* be.c ---------------------------------------------------------------- */

enum be_state {
	BE_ST_CONNECTING = 0,	/* non-blocking connect in progress */
	BE_ST_IDLE,		/* in its instance's pool */
	BE_ST_SEND,		/* sending params and body */
	BE_ST_RECV,		/* request sent; reading the response */
	BE_ST_DONE,		/* END_REQUEST seen */
	BE_ST_CLOSING,
	BE_ST_COUNT
};

/* b_flags */
#define BE_F_RD		0x01	/* socket may have bytes */
#define BE_F_WR		0x02	/* socket may accept bytes */
#define BE_F_REUSED	0x04	/* taken from the idle pool */
#define BE_F_HEADDONE	0x08	/* CGI head parsed */
#define BE_F_GOTBYTE	0x10	/* some response byte arrived */
#define BE_F_STDIN_END	0x20	/* empty STDIN record queued */
#define BE_F_RDHUP	0x40	/* peer closed its side: read to EOF */
#define BE_F_PAUSED	0x80	/* reading stopped: the client is behind */

struct bconn {
	int			 b_fd;
	enum be_state		 b_state;
	uint32_t		 b_flags;
	struct instance		*b_ins;
	struct conn		*b_conn;	/* NULL while idle */
	struct buf		 b_in;
	struct buf		 b_out;
	struct fcgi_dec		 b_dec;
	uint64_t		 b_deadline;
	uint64_t		 b_idle_since;
	uint64_t		 b_idle_gen;	/* ev_gen when it went idle */
	uint16_t		 b_reqid;
	struct bconn		*b_next;	/* idle list / closing list */
};

/*
 * Starts the exchange of <c>'s current request on instance <ins>: takes
 * an idle pooled connection or opens a new one (the caller checked
 * capacity). Queues the BEGIN_REQUEST and PARAMS. Returns 0, or -1 when
 * no connection could be started (nothing reached the backend).
 */
int	 be_start(struct conn *c, struct instance *ins);
#define BE_BUSY	(-2)	/* be_start: instance at maxconn, queue again */
/* Closes <svc>'s idle pooled connections beyond this worker's fair
 * share (others need the slots). */
void	 be_trim_idle(struct service *svc);
/* Pumps request body bytes from the client connection into STDIN. */
void	 be_pump(struct bconn *);
/* Detaches <b> from its client; keeps it pooled if <reuse>. */
void	 be_release(struct bconn *, int reuse);
/* Frees the closed backend connections (before-sleep hook). */
void	 be_reap(void);
/* Closes idle pooled connections older than the backend-idle timeout. */
void	 be_sweep(uint64_t now);
/* Fails or retries the exchange of <b> if its deadline passed. */
void	 be_check_timeout(struct bconn *, uint64_t now);
/* Queues one STDIN record of <len> (<= FCGI_MAX_CONTENT) bytes. */
void	 be_put_stdin(struct bconn *, const char *data, size_t len);
/* Queues the empty STDIN record that ends the body (once). */
void	 be_end_stdin(struct bconn *);
/* Whether b_out is under its high watermark. */
int	 be_out_room(const struct bconn *);
const char	*be_state_str(enum be_state);

/* up.c ---------------------------------------------------------------- */

/*
 * Picks an instance of <svc> for a new exchange, passing over those whose
 * ins_sidx bit is set in <avoid> (they failed this request) unless no
 * other is usable. Returns one with a free connection slot; or NULL with
 * *<busy> set when every usable instance is at maxconn (queue the
 * request), or *<busy> 0 when none is usable (503).
 */
struct instance	*up_pick(struct service *svc, uint64_t avoid, int *busy);
/*
 * Queues <c> on its service; the first slot that frees serves it.
 * Returns 0, or -1 when the service's queue holds queue-length requests
 * already (all workers together).
 */
int	 up_enqueue(struct service *, struct conn *);
void	 up_dequeue(struct service *, struct conn *);
/* A slot of <ins> was freed: hand it to the first queued request. */
void	 up_slot_freed(struct instance *);
/*
 * Reserves one of <ins>'s maxconn connection slots, counted across all
 * workers. Returns 1, or 0 when the instance is at capacity.
 */
int	 up_conn_open(struct instance *);
/* Gives back a slot up_conn_open() reserved. */
void	 up_conn_closed(struct instance *);
/* Whether workers other than this one have requests queued for <svc>. */
int	 up_others_waiting(const struct service *);
/* Whether a connection to <ins> should be closed rather than kept idle:
 * this worker is draining, or holds more than its fair share of maxconn
 * while another worker has requests waiting. */
int	 up_give_back(const struct instance *);
/* Sweep: retries queued requests (slots freed by other workers) and
 * closes idle connections that other workers' requests wait for (all of
 * them once draining). */
void	 up_sweep(void);

enum up_balance {
	UP_BAL_RR = 0,		/* smooth weighted round robin */
	UP_BAL_LEAST,		/* least outstanding requests */
	UP_BAL_COUNT
};

const char	*up_balance_str(enum up_balance);
/* Parses a balance= value; returns the enum or -1. */
int	 up_balance_parse(const char *);
/*
 * Passive check: the exchange on <ins> ended well (<ok> non-zero) or
 * counts as a failure (connect failed, 502, 504, 5xx). Feeds the breaker
 * and logs its transitions.
 */
void	 up_report(struct instance *ins, int ok);
/*
 * A request for <svc> found no instance to take it. Counts the refusal by
 * reason and returns the Retry-After seconds when open breakers are the
 * reason (time until the earliest half-open), else 0.
 */
uint32_t	 up_unavailable(struct service *svc);
/* Whether <ins> may take traffic now (up, breaker admitting). */
int	 up_usable(const struct instance *ins, uint64_t now);
/* Logs "no healthy instance for X" once per outage of <svc>, and its end. */
void	 up_outage_check(struct service *svc);

/* brk.c --------------------------------------------------------------- */

enum brk_state {
	BRK_CLOSED = 0,		/* traffic flows; failures are counted */
	BRK_OPEN,		/* fails fast until br_until */
	BRK_HALF_OPEN,		/* trial requests decide */
	BRK_COUNT
};

/*
 * One instance's breaker. Pointer-free: it lives in the shared records and
 * is touched only under the record's lock (shm_lock).
 */
struct brk {
	uint32_t	 br_state;	/* enum brk_state */
	uint32_t	 br_consec;	/* consecutive failures */
	uint64_t	 br_until;	/* OPEN: half-open time; HALF_OPEN:
					 * when unanswered trials expire */
	uint64_t	 br_win_start;	/* error-rate window start, ms */
	uint32_t	 br_win_req;	/* outcomes in the window */
	uint32_t	 br_win_fail;	/* failures in the window */
	uint32_t	 br_trials;	/* trials admitted this round */
	uint32_t	 br_trial_ok;	/* trials that succeeded */
	uint64_t	 br_opens;	/* times it opened */
};

/* Readies <b> closed, at time <now>. */
void		 brk_init(struct brk *b, uint64_t now);
/*
 * Whether a request may go through at <now>, without changing anything:
 * CLOSED yes, OPEN once its deadline passed, HALF_OPEN while trials are
 * left (or the unanswered ones expired).
 */
int		 brk_allows(const struct brk *, const struct brk_conf *,
		    uint64_t now);
/*
 * Admits one request at <now>: like brk_allows(), but moves OPEN to
 * HALF_OPEN when due and counts the trial. Returns 1 or 0.
 */
int		 brk_admit(struct brk *, const struct brk_conf *, uint64_t now);
/* Records an outcome at <now>; returns the state afterwards. */
enum brk_state	 brk_success(struct brk *, const struct brk_conf *,
		    uint64_t now);
enum brk_state	 brk_failure(struct brk *, const struct brk_conf *,
		    uint64_t now);
/* Closes <b> whatever its state (the instance was checked back up). */
void		 brk_reset(struct brk *b, uint64_t now);
/* When <b> next admits a request: <now> unless OPEN or HALF_OPEN full. */
uint64_t	 brk_next_admit(const struct brk *, const struct brk_conf *,
		    uint64_t now);
const char	*brk_state_str(enum brk_state);

/* hc.c ---------------------------------------------------------------- */

enum hc_state {
	HC_ST_IDLE = 0,		/* waiting for the next check */
	HC_ST_CONNECTING,	/* non-blocking connect in progress */
	HC_ST_SEND,		/* writing the request */
	HC_ST_RECV,		/* reading the response */
	HC_ST_COUNT
};

enum hc_reason {
	HC_R_OK = 0,		/* 2xx before END_REQUEST */
	HC_R_SOCKET,		/* no socket */
	HC_R_CONNECT,		/* connect refused or failed */
	HC_R_TIMEOUT,		/* no verdict within the timeout */
	HC_R_SEND,		/* write failed */
	HC_R_CLOSED,		/* closed before END_REQUEST */
	HC_R_PROTOCOL,		/* FastCGI or CGI head broken */
	HC_R_STATUS,		/* answered, but not 2xx */
	HC_R_BUSY,		/* timed out while serving traffic: no verdict */
	HC_R_COUNT
};

/* One instance's active check (worker 0 only). */
struct hc {
	struct instance	*hc_ins;
	enum hc_state	 hc_state;
	int		 hc_fd;		/* -1 between checks */
	int		 hc_status;	/* CGI status; 0 before the head */
	struct buf	 hc_out;	/* request records */
	struct buf	 hc_in;		/* undecoded response bytes */
	struct buf	 hc_head;	/* CGI head until parsed */
	struct fcgi_dec	 hc_dec;
	struct ev_timer	 hc_timer;	/* next check, or this one's timeout */
	uint64_t	 hc_started;	/* ms the running check began */
	int		 hc_slot;	/* holds one of the maxconn slots */
	enum hc_reason	 hc_verdict;	/* set by the decoder, or HC_R_COUNT */
};

/*
 * Starts the active checks of every instance of <gc> whose service has
 * them enabled, spread over the first interval. Worker 0 calls it; the
 * results go to the shared records. Returns 0 or -1.
 */
int	 hc_start(struct gw_conf *gc);
/* Stops every check and frees them (drain, exit). */
void	 hc_stop(void);
/*
 * The verdict of one check of <ins>: applies rise/fall to its shared
 * record and logs up/down transitions.
 */
void	 hc_done(struct instance *ins, enum hc_reason reason);
const char	*hc_reason_str(enum hc_reason);
const char	*hc_state_str(enum hc_state);

/* metrics.c ----------------------------------------------------------- */

enum metrics_reject {
	METRICS_REJ_QUEUE_TIMEOUT = 0,	/* no backend slot in time */
	METRICS_REJ_NO_INSTANCE,	/* every instance down */
	METRICS_REJ_BREAKER_OPEN,	/* every live instance's breaker open */
	METRICS_REJ_BAD_REQUEST,	/* 400, 417, 501, 505 */
	METRICS_REJ_TOO_LARGE,		/* 413, 414, 431 */
	METRICS_REJ_CLIENT_TIMEOUT,	/* 408 */
	METRICS_REJ_CONN_LIMIT,		/* connection refused at accept */
	METRICS_REJ_QUEUE_FULL,		/* wait queue at queue-length */
	METRICS_REJ_COUNT
};

/* Outcome of one JWKS fetch. */
enum metrics_jwks {
	METRICS_JWKS_OK = 0,		/* a JWKS with a usable key */
	METRICS_JWKS_UNREACHABLE,	/* no answer: connect, timeout,
					   broken FastCGI */
	METRICS_JWKS_STATUS,		/* answered with a status but 200 */
	METRICS_JWKS_INVALID,		/* 200, but no usable key in it */
	METRICS_JWKS_COUNT
};

#define METRICS_CLASSES	6	/* [0] other, [1..5] 1xx..5xx */
#define METRICS_BUCKETS	12	/* upstream latency, last is +Inf */

const char	*metrics_reject_str(enum metrics_reject);
const char	*metrics_jwks_str(enum metrics_jwks);
/* Counts one JWKS fetch that ended with <res>. */
void	 metrics_jwks_fetch(enum metrics_jwks res);
/* Hot-path counters: relaxed atomic increments in the shared area. */
void	 metrics_reject(enum metrics_reject);
/* Counts a client-fault <status> under its reject reason, if any. */
void	 metrics_reject_status(int status);
/* A response with <status> went out for <rt> (NULL: no route). */
void	 metrics_request(const struct route *rt, int status);
/* An exchange with <ins> ended with <status> after <ms>. */
void	 metrics_exchange(const struct instance *ins, int status,
	    uint64_t ms);
void	 metrics_retry(const struct service *, enum metrics_retry);
/* A body was held in memory or a file (enum metrics_buf). */
void	 metrics_buffered(enum metrics_buf);
/* A client went away before its response was complete. */
void	 metrics_client_abort(void);
const char	*metrics_retry_str(enum metrics_retry);
/* Client connections of this process: <delta> +1 or -1. */
void	 metrics_conns(int delta);
/* Appends the Prometheus text exposition of everything to <out>. */
void	 metrics_render(struct buf *out, const struct gw_conf *gc);

/* shm.c --------------------------------------------------------------- */

#define SHM_MAX_INSTANCES	1024
#define SHM_MAX_SERVICES	256
#define SHM_MAX_ROUTES		256	/* one more slot counts unrouted */
#define SHM_MAX_PROCS		512	/* worker processes alive at once */
#define SHM_JWKS_MAX		(256 * 1024)	/* bytes of a JWKS */

/* An instance's record: health, breaker, counters. Pointer-free. */
struct shm_ins {
	_Atomic uint32_t si_lock;	/* holder's pid or 0; guards si_brk */
	_Atomic uint32_t si_up;		/* 1 unless checks took it down */
	_Atomic uint32_t si_brk_state;	/* si_brk.br_state, lock-free copy */
	_Atomic uint32_t si_rise;	/* consecutive passed checks */
	_Atomic uint32_t si_fall;	/* consecutive failed checks */
	_Atomic uint32_t si_reason;	/* enum hc_reason of the last check */
	_Atomic uint32_t si_trim;	/* bumped: close an idle connection */
	_Atomic uint64_t si_checks;
	_Atomic uint64_t si_check_fails;
	_Atomic uint64_t si_req[METRICS_CLASSES];
	_Atomic uint64_t si_failures;	/* passive failures */
	_Atomic uint64_t si_last_ok;	/* ms of the last good exchange */
	_Atomic int32_t	 si_conns;	/* connections open, all workers */
	struct brk	 si_brk;
	_Atomic uint32_t si_drain;	/* admin drain: no new requests */
	_Atomic int32_t	 si_inflight;	/* exchanges in progress, all
					   workers */
};

struct shm_svc {
	_Atomic uint64_t ss_lat[METRICS_BUCKETS];	/* not cumulative */
	_Atomic uint64_t ss_lat_ms;	/* sum */
	_Atomic uint64_t ss_retries[METRICS_RETRY_COUNT];
	_Atomic uint32_t ss_outage;	/* "no healthy instance" logged */
	_Atomic int32_t	 ss_waiters;	/* queued requests, all workers */
};

struct shm_route {
	_Atomic uint64_t sr_req[METRICS_CLASSES];
};

#define SHM_MAX_AGGS		64	/* aggregate routes with counters */
#define AGG_MAX_PARTS		16	/* parts of one aggregate */

/* An aggregate's counters (agg.c): responses by class, part outcomes. */
struct shm_agg {
	_Atomic uint64_t sa_req[METRICS_CLASSES];
	_Atomic uint64_t sa_part[AGG_MAX_PARTS][8];	/* [part][agg_out] */
};

struct shm_proc {
	_Atomic int32_t	 sp_pid;	/* 0: free */
	_Atomic int64_t	 sp_conns;	/* open client connections */
	/* This process's share of si_conns, given back by the master when
	 * the process dies without closing them. */
	_Atomic int32_t	 sp_ins_conns[SHM_MAX_INSTANCES];
	_Atomic uint64_t sp_lease_gen;	/* lease table applied (lease.c) */
};

#define SHM_MAX_LEASES		512	/* leased instances, all services */

/* One leased instance as the master publishes it. Pointer-free. */
struct shm_lrec {
	char		 sl_service[40];
	char		 sl_address[128];
	char		 sl_lease_id[40];
	char		 sl_expires[40];
	int64_t		 sl_maxconn;
	int64_t		 sl_weight;
	int32_t		 sl_drain;	/* state="drain" */
	int32_t		 sl_slot;	/* its record in sh_ins */
};

/*
 * The merged lease table: written by the master only, under a sequence
 * count (odd while it changes), copied by the workers when sl_gen moved.
 */
struct shm_leases {
	_Atomic uint64_t sl_seq;
	_Atomic uint64_t sl_gen;	/* bumped at each publication */
	uint64_t	 sl_version;	/* version= of the file */
	uint32_t	 sl_n;
	struct shm_lrec	 sl_rec[SHM_MAX_LEASES];
};

/*
 * The identity provider's JWKS as the last good fetch brought it, for the
 * workers of every generation (tok.c). The body changes under sj_lock and
 * a sequence count (odd while it changes), so readers copy it without a
 * lock and start over when the count moved. One fetch at a time runs,
 * in the process holding the lease. Times are CLOCK_MONOTONIC ms, which
 * all processes share.
 */
struct shm_jwks {
	_Atomic uint32_t sj_lock;	/* writer's pid or 0; guards the
					   lease and the body */
	_Atomic uint64_t sj_seq;	/* odd while the body changes */
	_Atomic uint64_t sj_gen;	/* bumped when the body changes;
					   0: no body yet */
	_Atomic uint64_t sj_src;	/* hash of the service and path the
					   body came from */
	_Atomic uint64_t sj_len;	/* bytes in sj_body */
	_Atomic uint32_t sj_nkeys;	/* usable keys in it */
	_Atomic uint32_t sj_lease;	/* pid of the fetching process, 0 */
	_Atomic uint64_t sj_lease_until; /* the lease is void after it */
	_Atomic uint64_t sj_fetch_at;	/* last fetch start; 0 none */
	_Atomic uint64_t sj_ok_at;	/* end of the last good one; 0 none */
	_Atomic uint32_t sj_failing;	/* the last fetch failed */
	_Atomic uint64_t sj_ends;	/* fetches ended: waiters wake */
	_Atomic uint64_t sj_fetches[METRICS_JWKS_COUNT];
	char		 sj_body[SHM_JWKS_MAX];
};

/* The area the master maps shared before forking; all workers use it. */
struct shm_area {
	struct shm_ins	 sh_ins[SHM_MAX_INSTANCES];
	struct shm_svc	 sh_svc[SHM_MAX_SERVICES];
	struct shm_route sh_route[SHM_MAX_ROUTES + 1];
	struct shm_proc	 sh_proc[SHM_MAX_PROCS];
	_Atomic int32_t	 sh_nprocs;	/* sh_proc records in use: workers
					   alive, draining ones included */
	_Atomic uint64_t sh_reject[METRICS_REJ_COUNT];
	_Atomic uint64_t sh_buffered[METRICS_BUF_COUNT];
	_Atomic uint64_t sh_client_aborts;
	struct shm_jwks	 sh_jwks;
	_Atomic uint32_t sh_conf_gen;	/* configuration generation */
	struct shm_leases sh_leases;
	struct shm_agg	 sh_agg[SHM_MAX_AGGS];
};

extern struct shm_area	*shm;	/* NULL until shm_init() */

/* Master: maps the zeroed shared area. 0 or -1. */
int	 shm_init(void);
/*
 * Master: gives every instance, service and route of <gc> its record,
 * the one its key (service@address, service, listener+prefix) had before
 * when known, a fresh zeroed one otherwise, and holds those keys for <gc>
 * until shm_release(gc). Returns 0, or -1 with nothing changed when the
 * area is full (records held by any configuration count as used).
 */
int	 shm_assign(struct gw_conf *gc);
/*
 * Master: drops <gc>'s hold on its keys. A key no configuration holds any
 * more frees its record for a later key. Call it only once no process
 * runs <gc> any more (its last worker was reaped).
 */
void	 shm_release(const struct gw_conf *gc);
/* Worker: takes a process record for the connection gauge. */
struct shm_proc	*shm_proc_claim(void);
/* Master: worker <pid> is gone; frees its process record. */
/* A worker leaving: gives back its connection slots and its record. */
void		 shm_proc_release(struct shm_proc *);
void	 shm_proc_gone(pid_t pid);
/*
 * Master: holds instance record <key> once more (the known one, or a
 * fresh one). Returns its index, or -1 when the area is full.
 */
int	 shm_ins_hold(const char *key);
/* Master: drops one hold on instance record <slot>. */
void	 shm_ins_drop(int slot);
/* Master: the holds on instance record <slot>. */
size_t	 shm_ins_refs(int slot);
/* Takes and drops the lock of record <si> (a dead holder's is broken). */
void	 shm_lock(struct shm_ins *si);
void	 shm_unlock(struct shm_ins *si);
/*
 * Publishes the JWKS <body> of <len> (<= SHM_JWKS_MAX) bytes from source
 * <src> with <nkeys> usable keys. Returns 1 when it differs from the
 * shared copy (a new generation), 0 when it is the same; the generation
 * now shared is in *<gen>.
 */
int	 shm_jwks_put(uint64_t src, const char *body, size_t len,
	    uint32_t nkeys, uint64_t *gen);
/*
 * Copies the shared JWKS into <out> (SHM_JWKS_MAX bytes), its length,
 * generation and source into <len>, <gen>, <src>. Returns 0, or -1 when
 * there is none yet or it kept changing while being read (try later).
 */
int	 shm_jwks_get(char *out, size_t *len, uint64_t *gen, uint64_t *src);
/*
 * Takes the fetch lease for this process until <until> (monotonic ms).
 * Returns 1, or 0 when another live process holds an unexpired one.
 */
int	 shm_jwks_lease(uint64_t until);
/* Whether any process holds an unexpired lease at <now>. */
int	 shm_jwks_leased(uint64_t now);
/* Gives the lease back if this process holds it. */
void	 shm_jwks_unlease(void);

/* sub.c --------------------------------------------------------------- */

/* Result of a subrequest: CGI <status> (0 on failure) and the body, a
 * view valid only during the call. */
typedef void (*sub_done_cb)(void *arg, int status, struct str body);

struct sub;

/*
 * The master's blocking "GET <path>" on <ins>, before any worker runs:
 * the same exchange as sub_get(), driven by poll() for at most <timeout>
 * ms. Appends the body (at most <max> bytes) to <body> and returns the
 * CGI status, or 0 on any failure (<body> then untouched).
 */
int		 sub_get_sync(struct instance *ins, const char *path,
		    uint64_t timeout, size_t max, struct buf *body);
/*
 * Starts "GET <path>" on <ins> over a new connection, failing after
 * <timeout> ms or when the body exceeds <max> bytes. Returns the
 * subrequest (its callback comes later, exactly once), or NULL when it
 * could not even start (no callback then).
 */
struct sub	*sub_get(struct instance *ins, const char *path,
		    uint64_t timeout, size_t max, sub_done_cb cb, void *arg);
/*
 * Appends a complete FastCGI "GET <path>" request (BEGIN_REQUEST without
 * keep-conn, PARAMS, empty STDIN) to <out>; <who> names the internal
 * caller in SERVER_NAME and REQUEST_ID. May move <out>'s memory.
 */
void		 sub_build_get(struct buf *out, uint16_t reqid,
		    const char *path, const char *who);
/* Abandons <s> without a callback. NULL is a no-op. */
void		 sub_cancel(struct sub *s);
/* Frees finished subrequests (before-sleep hook). */
void		 sub_reap(void);

/* tok.c --------------------------------------------------------------- */

#include "jwt.h"

enum tok_res {
	TOK_VALID = 0,		/* claims returned */
	TOK_INVALID,		/* checked and refused: jwt_err says why */
	TOK_WAIT,		/* parked until a JWKS fetch ends */
	TOK_UNAVAILABLE,	/* cannot be checked: no keys to be had, or
				   an unknown kid while fetches fail (503) */
	TOK_RES_COUNT
};

/*
 * Per worker, before it takes traffic: the token cache and the keys of
 * the shared JWKS copy (and a fetch when none is there or one is due).
 */
void		 tok_init(void);
void		 tok_release(void);
/*
 * Verifies <token> for <c>. TOK_VALID: *<claims> holds a new reference.
 * TOK_WAIT: <c> was queued; conn_auth_resume(c) is called once the
 * running JWKS fetch ends. TOK_INVALID: *<err> says why. TOK_UNAVAILABLE:
 * keys cannot be had now; tok_retry_after() says when to try again.
 */
enum tok_res	 tok_verify(struct conn *c, struct str token, json_t **claims,
		    enum jwt_err *err);
/* Removes <c> from the key wait queues (it is closing). */
void		 tok_unwait(struct conn *c);
/* Seconds until keys may be had again (Retry-After), at least 1. */
uint32_t	 tok_retry_after(void);
/* Sweep: picks up a new shared generation, wakes waiters whose fetch
 * ended, starts the scheduled fetch when due. */
void		 tok_sweep(uint64_t now);
/* Resumes the requests woken since (before-sleep hook). */
void		 tok_resume(void);
/*
 * Master, before forking workers on <gc>: when the shared area holds no
 * JWKS from <gc>'s identity service, fetches it once, blocking at most
 * <auth timeout>, and publishes it. Failure only logs: the workers start
 * without keys and fetch on their own.
 */
void		 tok_prefetch(const struct gw_conf *gc);

/* main.c -------------------------------------------------------------- */

/* The state of one worker process (one event loop). */
struct gw_worker {
	struct ev	 w_ev;
	struct gw_conf	*w_conf;
	int		 w_draining;	/* SIGTERM seen: no new requests */
	uint64_t	 w_drain_until;
	int		 w_sigfd;
	int		 w_access_fd;	/* -1: access log off */
	struct conn	*w_conns;	/* all client connections */
	struct conn	*w_closing;	/* freed in the before-sleep hook */
	struct bconn	*w_bclosing;
	struct conn	*w_later;	/* runs cut short, resumed */
	uint32_t	 w_idseed;	/* random part of generated ids */
	size_t		 w_nconns;
	uint32_t	 w_reqseq;	/* for generated request ids */
	struct ev_timer	 w_sweep;	/* timeout sweep */
	int		 w_idx;		/* 0 runs the active checks */
	struct shm_proc	*w_proc;	/* this process's shared record */
	uint64_t	 w_last_end;	/* ms the last request ended */
	int		 w_trim_due;	/* buffers freed since the last trim */
};

extern struct gw_worker	*gw;

/*
 * The time of the event batch being handled, in monotonic ms: what the
 * per-request paths (deadlines, request times, the balancer) read, as a
 * clock read per use cost more than the rest of a small request's work.
 * It lags the clock by the batch's own duration at most, as nginx's
 * ngx_current_msec does; sweeps and timers read the clock itself.
 */
#define gw_now_ms()	(gw->w_ev.ev_now)


/* worker.c ------------------------------------------------------------ */

/* Runs worker <idx>'s event loop on <gc> until drained; returns the exit
 * status for _exit(). Signals arrive blocked (read from a signalfd).
 * Worker 0 also runs the active health checks. */
int	 worker_run(struct gw_conf *gc, int idx);

/* tls.c --------------------------------------------------------------- */

struct ssl_ctx_st;
struct ssl_st;

/* c_tls_flags */
#define TLS_F_RD_WANTS_WR 0x01	/* a read waits for the socket to be
				   writable */
#define TLS_F_WR_WANTS_RD 0x02	/* a write waits for it to be readable */
#define TLS_F_DEAD	0x04	/* fatal error: no more TLS on it */
#define TLS_F_SHUT	0x08	/* close_notify sent */

#define TLS_CIPHERS_DEFAULT "ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305"

/*
 * A server context: the chain of PEM file <cert> (leaf first), the key of
 * PEM file <key> (not readable by others, matching the leaf), TLS 1.2 and
 * 1.3 only, <ciphers> (OpenSSL list) for TLS 1.2, the server's order,
 * no compression, no renegotiation, ALPN http/1.1 (http/1.0 for a
 * client offering only that), session tickets.
 * Returns it (free with tls_ctx_free), or NULL with the reason in
 * <err>/<len>.
 */
struct ssl_ctx_st	*tls_ctx_new(const char *cert, const char *key,
			    const char *ciphers, char *err, size_t len);
/* NULL is a no-op. */
void		 tls_ctx_free(struct ssl_ctx_st *);
/* Gives <c> (its c_fd set) a server session of <ctx>. 0 or -1 (logged). */
int		 tls_conn_new(struct conn *c, struct ssl_ctx_st *ctx);
/* Sends close_notify when it may, frees the session. No-op on plain. */
void		 tls_conn_free(struct conn *c);
/* Sends close_notify once, if the handshake ended and nothing broke. */
void		 tls_shutdown(struct conn *c);
/* epoll <events> of <c> as the waiting TLS operations see them. */
uint32_t	 tls_events(struct conn *c, uint32_t events);
/*
 * read(2), send(2) and sendfile(2) over <c>'s TLS session, with their
 * results: the count, 0 at the peer's close (reads, and a file at its
 * end), -1 with errno (EAGAIN: wait for the socket, the handshake
 * included). tls_sendfile() sends at most 64 KiB of <fd> from *<off> and
 * advances it.
 */
ssize_t		 tls_read(struct conn *c, void *buf, size_t len);
ssize_t		 tls_write(struct conn *c, const void *buf, size_t len);
ssize_t		 tls_sendfile(struct conn *c, int fd, off_t *off, size_t len);

/* realip.c ------------------------------------------------------------ */

#define REALIP_MAX_NETS	256	/* entries of <real-ip from> */

/* A trusted network: an address and prefix length, or unix sockets. */
struct realip_net {
	int		 rn_family;	/* AF_INET, AF_INET6 or AF_UNIX */
	uint8_t		 rn_addr[16];	/* network order, host bits zero */
	int		 rn_bits;	/* prefix length */
};

/*
 * Parses one "address[/bits]" of <len> bytes (IPv4 or IPv6 literal, or
 * "unix:" for unix-socket peers) into <out>. Bits beyond the prefix must
 * be zero. Returns 0, or -1 when it is not one.
 */
int		 realip_parse_net(const char *s, size_t len,
		    struct realip_net *out);
/*
 * Parses the blank- or comma-separated list <text> into <out> (room for
 * <max>). Returns the count, or -1 with *<bad> the first entry that is
 * not a network or one too many.
 */
ssize_t		 realip_parse_list(const char *text, struct realip_net *out,
		    size_t max, struct str *bad);
/* Whether address text <addr> ("unix" for a unix peer) is in <nets>. */
int		 realip_trusted(const struct realip_net *nets, size_t n,
		    struct str addr);
/*
 * The client's address for a request from <peer> with the X-Forwarded-For
 * value <xff> (every field joined with ","; empty when absent): <peer>
 * unless it is trusted; else the rightmost address of <xff> that is not
 * trusted, or its leftmost when all are. A malformed entry on the way
 * makes the header worthless: <peer> again. Returns a view into <peer>
 * or <xff>.
 */
struct str	 realip_client(const struct realip_net *nets, size_t n,
		    struct str peer, struct str xff);

/* lease.c ------------------------------------------------------------- */

/*
 * Master, about once a second and with <force> after a reload: reads
 * leases.xml beside <gc>'s registry when it changed (absent = no leases;
 * invalid = logged with file:line, the previous set kept), merges it with
 * <gc>'s static instances (a static one wins on the same service and
 * address) and publishes the result in the shared area; frees the records
 * of instances that left once every worker has let go of them.
 */
void	 lease_master_poll(const struct gw_conf *gc, int force);
/* The path of leases.xml for <gc> (heap string). */
char	*lease_path(const struct gw_conf *gc);
/*
 * Worker: applies the published lease table when it changed: new leased
 * instances join their service, those that left get no new request (their
 * exchanges finish), drain states follow. Cheap when nothing changed.
 */
void	 lease_sync(void);
/* Worker: its leased instances, those that left included. */
struct instance	*lease_list(void);
/* Worker: whether <ins> may take new requests (drain, left). */
int	 lease_open(const struct instance *ins);

/* admin.c ------------------------------------------------------------- */

/*
 * The admin listener's /admin/ API: GET /admin/status (JSON of every
 * instance), POST /admin/instances/drain and /admin/instances/undrain
 * (?service=NAME&address=ADDR). Returns 1 when it answered <req>.
 */
int	 admin_reply(struct conn *c, const struct h1_req *req);

/* hc.c additions ------------------------------------------------------ */

/* Worker 0: starts and stops the active check of a leased instance. */
void	 hc_lease_add(struct instance *ins);
void	 hc_lease_del(struct instance *ins);

/* rl.c ---------------------------------------------------------------- */

#define RL_WAYS		8	/* addresses per set of the shared table */
#define RL_MAX_ZONES	64	/* <rate-limit> elements */
#define RL_MAX_SIZE	4194304	/* addresses of one zone's table */

struct rl_table;

/*
 * A <rate-limit> zone: a token bucket per client address, <rz_burst>
 * tokens deep, one token back every <rz_interval> microseconds. The
 * buckets live in a table shared by all workers (rz_tab), which the
 * master maps; NULL under -t.
 */
struct rl_zone {
	char		*rz_name;
	char		*rz_rate;	/* as configured: "10r/m" */
	int64_t		 rz_burst;
	int64_t		 rz_size;	/* addresses the table holds */
	char		*rz_allow;	/* as configured; "" none */
	uint64_t	 rz_interval;	/* us per token (from rz_rate) */
	struct realip_net *rz_nets;	/* exempt clients */
	size_t		 rz_nnets;
	long		 rz_line;	/* of the element, for messages */
	struct rl_table	*rz_tab;
};

/* A <limit> of a route: which of its requests take a token of a zone. */
struct rl_limit {
	char		*rl_zone_name;
	char		*rl_methods;	/* as configured; "" all */
	char		*rl_path;	/* exact path; "" none */
	char		*rl_prefix;	/* path prefix; "" none */
	uint32_t	 rl_mbits;	/* 1 << enum h1_method; 0 all */
	struct rl_zone	*rl_zone;	/* in gc_zones */
	long		 rl_line;
};

/*
 * Parses a rate "<n>r/s" or "<n>r/m" (n 1..1000000) into the interval
 * between tokens in microseconds. 0 or -1.
 */
int	 rl_parse_rate(const char *text, uint64_t *interval);
/* Parses a blank- or comma-separated method list into bits. 0 or -1. */
int	 rl_parse_methods(const char *text, uint32_t *bits);
/*
 * Master: gives every zone of <gc> its shared table: the one a zone of
 * the same name, rate, burst and size had (its buckets carry over a
 * reload), else a fresh one. Returns 0, or -1 (logged, nothing held).
 */
int	 rl_assign(struct gw_conf *gc);
/* Master: drops <gc>'s hold on its tables; the last hold unmaps one. */
void	 rl_release(const struct gw_conf *gc);
/*
 * Whether <path> of a <method> request on <rt> falls under a limit.
 * Takes a token from every matching zone in order (exempt clients take
 * none). Returns 0 when all allowed it; else the seconds until the
 * refusing zone has a token again (at least 1) with its name in *<zone>.
 */
uint32_t rl_check(const struct route *rt, enum h1_method method,
	    struct str path, const char *client, const char **zone);
/* Appends the zones' counters and table fill to <out> (Prometheus). */
void	 rl_metrics(struct buf *out, const struct gw_conf *gc);

/* shm.c additions ----------------------------------------------------- */

/*
 * Takes and drops a lock word in shared memory (the holder's pid, 0 when
 * free). A waiter that finds the holder dead takes the lock over.
 */
void	 shm_lock_word(_Atomic uint32_t *lock);
void	 shm_unlock_word(_Atomic uint32_t *lock);
/* agg.c --------------------------------------------------------------- */

#define AGG_MAX_PARAMS	8	/* {name} parameters of an aggregate path */
#define AGG_PARAM_MAX	128	/* bytes of one parameter value */

enum agg_token {
	AGG_TOKEN_OPTIONAL = 0,	/* verified when sent; a bad one ignored */
	AGG_TOKEN_REQUIRED,	/* 401 without a valid token */
	AGG_TOKEN_NONE,		/* never verified nor passed on */
	AGG_TOKEN_COUNT
};

/* How one part ended (metrics, the errors object). */
enum agg_out {
	AGG_OUT_OK = 0,		/* 2xx with a JSON envelope */
	AGG_OUT_STATUS,		/* answered with a non-2xx status */
	AGG_OUT_TIMEOUT,	/* its timeout (or the aggregate's) passed */
	AGG_OUT_BROKEN,		/* backend broke: protocol, not JSON */
	AGG_OUT_TOO_LARGE,	/* answer over max-size */
	AGG_OUT_UNAVAILABLE,	/* no instance, queue full or timed out */
	AGG_OUT_SKIPPED,	/* when="token" without a token */
	AGG_OUT_COUNT
};

/* One <part> of an <aggregate>. */
struct agg_part {
	char		*ap_name;	/* key in responseBody */
	char		*ap_service;
	char		*ap_path;	/* service path, {param} templates */
	char		*ap_when;	/* "always" or "token" */
	char		*ap_on_error;	/* "fail" or "null" */
	uint64_t	 ap_timeout;	/* ms; 0: the aggregate's */
	uint64_t	 ap_max_size;	/* bytes of its answer's body */
	int64_t		 ap_retries;
	long		 ap_line;
	int		 ap_fail;	/* on-error="fail" */
	int		 ap_need_token;	/* when="token" */
	struct route	 ap_route;	/* what the request machinery needs:
					   service, retries (never routed) */
};

/* One <aggregate>: a GET that fans out to its parts. */
struct aggregate {
	char		*ag_listen;
	int		 ag_lidx;
	char		*ag_path;	/* with {name} segments */
	char		*ag_token;	/* "optional", "required", "none" */
	int		 ag_token_kind;	/* enum agg_token */
	uint64_t	 ag_timeout;	/* ms for the whole */
	uint64_t	 ag_max_size;	/* default of the parts' max-size */
	long		 ag_line;
	char		*ag_params[AGG_MAX_PARAMS];	/* {names} in order */
	size_t		 ag_nparams;
	struct agg_part	*ag_parts;
	size_t		 ag_nparts;
	int		 ag_slot;	/* record in shm->sh_agg, or -1 */
};

struct cfg_doc;
struct _xmlNode;

/*
 * Reads every <aggregate> under <root> into <gc> (listeners known),
 * reporting errors with file:line through cfg_error(). Services are
 * bound later by agg_conf_link().
 */
void	 agg_conf_read(struct cfg_doc *cd, struct _xmlNode *root,
	    struct gw_conf *gc);
/* Binds the parts to the registry's services; logs file:line. 0 or -1. */
int	 agg_conf_link(struct gw_conf *gc);
void	 agg_conf_free(struct gw_conf *gc);
/*
 * A request head that matched no route: when an aggregate of the
 * listener matches it, checks it and returns 1 (authenticate, then
 * agg_start()), or 0 after conn_fail(); -1 when no aggregate matches.
 */
int	 agg_request(struct conn *c, const struct h1_req *req);
/* The route auth kind (ROUTE_AUTH_*) of <c>'s aggregate. */
int	 agg_auth_kind(const struct conn *c);
/* Authentication passed (claims in r_claims): starts the parts. */
void	 agg_start(struct conn *c);
/* Stops every part of <c>'s aggregate (the client left or failed). */
void	 agg_abort(struct conn *c);
/* Frees the run <c>'s request holds (request end). */
void	 agg_free(struct conn *c);
/* Sweep: backend and queue timeouts of <c>'s parts. */
void	 agg_sweep(struct conn *c, uint64_t now);
/* Part hooks, called by conn.c for a CONN_F_PART request. */
void	 agg_part_run(struct conn *part);
void	 agg_part_fail(struct conn *part, int status, const char *why);
int	 agg_part_head(struct conn *part, const struct fcgi_cgi_head *h);
int	 agg_part_body(struct conn *part, const char *p, size_t len);
void	 agg_part_done(struct conn *part, int ok);
/* The access log's aggregate fields of <c>'s request ("" if none). */
void	 agg_alog(const struct conn *c, char *out, size_t len);
/* Prometheus lines of the aggregates of <gc>. */
void	 agg_metrics(struct buf *out, const struct gw_conf *gc);
const char	*agg_out_str(enum agg_out);
/* Picks an instance and starts the exchange of <c> (conn.c). */
void	 conn_forward(struct conn *c);
