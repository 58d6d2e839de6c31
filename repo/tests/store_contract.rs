//! The store contract: one set of scenarios, run against both backends.
//!
//! Each scenario is written once against `Arc<dyn Store>` and the macro below turns it into
//! `sqlite::<scenario>` and `postgres::<scenario>` tests, each on a fresh database (see
//! `harness`). Filter with `cargo test -p natter-repo --test store_contract sqlite::`.
//! PostgreSQL must be reachable (`NATTER_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`): an unreachable server fails, never skips.

// Cargo would compile files directly in tests/ as test crates of their own: the modules live
// in a folder of this crate's name instead.
#[path = "store_contract/accounts.rs"]
mod accounts;
#[path = "store_contract/conversations.rs"]
mod conversations;
#[path = "store_contract/direct_policy.rs"]
mod direct_policy;
#[path = "store_contract/friends.rs"]
mod friends;
#[path = "store_contract/group_commit.rs"]
mod group_commit;
#[path = "store_contract/group_reads.rs"]
mod group_reads;
#[path = "store_contract/groups.rs"]
mod groups;
#[path = "store_contract/harness.rs"]
mod harness;
#[path = "store_contract/messages.rs"]
mod messages;
#[path = "store_contract/postgres_connections.rs"]
mod postgres_connections;
#[path = "store_contract/sqlite_wal.rs"]
mod sqlite_wal;

use natter_proto::repo::{
    AppendMessageRequest, AppendMessageResponse, Conversation, CreateGroupRequest,
    CreateUserRequest, GetOrCreateDirectRequest,
};
use natter_repo::store::prelude::*;

/// A fixed clock: every time in these scenarios is an offset from it.
pub const T0: i64 = 1_700_000_000_000;

/// A fresh id.
pub fn id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Creates a user named `nickname` (email `<nickname>@example.com`); returns the id.
pub async fn user(store: &dyn Store, nickname: &str) -> String {
    let user_id = id();
    store
        .create_user(CreateUserRequest {
            user_id: user_id.clone(),
            email: Some(format!("{nickname}@example.com")),
            password_hash: format!("$argon2id$hash-of-{nickname}"),
            nickname: nickname.to_owned(),
            is_guest: false,
            created_at: T0,
        })
        .await
        .expect("create user");
    user_id
}

/// Appends a text message at `T0 + at`.
pub async fn send(
    store: &dyn Store,
    conversation_id: &str,
    sender_id: &str,
    content: &str,
    client_msg_id: Option<&str>,
    at: i64,
) -> Result<AppendMessageResponse, natter_repo::store::StoreError> {
    store
        .append_message(AppendMessageRequest {
            message_id: id(),
            conversation_id: conversation_id.to_owned(),
            sender_id: sender_id.to_owned(),
            kind: "text".into(),
            content: content.to_owned(),
            metadata_json: r#"{"k":"v"}"#.into(),
            client_msg_id: client_msg_id.map(str::to_owned),
            created_at: T0 + at,
            direct_requires_friendship: false,
        })
        .await
}

/// The pair's direct conversation, and whether this call created it.
pub async fn direct(store: &dyn Store, a: &str, b: &str) -> (Conversation, bool) {
    let r = store
        .get_or_create_direct(GetOrCreateDirectRequest {
            conversation_id: id(),
            user_id: a.to_owned(),
            other_user_id: b.to_owned(),
            now: T0,
        })
        .await
        .unwrap();
    (r.conversation.unwrap(), r.created)
}

/// A public group of `owner` and `members`, created at `T0 + now`.
pub async fn group(store: &dyn Store, owner: &str, members: &[&str], now: i64) -> Conversation {
    store
        .create_group(CreateGroupRequest {
            conversation_id: id(),
            owner_id: owner.to_owned(),
            name: "the group".into(),
            member_ids: members.iter().map(|m| m.to_string()).collect(),
            max_members: 100,
            is_public: true,
            avatar_url: "https://example.com/a.png".into(),
            now: T0 + now,
        })
        .await
        .unwrap()
}

