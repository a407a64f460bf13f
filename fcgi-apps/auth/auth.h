/*
 * auth: the identity provider (elp-auth), an OpenID Connect provider with
 * Keycloak's URL layout for one realm. Modules:
 *   conf.c   acfg_   configuration (realm, lifetimes, clients)
 *   keys.c   keys_   signing keys on disk, rotation state
 *   store.c  st_     accounts, roles, brute-force state; SQL helpers
 *   web.c    web_    forms, cookies, HTML, redirects, OAuth errors, random
 *   oidc.c   oidc_   route table, discovery, JWKS, userinfo, health
 *   login.c  login_  authorization endpoint, login form, SSO, logout
 *   token.c  tok_    token endpoint and token minting
 *   admin.c  adm_    admin REST API for the other services
 *   mailq.c  mq_     the provider's own mail outbox and its delivery loop
 *   action.c act_    forgot password, e-mail verification (mailed links)
 *   account.c acct_  the account page (profile, password, sessions)
 *   audit.c  adt_    the audit trail of admin actions (admin events)
 *   cli.c    cli_    account administration commands
 */
#ifndef ELP_AUTH_H
#define ELP_AUTH_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "app.h"
#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "jwt.h"
#include "pool.h"

#define AUTH_ID_MAX	64	/* client id, role name */
#define AUTH_NAME_MAX	255	/* username, email, names (bytes) */
#define AUTH_PARAM_MAX	1024	/* state, nonce, scope */
#define AUTH_URI_MAX	2048	/* redirect URIs */
#define AUTH_SECRET_LEN	43	/* base64url of 32 random bytes */
#define AUTH_HASH_LEN	64	/* hex SHA-256 */
#define AUTH_MAX_CLIENTS 32
#define AUTH_MAX_KEYS	16

/* Grants a client may use (cl_grants bits). */
#define GRANT_CODE	0x01	/* authorization_code */
#define GRANT_REFRESH	0x02	/* refresh_token */
#define GRANT_PASSWORD	0x04	/* password */
#define GRANT_CLIENT	0x08	/* client_credentials */

struct auth_client {
	char	*cl_id;
	int	 cl_public;	/* no secret */
	char	*cl_grants_s;	/* space-separated grant names */
	char	*cl_redirects;	/* space-separated, exact match */
	char	*cl_logout_uris; /* space-separated, exact match */
	char	*cl_origins;	/* web origins (documentation, CORS) */
	char	*cl_pkce;	/* "S256" or "" */
	char	*cl_secret_file; /* confidential clients */
	char	*cl_roles;	/* service-account roles, space-separated */
	int	 cl_grants;	/* GRANT_* bits */
	char	*cl_secret;	/* read from cl_secret_file; never logged */
};

/* <realm><account>: the account page and the mailed account actions. */
struct acct_cfg {
	char		*ap_client;	/* client the account page logs in with */
	int		 ap_verify;	/* verify-email: new accounts confirm */
	uint64_t	 ap_reset_ms;	/* reset-lifetime of a reset link */
	uint64_t	 ap_verify_ms;	/* verify-lifetime of a verify link */
	uint64_t	 ap_window_ms;	/* mail-window of the two limits */
	int64_t		 ap_per_address; /* mails to one address per window */
	int64_t		 ap_per_account; /* mails for one account per window */
};

/* <outbox> of elp-auth: delivery of mail_outbox (mailq.c). */
struct mq_cfg {
	uint64_t	 mq_poll;	/* ms between looks at an idle queue */
	uint64_t	 mq_lease;	/* ms a claimed row stays claimed */
	int64_t		 mq_max_attempts;
	uint64_t	 mq_backoff_base; /* ms */
	uint64_t	 mq_backoff_max;  /* ms */
	uint64_t	 mq_keep;	/* ms a finished row is kept */
};

/* The <smtp> settings (messaging.h: struct smtp_cfg), opaque here. */
struct smtp_cfg;

