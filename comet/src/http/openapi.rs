//! `GET /v1/openapi.json`: the OpenAPI 3 document of the REST API, generated from the handlers'
//! `#[utoipa::path]` annotations so it cannot drift from the router. The answers are built as
//! `serde_json` values in `natter_proto::json`; the structs below mirror those shapes
//! (PROTOCOL.md) for the document only and are never constructed.
#![allow(dead_code)]

use axum::{Json, Router, routing::get};
use serde::Serialize;
use std::{collections::HashMap, sync::LazyLock};
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        self, RefOr, Response, ResponseBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

/// `{"error": {"code", "message"}}`: every error of the API.
#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
#[schema(as = Error)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// The gRPC code name, e.g. `INVALID_ARGUMENT`.
    code: String,
    /// What was wrong, for a human.
    message: String,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    user_id: String,
    access_token: String,
    refresh_token: String,
    /// Seconds until `access_token` expires.
    expires_in: i64,
    session_id: String,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    user_id: String,
    nickname: String,
    bio: String,
    avatar_url: String,
    /// Unix milliseconds.
    created_at: i64,
    is_guest: bool,
    deleted: bool,
}

#[derive(ToSchema, Serialize)]
#[schema(rename_all = "lowercase")]
pub enum MessageType {
    Text,
    Image,
    File,
    System,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    message_id: String,
    conversation_id: String,
    seq: i64,
    sender_id: String,
    #[schema(rename = "type")]
    kind: MessageType,
    content: String,
    metadata: HashMap<String, String>,
    /// Present when the sender gave one.
    #[schema(required = false)]
    client_msg_id: String,
    /// Unix milliseconds.
    created_at: i64,
    /// Present (and true) on a deleted message's tombstone.
    #[schema(required = false)]
    deleted: bool,
}

/// What a client may send; `system` messages are the server's.
#[derive(ToSchema, Serialize)]
#[schema(rename_all = "lowercase")]
pub enum SendType {
    Text,
    Image,
    File,
}

#[derive(ToSchema, Serialize)]
#[schema(rename_all = "lowercase")]
pub enum ConversationType {
    Direct,
    Group,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    conversation_id: String,
    #[schema(rename = "type")]
    kind: ConversationType,
    name: String,
    avatar_url: String,
    member_ids: Vec<String>,
    /// Absent until the first message.
    #[schema(required = false)]
    last_message: Message,
    last_seq: i64,
    /// The caller's read pointer.
    read_seq: i64,
    unread_count: i64,
    updated_at: i64,
    created_at: i64,
    /// Groups only.
    #[schema(required = false)]
    owner_id: String,
    /// Groups only.
    #[schema(required = false)]
    max_members: i32,
    /// Groups only.
    #[schema(required = false)]
    is_public: bool,
}

#[derive(ToSchema, Serialize)]
#[schema(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    user_id: String,
    role: Role,
    joined_at: i64,
    read_seq: i64,
}

#[derive(ToSchema, Serialize)]
#[schema(rename_all = "UPPERCASE")]
pub enum FriendRequestStatus {
    Pending,
    Accepted,
    Declined,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FriendRequest {
    request_id: String,
    from_user_id: String,
    to_user_id: String,
    status: FriendRequestStatus,
    created_at: i64,
}

#[derive(ToSchema, Serialize)]
#[schema(rename_all = "UPPERCASE")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessageStatus {
    message_id: String,
    status: DeliveryStatus,
    read_by: Vec<String>,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChatsPage {
    chats: Vec<Conversation>,
    total_unread: i64,
    /// Present when more remain.
    #[schema(required = false)]
    next_cursor: String,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesPage {
    messages: Vec<Message>,
    has_more: bool,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsPage {
    groups: Vec<Conversation>,
    #[schema(required = false)]
    next_cursor: String,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MembersPage {
    members: Vec<Member>,
    #[schema(required = false)]
    next_cursor: String,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    profiles: Vec<Profile>,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SearchPage {
    results: Vec<Profile>,
    #[schema(required = false)]
    next_cursor: String,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FriendRequests {
    requests: Vec<FriendRequest>,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FriendsPage {
    friend_user_ids: Vec<String>,
    #[schema(required = false)]
    next_cursor: String,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Blocked {
    user_ids: Vec<String>,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineStatus {
    user_id: String,
    /// True while the user has a socket connected on any node.
    online: bool,
}

#[derive(ToSchema, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Statuses {
    statuses: Vec<OnlineStatus>,
}

/// `GET /healthz`: "ok" while the process serves.
#[utoipa::path(get, path = "/healthz", tag = "meta", operation_id = "meta_healthz",
    responses((status = 200, description = "the process serves", body = String, content_type = "text/plain")))]
async fn _healthz() {}

/// `GET /v1/ws`: the WebSocket endpoint (PROTOCOL.md). A token may come as a bearer header or
/// in the first `auth` frame; a bad one still upgrades and then closes with 4001.
#[utoipa::path(get, path = "/v1/ws", tag = "meta", operation_id = "meta_ws",
    responses((status = 101, description = "Switching Protocols: the socket speaks the JSON \
        frames of PROTOCOL.md (requests `{id, method, params}`, replies, pushes)")))]
async fn _ws() {}

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", operation_id = "meta_openapi",
    responses((status = 200, description = "the OpenAPI 3 document of this API", body = Object)))]
async fn openapi_json() -> Json<&'static openapi::OpenApi> {
    Json(&DOC)
}

static DOC: LazyLock<openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/v1/openapi.json", get(openapi_json))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Natter", description = "The REST API of Natter (PROTOCOL.md)."),
    modifiers(&Common),
    paths(
        super::auth::register, super::auth::login, super::auth::guest, super::auth::refresh,
        super::auth::logout, super::auth::upgrade_guest,
        super::chats::list, super::chats::direct, super::chats::get_one, super::chats::send,
        super::chats::history, super::chats::sync, super::chats::read,
        super::chats::delete_message, super::chats::message_status, super::chats::update,
        super::chats::hide, super::chats::participants,
        super::groups::create, super::groups::mine, super::groups::get_one,
        super::groups::update, super::groups::join, super::groups::leave, super::groups::add,
        super::groups::remove, super::groups::set_role, super::groups::members,
        super::profiles::own_profile, super::profiles::update_profile,
        super::profiles::get_profile, super::profiles::batch, super::profiles::search,
        super::profiles::delete_account,
        super::friends::list, super::friends::request_by_nickname, super::friends::requests,
        super::friends::accept, super::friends::decline, super::friends::remove,
        super::friends::request_by_id, super::friends::blocked, super::friends::block,
        super::friends::unblock,
        super::presence::batch,
        _healthz, _ws, openapi_json,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
)]
pub struct ApiDoc;

/// What every route shares, added once rather than on each: the bearer scheme, and the 500 and
/// 503 any call to the logic tier can answer.
struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        let error = |description: &str| -> RefOr<Response> {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    openapi::ContentBuilder::new()
                        .schema(Some(openapi::Ref::from_schema_name("Error")))
                        .build(),
                )
                .build()
                .into()
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") || path == "/v1/ws" || path == "/v1/openapi.json" {
                continue;
            }
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                responses.insert(
                    "500".into(),
                    error("INTERNAL: a bug or a broken dependency"),
                );
                responses.insert(
                    "503".into(),
                    error("UNAVAILABLE: a tier or the database is briefly unreachable: retry"),
                );
            }
        }
    }
}
