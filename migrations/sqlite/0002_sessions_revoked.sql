-- Every logic instance polls "sessions revoked since T" every ~2 s to refuse their access
-- tokens (see logic/src/revocations.rs). Partial: only revoked sessions are indexed, so live
-- logins cost nothing here. Same index in migrations/postgres/0002_sessions_revoked.sql.
CREATE INDEX sessions_revoked_idx ON sessions (revoked_at, id) WHERE revoked_at IS NOT NULL;
