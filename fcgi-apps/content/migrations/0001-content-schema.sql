-- 0001: content service schema (data-model.md section 4, adopted): one
-- row per stored media file. Applied by scripts/db migrate into database
-- elp_content.
--
-- name is the stored file name in the flat media directory
-- (<32 hex>.<ext> for uploads), the API's URL being
-- "file-system-storage/<name>". owner is the uploader's account id (the
-- token's sub). original_name is the client's file name, kept only as
-- metadata and never used to name anything. Files are never overwritten
-- or deleted by the service.
CREATE TABLE file (
    name          VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    owner         CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    original_name VARCHAR(255) NULL,
    size          BIGINT UNSIGNED NOT NULL,
    mime          VARCHAR(64) CHARACTER SET ascii NOT NULL,
    sha256        CHAR(64) CHARACTER SET ascii NOT NULL,
    created_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (name),
    KEY ix_file_owner (owner, created_at),
    CONSTRAINT ck_file_sha256 CHECK (sha256 REGEXP '^[0-9a-f]{64}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
