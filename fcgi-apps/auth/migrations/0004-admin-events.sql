-- elp_auth: the audit trail of the admin API and the admin commands
-- (Keycloak's "admin events"), and the login events. One admin action is
-- one row of admin_event, kept when the account
-- it names is deleted (no foreign key). actor is the client id of a
-- service account, the sub of a user token, or "cli:<unix user>" for the
-- command line; details is JSON of what changed and never holds a
-- password or a secret.
CREATE TABLE admin_event (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    time        DATETIME(3) NOT NULL,
    actor       VARCHAR(255) NOT NULL,
    actor_type  ENUM('client', 'user', 'cli') NOT NULL,
    client_id   VARCHAR(64) CHARACTER SET ascii NULL,
    user_id     CHAR(36) CHARACTER SET ascii NULL,
    address     VARCHAR(64) CHARACTER SET ascii NULL,
    request_id  VARCHAR(128) CHARACTER SET ascii NULL,
    action      VARCHAR(32) CHARACTER SET ascii NOT NULL,
    operation   ENUM('CREATE', 'UPDATE', 'DELETE', 'ACTION') NOT NULL,
    resource    VARCHAR(32) CHARACTER SET ascii NOT NULL,
    target      VARCHAR(255) NULL,
    details     TEXT NULL,
    PRIMARY KEY (id),
    KEY ix_admin_event_actor (actor, id),
    KEY ix_admin_event_target (target, id),
    KEY ix_admin_event_time (time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Logins and refused logins of the login form and the password grant
-- (Keycloak's user events LOGIN and LOGIN_ERROR). username is the name
-- given (for an unknown account too); never a password.
CREATE TABLE login_event (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    time        DATETIME(3) NOT NULL,
    type        ENUM('LOGIN', 'LOGIN_ERROR') NOT NULL,
    client_id   VARCHAR(64) CHARACTER SET ascii NULL,
    user_id     CHAR(36) CHARACTER SET ascii NULL,
    username    VARCHAR(255) NULL,
    address     VARCHAR(64) CHARACTER SET ascii NULL,
    request_id  VARCHAR(128) CHARACTER SET ascii NULL,
    error       VARCHAR(64) CHARACTER SET ascii NULL,
    PRIMARY KEY (id),
    KEY ix_login_event_user (user_id, id),
    KEY ix_login_event_time (time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
