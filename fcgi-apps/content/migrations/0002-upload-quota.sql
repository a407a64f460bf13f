-- 0002: per-user upload quotas (docs/contract/api.md 4.5.2, adopted): one
-- row per uploader and UTC day, counting the files and bytes that user
-- stored that day. Uploads add to it in the transaction that records
-- their file rows, under a lock on this row, so concurrent uploads of one
-- user never pass the limit together. Rows of past days are history;
-- deleting them frees nothing of today's quota.
CREATE TABLE upload_quota (
    owner CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    day   DATE NOT NULL,
    files BIGINT UNSIGNED NOT NULL DEFAULT 0,
    bytes BIGINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
