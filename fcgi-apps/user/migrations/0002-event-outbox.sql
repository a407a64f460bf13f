-- Events for elp-messaging, queued in the transaction of the change they
-- tell of and posted by the service's background process (libelp evq,
-- shared/evq.h): a row is deleted once elp-messaging accepted the event,
-- retried with backoff while it cannot be reached, and kept as 'failed'
-- when it is refused for good. event_id is the stable eventId the
-- receiver deduplicates on; payload is the whole event as JSON.
CREATE TABLE event_outbox (
    seq             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    event_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    type            VARCHAR(64) CHARACTER SET ascii NOT NULL,
    payload         MEDIUMTEXT NOT NULL,
    state           ENUM('pending', 'failed') NOT NULL DEFAULT 'pending',
    attempts        INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    claim_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
    claimed_until   DATETIME(3) NULL,
    last_error      VARCHAR(255) NULL,
    created_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (seq),
    UNIQUE KEY uq_event_outbox_event (event_id),
    KEY ix_event_outbox_due (state, next_attempt_at, seq),
    KEY ix_event_outbox_claim (claim_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