struct auth_cfg {
	char		*ac_name;	/* <service name> */
	char		*ac_level;
	struct pool_cfg	 ac_pool;
	struct db_cfg	 ac_db;
	uint64_t	 ac_max_body;
	/* <realm> */
	char		*ac_realm;
	char		*ac_issuer;
	char		*ac_audience;
	char		*ac_keys_dir;
	char		*ac_roles;	/* realm roles, space-separated */
	char		*ac_default_roles;
	char		*ac_admin_role;	/* accepted by the admin API */
	/* <lifetimes>, milliseconds */
	uint64_t	 ac_access_ms;
	uint64_t	 ac_code_ms;
	uint64_t	 ac_login_ms;
	uint64_t	 ac_sso_idle_ms;
	uint64_t	 ac_sso_max_ms;
	uint64_t	 ac_offline_idle_ms;
	uint64_t	 ac_offline_max_ms;	/* offline family, from start */
	/* <password> */
	int64_t		 ac_t_cost;
	int64_t		 ac_m_cost;	/* KiB */
	int64_t		 ac_parallelism;
	int64_t		 ac_hash_max;	/* concurrent Argon2 per pool, 0 auto */
	uint64_t	 ac_hash_wait_ms; /* wait for a hashing slot */
	uint64_t	 ac_recent_auth_ms; /* self password change without
					   the current password */
	/* <brute-force> */
	int64_t		 ac_bf_failures;
	uint64_t	 ac_bf_wait_ms;
	uint64_t	 ac_bf_max_ms;
	uint64_t	 ac_bf_half_life_ms;	/* a failure's weight halves */
	int64_t		 ac_bf_acct_failures;	/* per account, all addresses */
	uint64_t	 ac_bf_acct_delay_ms;	/* per failure beyond those */
	uint64_t	 ac_bf_acct_max_ms;	/* cap of the added delay */
	/* <admin-api>: the role each admin operation needs (the admin role
	 * opens them all), and the largest page of a listing */
	char		*ac_op_view;	/* read accounts, role members */
	char		*ac_op_manage;	/* create, update, disable, roles */
	char		*ac_op_reset;	/* reset-password */
	char		*ac_op_delete;	/* delete */
	char		*ac_op_sessions; /* logout (end sessions) */
	char		*ac_op_events;	/* read the audit trail */
	int64_t		 ac_adm_max_page;
	struct auth_client ac_clients[AUTH_MAX_CLIENTS];
	size_t		 ac_nclients;
	/* Account page and mails (acct_cfg, mq_cfg); ac_smtp NULL when
	 * there is no <smtp>: no mails, no forgot-password link. */
	struct acct_cfg	 ac_acct;
	struct mq_cfg	 ac_mq;
	struct smtp_cfg	*ac_smtp;
};

/* Signing keys of a keys directory; the first is the one that signs. */
struct auth_keys {
	struct jwt_key	 ak_keys[AUTH_MAX_KEYS];
	size_t		 ak_n;
	char		*ak_dir;
	struct timespec	 ak_mtime;	/* of the state file when loaded */
	ino_t		 ak_ino;
};

/* Per-worker state, handed to every handler as r_ctx. */
struct auth_svc {
	struct db		*as_db;
	const struct auth_cfg	*as_cfg;
	struct auth_keys	 as_keys;
};

/* An account as the token and admin code read it. */
struct auth_user {
	char	 u_id[37];
	char	*u_username;
	char	*u_email;
	char	*u_first;
	char	*u_last;
	int	 u_enabled;
	int	 u_email_verified;
	json_t	*u_roles;	/* array of role names */
};

/*
 * Who performs an admin action, for the audit trail: a service account
 * (actor = its client id), a user token (actor = its sub) or the command
 * line (actor = "cli:<unix user>"), with the request's address and id.
 */
struct adm_actor {
	char	aa_actor[AUTH_NAME_MAX + 1];
	char	aa_type[8];		/* "client", "user", "cli" */
	char	aa_client[AUTH_ID_MAX + 1];	/* azp, "" for the cli */
	char	aa_user[37];		/* sub, "" for the cli */
	char	aa_addr[64];		/* "" for the cli */
	char	aa_reqid[129];		/* REQUEST_ID, "" when none */
};

/* --- conf.c --- */

/* Loads and checks <path> into <cfg>. 0, or -1 with every error logged. */
/* svc_def hooks: read a loaded document into a zeroed struct auth_cfg,
 * and release one. */
void	 acfg_read_doc(struct cfg_doc *cd, void *cfg);
void	 acfg_release_doc(void *cfg);
void	 acfg_release(struct auth_cfg *cfg);
/* Client <id> or NULL. Borrowed. */
const struct auth_client *acfg_client(const struct auth_cfg *, const char *id);
/* Whether the space-separated <list> holds <word> exactly. */
int	 acfg_list_has(const char *list, const char *word);

/* --- keys.c --- */

