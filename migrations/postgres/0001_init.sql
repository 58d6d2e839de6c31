-- Natter's schema, PostgreSQL dialect. migrations/sqlite/0001_init.sql is the same schema in
-- SQLite's dialect: one body of SQL (repo/src/store/sql.rs) runs against both, so every table,
-- column, constraint name and index exists in both files.
--
-- Conventions (chosen so the shared SQL is portable):
--   * ids are TEXT, COLLATE "C" so that ordering and cursor comparisons are byte-wise, exactly as
--     SQLite's default BINARY collation compares them, whatever the database's locale is;
--   * times are BIGINT milliseconds since the Unix epoch, passed in by the caller;
--   * flags are BOOLEAN here and INTEGER 0/1 in SQLite; the SQL only ever writes TRUE/FALSE,
--     which both understand ("deleted", "revoked", "used" are nullable timestamps instead);
--   * message metadata is a JSON object kept as TEXT (the store never looks inside it);
--   * unique constraints have explicit names: the store maps a violation of one to
--     AlreadyExists(<field>) by that name.

CREATE TABLE users (
    id            TEXT COLLATE "C" NOT NULL,
    -- Lower-cased before it is stored; NULL for guests. UNIQUE allows many NULLs.
    email         TEXT,
    password_hash TEXT    NOT NULL DEFAULT '',
    nickname      TEXT COLLATE "C" NOT NULL,
    bio           TEXT    NOT NULL DEFAULT '',
    avatar_url    TEXT    NOT NULL DEFAULT '',
    is_guest      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT  NOT NULL,
    -- Soft delete: messages keep pointing at the user.
    deleted_at    BIGINT,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email),
    -- Byte-wise unique; its index also serves nickname prefix search (collation "C").
    CONSTRAINT users_nickname_key UNIQUE (nickname)
);

-- A login on one device. Refresh tokens rotate inside it; revoking it ends them all.
CREATE TABLE sessions (
    id         TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    device_id  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    CONSTRAINT sessions_pkey PRIMARY KEY (id)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Only the SHA-256 of a refresh token is stored. A used token stays (used_at set) so that
-- presenting it again is recognised as reuse.
CREATE TABLE refresh_tokens (
    token_hash TEXT COLLATE "C" NOT NULL,
    session_id TEXT COLLATE "C" NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash)
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE friend_requests (
    id           TEXT COLLATE "C" NOT NULL,
    from_user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    to_user_id   TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    status       TEXT   NOT NULL DEFAULT 'pending',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CONSTRAINT friend_requests_pkey PRIMARY KEY (id),
    CONSTRAINT friend_requests_status_check CHECK (status IN ('pending', 'accepted', 'declined'))
);
-- At most one pending request per (from, to).
CREATE UNIQUE INDEX friend_requests_pending_key
    ON friend_requests (from_user_id, to_user_id) WHERE status = 'pending';
CREATE INDEX friend_requests_to_idx ON friend_requests (to_user_id, status);

-- One row per direction, so "friends of X after Y" is one index range.
CREATE TABLE friendships (
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    friend_id  TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    CONSTRAINT friendships_pkey PRIMARY KEY (user_id, friend_id)
);

-- user_id blocked blocked_id. "Either blocked the other" is two primary-key lookups.
CREATE TABLE blocks (
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    blocked_id TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    CONSTRAINT blocks_pkey PRIMARY KEY (user_id, blocked_id)
);

CREATE TABLE conversations (
    id          TEXT COLLATE "C" NOT NULL,
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    avatar_url  TEXT    NOT NULL DEFAULT '',
    -- NULL for direct conversations.
    owner_id    TEXT COLLATE "C" REFERENCES users (id),
    max_members BIGINT  NOT NULL DEFAULT 0,
    is_public   BOOLEAN NOT NULL DEFAULT FALSE,
    -- "<smaller id>:<larger id>" for a direct conversation, NULL for a group: the unique
    -- constraint is what makes concurrent get-or-create calls for one pair agree.
    direct_key  TEXT COLLATE "C",
    -- The seq of the newest message. Bumped (row-locked) in the message's transaction, which
    -- serializes the senders of one conversation and keeps seqs gapless.
    last_seq    BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    CONSTRAINT conversations_pkey PRIMARY KEY (id),
    CONSTRAINT conversations_direct_key_key UNIQUE (direct_key),
    CONSTRAINT conversations_kind_check CHECK (kind IN ('direct', 'group'))
);

CREATE TABLE members (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    role            TEXT    NOT NULL DEFAULT 'member',
    -- Highest seq the member has read; never above the conversation's last_seq.
    read_seq        BIGINT  NOT NULL DEFAULT 0,
    joined_at       BIGINT  NOT NULL,
    -- Hidden from the member's list until the next message arrives.
    hidden          BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT members_pkey PRIMARY KEY (conversation_id, user_id),
    CONSTRAINT members_role_check CHECK (role IN ('owner', 'admin', 'member'))
);
-- A user's conversations (list, unread totals).
CREATE INDEX members_user_idx ON members (user_id);
-- Un-hiding on each new message touches only the hidden rows.
CREATE INDEX members_hidden_idx ON members (conversation_id) WHERE hidden = TRUE;

CREATE TABLE messages (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    id              TEXT COLLATE "C" NOT NULL,
    sender_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    kind            TEXT   NOT NULL,
    content         TEXT   NOT NULL,
    metadata        TEXT   NOT NULL DEFAULT '{}',
    client_msg_id   TEXT COLLATE "C",
    created_at      BIGINT NOT NULL,
    deleted_at      BIGINT,
    -- History and sync are ranges of this key.
    CONSTRAINT messages_pkey PRIMARY KEY (conversation_id, seq),
    CONSTRAINT messages_id_key UNIQUE (id),
    -- A client's retry is stored once. NULL client_msg_ids never conflict.
    CONSTRAINT messages_sender_client_msg_key UNIQUE (sender_id, client_msg_id)
);
