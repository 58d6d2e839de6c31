-- Messages are written only by the append paths, which store a message only after reading its
-- sender's membership row in the same statement; no conversation, user or message is ever
-- deleted. The two foreign keys re-checked, per row, what the append had just read, and cost a
-- third of the append writer's database time (BENCHMARKS.md).
ALTER TABLE messages
    DROP CONSTRAINT messages_conversation_id_fkey,
    DROP CONSTRAINT messages_sender_id_fkey;