/*
 * Loads the keys of <dir> listed in its state file into <ak>, creating
 * the directory (0700) and a first RSA 2048 key when there is none.
 * Keys retired longer than <keep_s> seconds ago are left out. 0 or -1.
 */
int	 keys_load(struct auth_keys *ak, const char *dir, int64_t keep_s);
/* Reloads when the state file changed since keys_load. 0 or -1. */
int	 keys_refresh(struct auth_keys *ak, int64_t keep_s);
/* Makes a new signing key; the old ones stay listed until <keep_s>
 * seconds after their retirement. 0 or -1 (logged). */
int	 keys_rotate(const char *dir, int64_t keep_s);
void	 keys_release(struct auth_keys *ak);

/* --- web.c --- */

/* Form or query field <name> of <src> into <out>: 1 found, 0 absent, -1
 * malformed or too long. */
int	 web_field(const char *src, const char *name, char *out, size_t len);
/* Cookie <name> of the request into <out>: 1, 0 or -1 as above. */
int	 web_cookie(struct app_req *, const char *name, char *out, size_t len);
/* Appends <s> HTML-escaped to <b>. */
void	 web_html(struct buf *b, const char *s);
/* Appends <s> percent-encoded (unreserved characters kept) to <b>. */
void	 web_pct(struct buf *b, const char *s);
/* The provider-page security headers of docs/contract/auth.md section 3. */
void	 web_page_headers(struct app_req *);
/* Sends <html> (a complete page) with <status> and the page headers. */
void	 web_page(struct app_req *, int status, const char *html, size_t len);
/* Sends a simple page with a title and a message (escaped). */
void	 web_message(struct app_req *, int status, const char *title,
	    const char *msg);
/* 302 to <url> with no-store caching. */
void	 web_redirect(struct app_req *, const char *url);
/* RFC 6749 error JSON with no-store headers; 401 adds WWW-Authenticate
 * Basic when <basic>. */
void	 web_oauth_error(struct app_req *, int status, const char *error,
	    const char *desc, int basic);
/* Sends <json> (stolen) with Cache-Control: no-store, Pragma: no-cache. */
void	 web_json_nostore(struct app_req *, int status, json_t *json);
/* A new random secret: 32 bytes, base64url, NUL-terminated. 0 or -1. */
int	 web_random(char out[AUTH_SECRET_LEN + 1]);
/* Hex SHA-256 of <s>. */
void	 web_sha256_hex(const char *s, size_t len, char out[AUTH_HASH_LEN + 1]);
/* Constant-time comparison of two NUL-terminated strings. 1 if equal. */
int	 web_ct_eq(const char *a, const char *b);
/* Sets a cookie on the realm path; <max_age> < 0: session cookie,
 * 0: delete. Secure when the gateway says HTTPS=on. */
void	 web_set_cookie(struct app_req *, const struct auth_cfg *,
	    const char *name, const char *value, long long max_age);
/* Reads the body of a form POST. 0, or -1 after responding. */
int	 web_form_body(struct app_req *);
/* Client address for logs. */
const char	*web_addr(struct app_req *);

/* --- store.c --- */

/* Current time as DATETIME(3) text, offset by <delta_ms>. */
void	 st_time(char out[32], int64_t delta_ms);
/* Finds an account by id, username or email (lowercased lookup).
 * 1 found (<u> filled, release with st_user_release), 0 not, -1 error. */
int	 st_user_by_id(struct db *, const char *id, struct auth_user *u);
int	 st_user_by_login(struct db *, const char *login, struct auth_user *u);
void	 st_user_release(struct auth_user *u);
/* Whether <u> holds <role> directly. */
int	 st_user_has_role(const struct auth_user *u, const char *role);
/* The account's password hash into a heap string. 1, 0 or -1. */
int	 st_password_hash(struct db *, const char *id, char **hash);
int	 st_set_password_hash(struct db *, const char *id, const char *hash);
/* Writes roles and clients of the configuration, then sweeps expired
 * rows. 0 or -1. */
int	 st_bootstrap(struct db *, const struct auth_cfg *);
/* Runs <sql> with <np> parameters, discards rows. Rows or -1 (logged). */
long long st_exec(struct db *, const char *sql, const struct db_val *p,
	    size_t np);
/* st_exec() of a statement safe to run twice (db_exec_idem): repeated
 * once after a lost connection. */
long long st_exec_idem(struct db *, const char *sql, const struct db_val *p,
	    size_t np);
