//! Clients of the repo tier, one per `im.repo.v1` service, sharing one transport.

use natter_proto::{
    Transport,
    repo::{
        conversation_store_client::ConversationStoreClient, friend_store_client::FriendStoreClient,
        message_store_client::MessageStoreClient, presence_store_client::PresenceStoreClient,
        session_store_client::SessionStoreClient, user_store_client::UserStoreClient,
    },
};

/// Generated clients take `&mut self`; each is cheap to clone, so callers clone per call.
#[derive(Clone)]
pub struct Repo {
    pub users: UserStoreClient<Transport>,
    pub sessions: SessionStoreClient<Transport>,
    pub conversations: ConversationStoreClient<Transport>,
    pub messages: MessageStoreClient<Transport>,
    pub friends: FriendStoreClient<Transport>,
    pub presence: PresenceStoreClient<Transport>,
}

impl Repo {
    pub fn new(transport: Transport) -> Self {
        Self {
            users: UserStoreClient::new(transport.clone()),
            sessions: SessionStoreClient::new(transport.clone()),
            conversations: ConversationStoreClient::new(transport.clone()),
            messages: MessageStoreClient::new(transport.clone()),
            friends: FriendStoreClient::new(transport.clone()),
            presence: PresenceStoreClient::new(transport),
        }
    }
}
