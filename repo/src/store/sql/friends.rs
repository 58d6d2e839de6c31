//! Friends and blocks.

/// Expands the `FriendStore` impl for a store type on a sqlx database (see [`super::impl_store`]).
macro_rules! impl_friends {
    ($store:ty, $db:ty) => {
        mod friends_impl {
            use super::*;

            #[async_trait::async_trait]
            impl $crate::store::FriendStore for $store {}
        }
    };
}

pub(crate) use impl_friends;
