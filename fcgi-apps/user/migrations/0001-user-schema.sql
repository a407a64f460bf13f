-- 0001: user service schema (data-model.md section 2, with the adopted
-- constraints). Applied by scripts/db migrate into database elp_user.
--
-- Table names, original -> here:
--   user_table -> user
-- Column names are those of the original, plus `created`.
--
-- user_id is not generated here: it is the identity provider's account id
-- (= token sub), lowercase canonical UUID text, CHAR(36) ascii with a
-- binary collation so comparisons are exact. email is stored lowercased
-- (the service lowercases it; the CHECK refuses anything else) and is
-- UNIQUE, so two profiles never share an address in any letter case.
-- `created` is DATETIME(3) in UTC (the service sets its session time_zone
-- to +00:00).

CREATE TABLE `user` (
    user_id       CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    first_name    VARCHAR(255) NULL,
    last_name     VARCHAR(255) NULL,
    image_url     VARCHAR(255) NULL,
    email         VARCHAR(255) NULL,
    gender        VARCHAR(255) NULL,
    date_of_birth VARCHAR(255) NULL,
    created       DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (user_id),
    UNIQUE KEY uq_user_email (email),
    CONSTRAINT ck_user_id CHECK (user_id REGEXP
        '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    CONSTRAINT ck_user_email_lower CHECK (email = LOWER(email) COLLATE
        utf8mb4_bin)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
