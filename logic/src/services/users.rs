use natter_proto::logic::user_service_server::UserService;

#[tonic::async_trait]
impl UserService for crate::Logic {}
