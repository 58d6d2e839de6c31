//! Natter's repo tier: the only tier that touches storage.
//!
//! It serves the `im.repo.v1` services over gRPC on top of a [`store::Store`] (PostgreSQL or
//! SQLite) and a [`natter_realtime::Presence`] (Redis or in-process). It holds no state of its
//! own, so as many can run as the database allows. Only other tiers may call it: every service
//! requires the service credential.

pub mod server;
pub mod store;

pub use server::{RepoService, routes};