/// Ids in a comparable order (member lists come in no particular order).
pub fn sorted(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

/// For each backend, a module of tests named after the scenarios (`sqlite::<scenario>`,
/// `postgres::<scenario>`; a module rather than a `sqlite_` prefix because `macro_rules!`
/// cannot build identifiers). `store:` scenarios take `Arc<dyn Store>`; `fixture:` ones take
/// the fixture, to reopen the store or reach the database directly.
macro_rules! contract_tests {
    (store: [$($sm:ident::$s:ident),* $(,)?] fixture: [$($fm:ident::$f:ident),* $(,)?]) => {
        contract_tests!(@backend sqlite, Sqlite, [$($sm::$s),*], [$($fm::$f),*]);
        contract_tests!(@backend postgres, Postgres, [$($sm::$s),*], [$($fm::$f),*]);
    };
    (@backend $module:ident, $backend:ident,
        [$($sm:ident::$s:ident),*], [$($fm:ident::$f:ident),*]) => {
        mod $module {
            use crate::harness::{Backend, run, run_with_fixture};
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $s() {
                    run(Backend::$backend, crate::$sm::$s).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $f() {
                    run_with_fixture(Backend::$backend, crate::$fm::$f).await;
                }
            )*
        }
    };
}

contract_tests! {
    store: [
        accounts::users_are_unique_by_email_and_nickname,
        accounts::get_user_by_email_returns_the_hash_get_users_does_not,
        accounts::refresh_token_rotates_once_and_a_reuse_revokes_the_session,
        accounts::expired_unknown_and_revoked_tokens_do_not_rotate,
        accounts::concurrent_rotations_of_one_token_one_wins,
        accounts::update_user_sets_only_the_given_fields,
        accounts::search_users_matches_a_prefix_in_nickname_order_and_pages,
        accounts::a_guest_upgrades_once_to_a_free_email,
        accounts::deleting_a_user_frees_email_and_nickname_keeps_messages_and_revokes_sessions,
        accounts::revoked_sessions_are_listed_since_a_time_in_pages,
        conversations::direct_conversation_is_one_per_pair_in_either_order,
        conversations::direct_conversation_is_one_per_pair_under_concurrent_creation,
        messages::seq_is_gapless_under_50_concurrent_appends,
        messages::a_retry_with_the_same_client_msg_id_is_stored_once_and_consumes_no_seq,
        messages::an_outsider_cannot_append_and_an_unknown_conversation_is_not_found,
        messages::history_pages_newest_first_and_sync_pages_oldest_first,
        messages::a_deleted_message_keeps_its_seq_as_a_tombstone_and_deleting_again_changes_nothing,
        messages::get_message_for_names_the_viewer_role_and_who_read_the_message,
        messages::replay_pages_every_conversation_by_time_and_one_conversation_by_seq,
        group_commit::many_concurrent_appends_to_one_conversation_take_seqs_1_to_n_once_each,
        group_commit::concurrent_copies_of_one_client_msg_id_store_one_message_and_take_one_seq,
        group_commit::refused_appends_among_concurrent_ones_leave_the_others_stored,
        group_commit::a_message_id_sent_twice_at_once_is_stored_once_and_the_others_still_are,
        group_commit::retries_of_odd_client_msg_ids_in_a_batch_find_the_stored_messages,
        group_commit::members_changing_among_concurrent_appends_each_message_goes_to_the_members_at_its_seq,
        direct_policy::direct_chats_refuse_across_a_block_and_between_non_friends_when_asked,
        conversations::read_pointer_only_moves_forward_and_is_clamped_to_last_seq,
        conversations::list_conversations_orders_by_activity_paginates_and_counts_unread,
        friends::a_request_is_pending_once_per_direction_and_a_crossing_one_accepts_it,
        friends::a_request_is_answered_once,
        friends::pending_requests_are_listed_by_direction,
        friends::friends_are_paged_in_id_order,
        friends::removing_a_friend_ends_it_both_ways_once,
        friends::a_block_clears_friendship_and_requests_and_refuses_new_ones,
        friends::contacts_are_friends_and_fellow_members_leaving_out_big_groups_and_hidden_chats,
        friends::users_are_found_by_exact_nickname,
        groups::creating_a_group_writes_a_created_system_message_as_seq_1,
        groups::adding_members_writes_one_system_message_each_and_respects_max_members,
        groups::an_owner_leaving_hands_over_to_the_oldest_admin_else_the_oldest_member,
        groups::the_owner_cannot_be_removed_and_a_removed_member_is_told,
        groups::making_someone_owner_transfers_ownership_and_the_old_owner_becomes_admin,
        groups::updating_a_group_renames_it_with_a_system_message,
        group_reads::members_page_by_user_id_with_their_roles,
        group_reads::a_hidden_conversation_comes_back_with_the_next_message,
        group_reads::another_users_groups_are_listed_only_when_public_or_shared,
    ]
    fixture: [
        conversations::group_has_owner_and_members_with_roles,
        conversations::hidden_conversations_are_not_listed_until_the_next_message,
        accounts::data_survives_reopening_the_store,
        group_commit::closing_the_store_stores_the_appends_already_queued,
    ]
}