/* Runs <sql>, copying the first row's <ncol> columns into heap strings
 * (NULL for SQL NULL) in <out>. 1 row, 0 none, -1 error. */
int	 st_row(struct db *, const char *sql, const struct db_val *p,
	    size_t np, char **out, size_t ncol);
void	 st_row_free(char **out, size_t ncol);

/* --- throttle.c --- */

/* In the pool master before the workers fork: the key of thr_subject
 * (<keys dir>/names.key) and the hashing slots. 0 or -1 (logged). */
int	 thr_init(const struct auth_cfg *);
/* Number of hashing slots for <cfg>: max-concurrent, or min(cores,
 * workers - 1), at least 1. */
long	 thr_slots_auto(const struct auth_cfg *);
/* Takes a hashing slot, waiting at most password/@slot-wait: 1 held (or
 * no bound in this process), 0 none free. Release with thr_slot_put. */
int	 thr_slot_get(const struct auth_cfg *);
void	 thr_slot_put(void);
/* tok_hash_password() inside a slot; NULL with *<busy> set when no slot
 * was free, NULL with *<busy> 0 on error. */
char	*thr_hash_password(const struct auth_cfg *, const char *pw,
	    int *busy);
/* The throttling subject of a login name that names no account: hex
 * HMAC-SHA256 of the lowercased name under the names key. */
void	 thr_subject(const char *login, char out[AUTH_HASH_LEN + 1]);
/* Whether (<subject>, <addr>) is locked (1/0, -1 error); <delay_ms> gets
 * the added delay of the subject's failures from every address. */
int	 thr_check(struct db *, const struct auth_cfg *, const char *subject,
	    const char *addr, uint64_t *delay_ms);
void	 thr_delay(uint64_t ms);
/* Records a failure of (<subject>, <addr>): the lock it started in
 * seconds (0 none), or -1. */
long long thr_fail(struct db *, const struct auth_cfg *, const char *subject,
	    const char *addr);
/* Forgets the failures of the pair (not the subject's). */
void	 thr_success(struct db *, const char *subject, const char *addr);
/* Forgets every failure of <subject>, from any address. 0 or -1. */
int	 thr_reset(struct db *, const char *subject);

/* --- pwchange.c --- */

/*
 * Whether the reset-password body <in> may set the password of <u>: with
 * "callerToken", a self change needs "currentPassword" or a recent
 * auth_time, another caller needs ADMIN; without it, an admin-service
 * reset. 0 allowed, with <keep> the session to keep ("" none); -1 after
 * responding (403, or 429 with Retry-After).
 */
int	 pwc_authorize(struct app_req *, json_t *in, const struct auth_user *u,
	    char keep[37]);
/* Revokes the refresh tokens and ends the SSO sessions of account <id>,
 * except session <keep> (may be ""). 0 or -1. */
int	 pwc_revoke(struct db *, const char *id, const char *keep);

/* --- oidc.c --- */

extern const struct app_route	oidc_routes[];
extern const size_t		oidc_nroutes;
/* Whether the {realm} capture names our realm; responds 404 if not. */
int	 oidc_realm_ok(struct app_req *);
/* Verifies a token we signed (issuer checked, <leeway> seconds past its
 * expiry accepted). Claims (new reference) or NULL. */
json_t	*oidc_verify(struct auth_svc *, const char *tok, int64_t leeway);
/* Verifies a Bearer access token of the request; claims (new ref) or
 * NULL after responding 401. */
json_t	*oidc_bearer(struct app_req *);

/* --- login.c --- */

void	 login_auth(struct app_req *);
void	 login_submit(struct app_req *);
void	 login_logout(struct app_req *);
/*
 * Starts an SSO session for <u>: its id goes to <sid>; when <cookie> is
 * not NULL the browser secret goes there (else a secret nobody holds is
 * used). 0, or -1 after responding 503.
 */
int	 login_session_new(struct app_req *, const struct auth_user *u,
	    char sid[37], char *cookie);
/* Verifies <password> of <login> with brute-force protection. 1 ok with
 * <u> filled, 0 refused (logged), -1 server error, LOGIN_BUSY when no
 * hashing slot was free in time (answer 429 with Retry-After: a 5xx
 * would count against the service in the gateway's breaker). */
#define LOGIN_BUSY	(-2)
int	 login_check(struct app_req *, const char *login, const char *password,
	    struct auth_user *u);

/* --- token.c --- */

