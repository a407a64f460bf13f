-- Demo media (docs/contract/data-model.md 6.3): metadata of the files in
-- fcgi-apps/content/demo-media, which scripts/stack copies into the
-- storage directory. Applied at every seed; a row is added only if its
-- name is absent. Owner: the demo ADMIN account.
INSERT INTO file (name, owner, original_name, size, mime, sha256, created_at)
VALUES ('dummy-admin1-photo.jpeg', 'b2a0f123-0bd3-48ad-a10f-cb558a49f99b', 'dummy-admin1-photo.jpeg', 5293, 'image/jpeg',
        'd1c9df0b4f78c52744f122e6d78cfdf56e839fc23ffc26c25f9797a787fea4f9', '2024-04-09 18:00:00.000')
ON DUPLICATE KEY UPDATE name = name;
INSERT INTO file (name, owner, original_name, size, mime, sha256, created_at)
VALUES ('dummy-java-course-banner.jpg', 'b2a0f123-0bd3-48ad-a10f-cb558a49f99b', 'dummy-java-course-banner.jpg', 3003, 'image/jpeg',
        '4738a21bd6df7897540987eda799ad9822fcad9ffdecbab4fb3baff524dc3467', '2024-04-09 18:00:00.000')
ON DUPLICATE KEY UPDATE name = name;
INSERT INTO file (name, owner, original_name, size, mime, sha256, created_at)
VALUES ('dummy-programming-course-banner.jpg', 'b2a0f123-0bd3-48ad-a10f-cb558a49f99b', 'dummy-programming-course-banner.jpg', 21595, 'image/jpeg',
        '2b921c9abfd1ae6ec5b8f87f1738124e3601ce72ffd7840ceb3e1ba5fe56a345', '2024-04-09 18:00:00.000')
ON DUPLICATE KEY UPDATE name = name;
INSERT INTO file (name, owner, original_name, size, mime, sha256, created_at)
VALUES ('dummy-system-design-course-banner.jpg', 'b2a0f123-0bd3-48ad-a10f-cb558a49f99b', 'dummy-system-design-course-banner.jpg', 1815, 'image/jpeg',
        '86758cfc50853c4facb7358db7b939565cc6d9280b6acc5c7ec992fc90d6cc1b', '2024-04-09 18:00:00.000')
ON DUPLICATE KEY UPDATE name = name;
INSERT INTO file (name, owner, original_name, size, mime, sha256, created_at)
VALUES ('dummy-user1-photo.jpg', 'b2a0f123-0bd3-48ad-a10f-cb558a49f99b', 'dummy-user1-photo.jpg', 48487, 'image/jpeg',
        '2f28fa16e18e4c6d6aa49a737791b258ac8d24b3bdee75e2fa7286d79f1c8dc9', '2024-04-09 18:00:00.000')
ON DUPLICATE KEY UPDATE name = name;
INSERT INTO file (name, owner, original_name, size, mime, sha256, created_at)
VALUES ('dummy-video-1.mp4', 'b2a0f123-0bd3-48ad-a10f-cb558a49f99b', 'dummy-video-1.mp4', 69663, 'video/mp4',
        '5d653ab4f70bc93a0068423ca5bb92859f3e11001763908928bbd7e8839ec40f', '2024-04-09 18:00:00.000')
ON DUPLICATE KEY UPDATE name = name;
