-- The delivery loop removes sent rows older than <outbox keep>.
ALTER TABLE outbox ADD KEY ix_outbox_sent (state, sent_at);
