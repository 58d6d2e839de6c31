use super::{RepoService, reply};
use natter_proto::repo::{
    CreateFriendRequestRequest, Empty, Flag, FriendRequest, FriendRequestRef, GetUsersResponse,
    ListFriendRequestsRequest, ListFriendRequestsResponse, ListFriendsRequest, ListFriendsResponse,
    NicknameRef, Relation, SetFriendRequestStatusRequest, User, UserPair, UserRef,
    friend_store_server::FriendStore,
};
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl FriendStore for RepoService {
    async fn create_friend_request(
        &self,
        req: Request<CreateFriendRequestRequest>,
    ) -> Result<Response<FriendRequest>, Status> {
        reply(self.store.create_friend_request(req.into_inner()).await)
    }

    async fn get_friend_request(
        &self,
        req: Request<FriendRequestRef>,
    ) -> Result<Response<FriendRequest>, Status> {
        reply(
            self.store
                .get_friend_request(&req.get_ref().request_id)
                .await,
        )
    }

    async fn set_friend_request_status(
        &self,
        req: Request<SetFriendRequestStatusRequest>,
    ) -> Result<Response<FriendRequest>, Status> {
        let req = req.into_inner();
        reply(
            self.store
                .set_friend_request_status(&req.request_id, &req.status, req.now)
                .await,
        )
    }

    async fn list_friend_requests(
        &self,
        req: Request<ListFriendRequestsRequest>,
    ) -> Result<Response<ListFriendRequestsResponse>, Status> {
        let req = req.into_inner();
        let requests = self
            .store
            .list_friend_requests(&req.user_id, req.incoming, req.outgoing)
            .await;
        reply(requests.map(|requests| ListFriendRequestsResponse { requests }))
    }

    async fn list_friends(
        &self,
        req: Request<ListFriendsRequest>,
    ) -> Result<Response<ListFriendsResponse>, Status> {
        reply(self.store.list_friends(req.into_inner()).await)
    }

    async fn remove_friend(&self, req: Request<UserPair>) -> Result<Response<Empty>, Status> {
        let p = req.get_ref();
        let done = self.store.remove_friend(&p.user_id, &p.other_user_id).await;
        reply(done.map(|()| Empty {}))
    }

    async fn are_friends(&self, req: Request<UserPair>) -> Result<Response<Flag>, Status> {
        let p = req.get_ref();
        let value = self.store.are_friends(&p.user_id, &p.other_user_id).await;
        reply(value.map(|value| Flag { value }))
    }

    async fn block(&self, req: Request<UserPair>) -> Result<Response<Empty>, Status> {
        let p = req.get_ref();
        let done = self.store.block(&p.user_id, &p.other_user_id).await;
        reply(done.map(|()| Empty {}))
    }

    async fn unblock(&self, req: Request<UserPair>) -> Result<Response<Empty>, Status> {
        let p = req.get_ref();
        let done = self.store.unblock(&p.user_id, &p.other_user_id).await;
        reply(done.map(|()| Empty {}))
    }

    async fn is_blocked(&self, req: Request<UserPair>) -> Result<Response<Flag>, Status> {
        let p = req.get_ref();
        let value = self.store.is_blocked(&p.user_id, &p.other_user_id).await;
        reply(value.map(|value| Flag { value }))
    }

    /// Only `user_id` of each listed user is filled: callers want the ids.
    async fn list_blocked(
        &self,
        req: Request<UserRef>,
    ) -> Result<Response<GetUsersResponse>, Status> {
        let ids = self.store.list_blocked(&req.get_ref().user_id).await;
        reply(ids.map(|ids| {
            GetUsersResponse {
                users: ids
                    .into_iter()
                    .map(|user_id| User {
                        user_id,
                        ..User::default()
                    })
                    .collect(),
            }
        }))
    }

    async fn find_user_by_nickname(
        &self,
        req: Request<NicknameRef>,
    ) -> Result<Response<UserRef>, Status> {
        let found = self
            .store
            .find_user_by_nickname(&req.get_ref().nickname)
            .await;
        reply(found.map(|user_id| UserRef { user_id }))
    }

    async fn get_relation(&self, req: Request<UserPair>) -> Result<Response<Relation>, Status> {
        let p = req.get_ref();
        reply(self.store.relation(&p.user_id, &p.other_user_id).await)
    }
}
