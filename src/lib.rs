//! Odradek: an event-streaming broker that speaks the Apache Kafka wire protocol.

pub mod broker;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod group;
pub mod handlers;
pub mod log;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod txn;
