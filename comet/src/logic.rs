//! Clients of the logic tier, and the identity every call on a user's behalf carries.

use natter_proto::{
    Transport,
    credential::{CONNECTION_HEADER, SESSION_HEADER, USER_HEADER},
    logic::{
        auth_service_client::AuthServiceClient,
        conversation_service_client::ConversationServiceClient,
        friend_service_client::FriendServiceClient, group_service_client::GroupServiceClient,
        message_service_client::MessageServiceClient,
        presence_service_client::PresenceServiceClient, user_service_client::UserServiceClient,
    },
};
use tonic::{Request, metadata::MetadataValue};

#[derive(Clone)]
pub struct LogicClients {
    pub auth: AuthServiceClient<Transport>,
    pub conversations: ConversationServiceClient<Transport>,
    pub groups: GroupServiceClient<Transport>,
    pub messages: MessageServiceClient<Transport>,
    pub presence: PresenceServiceClient<Transport>,
    pub users: UserServiceClient<Transport>,
    pub friends: FriendServiceClient<Transport>,
}

impl LogicClients {
    pub fn new(t: Transport) -> Self {
        Self {
            auth: AuthServiceClient::new(t.clone()),
            conversations: ConversationServiceClient::new(t.clone()),
            groups: GroupServiceClient::new(t.clone()),
            messages: MessageServiceClient::new(t.clone()),
            presence: PresenceServiceClient::new(t.clone()),
            users: UserServiceClient::new(t.clone()),
            friends: FriendServiceClient::new(t),
        }
    }
}

/// Who a REST request or socket acts as, from a verified access token.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user_id: String,
    pub session_id: String,
    /// Set for calls made by a socket, so logic leaves that socket out of the push.
    pub connection_id: Option<String>,
}

impl Identity {
    /// Wraps `msg` in a request that tells logic who it is for (the transport adds the service
    /// credential that makes logic trust this).
    pub fn request<T>(&self, msg: T) -> Request<T> {
        let mut req = Request::new(msg);
        let md = req.metadata_mut();
        if let Ok(v) = MetadataValue::try_from(self.user_id.as_str()) {
            md.insert(USER_HEADER, v);
        }
        if let Ok(v) = MetadataValue::try_from(self.session_id.as_str()) {
            md.insert(SESSION_HEADER, v);
        }
        if let Some(conn) = &self.connection_id
            && let Ok(v) = MetadataValue::try_from(conn.as_str())
        {
            md.insert(CONNECTION_HEADER, v);
        }
        req
    }
}
