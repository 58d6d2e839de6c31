//! The JSON shapes of PROTOCOL.md, written once from the `im.logic.v1` messages. comet answers
//! REST and WebSocket calls with them; logic encodes push frames with them. Keeping both on one
//! encoder is what makes a pushed `Message` identical to a fetched one.

use crate::logic::{
    Conversation, ConversationType, FriendRequest, FriendRequestStatus, Member, MemberRole,
    Message, MessageType, Profile, Tokens,
};
use serde::{Serialize, Serializer, ser::SerializeMap};
use std::collections::HashMap;

/// `Message` = {message_id, conversation_id, seq, sender_id, type, content, metadata,
/// client_msg_id?, created_at} (+ `deleted` when it is a tombstone).
pub struct MessageJson<'a>(pub &'a Message);

impl Serialize for MessageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("message_id", &m.message_id)?;
        map.serialize_entry("conversation_id", &m.conversation_id)?;
        map.serialize_entry("seq", &m.seq)?;
        map.serialize_entry("sender_id", &m.sender_id)?;
        map.serialize_entry("type", message_type_name(m.r#type()))?;
        map.serialize_entry("content", &m.content)?;
        map.serialize_entry("metadata", &SortedMap(&m.metadata))?;
        if let Some(id) = &m.client_msg_id {
            map.serialize_entry("client_msg_id", id)?;
        }
        map.serialize_entry("created_at", &m.created_at)?;
        if m.deleted {
            map.serialize_entry("deleted", &true)?;
        }
        map.end()
    }
}

/// `Conversation` = {conversation_id, type, name, member_ids, last_message?, last_seq, read_seq,
/// unread_count, updated_at} and the group fields beside them.
pub struct ConversationJson<'a>(pub &'a Conversation);

impl Serialize for ConversationJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("conversation_id", &c.conversation_id)?;
        let kind = match c.r#type() {
            ConversationType::Group => "group",
            _ => "direct",
        };
        map.serialize_entry("type", kind)?;
        map.serialize_entry("name", &c.name)?;
        map.serialize_entry("avatar_url", &c.avatar_url)?;
        map.serialize_entry("member_ids", &c.member_ids)?;
        if let Some(m) = &c.last_message {
            map.serialize_entry("last_message", &MessageJson(m))?;
        }
        map.serialize_entry("last_seq", &c.last_seq)?;
        map.serialize_entry("read_seq", &c.read_seq)?;
        map.serialize_entry("unread_count", &c.unread_count)?;
        map.serialize_entry("updated_at", &c.updated_at)?;
        map.serialize_entry("created_at", &c.created_at)?;
        if kind == "group" {
            map.serialize_entry("owner_id", &c.owner_id)?;
            map.serialize_entry("max_members", &c.max_members)?;
            map.serialize_entry("is_public", &c.is_public)?;
        }
        map.end()
    }
}

/// `Profile` = {user_id, nickname, bio, avatar_url, created_at} (+ is_guest, deleted).
pub fn profile(p: &Profile) -> serde_json::Value {
    serde_json::json!({
        "user_id": p.user_id, "nickname": p.nickname, "bio": p.bio,
        "avatar_url": p.avatar_url, "created_at": p.created_at,
        "is_guest": p.is_guest, "deleted": p.deleted,
    })
}

/// `Tokens` = {user_id, access_token, refresh_token, expires_in} (+ session_id).
pub fn tokens(t: &Tokens) -> serde_json::Value {
    serde_json::json!({
        "user_id": t.user_id, "access_token": t.access_token,
        "refresh_token": t.refresh_token, "expires_in": t.expires_in, "session_id": t.session_id,
    })
}

pub fn member(m: &Member) -> serde_json::Value {
    serde_json::json!({
        "user_id": m.user_id, "role": role_name(m.role()),
        "joined_at": m.joined_at, "read_seq": m.read_seq,
    })
}

