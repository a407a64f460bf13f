-- elp_auth: accounts, credentials, roles, clients, browser sessions, login
-- attempts, authorization codes, refresh tokens and login failures of the
-- identity provider. Ids are lowercase UUIDs; times are UTC.

CREATE TABLE account (
    id CHAR(36) CHARACTER SET ascii NOT NULL,
    username VARCHAR(255) NOT NULL,
    email VARCHAR(255) NULL,
    first_name VARCHAR(255) NULL,
    last_name VARCHAR(255) NULL,
    enabled TINYINT(1) NOT NULL DEFAULT 1,
    email_verified TINYINT(1) NOT NULL DEFAULT 0,
    -- Idempotency-Key of the admin call that created the account, so a
    -- retried creation returns the same id instead of a conflict.
    creation_key VARCHAR(128) CHARACTER SET ascii NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_account_username (username),
    UNIQUE KEY uq_account_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE credential (
    account_id CHAR(36) CHARACTER SET ascii NOT NULL,
    -- Argon2id encoded hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash)
    password_hash VARCHAR(255) CHARACTER SET ascii NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    PRIMARY KEY (account_id),
    CONSTRAINT fk_credential_account FOREIGN KEY (account_id)
        REFERENCES account (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE role (
    name VARCHAR(64) CHARACTER SET ascii NOT NULL,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE account_role (
    account_id CHAR(36) CHARACTER SET ascii NOT NULL,
    role_name VARCHAR(64) CHARACTER SET ascii NOT NULL,
    PRIMARY KEY (account_id, role_name),
    KEY ix_account_role_role (role_name, account_id),
    CONSTRAINT fk_account_role_account FOREIGN KEY (account_id)
        REFERENCES account (id) ON DELETE CASCADE,
    CONSTRAINT fk_account_role_role FOREIGN KEY (role_name)
        REFERENCES role (name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A mirror of the clients of the configuration, written at start.
CREATE TABLE client (
    client_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
    public_client TINYINT(1) NOT NULL,
    grants VARCHAR(255) CHARACTER SET ascii NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_uris TEXT NOT NULL,
    roles VARCHAR(255) CHARACTER SET ascii NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    PRIMARY KEY (client_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Browser SSO sessions; the cookie holds a random secret whose SHA-256
-- is cookie_hash. id is the sid claim.
CREATE TABLE sso_session (
    id CHAR(36) CHARACTER SET ascii NOT NULL,
    cookie_hash CHAR(64) CHARACTER SET ascii NOT NULL,
    account_id CHAR(36) CHARACTER SET ascii NOT NULL,
    auth_time DATETIME(3) NOT NULL,
    last_seen DATETIME(3) NOT NULL,
    idle_expires_at DATETIME(3) NOT NULL,
    expires_at DATETIME(3) NOT NULL,
    ended TINYINT(1) NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY uq_sso_session_cookie (cookie_hash),
    KEY ix_sso_session_account (account_id),
    CONSTRAINT fk_sso_session_account FOREIGN KEY (account_id)
        REFERENCES account (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One shown login form: the authorization request it continues and the
-- SHA-256 of its CSRF token (the raw token is in a hidden field and in a
-- cookie).
CREATE TABLE login_attempt (
    id CHAR(36) CHARACTER SET ascii NOT NULL,
    csrf_hash CHAR(64) CHARACTER SET ascii NOT NULL,
    client_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
    redirect_uri VARCHAR(2048) NOT NULL,
    scope VARCHAR(1024) NOT NULL,
    state VARCHAR(1024) NULL,
    nonce VARCHAR(1024) NULL,
    code_challenge VARCHAR(128) CHARACTER SET ascii NULL,
    expires_at DATETIME(3) NOT NULL,
    PRIMARY KEY (id),
    KEY ix_login_attempt_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE auth_code (
    code_hash CHAR(64) CHARACTER SET ascii NOT NULL,
    client_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
    account_id CHAR(36) CHARACTER SET ascii NOT NULL,
    session_id CHAR(36) CHARACTER SET ascii NOT NULL,
    redirect_uri VARCHAR(2048) NOT NULL,
    scope VARCHAR(1024) NOT NULL,
    nonce VARCHAR(1024) NULL,
    code_challenge VARCHAR(128) CHARACTER SET ascii NULL,
    auth_time DATETIME(3) NOT NULL,
    expires_at DATETIME(3) NOT NULL,
    used TINYINT(1) NOT NULL DEFAULT 0,
    -- refresh-token family issued from this code, revoked on reuse
    family_id CHAR(36) CHARACTER SET ascii NULL,
    PRIMARY KEY (code_hash),
    KEY ix_auth_code_expires (expires_at),
    CONSTRAINT fk_auth_code_account FOREIGN KEY (account_id)
        REFERENCES account (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE refresh_token (
    token_hash CHAR(64) CHARACTER SET ascii NOT NULL,
    family_id CHAR(36) CHARACTER SET ascii NOT NULL,
    client_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
    account_id CHAR(36) CHARACTER SET ascii NOT NULL,
    session_id CHAR(36) CHARACTER SET ascii NULL,
    scope VARCHAR(1024) NOT NULL,
    nonce VARCHAR(1024) NULL,
    offline TINYINT(1) NOT NULL DEFAULT 0,
    auth_time DATETIME(3) NOT NULL,
    idle_expires_at DATETIME(3) NOT NULL,
    used TINYINT(1) NOT NULL DEFAULT 0,
    revoked TINYINT(1) NOT NULL DEFAULT 0,
    created_at DATETIME(3) NOT NULL,
    PRIMARY KEY (token_hash),
    KEY ix_refresh_token_family (family_id),
    KEY ix_refresh_token_session (session_id),
    KEY ix_refresh_token_account (account_id),
    CONSTRAINT fk_refresh_token_account FOREIGN KEY (account_id)
        REFERENCES account (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Brute-force state per account: consecutive failures since the last
-- success or lockout, lockouts so far, and the end of the current one.
CREATE TABLE login_failure (
    account_id CHAR(36) CHARACTER SET ascii NOT NULL,
    failures INT NOT NULL DEFAULT 0,
    lockouts INT NOT NULL DEFAULT 0,
    locked_until DATETIME(3) NULL,
    last_failure DATETIME(3) NOT NULL,
    last_address VARCHAR(64) CHARACTER SET ascii NULL,
    PRIMARY KEY (account_id),
    CONSTRAINT fk_login_failure_account FOREIGN KEY (account_id)
        REFERENCES account (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
