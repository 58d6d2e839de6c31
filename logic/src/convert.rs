//! From the repo tier's rows to the public `im.logic.v1` shapes.

use natter_proto::{
    json,
    logic::{self, ConversationType, MessageType},
    repo,
};

pub fn message(m: repo::Message) -> logic::Message {
    let kind = json::parse_message_type(&m.kind).unwrap_or(MessageType::Text);
    let metadata = if m.metadata_json.is_empty() {
        Default::default()
    } else {
        serde_json::from_str(&m.metadata_json).unwrap_or_default()
    };
    logic::Message {
        message_id: m.message_id,
        conversation_id: m.conversation_id,
        seq: m.seq,
        sender_id: m.sender_id,
        r#type: kind as i32,
        content: m.content,
        metadata,
        client_msg_id: m.client_msg_id,
        created_at: m.created_at,
        deleted: m.deleted,
    }
}

/// `read_seq` is the viewer's, as the repo filled it in.
pub fn conversation(c: repo::Conversation) -> logic::Conversation {
    let kind = if c.kind == "group" {
        ConversationType::Group
    } else {
        ConversationType::Direct
    };
    logic::Conversation {
        conversation_id: c.conversation_id,
        r#type: kind as i32,
        name: c.name,
        avatar_url: c.avatar_url,
        member_ids: c.member_ids,
        last_message: c.last_message.map(message),
        last_seq: c.last_seq,
        read_seq: c.read_seq,
        unread_count: (c.last_seq - c.read_seq).max(0),
        updated_at: c.updated_at,
        created_at: c.created_at,
        owner_id: c.owner_id,
        max_members: c.max_members,
        is_public: c.is_public,
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A new time-ordered id (UUIDv7): sortable, so ids make stable cursors.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
