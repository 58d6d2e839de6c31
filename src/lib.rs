//! The `natter` binary's library: how the three tiers are put together.
//!
//! [`stack::embedded`] runs all three in one process on SQLite and the in-process bus, calling
//! each other through generated gRPC clients whose transport is the callee's router (no sockets).
//! [`stack::repo`], [`stack::logic`] and [`stack::comet`] run one tier each against PostgreSQL
//! and Redis. `main.rs` only parses the command line and calls these; the integration tests call
//! them the same way on random ports.

pub mod serve;
pub mod stack;
