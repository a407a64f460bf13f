-- Demo data of the user service: the profiles of the two demo accounts
-- that make run creates in the identity provider (conf/demo.conf; ids of
-- the original demo realm, docs/contract/data-model.md section 6.4). Applied by
-- scripts/db seed into elp_user; a re-run changes nothing. Without them
-- the first-login call would create the same rows.

INSERT INTO `user` (user_id, first_name, last_name, image_url, email,
    gender, date_of_birth)
VALUES
    ('b2a0f123-0bd3-48ad-a10f-cb558a49f99b', 'Test', 'Admin', NULL,
     'test-admin@example.com', NULL, NULL),
    ('958e49be-718c-40c4-996e-48d542aaa397', 'Test', 'User', NULL,
     'test-user@example.com', NULL, NULL)
ON DUPLICATE KEY UPDATE user_id = user_id;
