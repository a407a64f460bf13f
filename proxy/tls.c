/*
 * tls: TLS on the client side of a listener, with OpenSSL. The context of
 * a listener (certificate chain, key, protocol and cipher policy, ALPN) is
 * made at configuration load, by the master, so -t checks it and a reload
 * (SIGHUP) brings new certificates to the new workers while the old ones
 * finish on theirs. Per connection: the non-blocking handshake and the
 * read, write and file wrappers conn.c and offload.c call instead of
 * read(), send() and sendfile(), the close_notify before a close.
 *
 * Non-blocking rules. A wrapper that would block returns -1 with errno
 * EAGAIN, like the system call it stands for. OpenSSL may need the other
 * direction (a read that must write, a write that must read): the wrapper
 * notes it in c_tls_flags and tls_events() turns the next readiness of
 * that direction into the one the caller waits for. An SSL_write() that
 * would block is called again with the same bytes at its start (c_out
 * keeps them; files are read again at the same offset), as OpenSSL wants.
 * Decrypted bytes OpenSSL holds (SSL_pending) need no epoll event: a read
 * clears CONN_F_RD only on SSL_ERROR_WANT_READ, so a caller that stopped
 * reading because its buffer was full comes back to them.
 */
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "proxy.h"

#define TLS_FILE_CHUNK	65536	/* file bytes per SSL_write() */

/* ALPN protocols in the server's order: HTTP/1.0 clients are served too
 * (nginx offers the same). */
static const unsigned char tls_alpn_h11[] = "\x08http/1.1\x08http/1.0";

/* Writes the reason of the oldest queued OpenSSL error (or <dflt>) into
 * <err>/<len> and empties the queue. */
static void
tls_errstr(const char *dflt, char *err, size_t len)
{
	unsigned long e = ERR_peek_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	snprintf(err, len, "%s", r != NULL ? r : dflt);
	ERR_clear_error();
}

/* ALPN (RFC 7301): http/1.1 (http/1.0 when that is all the client
 * speaks) or, when the client offers neither, no connection at all. */
static int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, tls_alpn_h11,
	    sizeof(tls_alpn_h11) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* The key file may not be readable by others (STYLE 17). */
static int
tls_key_private(const char *key, char *err, size_t len)
{
	struct stat st;

	if (stat(key, &st) == -1) {
		snprintf(err, len, "key-file \"%s\": %s", key,
		    strerror(errno));
		return -1;
	}
	if (st.st_mode & S_IROTH) {
		snprintf(err, len, "key-file \"%s\" is readable by others "
		    "(chmod o-r)", key);
		return -1;
	}
	return 0;
}

/* The protocol and cipher policy of every TLS listener. */
static int
tls_ctx_policy(SSL_CTX *ctx, const char *ciphers, char *err, size_t len)
{
	static const unsigned char sid[] = "elp-gateway";

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
		tls_errstr("cannot set the protocol versions", err, len);
		return -1;
	}
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		snprintf(err, len, "ciphers \"%s\": no usable cipher",
		    ciphers);
		ERR_clear_error();
		return -1;
	}
	/* OpenSSL 3 refuses client-started renegotiation unless told
	 * otherwise; SSL_OP_NO_RENEGOTIATION refuses all of it. */
	/* A close without close_notify is an end of input like any other:
	 * HTTP framing, not TLS, tells a cut response (nginx does so). */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Partial writes and a buffer that moves: c_out is compacted and
	 * grows between the calls that retry one write. Idle connections
	 * give their record buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* A record in one read() instead of its header and then its body;
	 * what the read brings beyond it waits in OpenSSL's buffer, and
	 * conn_read() reads until WANT_READ, so nothing is left unseen. */
	SSL_CTX_set_read_ahead(ctx, 1);
	/* Resumption: tickets, whose key the workers share (made here, in
	 * the master, before they fork), and each worker's session cache. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	return 0;
}

SSL_CTX *
tls_ctx_new(const char *cert, const char *key, const char *ciphers,
    char *err, size_t len)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	if (tls_key_private(key, err, len) == -1)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_errstr("cannot make a TLS context", err, len);
		return NULL;
	}
	if (tls_ctx_policy(ctx, ciphers, err, len) == -1)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, len, "cert-file \"%s\": ", cert);
		tls_errstr("cannot load the chain", err + strlen(err),
		    len - strlen(err));
		goto fail;
	}
	/* A key of another certificate fails here or at the check. */
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) !=
	    X509_R_KEY_VALUES_MISMATCH) {
		snprintf(err, len, "key-file \"%s\": ", key);
		tls_errstr("cannot load the key", err + strlen(err),
		    len - strlen(err));
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, len, "key-file \"%s\" does not match the "
		    "certificate of cert-file \"%s\"", key, cert);
		ERR_clear_error();
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

