/*
 * smtp: an SMTP submission client on libcurl (STARTTLS as configured,
 * AUTH from a password file), used by elp-messaging's outbox and by
 * elp-auth's account mails (smtp.c).
 */
#ifndef ELP_SMTP_H
#define ELP_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "buf.h"
#include "cfg.h"

/* <smtp>: the mail server. */
struct smtp_cfg {
	char		*sc_url;	/* smtp://host:port[/ehlo-name] */
	char		*sc_tls;	/* "none", "try", "required" */
	char		*sc_ca_file;	/* "" = system store */
	char		*sc_username;	/* "" = no AUTH */
	char		*sc_password_file;
	char		*sc_from;	/* envelope and From: address */
	char		*sc_from_name;	/* From: display name, "" none */
	char		*sc_msgid_domain; /* right side of Message-IDs */
	uint64_t	 sc_connect_timeout; /* ms */
	uint64_t	 sc_timeout;	/* ms, whole transaction */
};

enum smtp_res {
	SMTP_SENT = 0,	/* the server accepted the message */
	SMTP_TEMP,	/* try again later: 4xx, no answer, timeout, TLS,
			   authentication refused */
	SMTP_PERM,	/* the server refused this message for good (5xx) */
	SMTP_RES_COUNT
};

const char	*smtp_res_str(enum smtp_res);

/* Room for the reason smtp_send() writes (code and libcurl text). */
#define SMTP_WHY_MAX	500

/* Key table of <smtp>; dst is struct smtp_cfg. */
extern const struct cfg_key	smtp_cfg_keys[];
extern const size_t		smtp_cfg_nkeys;

/* Semantic checks of a read <smtp> at <node>, errors counted in <cd>. */
void	 smtp_cfg_check(struct cfg_doc *cd, xmlNodePtr node,
	    const struct smtp_cfg *sc);

/*
 * Sends the formatted message <msg> to <rcpt> through the server of
 * <sc>. Returns the outcome; <why> (<whylen> bytes) receives the server's
 * code and libcurl's text on failure. Never logs the password.
 */
enum smtp_res	 smtp_send(const struct smtp_cfg *sc, const char *rcpt,
		    const struct buf *msg, char *why, size_t whylen);

#endif
