-- 0001: messaging service schema. Applied by scripts/db migrate into
-- database elp_messaging.
--
-- notification: one row per (event, recipient); UNIQUE (event_id, user_id)
-- makes a re-posted event a no-op. outbox: one row per notification that
-- goes out by e-mail, inserted in the same transaction as its
-- notification; the delivery loop claims a due row by writing a lease
-- (claim_id, claimed_until), sends it, and marks it sent or schedules the
-- next attempt (fcgi-apps/messaging/README.md). message_id is chosen at
-- insert, so every attempt of one row carries the same Message-ID.
--
-- Ids are lowercase canonical UUID text, CHAR(36) ascii with a binary
-- collation; `seq` is an insertion-order surrogate for stable ordering;
-- timestamps are DATETIME(3) in UTC (the session time_zone is +00:00).

CREATE TABLE notification (
    seq          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    id           CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id      CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    event_id     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    kind         VARCHAR(64) CHARACTER SET ascii NOT NULL,
    title        VARCHAR(1000) NOT NULL,
    body         MEDIUMTEXT NOT NULL,
    read_at      DATETIME(3) NULL,
    created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_notification_seq (seq),
    UNIQUE KEY uq_notification_event_user (event_id, user_id),
    KEY ix_notification_user (user_id, created_at, seq),
    KEY ix_notification_unread (user_id, read_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE outbox (
    seq              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    id               CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    notification_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    rcpt             VARCHAR(254) CHARACTER SET ascii NOT NULL,
    subject          VARCHAR(1000) NOT NULL,
    body             MEDIUMTEXT NOT NULL,
    message_id       VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin
                     NOT NULL,
    state            ENUM('pending', 'sent', 'failed') NOT NULL
                     DEFAULT 'pending',
    attempts         INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    last_error       VARCHAR(500) NULL,
    created_at       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    sent_at          DATETIME(3) NULL,
    claimed_until    DATETIME(3) NULL,
    claim_id         CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_outbox_seq (seq),
    UNIQUE KEY uq_outbox_message_id (message_id),
    UNIQUE KEY uq_outbox_notification (notification_id),
    KEY ix_outbox_due (state, next_attempt_at, seq),
    KEY ix_outbox_claim (claim_id),
    CONSTRAINT fk_outbox_notification FOREIGN KEY (notification_id)
        REFERENCES notification (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
