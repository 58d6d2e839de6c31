use natter_proto::logic::friend_service_server::FriendService;

#[tonic::async_trait]
impl FriendService for crate::Logic {}
