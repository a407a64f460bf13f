-- 0001: course service schema (data-model.md section 3, with the adopted
-- constraints). Applied by scripts/db migrate into database elp_course.
--
-- Table names, original -> here:
--   course_table          -> course
--   course_content_table  -> course_content
--   enrollment_info_table -> enrollment
--   payment_info_table    -> payment
-- Column names are those of the original.
--
-- Ids are lowercase canonical UUID text, CHAR(36) ascii with a binary
-- collation, so comparisons are exact. `seq` is an insertion-order
-- surrogate used to break ties for stable paging. Timestamps are
-- DATETIME(3) in UTC (the service sets its session time_zone to +00:00).
-- Foreign keys have no cascade: courses are never deleted.

CREATE TABLE course (
    seq                   BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    course_id             CHAR(36) CHARACTER SET ascii COLLATE ascii_bin
                          NOT NULL,
    course_name           VARCHAR(255) NOT NULL,
    description           TEXT NULL,
    image_url             VARCHAR(255) NULL,
    is_enrollment_enabled BOOLEAN NULL,
    course_fee            INT NULL,
    discount              INT NULL,
    published_at          DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (course_id),
    UNIQUE KEY uq_course_seq (seq),
    KEY ix_course_published (published_at, seq),
    CONSTRAINT ck_course_id CHECK (course_id REGEXP
        '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE course_content (
    seq              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    content_id       CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    course_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    content_title    VARCHAR(255) NULL,
    content_type     VARCHAR(50) NULL,
    content_url      VARCHAR(255) NULL,
    content_sequence INT NULL,
    PRIMARY KEY (content_id),
    UNIQUE KEY uq_content_seq (seq),
    KEY ix_content_course_sequence (course_id, content_sequence, seq),
    CONSTRAINT fk_content_course FOREIGN KEY (course_id)
        REFERENCES course (course_id),
    CONSTRAINT ck_content_id CHECK (content_id REGEXP
        '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- At most one enrollment per (course, user); user_id is the identity
-- provider's account id and lives in another store (no FK).
CREATE TABLE enrollment (
    enrollment_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    course_id     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id       CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    status        ENUM('IN-REVIEW', 'APPROVED', 'DENIED') NOT NULL
                  DEFAULT 'IN-REVIEW',
    PRIMARY KEY (enrollment_id),
    UNIQUE KEY uq_enrollment_course_user (course_id, user_id),
    KEY ix_enrollment_user (user_id),
    CONSTRAINT fk_enrollment_course FOREIGN KEY (course_id)
        REFERENCES course (course_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- trx_id is unique and compared exactly (binary collation), as the
-- original's lookups were case-sensitive.
CREATE TABLE payment (
    seq            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    payment_id     CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    course_id      CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_id        CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    payment_vendor VARCHAR(100) NULL,
    sender_account VARCHAR(100) NULL,
    amount         INT NULL,
    trx_id         VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin
                   NOT NULL,
    date           DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    status         ENUM('IN-REVIEW', 'APPROVED', 'DENIED') NOT NULL
                   DEFAULT 'IN-REVIEW',
    PRIMARY KEY (payment_id),
    UNIQUE KEY uq_payment_seq (seq),
    UNIQUE KEY uq_payment_trx (trx_id),
    KEY ix_payment_date (date, seq),
    KEY ix_payment_user (user_id, seq),
    CONSTRAINT fk_payment_course FOREIGN KEY (course_id)
        REFERENCES course (course_id),
    CONSTRAINT ck_payment_id CHECK (payment_id REGEXP
        '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
