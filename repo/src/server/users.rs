use super::{RepoService, reply};
use natter_proto::repo::{
    CreateUserRequest, DeleteUserRequest, GetUserByEmailRequest, GetUsersRequest, GetUsersResponse,
    RevokeUserSessionsResponse, SearchUsersRequest, UpdateUserRequest, UpgradeGuestRequest, User,
    user_store_server::UserStore,
};
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl UserStore for RepoService {
    async fn create_user(&self, req: Request<CreateUserRequest>) -> Result<Response<User>, Status> {
        reply(self.store.create_user(req.into_inner()).await)
    }

    async fn get_user_by_email(
        &self,
        req: Request<GetUserByEmailRequest>,
    ) -> Result<Response<User>, Status> {
        reply(self.store.get_user_by_email(&req.into_inner().email).await)
    }

    async fn get_users(
        &self,
        req: Request<GetUsersRequest>,
    ) -> Result<Response<GetUsersResponse>, Status> {
        let users = self.store.get_users(&req.into_inner().user_ids).await;
        reply(users.map(|users| GetUsersResponse { users }))
    }

    async fn update_user(&self, req: Request<UpdateUserRequest>) -> Result<Response<User>, Status> {
        reply(self.store.update_user(req.into_inner()).await)
    }

    async fn search_users(
        &self,
        req: Request<SearchUsersRequest>,
    ) -> Result<Response<GetUsersResponse>, Status> {
        let users = self.store.search_users(req.into_inner()).await;
        reply(users.map(|users| GetUsersResponse { users }))
    }

    async fn delete_user(
        &self,
        req: Request<DeleteUserRequest>,
    ) -> Result<Response<RevokeUserSessionsResponse>, Status> {
        let revoked = self.store.delete_user(req.into_inner()).await;
        reply(revoked.map(|session_ids| RevokeUserSessionsResponse { session_ids }))
    }

    async fn upgrade_guest(
        &self,
        req: Request<UpgradeGuestRequest>,
    ) -> Result<Response<User>, Status> {
        reply(self.store.upgrade_guest(req.into_inner()).await)
    }
}