void	 tok_endpoint(struct app_req *);
/* Authenticates the client of a form POST (HTTP Basic, or client_id and
 * client_secret fields; public clients by id). The client, or NULL after
 * responding 400/401 invalid_client. */
const struct auth_client *tok_client_auth(struct app_req *);
/* Signs <claims> (not stolen) with the current key; heap token or NULL. */
char	*tok_sign(struct auth_svc *, json_t *claims);
/*
 * Checks the requested <scope> against the supported scopes and writes
 * the granted ones to <out> (may be <scope> itself): the requested ones
 * once each, offline_access only when <may_offline>, "profile email" when
 * none was requested. 0, or -1 when a scope is unknown.
 */
int	 tok_scope(const char *scope, int may_offline, char *out,
	    size_t outlen);
/* Argon2id hash of <password> with the configured cost. Heap or NULL. */
char	*tok_hash_password(const struct auth_cfg *, const char *password);

/* --- admin.c --- */

void	 adm_create(struct app_req *);
void	 adm_get(struct app_req *);
void	 adm_update(struct app_req *);
void	 adm_delete(struct app_req *);
void	 adm_password(struct app_req *);
void	 adm_role_users(struct app_req *);
void	 adm_by_ids(struct app_req *);
void	 adm_list(struct app_req *);
void	 adm_logout(struct app_req *);
void	 adm_roles_get(struct app_req *);
void	 adm_roles_add(struct app_req *);
void	 adm_roles_del(struct app_req *);
/* Records the audit event of the creation of <id> from body <in>. */
void	 adm_created(struct db *, const struct adm_actor *act,
	    const char *id, json_t *in);
/*
 * Creates an account (used by the admin API and the create-user command).
 * Returns 201 created, 200 when <key> (may be NULL) names an earlier
 * creation of the same email, 409 taken, 400 bad input (message in
 * <why>), 500. <id> receives the account id.
 */
int	 adm_create_user(struct db *, const struct auth_cfg *, json_t *in,
	    const char *key, char id[37], char *why, size_t whylen);

/* --- mailq.c --- */

extern const struct cfg_key	mq_cfg_keys[];
extern const size_t		mq_cfg_nkeys;

/*
 * Queues a mail of <kind> ("reset", "verify") for account <account> to
 * <rcpt>, unless the per-address or per-account limit of the window is
 * reached. In the caller's transaction, if any. 1 queued, 0 limited
 * (logged), -1 database error.
 */
int	 mq_add(struct db *, const struct auth_cfg *, const char *account,
	    const char *rcpt, const char *kind, const char *subject,
	    const char *body);
/* The pool's background process: delivers mail_outbox rows until
 * pool_should_stop(). Its exit code. */
int	 mq_run(void *cfg);
/* -t checks of <smtp> and <outbox>; reads them into <cfg>. */
void	 mq_cfg_read(struct cfg_doc *cd, xmlNodePtr root,
	    struct auth_cfg *cfg);
void	 mq_cfg_release(struct auth_cfg *cfg);

/* --- action.c --- */

void	 act_reset_form(struct app_req *);
void	 act_reset_post(struct app_req *);
void	 act_token_get(struct app_req *);
void	 act_token_post(struct app_req *);
void	 act_verify_form(struct app_req *);
void	 act_verify_post(struct app_req *);
/*
 * After an account was created through the admin API: when the realm
 * requires verification, marks it pending and queues the verification
 * mail. 0, or -1 (logged).
 */
int	 act_verify_new(struct auth_svc *, const char *id);
/* Whether <u> must verify its address before logging in. */
int	 act_verify_blocks(struct auth_svc *, const struct auth_user *u);
/* The page shown instead of logging in an unverified account. */
void	 act_verify_page(struct app_req *);
/* Page parts shared with account.c: the head with <title> and <h1>, a
 * status or error note (NULL: none), and the end (sends, releases). */
void	 act_html_head(struct buf *, const char *title);
void	 act_html_note(struct buf *, int ok, const char *msg);
void	 act_html_send(struct app_req *, int status, struct buf *);
/* Whether the posted csrf field equals <expect>, or with <expect> NULL
 * the form cookie. */
int	 act_csrf_ok(struct app_req *, const char *expect);
/* The 403 page of a post without a valid CSRF token. */
void	 act_csrf_refused(struct app_req *);

/* --- account.c --- */

void	 acct_page(struct app_req *);
void	 acct_post(struct app_req *);

/* --- store.c (account actions) --- */

