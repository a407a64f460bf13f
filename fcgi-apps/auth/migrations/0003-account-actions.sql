-- elp_auth: e-mail actions of the account pages (forgot password, e-mail
-- verification), the provider's own mail outbox, and the address a
-- browser session started from. Ids are lowercase UUIDs; times are UTC.

-- A single-use link mailed to an account: only the SHA-256 of its secret
-- is stored. kind is 'reset' (set a new password) or 'verify' (confirm
-- the address); email is the address it was sent to, so a verification
-- link does nothing once the account's address changed.
CREATE TABLE action_token (
    token_hash CHAR(64) CHARACTER SET ascii NOT NULL,
    kind VARCHAR(16) CHARACTER SET ascii NOT NULL,
    account_id CHAR(36) CHARACTER SET ascii NOT NULL,
    email VARCHAR(255) NOT NULL,
    created_at DATETIME(3) NOT NULL,
    expires_at DATETIME(3) NOT NULL,
    used_at DATETIME(3) NULL,
    PRIMARY KEY (token_hash),
    KEY ix_action_token_account (account_id, kind),
    KEY ix_action_token_expires (expires_at),
    CONSTRAINT fk_action_token_account FOREIGN KEY (account_id)
        REFERENCES account (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Mails of the provider, delivered by its background process. The body
-- holds a link secret, so it is cleared once the mail left (or failed);
-- the row itself stays for the per-address and per-account limits until
-- the sweep. state: pending, sent, failed. Leased like elp-messaging's
-- outbox (claim_id, claimed_until).
CREATE TABLE mail_outbox (
    id CHAR(36) CHARACTER SET ascii NOT NULL,
    account_id CHAR(36) CHARACTER SET ascii NULL,
    rcpt VARCHAR(255) NOT NULL,
    kind VARCHAR(16) CHARACTER SET ascii NOT NULL,
    subject VARCHAR(255) NOT NULL,
    body TEXT NULL,
    message_id VARCHAR(255) CHARACTER SET ascii NOT NULL,
    state VARCHAR(8) CHARACTER SET ascii NOT NULL DEFAULT 'pending',
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3) NOT NULL,
    claim_id CHAR(36) CHARACTER SET ascii NULL,
    claimed_until DATETIME(3) NULL,
    last_error VARCHAR(500) NULL,
    created_at DATETIME(3) NOT NULL,
    sent_at DATETIME(3) NULL,
    PRIMARY KEY (id),
    KEY ix_mail_outbox_due (state, next_attempt_at),
    KEY ix_mail_outbox_rcpt (rcpt, created_at),
    KEY ix_mail_outbox_account (account_id, created_at),
    KEY ix_mail_outbox_claim (claim_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- verify_pending: registered while the realm required e-mail
-- verification and not verified yet; such an account cannot log in.
ALTER TABLE account
    ADD COLUMN verify_pending TINYINT(1) NOT NULL DEFAULT 0;

-- The client address a browser session was started from (account page).
ALTER TABLE sso_session
    ADD COLUMN address VARCHAR(64) CHARACTER SET ascii NULL;
