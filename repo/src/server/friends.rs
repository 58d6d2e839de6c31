use super::RepoService;
use natter_proto::repo::friend_store_server::FriendStore;

#[tonic::async_trait]
impl FriendStore for RepoService {}
