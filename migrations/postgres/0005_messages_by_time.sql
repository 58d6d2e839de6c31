-- StreamMessages replays every conversation's messages from a time on, in (created_at,
-- conversation_id, seq) order: this index is that order, so each replay page is one range scan.
CREATE INDEX messages_created_idx ON messages (created_at, conversation_id, seq);