pub fn message_type_name(t: MessageType) -> &'static str {
    match t {
        MessageType::Image => "image",
        MessageType::File => "file",
        MessageType::System => "system",
        MessageType::Text | MessageType::Unspecified => "text",
    }
}

/// The wire name of a message type; `None` for one the protocol does not know.
pub fn parse_message_type(name: &str) -> Option<MessageType> {
    Some(match name {
        "text" => MessageType::Text,
        "image" => MessageType::Image,
        "file" => MessageType::File,
        "system" => MessageType::System,
        _ => return None,
    })
}

pub fn role_name(r: MemberRole) -> &'static str {
    match r {
        MemberRole::Owner => "owner",
        MemberRole::Admin => "admin",
        MemberRole::Member | MemberRole::Unspecified => "member",
    }
}

/// A push frame, `{"push": kind, "data": data}`, encoded once for every recipient.
pub fn push_frame(kind: &str, data: &impl Serialize) -> Vec<u8> {
    #[derive(Serialize)]
    struct Frame<'a, D> {
        push: &'a str,
        data: &'a D,
    }
    serde_json::to_vec(&Frame { push: kind, data }).expect("push frames always serialize")
}

/// Metadata in key order, so the same message always encodes to the same bytes.
struct SortedMap<'a>(&'a HashMap<String, String>);

impl Serialize for SortedMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut keys: Vec<_> = self.0.iter().collect();
        keys.sort_unstable();
        let mut map = s.serialize_map(Some(keys.len()))?;
        for (k, v) in keys {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `FriendRequest` = {request_id, from_user_id, to_user_id, status: PENDING|ACCEPTED|DECLINED,
/// created_at}.
pub fn friend_request(r: &FriendRequest) -> serde_json::Value {
    let status = match r.status() {
        FriendRequestStatus::Accepted => "ACCEPTED",
        FriendRequestStatus::Declined => "DECLINED",
        FriendRequestStatus::Pending | FriendRequestStatus::Unspecified => "PENDING",
    };
    serde_json::json!({
        "request_id": r.request_id, "from_user_id": r.from_user_id,
        "to_user_id": r.to_user_id, "status": status, "created_at": r.created_at,
    })
}

/// `{message_id, status: "SENT"|"DELIVERED"|"READ", read_by}`: the answer of
/// `GET /v1/chats/{conversation_id}/messages/{message_id}/status`.
pub fn message_status(s: &crate::logic::MessageStatusResponse) -> serde_json::Value {
    use crate::logic::MessageStatus;
    let status = match s.status() {
        MessageStatus::Read => "READ",
        MessageStatus::Delivered => "DELIVERED",
        MessageStatus::Sent | MessageStatus::Unspecified => "SENT",
    };
    serde_json::json!({ "message_id": s.message_id, "status": status, "read_by": s.read_by })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_encodes_with_the_protocol_fields_and_numbers() {
        let m = Message {
            message_id: "m1".into(),
            conversation_id: "c1".into(),
            seq: 7,
            sender_id: "u1".into(),
            r#type: MessageType::Image as i32,
            content: "hi".into(),
            metadata: HashMap::from([("b".into(), "2".into()), ("a".into(), "1".into())]),
            client_msg_id: None,
            created_at: 1_700_000_000_000,
            deleted: false,
        };
        let frame = push_frame("message", &MessageJson(&m));
        let text = String::from_utf8(frame).unwrap();
        assert_eq!(
            text,
            r#"{"push":"message","data":{"message_id":"m1","conversation_id":"c1","seq":7,"sender_id":"u1","type":"image","content":"hi","metadata":{"a":"1","b":"2"},"created_at":1700000000000}}"#
        );
    }

    #[test]
    fn message_types_round_trip_and_unknown_ones_are_refused() {
        for name in ["text", "image", "file", "system"] {
            assert_eq!(message_type_name(parse_message_type(name).unwrap()), name);
        }
        assert!(parse_message_type("video").is_none());
    }
}
