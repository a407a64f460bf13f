-- elp_course: who decided a payment and when, and the audit trail of the
-- administrators' changes (course edits, lectures added and deleted,
-- payment decisions). actor is the token's sub; request_id is the
-- gateway's X-Request-Id; details is JSON of the change.
ALTER TABLE payment
    ADD COLUMN decided_by CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD COLUMN decided_at DATETIME(3) NULL;

CREATE TABLE audit_event (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    time        DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    actor       CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    actor_name  VARCHAR(255) NULL,
    request_id  VARCHAR(128) CHARACTER SET ascii NULL,
    action      VARCHAR(32) CHARACTER SET ascii NOT NULL,
    target_type VARCHAR(32) CHARACTER SET ascii NOT NULL,
    target      VARCHAR(100) NOT NULL,
    details     TEXT NULL,
    PRIMARY KEY (id),
    KEY ix_audit_event_actor (actor, id),
    KEY ix_audit_event_target (target, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