int
tls_conn_new(struct conn *c, SSL_CTX *ctx)
{
	ERR_clear_error();
	if ((c->c_ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(c->c_ssl, c->c_fd) != 1) {
		log_warnx("TLS session for %s: %s", c->c_peer,
		    ERR_reason_error_string(ERR_peek_error()));
		ERR_clear_error();
		SSL_free(c->c_ssl);
		c->c_ssl = NULL;
		return -1;
	}
	SSL_set_accept_state(c->c_ssl);
	return 0;
}

void
tls_conn_free(struct conn *c)
{
	if (c->c_ssl == NULL)
		return;
	tls_shutdown(c);
	SSL_free(c->c_ssl);
	c->c_ssl = NULL;
}

void
tls_shutdown(struct conn *c)
{
	if (c->c_ssl == NULL || (c->c_tls_flags & (TLS_F_DEAD |
	    TLS_F_SHUT)) || !SSL_is_init_finished(c->c_ssl))
		return;
	c->c_tls_flags |= TLS_F_SHUT;
	/* One try: the close_notify goes out if the socket takes it. */
	ERR_clear_error();
	(void)SSL_shutdown(c->c_ssl);
	ERR_clear_error();
}

uint32_t
tls_events(struct conn *c, uint32_t events)
{
	if ((c->c_tls_flags & TLS_F_RD_WANTS_WR) && (events & EPOLLOUT)) {
		c->c_tls_flags &= ~TLS_F_RD_WANTS_WR;
		events |= EPOLLIN;
	}
	if ((c->c_tls_flags & TLS_F_WR_WANTS_RD) && (events & EPOLLIN)) {
		c->c_tls_flags &= ~TLS_F_WR_WANTS_RD;
		events |= EPOLLOUT;
	}
	return events;
}

/*
 * What OpenSSL's result <r> of a call on <c> means for its caller, who
 * was reading (<rd> 1) or writing: -1 with errno EAGAIN when it would
 * block, 0 for the peer's close_notify, -1 with errno EIO (or the
 * socket's) when the connection broke; no TLS may be said on it then.
 */
static ssize_t
tls_result(struct conn *c, int r, int rd, const char *what)
{
	int e = SSL_get_error(c->c_ssl, r), saved = errno;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		if (!rd)
			c->c_tls_flags |= TLS_F_WR_WANTS_RD;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		if (rd)
			c->c_tls_flags |= TLS_F_RD_WANTS_WR;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		c->c_tls_flags |= TLS_F_DEAD;
		ERR_clear_error();
		errno = saved != 0 ? saved : EPIPE;
		return -1;
	default:
		c->c_tls_flags |= TLS_F_DEAD;
		/* A client's fault (a scanner, an old protocol): info, as
		 * nginx logs it. */
		log_info("TLS %s with %s failed: %s", what, c->c_peer,
		    ERR_reason_error_string(ERR_peek_error()) != NULL ?
		    ERR_reason_error_string(ERR_peek_error()) : "error");
		ERR_clear_error();
		errno = EIO;
		return -1;
	}
}

/* Drives the handshake. 0 once it is done, else as tls_result(). */
static ssize_t
tls_handshake(struct conn *c)
{
	int r;

	if (SSL_is_init_finished(c->c_ssl))
		return 0;
	ERR_clear_error();
	if ((r = SSL_do_handshake(c->c_ssl)) != 1) {
		if (tls_result(c, r, 1, "handshake") == 0)
			errno = ECONNRESET;	/* closed during it */
		return -1;
	}
	log_debug("%s: fd %d: %s %s with %s", __func__, c->c_fd,
	    SSL_get_version(c->c_ssl), SSL_get_cipher_name(c->c_ssl),
	    c->c_peer);
	return 0;
}

ssize_t
tls_read(struct conn *c, void *buf, size_t len)
{
	int r;

	if (c->c_tls_flags & TLS_F_DEAD) {
		errno = EIO;
		return -1;
	}
	if (tls_handshake(c) == -1)
		return -1;
	ERR_clear_error();
	r = SSL_read(c->c_ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (r > 0)
		return r;
	return tls_result(c, r, 1, "read");
}

ssize_t
tls_write(struct conn *c, const void *buf, size_t len)
{
	int r;

	if (c->c_tls_flags & TLS_F_DEAD) {
		errno = EPIPE;
		return -1;
	}
	if (tls_handshake(c) == -1)
		return -1;
	ERR_clear_error();
	r = SSL_write(c->c_ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (r > 0)
		return r;
	if (tls_result(c, r, 0, "write") == 0)
		errno = EPIPE;
	return -1;
}

ssize_t
tls_sendfile(struct conn *c, int fd, off_t *off, size_t len)
{
	static char chunk[TLS_FILE_CHUNK];
	ssize_t n, w;

	if (len > sizeof(chunk))
		len = sizeof(chunk);
	/* The same offset reads the same bytes: a write that would block
	 * is retried with them, as OpenSSL requires. */
	n = pread(fd, chunk, len, *off);
	if (n <= 0)
		return n;
	if ((w = tls_write(c, chunk, (size_t)n)) > 0)
		*off += w;
	return w;
}
