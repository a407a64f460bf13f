-- elp_auth: login throttling per (account, client address) and per
-- account, with failures that weigh less as they age; and a maximum
-- lifetime for offline refresh-token families.
--
-- subject is the account id, or for a login name that names no account
-- the hex HMAC-SHA256 of the lowercased name (so unknown names throttle
-- like known ones and are never stored in clear). address is the client
-- address as the gateway gave it, or '' for the row that counts the
-- subject's failures from every address. score is the sum of the
-- failures' weights at updated_ms (each halves every brute-force
-- half-life); locked_until_ms ends the current lock of the pair.
CREATE TABLE login_throttle (
    subject CHAR(64) CHARACTER SET ascii NOT NULL,
    address VARCHAR(64) CHARACTER SET ascii NOT NULL,
    score DOUBLE NOT NULL DEFAULT 0,
    lockouts INT NOT NULL DEFAULT 0,
    updated_ms BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, address),
    KEY ix_login_throttle_updated (updated_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- End of an offline family (lifetimes/@offline-max after its first
-- token); NULL for tokens bound to a browser session, which ends them.
ALTER TABLE refresh_token
    ADD COLUMN family_expires_at DATETIME(3) NULL AFTER idle_expires_at;
