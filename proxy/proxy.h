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

#include "buf.h"
#include "fcgi.h"
#include "h1.h"

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
};

int	 ev_init(struct ev *, int maxfds);
void	 ev_release(struct ev *);
/* Registers <fd> edge-triggered for read and write. 0 or -1. */
int	 ev_add(struct ev *, int fd, ev_cb, void *arg);
/* Registers listening <fd> level-triggered, exclusive wakeup. 0 or -1. */
int	 ev_add_listener(struct ev *, int fd, ev_cb, void *arg);
void	 ev_del(struct ev *, int fd);
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
	int64_t		 l_backlog;
	int		 l_fd;
	int		 l_idx;
};

struct instance {
	char		*ins_name;	/* "<service>@<address>" */
	struct gw_addr	 ins_addr;
	int64_t		 ins_maxconn;
	int64_t		 ins_weight;
	int		 ins_id;	/* index in gw_conf.gc_instances */
	struct service	*ins_svc;
	/* Runtime, per worker. */
	struct bconn	*ins_idle;	/* kept-alive, free connections */
	int		 ins_nconn;	/* open connections (idle + busy) */
	int		 ins_outstanding; /* exchanges in progress */
};

struct service {
	char		 *svc_name;
	struct instance	**svc_ins;
	size_t		  svc_nins;
	size_t		  svc_rr;	/* round-robin cursor */
	struct conn	 *svc_waitq;	/* requests waiting for a slot */
	struct conn	**svc_waitq_tail;
};

struct route {
	char		*rt_listen;
	int		 rt_lidx;
	char		*rt_prefix;
	size_t		 rt_prefix_len;
	char		*rt_service;
	struct service	*rt_svc;
	char		*rt_rewrite;	/* NULL: path unchanged */
	size_t		 rt_rewrite_len;
	uint64_t	 rt_max_body;
	char		*rt_cors;	/* "" = gateway default, "off", "*",
					   or a list of origins */
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
	struct gw_timeouts	 gc_to;
	struct gw_limits	 gc_lim;
};

/*
 * Loads <path> and the registry it names into a fresh snapshot. Returns it,
 * or NULL after logging every error as file:line: reason.
 */
struct gw_conf	*conf_load(const char *path);
void		 conf_free(struct gw_conf *);
/* Parses "unix:/p", "host:port", "[v6]:port" into <out>. 0 or -1. */
int		 conf_parse_addr(const char *, struct gw_addr *out);

/* route.c ------------------------------------------------------------- */

/*
 * Finds the route of listener <lidx> whose prefix matches <path> on a
 * segment boundary (longest prefix wins). Borrowed pointer or NULL.
 */
const struct route	*route_find(const struct gw_conf *, int lidx,
			    struct str path);

#endif

/* conn.c -------------------------------------------------------------- */

enum conn_state {
	CONN_ST_HEAD = 0,	/* reading a request head */
	CONN_ST_QUEUED,		/* waiting for a backend slot */
	CONN_ST_BACKEND,	/* exchange with a backend running */
	CONN_ST_FLUSH,		/* response complete, writing it out */
	CONN_ST_LINGER,		/* closing: FIN sent, discarding input */
	CONN_ST_CLOSING,	/* queued for the before-sleep free */
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

struct conn {
	int			 c_fd;
	enum conn_state		 c_state;
	uint32_t		 c_flags;
	struct listener		*c_listener;
	char			 c_peer[64];	/* client address text */
	char			 c_peer_port[8];
	struct buf		 c_in;
	struct buf		 c_out;
	struct buf		 c_arena;	/* request-lifetime copies */
	struct buf		 c_rhead;	/* backend CGI head, until parsed */
	struct buf		 c_fcgi;	/* BEGIN_REQUEST + PARAMS */
	uint64_t		 c_deadline;	/* monotonic ms; 0 = none */
	struct h1_req		*c_req;	/* only while a head is partial */
	/* Current request. */
	const struct route	*c_route;
	enum h1_method		 c_method;
	char			 c_reqid[GW_REQID_MAX + 1];
	int			 c_minor;	/* HTTP/1.<minor> */
	uint64_t		 c_body_left;	/* Content-Length to forward */
	struct h1_chunk		 c_chunk;	/* chunked request decoder */
	uint64_t		 c_body_max;
	int			 c_status;	/* response status */
	int64_t			 c_resp_left;	/* body bytes due; -1 unknown */
	uint64_t		 c_resp_bytes;
	uint64_t		 c_t_start;	/* request start, ms */
	uint64_t		 c_t_be;	/* exchange start, ms */
	size_t			 c_a_method, c_a_target, c_a_ua, c_a_ref;
	size_t			 c_a_origin;
	int			 c_cors;	/* CONN_CORS_* for this request */
	int			 c_retries;
	struct bconn		*c_be;
	struct instance		*c_ins;
	/* Lists. */
	struct conn		*c_next, *c_prev;	/* gw->w_conns */
	struct conn		*c_qnext;	/* service wait queue */
	struct conn		*c_cnext;	/* gw->w_closing */
	struct conn		*c_lnext;	/* gw->w_later */
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
/* Moves request body bytes from c_in into the backend's STDIN. */
void	 conn_pump_body(struct conn *);
/* Whether the current request may be sent again (nothing consumed). */
int	 conn_can_retry(const struct conn *);
/* Sends the current request again, to any instance; 503 if none. */
void	 conn_retry(struct conn *);

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
 * Picks an instance of <svc> for a new exchange. Returns one with a free
 * connection slot; or NULL with *<busy> set when every usable instance is
 * at maxconn (queue the request), or *<busy> 0 when none is usable (503).
 */
struct instance	*up_pick(struct service *svc, int *busy);
/* Queues <c> on its service; the first slot that frees serves it. */
void	 up_enqueue(struct service *, struct conn *);
void	 up_dequeue(struct service *, struct conn *);
/* A slot of <ins> was freed: hand it to the first queued request. */
void	 up_slot_freed(struct instance *);

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
};

extern struct gw_worker	*gw;


/* worker.c ------------------------------------------------------------ */

/* Runs one worker's event loop on <gc> until drained; returns the exit
 * status for _exit(). Signals arrive blocked (read from a signalfd). */
int	 worker_run(struct gw_conf *gc);
