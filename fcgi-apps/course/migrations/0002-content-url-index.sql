-- The media rule (GET /internal/media/{fileName}) looks lectures up by
-- the file they name.
ALTER TABLE course_content ADD KEY ix_content_url (content_url);
