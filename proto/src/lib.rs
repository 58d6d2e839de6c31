//! Natter's contracts, generated from `proto/im/**` at build time, and the one transport type
//! every tier calls another through.
//!
//! The embedded mode hands a client the server's own router as its transport (no sockets); the
//! distributed mode hands it a `tonic::transport::Channel`. Both become a [`Transport`], so the
//! code that calls a tier does not know which it got.

pub mod im {
    pub mod logic {
        pub mod v1 {
            tonic::include_proto!("im.logic.v1");
        }
    }
    pub mod repo {
        pub mod v1 {
            tonic::include_proto!("im.repo.v1");
        }
    }
    pub mod bus {
        pub mod v1 {
            tonic::include_proto!("im.bus.v1");
        }
    }
}

pub use im::bus::v1 as bus;
pub use im::logic::v1 as logic;
pub use im::repo::v1 as repo;

/// The encoded `FileDescriptorSet` of every contract, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/natter_descriptor.bin"));

pub mod access;
pub mod credential;
pub mod gather;
pub mod json;
mod outcomes;
mod retry;
mod transport;
pub use credential::ServiceToken;
pub use retry::{peer_went_away, retrying};
pub use transport::{Transport, TransportError, channel_transport, local_transport};

/// Bounds of the batched calls between tiers, which both sides of each call know.
pub mod limits {
    /// Appends in one repo `AppendMessages` call at most: one group-commit batch.
    pub const MAX_APPENDS_PER_CALL: usize = 256;
    /// Sends in one logic `SendMessages` call at most.
    pub const MAX_SENDS_PER_CALL: usize = 256;
}