/* Ends every SSO session of account <id> except <keep_sid> (NULL: all)
 * and revokes their refresh tokens, and with <keep_sid> NULL every other
 * refresh token of the account too. Rows changed or -1. */
long long st_account_signout(struct db *, const char *id,
	    const char *keep_sid);
/* Ends session <sid> of account <id> and revokes its refresh tokens.
 * 1 ended, 0 not the account's or already ended, -1 error. */
int	 st_session_signout(struct db *, const char *id, const char *sid);
/* Records the client address session <sid> started from. */
void	 st_session_address(struct db *, const char *sid, const char *addr);
/*
 * Checks realm and Bearer token of an admin API request: the token must
 * hold the admin role or <role>. 1 with <act> filled (may be NULL), or 0
 * after responding 401/403/404.
 */
int	 adm_guard(struct app_req *, const char *role, struct adm_actor *act);
/* The admin operations shared by the API and the command line. Each
 * checks its input, changes the account, records the audit event of
 * <act> and returns an HTTP status (2xx done, 400 with <why>, 404, 409,
 * 503). */
int	 adm_op_update(struct db *, const struct auth_cfg *,
	    const struct adm_actor *act, const char *id, json_t *in,
	    char *why, size_t whylen);
int	 adm_op_delete(struct db *, const struct adm_actor *act,
	    const char *id);
/* adm_op_password also revokes every refresh token and SSO session of
 * the account but session <keep> ("": none kept); 429 when no hashing
 * slot was free. */
int	 adm_op_password(struct db *, const struct auth_cfg *,
	    const struct adm_actor *act, const char *id, const char *pw,
	    const char *keep, char *why, size_t whylen);
int	 adm_op_logout(struct db *, const struct adm_actor *act,
	    const char *id);
/* Adds (<add>) or removes the realm roles named in <names> (array of
 * strings); <api>: the admin role and the operation roles are refused. */
int	 adm_op_roles(struct db *, const struct auth_cfg *,
	    const struct adm_actor *act, const char *id, json_t *names,
	    int add, int api, char *why, size_t whylen);
/* Accounts whose username, email or names contain <search> (NULL: all),
 * ordered by username, <max> from <first>: brief representations into
 * <*out> (new array). 0 or -1. */
int	 adm_op_list(struct db *, const char *search, long long first,
	    long long max, json_t **out);
/* Ends every SSO session of account <id> and revokes its refresh
 * tokens. Refresh tokens revoked, or -1. */
long long adm_end_sessions(struct db *, const char *id);
/* The representation of <u> (new reference). */
json_t	*adm_user_json(const struct auth_user *u);

/* --- cli.c --- */

/* The commands "users ..." and "audit ..." (<argv>[0] is the command).
 * Returns the exit status. */
int	 cli_users(const struct auth_cfg *, int argc, char *argv[]);
int	 cli_audit(const struct auth_cfg *, int argc, char *argv[]);

/* --- audit.c --- */

/* GET /admin/realms/{realm}/audit: the admin events, newest first. */
void	 adt_list(struct app_req *);
/* Fills <a> from the verified <claims> of an admin API request. */
void	 adt_actor_token(struct adm_actor *a, struct app_req *,
	    json_t *claims);
/* Fills <a> for the command line: "cli:<unix user>". */
void	 adt_actor_cli(struct adm_actor *a);
/*
 * Records one admin event: <action> (e.g. USER_DISABLE), <op> (CREATE,
 * UPDATE, DELETE, ACTION), <resource> (USER), <target> (may be NULL)
 * and <details> (stolen, may be NULL; never a password or secret).
 * 0, or -1 (logged).
 */
int	 adt_record(struct db *, const struct adm_actor *a, const char *action,
	    const char *op, const char *resource, const char *target,
	    json_t *details);
/*
 * Records a login event of the form or the password grant: <rc> is
 * login_check()'s (1 LOGIN with <u>, 0 LOGIN_ERROR with the reason found
 * again, -1 nothing). <login> is the name given; never a password.
 */
void	 adt_login(struct app_req *, const char *client, const char *login,
	    int rc, const struct auth_user *u);
/* GET /admin/realms/{realm}/events: the login events, newest first. */
void	 adt_events(struct app_req *);
/* Events matching <actor> and <target> (NULL: any), newest first, <max>
 * from <first>, as JSON objects into <*out> (new array). 0 or -1. */
int	 adt_query(struct db *, const struct auth_cfg *, const char *actor,
	    const char *target, long long first, long long max, json_t **out);

#endif
