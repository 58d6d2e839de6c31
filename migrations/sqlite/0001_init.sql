-- Natter's schema, SQLite dialect: the same tables, columns, constraint names and indexes as
-- migrations/postgres/0001_init.sql (read the conventions there), because one body of SQL
-- (repo/src/store/sql.rs) runs against both.
--
-- Differences: integers and flags are INTEGER (flags 0/1, checked; the SQL writes TRUE/FALSE,
-- which SQLite reads as 1/0); text compares byte-wise (BINARY) by default, as the "C" collation
-- does in PostgreSQL; tables are STRICT so a wrongly typed bind fails instead of being stored.
-- Small rows keyed by a composite key are WITHOUT ROWID (clustered on that key).

CREATE TABLE users (
    id            TEXT    NOT NULL,
    email         TEXT,
    password_hash TEXT    NOT NULL DEFAULT '',
    nickname      TEXT    NOT NULL,
    bio           TEXT    NOT NULL DEFAULT '',
    avatar_url    TEXT    NOT NULL DEFAULT '',
    is_guest      INTEGER NOT NULL DEFAULT 0 CHECK (is_guest IN (0, 1)),
    created_at    INTEGER NOT NULL,
    deleted_at    INTEGER,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_nickname_key UNIQUE (nickname)
) STRICT;

CREATE TABLE sessions (
    id         TEXT    NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id),
    device_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CONSTRAINT sessions_pkey PRIMARY KEY (id)
) STRICT;
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT    NOT NULL,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash)
) STRICT;
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE friend_requests (
    id           TEXT    NOT NULL,
    from_user_id TEXT    NOT NULL REFERENCES users (id),
    to_user_id   TEXT    NOT NULL REFERENCES users (id),
    status       TEXT    NOT NULL DEFAULT 'pending',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    CONSTRAINT friend_requests_pkey PRIMARY KEY (id),
    CONSTRAINT friend_requests_status_check CHECK (status IN ('pending', 'accepted', 'declined'))
) STRICT;
CREATE UNIQUE INDEX friend_requests_pending_key
    ON friend_requests (from_user_id, to_user_id) WHERE status = 'pending';
CREATE INDEX friend_requests_to_idx ON friend_requests (to_user_id, status);

CREATE TABLE friendships (
    user_id    TEXT    NOT NULL REFERENCES users (id),
    friend_id  TEXT    NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    CONSTRAINT friendships_pkey PRIMARY KEY (user_id, friend_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE blocks (
    user_id    TEXT    NOT NULL REFERENCES users (id),
    blocked_id TEXT    NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    CONSTRAINT blocks_pkey PRIMARY KEY (user_id, blocked_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE conversations (
    id          TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    avatar_url  TEXT    NOT NULL DEFAULT '',
    owner_id    TEXT    REFERENCES users (id),
    max_members INTEGER NOT NULL DEFAULT 0,
    is_public   INTEGER NOT NULL DEFAULT 0 CHECK (is_public IN (0, 1)),
    direct_key  TEXT,
    last_seq    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT conversations_pkey PRIMARY KEY (id),
    CONSTRAINT conversations_direct_key_key UNIQUE (direct_key),
    CONSTRAINT conversations_kind_check CHECK (kind IN ('direct', 'group'))
) STRICT;

CREATE TABLE members (
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT    NOT NULL REFERENCES users (id),
    role            TEXT    NOT NULL DEFAULT 'member',
    read_seq        INTEGER NOT NULL DEFAULT 0,
    joined_at       INTEGER NOT NULL,
    hidden          INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    CONSTRAINT members_pkey PRIMARY KEY (conversation_id, user_id),
    CONSTRAINT members_role_check CHECK (role IN ('owner', 'admin', 'member'))
) STRICT, WITHOUT ROWID;
CREATE INDEX members_user_idx ON members (user_id);
CREATE INDEX members_hidden_idx ON members (conversation_id) WHERE hidden = TRUE;

CREATE TABLE messages (
    conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    id              TEXT    NOT NULL,
    sender_id       TEXT    NOT NULL REFERENCES users (id),
    kind            TEXT    NOT NULL,
    content         TEXT    NOT NULL,
    metadata        TEXT    NOT NULL DEFAULT '{}',
    client_msg_id   TEXT,
    created_at      INTEGER NOT NULL,
    deleted_at      INTEGER,
    CONSTRAINT messages_pkey PRIMARY KEY (conversation_id, seq),
    CONSTRAINT messages_id_key UNIQUE (id),
    CONSTRAINT messages_sender_client_msg_key UNIQUE (sender_id, client_msg_id)
) STRICT;
